r"""What DCL's :math:`\omega^+` does to a trained model: the share of batch
rows whose debiased negative score sits at its clamp (HDCCF Eq. 16, where
the row's negatives get no gradient) and the positives' mean cosine per
popularity third of the positive item.

    python benchmarks/dcl_clamp.py RUN [RUN ...] --omega 0.05 \
        --out benchmarks/results/dense/dcl_clamp_g30.json

For each run folder (``best.pt``, or ``--checkpoint last.pt``),
``--batches`` batches of 2048 training pairs are drawn as training draws
them and scored with the trained model under :class:`~gnnrec.losses.DCL` at
``--omega`` (its other options at their defaults, its scorer the model's).
The head / mid / tail thirds split the training
interactions in three, most popular items first (as the evaluation's
item groups do).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

import gnnrec
import gnnrec.losses.hdccf as hdccf
from gnnrec.bench import provenance
from gnnrec.losses import DCL
from gnnrec.model import scorer_name


def thirds(degree):
    order = degree.double().argsort(descending=True)
    cum = degree.double()[order].cumsum(0) / degree.sum()
    group = torch.zeros(len(degree), dtype=torch.long)
    group[order[cum > 1 / 3]] = 1
    group[order[cum > 2 / 3]] = 2
    return group


def measure(run, omega, batches, batch_size=2048, checkpoint="best.pt"):
    clamped = []
    debiased = hdccf.debiased_from_lse

    def spy(lse, count, pos, omega, q, tau, margin=1e-6):  # records which rows hit the clamp
        out = debiased(lse, count, pos, omega, q, tau, margin)
        clamped.append(out <= math.log(q) - 1.0 / tau + 1e-6)
        return out

    model = gnnrec.load(os.path.join(run, checkpoint))
    model.eval()
    graph = model.graph
    group = thirds(graph.item_degree)
    loss = DCL(omega=omega)
    loss.bind(graph)
    if loss.scorer_name != scorer_name(model.scorer):  # a derived scorer: the model's
        loss.use_scorer(model)
    gen = torch.Generator().manual_seed(0)
    groups, cosines = [], []
    hdccf.debiased_from_lse = spy
    try:
        with torch.no_grad():
            out = model.encode()
            for _ in range(batches):
                e = torch.randint(0, graph.num_edges, (batch_size,), generator=gen)
                u, i = graph.user[e], graph.item[e]
                user, pos = out.user_rows(u), out.item_rows(i)
                loss(user, pos, users=u, items=i, out=out, graph=graph, generator=gen)
                groups.append(group[i])
                cosines.append(F.cosine_similarity(user, pos))
    finally:
        hdccf.debiased_from_lse = debiased
    c, g, cos = torch.cat(clamped).float(), torch.cat(groups), torch.cat(cosines)
    names = ("head", "mid", "tail")
    return {"run": run, "checkpoint": checkpoint, "omega": omega, "clamped": float(c.mean()),
            "clamped_by_third": {n: float(c[g == k].mean()) for k, n in enumerate(names)},
            "positive_cosine_by_third": {n: float(cos[g == k].mean())
                                         for k, n in enumerate(names)}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders with best.pt")
    p.add_argument("--omega", type=float, default=DCL().omega_item)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--checkpoint", default="best.pt",
                   help="which of each run's checkpoints (last.pt: where training stopped)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        r = measure(run, args.omega, args.batches, checkpoint=args.checkpoint)
        rows.append(r)
        cos = r["positive_cosine_by_third"]
        print(f"{run} ({args.checkpoint}): rows clamped at omega {args.omega}: "
              f"{r['clamped']:.3f}; positives' cosine head {cos['head']:.2f} "
              f"mid {cos['mid']:.2f} tail {cos['tail']:.2f}",
              flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({**provenance("cpu", [sys.argv[0], *(argv or sys.argv[1:])]), "rows": rows},
                  f, indent=1)


if __name__ == "__main__":
    main()
