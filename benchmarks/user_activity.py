"""Where two checkpoints' test Recall@20 comes from, by user activity
(issue 19): each user's Recall@20 and NDCG@20 on the test split, averaged
within four groups of users by training degree (quartiles of the users,
lightest first), for each checkpoint on the data it was trained on.

    python benchmarks/user_activity.py RUN/best.pt [RUN/best.pt ...] --out results.json

Recall@20 is a mean over users, so every user weighs the same in it; one
pass over the training interactions (``--batching edges``) gives each user
updates in proportion to its degree, the LightGCN authors' sampling
(``--batching users``) the same number to every user. This measures which
users a change of sampling helps.
"""
import argparse
import json
import os
import sys

import torch

from gnnrec.bench import provenance
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.model import RecModel

GROUPS = 4


def measure(path: str, fold: str = "test") -> dict:
    model = RecModel.load(path, map_location="cpu")
    dataset = load_dataset(DataSpec.recorded(model.meta), echo=lambda *a, **k: None)
    model.check_dataset(dataset)
    protocol = EvalProtocol.from_dataset(dataset, "cpu", ks=[20])
    with torch.no_grad():
        out = protocol.evaluate(model.ranker(), fold, per_user=True)
    per_user = out["per_user"]
    users = per_user["user"]
    degree = model.graph.user_degree[users].double()
    order = torch.argsort(degree, stable=True)
    group = torch.empty_like(order)
    group[order] = torch.arange(len(order)) * GROUPS // len(order)
    rows = []
    for g in range(GROUPS):
        keep = group == g
        rows.append({"group": g, "users": int(keep.sum()),
                     "degree_min": int(degree[keep].min()), "degree_max": int(degree[keep].max()),
                     **{name: float(v[keep].double().mean()) for name, v in per_user.items()
                        if name != "user"}})
    return {"epoch": model.meta.get("epoch"), "spec": model.meta.get("spec", {}).get("trainer"),
            "overall": {k: v for k, v in out.items() if k != "per_user"}, "groups": rows}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+", help="checkpoints (best.pt of a run folder)")
    p.add_argument("--on", default="test", choices=["test", "val"])
    p.add_argument("--out", default=None, help="JSON file for the figures")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    runs = {}
    for path in args.checkpoints:
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        runs[name] = row = measure(path, args.on)
        print(f"{name} (epoch {row['epoch']}): {args.on} Recall@20 "
              f"{row['overall']['recall@20']:.4f}")
        for g in row["groups"]:
            print(f"  users of degree {g['degree_min']:>4}-{g['degree_max']:<5} "
                  f"({g['users']:>5}): Recall@20 {g['recall@20']:.4f}  NDCG@20 {g['ndcg@20']:.4f}")
    if args.out:
        with open(args.out, "w") as f:
            command = ["benchmarks/user_activity.py", *(sys.argv[1:] if argv is None else argv)]
            json.dump({**provenance("cpu", command), "on": args.on, "runs": runs}, f, indent=2)


if __name__ == "__main__":
    main()
