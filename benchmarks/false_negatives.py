"""How often a hard sampler's pick is a *false negative*: an item the user
interacts with later (their validation or test items), against uniform
draws, under a trained model.

    python benchmarks/false_negatives.py RUN [RUN ...] --batches 20 \
        --out benchmarks/results/false_negatives.json

For each run folder (``best.pt`` and ``config.json``), the run's data and
split are loaded again, the trained model scores candidates as in
training, and for ``--batches`` batches of training pairs DNS with ``-H``
candidates and RNS each pick one negative per pair. Reported: the share of
picks that are one of the user's held-out items (validation or test), for
DNS and for RNS, and their ratio. RNS's share is the base rate (the user's
held-out items over their non-training items); a ratio far above 1 means
the hard sampler mostly pushes down items the user will interact with,
which is the failure hard negatives risk and what the PDNS / AHNS papers
argue about.
"""
import argparse
import json
import os

import torch

import gnnrec
from gnnrec.data import load_dataset
from gnnrec.metrics import split_sets
from gnnrec.sampling import DNS, RNS
from gnnrec.spec import RunSpec


def measure(run, batches, candidates, batch_size=2048):
    with open(os.path.join(run, "config.json")) as f:
        spec = RunSpec.from_dict(json.load(f))
    ds = load_dataset(spec.data)
    sets = split_sets(ds, "cpu")
    model = gnnrec.load(os.path.join(run, "best.pt"))
    model.eval()
    graph = model.graph
    with torch.no_grad():
        out = model.encode()
    gen = torch.Generator().manual_seed(0)
    picks = {"dns": DNS(num_candidates=candidates).bind(graph), "rns": RNS().bind(graph)}
    hits = {name: 0 for name in picks}
    total = 0
    with torch.no_grad():
        for _ in range(batches):
            e = torch.randint(0, graph.num_edges, (batch_size,), generator=gen)
            users, items = graph.user[e], graph.item[e]
            for name, sampler in picks.items():
                neg = sampler(users, items, out, gen).items
                held = torch.zeros(len(users), dtype=torch.bool)
                for fold in ("val", "test"):
                    if fold in sets:
                        held |= sets[fold].contains(users, neg)
                hits[name] += int(held.sum())
            total += len(users)
    share = {name: hits[name] / total for name in picks}
    return {"run": run, "model": spec.model.name, "sampler_trained": spec.sampler.name
            if spec.sampler else None, "split": spec.data.split, "pairs": total,
            "candidates": candidates, "share_dns": share["dns"], "share_rns": share["rns"],
            "ratio": share["dns"] / max(share["rns"], 1e-12)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders with best.pt and config.json")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("-H", "--candidates", type=int, default=32)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    rows = []
    for run in args.runs:
        rows.append(measure(run, args.batches, args.candidates))
        r = rows[-1]
        print(f"{run}: {r['model']} trained with {r['sampler_trained']}, {r['split']} split: "
              f"held-out share of picks DNS(H={r['candidates']}) {r['share_dns']:.4f}, "
              f"RNS {r['share_rns']:.4f}, ratio {r['ratio']:.1f}", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
