"""Refit: choose the epoch on validation, retrain on train + validation for
that many epochs, test once (``gnnrec train --refit``, ``tune --refit``,
``benchmarks/gowalla.py``)."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from gnnrec.cli import cli
from gnnrec.data import load_dataset
from gnnrec.data.interactions import Interactions
from gnnrec.data.loading import DataSpec
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.refit import refit_run, train_and_refit
from gnnrec.spec import Component, RunSpec
from gnnrec.train.trainer import Trainer
from tests.conftest import tiny_lightgcn_dataset

FAST = ["--dim", "8", "--layers", "1", "--batch-size", "64", "--ks", "5", "--seed", "3",
        "--no-progress"]


@pytest.fixture
def data_dir(tmp_path):
    return tiny_lightgcn_dataset(str(tmp_path / "tiny"), num_users=60, num_items=40, per_user=10)


def spec(path, epochs=6, patience=10):
    return RunSpec(model=Component("lightgcn", {"embedding_dim": 8}),
                   trainer={"epochs": epochs, "batch_size": 64, "seed": 3},
                   evaluation={"ks": [5], "patience": patience},
                   data=DataSpec(path=path, val_frac=0.2), layers=1).validate()


def losses(run):
    return [json.loads(line)["loss"] for line in open(os.path.join(run, "log.jsonl"))]


def test_refit_reads_test_only_at_the_end(tmp_path, data_dir, monkeypatch):
    events = []
    evaluate, train_epoch = EvalProtocol.evaluate, Trainer.train_epoch

    def spy_eval(self, scorer, fold="test", **kw):
        events.append(("eval", fold))
        return evaluate(self, scorer, fold, **kw)

    def spy_train(self, epoch, *a, **kw):
        events.append(("train", self.graph.num_edges))
        return train_epoch(self, epoch, *a, **kw)

    monkeypatch.setattr(EvalProtocol, "evaluate", spy_eval)
    monkeypatch.setattr(Trainer, "train_epoch", spy_train)
    s = spec(data_dir)
    res = train_and_refit(s, load_dataset(s.data), str(tmp_path / "run"), echo=lambda m: None)
    last_train = max(i for i, e in enumerate(events) if e[0] == "train")
    tests = [i for i, e in enumerate(events) if e == ("eval", "test")]
    assert tests and min(tests) > last_train  # nothing trains after test is read
    selection_edges = events[0][1]
    refit_edges = events[last_train][1]
    assert refit_edges > selection_edges  # the refit trained on train + validation
    assert ("eval", "val") in events[:last_train]
    assert res["refit"]["epochs"] == res["best_epoch"]
    assert "test" not in res and "test" in res["refit"]


def test_refit_equals_a_plain_run_on_the_full_training_set(tmp_path, data_dir):
    runner = CliRunner()
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", a, "--epochs", "6",
                            "--val-frac", "0.2", "--refit", *FAST])
    assert r.exit_code == 0, r.output
    chosen = json.load(open(os.path.join(a, "results.json")))["best_epoch"]
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", b, "--val-frac", "0",
                            "--epochs", str(chosen), *FAST])
    assert r.exit_code == 0, r.output
    assert losses(os.path.join(a, "refit")) == losses(b)
    refit = json.load(open(os.path.join(a, "results.json")))["refit"]["test"]
    plain = json.load(open(os.path.join(b, "results.json")))["test"]
    assert refit == plain


def test_results_table_and_show_say_the_numbers_are_refit(tmp_path, data_dir):
    runner = CliRunner()
    run = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, "--epochs", "3",
                            "--val-frac", "0.2", "--refit", *FAST])
    assert r.exit_code == 0, r.output
    assert "REFIT on train + validation for" in r.output
    results = json.load(open(os.path.join(run, "results.json")))
    assert results["refit"]["epochs"] == results["best_epoch"] and "test" in results["refit"]
    shown = runner.invoke(cli, ["show", run, str(tmp_path / "run" / "refit")])
    assert shown.exit_code == 0, shown.output
    assert "(refit)" in shown.output.splitlines()[1]
    one = runner.invoke(cli, ["show", run])
    assert "the test line is the refit's" in one.output


def test_a_refit_trained_in_pieces_equals_one_refit(tmp_path, data_dir):
    s = spec(data_dir)
    ds = load_dataset(s.data)
    quiet = dict(echo=lambda m: None)
    refit_run(s, ds, str(tmp_path / "pieces"), 2, **quiet)
    pieces = refit_run(s, ds, str(tmp_path / "pieces"), 5, **quiet)
    once = refit_run(s, ds, str(tmp_path / "once"), 5, **quiet)
    assert losses(tmp_path / "pieces") == losses(tmp_path / "once")
    assert pieces["test"] == once["test"]
    longer = refit_run(s, ds, str(tmp_path / "once"), 3, **quiet)  # past the chosen: afresh
    assert len(losses(tmp_path / "once")) == 3 and longer["epochs"] == 3


def test_refit_data_puts_validation_back_and_keeps_test(data_dir):
    carved = load_dataset(DataSpec(path=data_dir, val_frac=0.2))
    refit = load_dataset(DataSpec(path=data_dir, val_frac=0.2, refit=True))
    plain = load_dataset(DataSpec(path=data_dir, val_frac=0.0))
    assert refit.fingerprint() == plain.fingerprint() != carved.fingerprint()
    assert not refit.has("val")
    rs = DataSpec(path=data_dir, split="random", test_frac=0.2, val_frac=0.2, seed=1)
    a = load_dataset(rs)
    b = load_dataset(DataSpec(**{**rs.__dict__, "refit": True}))
    assert np.array_equal(a.edges("test"), b.edges("test"))
    moved = (a.inter.fold == Interactions.VAL)
    assert moved.any() and np.all(b.inter.fold[moved] == Interactions.TRAIN)


def test_refit_without_validation_is_refused(tmp_path, data_dir):
    r = CliRunner().invoke(cli, ["train", "--dataset", data_dir, "--out", str(tmp_path / "r"),
                                 "--val-frac", "0", "--refit", *FAST])
    assert r.exit_code == 2 and "validation" in r.output


def test_tune_refit_tests_the_retrained_winner(tmp_path, data_dir):
    pytest.importorskip("optuna")
    out = str(tmp_path / "study")
    r = CliRunner().invoke(cli, ["tune", "--dataset", data_dir, "--out", out, "--epochs", "3",
                                 "--val-frac", "0.2", "--space", "trainer.lr=0.001,0.01",
                                 "--search", "grid", "--trials", "2", "--refit", *FAST[:-1]])
    assert r.exit_code == 0, r.output
    res = json.load(open(os.path.join(out, "results.json")))
    assert res["refit"]["epochs"] == res["best_epoch"]
    refit = json.load(open(os.path.join(out, "refit", "results.json")))
    assert res["test"]["test"] == refit["test"]
    assert "REFIT" in r.output
