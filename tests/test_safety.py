"""What README.rst promises about a user's work: every guarantee here is a test."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gnnrec
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


@pytest.mark.parametrize("removed", [("last.pt",), ("last.pt", "best.pt", "results.json")])
def test_a_run_whose_checkpoint_is_gone_is_refused_not_wiped(runner, data_dir, tmp_path,
                                                             removed):
    """A folder whose ``last.pt`` was deleted (or not copied: git keeps the
    logs, not the checkpoints) still holds the run's record; a new run there
    is refused, one line, until ``--overwrite``."""
    out = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST]).exit_code == 0
    for name in removed:
        os.remove(os.path.join(out, name))
    before = files(out)
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST])
    assert "no last.pt to resume it from; pass --overwrite" in one_line_error(r)
    assert "a log to epoch" in r.output and files(out) == before
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", out, *FAST, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert os.path.exists(os.path.join(out, "last.pt"))


@pytest.mark.parametrize("make", ["file", "unwritable", "foreign"])
def test_a_bad_out_folder_is_refused_before_reading_data(runner, tmp_path, make):
    out = tmp_path / "out"
    if make == "file":
        out.write_text("x")
        needle = "is a file"
    elif make == "unwritable":  # /proc takes no new folder, whoever asks (root included)
        out = Path("/proc") / f"gnnrec-test-{os.getpid()}" / "out"
        needle = "not writable|cannot be written"
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("x")
        needle = "holds files gnnrec did not write"
    r = runner.invoke(cli, ["train", "--out", str(out), "--dataset", str(tmp_path / "nope")])
    line = one_line_error(r)
    assert re.search(needle, line) and str(out.parent if make == "unwritable" else out) in line


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
    model = gnnrec.load(os.path.join(out, "best.pt"))
    user = int(model.users.index_of([103])[0])
    unseen = model.num_items - int((model.graph.user == user).sum())
    assert [x["user"] for x in got] == [103] and len(got[0]["items"]) == unseen < 500
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
    args = ["--dataset", data_dir, "--epochs", "12", "--dim", "8", "--layers", "1",
            "--batch-size", "32", "--device", "cpu", "--no-progress", "--patience", "0"]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    ref = str(tmp_path / "ref")
    subprocess.run(cli_cmd("train", "--out", ref, *args), env=env, check=True,
                   capture_output=True)
    rng = random.Random(0)
    last = lambda out: os.path.join(out, "last.pt")  # noqa: E731
    for attempt in range(3):
        out = str(tmp_path / f"cut{attempt}")
        kills, mid_run = 0, 0
        while not os.path.exists(os.path.join(out, "results.json")):
            resume = os.path.exists(last(out))
            cmd = cli_cmd("train", "--out", out, *(["--resume"] if resume else args))
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if kills < 4:
                if kills == 0:  # the first kill lands as soon as an epoch is on disk
                    while not os.path.exists(os.path.join(out, "log.jsonl")) \
                            and proc.poll() is None:
                        time.sleep(0.005)
                else:
                    time.sleep(rng.uniform(0.5, 4.0))
                if proc.poll() is None:
                    mid_run += os.path.exists(last(out))  # a kill that lands mid-training
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
            proc.wait()
        assert mid_run >= 1, "no kill landed after training had written a checkpoint"
        assert losses(out) == losses(ref)
        assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]


# --------------------------------------------------------------------------- the machine

class FullDisk:
    r"""Every file opened through ``os.fdopen`` (checkpoints, JSON files)
    or appended to (the log) raises ENOSPC once ``budget`` bytes in all were
    written: a disk that fills at a chosen byte."""

    def __init__(self, monkeypatch, budget):
        import builtins
        import errno
        import io

        self.left = budget
        fdopen, real_open = os.fdopen, builtins.open
        disk = self

        class Writer(io.RawIOBase):
            def __init__(self, f):
                self.f = f

            def writable(self):
                return True

            def write(self, b):
                disk.left -= len(b)
                if disk.left < 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return self.f.write(b)

            def fileno(self):
                return self.f.fileno()

            def flush(self):
                return self.f.flush()

            def close(self):
                self.f.close()
                super().close()

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

        def _fdopen(fd, mode="r", *a, **kw):
            f = fdopen(fd, mode, *a, **kw)
            return Writer(f) if "w" in mode or "a" in mode else f

        def _open(path, mode="r", *a, **kw):
            f = real_open(path, mode, *a, **kw)
            return Writer(f) if "a" in mode and str(path).endswith(".jsonl") else f

        monkeypatch.setattr(os, "fdopen", _fdopen)
        monkeypatch.setattr(builtins, "open", _open)


def test_a_full_disk_is_one_line_and_the_run_resumes_exactly(runner, data_dir, tmp_path,
                                                             monkeypatch):
    args = ["--dataset", data_dir, *FAST[:1], "4", *FAST[2:], "--patience", "0"]
    ref = str(tmp_path / "ref")
    assert runner.invoke(cli, ["train", "--out", ref, *args]).exit_code == 0
    size = os.path.getsize(os.path.join(ref, "last.pt"))
    for budget in (int(2.5 * size), int(3.7 * size)):  # the disk fills in epoch 1 or 2
        out = str(tmp_path / f"cut{budget}")
        with monkeypatch.context() as m:
            FullDisk(m, budget)
            r = runner.invoke(cli, ["train", "--out", out, *args])
        line = one_line_error(r)
        assert r.exit_code == 2 and line.startswith("Error: no space left on device writing")
        assert "the last complete epoch is" in line
        assert f"resume with: gnnrec train --out {out} --resume" in line
        assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
        r = runner.invoke(cli, ["train", "--out", out, "--resume"])
        assert r.exit_code == 0, r.output
        assert losses(out) == losses(ref)


def test_a_real_full_file_system_is_one_line(runner, data_dir, tmp_path):
    mount = str(tmp_path / "small")
    os.makedirs(mount)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", mount],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out",
                                os.path.join(mount, "run"), *FAST])
        line = one_line_error(r)
        assert r.exit_code == 2 and "no space left on device writing" in line, r.output
    finally:
        subprocess.run(["umount", mount], capture_output=True)


def test_show_reports_a_damaged_folder_and_shows_the_others(runner, data_dir, tmp_path):
    import shutil

    good = str(tmp_path / "good")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", good, *FAST]).exit_code == 0
    damage = {
        "log-bytes": lambda d: open(os.path.join(d, "log.jsonl"), "wb").write(
            np.random.default_rng(1).bytes(300)),
        "log-shapes": lambda d: open(os.path.join(d, "log.jsonl"), "w").write(
            '[1, 2]\n"x"\n{"epoch": "one"}\n'),
        "results-bytes": lambda d: open(os.path.join(d, "results.json"), "wb").write(b"\xff\xfe"),
        "results-list": lambda d: open(os.path.join(d, "results.json"), "w").write("[1]"),
        "results-shape": lambda d: open(os.path.join(d, "results.json"), "w").write(
            '{"test": 3}'),
        "results-dir": lambda d: (os.unlink(os.path.join(d, "results.json")),
                                  os.makedirs(os.path.join(d, "results.json"))),
        "log-dir": lambda d: (os.unlink(os.path.join(d, "log.jsonl")),
                              os.makedirs(os.path.join(d, "log.jsonl"))),
        "config-bytes": lambda d: open(os.path.join(d, "config.json"), "wb").write(b"\x00\xff"),
        "config-dir": lambda d: (os.unlink(os.path.join(d, "config.json")),
                                 os.makedirs(os.path.join(d, "config.json"))),
        "config-list": lambda d: open(os.path.join(d, "config.json"), "w").write("[]"),
    }
    for name, hurt in damage.items():
        bad = str(tmp_path / name)
        shutil.copytree(good, bad)
        hurt(bad)
        r = runner.invoke(cli, ["show", bad, good])
        assert "bug in gnnrec" not in r.output, (name, r.output)
        assert good in r.stdout, (name, r.output)  # the good run is still shown
        if name.startswith("config"):
            assert r.exit_code == 2 and bad in r.stderr, (name, r.output)
        else:
            assert r.exit_code == 0 and bad in r.stdout, (name, r.output)
        alone = runner.invoke(cli, ["show", bad])
        assert "bug in gnnrec" not in alone.output and alone.exit_code in (0, 2), name


def test_smaller_mistakes_are_one_line_before_any_data_is_read(runner, data_dir, tmp_path):
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", "/proc/gnnrec-x", *FAST])
    line = one_line_error(r)
    assert "/proc/gnnrec-x" in line and "dataset" not in r.output.split("Error")[0]
    run = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST]).exit_code == 0
    config = json.load(open(os.path.join(run, "config.json")))
    cases = {"lr-null": {**config, "trainer": {**config["trainer"], "lr": None}},
             "newer": {**config, "version": 99},
             "no-data": {k: v for k, v in config.items() if k != "data"}}
    needles = {"lr-null": "trainer.lr is null", "newer": "newer gnnrec",
               "no-data": "names no data"}
    for name, spec in cases.items():
        path = str(tmp_path / f"{name}.json")
        json.dump(spec, open(path, "w"))
        r = runner.invoke(cli, ["train", "--config", path, "--out", str(tmp_path / name),
                                "--device", "cpu", "--no-progress"])
        assert needles[name] in one_line_error(r), name
        assert not os.path.exists(tmp_path / name)
    # a run's own resume point is never an export target, even with --overwrite
    before = files(run)
    r = runner.invoke(cli, ["export", os.path.join(run, "best.pt"), os.path.join(run, "last.pt"),
                            "--format", "pt", "--overwrite", "--device", "cpu"])
    assert "is a file of the run" in one_line_error(r) and files(run) == before


def test_a_killed_overwrite_leaves_no_new_folder_behind(runner, data_dir, tmp_path):
    run = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST]).exit_code == 0
    os.makedirs(run + ".new")  # what a SIGKILL during an --overwrite's first epoch leaves
    open(os.path.join(run + ".new", "config.json"), "w").write("{}")
    r = runner.invoke(cli, ["train", "--out", run, "--resume", "--epochs", "3"])
    assert r.exit_code == 0, r.output
    assert not os.path.exists(run + ".new")


@pytest.mark.parametrize("option,blamed", [(["--lr", "1e30"], "lower --lr"),
                                           (["--reg", "1e38"], "--reg 1e+38"),
                                           (["--loss", "ssm", "--loss-opt", "tau=1e-38"], "tau")])
def test_a_diverging_run_says_what_was_kept_and_what_to_change(runner, data_dir, tmp_path,
                                                               option, blamed):
    run = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST, *option])
    line = one_line_error(r, code=1)
    assert "no epoch had completed, so no model was kept" in line and blamed in line, line
    assert not os.path.exists(run)  # a failed start leaves nothing behind


def test_a_selection_metric_is_always_computed(runner, data_dir, tmp_path):
    run = str(tmp_path / "run")
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST[:1], "5",
                            *FAST[2:], "--ks", "5", "--metric", "recall@8", "--patience", "2"])
    assert r.exit_code == 0, r.output
    assert "computing K=8 as well" in r.output
    results = json.load(open(os.path.join(run, "results.json")))
    assert results["best_val"] is not None and results["metric"] == "recall@8"
    log = [json.loads(x) for x in open(os.path.join(run, "log.jsonl"))]
    assert all("val/recall@8" in x for x in log) and any(x.get("is_best") for x in log)
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["evaluation"]["ks"] == [5, 8]
    config["evaluation"]["ks"] = [5]  # the same through --config
    path = str(tmp_path / "c.json")
    json.dump(config, open(path, "w"))
    r = runner.invoke(cli, ["train", "--config", path, "--out", str(tmp_path / "again"),
                            "--no-progress"])
    assert r.exit_code == 0, r.output
    assert json.load(open(tmp_path / "again" / "results.json"))["best_val"] is not None


def test_tune_refuses_a_file_as_its_folder_before_reading_data(runner, data_dir, tmp_path):
    pytest.importorskip("optuna")
    target = tmp_path / "taken"
    target.write_text("mine")
    for out in (str(target), str(target / "sub")):
        r = runner.invoke(cli, ["tune", "--dataset", data_dir, "--out", out, "--space",
                                "trainer.lr=0.001,0.01", "--search", "grid", "--trials", "1"])
        line = one_line_error(r)
        assert "is a file" in line and "dataset" not in r.output.split("Error")[0]
    assert target.read_text() == "mine"


def test_a_failed_tune_start_leaves_nothing_that_blocks_the_next(runner, data_dir, tmp_path):
    pytest.importorskip("optuna")
    out = str(tmp_path / "study")
    args = ["tune", "--dataset", data_dir, "--out", out, "--search", "grid", "--trials", "2",
            *FAST]
    r = runner.invoke(cli, args + ["--space", "trainer.lr=1e30,1e31"])  # every trial diverges
    assert "no trial completed" in one_line_error(r)
    r = runner.invoke(cli, args + ["--space", "trainer.lr=0.001,0.01", "--metric", "recall@7"])
    assert r.exit_code == 0, r.output
    assert "val/recall@7" in r.output


def test_a_run_written_before_columns_were_found_by_name_still_resumes(runner, data_dir,
                                                                       tmp_path):
    run = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST]).exit_code == 0
    config = json.load(open(os.path.join(run, "config.json")))
    config["data"].update(user_col="user", item_col="item")  # the old fixed defaults
    config["data"].pop("options")
    config["data"].pop("refit")
    json.dump(config, open(os.path.join(run, "config.json"), "w"))
    r = runner.invoke(cli, ["train", "--out", run, "--resume", "--epochs", "3"])
    assert r.exit_code == 0, r.output


def test_ctrl_c_before_an_overwrite_has_an_epoch_says_the_old_run_is_unchanged(
        runner, data_dir, tmp_path, monkeypatch):
    from gnnrec.train.trainer import Trainer

    run = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST]).exit_code == 0
    before = files(run)

    def interrupted(self, epoch, *a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    r = runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, "--overwrite",
                            "--lr", "0.05", *FAST])
    assert r.exit_code == 130
    assert "still holds the previous run, unchanged" in r.output and "--resume" not in r.output
    assert files(run) == before and not os.path.exists(run + ".new")


def test_a_damaged_checkpoint_is_one_line_without_warnings(runner, data_dir, tmp_path):
    run = str(tmp_path / "run")
    assert runner.invoke(cli, ["train", "--dataset", data_dir, "--out", run, *FAST]).exit_code == 0
    best = os.path.join(run, "best.pt")
    cut = str(tmp_path / "cut.pt")
    open(cut, "wb").write(open(best, "rb").read()[:3000])
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    for command in (["evaluate", cut], ["recommend", cut, "--user", "103"],
                    ["export", cut, str(tmp_path / "e.pt")]):
        p = subprocess.run(cli_cmd(*command), env=env, capture_output=True, text=True)
        assert p.returncode == 2
        assert p.stderr.strip().splitlines() == [f"Error: {cut}: not a readable checkpoint "
                                                 "(RuntimeError)"], p.stderr
