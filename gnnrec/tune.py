"""Hyper-parameter search on the validation split, on Optuna.

Each trial is an ordinary run folder (``trial-0003/``) trained from the base
spec with the trial's values; its score is the best validation value of the
spec's metric, and a trial whose validation curve falls below the median of
earlier trials at the same epoch is pruned. The study lives in an SQLite
file in the output folder, so an interrupted search resumes where it was.
Test metrics are computed once, for the chosen configuration, after the
search: selection never sees the test set.
"""
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from gnnrec.errors import GnnrecError, option_error
from gnnrec.registry import option_names
from gnnrec.run import train_run
from gnnrec.spec import REGISTRIES, SECTIONS, SKIP, RunSpec
from gnnrec.train.trainer import Callback

SEARCHES = ("tpe", "grid", "random")
STUDY = "gnnrec"


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
    run when Optuna's pruner says it is behind."""

    def __init__(self, trial, key: str):
        self.trial, self.key = trial, key

    def on_epoch_end(self, trainer, epoch, logs):
        import optuna

        if self.key in logs and not math.isnan(logs[self.key]):
            self.trial.report(logs[self.key], epoch)
            if self.trial.should_prune():
                logs["pruned"] = True
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")


def search_sampler(search: str, dims: List[Dimension], seed: int):
    import optuna

    if search == "grid":
        bad = [d.path for d in dims if d.choices is None]
        if bad:
            raise option_error("space", f"grid search needs listed values (A,B,C), not a range: "
                                        f"{', '.join(bad)}")
        return optuna.samplers.GridSampler({d.path: d.choices for d in dims}, seed=seed)
    if search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def _fingerprint(spec: RunSpec, dims: List[Dimension], dataset) -> Dict:
    return {"dataset": dataset.fingerprint(), "spec": json.dumps(spec.to_dict(), sort_keys=True),
            "space": json.dumps([d.describe() for d in dims], sort_keys=True)}


def tune(spec: RunSpec, dims: List[Dimension], dataset, out: str, trials: int,
         search: str = "tpe", prune: bool = True, device: str = "auto", seed: int = 0,
         echo: Callable[[str], None] = print, progress: bool = False,
         prune_warmup: Optional[int] = None, refit: bool = False) -> Dict:
    r"""Searches ``dims`` around ``spec`` for ``trials`` finished trials
    (completed or pruned; interrupted ones are run again), then tests the
    best configuration once.

    Args:
        prune_warmup (int, optional): epochs before a trial may be pruned;
            ``None`` is a quarter of the spec's epochs.
        refit (bool): test the winner after retraining it on train +
            validation for its best epoch (``out/refit``,
            :func:`~gnnrec.run.refit_run`) instead of its trial's model.

    Returns:
        ``{"best": {...values}, "best_trial", "best_val", "metric", "spec",
        "curve", "test": report, "trials": [...]}``, also written to
        ``out/results.json``; the winning spec is ``out/best.json``.
    """
    import optuna

    if trials < 1:
        raise option_error("trials", f"must be >= 1, got {trials}")
    if search not in SEARCHES:
        raise option_error("search", f"{search!r} is unknown; choose from {', '.join(SEARCHES)}")
    spec.validate()
    if not spec.data.val_frac > 0 and not dataset.has("val"):
        raise GnnrecError("tuning selects on a validation split, and this dataset has none "
                          "(set --val-frac > 0)")
    search_sampler(search, dims, seed)  # the space fits the search, before anything is written
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.makedirs(out, exist_ok=True)
    storage = f"sqlite:///{os.path.abspath(os.path.join(out, 'study.db'))}"
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize",
                                load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(
                                    n_startup_trials=3,
                                    n_warmup_steps=spec.trainer["epochs"] // 4
                                    if prune_warmup is None else prune_warmup)
                                if prune else optuna.pruners.NopPruner())
    marks = _fingerprint(spec, dims, dataset)
    if study.user_attrs:
        for key, label in (("dataset", "dataset"), ("spec", "model, sampler, loss or options"),
                           ("space", "search space")):
            if study.user_attrs.get(key) != marks[key]:
                raise GnnrecError(f"{out}: this study was made for another {label}; use "
                                  "another --out or the same options")
    else:
        for key, value in marks.items():
            study.set_user_attr(key, value)
    State = optuna.trial.TrialState
    finished = (State.COMPLETE, State.PRUNED)
    for t in study.trials:  # left running by a killed process: it did not finish
        if t.state == State.RUNNING:
            study.tell(t.number, state=State.FAIL)
    states = [t for t in study.trials if t.state in finished]
    requeued = set(study.user_attrs.get("requeued", []))
    for t in study.trials:  # interrupted or failed: run those values again
        if t.state == State.FAIL and t.number not in requeued and t.params:
            study.enqueue_trial(t.params)
            requeued.add(t.number)
    study.set_user_attr("requeued", sorted(requeued))
    # seeded by how far the study got, so a resumed search draws new points, not its first ones
    study.sampler = search_sampler(search, dims, seed + len(study.trials))
    metric = spec.evaluation["metric"]
    key = f"val/{metric}"
    if states:
        echo(f"resuming {out}: {len(states)} of {trials} trials finished")

    def objective(trial):
        values = {d.path: d.suggest(trial) for d in dims}
        trial_spec = apply(spec, values)
        run_dir = os.path.join(out, f"trial-{trial.number:04d}")
        trial.set_user_attr("run_dir", run_dir)
        shown = "  ".join(f"{k}={_fmt(v)}" for k, v in values.items())
        try:
            res = train_run(trial_spec, dataset, run_dir, device=device, overwrite=True,
                            progress=progress, echo=lambda m: None, test=False,
                            callbacks=[Prune(trial, key)] if prune else [])
        except optuna.TrialPruned as e:
            echo(f"trial {trial.number}: {shown}  {e}")
            raise
        value = res["best_val"]
        if value is None or math.isnan(value):
            raise GnnrecError(f"trial {trial.number}: no validation value of {metric}")
        echo(f"trial {trial.number}: {shown}  {key} {value:.4f} (epoch {res['best_epoch']})")
        return value

    while True:
        left = trials - sum(t.state in finished for t in study.trials)
        if left <= 0:
            break
        study.optimize(objective, n_trials=left, catch=())
    best = study.best_trial
    return _report(spec, dims, dataset, out, study, best, metric, device, echo, refit)


def _report(spec, dims, dataset, out, study, best, metric, device, echo, refit=False) -> Dict:
    r"""The winner: its spec (``best.json``), validation curve, and test
    metrics of that one configuration."""
    import optuna

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
        from gnnrec.run import refit_run

        epochs = model.meta.get("epoch")
        echo(f"refit: the winner on train + validation for {epochs} epochs")
        res = refit_run(winner, dataset, os.path.join(out, "refit"), epochs, device=device,
                        echo=lambda m: None)
        test = {k: res[k] for k in res if k.startswith(("test", "mostpop", "sampled"))
                or k in ("ks",)}
        refit_info = {"epochs": epochs, "run_dir": res["run_dir"]}
    else:
        test = protocol.report(model)  # the only test evaluation of the whole search
    trials = [{"number": t.number, "state": t.state.name, "params": t.params, "value": t.value,
               "run_dir": t.user_attrs.get("run_dir")} for t in study.trials]
    results = {"metric": metric, "best": best.params, "best_trial": best.number,
               "best_val": best.value, "best_epoch": model.meta.get("epoch"),
               "spec": winner.to_dict(), "curve": curve, "test": test, "trials": trials,
               "refit": refit_info,
               "finished": sum(t.state in (optuna.trial.TrialState.COMPLETE,
                                           optuna.trial.TrialState.PRUNED)
                               for t in study.trials)}
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
    refit = results.get("refit")
    lines.append(format_report(results["test"], " (the chosen configuration only"
                               + (f", REFIT on train + validation for {refit['epochs']} epochs)"
                                  if refit else ")")))
    return "\n".join(lines)
