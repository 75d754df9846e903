"""How close an exported FAISS index comes to exact top-k, and how fast it
answers (README "Exports", docs/scaling.rst).

    gnnrec train --dataset ../shared/data/gowalla --out runs/gowalla --epochs 20
    python benchmarks/faiss_index.py runs/gowalla/best.pt \
        --out benchmarks/results/faiss_gowalla.json

Exports the model's items as a flat (exact) index and two HNSW indexes, over
the inner-product-to-L2 reduction and by inner product directly (``gnnrec
export --format faiss --index-type flat|hnsw|hnsw-ip``), then for ``--users`` random users
compares each index's top-k (training items left out, as ``gnnrec
recommend`` does) with the model's exact top-k (:meth:`RecModel.recommend`,
the peer): the recall of the index (share of the exact top-k it returns)
and the seconds per user, for all users in one call and one user a call,
at several HNSW ``efSearch`` values (export uses 128).
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch

from gnnrec.bench import provenance


def timed(fn, users, batch):
    start = time.perf_counter()
    out = []
    for i in range(0, len(users), batch):
        out.extend(fn(users[i:i + batch])[0])
    return out, (time.perf_counter() - start) / len(users)


def recall(got, want):
    return float(np.mean([len(np.intersect1d(g, w)) / max(len(w), 1)
                          for g, w in zip(got, want)]))


def main(argv=None):
    from gnnrec.model import RecModel
    from gnnrec.serving import IndexRecommender, export_faiss

    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--out", default=None)
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--single", type=int, default=200, help="users queried one at a time")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ef", default="16,32,64,128,256")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)
    model = RecModel.load(args.checkpoint)
    rng = np.random.default_rng(0)
    users = model.users.original[rng.choice(len(model.users), min(args.users, len(model.users)),
                                            replace=False)].tolist()
    one = users[:args.single]
    exact, exact_s = timed(lambda u: model.recommend(u, args.k), users, 1024)
    _, exact_one_s = timed(lambda u: model.recommend(u, args.k), one, 1)
    rows = [{"index": "model (torch, exact)", "recall": 1.0, "seconds_per_user_batched": exact_s,
             "seconds_per_user_single": exact_one_s}]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("flat", "hnsw", "hnsw-ip"):
            path = os.path.join(tmp, f"{kind}.faiss")
            start = time.perf_counter()
            export_faiss(model, path, kind)
            build_s = time.perf_counter() - start
            rec = IndexRecommender(path)
            for ef in (args.ef.split(",") if kind != "flat" else [None]):
                if ef is not None:
                    rec.index.hnsw.efSearch = int(ef)
                got, batched = timed(lambda u: rec.recommend(u, args.k), users, 1024)
                _, single = timed(lambda u: rec.recommend(u, args.k), one, 1)
                rows.append({"index": kind if ef is None else f"{kind} efSearch={ef}",
                             "recall": recall(got, exact), "seconds_per_user_batched": batched,
                             "seconds_per_user_single": single, "export_seconds": build_s,
                             "bytes": os.path.getsize(path)})
                print(json.dumps(rows[-1]), flush=True)
    info = {"users": len(model.users), "items": model.num_items, "k": args.k,
            "queried": len(users), "checkpoint": args.checkpoint}
    print(json.dumps(rows[0]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**provenance("cpu"), "machine": platform.node(),
                       "python": sys.version.split()[0],
                       "faiss": faiss.__version__, "model": info, "rows": rows,
                       "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
