"""Data-parallel training on ``torch.distributed`` (launched by ``torchrun``).

Every rank loads the same data, builds the same model from the same seed
and its own normalised adjacency; each epoch's shuffled training
interactions are the same on every rank (the batch order depends on the
seed, not on the world size) and each global batch is split into disjoint
per-rank shards; DDP all-reduces (averages) the gradients, so a step
minimises the mean loss of the global batch. Samplers draw from per-rank
generators derived from the seed. In-batch losses contrast a row with the
other rows of its *rank's* shard. Rank 0 alone evaluates, logs, shows
progress and writes checkpoints; it tells the others when to stop.
"""
import os
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor

from gnnrec.errors import GnnrecError
from gnnrec.train.trainer import Callback

TORCHRUN = "torchrun --nproc_per_node=N -m gnnrec train ..."


@dataclass
class DistContext:
    r"""This process's place in the job: ``rank`` of ``world`` processes,
    ``local_rank`` on its machine."""
    rank: int
    world: int
    local_rank: int

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Optional[DistContext]:
    r"""The job ``torchrun`` started this process in, from its environment
    (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), or ``None`` outside one."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    try:
        return DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]),
                           int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))
    except ValueError:
        raise GnnrecError("RANK / WORLD_SIZE / LOCAL_RANK are not integers") from None


def require() -> DistContext:
    r"""The job context, or :class:`GnnrecError` saying how to launch one
    (``gnnrec train --distributed`` outside ``torchrun``)."""
    ctx = from_env()
    if ctx is None:
        raise GnnrecError(f"--distributed runs under torchrun, which sets RANK and WORLD_SIZE; "
                          f"launch: {TORCHRUN}")
    return ctx


def device_for(ctx: DistContext, name: str) -> torch.device:
    r"""``cuda:<local rank>`` for a CUDA run (one GPU per process), else the
    device asked for."""
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", ctx.local_rank)
    return torch.device("cpu" if name == "auto" else name)


def init(ctx: DistContext, device: torch.device) -> None:
    """Joins the process group: NCCL on CUDA, gloo on CPU."""
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend)


def close(clean: bool = True) -> None:
    r"""Leaves the job: after a barrier when this process ended cleanly;
    without one after a failure (a lost peer would fail it again)."""
    import torch.distributed as dist

    if dist.is_initialized():
        if clean:
            dist.barrier()
        try:
            dist.destroy_process_group()
        except RuntimeError:
            if clean:
                raise


class ShardedBatches:
    r"""The batches of another batching (same order on every rank), each
    split into ``world`` disjoint shards: rank ``r`` takes rows
    ``r, r + world, r + 2 world, ...`` of every global batch. A global batch
    smaller than the world leaves a rank an empty shard; such batches are
    skipped on every rank alike."""

    def __init__(self, batches, rank: int, world: int):
        self.inner, self.rank, self.world = batches, rank, world

    def __len__(self) -> int:
        return len(self.inner)

    def __call__(self, generator) -> Iterator[Tuple[Tensor, Tensor]]:
        for users, items in self.inner(generator):
            if len(users) < self.world:
                continue
            yield users[self.rank::self.world], items[self.rank::self.world]


class StopTogether(Callback):
    r"""At the end of every epoch, every rank takes rank 0's decision to
    stop (early stopping runs on rank 0 only)."""

    def on_epoch_end(self, trainer, epoch, logs):
        import torch.distributed as dist

        flag = torch.tensor([1 if trainer.should_stop else 0], device=trainer.device)
        dist.broadcast(flag, src=0)
        trainer.should_stop = bool(flag.item())


def distribute(trainer, ctx: DistContext) -> None:
    r"""Makes a :class:`~gnnrec.train.Trainer` data-parallel: DDP around its
    objective for the step, sharded batches, per-rank sampling generators."""
    from torch.nn.parallel import DistributedDataParallel

    device = trainer.device
    trainer.step_module = DistributedDataParallel(
        trainer.objective, device_ids=[device] if device.type == "cuda" else None)
    trainer.batches = ShardedBatches(trainer.batches, ctx.rank, ctx.world)
    trainer.rank, trainer.world = ctx.rank, ctx.world
    if len(trainer.batches.inner) and trainer.batches.inner.batch_size < ctx.world:
        raise GnnrecError(f"a batch of {trainer.batches.inner.batch_size} leaves some of the "
                          f"{ctx.world} processes no rows; raise --batch-size")


#: what gloo / NCCL say when another process of the job is gone
PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe",
             "NCCL communicator was aborted", "ProcessGroupNCCL", "remote process exited",
             "Socket Timeout", "Connection refused")


def peer_lost(error: BaseException) -> bool:
    r"""Whether ``error`` is a collective failing because another process of
    the job died (a kill, an out-of-memory), rather than a fault here."""
    text = f"{type(error).__name__}: {error}"
    return isinstance(error, RuntimeError) and any(p in text for p in PEER_LOST)


class JobStopped(Exception):
    r"""This process was sent SIGTERM: what ``torchrun`` sends the other
    processes of a job when one of them fails (or when the job is stopped)."""


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    r"""Within the block, SIGTERM raises :class:`JobStopped` in the main
    thread, so a process of a job that ``torchrun`` ends says why in one line
    like a lost peer does, whichever it notices first. What a run keeps is
    what an interrupt keeps (``last.pt`` is replaced atomically)."""
    def handler(signum, frame):
        raise JobStopped()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
