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


def test_modulated_is_eq_7_8_written_with_the_concatenation():
    """HDCCF Eq. 7-8 literally: m = sigmoid(g([e_i || e_u || e_i * e_u])),
    f = (m * p_u) . (m * q_i), in value and in every gradient (the
    embeddings' and the MLP's), for pairs and for the full matrix."""
    torch.manual_seed(0)
    scorer = make_scorer("modulated", 5).double()
    u = torch.randn(4, 5, dtype=torch.double, requires_grad=True)
    v = torch.randn(6, 5, dtype=torch.double, requires_grad=True)

    def literal(uu, vv):
        uu, vv = torch.broadcast_tensors(uu, vv)
        m = torch.sigmoid(scorer.g(torch.cat([vv, uu, vv * uu], dim=-1)))
        return ((m * uu) * (m * vv)).sum(-1)

    params = (u, v, *scorer.parameters())
    w = torch.randn(4, 6, dtype=torch.double)
    for got, want in ((scorer.matrix(u, v), literal(u.unsqueeze(1), v.unsqueeze(0))),
                      (scorer.pair(u, v[:4]), literal(u, v[:4]))):
        assert got.shape == want.shape and torch.allclose(got, want)
        weight = w[:, :got.shape[-1]] if got.dim() == 2 else w[:, 0]
        for a, b in zip(torch.autograd.grad((got * weight).sum(), params),
                        torch.autograd.grad((want * weight).sum(), params)):
            assert torch.allclose(a, b)
