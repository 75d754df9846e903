"""The training loop: epochs of mini-batches; everything else is a callback."""
import random
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from gnnrec.data.graph import RecGraph
from gnnrec.errors import option_error
from gnnrec.train.batching import BATCHINGS

_PRIME = 1_000_003


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int) -> int:
    r"""The seed of one epoch. Every random draw of epoch ``e`` (batch
    order, negatives, dropout) derives from ``(seed, e)`` alone, so a run
    resumed at an epoch boundary repeats the uninterrupted run exactly."""
    return (seed * _PRIME + epoch) % (2 ** 63 - 1)


def _fast_adam(params) -> Dict:
    """The fused Adam kernel where this torch has it for the device."""
    devices = {p.device.type for p in params}
    if len(devices) == 1 and devices <= {"cpu", "cuda"}:
        return {"fused": True}
    return {}


class TrainingStopped(Exception):
    """Training cannot go on (e.g. a non-finite loss); the message says why."""


class Callback:
    r"""Hooks into :class:`Trainer`. Override what you need; state that must
    survive ``--resume`` goes through :meth:`state_dict`.

    Order of calls: ``on_fit_start``; per epoch ``on_epoch_start``, then
    ``on_batch_end`` after every optimiser step (with the batch's loss and
    statistics, still on the device), then ``on_epoch_end`` with the epoch's
    logs; ``on_fit_end`` after the last epoch; ``on_exception`` when training
    ends with an exception (Ctrl-C included), before it propagates.
    """

    def on_fit_start(self, trainer: "Trainer") -> None:
        pass

    def on_epoch_start(self, trainer: "Trainer", epoch: int) -> None:
        pass

    def on_batch_end(self, trainer: "Trainer", step: int, loss: torch.Tensor,
                     stats: Dict[str, torch.Tensor]) -> None:
        pass

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: Dict) -> None:
        pass

    def on_fit_end(self, trainer: "Trainer") -> None:
        pass

    def on_exception(self, trainer: "Trainer", error: BaseException) -> None:
        pass

    def state_dict(self) -> Dict:
        return {}

    def load_state_dict(self, state: Dict) -> None:
        pass


class Trainer:
    r"""Minimises an :class:`~gnnrec.train.objective.Objective` with Adam.

    The trainer knows nothing of the model family: it walks batches, calls
    the objective, steps the optimiser and hands each batch's loss and each
    epoch's logs to the callbacks (progress, the non-finite-loss guard,
    evaluation, early stopping, checkpoints, logging). A callback stops
    training by setting :attr:`should_stop` (at the end of an epoch) or by
    raising :class:`TrainingStopped`.

    Args:
        objective (Objective): what to minimise.
        graph (RecGraph): the training graph, on the training device.
        epochs (int, optional): last epoch to run. (default: :obj:`1000`)
        batch_size (int, optional): interactions per step.
            (default: :obj:`2048`)
        lr (float, optional): Adam learning rate. (default: :obj:`1e-3`)
        batching (str, optional): ``edges`` (one pass over the training
            interactions per epoch) or ``users`` (draw a user, then one of its
            items, ``|train|`` times, as LightGCN's PyTorch code).
            (default: :obj:`"edges"`)
        seed (int, optional): seed of every random draw. (default: :obj:`0`)
        callbacks (sequence of Callback, optional): hooks, called in order.
    """

    def __init__(self, objective, graph: RecGraph, epochs: int = 1000, batch_size: int = 2048,
                 lr: float = 1e-3, batching: str = "edges", seed: int = 0,
                 callbacks: Sequence[Callback] = ()):
        self.check_options(epochs, batch_size, lr, batching, seed)
        self.objective = objective.bind(graph)
        self.graph, self.epochs, self.seed = graph, int(epochs), int(seed)
        self.batches = BATCHINGS[batching](graph, batch_size)
        params = [p for p in objective.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, **_fast_adam(params))
        self.callbacks: List[Callback] = list(callbacks)
        #: a :class:`~gnnrec.train.clock.PhaseClock` charging each step's phases (timing only)
        self.clock = None
        #: what computes a step's loss: the objective, or a DDP wrapper of it
        #: (:func:`gnnrec.distributed.distribute`), with this process's rank
        self.step_module, self.rank, self.world = self.objective, 0, 1
        self.epoch = 0  # completed epochs
        self.should_stop = False

    @staticmethod
    def check_options(epochs=None, batch_size=None, lr=None, batching=None, seed=None) -> None:
        r"""Raises :class:`GnnrecError` (naming the parameter) for impossible
        values among those given; run specs call it before reading data."""
        for name, value in (("epochs", epochs), ("batch_size", batch_size), ("seed", seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise option_error(name, f"must be an integer, got {value!r}", "trainer")
        if epochs is not None and epochs < 1:
            raise option_error("epochs", f"must be >= 1, got {epochs}", "trainer")
        if batch_size is not None and batch_size < 1:
            raise option_error("batch_size", f"must be >= 1, got {batch_size}", "trainer")
        if lr is not None and not (isinstance(lr, (int, float)) and 0 < lr < float("inf")):
            raise option_error("lr", f"must be > 0 and finite, got {lr}", "trainer")
        if seed is not None and not 0 <= seed < 2 ** 63:
            raise option_error("seed", f"must be in [0, 2**63), got {seed}", "trainer")
        if batching is not None and batching not in BATCHINGS:
            raise option_error("batching", f"{batching!r} is unknown; choose from "
                                           f"{', '.join(BATCHINGS)}", "trainer")

    @property
    def device(self) -> torch.device:
        return self.graph.device

    def generator(self, epoch: int) -> torch.Generator:
        gen = torch.Generator(device=self.device)
        gen.manual_seed(epoch_seed(self.seed, epoch))
        return gen

    def sampling_generator(self, epoch: int, shared: torch.Generator) -> torch.Generator:
        r"""The generator of an epoch's negatives: the batch-order generator
        itself in one process (as ever), a per-rank one derived from the seed
        when data-parallel (ranks must draw different negatives)."""
        if self.world == 1:
            return shared
        gen = torch.Generator(device=self.device)
        gen.manual_seed(epoch_seed(epoch_seed(self.seed, epoch), 1 + self.rank))
        return gen

    def train_epoch(self, epoch: int, max_batches: Optional[int] = None) -> Dict:
        r"""One epoch (or its first ``max_batches`` steps, for timing);
        returns its logs (mean loss and other statistics, seconds, steps)."""
        torch.manual_seed(epoch_seed(self.seed, epoch))  # dropout and other global draws
        gen = self.generator(epoch)
        sample_gen = None
        self.objective.train()
        for cb in self.callbacks:
            cb.on_epoch_start(self, epoch)
        sums: Dict[str, torch.Tensor] = {}
        counts: Dict[str, torch.Tensor] = {}
        n = 0
        start = time.perf_counter()
        for step, (users, items) in enumerate(self.batches(gen)):
            if max_batches is not None and step >= max_batches:
                break
            if sample_gen is None:  # after the batch order is drawn, as in one process
                sample_gen = self.sampling_generator(epoch, gen)
            clock = self.clock
            self.objective.clock = clock
            if clock is not None:
                clock.start()
            loss, stats = self.step_module(self.graph, users, items, sample_gen)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clock is not None:
                clock("backward")
            self.optimizer.step()
            if clock is not None:
                clock("step")
            for cb in self.callbacks:
                cb.on_batch_end(self, step, loss.detach(), stats)
            for k, v in stats.items():  # batch means; NaN (undefined) batches skipped
                v = v.detach()
                ok = torch.isfinite(v)
                sums[k] = sums.get(k, 0.0) + torch.where(ok, v, torch.zeros_like(v))
                counts[k] = counts.get(k, 0) + ok.to(torch.int64)
            n += 1
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        logs = {"epoch": epoch, "train_seconds": time.perf_counter() - start, "batches": n}
        logs.update({k: float(v) / max(int(counts[k]), 1) if int(counts[k]) else float("nan")
                     for k, v in sums.items()})
        return logs

    def fit(self) -> "Trainer":
        r"""Runs epochs ``self.epoch + 1 .. epochs`` (all of them on a fresh
        trainer, the rest after :meth:`load_state_dict`)."""
        self.should_stop = False
        try:
            for cb in self.callbacks:
                cb.on_fit_start(self)
            while self.epoch < self.epochs and not self.should_stop:
                epoch = self.epoch + 1
                logs = self.train_epoch(epoch)
                self.epoch = epoch
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
            for cb in self.callbacks:
                cb.on_fit_end(self)
        except BaseException as e:
            for cb in self.callbacks:
                cb.on_exception(self, e)
            raise
        return self

    def state_dict(self) -> Dict:
        states = {}
        for cb in self.callbacks:  # by class: ranks and resumed runs hold other lists
            state = cb.state_dict()
            if state:
                states[type(cb).__name__] = state
        return {"epoch": self.epoch, "objective": self.objective.state_dict(),
                "optimizer": self.optimizer.state_dict(), "seed": self.seed,
                "callbacks": states}

    def load_state_dict(self, state: Dict) -> None:
        self.epoch = int(state["epoch"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.seed = int(state["seed"])
        states = state.get("callbacks", {})
        if isinstance(states, list):  # written by position before callbacks were named
            for cb, s in zip(self.callbacks, states):
                cb.load_state_dict(s)
            return
        for cb in self.callbacks:
            if type(cb).__name__ in states:
                cb.load_state_dict(states[type(cb).__name__])
