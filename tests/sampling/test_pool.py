"""The derived candidate pool (gnnrec.sampling.pool): its rate against a
simulation of the draws it describes, its choice, and the samplers that
use it."""
import pytest
import torch

from gnnrec.data.graph import RecGraph
from gnnrec.data.synthetic import synthesize
from gnnrec.sampling import AHNS, DNS, PDNS, MixGCF
from gnnrec.data.density import MAX_OWN_RATE, own_pick_rate, pool_size
from tests.conftest import random_graph


def skewed_graph(users=300, items=300, interactions=4000, seed=3):
    d = synthesize(users, items, interactions, seed=seed)
    pairs = torch.unique(torch.stack([torch.as_tensor(d["user"]), torch.as_tensor(d["item"])]),
                         dim=1)
    return RecGraph(pairs[0], pairs[1], users, items)


def simulated_rate(g, m, draws=200_000, seed=0):
    """Draw a training edge, then m uniform items; is the most popular one
    (ties: the higher id) among the edge's user's items?"""
    gen = torch.Generator().manual_seed(seed)
    degree = torch.bincount(g.item, minlength=g.num_items).double()
    key = degree * (g.num_items + 1) + torch.arange(g.num_items)  # popularity, then id
    own = torch.zeros(g.num_users, g.num_items, dtype=torch.bool)
    own[g.user, g.item] = True
    users = g.user[torch.randint(g.num_edges, (draws,), generator=gen)]
    cand = torch.randint(g.num_items, (draws, m), generator=gen)
    top = cand.gather(1, key[cand].argmax(1, keepdim=True)).squeeze(1)
    return own[users, top].double().mean().item()


@pytest.mark.parametrize("m", [1, 2, 5, 16])
def test_the_rate_is_what_drawing_the_candidates_gives(m):
    g = skewed_graph()
    assert float(own_pick_rate(g, [m])[0]) == pytest.approx(simulated_rate(g, m), abs=0.004)


def test_one_uniform_pick_is_a_users_item_at_the_degree_weighted_density():
    g = random_graph(50, 80, 0.2, seed=4)
    deg = torch.bincount(g.user, minlength=g.num_users).double()
    want = (deg ** 2).sum() / (g.num_items * g.num_edges)
    assert float(own_pick_rate(g, [1])[0]) == pytest.approx(float(want), rel=1e-9)


def test_the_pool_is_the_largest_within_the_rate():
    g = skewed_graph()
    m = pool_size(g, 64)
    rates = own_pick_rate(g, [m, m + 1])
    assert 1 <= m < 64 and rates[0] <= MAX_OWN_RATE < rates[1]
    assert pool_size(g, 64, max_rate=0.0) == 1  # even one pick exceeds it
    sparse = random_graph(400, 4000, 0.002, seed=1)
    assert pool_size(sparse, 16) == 16  # sparse data keeps the cap


@pytest.mark.parametrize("cls, cap", [(DNS, 16), (MixGCF, 16), (PDNS, 16), (AHNS, 32)])
def test_samplers_derive_their_pool_on_dense_data_only(cls, cap):
    dense, sparse = skewed_graph(), random_graph(400, 4000, 0.002, seed=1)
    s = cls().bind(dense)
    assert s.num_candidates == pool_size(dense, cap) < cap
    note, = s.advice(dense)
    assert f"{s.num_candidates} candidates, not {cap}" in note and "num_candidates" in note
    assert cls().bind(sparse).num_candidates == cap
    assert "the cap" in cls().bind(sparse).advice(sparse)[0]
    fixed = cls(num_candidates=7).bind(dense)
    assert fixed.num_candidates == 7 and fixed.advice(dense) == []


def test_dns_top_n_keeps_a_pool_of_at_least_n():
    dense = skewed_graph()
    assert pool_size(dense, 16) < 8
    assert DNS(top=8).bind(dense).num_candidates == 8
    with pytest.raises(ValueError, match="top"):
        DNS(num_candidates=4, top=8)
