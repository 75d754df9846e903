"""HDCCF's modulated scorer (Eq. 7-8) on one in-batch step: Eq. 7-8 written
with the concatenation ``g([e_i || e_u || e_i * e_u])`` (the literal form,
what ``Modulated.pair`` computed before) against ``Modulated`` now (the first
layer split per input, the user and item terms once each), forward and
backward of the ``(B, P B)`` score matrix HDCCF's loss asks for, alternated
over rounds on the same inputs.

    python benchmarks/modulated_scorer.py --batch 256 --dim 64 --rounds 5 \
        --out benchmarks/results/modulated_scorer.json
"""
import argparse
import json
import time

import torch

from gnnrec.bench import provenance
from gnnrec.nn.scorers import Modulated


def literal(scorer, u, v):
    u, v = torch.broadcast_tensors(u.unsqueeze(1), v.unsqueeze(0))
    m = torch.sigmoid(scorer.g(torch.cat([v, u, v * u], dim=-1)))
    return ((m * u) * (m * v)).sum(-1)


def step(fn, scorer, u, v, weight):
    start = time.perf_counter()
    out = fn(scorer, u, v)
    (out * weight).sum().backward()
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--neighbours", type=int, default=2, help="HDCCF's P: P B items a row")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    scorer = Modulated(args.dim)
    u = torch.randn(args.batch, args.dim, requires_grad=True)
    v = torch.randn(args.neighbours * args.batch, args.dim, requires_grad=True)
    weight = torch.randn(args.batch, args.neighbours * args.batch)
    with torch.no_grad():
        gap = float((literal(scorer, u, v) - scorer.matrix(u, v)).abs().max())
    forms = {"literal (concatenation)": literal, "Modulated now": lambda s, a, b: s.matrix(a, b)}
    times = {k: [] for k in forms}
    for r in range(args.rounds + 1):
        for name, fn in forms.items():
            t = step(fn, scorer, u, v, weight)
            if r:  # the first round warms up
                times[name].append(t)
    med = {k: sorted(t)[len(t) // 2] for k, t in times.items()}
    base = med["literal (concatenation)"]
    for name, t in med.items():
        print(f"{name:26s} {t * 1000:8.1f} ms  {t / base:5.2f}x")
    print(f"largest score difference: {gap:.2e}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**provenance("cpu"), "args": vars(args), "median_seconds": med,
                       "ratio": {k: t / base for k, t in med.items()},
                       "rounds": times, "max_abs_difference": gap}, f, indent=2)


if __name__ == "__main__":
    main()
