"""Reading a run folder back: its spec, log, results and how far it got."""
import json
import os
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

from gnnrec.errors import GnnrecError
from gnnrec.spec import RunSpec
from gnnrec.train.callbacks import read_log


class RunFolder:
    r"""A folder written by ``gnnrec train`` (``config.json``, ``log.jsonl``,
    ``results.json``, ``last.pt``, ``best.pt``), read without loading any
    model or data.

    Args:
        path (str): the run folder.
    """

    def __init__(self, path: str):
        config = os.path.join(path, "config.json")
        if not os.path.isdir(path):
            raise GnnrecError(f"{path}: no such run folder")
        if not os.path.exists(config):
            raise GnnrecError(f"{path}: not a run folder (no config.json)")
        self.path = path
        if not os.path.isfile(config):
            raise GnnrecError(f"{path}: config.json is not a file")
        self.spec = RunSpec.from_file(config).validate()
        self.notes = _json(config).get("notes", [])
        self.notes = [n for n in self.notes if isinstance(n, str)] \
            if isinstance(self.notes, list) else []
        self.log, self.torn = read_log(os.path.join(path, "log.jsonl"))
        results = os.path.join(path, "results.json")
        self.results: Optional[Dict] = None
        self.problems: List[str] = []
        if os.path.exists(results):
            self.results = _json(results)
            if not _results_shape(self.results):
                self.problems.append("results.json is damaged (ignored)")
                self.results = None

    @property
    def finished(self) -> bool:
        return self.results is not None

    @property
    def monitor(self) -> str:
        return f"val/{self.spec.evaluation['metric']}"

    def best_record(self) -> Optional[Dict]:
        """The log record of the best validation epoch (the last one marked
        best), or the last record when nothing was evaluated."""
        best = [r for r in self.log if r.get("is_best")]
        if best:
            return best[-1]
        return self.log[-1] if self.log else None

    def summary(self) -> Dict:
        r"""Spec label, progress, best epoch, validation and test metrics and
        timing, as one flat dict."""
        spec, ks = self.spec, self.spec.evaluation["ks"]
        best = self.best_record() or {}
        train_s = [r["train_seconds"] for r in self.log if "train_seconds" in r]
        eval_s = [r["eval_seconds"] for r in self.log if "eval_seconds" in r]
        out = {"run": self.path, "label": spec.label, "model": spec.model.name,
               "sampler": spec.sampler.name if spec.sampler else "in-batch",
               "loss": spec.loss.name, "epochs_run": self.log[-1]["epoch"] if self.log else 0,
               "max_epochs": spec.trainer["epochs"], "best_epoch": best.get("epoch"),
               "finished": self.finished, "early_stop": any(r.get("early_stop") for r in self.log),
               "seconds_per_epoch": statistics.median(train_s) if train_s else None,
               "seconds_per_eval": statistics.median(eval_s) if eval_s else None,
               "val": {k[4:]: v for k, v in best.items() if k.startswith("val/")}}
        tested = self.results or {}
        if "refit" in tested:  # test numbers are the refit's (train + validation, best epoch)
            out["refit_epochs"] = tested["refit"].get("epochs")
            tested = tested["refit"]
        if "test" in tested:
            out["test"] = {k: v for k, v in tested["test"].items() if k != "users"}
            out["mostpop"] = {k: v for k, v in tested["mostpop_test"].items() if k != "users"}
            out["best_epoch"] = self.results.get("best_epoch", out["best_epoch"])
        out["k"] = ks[0]
        return out


def _json(path: str) -> Dict:
    """A JSON object file, or ``{}`` when it is not one (damaged, a folder)."""
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _results_shape(results: Dict) -> bool:
    r"""Whether ``results.json`` has the shape :func:`~gnnrec.run.train_run`
    writes (the parts ``show`` reads)."""
    if not results:
        return False
    tested = results.get("refit", results)
    if not isinstance(tested, dict):
        return False
    if "test" in tested:
        return isinstance(tested["test"], dict) and isinstance(tested.get("mostpop_test"), dict)
    return True


def _fmt(v, digits=4):
    return "-" if v is None else (f"{v:.{digits}f}" if isinstance(v, float) else str(v))


def describe(folder: RunFolder) -> str:
    r"""A run, for a person: the resolved spec, how far it got, the best
    epoch with its validation and test metrics, and timing."""
    s, spec = folder.summary(), folder.spec
    opts = lambda c: ", ".join(f"{k}={v}" for k, v in c.options.items())  # noqa: E731
    data = spec.data
    sampler = (f"{spec.sampler.name}({opts(spec.sampler)})" if spec.sampler
               else "none (in-batch negatives)")
    lines = [f"run          {folder.path}",
             f"model        {spec.model.name}({opts(spec.model)})",
             f"sampler      {sampler}",
             f"loss         {spec.loss.name}({opts(spec.loss)})",
             "trainer      " + ", ".join(f"{k}={v}" for k, v in spec.trainer.items())
             + f", reg_weight={spec.objective['reg_weight']}",
             "evaluation   " + ", ".join(f"{k}={v}" for k, v in spec.evaluation.items()),
             f"data         {data.path or 'bundled sample'} (split {data.split}, "
             f"val_frac {data.val_frac}, k_core {data.k_core}, seed {data.seed})"]
    for note in folder.notes:
        lines.append(f"  note: {note}")
    state = ("finished" if s["finished"] else "unfinished (interrupted or running)")
    stop = ", early stop" if s["early_stop"] else ""
    lines.append(f"progress     {state}: {s['epochs_run']} of {s['max_epochs']} epochs{stop}; "
                 f"best epoch {_fmt(s['best_epoch'])}")
    lines.append(f"timing       {_fmt(s['seconds_per_epoch'], 2)} s/epoch training, "
                 f"{_fmt(s['seconds_per_eval'], 2)} s/evaluation (medians)")
    if s["val"]:
        lines.append("validation   " + "  ".join(f"{k} {_fmt(v)}" for k, v in s["val"].items()))
    if "test" in s:
        k = s["k"]
        keys = [f"{m}@{k}" for m in ("recall", "ndcg", "precision", "hit", "mrr")]
        if "refit_epochs" in s:
            lines.append(f"refit        on train + validation for {s['refit_epochs']} epochs "
                         "(RUN/refit); the test line is the refit's")
        lines.append("test         " + "  ".join(f"{m} {_fmt(s['test'].get(m))}" for m in keys))
        lines.append("MostPop      " + "  ".join(f"{m} {_fmt(s['mostpop'].get(m))}"
                                                 for m in keys))
    if folder.torn:
        lines.append(f"  note: {folder.torn} unreadable line(s) in log.jsonl (cut by a kill, "
                     "or damaged)")
    for problem in folder.problems:
        lines.append(f"  note: {problem}")
    return "\n".join(lines)


def table(folders: Sequence[RunFolder]) -> str:
    r"""Several runs side by side: spec, epochs, best epoch, validation
    metric, test Recall/NDCG at the first cut-off, seconds per epoch."""
    rows = [["run", "model", "sampler", "loss", "epochs", "best", "val", "test R", "test N",
             "s/epoch"]]
    for f in folders:
        s = f.summary()
        k = s["k"]
        metric = f.spec.evaluation["metric"]
        test = s.get("test", {})
        refit = " (refit)" if "refit_epochs" in s else ""
        rows.append([f.path, s["model"], s["sampler"], s["loss"], str(s["epochs_run"]),
                     _fmt(s["best_epoch"]), _fmt(s["val"].get(metric)),
                     _fmt(test.get(f"recall@{k}")) + refit, _fmt(test.get(f"ndcg@{k}")),
                     _fmt(s["seconds_per_epoch"], 2)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def plot(folders: Sequence[RunFolder], path: str) -> str:
    r"""Loss, monitored validation metric and negative hardness per epoch of
    each run, as a PNG."""
    from gnnrec.plot import plot_curves

    monitor = folders[0].monitor
    panels = [("loss", "training loss"), (monitor, f"validation {monitor[4:]}"),
              ("hardness", "negative hardness")]
    return plot_curves({f.path: f.log for f in folders}, panels, path)


def read_runs(paths: List[str]) -> Tuple[List[RunFolder], List[str]]:
    r"""The readable run folders among ``paths``, and one message for each
    that cannot be read (a damaged folder never hides the others)."""
    folders, errors = [], []
    for p in paths:
        try:
            folder = RunFolder(p)
            folder.summary()  # what show prints is computable
            folders.append(folder)
        except GnnrecError as e:
            errors.append(str(e))
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            errors.append(f"{p}: cannot be read ({type(e).__name__})")
    return folders, errors
