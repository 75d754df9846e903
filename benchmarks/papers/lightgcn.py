"""LightGCN (He et al., SIGIR 2020, https://arxiv.org/abs/2002.02126) on its
own protocol: the dataset's train/test files (Gowalla, Yelp2018,
Amazon-Book in the authors' split), Recall@20 / NDCG@20 over all items,
LightGCN against MF, both with BPR and uniform negatives.

    python benchmarks/papers/lightgcn.py ../shared/data/gowalla --label "Gowalla" \
        --out benchmarks/results/papers/lightgcn-gowalla

The protocol is ``gnnrec train --protocol lightgcn``: the authors' PyTorch
code's values (dim 64, 3 layers, lr 1e-3, L2 1e-4, batch 2048, user-first
sampling). The paper has no validation split and reports test; the preset
carves 10% of each user's training items for selection, so every model here
trains on 90% of the paper's training data. The authors' figure is after
1000 epochs; the budget used here is stated under the table.
"""
import sys

from common import ms, parser, per_epoch, report, rst, run_all

METHODS = {
    "LightGCN (3 layers)": {},
    "MF": {"model": "mf"},
}
#: the LightGCN authors' README table (gusye1234/LightGCN-PyTorch), copied by
#: hand: Gowalla, 3 layers, 1000 epochs: (Recall@20, NDCG@20)
PAPER = {"Gowalla": {"LightGCN (3 layers)": (0.1824, 0.1547)}}
KEYS = ("recall@20", "ndcg@20")


def main(argv=None):
    args = parser(__doc__, epochs=1000, eval_every=20, patience=5).parse_args(argv)
    results = run_all("lightgcn", args, METHODS)
    rows = [[name] + [ms([r["test"][k] for r in runs]) for k in KEYS]
            + [ms([r["best_epoch"] for r in runs], digits=0),
               per_epoch(runs, 1)]
            for name, runs in results.items()]
    ours = rst(["model", "Recall@20", "NDCG@20", "best epoch", "s/epoch"], rows)
    paper = rst(["dataset", "model", "Recall@20", "NDCG@20"],
                [[d, m, f"{v[0]:.4f}", f"{v[1]:.4f}"] for d in PAPER for m, v in PAPER[d].items()])
    report(args, "lightgcn", f"LightGCN protocol, {args.label or args.data} (test at the best "
           "validation Recall@20, mean ± std over seeds)", ours, results,
           "The authors' figure, for comparison:", paper)


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
