"""Scorers: the batched per-row path equals the pairwise definition."""
import pytest
import torch

from gnnrec.nn.scorers import SCORERS, make_scorer
from gnnrec.train.objective import _sum_sq


@pytest.mark.parametrize("name", list(SCORERS))
def test_many_equals_pair_in_value_and_gradient(name):
    torch.manual_seed(0)
    scorer = make_scorer(name, 5).double()
    u = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    v = torch.randn(4, 3, 5, dtype=torch.double, requires_grad=True)
    v.data[0, 1] = 0.0  # a zero vector: cosine's eps path
    w = torch.randn(4, 3, dtype=torch.double)
    got = scorer.many(u, v)
    want = scorer.pair(u.unsqueeze(1), v)
    assert torch.allclose(got, want)
    gu, gv = torch.autograd.grad((got * w).sum(), (u, v))
    wu, wv = torch.autograd.grad((want * w).sum(), (u, v))
    assert torch.allclose(gu, wu) and torch.allclose(gv, wv)


def test_sum_of_squares_has_the_gradient_of_its_definition():
    x = torch.randn(3, 4, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(_sum_sq, (x,))
    assert torch.allclose(_sum_sq(x), x.pow(2).sum())
