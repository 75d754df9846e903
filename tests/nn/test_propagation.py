import pytest
import torch

from gnnrec.nn.propagation import propagate, propagate_rows
from tests.conftest import dense_reference, random_graph


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


def _power_law_graph(num_users, num_items, edges, seed):
    """Gowalla-shaped: item popularity ~ rank^-1, user activity ~ rank^-0.7,
    some items never interacted with (empty rows)."""
    from gnnrec.data.graph import RecGraph

    gen = torch.Generator().manual_seed(seed)
    pi = torch.arange(1, num_items + 1, dtype=torch.float64).pow(-1.0)
    pi[-num_items // 10:] = 0  # isolated items
    pu = torch.arange(1, num_users + 1, dtype=torch.float64).pow(-0.7)
    u = torch.multinomial(pu, edges, replacement=True, generator=gen)
    i = torch.multinomial(pi, edges, replacement=True, generator=gen)
    key = torch.unique(u * num_items + i)
    return RecGraph(key // num_items, key % num_items, num_users, num_items)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("rows_kind", ["batch", "all", "isolated"])
def test_restricted_propagation_equals_the_full_path_in_value_and_gradient(num_layers,
                                                                           rows_kind):
    g = _power_law_graph(300, 500, 4000, seed=num_layers)
    adj = g.adjacency("csr")
    n = 800
    gen = torch.Generator().manual_seed(7)
    if rows_kind == "batch":  # a batch's users, positives and negatives, as the loss reads
        rows = torch.unique(torch.cat([torch.randint(0, 300, (64,), generator=gen),
                                       300 + torch.randint(0, 500, (128,), generator=gen)]))
    elif rows_kind == "all":
        rows = torch.arange(n)
    else:  # isolated items only: the last layer there is 0
        rows = torch.arange(n - 50, n)
    alpha = [1 / (num_layers + 1)] * (num_layers + 1)
    x0 = torch.randn(n, 16, dtype=torch.float64, generator=gen)
    w = torch.randn(rows.numel(), 16, dtype=torch.float64, generator=gen)

    a = x0.clone().requires_grad_()
    full, _ = propagate(adj, a.float(), num_layers, alpha)
    b = x0.clone().requires_grad_()
    got = propagate_rows(adj, b.float(), num_layers, alpha, rows)
    (full[rows] * w.float()).sum().backward()
    (got * w.float()).sum().backward()
    assert got.shape == (rows.numel(), 16)
    assert torch.allclose(got, full[rows], atol=1e-5)
    assert torch.allclose(b.grad, a.grad, atol=1e-5)
    if rows_kind == "isolated":  # only the layer-0 term survives there
        assert torch.allclose(got, x0[rows].float() * alpha[0], atol=1e-6)
    else:
        assert b.grad.abs().sum() > 0
