import torch

from gnnrec.nn.propagation import propagate
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
