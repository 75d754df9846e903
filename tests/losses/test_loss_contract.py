"""The contract every registered loss meets, through the objective."""
import pytest
import torch

from gnnrec.errors import GnnrecError
from gnnrec.losses import LOSSES
from gnnrec.nn import MF
from gnnrec.registry import resolve
from gnnrec.sampling import RNS
from gnnrec.train.objective import Objective
from tests.conftest import random_graph

VARIANTS = {"ssm": [{"in_batch": False}, {"tau": 0.5, "scorer": "dot"}],
            "hdccf": [{"debias": False}, {"num_neighbors": 3, "lambda_u": 0.0}],
            "bpr": [{"scorer": "modulated"}], "softbpr": [{"beta": 1.0}]}
CASES = [(n, {}) for n in LOSSES] + [(n, o) for n, many in VARIANTS.items() for o in many]
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in o.items()) or 'default'}" for n, o in CASES]


def objective(name, options, scale=1.0, seed=0, K=1):
    g = random_graph(12, 20, 0.3, seed=seed)
    torch.manual_seed(seed)
    enc = MF(12, 20, embedding_dim=6)
    with torch.no_grad():
        enc.embedding.weight.mul_(scale)
    loss = resolve(LOSSES, name, what="loss", **options)
    sampler = RNS(num_negatives=K) if loss.negatives == "sampler" else None
    obj = Objective(enc, sampler, loss).bind(g)
    users = torch.arange(12).repeat(2)
    row, item = g.positives.items_of(users)
    items = item[torch.searchsorted(row, torch.arange(len(users)))]
    return g, obj, users, items


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
@pytest.mark.parametrize("K", [1, 3])
def test_scalar_finite_with_gradients(name, options, K):
    g, obj, users, items = objective(name, options, K=K)
    loss, stats = obj(g, users, items, torch.Generator().manual_seed(0))
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grad = obj.encoder.embedding.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
@pytest.mark.parametrize("scale", [30.0, -30.0])
def test_finite_with_extreme_scores(name, options, scale):
    # embeddings scaled so inner products reach hundreds (far beyond +-50 / tau)
    g, obj, users, items = objective(name, options, scale=scale)
    loss, _ = obj(g, users, items, torch.Generator().manual_seed(1))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(obj.encoder.embedding.weight.grad).all()


@pytest.mark.parametrize("name,options", CASES, ids=IDS)
def test_declares_negatives_and_scores_for_evaluation(name, options):
    g, obj, users, items = objective(name, options)
    assert obj.loss.negatives in ("sampler", "in_batch")
    scores = obj.model.score_all(torch.arange(3))
    assert scores.shape == (3, 20) and torch.isfinite(scores).all()
    assert obj.loss.scorer is obj.model.scorer  # the loss borrows the model's scorer


@pytest.mark.parametrize("name,options,needle", [
    ("ssm", {"tau": 0.0}, "tau must be > 0"),
    ("hdccf", {"omega_item": 1.0}, "omega_item must be in [0, 1)"),
    ("hdccf", {"lambda_u": -1.0}, "lambda_u must be >= 0"),
    ("hdccf", {"num_neighbors": 0}, "num_neighbors must be >= 1"),
    ("dcl", {"omega": -0.1}, "omega_item must be in [0, 1)"),
    ("popdcl", {"tau": -1.0}, "tau must be > 0"),
    ("softbpr", {"beta": 0.0}, "beta must be in (0, 1]"),
    ("bpr", {"scorer": "euclid"}, "scorer must be one of"),
])
def test_bad_options(name, options, needle):
    with pytest.raises(GnnrecError) as e:
        resolve(LOSSES, name, what="loss", **options)
    assert needle in str(e.value)


def test_impossible_combination_lists_what_combines():
    enc = MF(3, 4, embedding_dim=4)
    with pytest.raises(GnnrecError, match="samplers combine with: bpr, softbpr"):
        Objective(enc, RNS(), LOSSES["popdcl"]())
    with pytest.raises(GnnrecError, match="losses without a sampler: dcl, hdccf, popdcl"):
        Objective(enc, None, LOSSES["bpr"]())
