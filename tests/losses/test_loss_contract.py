"""The contract every registered loss meets."""
import pytest
import torch

from gnnrec.losses import LOSSES

CASES = [(name, {}) for name in LOSSES]


def batch(B=16, K=1, D=6, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    u = (torch.randn(B, D, generator=g) * scale).requires_grad_()
    p = (torch.randn(B, D, generator=g) * scale).requires_grad_()
    shape = (B, D) if K == 1 else (B, K, D)
    n = (torch.randn(*shape, generator=g) * scale).requires_grad_()
    return u, p, n


def call(loss, u, p, n):
    return loss(u, p, n if loss.negatives == "sampler" else None,
                users=torch.arange(len(u)), items=torch.arange(len(u)))


@pytest.mark.parametrize("name,options", CASES)
@pytest.mark.parametrize("K", [1, 3])
def test_scalar_finite_with_gradients(name, options, K):
    loss = LOSSES[name](**options)
    u, p, n = batch(K=K)
    value = call(loss, u, p, n)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(u.grad).all() and torch.isfinite(p.grad).all()


@pytest.mark.parametrize("name,options", CASES)
def test_finite_with_extreme_scores(name, options):
    loss = LOSSES[name](**options)
    u, p, n = batch(scale=8.0)  # inner products far beyond +-50
    value = call(loss, u, p, n)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(u.grad).all()


@pytest.mark.parametrize("name,options", CASES)
def test_declares_negatives(name, options):
    assert LOSSES[name](**options).negatives in ("sampler", "in_batch")
