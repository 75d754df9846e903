"""Per-epoch timing of model x sampler x loss combinations, in one run, and
where the time goes.

Every combination gets its own model and optimiser on the same graph; epochs
are timed round-robin (one epoch of each combination in turn, repeated), so
drifts of a shared machine hit all of them alike, and the median is kept.
Each step's phases are charged separately: propagation forward (the
encoder, and the gather of the batch's rows), sampling, loss (with the L2
term), backward (the loss's and the propagation's), optimiser step; with a
protocol, full-ranking evaluation is timed once per round too. Peak memory is
the process's resident set on CPU (Linux: reset before each epoch) and
``torch.cuda.max_memory_allocated`` on GPU.
"""
import csv
import io
import os
import json
import resource
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

from gnnrec.data.graph import RecGraph
from gnnrec.errors import GnnrecError, option_error
from gnnrec.spec import RunSpec
from gnnrec.train.clock import PhaseClock

PHASES = ("propagation", "sampling", "loss", "backward", "step")


def _reset_peak(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: "5" resets the peak resident set size of this process
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb(device) -> float:
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(graph: RecGraph, specs: Sequence[RunSpec], epochs: int = 3,
          max_batches: Optional[int] = None, protocol=None, peer: Optional[str] = None,
          peer_batches: int = 5, echo: Callable[[str], None] = print) -> List[Dict]:
    r"""Times every run spec (e.g. :meth:`RunSpec.grid`) on ``graph``.

    Args:
        graph (RecGraph): the training graph (on the device to time).
        specs (sequence of RunSpec): the combinations; each builds its own
            model and optimiser from its seed.
        epochs (int): timed rounds; the first round is a warm-up and is
            reported separately. (default: :obj:`3`)
        max_batches (int, optional): time only this many batches per epoch
            (the epoch figures are then for those batches).
        protocol (EvalProtocol, optional): also time full-ranking evaluation
            of the test split (validation when there is none) every round.
        peer (str, optional): ``"pyg"`` also times PyG's own ``LightGCN``
            trained as its example does, on the first LightGCN spec's
            settings, for ``peer_batches`` batches, extrapolated to an epoch.

    Returns:
        one dict per combination: ``model``, ``sampler``, ``loss``, ``batch_size``,
        ``seconds`` (median epoch over rounds after the first),
        ``all_seconds``, ``batches``, ``phases`` (median seconds per epoch of
        each phase), ``eval_seconds``, ``peak_mb``, ``interactions_per_s``
        and ``ratio`` (to the first combination of the same model).
    """
    if epochs < 2:
        raise option_error("epochs", f"must be >= 2 (the first round is a warm-up), got {epochs}")
    combos = []
    for spec in specs:
        objective = spec.build(graph.num_users, graph.num_items, graph.device)
        trainer = spec.trainer_for(objective, graph)
        trainer.clock = PhaseClock(graph.device)
        combos.append({"model": spec.model.name,
                       "sampler": spec.sampler.name if spec.sampler else "in-batch",
                       "loss": spec.loss.name, "trainer": trainer, "all_seconds": [],
                       "all_phases": [], "all_eval": [], "all_peak": [],
                       "batch_size": spec.trainer["batch_size"]})
    vary = len({c["batch_size"] for c in combos}) > 1
    fold = None
    if protocol is not None:
        fold = "test" if protocol.has("test") else "val"
    for epoch in range(1, epochs + 1):
        for c in combos:
            trainer = c["trainer"]
            _reset_peak(graph.device)
            logs = trainer.train_epoch(epoch, max_batches=max_batches)
            c["all_peak"].append(_peak_mb(graph.device))
            c["all_seconds"].append(logs["train_seconds"])
            c["all_phases"].append(trainer.clock.take())
            c["batches"] = logs["batches"]
            line = (f"round {epoch}/{epochs}  {c['model']:<9}{c['sampler']:<9}{c['loss']:<8}"
                    + (f"batch {c['batch_size']:<7}" if vary else "")
                    + f"{logs['train_seconds']:8.3f}s")
            if fold is not None:
                start = time.perf_counter()
                protocol.evaluate(trainer.objective.model, fold)
                c["all_eval"].append(time.perf_counter() - start)
                line += f"  eval {c['all_eval'][-1]:.3f}s"
            echo(line)
    results = []
    for c in combos:
        c.pop("trainer")
        later = slice(1, None)
        c["seconds"] = statistics.median(c["all_seconds"][later])
        c["phases"] = {p: statistics.median(ph.get(p, 0.0) for ph in c["all_phases"][later])
                       for p in PHASES}
        c["eval_seconds"] = statistics.median(c["all_eval"][later]) if c["all_eval"] else None
        c["peak_mb"] = max(c["all_peak"][later])
        c["interactions_per_s"] = c["batches"] * c["batch_size"] / c["seconds"]
        c.pop("all_phases")
        results.append(c)
    for c in results:
        base = next(r for r in results if r["model"] == c["model"])
        c["ratio"] = c["seconds"] / base["seconds"]
    if peer == "pyg":
        spec = next((s for s in specs if s.model.name == "lightgcn"), None)
        if spec is None:
            raise option_error("peer", "pyg times PyG's LightGCN: include lightgcn in the models")
        results.append(pyg_peer(graph, spec, peer_batches, max_batches, echo))
        base = next(r for r in results if r["model"] == "lightgcn")
        results[-1]["ratio"] = results[-1]["seconds"] / base["seconds"]
    return results


def pyg_peer(graph: RecGraph, spec: RunSpec, batches: int, max_batches: Optional[int],
             echo: Callable[[str], None] = print) -> Dict:
    r"""PyG's ``torch_geometric.nn.models.LightGCN`` trained as PyG's
    ``examples/lightgcn.py`` does (homogeneous ``edge_index``, its
    ``recommendation_loss``, Adam) with the spec's size, batch and uniform
    negatives; ``batches`` steps timed after one warm-up step and
    extrapolated to an epoch (``extrapolated`` says from how many)."""
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    U, dev = graph.num_users, graph.device
    opts = spec.model.options
    torch.manual_seed(spec.trainer["seed"])
    model = PyGLightGCN(U + graph.num_items, opts["embedding_dim"], opts["num_layers"]).to(dev)
    ei = torch.cat([torch.stack([graph.user, graph.item + U]),
                    torch.stack([graph.item + U, graph.user])], 1)
    opt = torch.optim.Adam(model.parameters(), lr=spec.trainer["lr"])
    bs = spec.trainer["batch_size"]
    gen = torch.Generator(device=dev).manual_seed(0)
    per_epoch = -(-graph.num_edges // bs)
    if max_batches is not None:
        per_epoch = min(per_epoch, max_batches)
    times = []
    for step in range(batches + 1):
        idx = torch.randint(graph.num_edges, (bs,), generator=gen, device=dev)
        users, items = graph.user[idx], graph.item[idx]
        negs = graph.positives.sample_complement(users, 1, gen).squeeze(1)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        eli = torch.cat([torch.stack([users, items + U]), torch.stack([users, negs + U])], 1)
        pos, neg = model(ei, eli).chunk(2)
        loss = model.recommendation_loss(pos, neg, node_id=eli.unique(),
                                         lambda_reg=spec.objective["reg_weight"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if step:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times) * per_epoch
    echo(f"peer pyg-lightgcn  {statistics.median(times):.3f}s a batch, x {per_epoch} batches")
    return {"model": "lightgcn", "sampler": "rns", "loss": "bpr (PyG)", "peer": "pyg",
            "seconds": seconds, "all_seconds": times, "batches": per_epoch,
            "extrapolated": f"median of {batches} batches x {per_epoch}", "phases": None,
            "eval_seconds": None, "peak_mb": _peak_mb(dev),
            "interactions_per_s": bs / statistics.median(times)}


def format_bench(results: List[Dict]) -> str:
    """A text table of the timing results: seconds per epoch, ratio, the
    phases, evaluation, peak memory and throughput."""
    evals = any(r.get("eval_seconds") is not None for r in results)
    sizes = len({r.get("batch_size") for r in results}) > 1  # a column when it varies
    head = ["model", "sampler", "loss"] + (["batch"] if sizes else []) + ["s/epoch", "ratio"]
    head += [p[:5] for p in PHASES]
    head += (["eval s"] if evals else []) + ["peak MB", "inter/s"]
    rows = []
    for r in results:
        ph = r.get("phases") or {}
        row = [r["model"], r["sampler"], r["loss"]] + ([str(r.get("batch_size", "-"))]
                                                       if sizes else [])
        row += [f"{r['seconds']:.3f}", f"{r['ratio']:.2f}"]
        row += [f"{ph[p]:.3f}" if p in ph else "-" for p in PHASES]
        if evals:
            row.append("-" if r.get("eval_seconds") is None else f"{r['eval_seconds']:.3f}")
        row += [f"{r['peak_mb']:.0f}", f"{r['interactions_per_s']:.0f}"]
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths))) for r in [head] + rows]
    notes = [f"  {r['loss']}: extrapolated, {r['extrapolated']}" for r in results
             if r.get("extrapolated")]
    return "\n".join(lines + ["(phases: seconds per epoch; propagation includes the batch's "
                              "row gathers, backward the propagation's)"] + notes)


def check_bench(epochs: int, max_batches: Optional[int] = None, peer_batches: int = 5,
                output: Optional[str] = None) -> None:
    r"""Refuses impossible bench options before any data is read."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 2:
        raise option_error("epochs", f"must be >= 2 (the first round is a warm-up), got "
                                     f"{epochs}")
    for name, value in (("max_batches", max_batches), ("peer_batches", peer_batches)):
        if value is not None and value < 1:
            raise option_error(name, f"must be >= 1, got {value}")
    if output and not output.endswith((".json", ".csv")):
        raise option_error("output", f"{output!r} must end in .json or .csv")


def provenance(device: str, command: Optional[Sequence[str]] = None) -> Dict:
    r"""What made a result file: the command line, the commit (when run from
    a git checkout), the torch and gnnrec versions, the machine, the device."""
    import platform
    import subprocess
    import sys
    from importlib.metadata import PackageNotFoundError, version

    try:
        gnnrec_version = version("gnnrec")
    except PackageNotFoundError:
        gnnrec_version = None
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"command": list(command) if command is not None else list(sys.argv),
            "commit": commit, "gnnrec": gnnrec_version,
            "torch": torch.__version__, "python": platform.python_version(),
            "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                        "torch_threads": torch.get_num_threads(),
                        "gpu": torch.cuda.get_device_name(0)
                        if str(device).startswith("cuda") else None},
            "device": str(device)}


def write_bench(results: List[Dict], path: str, device: str,
                command: Optional[Sequence[str]] = None) -> None:
    r"""``.json`` (everything, with its :func:`provenance`) or ``.csv`` (one
    row per combination, phases as columns), written atomically."""
    from gnnrec.outputs import atomic_write_text

    if path.endswith(".json"):
        atomic_write_text(path, json.dumps({"device": device, **provenance(device, command),
                                            "results": results}, indent=2))
    elif path.endswith(".csv"):
        buf = io.StringIO()
        cols = ["model", "sampler", "loss", "seconds", "ratio"] + list(PHASES) + [
            "eval_seconds", "peak_mb", "interactions_per_s", "batches", "extrapolated"]
        w = csv.writer(buf)
        w.writerow(cols)
        for r in results:
            ph = r.get("phases") or {}
            w.writerow([ph.get(c, "") if c in PHASES else r.get(c, "") for c in cols])
        atomic_write_text(path, buf.getvalue())
    else:
        raise GnnrecError(f"{path}: --output must end in .json or .csv")
