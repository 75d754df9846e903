"""Every library error reached from a flag names that flag: the command line
maps library names (and run-spec paths) to its flags through one table."""
import click
import pytest
from click.testing import CliRunner

from gnnrec.cli import cli
from tests.test_cli import FAST, make_data

#: a value each flag refuses, by flag, else by type
BAD = {"--test-frac": "2", "--val-frac": "2", "--min-rating": "nan", "--ks": "0",
       "--metric": "bogus", "--model-opt": "nope=1", "--sampler-opt": "nope=1",
       "--loss-opt": "nope=1", "--user-col": "x", "--item-col": "x", "--rating-col": "x",
       "--time-col": "x", "--data-opt": "nope=1", "--device": "tpu", "--space": "bad",
       "--models": "nope", "--samplers": "nope", "--losses": "nope", "--opt": "bad",
       "--batch-size": "-1"}
BY_TYPE = {"IntParamType": "-1", "FloatParamType": "-1"}
#: flags no value of which is an error of the flag itself (paths are errors of the path)
FREE = {"--config", "--dataset", "--out", "--save", "--output", "--plot", "--index",
        "--user", "--users-file", "--format", "--split", "--batching", "--protocol", "--model",
        "--sampler", "--loss", "--search", "--on", "--index-type", "--peer"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flags")
    data = make_data(str(tmp / "d"))[0]
    run = str(tmp / "run")
    assert CliRunner().invoke(cli, ["train", "--dataset", data, "--out", run, *FAST]).exit_code == 0
    return tmp, data, run + "/best.pt"


def cases():
    for name in ("train", "tune", "data", "evaluate", "bench", "recommend", "export"):
        for p in cli.commands[name].params:
            if isinstance(p, click.Option) and not p.is_flag:
                flag = max(p.opts, key=len)
                if flag not in FREE:
                    yield name, flag, BAD.get(flag, BY_TYPE.get(type(p.type).__name__))


@pytest.mark.parametrize("command,flag,value", list(cases()))
def test_every_option_error_names_its_flag(setup, command, flag, value):
    tmp, data, ckpt = setup
    assert value is not None, f"no bad value known for {flag}: add one to BAD or FREE"
    args = {"train": ["--dataset", data, "--out", str(tmp / "new")],
            "tune": ["--dataset", data, "--out", str(tmp / "study")]
            + ([] if flag == "--space" else ["--space", "trainer.lr=0.001,0.01"]),
            "data": ["--dataset", data], "evaluate": [ckpt, "--dataset", data],
            "bench": ["--dataset", data], "recommend": [ckpt, "--user", "103"],
            "export": [ckpt, str(tmp / "e.pt")]}[command]
    r = CliRunner().invoke(cli, [command, *args, flag, value])
    assert r.exit_code == 2, (flag, r.output)
    line = r.output.strip().splitlines()[-1]
    assert flag in line and "bug" not in line, (flag, line)
