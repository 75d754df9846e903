"""The least an HDCCF step can cost against BPR + RNS (issue 22, done-when
3): HDCCF's arithmetic alone, next to the two real steps, in one run.

    python benchmarks/hdccf_floor.py big.csv \
        --out benchmarks/results/dense/hdccf_floor_dense25k.json

HDCCF contrasts every row of a batch of ``B`` with the ``P B`` sampled
neighbours of the batch four times (negative items, negative users, and the
user-user and item-item losses, Eq. 1-2, 5, 17), each a ``B x PB`` score
matrix that a softmax reads whole: per step four ``(B, D) @ (D, PB)``
products forward and eight backward, and four ``B x PB`` exponentials. This
times exactly that work (the fused masked log-sum-exp gnnrec trains with, on
random factors, with a third of the entries excluded), with none of the
draws, exclusions or propagation, and reports

    floor = (BPR step + the four products) / BPR step,

the ratio HDCCF could reach if everything else it does were free, beside
the ratios ``gnnrec bench`` measures for HDCCF and BPR + RNS on the same
graph in the same run (LightGCN, batch 2048, five batches an epoch, the
median of five rounds after a warm-up).
"""
import argparse
import json
import statistics
import sys
import time

import torch

from gnnrec.bench import bench, provenance
from gnnrec.data.graph import RecGraph
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.losses.inbatch import masked_lse_mm
from gnnrec.spec import Component, RunSpec


def products_seconds(batch: int, per_row: int, dim: int, rounds: int = 5) -> float:
    r"""Median seconds of HDCCF's four fused masked log-sum-exp products,
    forward and backward, at one step's shapes."""
    gen = torch.Generator().manual_seed(0)
    a = [torch.randn(batch, dim, generator=gen).requires_grad_() for _ in range(4)]
    b = [torch.randn(per_row * batch, dim, generator=gen).requires_grad_() for _ in range(4)]
    excluded = (torch.rand(batch, per_row * batch, generator=gen) < 1 / 3).float()
    times = []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        sum(masked_lse_mm(x, y, excluded).sum() for x, y in zip(a, b)).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--max-batches", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    graph = RecGraph.from_dataset(load_dataset(DataSpec(path=args.data)))
    specs = [RunSpec(model=Component("lightgcn"), sampler=Component("rns"),
                     loss=Component("bpr"), trainer={"batch_size": args.batch_size}).validate(),
             RunSpec(model=Component("lightgcn"), loss=Component("hdccf"),
                     trainer={"batch_size": args.batch_size}).validate()]
    results = bench(graph, specs, epochs=6, max_batches=args.max_batches)
    bpr, hdccf = (r["seconds"] / r["batches"] for r in results)
    objective = specs[1].build(graph.num_users, graph.num_items)  # the defaults' shapes
    per_row, dim = objective.loss.P, objective.model.encoder.out_dim
    floor = products_seconds(args.batch_size, per_row, dim)
    out = {**provenance("cpu", [sys.argv[0], *(argv or sys.argv[1:])]),
           "data": args.data, "batch_size": args.batch_size, "num_neighbors": per_row,
           "dim": dim,
           "seconds_per_batch": {"bpr_rns": bpr, "hdccf": hdccf, "hdccf_products": floor},
           "ratio": {"hdccf": hdccf / bpr, "floor": (bpr + floor) / bpr}}
    print(f"per batch: BPR + RNS {bpr:.3f} s, HDCCF {hdccf:.3f} s ({hdccf / bpr:.2f}x); "
          f"HDCCF's four products alone {floor:.3f} s: floor {(bpr + floor) / bpr:.2f}x")
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
