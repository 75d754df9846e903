"""A folder is written by one gnnrec process at a time (gnnrec.lock)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gnnrec.lock import LOCK_NAME, OutputBusy, OutputLock
from tests.test_cli import make_data

ROOT = os.path.join(os.path.dirname(__file__), "..")
ENV = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
SLOW = ["--epochs", "5000", "--dim", "8", "--layers", "1", "--batch-size", "16", "--device", "cpu",
        "--no-progress", "--patience", "0"]


def gnnrec(*args):
    return [sys.executable, "-m", "gnnrec.cli", *args]


def interruptible():
    """Ctrl-C's default in the child even when this test runs where SIGINT is
    ignored (a job started in the background by a non-interactive shell:
    Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args):
    return subprocess.Popen(gnnrec(*args), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)


def wait_for(path, proc, timeout=60):
    end = time.time() + timeout
    while not os.path.exists(path):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, f"{path} never appeared"
        time.sleep(0.05)


def epochs(run):
    return [json.loads(line)["epoch"] for line in open(os.path.join(run, "log.jsonl"))]


@pytest.fixture
def data_dir(tmp_path):
    return make_data(str(tmp_path / "d"))[0]


def test_a_folder_is_written_by_one_gnnrec_process_at_a_time(data_dir, tmp_path):
    out = str(tmp_path / "run")
    first = start("train", "--dataset", data_dir, "--out", out, *SLOW)
    wait_for(os.path.join(out, LOCK_NAME), first)
    second = subprocess.run(gnnrec("train", "--dataset", data_dir, "--out", out, *SLOW),
                            env=ENV, capture_output=True, text=True)
    assert second.returncode == 2
    err = second.stderr.strip().splitlines()
    assert len(err) == 1 and out in err[0] and f"PID {first.pid}" in err[0], second.stderr
    # a resume of the same folder while it runs is refused the same way
    third = subprocess.run(gnnrec("train", "--out", out, "--resume"), env=ENV,
                           capture_output=True, text=True)
    assert third.returncode == 2 and f"PID {first.pid}" in third.stderr
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=300)
    assert first.returncode == 130
    done = epochs(out)
    assert done == list(range(1, len(done) + 1))  # one run's log: each epoch once, in order
    assert not os.path.exists(os.path.join(out, LOCK_NAME))


def test_two_resumes_of_one_folder_do_not_both_run(data_dir, tmp_path):
    out = str(tmp_path / "run")
    short = [a if a != "5000" else "2" for a in SLOW]
    subprocess.run(gnnrec("train", "--dataset", data_dir, "--out", out, *short), env=ENV,
                   check=True, capture_output=True)
    a = start("train", "--out", out, "--resume", "--epochs", "5000")
    wait_for(os.path.join(out, LOCK_NAME), a)
    b = subprocess.run(gnnrec("train", "--out", out, "--resume", "--epochs", "5000"), env=ENV,
                       capture_output=True, text=True)
    assert b.returncode == 2 and "another gnnrec process" in b.stderr
    a.send_signal(signal.SIGINT)
    a.communicate(timeout=300)
    done = epochs(out)
    assert a.returncode == 130 and done == list(range(1, len(done) + 1))


def test_a_killed_holder_leaves_no_lock(data_dir, tmp_path):
    out = str(tmp_path / "run")
    proc = start("train", "--dataset", data_dir, "--out", out, *SLOW)
    wait_for(os.path.join(out, "last.pt"), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(os.path.join(out, LOCK_NAME))  # the file stays, the lock does not
    r = subprocess.run(gnnrec("train", "--out", out, "--resume", "--epochs", "1"), env=ENV,
                       capture_output=True, text=True)
    assert "another gnnrec process" not in r.stderr and r.returncode in (0, 2), r.stderr


def test_an_overwriting_run_keeps_its_folder_locked_after_the_swap(data_dir, tmp_path):
    out = str(tmp_path / "run")
    short = [a if a != "5000" else "1" for a in SLOW]
    subprocess.run(gnnrec("train", "--dataset", data_dir, "--out", out, *short), env=ENV,
                   check=True, capture_output=True)
    proc = start("train", "--dataset", data_dir, "--out", out, "--overwrite", *SLOW)
    end = time.time() + 120
    while not (os.path.exists(os.path.join(out, "log.jsonl")) and len(epochs(out)) >= 2
               and not os.path.exists(out + ".new")):
        assert proc.poll() is None and time.time() < end
        time.sleep(0.05)
    with pytest.raises(OutputBusy, match=f"PID {proc.pid}"):
        OutputLock.for_folder(out).acquire()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=300)
    assert proc.returncode == 130


def test_study_folder_and_export_targets_are_locked(data_dir, tmp_path):
    pytest.importorskip("optuna")
    study = str(tmp_path / "study")
    os.makedirs(study)
    with OutputLock.for_folder(study):
        r = subprocess.run(gnnrec("tune", "--dataset", data_dir, "--out", study, "--space",
                                  "trainer.lr=0.001,0.01", "--search", "grid", "--trials", "1",
                                  "--epochs", "1"), env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and f"PID {os.getpid()}" in r.stderr
    assert os.listdir(study) == []  # nothing was read, nothing written
    run = str(tmp_path / "run")
    short = [a if a != "5000" else "1" for a in SLOW]
    subprocess.run(gnnrec("train", "--dataset", data_dir, "--out", run, *short), env=ENV,
                   check=True, capture_output=True)
    target = str(tmp_path / "emb.pt")
    with OutputLock.for_file(target):
        r = subprocess.run(gnnrec("export", os.path.join(run, "best.pt"), target, "--device",
                                  "cpu"), env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "another gnnrec process" in r.stderr
    assert not os.path.exists(target)
    save = str(tmp_path / "saved")
    os.makedirs(save)
    with OutputLock.for_folder(save):
        r = subprocess.run(gnnrec("data", "--dataset", data_dir, "--save", save), env=ENV,
                           capture_output=True, text=True)
    assert r.returncode == 2 and "another gnnrec process" in r.stderr


def test_try_acquire_skips_a_held_lock_and_takes_a_left_file(tmp_path):
    path = str(tmp_path / "job.lock")
    with open(path, "w") as f:
        f.write(f"{os.getpid()}\n")  # left by a process that ended: a file, not a lock
    held = OutputLock(path, "job").try_acquire()
    assert held is not None and held.held
    assert OutputLock(path, "job").try_acquire() is None  # another open of the file: busy
    with pytest.raises(OutputBusy, match=f"PID {os.getpid()}"):
        OutputLock(path, "job").acquire()
    held.release()
    again = OutputLock(path, "job").try_acquire()
    assert again is not None
    again.release()
