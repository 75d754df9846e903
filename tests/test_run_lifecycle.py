"""The run lifecycle, one step at a time (gnnrec.run): the order of the
epoch's callbacks, restoring, failing safely, resume refusals."""
import json
import os
import shutil

import pytest

from gnnrec.data import load_dataset
from gnnrec.errors import GnnrecError
from gnnrec.outputs import RunFolderWriter
from gnnrec.run import _Commit, _LastIsBest, build, callbacks_for, fit, resume_point, start
from gnnrec.run import resumed_spec, train_run
from gnnrec.spec import Component, RunSpec
from gnnrec.train.callbacks import Checkpoint, Console, EarlyStopping, Evaluate, JsonLines
from gnnrec.train.trainer import Callback, TrainingStopped


class Extra(Callback):
    pass


def spec(path, epochs=3, **evaluation):
    from gnnrec.data.loading import DataSpec

    return RunSpec(model=Component("lightgcn", {"embedding_dim": 8}),
                   trainer={"epochs": epochs, "batch_size": 64},
                   evaluation={"ks": [5], **evaluation},
                   data=DataSpec(path=path, val_frac=0.2), layers=1).validate()


def order_of(hooks, *types):
    return [next(i for i, h in enumerate(hooks) if type(h) is t) for t in types]


@pytest.mark.parametrize("val", [True, False])
def test_callbacks_log_before_the_checkpoint_and_swap_after_it(tmp_path, tiny_dataset_dir, val):
    s = spec(tiny_dataset_dir)
    if not val:
        s.data.val_frac = 0.0
    ds = load_dataset(s.data)
    objective, _, protocol = build(s, ds, "cpu")
    folder = RunFolderWriter(str(tmp_path / "run"))
    try:
        hooks, checkpoint = callbacks_for(s, protocol, folder, objective, ds, lambda m: None,
                                          extra=[Extra()], also_evaluate=["test"])
    finally:
        folder.close()
    select = [Evaluate, EarlyStopping] if val else [_LastIsBest]
    idx = order_of(hooks, *select, JsonLines, Checkpoint, _Commit, Console, Extra)
    assert idx == sorted(idx)  # selection, log line, checkpoint, swap, console, extra
    tests = [i for i, h in enumerate(hooks) if type(h) is Evaluate and h.fold == "test"]
    assert tests and max(tests) < idx[len(select)]  # a benchmark's split, before the log line
    assert checkpoint in hooks


def test_every_checkpoint_is_written_after_its_log_line(tmp_path, tiny_dataset_dir,
                                                        monkeypatch):
    import gnnrec.train.callbacks as cb

    run = str(tmp_path / "run")
    seen, save = [], cb.save_checkpoint

    def spy(content, path):
        if path.endswith("last.pt") and content["epoch"] > 0:
            lines = open(os.path.join(os.path.dirname(path), "log.jsonl")).read().splitlines()
            seen.append((content["epoch"], json.loads(lines[-1])["epoch"]))
        save(content, path)

    monkeypatch.setattr(cb, "save_checkpoint", spy)
    train_run(spec(tiny_dataset_dir), load_dataset(spec(tiny_dataset_dir).data), run,
              device="cpu", echo=lambda m: None)
    assert seen == [(1, 1), (2, 2), (3, 3)]


def test_start_restores_every_rank_alike_and_applies_a_changed_lr(tmp_path, tiny_dataset_dir):
    from gnnrec.checkpoint import read_checkpoint

    s = spec(tiny_dataset_dir, epochs=2)
    ds = load_dataset(s.data)
    run = str(tmp_path / "run")
    train_run(s, ds, run, device="cpu", echo=lambda m: None)
    ckpt = read_checkpoint(os.path.join(run, "last.pt"))
    changed = spec(tiny_dataset_dir, epochs=4)
    changed.trainer["lr"] = 0.01
    states = []
    for checkpoint in (object(), None):  # the main process, another rank
        objective, graph, _ = build(changed, ds, "cpu")
        trainer = changed.trainer_for(objective, graph, [])
        start(trainer, ckpt, changed, checkpoint if checkpoint else None, echo=lambda m: None)
        states.append((trainer.epoch, trainer.optimizer.param_groups[0]["lr"],
                       trainer.objective.state_dict()))
    assert states[0][:2] == states[1][:2] == (2, 0.01)
    for k, v in states[0][2].items():
        assert (v == states[1][2][k]).all()


class FakeFolder:
    def __init__(self, staged):
        self.staged, self.final, self.aborted = staged, "run", False

    def abort(self):
        self.aborted = True


class FakeTrainer:
    def __init__(self, error, epoch):
        self.error, self.epoch = error, epoch

    def fit(self):
        raise self.error


@pytest.mark.parametrize("error,epoch,staged,resumed,aborted", [
    (KeyboardInterrupt(), 0, True, False, True),   # a staged overwrite with no epoch: old stays
    (KeyboardInterrupt(), 2, False, False, False),  # an interrupted run is kept, resumable
    (TrainingStopped("nan"), 0, False, False, True),  # a failed start leaves nothing
    (TrainingStopped("nan"), 3, False, False, False),  # a run with epochs is kept
    (TrainingStopped("nan"), 0, False, True, False),  # a resumed run is never removed
])
def test_fit_leaves_the_folder_as_promised(error, epoch, staged, resumed, aborted):
    folder = FakeFolder(staged)
    with pytest.raises(type(error)):
        fit(FakeTrainer(error, epoch), folder, resumed)
    assert folder.aborted == aborted


def test_resume_point_refuses_what_cannot_be_resumed(tmp_path, tiny_dataset_dir):
    s = spec(tiny_dataset_dir, epochs=2)
    ds = load_dataset(s.data)
    run = str(tmp_path / "run")
    quiet = lambda m: None  # noqa: E731
    with pytest.raises(GnnrecError, match="nothing to resume"):
        resume_point(run, s, ds, "cpu", echo=quiet)
    train_run(s, ds, run, device="cpu", echo=quiet)
    notes = []
    longer = spec(tiny_dataset_dir, epochs=5)
    assert resume_point(run, longer, ds, "cpu", echo=notes.append)["epoch"] == 2
    assert notes == ["note: resuming with trainer.epochs changed"]
    other = spec(tiny_dataset_dir, epochs=2)
    other.trainer["batch_size"] = 32
    with pytest.raises(GnnrecError, match="cannot change trainer.batch_size"):
        resume_point(run, other, ds, "cpu", echo=quiet)
    with pytest.raises(GnnrecError, match="other data"):
        resume_point(run, s, load_dataset(spec(tiny_dataset_dir).data.__class__(
            path=tiny_dataset_dir, val_frac=0.5)), "cpu", echo=quiet)
    shutil.copy(os.path.join(run, "best.pt"), os.path.join(run, "last.pt"))
    with pytest.raises(GnnrecError, match="no trainer state"):
        resume_point(run, s, ds, "cpu", echo=quiet)


def test_resumed_spec_keeps_the_saved_options_and_takes_the_resumable_fields(
        tmp_path, tiny_dataset_dir):
    s = spec(tiny_dataset_dir, epochs=2)
    ds = load_dataset(s.data)
    run = str(tmp_path / "run")
    train_run(s, ds, run, device="cpu", echo=lambda m: None)
    fresh = spec(tiny_dataset_dir, epochs=5)  # a driver's spec, built afresh later ...
    fresh.trainer["batch_size"] = 32  # ... after a default changed
    with pytest.raises(GnnrecError, match="cannot change trainer.batch_size"):
        resume_point(run, fresh, ds, "cpu", echo=lambda m: None)
    going_on = resumed_spec(run, fresh)
    assert going_on.trainer["batch_size"] == s.trainer["batch_size"]  # its own
    assert going_on.trainer["epochs"] == 5  # resumable: the driver's
    assert resume_point(run, going_on, ds, "cpu", echo=lambda m: None)["epoch"] == 2


def test_a_run_says_which_pool_size_it_derived(tmp_path, tiny_dataset_dir):
    s = spec(tiny_dataset_dir, epochs=1)
    s.sampler = Component("dns")  # its pool derived from this dense data
    lines = []
    train_run(s.validate(), load_dataset(s.data), str(tmp_path / "run"), device="cpu",
              echo=lines.append)
    notes = [line for line in lines if line.startswith("note: dns:")]
    assert len(notes) == 1 and "candidates, not 16" in notes[0]


def test_min_delta_reaches_the_run_s_early_stopping(tmp_path, tiny_dataset_dir):
    # no validation gain can exceed 1.0 Recall: epoch 1 stays the best, and patience 2
    # stops the run at epoch 3, where without min_delta it would train on
    s = spec(tiny_dataset_dir, epochs=8, patience=2, min_delta=1.0)
    run = str(tmp_path / "run")
    out = train_run(s, load_dataset(s.data), run, device="cpu", echo=lambda m: None)
    with open(os.path.join(run, "log.jsonl")) as f:
        epochs = [json.loads(line)["epoch"] for line in f if '"epoch"' in line]
    assert out["best_epoch"] == 1 and max(epochs) == 3
