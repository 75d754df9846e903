"""What the non-finite-loss guard costs a training epoch: a host read of the
loss after every step against one read an epoch (``NonFiniteLoss(defer=)``),
and against no guard, in one process, the three interleaved.

    python benchmarks/guard_sync.py --data ../shared/data/gowalla --device cuda \
        --rounds 5 --batches 200 --out benchmarks/results/guard_sync_gpu.json

Every ``gnnrec train`` run carries the guard (``gnnrec bench`` times the
trainer without it). Reading a CUDA loss on the host makes the CPU wait for
the step's kernels before it may queue the next step's, so a per-step read
turns an overlapped pipeline into a serial one; one read an epoch does not.
On the CPU a read costs nothing (the guard reads per step there by default).
For each of ``--methods`` (LightGCN at the authors' settings): median seconds
per step over ``--rounds`` rounds of ``--batches`` steps (the first round a
warm-up), and each guard's ratio to no guard.
"""
import argparse
import json
import statistics

import torch

from gnnrec.bench import provenance
from gnnrec.data import RecGraph, load_dataset
from gnnrec.spec import Component, RunSpec
from gnnrec.train.callbacks import NonFiniteLoss

GUARDS = {"none": lambda: [], "per-step": lambda: [NonFiniteLoss(defer=False)],
          "per-epoch": lambda: [NonFiniteLoss(defer=True)]}


def spec_for(method: str) -> RunSpec:
    sampler, loss = method.split(":")
    return RunSpec(model=Component("lightgcn", {"embedding_dim": 64}), layers=3,
                   sampler=None if sampler == "-" else Component(sampler),
                   loss=Component(loss),
                   trainer={"epochs": 1000, "batch_size": 2048, "lr": 1e-3, "seed": 0}
                   ).validate()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a LightGCN-format folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--methods", default="rns:bpr,dns:bpr",
                   help="SAMPLER:LOSS pairs, '-' for an in-batch loss (default: rns:bpr,dns:bpr)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batches", type=int, default=100, help="steps per round")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON file for the results")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    graph = RecGraph.from_dataset(load_dataset(path=args.data, val_frac=0)).to(device)
    results = []
    for method in args.methods.split(","):
        spec = spec_for(method)
        trainers = {}
        for name, guards in GUARDS.items():
            objective = spec.build(graph.num_users, graph.num_items, device)
            trainers[name] = spec.trainer_for(objective, graph, guards())
        per_step = {name: [] for name in GUARDS}
        for r in range(args.rounds):
            for name, trainer in trainers.items():
                logs = trainer.train_epoch(r + 1, max_batches=args.batches)
                per_step[name].append(logs["train_seconds"] / logs["batches"])
        med = {name: statistics.median(v[1:]) for name, v in per_step.items()}
        row = {"method": method, "ms_per_step": {k: round(v * 1e3, 3) for k, v in med.items()},
               "ratio_to_none": {k: round(v / med["none"], 3) for k, v in med.items()},
               "all_ms": {k: [round(x * 1e3, 3) for x in v] for k, v in per_step.items()}}
        cells = [f"{k} {row['ms_per_step'][k]:.2f} ms ({row['ratio_to_none'][k]:.3f}x)"
                 for k in GUARDS]
        print(f"{method:<10} " + "  ".join(cells))
        results.append(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"provenance": provenance(args.device), "rounds": args.rounds,
                       "batches": args.batches, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
