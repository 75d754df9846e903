"""gnnrec tune: a resumable Optuna study of ordinary runs, selected on
validation, tested once."""
import json
import os

import pytest
from click.testing import CliRunner

import gnnrec.tune
from gnnrec.cli import cli
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.spec import RunSpec
from tests.test_cli import make_data, one_line_error

TUNE = ["--sampler", "dns", "--space", "dns.num_candidates=2,4,8", "--space",
        "trainer.lr=0.001:0.05:log", "--epochs", "2", "--dim", "8", "--layers", "1",
        "--batch-size", "64", "--device", "cpu", "--no-progress"]


@pytest.fixture
def data_dir(tmp_path):
    return make_data(str(tmp_path / "d"))[0]


def tune(data_dir, out, *extra):
    return CliRunner().invoke(cli, ["tune", "--dataset", data_dir, "--out", out, *TUNE, *extra])


def test_tune_writes_a_study_of_runs_and_the_winner(data_dir, tmp_path):
    out = str(tmp_path / "study")
    r = tune(data_dir, out, "--trials", "3")
    assert r.exit_code == 0, r.output
    assert "best of 3 trials" in r.output and "the chosen configuration only" in r.output
    assert os.path.exists(os.path.join(out, "study.db"))
    assert sorted(x for x in os.listdir(out) if x.startswith("trial-")) == [
        "trial-0000", "trial-0001", "trial-0002"]
    results = json.load(open(os.path.join(out, "results.json")))
    best = RunSpec.from_file(os.path.join(out, "best.json")).validate()
    assert best.sampler.options["num_candidates"] == results["best"]["dns.num_candidates"]
    r = CliRunner().invoke(cli, ["train", "--config", os.path.join(out, "best.json"), "--out",
                                 str(tmp_path / "again"), "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["show", os.path.join(out, "trial-0001")])  # ordinary runs
    assert r.exit_code == 0 and "dns(num_candidates=" in r.output


def test_an_interrupted_search_resumes_without_repeating_finished_trials(data_dir, tmp_path,
                                                                         monkeypatch):
    out = str(tmp_path / "study")
    calls, interrupt = [], [2]
    real = gnnrec.tune.train_run

    def flaky(spec, *args, **kwargs):
        calls.append((spec.sampler.options["num_candidates"], spec.trainer["lr"]))
        if len(calls) == interrupt[0]:
            interrupt[0] = -1
            raise KeyboardInterrupt  # Ctrl-C during the second trial, once
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(gnnrec.tune, "train_run", flaky)
    r = tune(data_dir, out, "--trials", "3")
    assert r.exit_code == 130 and "resumes with the same command" in r.output
    first, interrupted = calls
    calls.clear()
    r = tune(data_dir, out, "--trials", "3")
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output and "1 of 3 trials finished" in r.output
    assert calls[0] == interrupted  # the interrupted trial runs again, first
    assert len(calls) == 2 and first not in calls  # the finished one is not repeated
    assert json.load(open(os.path.join(out, "results.json")))["finished"] == 3


def test_test_metrics_are_read_only_after_the_best_trial_is_chosen(data_dir, tmp_path,
                                                                   monkeypatch):
    events = []
    real_eval = EvalProtocol.evaluate
    real_run = gnnrec.tune.train_run

    def evaluate(self, scorer, fold, *args, **kwargs):
        events.append(f"evaluate {fold}")
        return real_eval(self, scorer, fold, *args, **kwargs)

    def run(*args, **kwargs):
        events.append("trial")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(EvalProtocol, "evaluate", evaluate)
    monkeypatch.setattr(gnnrec.tune, "train_run", run)
    r = tune(data_dir, str(tmp_path / "study"), "--trials", "3")
    assert r.exit_code == 0, r.output
    tests = [k for k, e in enumerate(events) if e.startswith("evaluate test")]
    last_trial = max(k for k, e in enumerate(events) if e == "trial")
    assert tests and min(tests) > last_trial
    assert "evaluate val" in events[:last_trial + 2]


@pytest.mark.parametrize("space,needle", [
    ("dns.gamma=1:2", "dns has no option 'gamma'"),
    ("dns.num_candidates=8:2", "empty range"),
    ("trainer.lr=a:b", "bound 'a' is not a number"),
    ("ahns.beta=0.1:1.0", "ahns is not this run's model, sampler, loss"),
    ("dns.num_candidates=0,4", "num_candidates=0"),
    ("dns", "expected NAME.KEY"),
])
def test_bad_search_spaces_fail_before_reading_data(tmp_path, space, needle):
    r = CliRunner().invoke(cli, ["tune", "--sampler", "dns", "--space", space, "--out",
                                 str(tmp_path / "s"), "--dataset", str(tmp_path / "nope")])
    line = one_line_error(r)
    assert line.startswith("Error: --space") and needle in line
    assert not os.path.exists(tmp_path / "s")


def test_trials_zero_and_a_study_made_for_other_options(data_dir, tmp_path):
    r = CliRunner().invoke(cli, ["tune", "--sampler", "dns", "--space", "dns.top=1,2",
                                 "--trials", "0", "--out", str(tmp_path / "s")])
    assert "--trials must be an integer >= 1" in one_line_error(r)
    out = str(tmp_path / "study")
    assert tune(data_dir, out, "--trials", "1").exit_code == 0
    r = CliRunner().invoke(cli, ["tune", "--dataset", data_dir, "--out", out, *TUNE,
                                 "--trials", "2", "--loss", "softbpr"])
    assert "made for another model, sampler, loss or options" in one_line_error(r)


def test_ctrl_c_during_a_search_is_one_line_and_the_search_resumes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.test_cli import make_data

    data = make_data(str(tmp_path / "d"))[0]
    out = str(tmp_path / "study")
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), ".."),
           "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "gnnrec.cli", "tune", "--dataset", data, "--out", out,
            "--space", "trainer.lr=0.001,0.002", "--search", "grid", "--trials", "2",
            "--dim", "8", "--layers", "1", "--batch-size", "16", "--device", "cpu"]
    from tests.test_concurrency import interruptible

    proc = subprocess.Popen(args + ["--epochs", "5000"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    log = os.path.join(out, "trial-0000", "log.jsonl")
    end = time.time() + 120
    while not os.path.exists(log):
        assert proc.poll() is None and time.time() < end, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith(("dataset", "  note"))]
    assert lines == [f"interrupted: the study in {out} resumes with the same command"], err


def test_ctrl_c_inside_a_study_write_lands_after_the_write(data_dir, tmp_path, monkeypatch):
    """Ctrl-C arriving while Optuna commits a finished trial: the commit
    completes (the trial is not run again on resume), and the search stops
    with the one-line interruption, not a storage error."""
    import signal

    import optuna

    out = str(tmp_path / "study")
    storage = optuna.storages.RDBStorage
    real, fired = storage.set_trial_state_values, []

    def cut(self, trial_id, state, values=None):
        if state == optuna.trial.TrialState.COMPLETE and not fired:
            fired.append(trial_id)
            signal.raise_signal(signal.SIGINT)  # as if the user pressed Ctrl-C right now
        return real(self, trial_id, state, values)

    monkeypatch.setattr(storage, "set_trial_state_values", cut)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        r = tune(data_dir, out, "--trials", "2")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert fired and r.exit_code == 130, r.output
    assert "resumes with the same command" in r.output
    study = optuna.load_study(study_name=gnnrec.tune.STUDY,
                              storage=f"sqlite:///{os.path.join(out, 'study.db')}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"]
    monkeypatch.setattr(storage, "set_trial_state_values", real)
    r = tune(data_dir, out, "--trials", "2")
    assert r.exit_code == 0 and "1 of 2 trials finished" in r.output, r.output


def test_study_write_holds_ctrl_c_until_the_block_ends():
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with gnnrec.tune.study_write():
                signal.raise_signal(signal.SIGINT)
                done.append("rest of the block")
        assert done == ["rest of the block"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_an_interrupted_trial_resumes_from_its_last_epoch(data_dir, tmp_path, monkeypatch):
    r"""Ctrl-C in a trial's third epoch: the rerun goes on from epoch 2 in the
    same folder (not from epoch 0), ends where an uninterrupted search's
    trial ends, and its trial holds the whole validation curve (the epochs
    before the interruption included) for the pruner."""
    import optuna

    from gnnrec.train.callbacks import read_log
    from gnnrec.train.trainer import Callback

    class CtrlC(Callback):
        def on_epoch_start(self, trainer, epoch):
            if epoch == 3:
                raise KeyboardInterrupt

    args = ("--trials", "1", "--epochs", "4", "--patience", "0")
    plain = str(tmp_path / "plain")
    assert tune(data_dir, plain, *args).exit_code == 0
    real, calls = gnnrec.tune.train_run, []

    def interrupted_once(spec, dataset, run_dir, **kwargs):
        calls.append((run_dir, kwargs["resume"]))
        if len(calls) == 1:
            kwargs["callbacks"] = [*kwargs["callbacks"], CtrlC()]
        return real(spec, dataset, run_dir, **kwargs)

    monkeypatch.setattr(gnnrec.tune, "train_run", interrupted_once)
    out = str(tmp_path / "study")
    assert tune(data_dir, out, *args).exit_code == 130
    r = tune(data_dir, out, *args)
    assert r.exit_code == 0, r.output
    first = os.path.join(out, "trial-0000")
    assert calls == [(first, False), (first, True)]  # the same folder, resumed
    assert "resuming the interrupted" in r.output
    log, _ = read_log(os.path.join(first, "log.jsonl"))
    want, _ = read_log(os.path.join(plain, "trial-0000", "log.jsonl"))
    assert [row["epoch"] for row in log] == [1, 2, 3, 4]
    assert [row["loss"] for row in log] == pytest.approx([row["loss"] for row in want])
    study = optuna.load_study(study_name="gnnrec",
                              storage=f"sqlite:///{os.path.join(out, 'study.db')}")
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(done) == 1 and sorted(done[0].intermediate_values) == [1, 2, 3, 4]
    assert done[0].user_attrs["run_dir"] == first
    saved = RunSpec.from_file(os.path.join(first, "config.json")).validate()
    assert gnnrec.tune.resumable_trial(first, saved)
    other = gnnrec.tune.apply(saved, {"trainer.lr": saved.trainer["lr"] * 2})
    assert not gnnrec.tune.resumable_trial(first, other)  # another trial's values: not its run


def test_a_trial_interrupted_before_its_folder_holds_a_run_starts_afresh(data_dir, tmp_path,
                                                                         monkeypatch):
    r"""Ctrl-C before the trial's run wrote its start (while its data and
    model were being built): its values run again in a folder of their own."""
    real, calls = gnnrec.tune.train_run, []

    def interrupted_once(spec, dataset, run_dir, **kwargs):
        calls.append((os.path.basename(run_dir), kwargs["resume"]))
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(spec, dataset, run_dir, **kwargs)

    monkeypatch.setattr(gnnrec.tune, "train_run", interrupted_once)
    out = str(tmp_path / "study")
    assert tune(data_dir, out, "--trials", "1").exit_code == 130
    r = tune(data_dir, out, "--trials", "1")
    assert r.exit_code == 0, r.output
    assert calls == [("trial-0000", False), ("trial-0001", False)]
    assert "resuming the interrupted" not in r.output
