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
from gnnrec.errors import option_error
from gnnrec.spec import RunSpec


def bench(graph: RecGraph, specs: Sequence[RunSpec], epochs: int = 3,
          max_batches: Optional[int] = None,
          echo: Callable[[str], None] = print) -> List[Dict]:
    r"""Times every run spec (e.g. :meth:`RunSpec.grid`) on ``graph``.

    Args:
        graph (RecGraph): the training graph (on the device to time).
        specs (sequence of RunSpec): the combinations; each builds its own
            model and optimiser from its seed.
        epochs (int): timed rounds; the first round is a warm-up and is
            reported separately. (default: :obj:`3`)
        max_batches (int, optional): time only this many batches per epoch.

    Returns:
        one dict per combination: ``model``, ``sampler``, ``loss``,
        ``seconds`` (median over rounds after the first), ``all_seconds``,
        ``batches``, ``peak_mb`` (CUDA only) and ``ratio`` (to the first
        combination of the same model).
    """
    if epochs < 2:
        raise option_error("epochs", f"must be >= 2 (the first round is a warm-up), got {epochs}")
    combos = []
    for spec in specs:
        objective = spec.build(graph.num_users, graph.num_items, graph.device)
        trainer = spec.trainer_for(objective, graph)
        combos.append({"model": spec.model.name,
                       "sampler": spec.sampler.name if spec.sampler else "in-batch",
                       "loss": spec.loss.name, "trainer": trainer, "all_seconds": []})
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
