import pytest
import torch

from gnnrec.data.adjacency import NormalizedAdjacency, torch_sparse_available
from tests.conftest import dense_reference, random_graph

BACKENDS = ["csr"] + (["torch_sparse"] if torch_sparse_available() else [])


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
