"""Per-epoch timing of model x sampler x loss combinations, in one run.

Every combination gets its own model and optimiser on the same graph; epochs
are timed round-robin (one epoch of each combination in turn, repeated), so
drifts of a shared machine hit all of them alike, and the median is kept.
Times are training only (no evaluation), device-synchronised.
"""
import statistics
from typing import Callable, Dict, List, Optional, Sequence

import torch

from gnnrec.data.graph import RecGraph
from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.registry import resolve
from gnnrec.train.experiment import build_objective
from gnnrec.train.trainer import Trainer


def bench(graph: RecGraph, models: Sequence[str], samplers: Sequence[str],
          losses: Sequence[str], options: Optional[Dict[str, Dict]] = None, epochs: int = 3,
          max_batches: Optional[int] = None, trainer_options: Optional[Dict] = None,
          echo: Callable[[str], None] = print) -> List[Dict]:
    r"""Times every runnable combination.

    Args:
        graph (RecGraph): the training graph (on the device to time).
        models, samplers, losses (sequence of str): registry names; losses
            with in-batch negatives run once, without a sampler.
        options (dict, optional): ``{name: {option: value}}`` for any model,
            sampler or loss.
        epochs (int): timed rounds; the first round is a warm-up and is
            reported separately. (default: :obj:`3`)
        max_batches (int, optional): time only this many batches per epoch.
        trainer_options (dict, optional): :class:`Trainer` keyword arguments.

    Returns:
        one dict per combination: ``model``, ``sampler``, ``loss``,
        ``seconds`` (median over rounds after the first), ``all_seconds``,
        ``batches``, ``peak_mb`` (CUDA only) and ``ratio`` (to the first
        combination of the same model: the first loss with the first
        sampler).
    """
    options = options or {}
    if epochs < 2:
        raise GnnrecError("--epochs must be >= 2 (the first round is a warm-up)")
    combos = []
    for model in models:
        for loss in losses:
            in_batch = resolve(LOSSES, loss, what="loss",
                               **options.get(loss, {})).negatives == "in_batch"
            for sampler in ([None] if in_batch else samplers):
                config = {"model": model, "model_options": options.get(model, {}),
                          "sampler": sampler, "sampler_options": options.get(sampler, {}),
                          "loss": loss, "loss_options": options.get(loss, {})}
                torch.manual_seed(0)
                objective = build_objective(config, graph.num_users, graph.num_items)
                trainer = Trainer(objective.to(graph.device), graph, epochs=epochs,
                                  **(trainer_options or {}))
                combos.append({"model": model, "sampler": sampler or "in-batch", "loss": loss,
                               "trainer": trainer, "all_seconds": []})
    cuda = graph.device.type == "cuda"
    for epoch in range(1, epochs + 1):
        for c in combos:
            if cuda:
                torch.cuda.reset_peak_memory_stats(graph.device)
            logs = c["trainer"].train_epoch(epoch, max_batches=max_batches)
            c["all_seconds"].append(logs["train_seconds"])
            c["batches"] = logs["batches"]
            if cuda:
                c["peak_mb"] = torch.cuda.max_memory_allocated(graph.device) / 2 ** 20
            echo(f"round {epoch}/{epochs}  {c['model']:<9}{c['sampler']:<9}{c['loss']:<8}"
                 f"{logs['train_seconds']:8.3f}s")
    results = []
    for c in combos:
        c.pop("trainer")
        c["seconds"] = statistics.median(c["all_seconds"][1:])
        results.append(c)
    for c in results:
        base = next(r for r in results if r["model"] == c["model"])
        c["ratio"] = c["seconds"] / base["seconds"]
    return results


def format_bench(results: List[Dict]) -> str:
    """A text table of the timing results."""
    cuda = any("peak_mb" in r for r in results)
    head = f"{'model':<10}{'sampler':<10}{'loss':<9}{'s/epoch':>9}{'ratio':>8}{'batches':>9}"
    rows = [head + (f"{'peak MB':>9}" if cuda else "")]
    for r in results:
        line = (f"{r['model']:<10}{r['sampler']:<10}{r['loss']:<9}{r['seconds']:>9.3f}"
                f"{r['ratio']:>8.2f}{r['batches']:>9}")
        if cuda:
            line += f"{r.get('peak_mb', 0):>9.0f}"
        rows.append(line)
    return "\n".join(rows)
