"""Hyper-parameter search on the validation split, on Optuna.

Each trial is an ordinary run folder (``trial-0003/``) trained from the base
spec with the trial's values; its score is the best validation value of the
spec's metric, and a trial whose validation curve falls below the median of
earlier trials at the same epoch is pruned. The study lives in an SQLite
file in the output folder, so an interrupted search resumes where it was:
finished trials are kept, and the interrupted one goes on from its last
complete epoch in its own folder.
Test metrics are computed once, for the chosen configuration, after the
search: selection never sees the test set.
"""
import json
import math
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from gnnrec.errors import GnnrecError, option_error
from gnnrec.lock import OutputLock
from gnnrec.registry import option_names
from gnnrec.run import refused_changes, train_run
from gnnrec.spec import REGISTRIES, SECTIONS, SKIP, RunSpec
from gnnrec.train.trainer import Callback, TrainingStopped

SEARCHES = ("tpe", "grid", "random")
STUDY = "gnnrec"


@contextmanager
def study_write():
    r"""Holds Ctrl-C back until the block's study reads and writes are done,
    then delivers it. Optuna reports a ``KeyboardInterrupt`` raised inside an
    SQLite commit as a storage error (``StorageInternalError``), and one
    raised while SQLAlchemy cleans up its objects is swallowed, so the study
    would read as broken or the search would not stop; training itself stays
    interruptible at once. A no-op off the main thread, where no signal
    handler runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:  # delivered as if it came now, under the handler that was in place
            signal.raise_signal(signal.SIGINT)


@dataclass
class Dimension:
    r"""One searched option: ``NAME.KEY`` and its values, a range
    (``low``, ``high``, optionally ``log``) or a list (``choices``)."""
    path: str
    low: Optional[float] = None
    high: Optional[float] = None
    log: bool = False
    integer: bool = False
    choices: Optional[List[Any]] = None

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.path, self.choices)
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, log=self.log)

    def describe(self) -> Dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False) or k == "path"}


def _number(text: str, path: str):
    try:
        value = float(text)
    except ValueError:
        raise option_error("space", f"{path}: bound {text!r} is not a number") from None
    if not math.isfinite(value):
        raise option_error("space", f"{path}: bound {text!r} is not finite")
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def _choice(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def parse_space(pairs: Sequence[str], spec: RunSpec) -> List[Dimension]:
    r"""``NAME.KEY=LOW:HIGH[:log]`` (a range; integer when both bounds
    are) or ``NAME.KEY=A,B,C`` (values) for the validated ``spec``: ``NAME``
    is its model, sampler or loss, or ``trainer`` / ``objective``;
    ``KEY`` an option that component takes. Errors name the entry."""
    names = {}
    for role, registry in REGISTRIES.items():
        comp = spec.component(role)
        if comp is not None:
            names[comp.name] = option_names(registry[comp.name], SKIP[role])
    for section, (cls, skip) in SECTIONS.items():
        names[section] = option_names(cls, skip)
    dims, seen = [], set()
    for pair in pairs:
        path, sep, values = pair.partition("=")
        name, dot, key = path.strip().partition(".")
        if not sep or not dot or not key:
            raise option_error("space", f"{pair!r}: expected NAME.KEY=LOW:HIGH or NAME.KEY=A,B")
        if name not in names:
            raise option_error("space", f"{path}: {name} is not this run's model, sampler, loss, "
                                        f"trainer or objective (those are {', '.join(names)})")
        if key not in names[name]:
            raise option_error("space", f"{path}: {name} has no option {key!r} (it has "
                                        f"{', '.join(names[name]) or 'none'})")
        if path in seen:
            raise option_error("space", f"{path}: given twice")
        seen.add(path)
        if "," in values or ":" not in values:
            choices = [_choice(v.strip()) for v in values.split(",") if v.strip()]
            if not choices:
                raise option_error("space", f"{path}: no values")
            dims.append(Dimension(path, choices=choices))
            continue
        parts = values.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "log"):
            raise option_error("space", f"{path}: expected LOW:HIGH or LOW:HIGH:log")
        low, high = _number(parts[0], path), _number(parts[1], path)
        if not low < high:
            raise option_error("space", f"{path}: empty range {low}:{high}")
        log = len(parts) == 3
        if log and low <= 0:
            raise option_error("space", f"{path}: a log range needs LOW > 0")
        dims.append(Dimension(path, low, high, log, isinstance(low, int) and isinstance(high, int)))
    if not dims:
        raise option_error("space", "give at least one NAME.KEY=...")
    for d in dims:  # every value the search may try is a valid option value
        for value in d.choices if d.choices is not None else (d.low, d.high):
            try:
                apply(spec, {d.path: value})
            except GnnrecError as e:
                raise option_error("space", f"{d.path}={value}: {e}") from None
    return dims


def apply(spec: RunSpec, values: Dict[str, Any]) -> RunSpec:
    """A validated copy of ``spec`` with ``{NAME.KEY: value}`` set."""
    out = spec.copy()
    for path, value in values.items():
        out.set_option(path, value)
    return out.validate()


class Prune(Callback):
    r"""Reports each evaluated validation value to the trial and stops the
    run when Optuna's pruner says it is behind. A resumed trial first reports
    the values its folder's log holds up to the epoch it resumes after, so
    the pruner judges it on its whole curve."""

    def __init__(self, trial, key: str, log: Optional[str] = None):
        self.trial, self.key, self.log = trial, key, log

    def on_fit_start(self, trainer):
        if not trainer.epoch or self.log is None or not os.path.exists(self.log):
            return
        from gnnrec.train.callbacks import read_log

        rows, _ = read_log(self.log)
        with study_write():
            for row in rows:
                if row.get("epoch", 0) <= trainer.epoch and self.key in row \
                        and not math.isnan(row[self.key]):
                    self.trial.report(row[self.key], row["epoch"])

    def on_epoch_end(self, trainer, epoch, logs):
        import optuna

        if self.key in logs and not math.isnan(logs[self.key]):
            with study_write():
                self.trial.report(logs[self.key], epoch)
                pruned = self.trial.should_prune()
            if pruned:
                logs["pruned"] = True
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")


def _grid_class():
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid, without stopping the study when the grid is done:
        the ask/tell driver (:func:`run_trials`) counts the grid itself."""

        def after_trial(self, study, trial, state, values):
            pass

    return Grid


def _Grid(*args, **kwargs):
    return _grid_class()(*args, **kwargs)


def search_sampler(search: str, dims: List[Dimension], seed: int):
    import optuna

    if search == "grid":
        bad = [d.path for d in dims if d.choices is None]
        if bad:
            raise option_error("space", f"grid search needs listed values (A,B,C), not a range: "
                                        f"{', '.join(bad)}")
        return _Grid({d.path: d.choices for d in dims}, seed=seed)
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _fingerprint(spec: RunSpec, dims: List[Dimension], dataset) -> Dict:
    return {"dataset": dataset.fingerprint(), "spec": json.dumps(spec.to_dict(), sort_keys=True),
            "space": json.dumps([d.describe() for d in dims], sort_keys=True)}


def tune(spec: RunSpec, dims: List[Dimension], dataset, out: str, trials: int,
         search: str = "tpe", prune: bool = True, device: str = "auto", seed: int = 0,
         echo: Callable[[str], None] = print, progress: bool = False,
         prune_warmup: Optional[int] = None, refit: bool = False,
         locked: bool = False) -> Dict:
    r"""Searches ``dims`` around ``spec`` for ``trials`` finished trials
    (completed, pruned, or failed because training diverged; interrupted
    ones are run again), then tests the best configuration once.

    Args:
        prune_warmup (int, optional): epochs before a trial may be pruned;
            ``None`` is a quarter of the spec's epochs.
        refit (bool): test the winner after retraining it on train +
            validation for its best epoch (``out/refit``,
            :func:`~gnnrec.run.refit_run`) instead of its trial's model.
        locked (bool): the caller holds ``out``'s lock
            (:class:`~gnnrec.lock.OutputLock`); otherwise it is taken here.

    Returns:
        ``{"best": {...values}, "best_trial", "best_val", "metric", "spec",
        "curve", "test": report, "trials": [...], "failed": [...]}``, also
        written to ``out/results.json``; the winning spec is ``out/best.json``.
    """
    check_tune(spec, dims, dataset, trials, search, seed)
    lock = None
    if not locked:
        os.makedirs(out, exist_ok=True)
        lock = OutputLock.for_folder(out).acquire()
    try:
        with study_write():
            study = open_study(spec, dims, dataset, out, search, seed, prune, prune_warmup,
                               echo)
            done = sum(_counts(t) for t in study.trials)
        budget = trials if search != "grid" else min(trials, grid_size(dims))
        if done:
            echo(f"resuming {out}: {done} of {trials} trials finished")
        run_trials(study, spec, dims, dataset, out, budget, prune, device, progress, echo)
        with study_write():
            best = best_trial(study)
        return _report(spec, dims, dataset, out, study, best, spec.evaluation["metric"],
                       device, echo, refit)
    finally:
        if lock is not None:
            lock.release()


def check_tune(spec: RunSpec, dims: List[Dimension], dataset, trials: int, search: str,
               seed: int = 0) -> None:
    r"""Everything a search can be refused for, before anything is written."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise option_error("trials", f"must be an integer >= 1, got {trials!r}")
    if search not in SEARCHES:
        raise option_error("search", f"{search!r} is unknown; choose from {', '.join(SEARCHES)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 32:
        raise option_error("search_seed", f"must be an integer in [0, 2**32), got {seed!r}")
    spec.validate()
    if dataset is not None and not spec.data.val_frac > 0 and not dataset.has("val"):
        raise GnnrecError("tuning selects on a validation split, and this dataset has none "
                          "(set --val-frac > 0)")
    search_sampler(search, dims, seed)  # the space fits the search


def grid_size(dims: List[Dimension]) -> int:
    size = 1
    for d in dims:
        size *= len(d.choices)
    return size


def open_study(spec, dims, dataset, out, search, seed, prune, prune_warmup, echo):
    r"""The study in ``out/study.db``, made for this spec, data and space.
    One made for others is refused, unless none of its trials completed or
    was pruned (a start that failed, a space that only diverged): that one
    is replaced. Trials left running by a
    killed process are marked failed and queued again."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{os.path.abspath(os.path.join(out, 'study.db'))}"
    pruner = (optuna.pruners.MedianPruner(
        n_startup_trials=3,
        n_warmup_steps=spec.trainer["epochs"] // 4 if prune_warmup is None else prune_warmup)
        if prune else optuna.pruners.NopPruner())

    def create():
        return optuna.create_study(study_name=STUDY, storage=storage, direction="maximize",
                                   load_if_exists=True, pruner=pruner)

    study, marks = create(), _fingerprint(spec, dims, dataset)
    for key, label in (("dataset", "dataset"), ("spec", "model, sampler, loss or options"),
                       ("space", "search space")):
        if study.user_attrs and study.user_attrs.get(key) != marks[key]:
            if any(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials):
                raise GnnrecError(f"{out}: this study was made for another {label}; use "
                                  "another --out or the same options")
            echo(f"note: {out}: replacing a study none of whose trials completed")
            optuna.delete_study(study_name=STUDY, storage=storage)
            study = create()
            break
    for key, value in marks.items():
        study.set_user_attr(key, value)
    _requeue(study)
    # seeded by how far the study got, so a resumed search draws new points, not its first ones
    study.sampler = search_sampler(search, dims, seed + len(study.trials))
    return study


def _counts(t) -> bool:
    """A trial that used up one of the budget's trials: completed, pruned, or
    failed for a reason of its own (diverged), not interrupted."""
    from optuna.trial import TrialState as S

    return t.state in (S.COMPLETE, S.PRUNED) or (t.state == S.FAIL and "failed" in t.user_attrs)


def _requeue(study) -> None:
    from optuna.trial import TrialState as S

    for t in study.trials:  # left running by a killed process: it did not finish
        if t.state == S.RUNNING:
            study.tell(t.number, state=S.FAIL)
    requeued = set(study.user_attrs.get("requeued", []))
    for t in study.get_trials(deepcopy=False):  # interrupted: run those values again
        if t.state == S.FAIL and "failed" not in t.user_attrs and t.number not in requeued \
                and t.params:
            # from where its folder got to (run_trials checks that it can resume)
            run_dir = t.user_attrs.get("run_dir")
            study.enqueue_trial(t.params, user_attrs={"resume_dir": run_dir} if run_dir else None)
            requeued.add(t.number)
    study.set_user_attr("requeued", sorted(requeued))


def run_trials(study, spec, dims, dataset, out, budget, prune, device, progress, echo):
    r"""Asks for trials until ``budget`` of them count (:func:`_counts`).
    A trial whose training diverges is recorded as failed, with why, and the
    search goes on; Ctrl-C marks the trial interrupted (run again on resume)."""
    from optuna import TrialPruned
    from optuna.trial import TrialState as S

    key = f"val/{spec.evaluation['metric']}"

    def tell(trial, value=None, state=None, failed=None):
        with study_write():
            if failed is not None:
                trial.set_user_attr("failed", failed)
            study.tell(trial, value, state=state)

    while True:
        with study_write():
            if sum(_counts(t) for t in study.get_trials(deepcopy=False)) >= budget:
                return
            trial = study.ask()
            values = {d.path: d.suggest(trial) for d in dims}
            trial_spec = apply(spec, values)
            run_dir = trial.user_attrs.get("resume_dir")
            resume = resumable_trial(run_dir, trial_spec)
            if not resume:
                run_dir = os.path.join(out, f"trial-{trial.number:04d}")
            trial.set_user_attr("run_dir", run_dir)
        shown = "  ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        if resume:
            echo(f"trial {trial.number}: {shown}  resuming the interrupted {run_dir}")
        try:
            res = train_run(trial_spec, dataset, run_dir, device=device, resume=resume,
                            overwrite=not resume, progress=progress, echo=lambda m: None,
                            test=False,
                            callbacks=[Prune(trial, key, os.path.join(run_dir, "log.jsonl"))]
                            if prune else [])
        except TrialPruned as e:
            echo(f"trial {trial.number}: {shown}  {e}")
            tell(trial, state=S.PRUNED)
            continue
        except TrainingStopped as e:
            echo(f"trial {trial.number}: {shown}  failed: {e}")
            tell(trial, state=S.FAIL, failed=str(e))
            continue
        except BaseException:
            tell(trial, state=S.FAIL)  # interrupted: queued again on resume
            raise
        value = res["best_val"]
        if value is None or math.isnan(value):
            tell(trial, state=S.FAIL, failed=f"no validation value of {key}")
            continue
        echo(f"trial {trial.number}: {shown}  {key} {value:.4f} (epoch {res['best_epoch']})")
        tell(trial, value)


def resumable_trial(run_dir: Optional[str], spec: RunSpec) -> bool:
    r"""Whether an interrupted trial's folder ``run_dir`` holds a run of
    this ``spec`` to go on from (``last.pt``, written from epoch 0 on; none
    if the trial was stopped before its run started, and then it starts
    afresh in a folder of its own)."""
    if not run_dir or not os.path.exists(os.path.join(run_dir, "last.pt")):
        return False
    try:
        saved = RunSpec.from_file(os.path.join(run_dir, "config.json")).validate()
    except (OSError, ValueError, GnnrecError):
        return False
    return not refused_changes(saved, spec, resumable=())  # its values: nothing may change


def best_trial(study):
    from optuna.trial import TrialState as S

    if not any(t.state == S.COMPLETE for t in study.trials):
        failed = [f"trial {t.number}: {t.user_attrs['failed']}" for t in study.trials
                  if "failed" in t.user_attrs]
        raise GnnrecError("no trial completed" + (f" ({'; '.join(failed[:3])})" if failed
                                                  else "") + "; widen or move the space")
    return study.best_trial


def _report(spec, dims, dataset, out, study, best, metric, device, echo, refit=False) -> Dict:
    r"""The winner: its spec (``best.json``), validation curve, and test
    metrics of that one configuration."""
    from gnnrec.metrics.protocol import EvalProtocol
    from gnnrec.model import RecModel
    from gnnrec.run import resolve_device
    from gnnrec.train.callbacks import read_log

    winner = apply(spec, best.params)
    winner.write(os.path.join(out, "best.json"))
    run_dir = best.user_attrs["run_dir"]
    log, _ = read_log(os.path.join(run_dir, "log.jsonl"))
    curve = [(r["epoch"], r[f"val/{metric}"]) for r in log if f"val/{metric}" in r]
    dev = resolve_device(device)
    model = RecModel.load(os.path.join(run_dir, "best.pt"), map_location=dev)
    protocol = EvalProtocol.from_dataset(dataset, dev, ks=winner.evaluation["ks"],
                                         metric=metric)
    refit_info = None
    if refit:  # the winner retrained on train + validation; its test is the only one read
        from gnnrec.refit import refit_run

        epochs = model.meta.get("epoch")
        echo(f"refit: the winner on train + validation for {epochs} epochs")
        res = refit_run(winner, dataset, os.path.join(out, "refit"), epochs, device=device,
                        echo=lambda m: None)
        test = {k: res[k] for k in res if k.startswith(("test", "mostpop", "sampled"))
                or k in ("ks",)}
        refit_info = {"epochs": epochs, "run_dir": res["run_dir"]}
    else:
        test = protocol.report(model)  # the only test evaluation of the whole search
    with study_write():
        every = study.trials
    trials = [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
               "run_dir": t.user_attrs.get("run_dir"), "failed": t.user_attrs.get("failed")}
              for t in every]
    results = {"metric": metric, "best": best.params, "best_trial": best.number,
               "best_val": best.value, "best_epoch": model.meta.get("epoch"),
               "spec": winner.to_dict(), "curve": curve, "test": test, "trials": trials,
               "refit": refit_info,
               "finished": sum(_counts(t) for t in every),
               "failed": [{"number": t["number"], "params": t["params"], "why": t["failed"]}
                          for t in trials if t["failed"]]}
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    return results


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def format_tune(results: Dict) -> str:
    """The winner, its validation curve and its test metrics, as text."""
    from gnnrec.metrics.protocol import format_report

    metric = results["metric"]
    lines = [f"best of {results['finished']} trials: trial {results['best_trial']}, "
             f"val {metric} {results['best_val']:.4f} at epoch {results['best_epoch']}",
             "  " + "  ".join(f"{k}={_fmt(v)}" for k, v in results["best"].items()),
             f"validation curve ({metric}): "
             + "  ".join(f"{e}:{v:.4f}" for e, v in results["curve"])]
    for f in results.get("failed", []):
        lines.append(f"  failed: trial {f['number']} ("
                     + "  ".join(f"{k}={_fmt(v)}" for k, v in f["params"].items())
                     + f"): {f['why']}")
    refit = results.get("refit")
    lines.append(format_report(results["test"], " (the chosen configuration only"
                               + (f", REFIT on train + validation for {refit['epochs']} epochs)"
                                  if refit else ")")))
    return "\n".join(lines)
