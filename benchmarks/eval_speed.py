"""Full-ranking evaluation: gnnrec's evaluator against the straightforward
version, in one run, on the same embeddings.

    python benchmarks/eval_speed.py --data ../shared/data/gowalla --rounds 3 \
        --out benchmarks/results/eval_speed_cpu.json

The straightforward version (below) is what most recommender code does: for
each batch of users (2**24 scores at a time), dense scores, mask each user's
training items found anew, ``torch.topk``, look the top items up in the whole
test set. gnnrec's evaluator precomputes the batches' masks and targets once
per split (they do not change between epochs), keeps a CPU batch's scores in
cache, and looks hits up in the batch's own targets. Both rank all items for
every test user, with the training items masked; the metrics must be equal.
Times are the median of ``--rounds`` evaluations (after a first one that
builds gnnrec's plan, reported separately); peak memory is the increase of
the process's resident set during one evaluation (Linux).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from gnnrec.bench import provenance
from gnnrec.data import load_dataset
from gnnrec.metrics import EvalProtocol, dot_scores


def straightforward(user_emb, item_emb, target, exclude, k=20, max_scores=2 ** 24):
    """Per-batch dense scores, masking, top-k, membership in the whole set."""
    n = item_emb.size(0)
    users = torch.nonzero(target.degree > 0).flatten()
    batch = max(1, max_scores // n)
    recall = ndcg = 0.0
    disc = 1.0 / torch.log2(torch.arange(2, k + 2, dtype=torch.float32))
    for start in range(0, len(users), batch):
        u = users[start:start + batch]
        scores = user_emb[u] @ item_emb.t()
        for ex in exclude:
            row, item = ex.items_of(u)
            scores[row, item] = -torch.inf
        top = torch.topk(scores, k, dim=1).indices
        hits = target.contains(u.unsqueeze(1), top).float()
        n_rel = target.degree[u]
        recall += float((hits.sum(1) / n_rel).sum())
        ideal = torch.cumsum(disc, 0)[(n_rel.clamp(max=k) - 1).long()]
        ndcg += float(((hits * disc).sum(1) / ideal).sum())
    return {"recall@20": recall / len(users), "ndcg@20": ndcg / len(users),
            "users": len(users)}


def hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(fn):
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = hwm_mb()
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start, hwm_mb() - before


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "gowalla"))
    p.add_argument("--rounds", type=int, default=3, help="timed evaluations of each version")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--out", default=None, help="results JSON")
    args = p.parse_args(argv)
    ds = load_dataset(path=args.data, val_frac=0)
    protocol = EvalProtocol.from_dataset(ds, "cpu", ks=[20])
    torch.manual_seed(0)
    user = torch.randn(ds.num_users, args.dim) * 0.1
    item = torch.randn(ds.num_items, args.dim) * 0.1
    fn = dot_scores(user, item)
    target, exclude = protocol.sets["test"], protocol.masked("test")
    first, first_s, _ = measure(lambda: protocol.evaluate(fn, "test"))  # builds the plan
    rows = {"gnnrec": [], "straightforward": []}
    got = {}
    for _ in range(args.rounds):  # interleaved, so a busy machine slows both alike
        got["gnnrec"], s, m = measure(lambda: protocol.evaluate(fn, "test"))
        rows["gnnrec"].append((s, m))
        got["straightforward"], s, m = measure(
            lambda: straightforward(user, item, target, exclude))
        rows["straightforward"].append((s, m))
    summary = {name: {"seconds": statistics.median(s for s, _ in r),
                      "peak_extra_mb": max(m for _, m in r),
                      "recall@20": got[name]["recall@20"], "ndcg@20": got[name]["ndcg@20"],
                      "users": got[name]["users"]} for name, r in rows.items()}
    summary["gnnrec"]["first_with_plan_seconds"] = first_s
    ratio = summary["gnnrec"]["seconds"] / summary["straightforward"]["seconds"]
    same = all(abs(summary["gnnrec"][k] - summary["straightforward"][k]) < 1e-9
               for k in ("recall@20", "ndcg@20"))
    info = {**provenance("cpu"), "machine": platform.node(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": sys.version.split()[0],
            "users": ds.num_users, "items": ds.num_items, "args": vars(args)}
    report = {"info": info, "summary": summary, "ratio": ratio, "same_metrics": same}
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
