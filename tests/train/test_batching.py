"""What each batching guarantees about the (user, positive) pairs of an epoch."""
import torch

from gnnrec.data.graph import RecGraph
from gnnrec.train.batching import EdgeBatches, UserUniformBatches
from tests.conftest import random_graph


def skewed_graph():
    r"""Users 0-1 with 1 item each, user 2 with 8, user 3 with none."""
    user = torch.tensor([0, 1] + [2] * 8)
    item = torch.tensor([0, 1] + list(range(2, 10)))
    return RecGraph(user, item, 4, 10)


def epoch(batches, seed):
    pairs = list(batches(torch.Generator().manual_seed(seed)))
    return torch.cat([u for u, _ in pairs]), torch.cat([i for _, i in pairs]), pairs


def test_edges_visit_every_interaction_once():
    g = random_graph(20, 30, 0.3, seed=1)
    u, i, pairs = epoch(EdgeBatches(g, 16), 0)
    assert len(pairs) == len(EdgeBatches(g, 16))
    got = sorted(zip(u.tolist(), i.tolist()))
    assert got == sorted(zip(g.user.tolist(), g.item.tolist()))


def test_users_draw_training_pairs_in_batches_of_the_epoch_length():
    g = random_graph(20, 30, 0.3, seed=1)
    batches = UserUniformBatches(g, 16)
    u, i, pairs = epoch(batches, 0)
    assert len(pairs) == len(batches) == -(-g.num_edges // 16)
    assert len(u) == g.num_edges and all(len(b[0]) <= 16 for b in pairs)
    train = set(zip(g.user.tolist(), g.item.tolist()))
    assert set(zip(u.tolist(), i.tolist())) <= train


def test_users_are_equally_likely_whatever_their_degree():
    # one pass over the interactions would give user 2 eight times user 0's
    # draws; the authors' sampling gives every user with items the same share
    g = skewed_graph()
    users = torch.cat([epoch(UserUniformBatches(g, 4), s)[0] for s in range(5000)])
    share = torch.bincount(users, minlength=4).double() / len(users)
    assert share[3] == 0  # no items: never drawn
    assert torch.allclose(share[:3], torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)


def test_a_users_items_are_equally_likely():
    g = skewed_graph()
    u, i = map(torch.cat, zip(*[epoch(UserUniformBatches(g, 4), s)[:2] for s in range(5000)]))
    items = i[u == 2]
    share = torch.bincount(items, minlength=10)[2:].double() / len(items)
    assert torch.allclose(share, torch.full((8,), 1 / 8, dtype=torch.float64), atol=0.015)


def test_the_same_generator_state_gives_the_same_epoch():
    g = random_graph(20, 30, 0.3, seed=1)
    for cls in (EdgeBatches, UserUniformBatches):
        a, b = epoch(cls(g, 16), 7), epoch(cls(g, 16), 7)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
