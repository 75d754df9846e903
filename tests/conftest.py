import os
import warnings

import numpy as np
import pytest
import torch

from gnnrec.data.graph import RecGraph

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")


def random_graph(num_users=7, num_items=11, density=0.3, seed=0, min_items=1) -> RecGraph:
    r"""A small random bipartite graph where every user has >= min_items
    items and at least one non-item."""
    rng = np.random.default_rng(seed)
    mask = rng.random((num_users, num_items)) < density
    for u in range(num_users):
        if mask[u].sum() < min_items:
            mask[u, rng.choice(num_items, min_items, replace=False)] = True
        if mask[u].all():
            mask[u, rng.integers(num_items)] = False
    u, i = np.nonzero(mask)
    return RecGraph(torch.as_tensor(u), torch.as_tensor(i), num_users, num_items)


def dense_reference(g):
    n = g.num_users + g.num_items
    a = torch.zeros(n, n)
    a[g.user, g.item + g.num_users] = 1
    a[g.item + g.num_users, g.user] = 1
    d = a.sum(1)
    dinv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return dinv[:, None] * a * dinv[None, :]


@pytest.fixture
def graph():
    return random_graph()


@pytest.fixture
def dense_graph():
    """Most items are positives of every user (exclusion is stressed)."""
    return random_graph(num_users=6, num_items=9, density=0.85, seed=3)


def write_lightgcn_files(folder, train: dict, test: dict = None):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "train.txt"), "w") as f:
        for u, items in train.items():
            f.write(" ".join(map(str, [u, *items])) + "\n")
    if test is not None:
        with open(os.path.join(folder, "test.txt"), "w") as f:
            for u, items in test.items():
                f.write(" ".join(map(str, [u, *items])) + "\n")
    return folder


def tiny_lightgcn_dataset(folder, num_users=40, num_items=30, per_user=8, seed=0):
    """A small LightGCN folder: each user has per_user train and 2 test items."""
    rng = np.random.default_rng(seed)
    train, test = {}, {}
    for u in range(num_users):
        items = rng.choice(num_items, per_user + 2, replace=False).tolist()
        train[u], test[u] = items[:per_user], items[per_user:]
    return write_lightgcn_files(folder, train, test)


@pytest.fixture
def tiny_dataset_dir(tmp_path):
    return tiny_lightgcn_dataset(str(tmp_path / "tiny"))
