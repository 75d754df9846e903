"""A training run's lifecycle in its folder: open the folder, restore or
start, train, then commit (results) or abort.

This is what ``gnnrec train`` does, callable from Python
(:func:`train_run`). Each step is one function below, tested on its own
(``tests/test_run_lifecycle.py``); the order the epoch's callbacks run in,
on which the safety guarantees rest, is stated once, in :func:`callbacks`.
"""
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from gnnrec.checkpoint import read_checkpoint
from gnnrec.data.dataset import RecDataset
from gnnrec.data.graph import RecGraph
from gnnrec.errors import GnnrecError, WriteFailed, option_error
from gnnrec.metrics.protocol import split_sets
from gnnrec.outputs import RunFolderWriter, atomic_write_json
from gnnrec.spec import RunSpec
from gnnrec.distributed import StopTogether, distribute
from gnnrec.train.trainer import Callback
from gnnrec.train.callbacks import (Checkpoint, Console, EarlyStopping, EasyNegatives, Evaluate,
                                    JsonLines, NonFiniteLoss, ProgressBar)

#: spec entries a resumed run may change (``section.key``)
RESUMABLE = ("trainer.epochs", "trainer.lr", "evaluation.patience", "evaluation.min_delta")


def resolve_device(name: str) -> torch.device:
    r"""``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when available)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise option_error("device", f"{name!r} is not a device (cpu, cuda, cuda:N or "
                                     "auto)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise option_error("device", "cuda: no CUDA device is available here (use cpu or auto)")
    if dev.type not in ("cpu", "cuda"):
        raise option_error("device", f"{name!r}: use cpu, cuda, cuda:N or auto")
    return dev


def _flat(d: Dict, prefix: str = "") -> Dict[str, object]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("options",):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class RunWriteFailed(WriteFailed):
    r"""A run's folder could not be written mid-run; ``last.pt`` holds
    epoch :attr:`epoch` intact, so the run resumes once the cause is gone."""

    def __init__(self, message: str, path: str, run_dir: str, epoch: int):
        super().__init__(message, path)
        self.run_dir, self.epoch = run_dir, epoch


def spec_changes(saved: RunSpec, given: RunSpec) -> List[str]:
    r"""The ``section.key`` entries where two validated specs differ."""
    a, b = _flat(saved.to_dict()), _flat(given.to_dict())
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def refused_changes(saved: RunSpec, given: RunSpec,
                    resumable: Iterable[str] = RESUMABLE) -> List[str]:
    r"""The changes from ``saved`` to ``given`` that a resumed run may not
    make: any outside ``resumable``, except the data path (a moved data
    folder; the checkpoint's data fingerprint is checked instead)."""
    return [k for k in spec_changes(saved, given) if k not in resumable and k != "data.path"]


class _Commit(Callback):
    """Swaps a staged run into place once its first epoch is on disk."""

    def __init__(self, folder: RunFolderWriter):
        self.folder = folder

    def on_epoch_end(self, trainer, epoch, logs):
        self.folder.commit()


class _LastIsBest(Callback):
    """Without validation every epoch is the best so far (best.pt follows last.pt)."""

    def on_epoch_end(self, trainer, epoch, logs):
        logs["is_best"] = True
        logs["best_epoch"] = epoch


def train_run(spec: RunSpec, dataset: RecDataset, run_dir, device: str = "auto",
              resume: bool = False, overwrite: bool = False, progress: bool = False,
              echo: Callable[[str], None] = print,
              resumable: Iterable[str] = RESUMABLE, test: bool = True,
              callbacks: Sequence[Callback] = (), dist=None,
              also_evaluate: Sequence[str] = ()) -> Optional[Dict]:
    r"""Trains, selects the best epoch on validation, tests it.

    Args:
        spec (RunSpec): the run (validated here).
        dataset (RecDataset): the split data ``spec.data`` describes.
        run_dir (str or RunFolderWriter): where ``config.json``, ``last.pt``,
            ``best.pt``, ``log.jsonl`` and ``results.json`` go (see
            :class:`~gnnrec.outputs.RunFolderWriter` for what is refused and
            how ``overwrite`` swaps a new run in); a path is opened (and
            locked) here.
        device (str): ``auto``, ``cpu`` or ``cuda``.
        resume (bool): continue ``run_dir/last.pt``; ``spec`` may differ
            from the saved one only in ``resumable`` entries (changes are
            noted in the log).
        overwrite (bool): start afresh even if ``run_dir`` holds a run.
        test (bool): evaluate the best epoch on the test splits at the end
            (a tuner's trials do not: selection never sees test).
        callbacks (sequence of Callback): more hooks, called after the
            epoch is on disk (e.g. a tuner's pruning).
        also_evaluate (sequence of str): more splits (e.g. ``"test"``)
            evaluated whenever validation is and written to ``log.jsonl``
            beside it: a benchmark's curve, never read for selection.
        dist (DistContext, optional): this process's rank in a data-parallel
            job (:mod:`gnnrec.distributed`): every rank trains its shard;
            rank 0 alone evaluates, logs and writes, and returns the results
            (the others ``None``).

    Returns:
        dict of results: the best epoch and its validation metric
        (``best_val``), and with ``test`` the test metrics of the best epoch,
        the MostPop baseline and the popularity groups.
    """
    spec.validate()
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    if dist is not None and spec.trainer["batch_size"] < dist.world:
        raise GnnrecError(f"a batch of {spec.trainer['batch_size']} leaves some of the "
                          f"{dist.world} processes no rows; raise --batch-size")
    main = dist is None or dist.main
    own = main and not isinstance(run_dir, RunFolderWriter)
    folder = RunFolderWriter(run_dir, resume=resume, overwrite=overwrite) if own else run_dir
    try:
        run_path = getattr(folder, "final", folder)
        ckpt = resume_point(run_path, spec, dataset, dev, resumable, echo) if resume else None
        objective, graph, protocol = build(spec, dataset, dev)
        if not main:  # another rank: train its shard, follow rank 0's stop
            trainer = spec.trainer_for(objective, graph, [NonFiniteLoss(), StopTogether()])
            start(trainer, ckpt, spec, None, dist)
            trainer.fit()
            return None
        advice = objective.advice(graph, spec.trainer["batch_size"])
        for line in advice:
            echo(f"note: {line}")
        folder.begin()
        # the data's notes and what the run derived from it (gnnrec show prints both)
        spec.write(os.path.join(folder.path, "config.json"), notes=dataset.notes + advice)
        hooks, checkpoint = callbacks_for(spec, protocol, folder, objective, dataset, echo,
                                          progress, callbacks, also_evaluate, dist)
        trainer = spec.trainer_for(objective, graph, hooks)
        start(trainer, ckpt, spec, checkpoint, dist, echo, run_path)
        fit(trainer, folder, resumed=ckpt is not None)
        return finish(trainer, checkpoint, protocol, spec, run_path, test, dev)
    finally:
        if own:
            folder.close()


def resumed_spec(run_dir: str, spec: RunSpec,
                 resumable: Iterable[str] = RESUMABLE) -> RunSpec:
    r"""The spec under which ``run_dir`` goes on: the one it saved
    (``config.json``), with ``spec``'s values of the ``resumable`` fields and
    its data path, so that a driver that builds its specs afresh (a
    benchmark) resumes a run whose defaults changed since it started (an
    option now derived from the data, saved by value) instead of having the
    change refused by :func:`resume_point`."""
    saved = RunSpec.from_file(os.path.join(run_dir, "config.json"))
    sections: Dict[str, Dict] = {}
    for key in resumable:
        section, name = key.split(".", 1)
        sections.setdefault(section, {})[name] = getattr(spec, section)[name]
    return saved.override(trainer=sections.get("trainer"),
                          evaluation=sections.get("evaluation"),
                          data={"path": spec.data.path}).validate()


def resume_point(run_dir: str, spec: RunSpec, dataset: RecDataset, device,
                 resumable: Iterable[str] = RESUMABLE,
                 echo: Callable[[str], None] = print) -> Dict:
    r"""The checkpoint a resumed run continues from, refused (one line) when
    it is missing, not a training checkpoint, from an older format, made on
    other data, or made for a spec that differs from ``spec`` outside
    ``resumable`` (a moved data folder is fine when its fingerprint
    matches); allowed changes are noted."""
    last = os.path.join(run_dir, "last.pt")
    if not os.path.exists(last):
        raise GnnrecError(f"{run_dir}: nothing to resume (no last.pt)")
    ckpt = read_checkpoint(last, map_location=device)
    if "trainer" not in ckpt:
        raise GnnrecError(f"{last}: holds no trainer state (is it a best.pt?)")
    if ckpt.get("version", 1) < 2:
        raise GnnrecError(f"{last}: written by an earlier gnnrec (format 1) and cannot be "
                          "resumed; its best.pt still loads with gnnrec evaluate")
    if ckpt["fingerprint"] != dataset.fingerprint():
        raise GnnrecError(f"{last}: the run was trained on other data than this dataset")
    saved = RunSpec.from_dict(ckpt["spec"], where=last).validate()
    changed = spec_changes(saved, spec)
    refused = refused_changes(saved, spec, resumable)
    if refused:
        raise GnnrecError(f"{run_dir}: a resumed run keeps its spec; cannot change "
                          f"{', '.join(refused)} (may change: {', '.join(resumable)})")
    for key in changed:
        echo(f"note: resuming with {key} changed")
    return ckpt


def build(spec: RunSpec, dataset: RecDataset, device) -> Tuple:
    r"""``(objective, graph, protocol)`` of a run on ``device``; a user with
    every item as a positive is refused when the loss samples negatives."""
    protocol = spec.eval_protocol(split_sets(dataset, device))
    objective = spec.build(dataset.num_users, dataset.num_items, device,
                           users=dataset.users, items=dataset.items)
    graph = RecGraph.from_dataset(dataset, device)
    if objective.sampler is not None:
        _check_negatives_exist(graph, dataset)
    return objective, graph, protocol


def callbacks_for(spec, protocol, folder, objective, dataset, echo, progress=False,
                  extra: Sequence[Callback] = (), also_evaluate: Sequence[str] = (),
                  dist=None) -> Tuple[List[Callback], Checkpoint]:
    r"""The epoch's callbacks of the main process, **in the order that the
    run's guarantees rest on**:

    1. guards (the non-finite loss, easy negatives, progress);
    2. selection: validation, early stopping (or, without validation, every
       epoch is the best), then any further evaluated split;
    3. the record: the log line, *then* ``last.pt`` / ``best.pt`` (a kill
       between them leaves a log ahead of ``last.pt``, which a resume trims,
       never a checkpoint ahead of the log), *then* the swap of a staged
       ``--overwrite`` run into place (only once its first epoch is on disk);
    4. the console line, then ``extra`` (which may stop the run: the epoch is
       already safe), then the data-parallel stop.
    """
    ev = spec.evaluation
    hooks: List[Callback] = [NonFiniteLoss()]
    if objective.sampler is not None:
        hooks.append(EasyNegatives(echo))
    if progress:
        hooks.append(ProgressBar())
    keys = []
    if protocol.has("val"):
        hooks.append(Evaluate(protocol, "val", every=ev["eval_every"]))
        hooks.append(EarlyStopping(f"val/{ev['metric']}", patience=ev["patience"],
                                   min_delta=ev["min_delta"]))
        keys = [f"val/{ev['metric']}"] + [f"val/{m}@{ev['ks'][0]}" for m in ("recall", "ndcg")
                                          if f"{m}@{ev['ks'][0]}" != ev["metric"]]
    else:
        echo("no validation split: no model selection, best.pt is the last epoch")
        hooks.append(_LastIsBest())
    hooks += [Evaluate(protocol, fold, every=ev["eval_every"]) for fold in also_evaluate]
    checkpoint = Checkpoint(folder, {"spec": spec.to_dict(), "dataset_name": dataset.name})
    hooks += [JsonLines(lambda: os.path.join(folder.path, "log.jsonl"), echo), checkpoint,
              _Commit(folder), Console(echo, keys), *extra]
    if dist is not None:
        hooks.append(StopTogether())
    return hooks, checkpoint


def start(trainer, ckpt: Optional[Dict], spec: RunSpec, checkpoint: Optional[Checkpoint],
          dist=None, echo: Callable[[str], None] = print, run_dir: str = "") -> None:
    r"""Restores ``ckpt`` into the trainer (every rank alike; a changed
    learning rate applies from the next step) or, on the main process of a
    new run, writes ``last.pt`` at epoch 0 (an interruption in the first
    epoch leaves a run to resume); then joins the data-parallel job."""
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])
        for group in trainer.optimizer.param_groups:
            group["lr"] = spec.trainer["lr"]
        if checkpoint is not None:
            echo(f"resuming {run_dir} after epoch {trainer.epoch}")
    elif checkpoint is not None:
        checkpoint.write_start(trainer)
    if dist is not None:
        distribute(trainer, dist)


def fit(trainer, folder: RunFolderWriter, resumed: bool) -> None:
    r"""Trains, and on failure leaves the folder as the guarantees say: a
    staged ``--overwrite`` run that has no epoch yet is removed (the old run
    stays); a start that failed before its first epoch leaves nothing; a
    write refused by the machine names the last complete epoch."""
    try:
        trainer.fit()
    except KeyboardInterrupt:
        if folder.staged:
            folder.abort()
        raise
    except WriteFailed as e:
        if folder.staged:
            folder.abort()
            raise WriteFailed(f"{e}; nothing of the new run was kept and {folder.final} still "
                              "holds the previous run", e.path) from None
        done = max(trainer.epoch - 1, 0)  # the epoch whose writes failed is not on disk
        raise RunWriteFailed(f"{e}; the last complete epoch is {done}", e.path, folder.final,
                             done) from None
    except BaseException:
        if trainer.epoch == 0 and not resumed:
            folder.abort()
        raise


def finish(trainer, checkpoint: Checkpoint, protocol, spec: RunSpec, run_dir: str, test: bool,
           device) -> Dict:
    r"""The run's results, written to ``results.json``: the best epoch and
    its validation value, and with ``test`` the test report of ``best.pt``."""
    ev = spec.evaluation
    best = read_checkpoint(checkpoint.best, map_location=device)
    results = {"run_dir": run_dir, "epochs_run": trainer.epoch, "best_epoch": best["epoch"],
               "metric": ev["metric"], "best_val": best["logs"].get(f"val/{ev['metric']}")}
    if test:
        trainer.objective.model.load_state_dict(best["state"])
        results.update(protocol.report(trainer.objective.model))
    atomic_write_json(os.path.join(run_dir, "results.json"), results)
    return results


def _check_negatives_exist(graph, dataset) -> None:
    """A user with every item as a positive has no negative to sample."""
    full = (graph.user_degree >= graph.num_items).nonzero().flatten()
    if len(full):
        user = dataset.users[int(full[0])]
        raise GnnrecError(f"{len(full)} user(s) interacted with every item (first: user "
                          f"{_py(user)!r}), so no negative exists for them; drop them or use an "
                          "in-batch loss")


def _py(x):
    return x.item() if hasattr(x, "item") else x
