"""The contract every registered sampler meets, on every encoder."""
import pytest
import torch

from gnnrec.errors import GnnrecError
from gnnrec.losses import BPR
from gnnrec.nn import MODELS, NGCF
from gnnrec.registry import resolve
from gnnrec.sampling import SAMPLERS
from gnnrec.train.objective import Objective
from tests.conftest import random_graph

ENCODER_OPTIONS = {"mf": {"embedding_dim": 8}, "lightgcn": {"embedding_dim": 8, "num_layers": 2},
                   "ngcf": {"embedding_dim": 8, "layer_sizes": [8, 8], "mess_dropout": 0.0}}
#: extra option sets per sampler (beyond the defaults)
VARIANTS = {"rns": [{"num_negatives": 4}], "pns": [{"power": 1.0, "num_negatives": 3},
                                                   {"max_rounds": 0}],
            "dns": [{"num_candidates": 4, "top": 2}, {"num_negatives": 2}],
            "mixgcf": [{"num_candidates": 4, "num_negatives": 3}],
            "pdns": [{"mix": 0.5, "num_negatives": 2}],
            "ahns": [{"p": -1.0, "num_candidates": 8}, {"num_negatives": 2}]}
CASES = [(name, {}) for name in SAMPLERS] + [
    (name, opts) for name, many in VARIANTS.items() for opts in many]
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in o.items()) or 'default'}" for n, o in CASES]


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


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
@pytest.mark.parametrize("model", list(MODELS))
def test_shape_and_gradient_on_every_encoder(name, options, model):
    g, enc, sampler, users, items = setup(name, options, model)
    out = enc.encode(g)
    neg = sampler(users, items, out, torch.Generator().manual_seed(0))
    k = sampler.num_negatives
    want = (len(users), out.pooled.size(1)) if k == 1 else (len(users), k, out.pooled.size(1))
    assert neg.emb.shape == want
    assert neg.ego.shape[:-1] == want[:-1] and neg.ego.size(-1) == enc.embedding_dim
    if neg.items is not None:
        assert neg.items.shape == want[:-1]
    assert neg.hardness.shape == want[:-1]
    neg.emb.sum().backward()
    assert enc.embedding.weight.grad is not None


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_never_a_training_positive(name, options):
    g, enc, sampler, users, items = setup(name, options)
    out = enc.encode(g)
    for seed in range(5):
        neg = sampler(users, items, out, torch.Generator().manual_seed(seed))
        if neg.items is not None:
            u = users.view(-1, *([1] * (neg.items.dim() - 1)))
            assert not g.positives.contains(u, neg.items).any()


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_deterministic_under_seed(name, options):
    g, enc, sampler, users, items = setup(name, options)
    out = enc.encode(g)
    a = sampler(users, items, out, torch.Generator().manual_seed(7))
    b = sampler(users, items, out, torch.Generator().manual_seed(7))
    assert torch.equal(a.emb, b.emb)
    if a.items is not None:
        assert torch.equal(a.items, b.items)


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_trains_one_step_in_an_objective(name):
    g, enc, _, users, items = setup(name, {})
    obj = Objective(enc, SAMPLERS[name](), BPR()).bind(g)
    loss, stats = obj(g, users, items, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and "hardness" in stats


def test_unbound_sampler_says_so():
    g, enc, _, users, items = setup("rns", {})
    with pytest.raises(RuntimeError, match="not bound"):
        SAMPLERS["rns"]()(users, items, enc.encode(g))


@pytest.mark.parametrize("name,options,needle", [
    ("dns", {"num_candidates": 0}, "num_candidates must be >= 1, got 0"),
    ("dns", {"num_candidates": 4, "top": 5}, "top must be in [1, 4], got 5"),
    ("pdns", {"mix": 1.5}, "mix must be in [0.0, 1.0], got 1.5"),
    ("ahns", {"p": 0.0}, "p must be < 0, got 0.0"),
    ("ahns", {"alpha": -1.0}, "alpha must be > 0"),
    ("mixgcf", {"num_candidates": 0}, "num_candidates must be >= 1"),
    ("pns", {"power": -1.0}, "power must be >= 0"),
])
def test_bad_options_name_the_option_and_range(name, options, needle):
    with pytest.raises(GnnrecError) as e:
        resolve(SAMPLERS, name, what="sampler", **options)
    assert needle in str(e.value)


def test_layer_sampler_with_an_encoder_without_layers_fails_early():
    enc = NGCF(3, 4, embedding_dim=8, layer_sizes=[16, 4])
    with pytest.raises(GnnrecError, match="MixGCF mixes per-layer embeddings"):
        Objective(enc, SAMPLERS["mixgcf"](), BPR())


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("loss,loss_options", [("bpr", {}), ("softbpr", {"beta": 0.3}),
                                               ("ssm", {"in_batch": False})])
@pytest.mark.parametrize("k", [1, 3])
def test_every_sampler_with_every_explicit_negative_loss(name, loss, loss_options, k):
    from gnnrec.losses import LOSSES

    g, enc, _, users, items = setup(name, {})
    obj = Objective(enc, SAMPLERS[name](num_negatives=k), LOSSES[loss](**loss_options)).bind(g)
    value, _ = obj(g, users, items, torch.Generator().manual_seed(0))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(enc.embedding.weight.grad).all()
