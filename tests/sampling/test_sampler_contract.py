"""The contract every registered sampler meets, on every encoder."""
import pytest
import torch

from gnnrec.nn import MODELS
from gnnrec.sampling import SAMPLERS
from tests.conftest import random_graph

ENCODER_OPTIONS = {"mf": {"embedding_dim": 8}, "lightgcn": {"embedding_dim": 8, "num_layers": 2},
                   "ngcf": {"embedding_dim": 8, "layer_sizes": [8, 8], "mess_dropout": 0.0}}
#: extra option sets per sampler (beyond the defaults)
VARIANTS = {"rns": [{"num_negatives": 4}]}
CASES = [(name, {}) for name in SAMPLERS] + [
    (name, opts) for name, many in VARIANTS.items() for opts in many]


def setup(sampler_name, options, model="lightgcn", seed=0):
    g = random_graph(num_users=6, num_items=9, density=0.85, seed=3)  # most items positive
    torch.manual_seed(seed)
    enc = MODELS[model](g.num_users, g.num_items, **ENCODER_OPTIONS[model])
    sampler = SAMPLERS[sampler_name](**options).bind(g)
    users = torch.arange(g.num_users).repeat_interleave(30)
    pos_row, pos_item = g.positives.items_of(users)
    first = torch.zeros(len(users), dtype=torch.long)
    first.scatter_reduce_(0, pos_row, torch.arange(len(pos_row)), "amin", include_self=False)
    items = pos_item[first]
    return g, enc, sampler, users, items


@pytest.mark.parametrize("name,options", CASES)
@pytest.mark.parametrize("model", list(MODELS))
def test_shape_and_gradient_on_every_encoder(name, options, model):
    g, enc, sampler, users, items = setup(name, options, model)
    out = enc.encode(g)
    neg = sampler(users, items, out, torch.Generator().manual_seed(0))
    k = sampler.num_negatives
    want = (len(users), out.pooled.size(1)) if k == 1 else (len(users), k, out.pooled.size(1))
    assert neg.emb.shape == want
    assert neg.ego.shape[:-1] == want[:-1] and neg.ego.size(-1) == enc.embedding_dim
    neg.emb.sum().backward()
    assert enc.embedding.weight.grad is not None


@pytest.mark.parametrize("name,options", CASES)
def test_never_a_training_positive(name, options):
    g, enc, sampler, users, items = setup(name, options)
    out = enc.encode(g)
    for seed in range(5):
        neg = sampler(users, items, out, torch.Generator().manual_seed(seed))
        if neg.items is not None:
            u = users.view(-1, *([1] * (neg.items.dim() - 1)))
            assert not g.positives.contains(u, neg.items).any()


@pytest.mark.parametrize("name,options", CASES)
def test_deterministic_under_seed(name, options):
    g, enc, sampler, users, items = setup(name, options)
    out = enc.encode(g)
    a = sampler(users, items, out, torch.Generator().manual_seed(7))
    b = sampler(users, items, out, torch.Generator().manual_seed(7))
    assert torch.equal(a.emb, b.emb)
    if a.items is not None:
        assert torch.equal(a.items, b.items)


def test_unbound_sampler_says_so():
    g, enc, _, users, items = setup("rns", {})
    with pytest.raises(RuntimeError, match="not bound"):
        SAMPLERS["rns"]()(users, items, enc.encode(g))
