"""A whole training run in a folder: build from the spec, train with
validation, test the best epoch.

This is what ``gnnrec train`` does, callable from Python.
"""
import os
from dataclasses import replace
from typing import Callable, Dict, Iterable, List, Optional, Sequence

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
                                    JsonLines, NonFiniteLoss, ProgressBar, read_log)

#: spec entries a resumed run may change (``section.key``)
RESUMABLE = ("trainer.epochs", "trainer.lr", "evaluation.patience")


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
            how ``overwrite`` swaps a new run in).
        device (str): ``auto``, ``cpu`` or ``cuda``.
        resume (bool): continue ``run_dir/last.pt``; ``spec`` may differ
            from the saved one only in ``resumable`` entries (changes are
            noted in the log).
        overwrite (bool): start afresh even if ``run_dir`` holds a run.
        test (bool): evaluate the best epoch on the test splits at the end
            (a tuner's trials do not: selection never sees test).
        callbacks (sequence of Callback): more hooks, called after
            evaluation and early stopping (e.g. a tuner's pruning).
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
    main = dist is None or dist.main
    if dist is not None and spec.trainer["batch_size"] < dist.world:
        raise GnnrecError(f"a batch of {spec.trainer['batch_size']} leaves some of the "
                          f"{dist.world} processes no rows; raise --batch-size")
    if isinstance(run_dir, RunFolderWriter) or not main:
        return _train_run(spec, dataset, run_dir, dev, resume, progress, echo, resumable, test,
                          callbacks, dist, also_evaluate)
    folder = RunFolderWriter(run_dir, resume=resume, overwrite=overwrite)  # locked until done
    try:
        return _train_run(spec, dataset, folder, dev, resume, progress, echo, resumable, test,
                          callbacks, dist, also_evaluate)
    finally:
        folder.close()


def _train_run(spec, dataset, folder, dev, resume, progress, echo, resumable, test, callbacks,
               dist, also_evaluate):
    main = dist is None or dist.main
    run_dir = getattr(folder, "final", folder)
    last = os.path.join(run_dir, "last.pt")
    ckpt = None
    if resume:
        if not os.path.exists(last):
            raise GnnrecError(f"{run_dir}: nothing to resume (no last.pt)")
        ckpt = read_checkpoint(last, map_location=dev)
        if "trainer" not in ckpt:
            raise GnnrecError(f"{last}: holds no trainer state (is it a best.pt?)")
        if ckpt.get("version", 1) < 2:
            raise GnnrecError(f"{last}: written by an earlier gnnrec (format 1) and cannot be "
                              "resumed; its best.pt still loads with gnnrec evaluate")
        if ckpt["fingerprint"] != dataset.fingerprint():
            raise GnnrecError(f"{last}: the run was trained on other data than this dataset")
        saved = RunSpec.from_dict(ckpt["spec"], where=last).validate()
        changed = spec_changes(saved, spec)
        # the data may have moved (another machine, folder): its fingerprint matched above
        refused = [k for k in changed if k not in resumable and k != "data.path"]
        if refused:
            raise GnnrecError(f"{run_dir}: a resumed run keeps its spec; cannot change "
                              f"{', '.join(refused)} (may change: {', '.join(resumable)})")
        for key in changed:
            echo(f"note: resuming with {key} changed")

    protocol = spec.eval_protocol(split_sets(dataset, dev))
    objective = spec.build(dataset.num_users, dataset.num_items, dev,
                           users=dataset.users, items=dataset.items)
    graph = RecGraph.from_dataset(dataset, dev)
    if objective.sampler is not None:
        _check_negatives_exist(graph, dataset)

    ev = spec.evaluation
    if not main:  # another rank: train its shard, follow rank 0's stop
        trainer = spec.trainer_for(objective, graph, [NonFiniteLoss(), StopTogether()])
        if ckpt is not None:
            trainer.load_state_dict(ckpt["trainer"])
            for group in trainer.optimizer.param_groups:
                group["lr"] = spec.trainer["lr"]
        distribute(trainer, dist)
        trainer.fit()
        return None

    folder.begin()
    spec.write(os.path.join(folder.path, "config.json"), notes=dataset.notes)

    extra, callbacks = list(callbacks), [NonFiniteLoss()]
    if objective.sampler is not None:
        callbacks.append(EasyNegatives(echo))
    if progress:
        callbacks.append(ProgressBar())
    keys = []
    if protocol.has("val"):
        callbacks.append(Evaluate(protocol, "val", every=ev["eval_every"]))
        callbacks.append(EarlyStopping(f"val/{ev['metric']}", patience=ev["patience"]))
        keys = [f"val/{ev['metric']}"] + [f"val/{m}@{ev['ks'][0]}" for m in ("recall", "ndcg")
                                          if f"{m}@{ev['ks'][0]}" != ev["metric"]]
    else:
        echo("no validation split: no model selection, best.pt is the last epoch")
        callbacks.append(_LastIsBest())
    for fold in also_evaluate:
        callbacks.append(Evaluate(protocol, fold, every=ev["eval_every"]))
    checkpoint = Checkpoint(folder, {"spec": spec.to_dict(), "dataset_name": dataset.name})
    # the log line first: a kill between the two leaves a log ahead of last.pt, which a
    # resume trims, never a checkpoint ahead of the log
    callbacks += [JsonLines(lambda: os.path.join(folder.path, "log.jsonl"), echo), checkpoint,
                  _Commit(folder), Console(echo, keys)] + extra
    if dist is not None:
        callbacks.append(StopTogether())
    trainer = spec.trainer_for(objective, graph, callbacks)
    if ckpt is not None:
        trainer.load_state_dict(ckpt["trainer"])
        for group in trainer.optimizer.param_groups:  # a changed lr applies from here on
            group["lr"] = spec.trainer["lr"]
        echo(f"resuming {run_dir} after epoch {trainer.epoch}")
    else:
        checkpoint.write_start(trainer)
    if dist is not None:
        distribute(trainer, dist)

    try:
        trainer.fit()
    except KeyboardInterrupt:
        if folder.staged:  # the old run stays until the new one has an epoch
            folder.abort()
        raise
    except WriteFailed as e:
        if folder.staged:
            folder.abort()
            raise WriteFailed(f"{e}; nothing of the new run was kept and {run_dir} still "
                              "holds the previous run", e.path) from None
        done = max(trainer.epoch - 1, 0)  # the epoch whose writes failed is not on disk
        raise RunWriteFailed(f"{e}; the last complete epoch is {done}", e.path, run_dir,
                             done) from None
    except BaseException:
        if trainer.epoch == 0 and ckpt is None:  # a failed start leaves nothing behind
            folder.abort()
        raise

    best = read_checkpoint(checkpoint.best, map_location=dev)
    results = {"run_dir": run_dir, "epochs_run": trainer.epoch, "best_epoch": best["epoch"],
               "metric": ev["metric"], "best_val": best["logs"].get(f"val/{ev['metric']}")}
    if test:
        objective.model.load_state_dict(best["state"])
        results.update(protocol.report(objective.model))
    atomic_write_json(os.path.join(run_dir, "results.json"), results)
    return results


def refit_spec(spec: RunSpec, epochs: int) -> RunSpec:
    r"""The spec of a refit: the same model, options and seed, trained on the
    training *and* validation interactions (``data.refit``, the test split
    unchanged) for ``epochs`` epochs, the number model selection chose.
    Nothing is selected in a refit: its last epoch is the model tested."""
    out = spec.copy()
    out.data = replace(out.data, refit=True)
    out.trainer["epochs"] = int(epochs)
    return out.validate()


def refit_run(spec: RunSpec, dataset: RecDataset, run_dir: str, epochs: int,
              device: str = "auto", progress: bool = False,
              echo: Callable[[str], None] = print) -> Dict:
    r"""Retrains ``spec`` on the training *and* validation interactions for
    ``epochs`` epochs (:func:`refit_spec`) in ``run_dir`` and evaluates the
    test splits once, at the end: how a validation-selected result is made
    comparable to results that train on all the training data, without
    looking at test. A refit already in ``run_dir`` is continued (training
    is a function of the seed and the epoch, so a refit trained in pieces
    equals one trained at once); one that trained past ``epochs`` is
    replaced.

    Returns:
        the refit's results (:func:`train_run`), with ``epochs``.
    """
    rspec = refit_spec(spec, epochs)
    log, _ = read_log(os.path.join(run_dir, "log.jsonl"))
    done = max((r.get("epoch", 0) for r in log), default=0)
    resume = os.path.exists(os.path.join(run_dir, "last.pt"))
    if resume and done > epochs:
        echo(f"note: {run_dir} trained {done} epochs, more than the {epochs} chosen; "
             "refitting afresh")
        resume = False
    results = train_run(rspec, dataset.with_validation_in_train(), run_dir, device=device,
                        resume=resume, overwrite=not resume and os.path.isdir(run_dir),
                        progress=progress, echo=echo)
    results["epochs"] = int(epochs)
    return results


def train_and_refit(spec: RunSpec, dataset: RecDataset, run_dir, device="auto",
                    resume: bool = False, overwrite: bool = False, progress: bool = False,
                    echo: Callable[[str], None] = print) -> Dict:
    r"""Selects the epoch on validation without testing (:func:`train_run`
    with ``test=False``), then refits on train + validation for that many
    epochs in ``<run_dir>/refit`` (:func:`refit_run`) and tests that model
    once. The run's ``results.json`` holds the selection and, under
    ``refit``, the refit's test metrics.
    """
    if not (spec.data.val_frac > 0 or dataset.has("val")):
        raise GnnrecError("--refit retrains for the epoch chosen on validation, and this "
                          "dataset has no validation split (set --val-frac > 0)")
    own = not isinstance(run_dir, RunFolderWriter)
    folder = RunFolderWriter(run_dir, resume=resume, overwrite=overwrite) if own else run_dir
    try:  # the run folder stays locked through the refit inside it
        results = train_run(spec, dataset, folder, device=device, resume=resume,
                            progress=progress, echo=echo, test=False)
        final = results["run_dir"]
        epochs = results["best_epoch"]
        echo(f"refit: training on train + validation for {epochs} epochs (the epoch chosen on "
             "validation), then testing once")
        refit = refit_run(spec, dataset, os.path.join(final, "refit"), epochs, device=device,
                          progress=progress, echo=echo)
        results["refit"] = {k: v for k, v in refit.items() if k not in ("best_val", "metric")}
        atomic_write_json(os.path.join(final, "results.json"), results)
        return results
    finally:
        if own:
            folder.close()


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
