"""The objective's restricted step (the last layer propagated only to the
batch's rows) against the full one: the same loss, statistics and gradients
for every loss, with every sampler that reads no embeddings, on a graph
with isolated items, users repeated in a batch, and several negatives."""
import pytest
import torch

from gnnrec.losses import LOSSES
from gnnrec.nn import LightGCN
from gnnrec.nn.base import PartialOutput
from gnnrec.registry import resolve
from gnnrec.sampling import SAMPLERS
from gnnrec.train.objective import Objective
from tests.nn.test_propagation import _power_law_graph

NUM_USERS, NUM_ITEMS = 60, 90


def cases():
    for loss in LOSSES:
        if LOSSES[loss].negatives == "in_batch":
            yield loss, {}, None, {}
    yield "hdccf", {"num_neighbors": 3, "scorer": "modulated"}, None, {}
    for sampler in ("rns", "pns", "dns"):
        for K in (1, 3):
            yield "bpr", {}, sampler, {"num_negatives": K}
    yield "ssm", {"in_batch": False}, "rns", {"num_negatives": 8}
    yield "softbpr", {}, "rns", {}


def step(loss_name, loss_opts, sampler_name, sampler_opts, restrict, spy):
    g = _power_law_graph(NUM_USERS, NUM_ITEMS, 700, seed=4)
    torch.manual_seed(0)
    enc = LightGCN(NUM_USERS, NUM_ITEMS, embedding_dim=8, num_layers=3)
    loss = resolve(LOSSES, loss_name, what="loss", **loss_opts)
    sampler = (None if sampler_name is None
               else resolve(SAMPLERS, sampler_name, what="sampler", **sampler_opts))
    obj = Objective(enc, sampler, loss, restrict=restrict).bind(g)
    encode_rows = obj.model.encode_rows

    def spied(*args, **kwargs):
        out = encode_rows(*args, **kwargs)
        spy.append(isinstance(out, PartialOutput))
        return out

    obj.model.encode_rows = spied
    gen = torch.Generator().manual_seed(3)
    edges = torch.randint(0, g.num_edges, (48,), generator=gen)
    users, items = g.user[edges], g.item[edges]
    value, stats = obj(g, users, items, torch.Generator().manual_seed(5))
    value.backward()
    return value, stats, enc.embedding.weight.grad


@pytest.mark.parametrize("loss_name,loss_opts,sampler_name,sampler_opts", list(cases()))
def test_restricted_step_equals_the_full_step(loss_name, loss_opts, sampler_name,
                                              sampler_opts):
    spy_full, spy_rows = [], []
    v0, s0, g0 = step(loss_name, loss_opts, sampler_name, sampler_opts, False, spy_full)
    v1, s1, g1 = step(loss_name, loss_opts, sampler_name, sampler_opts, True, spy_rows)
    assert spy_full == []  # restrict=False never takes the restricted path
    blind = sampler_name in (None, "rns", "pns")
    assert spy_rows == ([True] if blind else [])
    assert torch.allclose(v1, v0, rtol=1e-5, atol=1e-6)
    assert s1.keys() == s0.keys()
    for key in s0:
        assert torch.allclose(s1[key], s0[key], rtol=1e-4, atol=1e-6, equal_nan=True), key
    assert torch.allclose(g1, g0, rtol=1e-4, atol=1e-7)
    assert g0.abs().sum() > 0
