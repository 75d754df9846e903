import pytest
import torch

from gnnrec.nn.adjacency import NormalizedAdjacency, propagate, torch_sparse_available
from tests.conftest import random_graph

BACKENDS = ["csr"] + (["torch_sparse"] if torch_sparse_available() else [])


def dense_reference(g):
    n = g.num_users + g.num_items
    a = torch.zeros(n, n)
    a[g.user, g.item + g.num_users] = 1
    a[g.item + g.num_users, g.user] = 1
    d = a.sum(1)
    dinv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    return dinv[:, None] * a * dinv[None, :]


def test_normalized_adjacency_equals_dense_reference():
    g = random_graph(8, 10, 0.3, seed=0)
    adj = g.adjacency("csr")
    assert torch.allclose(adj.to_dense(), dense_reference(g), atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_product_and_gradient_match_dense(backend):
    g = random_graph(8, 10, 0.3, seed=1)
    a = dense_reference(g)
    adj = NormalizedAdjacency(g.user, g.item, g.num_users, g.num_items, backend)
    x = torch.randn(18, 5, requires_grad=True)
    w = torch.randn(18, 5)
    y = adj @ x
    (y * w).sum().backward()
    assert torch.allclose(y, a @ x.detach(), atol=1e-5)
    assert torch.allclose(x.grad, a.t() @ w, atol=1e-5)


def test_isolated_nodes_have_zero_rows():
    g = random_graph(5, 6, 0.4, seed=2)
    from gnnrec.data.graph import RecGraph

    g2 = RecGraph(g.user, g.item, 7, 9)  # two extra users, three extra items, no edges
    d = g2.adjacency("csr").to_dense()
    assert torch.isfinite(d).all()
    assert d[5:7].abs().sum() == 0 and d[-3:].abs().sum() == 0


def test_propagate_pooled_and_layer_gradients_match_autograd():
    g = random_graph(6, 7, 0.4, seed=3)
    a = dense_reference(g)
    adj = g.adjacency("csr")
    alpha = [0.1, 0.2, 0.3, 0.4]
    x0 = torch.randn(13, 4, requires_grad=True)
    pooled, layers = propagate(adj, x0, 3, alpha)
    w_p, w_2 = torch.randn(13, 4), torch.randn(13, 4)
    ((pooled * w_p).sum() + (layers[2] * w_2).sum()).backward()
    # reference with dense autograd
    r0 = x0.detach().clone().requires_grad_()
    xs = [r0]
    for _ in range(3):
        xs.append(a @ xs[-1])
    ref = sum(al * x for al, x in zip(alpha, xs))
    ((ref * w_p).sum() + (xs[2] * w_2).sum()).backward()
    assert torch.allclose(pooled, ref, atol=1e-5)
    for got, want in zip(layers, xs):
        assert torch.allclose(got, want, atol=1e-5)
    assert torch.allclose(x0.grad, r0.grad, atol=1e-5)
