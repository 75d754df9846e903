"""The in-sample Recall@k of the most-popular ranking (gnnrec.data.mostpop)."""
import numpy as np
import pytest
import torch

from gnnrec.data.graph import RecGraph
from gnnrec.data.mostpop import most_popular_recall


def distinct_degree_graph(num_users=30, num_items=25, seed=0):
    """Item j has j + 1 users, drawn at random: no ties in popularity."""
    rng = np.random.default_rng(seed)
    pairs = [(u, j) for j in range(num_items)
             for u in rng.choice(num_users, j + 1, replace=False)]
    u, i = map(np.array, zip(*pairs))
    return RecGraph(torch.as_tensor(u), torch.as_tensor(i), num_users, num_items)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_most_popular_recall_equals_a_per_user_reference(k):
    g = distinct_degree_graph()
    degree = torch.bincount(g.item, minlength=g.num_items).tolist()
    top = set(sorted(range(g.num_items), key=lambda j: -degree[j])[:k])
    shares = []
    for u in range(g.num_users):
        items = set(g.item[g.user == u].tolist())
        if items:
            shares.append(len(items & top) / min(len(items), k))
    assert most_popular_recall(g, k) == pytest.approx(float(np.mean(shares)), rel=1e-12)


def test_popularity_alone_ranks_everything_or_nothing():
    # every user holds exactly the 3 most popular items: each list is all popular
    u = torch.arange(10).repeat_interleave(3)
    g = RecGraph(u, torch.tensor([0, 1, 2] * 10), 10, 8)
    assert most_popular_recall(g, 3) == 1.0
    # the top 2 items belong to users 0-4 only; users 5-9 hold none of them
    u = torch.tensor([0, 1, 2, 3, 4] * 2 + [5, 6, 7, 8, 9])
    i = torch.tensor([0] * 5 + [1] * 5 + [2, 3, 4, 5, 6])
    g = RecGraph(u, i, 10, 7)
    assert most_popular_recall(g, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="k must be"):
        most_popular_recall(g, 0)
