"""Where a trained model's test hits come from, and how much of its scores
is one shared popularity order (issue 22: why LightGCN's cosine in-batch
losses lose on the dense synthetic set).

    python benchmarks/score_anatomy.py RUN [RUN ...] --out results.json

For each run folder (a ``dense.py`` run: its ``config.json`` names the
data and split, ``best.pt`` is the best validation epoch), with each user's
training items left out of the ranking:

* validation and test Recall@20 ranked by the model's scorer, and also by
  the dot product and by the cosine of the same embeddings (does the norm
  carry what the scorer drops?);
* test Recall@20 restricted to the test items of each popularity third
  (head, middle, tail by training degree): which items the model finds;
* ``shared``: the share of the variance of the users' standardised scores
  that the item's mean over users explains (1 is one order of items for
  every user, popularity or otherwise; 0 is nothing shared), and the
  Spearman correlation of that mean with the item's training degree.

It scores every user against every item at once (users x items floats, a
few MB on the dense sets of section 6); it is not meant for full Gowalla.
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F

from gnnrec.bench import provenance
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.model import RecModel
from norm_degree import spearman


def recall(scores: torch.Tensor, seen: torch.Tensor, held: torch.Tensor, k: int = 20,
           items=None) -> float:
    """Mean over users with a held-out item (in ``items``, if given) of the
    share of them in the top ``k`` (out of at most ``k``)."""
    s = scores.double().masked_fill(seen, float("-inf"))
    top = s.topk(k, 1).indices
    target = held if items is None else held & items
    n = target.sum(1).double()
    has = n > 0
    hits = target.gather(1, top).sum(1).double()
    return float((hits[has] / n[has].clamp(max=k)).mean())


def fold_mask(dataset, fold: str) -> torch.Tensor:
    e = dataset.edges(fold)
    m = torch.zeros(dataset.num_users, dataset.num_items, dtype=torch.bool)
    m[e[0], e[1]] = True
    return m


def measure(folder: str) -> dict:
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    data = {k: v for k, v in config["data"].items() if k in DataSpec.__dataclass_fields__}
    dataset = load_dataset(DataSpec(**data))
    model = RecModel.load(os.path.join(folder, "best.pt"))
    seen, val, test = (fold_mask(dataset, f) for f in ("train", "val", "test"))
    user, item = model.embeddings()
    own = model.score_all(torch.arange(dataset.num_users))
    dot = user @ item.t()
    cos = F.normalize(user, dim=-1) @ F.normalize(item, dim=-1).t()
    degree = seen.sum(0).double()
    third = degree.argsort(descending=True).argsort() * 3 // dataset.num_items  # 0 = head
    z = own.double().masked_fill(seen, float("nan"))
    mean = torch.nanmean(z, 1, keepdim=True)
    z = ((z - mean) / torch.nanmean((z - mean) ** 2, 1, keepdim=True).sqrt())
    keep = ~seen
    item_mean = torch.where(keep, z, torch.zeros_like(z)).sum(0) / keep.sum(0).clamp(min=1)
    total = torch.where(keep, z, torch.zeros_like(z)).pow(2).sum()
    resid = torch.where(keep, z - item_mean, torch.zeros_like(z)).pow(2).sum()
    return {"model": config["model"]["name"], "loss": config["loss"],
            "sampler": config.get("sampler"),
            "val_recall@20": {"own": recall(own, seen, val), "dot": recall(dot, seen, val),
                              "cosine": recall(cos, seen, val)},
            "test_recall@20": {"own": recall(own, seen, test), "dot": recall(dot, seen, test),
                               "cosine": recall(cos, seen, test)},
            "test_recall@20_by_third": [recall(own, seen, test, items=(third == t))
                                        for t in range(3)],
            "shared": float(1 - resid / total),
            "shared_vs_degree": spearman(item_mean, degree)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="dense.py run folders with a best.pt")
    p.add_argument("--out", default=None, help="JSON file for the figures")
    args = p.parse_args(argv)
    rows = {}
    for folder in args.runs:
        name = os.path.basename(folder.rstrip("/"))
        rows[name] = r = measure(folder)
        v, t = r["val_recall@20"], r["test_recall@20"]
        print(f"{name:26s} val/test R@20 own {v['own']:.4f}/{t['own']:.4f}  dot "
              f"{v['dot']:.4f}/{t['dot']:.4f}  cosine {v['cosine']:.4f}/{t['cosine']:.4f}  "
              f"test by third {'/'.join(f'{x:.3f}' for x in r['test_recall@20_by_third'])}  "
              f"shared {r['shared']:.3f} (Spearman with degree {r['shared_vs_degree']:+.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**provenance("cpu"), "runs": rows}, f, indent=2)


if __name__ == "__main__":
    main()
