"""The rewritten losses give the same values and gradients as the previous
implementation (frozen in ``hdccf_v1.py`` and ``popdcl_v1.py``) on random
batches."""
import pytest
import torch

from gnnrec.losses import DCL, HDCCF, PopDCL
from gnnrec.model import RecModel
from gnnrec.nn import LightGCN
from tests.conftest import random_graph
from tests.losses import hdccf_v1, popdcl_v1

CASES = [{}, {"debias": False}, {"scorer": "dot", "omega_item": 0.2, "omega_user": 0.1},
         {"num_neighbors": 3, "lambda_u": 0.5, "lambda_i": 0.0},
         {"user_negatives": False, "lambda_u": 0.0, "lambda_i": 0.3},
         {"scorer": "modulated", "num_neighbors": 1}]


def run(cls, options, seed, graph_seed, new_api):
    g = random_graph(25, 30, 0.25, seed=graph_seed)
    torch.manual_seed(seed)
    model = RecModel(LightGCN(25, 30, embedding_dim=6, num_layers=2),
                     options.get("scorer", "cosine"), graph=g)
    if new_api and cls in (HDCCF, DCL):  # the old defaults
        options = {"tau": 0.1, "logq": False, **options}
        if cls is HDCCF:
            options = {"user_negatives": True, "omega_item": 0.05, "omega_user": 0.05,
                       "lambda_u": 0.1, "lambda_i": 0.1, **options}
    if new_api and cls is PopDCL:
        options = {"logq": False, "negative_correction": True, **options}
    loss = cls(**options)
    if new_api:
        loss.attach(model)
    else:  # the old contract: the loss owned its scorer; share the model's for the same weights
        object.__setattr__(loss, "scorer", model.scorer)
    loss.bind(g)
    out = model.encode()
    gen = torch.Generator().manual_seed(seed)
    users = torch.randint(25, (40,), generator=gen)
    row, item = g.positives.items_of(users)
    first = torch.searchsorted(row, torch.arange(len(users)))
    items = item[first]
    value = loss(out.user[users], out.item[items], users=users, items=items, out=out, graph=g,
                 generator=torch.Generator().manual_seed(seed + 1))
    value.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    return value.detach(), grads


@pytest.mark.parametrize("options", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hdccf_matches_the_previous_implementation(options, seed):
    new, new_grads = run(HDCCF, options, seed, seed + 10, True)
    old, old_grads = run(hdccf_v1.HDCCF, options, seed, seed + 10, False)
    assert torch.allclose(new, old, rtol=1e-5, atol=1e-6), (float(new), float(old))
    for a, b in zip(new_grads, old_grads):  # float32 rounding of sums of thousands of terms
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("seed", [0, 1])
def test_dcl_matches_the_previous_implementation(seed):
    new, new_grads = run(DCL, {"omega": 0.1}, seed, seed, True)
    old, old_grads = run(hdccf_v1.DCL, {"omega": 0.1}, seed, seed, False)
    assert torch.allclose(new, old, rtol=1e-5, atol=1e-6)
    for a, b in zip(new_grads, old_grads):  # float32 rounding of sums of thousands of terms
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize("tau", [0.02, 0.1, 0.5, 2.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_popdcl_matches_the_previous_implementation(tau, seed):
    # tau 2.0 leaves Eq. 9 positive almost everywhere, 0.1 clamps many terms,
    # 0.02 runs in float64 (e^{-2/tau} is below float32's range)
    new, new_grads = run(PopDCL, {"tau": tau}, seed, seed + 20, True)
    old, old_grads = run(popdcl_v1.PopDCL, {"tau": tau}, seed, seed + 20, False)
    assert torch.allclose(new, old, rtol=1e-5, atol=1e-6), (float(new), float(old))
    for a, b in zip(new_grads, old_grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))
