"""How far a held-out file leans to popular items, against a random carve
of the training file (issue 19's evidence for why validation and the given
Gowalla test file disagree).

    python benchmarks/split_lean.py --out benchmarks/results/gowalla/split_lean.json

For the validation carve that every ``gowalla.py`` row selects on (10% of
each user's training items at random, seed 0) and for the given test file:
the most-popular baseline's Recall@20 / NDCG@20 (items ranked by the
carved training file's degree, each user's other known items masked, as
every run is evaluated), and the share of the held-out interactions that
fall on the 20 / 100 / 1000 most popular items and on the head, mid and
tail items (each a third of the training interactions, the groups of every
test report). A random carve is drawn
like the training file, so a held-out file that MostPop scores higher, or
whose interactions sit more on the head, rewards a preference for popular
items that selecting on the carve does not.
"""
import argparse
import json
import os

import torch

from gnnrec.bench import provenance
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.metrics.groups import GROUP_NAMES, popularity_groups
from gnnrec.metrics.protocol import EvalProtocol, split_sets

HERE = os.path.dirname(os.path.abspath(__file__))


def group_shares(item_degree: torch.Tensor, items: torch.Tensor) -> dict:
    r"""Share of ``items`` (one per held-out interaction) in each popularity
    group of every test report (:func:`~gnnrec.metrics.groups.popularity_groups`)."""
    counts = torch.bincount(popularity_groups(item_degree)[items], minlength=3).double()
    return dict(zip(GROUP_NAMES, (round(float(c), 4) for c in counts / len(items))))


def top_shares(item_degree: torch.Tensor, items: torch.Tensor, tops=(20, 100, 1000)) -> dict:
    r"""Share of ``items`` among the ``top`` items of highest training degree."""
    rank = torch.empty_like(item_degree)
    rank[torch.argsort(item_degree, descending=True, stable=True)] = torch.arange(len(rank))
    return {f"top{t}": round(float((rank[items] < t).double().mean()), 4) for t in tops}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data", "gowalla"))
    p.add_argument("--val-frac", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0, help="the carve's seed (gowalla.py: 0)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    dataset = load_dataset(DataSpec(path=args.data, split="given", val_frac=args.val_frac,
                                    seed=args.seed))
    protocol = EvalProtocol(split_sets(dataset, "cpu"), ks=[20])
    out = {"data": os.path.abspath(args.data), "val_frac": args.val_frac, "seed": args.seed,
           "provenance": provenance("cpu")}
    for fold in ("val", "test"):
        pop = protocol.baseline(fold)
        out[fold] = {"interactions": int(dataset.edges(fold).shape[1]),
                     "mostpop_recall@20": round(pop["recall@20"], 4),
                     "mostpop_ndcg@20": round(pop["ndcg@20"], 4),
                     "groups": group_shares(protocol.item_degree, dataset.edges(fold)[1]),
                     "top_shares": top_shares(protocol.item_degree, dataset.edges(fold)[1])}
        print(fold, json.dumps(out[fold]))
    ratio = out["test"]["mostpop_recall@20"] / out["val"]["mostpop_recall@20"]
    out["mostpop_recall_test_over_val"] = round(ratio, 2)
    print(f"MostPop Recall@20, test file / random carve: {ratio:.2f}x")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
