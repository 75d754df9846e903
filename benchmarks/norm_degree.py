"""How much of item popularity an encoder's embeddings carry in their norm
(issue 22): for each run folder, the Spearman correlation of the items'
pooled-embedding norms (and of their ego-embedding norms) with their
training degree, at the best validation epoch (``best.pt``).

    python benchmarks/norm_degree.py RUN [RUN ...] --out results.json

A cosine scorer discards the norm; where the norm carries popularity
(LightGCN's propagation scales a node's layers with its degree) the cosine
model must carry popularity in the directions instead.
"""
import argparse
import json
import os

import torch

from gnnrec.bench import provenance
from gnnrec.model import RecModel


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = (x.argsort().argsort().double() for x in (a, b))
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def measure(folder: str) -> dict:
    model = RecModel.load(os.path.join(folder, "best.pt"))
    with torch.no_grad():
        out = model.encode()
    degree = model.graph.item_degree.double()
    ego = out.layers[0][out.num_users:]
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return {"model": config["model"]["name"], "loss": config["loss"],
            "sampler": config.get("sampler"),
            "pooled_norm_vs_degree": spearman(out.item.norm(dim=1), degree),
            "ego_norm_vs_degree": spearman(ego.norm(dim=1), degree)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders with a best.pt")
    p.add_argument("--out", default=None, help="JSON file for the figures")
    args = p.parse_args(argv)
    rows = {}
    for folder in args.runs:
        rows[os.path.basename(folder.rstrip("/"))] = row = measure(folder)
        print(f"{os.path.basename(folder.rstrip('/')):24s} Spearman(|pooled item|, degree) "
              f"{row['pooled_norm_vs_degree']:+.3f}   Spearman(|ego item|, degree) "
              f"{row['ego_norm_vs_degree']:+.3f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**provenance("cpu"), "runs": rows}, f, indent=2)


if __name__ == "__main__":
    main()
