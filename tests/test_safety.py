"""What README.rst promises about a user's work: every guarantee here is a test."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from gnnrec.cli import cli
from tests.test_cli import FAST, make_data, one_line_error

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def data_dir(tmp_path):
    return make_data(str(tmp_path / "d"))[0]


def losses(run):
    return [json.loads(x)["loss"] for x in open(os.path.join(run, "log.jsonl"))]


def files(folder):
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))}


# --------------------------------------------------------------------------- a run is its spec

def test_resume_restores_a_non_default_dataset_from_the_run_folder(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    full = str(tmp_path / "full")
    args = ["--epochs", "4", "--dim", "8", "--layers", "1", "--batch-size", "64", "--device",
            "cpu", "--no-progress", "--k-core", "2", "--data-seed", "3"]
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", full, *args]).exit_code == 0
    args2 = [a if a != "4" else "2" for a in args]
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *args2]).exit_code == 0
    # README's own resume line: only --out and --resume (and the allowed --epochs)
    r = runner.invoke(cli, ["train", "--out", out, "--resume", "--epochs", "4", "--device",
                            "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "resuming" in r.output and "note: resuming with trainer.epochs changed" in r.output
    assert losses(out) == losses(full)


def test_resume_allows_lr_with_a_note_and_refuses_other_changes(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    r = runner.invoke(cli, ["train", "--out", out, "--resume", "--loss", "softbpr"])
    line = one_line_error(r)
    assert "cannot change loss.name" in line and "may change: trainer.epochs, trainer.lr" in line
    r = runner.invoke(cli, ["train", "--out", out, "--resume", "--epochs", "3", "--lr", "0.01",
                            "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "note: resuming with trainer.lr changed" in r.output
    assert json.load(open(os.path.join(out, "config.json")))["trainer"]["lr"] == 0.01


# --------------------------------------------------------------------------- write safety

def test_export_and_save_leave_existing_targets_byte_identical(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    best = os.path.join(out, "best.pt")
    before = files(out)
    # export onto its own checkpoint: refused, with or without --overwrite
    for extra in ([], ["--overwrite"]):
        r = runner.invoke(cli, ["export", best, best, *extra, "--device", "cpu"])
        assert "is the input this command reads" in one_line_error(r)
    assert files(out) == before
    # an existing export target is left alone without --overwrite
    target = tmp_path / "e.npy"
    assert runner.invoke(cli, ["export", best, str(target), "--device", "cpu"]).exit_code == 0
    stamp = (tmp_path / "e.items.npy").read_bytes()
    (tmp_path / "e.users.npy").write_bytes(b"mine")
    r = runner.invoke(cli, ["export", best, str(target), "--device", "cpu"])
    assert "already exists; pass --overwrite" in one_line_error(r)
    assert (tmp_path / "e.users.npy").read_bytes() == b"mine"
    assert (tmp_path / "e.items.npy").read_bytes() == stamp
    r = runner.invoke(cli, ["export", best, str(target), "--overwrite", "--device", "cpu"])
    assert r.exit_code == 0 and np.load(tmp_path / "e.users.npy").shape[0] == 30
    # data --save into the input folder: refused even with --overwrite
    inputs = files(data_dir)
    for extra in ([], ["--overwrite"]):
        r = runner.invoke(cli, ["data", "--dataset", data_dir, "--save", data_dir, *extra])
        assert one_line_error(r)
    assert files(data_dir) == inputs
    # data --save into a folder with an existing file: refused without --overwrite
    other = tmp_path / "prepared"
    other.mkdir()
    (other / "test.txt").write_text("keep me\n")
    r = runner.invoke(cli, ["data", "--dataset", data_dir, "--save", str(other)])
    assert "already exists; pass --overwrite" in one_line_error(r)
    assert os.listdir(other) == ["test.txt"] and (other / "test.txt").read_text() == "keep me\n"
    assert runner.invoke(cli, ["data", "--dataset", data_dir, "--save", str(other),
                               "--overwrite"]).exit_code == 0
    assert sorted(os.listdir(other)) == ["item_list.txt", "test.txt", "train.txt", "user_list.txt",
                                         "val.txt"]


def test_a_failed_start_leaves_nothing_that_blocks_the_next(runner, data_dir, tmp_path,
                                                            monkeypatch):
    from gnnrec.train import trainer

    out = str(tmp_path / "run")

    def broken(self, epoch, max_batches=None):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(trainer.Trainer, "train_epoch", broken)
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST])
    assert r.exit_code == 1 and "Traceback" not in r.output and "report it" in r.output
    assert not os.path.exists(out)
    monkeypatch.undo()
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0


def test_overwrite_keeps_the_old_run_until_the_new_one_has_an_epoch(runner, data_dir, tmp_path,
                                                                    monkeypatch):
    from gnnrec.train import trainer

    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    before = files(out)

    def interrupted(self, epoch, max_batches=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer.Trainer, "train_epoch", interrupted)
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, "--overwrite", *FAST,
                            "--lr", "0.05"])
    assert r.exit_code == 130
    assert files(out) == before and not os.path.exists(out + ".new")
    monkeypatch.undo()
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, "--overwrite", *FAST,
                            "--lr", "0.05"])
    assert r.exit_code == 0, r.output
    assert json.load(open(os.path.join(out, "config.json")))["trainer"]["lr"] == 0.05
    assert not os.path.exists(out + ".new") and not os.path.exists(out + ".old")


@pytest.mark.parametrize("make", ["file", "unwritable", "foreign"])
def test_a_bad_out_folder_is_refused_before_reading_data(runner, tmp_path, make):
    out = tmp_path / "out"
    if make == "file":
        out.write_text("x")
        needle = "is a file"
    elif make == "unwritable":
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        tmp_path.chmod(0o500)
        needle = "not writable"
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("x")
        needle = "holds files gnnrec did not write"
    r = runner.invoke(cli, ["train", "--out", str(out), "--dataset", str(tmp_path / "nope")])
    tmp_path.chmod(0o700)
    assert needle in one_line_error(r)


def test_train_over_a_file_shaped_out_parent(runner, tmp_path):
    (tmp_path / "f").write_text("x")
    r = runner.invoke(cli, ["train", "--out", str(tmp_path / "f" / "run"), "--dataset",
                            str(tmp_path / "nope")])
    assert "is a file" in one_line_error(r)


# --------------------------------------------------------------------------- no traceback

def test_an_unexpected_error_is_short_and_debug_shows_the_traceback(runner, data_dir,
                                                                    monkeypatch):
    from gnnrec.data import loading

    def boom(*a, **k):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(loading, "_read", boom)
    r = runner.invoke(cli, ["data", "--dataset", data_dir])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "ZeroDivisionError: boom" in r.output and "report it" in r.output
    monkeypatch.setenv("GNNREC_DEBUG", "1")
    r = runner.invoke(cli, ["data", "--dataset", data_dir])
    assert r.exit_code == 1 and "Traceback" in r.output


@pytest.mark.parametrize("args,needle", [
    (["--epochs", "0"], "--epochs must be >= 1"),
    (["--lr", "nan"], "--lr must be > 0 and finite"),
    (["--reg", "inf"], "--reg must be >= 0 and finite"),
    (["--patience", "-1"], "--patience must be an integer >= 0"),
    (["--eval-every", "0"], "--eval-every must be an integer >= 1"),
    (["--test-frac", "nan"], "--test-frac must be in [0, 1)"),
    (["--val-frac", "1.5"], "--val-frac must be in [0, 1)"),
    (["--k-core", "-2"], "--k-core must be an integer >= 0"),
    (["--min-rating", "inf"], "--min-rating must be a finite number"),
    (["--seed", "-1"], "--seed must be in [0, 2**63)"),
])
def test_every_numeric_option_is_checked_before_reading_data(runner, tmp_path, args, needle):
    r = runner.invoke(cli, ["train", "--dataset", str(tmp_path / "nope"), *args])
    assert needle in one_line_error(r)


def test_a_user_with_every_item_is_a_clean_error(runner, tmp_path):
    from tests.conftest import write_lightgcn_files

    folder = write_lightgcn_files(str(tmp_path / "d"), {0: [0, 1, 2], 1: [0, 1], 2: [1, 2]},
                                  {1: [2], 2: [0]})
    r = runner.invoke(cli, ["train", "--dataset", folder, "--val-frac", "0", "--out",
                            str(tmp_path / "r"), *FAST, "--ks", "2"])
    assert "interacted with every item" in one_line_error(r)
    assert not os.path.exists(tmp_path / "r")


def test_recommend_beyond_the_unseen_items_says_so(runner, data_dir, tmp_path):
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    r = runner.invoke(cli, ["recommend", os.path.join(out, "best.pt"), "--user", "103", "--user",
                            "999", "-k", "500", "--skip-unknown", "--format", "json",
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert [x["user"] for x in got] == [103] and 0 < len(got[0]["items"]) < 500
    assert all(np.isfinite(got[0]["scores"]))
    assert "unknown user 999: skipped" in r.stderr and "only" in r.stderr


# --------------------------------------------------------------------------- fuzz

def fuzz_inputs(rng):
    yield "binary", bytes(rng.integers(0, 256, 400, dtype=np.uint8))
    yield "nul", b"0 1 2\n1 2\x003\n"
    yield "huge-id", b"0 1 2\n1 99999999999999999999999\n"
    yield "negative", b"0 -1 2\n"
    for k in range(12):
        tokens = [rng.choice(["0", "7", "x", "-3", "1e5", "nan", "inf", "::", ",", "\t", "\xff",
                              "99999999999999999999", "", " "]) for _ in range(rng.integers(1, 8))]
        yield f"random-{k}", (" ".join(tokens) + "\n").encode("utf-8", "replace") * 3


@pytest.mark.parametrize("kind", ["lightgcn", "movielens", "csv"])
def test_fuzzed_files_give_one_line_errors_never_a_traceback(runner, tmp_path, kind):
    rng = np.random.default_rng({"lightgcn": 0, "movielens": 1, "csv": 2}[kind])
    for name, content in fuzz_inputs(rng):
        if kind == "lightgcn":
            path = tmp_path / f"{name}.txt"
            path.write_bytes(content)
        elif kind == "movielens":
            path = tmp_path / f"{name}.dat"
            path.write_bytes(content.replace(b" ", b"::"))
        else:
            path = tmp_path / f"{name}.csv"
            path.write_bytes(b"user,item,rating,time\n" + content.replace(b" ", b","))
        extra = ["--rating-col", "rating", "--time-col", "time"] if kind == "csv" else []
        r = runner.invoke(cli, ["data", "--dataset", str(path), *extra])
        assert "Traceback" not in r.output, (name, r.output)
        assert r.exit_code in (0, 2), (name, r.exit_code, r.output)
        if r.exit_code == 2:
            assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 1, r.output


# --------------------------------------------------------------------------- kills

def cli_cmd(*args):
    return [sys.executable, "-m", "gnnrec", *args]


def test_sigkill_at_random_moments_then_resume_ends_with_the_uninterrupted_run(data_dir,
                                                                               tmp_path):
    args = ["--dataset", data_dir, "--epochs", "6", "--dim", "8", "--layers", "1",
            "--batch-size", "32", "--device", "cpu", "--no-progress", "--patience", "0"]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    ref = str(tmp_path / "ref")
    subprocess.run(cli_cmd("train", "--out", ref, *args), env=env, check=True,
                   capture_output=True)
    rng = random.Random(0)
    for attempt in range(3):
        out = str(tmp_path / f"cut{attempt}")
        kills = 0
        while not os.path.exists(os.path.join(out, "results.json")):
            resume = os.path.exists(os.path.join(out, "last.pt"))
            cmd = cli_cmd("train", "--out", out, *(["--resume"] if resume else args))
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if kills < 4:
                time.sleep(rng.uniform(0.5, 4.0))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait()
        assert losses(out) == losses(ref)
        assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
