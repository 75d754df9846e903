"""Rebuilds this sample from the LightGCN Gowalla split (not used at run time).

    python data/gowalla-sample/make_sample.py ../shared/data/gowalla data/gowalla-sample

Keeps the 2,000 most popular items, 3,000 users drawn at random (seed 0) among
users with at least 10 interactions, takes the 10-core of what remains (users
and items with >= 10 interactions over train + test), drops users left with no
training item, and writes train.txt / test.txt in the LightGCN format with the
original Gowalla split of every interaction kept and the original (LightGCN
remap) user and item ids, so ids are not contiguous: gnnrec renumbers them and
speaks the original ids in its output.
"""
import sys

import numpy as np

from gnnrec.data.filters import k_core
from gnnrec.data.interactions import Interactions
from gnnrec.data.readers import read_lightgcn


def main(src: str, dst: str, n_items: int = 2000, n_users: int = 3000, seed: int = 0):
    tr = read_lightgcn(f"{src}/train.txt")
    te = read_lightgcn(f"{src}/test.txt")
    user = np.concatenate([tr["user"], te["user"]])
    item = np.concatenate([tr["item"], te["item"]])
    fold = np.concatenate([np.zeros(len(tr["user"]), np.int8),
                           np.full(len(te["user"]), 2, np.int8)])
    top = np.argsort(-np.bincount(item), kind="stable")[:n_items]
    keep = np.isin(item, top)
    user, item, fold = user[keep], item[keep], fold[keep]
    cand = np.flatnonzero(np.bincount(user) >= 10)
    chosen = np.random.default_rng(seed).choice(cand, size=n_users, replace=False)
    keep = np.isin(user, chosen)
    inter = Interactions.from_raw(user[keep], item[keep], fold=fold[keep])
    while True:
        inter = k_core(inter, 10)
        has_train = np.bincount(inter.user[inter.fold == 0], minlength=inter.num_users) > 0
        if has_train.all():
            break
        inter = inter.take(has_train[inter.user]).compact()
    for name, code in (("train.txt", 0), ("test.txt", 2)):
        mask = inter.fold == code
        with open(f"{dst}/{name}", "w") as f:
            for u in range(inter.num_users):
                items = np.sort(inter.item[mask & (inter.user == u)])
                if len(items) or code == 0:
                    ids = [inter.users[u], *inter.items[items].tolist()]
                    f.write(" ".join(map(str, ids)) + "\n")
    print(f"users {inter.num_users} items {inter.num_items} interactions {len(inter)} "
          f"train {np.sum(inter.fold == 0)} test {np.sum(inter.fold == 2)}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
