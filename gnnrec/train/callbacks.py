"""Progress, the non-finite-loss guard, evaluation, early stopping,
checkpoints and logs, as trainer callbacks."""
import json
import math
import os
import time
from typing import Callable, Dict, Optional, Sequence

import torch

from gnnrec.checkpoint import save_checkpoint
from gnnrec.outputs import writing
from gnnrec.train.trainer import Callback, TrainingStopped


class ProgressBar(Callback):
    r"""A ``tqdm`` bar per epoch on stderr, with the running loss."""

    def __init__(self):
        self.bar = None

    def on_epoch_start(self, trainer, epoch):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=len(trainer.batches), desc=f"epoch {epoch}", leave=False,
                        unit="batch", dynamic_ncols=True)

    def on_batch_end(self, trainer, step, loss, stats):
        self.bar.update(1)
        if step % 10 == 0:
            self.bar.set_postfix(loss=f"{float(stats['loss']):.4f}")

    def _close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def on_epoch_end(self, trainer, epoch, logs):
        self._close()

    def on_exception(self, trainer, error):
        self._close()


class NonFiniteLoss(Callback):
    r"""Stops training when a batch's loss is NaN or infinite, naming the
    epoch and step, what was kept (checkpoints are written only at the end of
    an epoch) and the setting most likely to blame.

    Reading a loss on the host waits for the device, so on an accelerator
    the check is *deferred*: each step records, on the device, the first
    non-finite step of the epoch and its statistics, and the epoch's end
    reads them once and stops there, before anything later in the callback
    list (evaluation, ``last.pt``) sees the epoch. What is kept is the same
    (the previous epoch's checkpoint); the rest of the diverged epoch is
    computed for nothing.

    Args:
        defer (bool, optional): check at the epoch's end instead of after
            every step; ``None`` defers on any device but the CPU, where a
            read costs nothing. (default: :obj:`None`)
    """

    def __init__(self, defer: Optional[bool] = None):
        self.defer = defer
        self._first: Optional[torch.Tensor] = None  # first non-finite step, -1 while none
        self._value: Optional[torch.Tensor] = None  # the loss there
        self._stats: Dict[str, torch.Tensor] = {}

    def _deferred(self, loss: torch.Tensor) -> bool:
        return self.defer if self.defer is not None else loss.device.type != "cpu"

    def on_epoch_start(self, trainer, epoch):
        self._first, self._value, self._stats = None, None, {}

    def on_batch_end(self, trainer, step, loss, stats):
        if not self._deferred(loss):
            if not torch.isfinite(loss):
                self._stop(trainer, trainer.epoch + 1, step, loss.item(), stats)
            return
        if self._first is None:
            self._first = torch.full((), -1, dtype=torch.long, device=loss.device)
            self._value = torch.zeros((), dtype=loss.dtype, device=loss.device)
        new = (self._first < 0) & ~torch.isfinite(loss)  # the first bad step only
        self._first = torch.where(new, step, self._first)
        self._value = torch.where(new, loss, self._value)
        for k in ("loss", "reg"):  # what blame() reads
            if k in stats:
                v = stats[k].detach()
                self._stats[k] = torch.where(new, v, self._stats.get(k, torch.zeros_like(v)))

    def on_epoch_end(self, trainer, epoch, logs):
        if self._first is not None and int(self._first) >= 0:  # one read an epoch
            self._stop(trainer, epoch, int(self._first), self._value.item(), self._stats)

    @staticmethod
    def _stop(trainer, epoch: int, step: int, value: float, stats) -> None:
        kept = (f"last.pt and best.pt keep epoch {epoch - 1}" if epoch > 1
                else "no epoch had completed, so no model was kept")
        raise TrainingStopped(
            f"the loss became {value} at epoch {epoch}, step {step + 1}; "
            f"training stopped ({kept}); {blame(trainer, stats)}")


def blame(trainer, stats) -> str:
    r"""The option a diverged run most likely needs changed: an L2 weight so
    large that its term overflows, a contrastive temperature so small that
    the scores do, or else the learning rate."""
    objective = trainer.objective
    reg_weight = getattr(objective, "reg_weight", 0.0)
    reg = stats.get("reg")
    if reg is not None and not torch.isfinite(reg) and reg_weight >= 1.0:
        return f"--reg {reg_weight:g} is far too large for the embeddings' scale"
    tau = getattr(objective.loss, "tau", None)
    data = stats.get("loss")
    if tau is not None and tau < 0.05 and data is not None and not torch.isfinite(data):
        return f"the loss's temperature tau {tau:g} is very small; raise it (--loss-opt tau=...)"
    lr = trainer.optimizer.param_groups[0]["lr"]
    return f"try a lower --lr (now {lr:g})"


class EasyNegatives(Callback):
    r"""Warns, once, when a sampler's negatives stay easier than uniform
    ones (mean hardness below that of its uniform candidates) for
    ``patience`` epochs in a row: the sampler then teaches less than RNS
    would (e.g. AHNS whose target score is near 0 for the model's scale).

    Args:
        echo (callable): where the warning goes.
        patience (int, optional): consecutive epochs. (default: :obj:`3`)
    """

    def __init__(self, echo: Callable[[str], None], patience: int = 3):
        self.echo, self.patience = echo, int(patience)
        self.streak, self.warned = 0, False

    def on_epoch_end(self, trainer, epoch, logs):
        h, uniform = logs.get("hardness"), logs.get("hardness_uniform")
        if h is None or uniform is None or math.isnan(h) or math.isnan(uniform):
            return
        self.streak = self.streak + 1 if h < uniform else 0
        if self.streak >= self.patience and not self.warned:
            sampler = trainer.objective.sampler
            hint = getattr(sampler, "easy_hint", None)
            self.echo(f"warning: {type(sampler).__name__} has picked easier negatives than "
                      f"uniform ones for {self.streak} epochs (hardness {h:.3f} vs {uniform:.3f})"
                      + (f"; {hint}" if hint else ""))
            self.warned = True

    def state_dict(self):
        return {"streak": self.streak, "warned": self.warned}

    def load_state_dict(self, state):
        self.streak, self.warned = state["streak"], state["warned"]


class Evaluate(Callback):
    r"""Evaluates the model every ``every`` epochs (and at the last epoch)
    on a held-out split, adding ``"{fold}/{metric}"`` entries to the logs.

    Args:
        protocol (EvalProtocol): splits, masks and metrics.
        fold (str, optional): the split to rank. (default: :obj:`"val"`)
        every (int, optional): evaluation period in epochs. (default: :obj:`1`)
    """

    def __init__(self, protocol, fold: str = "val", every: int = 1):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.protocol, self.fold, self.every = protocol, fold, int(every)

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch % self.every and epoch != trainer.epochs:
            return
        start = time.perf_counter()
        result = self.protocol.evaluate(trainer.objective.model, self.fold)
        seconds = time.perf_counter() - start
        logs["eval_seconds"] = logs.get("eval_seconds", 0.0) + seconds  # every fold's
        logs[f"eval_seconds_{self.fold}"] = seconds
        for k, v in result.items():
            if k != "users":
                logs[f"{self.fold}/{k}"] = v


class EarlyStopping(Callback):
    r"""Tracks the best value of a logged metric; marks ``logs["is_best"]``
    when it improves and stops training after ``patience`` evaluations
    without improvement (``0`` never stops).

    An evaluation improves only if it beats the best so far by more than
    ``min_delta`` (as in Keras' and Lightning's early stopping): a curve
    that creeps up by less keeps its earlier best epoch and runs out of
    patience, instead of pushing the selected epoch (and a refit's length)
    out by a gain below the metric's own noise.

    Args:
        monitor (str): the log key, e.g. ``"val/recall@20"``.
        patience (int, optional): evaluations without improvement.
            (default: :obj:`10`)
        mode (str, optional): ``max`` or ``min``. (default: :obj:`"max"`)
        min_delta (float, optional): the smallest change that counts as an
            improvement, in the metric's units. (default: :obj:`0.0`)
    """

    def __init__(self, monitor: str, patience: int = 10, mode: str = "max",
                 min_delta: float = 0.0):
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor, self.patience, self.mode = monitor, int(patience), mode
        self.min_delta = float(min_delta)
        self.best: Optional[float] = None
        self.best_epoch = 0
        self.bad = 0

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor not in logs:
            return
        value = logs[self.monitor]
        better = self.best is None or (value > self.best + self.min_delta
                                       if self.mode == "max"
                                       else value < self.best - self.min_delta)
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
        run_dir (str or folder): the run's folder (or an object whose
            ``path`` is it, read at every write: a staged run moves).
        extra (dict, optional): entries stored in every checkpoint beside the
            model (the run spec, the data source).
    """

    def __init__(self, run_dir, extra: Optional[Dict] = None):
        self.folder, self.extra = run_dir, dict(extra or {})
        self._static = None

    @property
    def run_dir(self) -> str:
        return getattr(self.folder, "path", self.folder)

    @property
    def last(self) -> str:
        return os.path.join(self.run_dir, "last.pt")

    @property
    def best(self) -> str:
        return os.path.join(self.run_dir, "best.pt")

    def content(self, trainer, epoch: int, logs: Dict, with_trainer: bool) -> Dict:
        model = trainer.objective.model
        if self._static is None:  # the graph, id maps and spec do not change during a run
            self._static = {k: v for k, v in model.checkpoint(**self.extra).items()
                            if k != "state"}
        out = {**self._static, "state": model.state_dict(), "epoch": epoch, "logs": logs}
        if with_trainer:
            out["trainer"] = trainer.state_dict()
        return out

    def write_start(self, trainer) -> None:
        """``last.pt`` at epoch 0, so an interruption during the first epoch
        still leaves a run to resume."""
        save_checkpoint(self.content(trainer, 0, {"epoch": 0}, True), self.last)

    def on_epoch_end(self, trainer, epoch, logs):
        if logs.get("is_best") or not os.path.exists(self.best):
            save_checkpoint(self.content(trainer, epoch, logs, False), self.best)
        save_checkpoint(self.content(trainer, epoch, logs, True), self.last)


def read_log(path: str):
    r"""``(records, torn)``: the JSON records of a ``log.jsonl`` and the
    number of unreadable lines (a line cut by a kill is not an error)."""
    records, torn = [], 0
    if not os.path.isfile(path):
        return records, torn
    with open(path, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                record = None
            if isinstance(record, dict) and isinstance(record.get("epoch", 0), int):
                records.append(record)
            else:  # cut by a kill, or not a log line at all
                torn += 1
    return records, torn


class JsonLines(Callback):
    r"""Appends each epoch's logs as one JSON line. On resume the log is
    rewritten to agree with the checkpoint: records past the resumed epoch
    (written after the last checkpoint) and a line cut by a kill are dropped.

    Args:
        path (str or callable): the log file (or a function returning it: a
            staged run moves).
        echo (callable, optional): where to say that lines were dropped.
    """

    def __init__(self, path, echo: Callable[[str], None] = lambda m: None):
        self._path, self.echo = path, echo

    @property
    def path(self) -> str:
        return self._path() if callable(self._path) else self._path

    def on_fit_start(self, trainer):
        records, torn = read_log(self.path)
        kept = [r for r in records if r.get("epoch", 0) <= trainer.epoch]
        if torn or len(kept) != len(records):
            if torn:
                self.echo(f"note: {self.path}: dropped {torn} unreadable line(s) (a write cut "
                          "short by an interruption)")
            tmp = self.path + ".tmp"
            with open(tmp, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
            os.replace(tmp, self.path)

    def on_epoch_end(self, trainer, epoch, logs):
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
                 for k, v in logs.items()}
        with writing(self.path), open(self.path, "a") as f:
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
