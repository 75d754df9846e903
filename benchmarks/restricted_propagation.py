"""Batch-restricted last layer against the full propagation, in one run, on
the same batches (issue 13's "below the floor" measurement).

    python benchmarks/restricted_propagation.py --data ../shared/data/gowalla \
        --rounds 7 --steps 20 --out benchmarks/results/restricted_propagation_cpu.json

A LightGCN loss reads the pooled embeddings only at the batch's rows (its
users, positives and negatives), so the last layer's product is needed only
there and the backward starts from a gradient that is zero elsewhere.
``full``: :func:`gnnrec.nn.propagation.propagate`, then the rows, forward
and backward. ``restricted``: :func:`gnnrec.nn.propagation.propagate_rows`
(the row slice of the adjacency built per batch, counted), forward and
backward. Batches as RNS draws them: 2048 training interactions at random and
one uniform negative each (DNS-family samplers score 16-32 candidates per row,
which touches most items: ``--candidates`` shows that case). Median seconds
of ``--rounds`` rounds, the two paths interleaved; the gradients are checked
equal.
"""
import argparse
import json
import os
import platform
import statistics
import time

import torch

from gnnrec.bench import provenance
from gnnrec.data import RecGraph, load_dataset
from gnnrec.nn.propagation import propagate, propagate_rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a LightGCN-format folder")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--candidates", type=int, default=1,
                   help="uniform negatives per row whose pooled rows are read")
    p.add_argument("--steps", type=int, default=0,
                   help="also time this many whole training steps (LightGCN, Adam) "
                        "with Objective(restrict=True) against restrict=False, interleaved, "
                        "for BPR + RNS and in-batch SSM")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(path=args.data, val_frac=0)
    graph = RecGraph.from_dataset(ds)
    adj = graph.adjacency("csr")
    U, n = graph.num_users, graph.num_users + graph.num_items
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(n, args.dim, generator=gen) * 0.1
    alpha = [1 / (args.layers + 1)] * (args.layers + 1)

    def batch_rows():
        e = torch.randint(0, graph.num_edges, (args.batch,), generator=gen)
        neg = torch.randint(0, graph.num_items, (args.batch * args.candidates,), generator=gen)
        return torch.unique(torch.cat([graph.user[e], U + graph.item[e], U + neg]))

    def full(rows, w):
        x = x0.clone().requires_grad_()
        pooled, _ = propagate(adj, x, args.layers, alpha)
        (pooled[rows] * w).sum().backward()
        return x.grad

    def restricted(rows, w):
        x = x0.clone().requires_grad_()
        (propagate_rows(adj, x, args.layers, alpha, rows) * w).sum().backward()
        return x.grad

    def timed(fn, rows, w):
        t = time.perf_counter()
        grad = fn(rows, w)
        return time.perf_counter() - t, grad

    rows = batch_rows()
    w = torch.randn(rows.numel(), args.dim, generator=gen)
    g_full, g_rest = full(rows, w), restricted(rows, w)  # warm-up, and the check
    max_diff = float((g_full - g_rest).abs().max())
    times = {"full": [], "restricted": [], "slice": []}
    sizes = []
    for _ in range(args.rounds):
        rows = batch_rows()
        w = torch.randn(rows.numel(), args.dim, generator=gen)
        sizes.append(rows.numel())
        for name, fn in (("full", full), ("restricted", restricted)):
            times[name].append(timed(fn, rows, w)[0])
        t = time.perf_counter()
        adj.row_slice(rows)
        times["slice"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    steps = time_steps(graph, args) if args.steps else {}
    out = {**provenance("cpu"), "machine": platform.node(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "data": args.data,
           "nodes": n, "edges": graph.num_edges, "batch": args.batch,
           "candidates": args.candidates, "layers": args.layers, "dim": args.dim,
           "rows_median": statistics.median(sizes), "seconds": med,
           "ratio": med["restricted"] / med["full"], "max_grad_diff": max_diff,
           "rounds": times, "steps": steps}
    print(f"{n} nodes, {graph.num_edges} edges; a batch reads {out['rows_median']:.0f} rows "
          f"({args.candidates} negative(s) per row); forward+backward, median of "
          f"{args.rounds}: full {med['full'] * 1e3:.1f} ms, restricted "
          f"{med['restricted'] * 1e3:.1f} ms (of which the row slice "
          f"{med['slice'] * 1e3:.1f} ms): {out['ratio']:.2f}x; "
          f"max gradient difference {max_diff:.1e}")
    for name, r in steps.items():
        print(f"training step, {name}: full {r['full'] * 1e3:.1f} ms, restricted "
              f"{r['restricted'] * 1e3:.1f} ms: {r['ratio']:.2f}x (median of {args.steps})")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


def time_steps(graph, args):
    """Median seconds of a whole step (forward, backward, Adam) with the
    objective's restricted path on and off, the two interleaved."""
    from gnnrec.losses import BPR, SSM
    from gnnrec.nn import LightGCN
    from gnnrec.sampling import RNS
    from gnnrec.train.objective import Objective

    out = {}
    for name, make in (("bpr+rns", lambda: (RNS(), BPR())),
                       ("ssm in-batch", lambda: (None, SSM()))):
        objs = []
        for restrict in (False, True):
            torch.manual_seed(0)
            enc = LightGCN(graph.num_users, graph.num_items, args.dim, args.layers)
            sampler, loss = make()
            obj = Objective(enc, sampler, loss, restrict=restrict).bind(graph)
            objs.append((obj, torch.optim.Adam(obj.parameters(), lr=1e-3)))
        gen = torch.Generator().manual_seed(1)
        times = ([], [])
        for i in range(args.steps + 1):
            e = torch.randint(0, graph.num_edges, (args.batch,), generator=gen)
            for k, (obj, opt) in enumerate(objs):
                t = time.perf_counter()
                value, _ = obj(graph, graph.user[e], graph.item[e],
                               torch.Generator().manual_seed(i))
                opt.zero_grad()
                value.backward()
                opt.step()
                if i:  # the first step warms up
                    times[k].append(time.perf_counter() - t)
        full, rows = statistics.median(times[0]), statistics.median(times[1])
        out[name] = {"full": full, "restricted": rows, "ratio": rows / full}
    return out


if __name__ == "__main__":
    main()
