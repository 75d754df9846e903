"""``benchmarks/dense.py`` refuses a run folder whose saved options differ
from what its method name now means (a default changed since it ran)."""
import argparse
import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def dense():
    path = os.path.join(HERE, os.pardir, "benchmarks", "dense.py")
    spec = importlib.util.spec_from_file_location("dense_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def args(tmp_path):
    return argparse.Namespace(epochs=3, eval_every=1, patience=0, data="d.csv", k_core=0,
                              work=str(tmp_path), label="x")


def write(folder, spec):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(spec.to_dict(), f)


def test_same_options_pass_and_a_changed_default_is_named(dense, tmp_path):
    a = args(tmp_path)
    folder = str(tmp_path / "run")
    assert dense.stale_options(folder, dense.spec_for(a, "mf", "dcl-w01", 0)) == []  # no folder
    write(folder, dense.spec_for(a, "mf", "dcl-w05", 0))
    assert dense.stale_options(folder, dense.spec_for(a, "mf", "dcl-w05", 0)) == []
    assert dense.stale_options(folder, dense.spec_for(a, "mf", "dcl-w01", 0)) == [
        ("loss", "omega", 0.05, 0.01)]
    stale = dense.stale_options(folder, dense.spec_for(a, "lightgcn", "rns", 0))
    assert ("model", "name", "mf", "lightgcn") in stale
    assert ("loss", "name", "dcl", "bpr") in stale and ("sampler", "name", None, "rns") in stale


def test_options_added_or_removed_since_are_not_compared(dense, tmp_path):
    a = args(tmp_path)
    folder = str(tmp_path / "run")
    saved = dense.spec_for(a, "mf", "dcl-w01", 0).to_dict()
    del saved["loss"]["options"]["scorer"]  # an option added after the run
    saved["loss"]["options"]["probe"] = 1.0  # a probe removed since
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(saved, f)
    assert dense.stale_options(folder, dense.spec_for(a, "mf", "dcl-w01", 0)) == []


def test_run_one_refuses_a_stale_folder(dense, tmp_path):
    a = args(tmp_path)
    write(os.path.join(str(tmp_path), "x", "mf-dcl-w01-s0"), dense.spec_for(a, "mf", "dcl-w05", 0))
    with pytest.raises(SystemExit, match="omega 0.05 now 0.01.*rename or remove"):
        dense.run_one(a, None, "mf", "dcl-w01", 0)


def test_a_derived_option_is_compared_by_the_value_it_derives(dense, tmp_path):
    a = args(tmp_path)
    folder = str(tmp_path / "run")
    saved = dense.spec_for(a, "lightgcn", "ssm", 0).to_dict()
    saved["loss"]["options"]["scorer"] = "cosine"  # ran before the scorer was derived
    os.makedirs(folder)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(saved, f)
    now = dense.spec_for(a, "lightgcn", "ssm", 0)
    assert now.loss.options["scorer"] is None
    assert dense.stale_options(folder, now, lambda: {"scorer": "cosine"}) == []
    assert dense.stale_options(folder, now, lambda: {"scorer": "dot"}) == [
        ("loss", "scorer", "cosine", "dot")]


def test_set_changes_the_runs_it_names_and_a_folder_of_other_values_is_refused(dense, tmp_path):
    a = args(tmp_path)
    a.set = [dense.parse_set("trainer.lr=3e-4"), dense.parse_set("ssm.tau=0.5")]
    ssm, rns = dense.spec_for(a, "lightgcn", "ssm", 0), dense.spec_for(a, "lightgcn", "rns", 0)
    assert ssm.trainer["lr"] == rns.trainer["lr"] == 3e-4
    assert ssm.loss.options["tau"] == 0.5 and "tau" not in rns.loss.options
    folder = str(tmp_path / "run")
    write(folder, ssm)
    a.set = [dense.parse_set("trainer.lr=3e-4"), dense.parse_set("trainer.epochs=50")]
    assert dense.stale_options(folder, dense.spec_for(a, "lightgcn", "ssm", 0)) == [
        ("loss", "tau", 0.5, None)]  # a longer budget is not another run
    a.set = []
    assert ("trainer", "lr", 3e-4, 1e-3) in dense.stale_options(
        folder, dense.spec_for(a, "lightgcn", "ssm", 0))
    with pytest.raises(argparse.ArgumentTypeError, match="NAME.KEY=VALUE"):
        dense.parse_set("lr=1")
    with pytest.raises(argparse.ArgumentTypeError, match="JSON"):
        dense.parse_set("ssm.scorer=dot")


def test_set_naming_no_run_is_refused_before_anything_runs(dense, tmp_path, capsys):
    base = ["d.csv", "--label", "x", "--out", str(tmp_path / "o.json"), "--methods", "rns,ssm"]
    with pytest.raises(SystemExit):
        dense.main(base + ["--set", "smm.tau=0.5"])
    assert "smm is none of these runs'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dense.main(base[:-1] + ["rns,nope"])
    assert "'nope' is not one of" in capsys.readouterr().err


def test_a_folder_that_ran_dcl_at_the_omega_now_derived_is_not_stale(
        dense, tmp_path, tiny_dataset_dir):
    from gnnrec.data.density import class_prior
    from gnnrec.data.graph import RecGraph
    from gnnrec.data.loading import DataSpec, load_dataset
    from gnnrec.losses.hdccf import OMEGA_CAP

    a = args(tmp_path)
    a.data = tiny_dataset_dir
    dataset = load_dataset(DataSpec(path=tiny_dataset_dir, split="random", test_frac=0.2,
                                    val_frac=0.1, seed=1))
    now = dense.spec_for(a, "mf", "dcl", 0)
    assert now.loss.options["omega"] is None
    derived = dense.derived_options(now, dataset)
    expect = min(OMEGA_CAP, class_prior(RecGraph.from_dataset(dataset)))
    assert derived["omega"] == pytest.approx(expect)
    folder = str(tmp_path / "run")
    for value, stale in ((expect, False), (0.05, True)):
        saved = now.to_dict()
        saved["loss"]["options"]["omega"] = value  # ran when omega+ was a constant
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(saved, f)
        found = dense.stale_options(folder, now, lambda: derived)
        assert bool(found) == stale
