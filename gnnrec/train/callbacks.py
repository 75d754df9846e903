"""Evaluation, early stopping, checkpoints and logs, as trainer callbacks."""
import json
import math
import os
import time
from typing import Callable, Dict, Optional, Sequence

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics.evaluator import FullRankingEvaluator
from gnnrec.train.checkpoint import atomic_save, model_state
from gnnrec.train.trainer import Callback


class Evaluate(Callback):
    r"""Evaluates the model every ``every`` epochs (and at the last epoch)
    on a held-out split, adding ``"{prefix}/{metric}"`` entries to the logs.

    Args:
        evaluator (FullRankingEvaluator): metrics and batching.
        target (PositiveSet): the held-out items (e.g. validation).
        exclude (sequence of PositiveSet): items masked from the ranking
            (the training items).
        every (int, optional): evaluation period in epochs. (default: :obj:`1`)
        prefix (str, optional): log key prefix. (default: :obj:`"val"`)
    """

    def __init__(self, evaluator: FullRankingEvaluator, target: PositiveSet,
                 exclude: Sequence[PositiveSet], every: int = 1, prefix: str = "val"):
        self.evaluator, self.target, self.exclude = evaluator, target, list(exclude)
        self.every, self.prefix = max(1, int(every)), prefix

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch % self.every and epoch != trainer.epochs:
            return
        start = time.perf_counter()
        score_fn = trainer.objective.score_fn(trainer.graph)
        result = self.evaluator.evaluate(score_fn, self.target, self.exclude)
        logs["eval_seconds"] = time.perf_counter() - start
        for k, v in result.items():
            if k != "users":
                logs[f"{self.prefix}/{k}"] = v


class EarlyStopping(Callback):
    r"""Tracks the best value of a logged metric; marks ``logs["is_best"]``
    when it improves and stops training after ``patience`` evaluations
    without improvement (``0`` never stops).

    Args:
        monitor (str): the log key, e.g. ``"val/recall@20"``.
        patience (int, optional): evaluations without improvement.
            (default: :obj:`10`)
        mode (str, optional): ``max`` or ``min``. (default: :obj:`"max"`)
    """

    def __init__(self, monitor: str, patience: int = 10, mode: str = "max"):
        self.monitor, self.patience, self.mode = monitor, int(patience), mode
        self.best: Optional[float] = None
        self.best_epoch = 0
        self.bad = 0

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            return
        value = logs[self.monitor]
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better and not math.isnan(value):
            self.best, self.best_epoch, self.bad = value, epoch, 0
            logs["is_best"] = True
        else:
            self.bad += 1
            if self.patience and self.bad >= self.patience:
                trainer.should_stop = True
                logs["early_stop"] = True
        logs["best_epoch"] = self.best_epoch

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "bad": self.bad}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.bad = state["best"], state["best_epoch"], state["bad"]


class Checkpoint(Callback):
    r"""Writes ``last.pt`` (everything needed to resume) after every epoch
    and ``best.pt`` (the model alone) when ``logs["is_best"]``; both
    atomically (temporary file, then rename), so an interruption never
    leaves a half-written checkpoint.

    Args:
        run_dir (str): the run's folder.
        meta (callable): returns the static part of a checkpoint (model
            spec, id maps, training graph, config).
    """

    def __init__(self, run_dir: str, meta: Callable[[], Dict]):
        self.run_dir, self.meta = run_dir, meta

    @property
    def last(self) -> str:
        return os.path.join(self.run_dir, "last.pt")

    @property
    def best(self) -> str:
        return os.path.join(self.run_dir, "best.pt")

    def on_epoch_end(self, trainer, epoch, logs):
        meta = self.meta()
        model = model_state(trainer.objective, epoch)
        if logs.get("is_best") or not os.path.exists(self.best):
            atomic_save({**meta, "model": model, "logs": logs}, self.best)
        atomic_save({**meta, "model": model, "trainer": trainer.state_dict(), "logs": logs},
                    self.last)


class JsonLines(Callback):
    r"""Appends each epoch's logs as one JSON line. On resume, lines past the
    resumed epoch (written after the last checkpoint) are dropped first."""

    def __init__(self, path: str):
        self.path = path

    def on_fit_start(self, trainer):
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            lines = [ln for ln in f if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln).get("epoch", 0) <= trainer.epoch]
        if len(kept) != len(lines):
            with open(self.path, "w") as f:
                f.writelines(kept)

    def on_epoch_end(self, trainer, epoch, logs):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in logs.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean) + "\n")


class Console(Callback):
    r"""Prints one line per epoch: loss, seconds and the monitored metrics."""

    def __init__(self, echo: Callable[[str], None] = print, keys: Sequence[str] = ()):
        self.echo, self.keys = echo, list(keys)

    def on_epoch_end(self, trainer, epoch, logs):
        parts = [f"epoch {epoch:>4}/{trainer.epochs}", f"loss {logs.get('loss', float('nan')):.4f}"]
        if logs.get("hardness") is not None and not math.isnan(logs["hardness"]):
            parts.append(f"hardness {logs['hardness']:.3f}")
        parts.append(f"{logs['train_seconds']:.1f}s")
        shown = [k for k in self.keys if k in logs]
        if shown:
            parts.append("  ".join(f"{k} {logs[k]:.4f}" for k in shown))
            parts.append(f"(eval {logs.get('eval_seconds', 0):.1f}s)")
        if logs.get("is_best"):
            parts.append("*")
        if logs.get("early_stop"):
            parts.append(f"early stop: best epoch {logs.get('best_epoch')}")
        self.echo("  ".join(parts))
