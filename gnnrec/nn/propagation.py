r"""Layer propagation over the normalised adjacency as one autograd node.

:math:`\mathbf{x}_k = \hat{\mathbf{A}}\mathbf{x}_{k-1}` for
:math:`k = 1..K` and their weighted sum; the backward is Horner's rule over
the same symmetric operator (:mod:`gnnrec.data.adjacency`), with no autograd
node per layer.
"""
from typing import Callable

import torch
from torch import Tensor


class _Propagate(torch.autograd.Function):
    """Forward: the layers x_k = op(x_{k-1}) and their weighted sum; backward
    by Horner's rule, h <- op(h) + g_k, with no autograd node per layer."""

    @staticmethod
    def forward(ctx, x0: Tensor, op: Callable[[Tensor], Tensor], alpha, num_layers: int):
        ctx.op, ctx.alpha = op, alpha
        ctx.set_materialize_grads(False)
        layers = [x0]
        pooled = x0 * alpha[0]
        for k in range(1, num_layers + 1):
            layers.append(op(layers[-1]))
            pooled.add_(layers[-1], alpha=alpha[k])
        return (pooled, *layers[1:])

    @staticmethod
    def backward(ctx, g_pooled, *g_layers):
        # dx0 = G_0 + A(G_1 + A(G_2 + ... + A G_L)),  G_k = alpha_k g_pooled + g_layer_k
        op, alpha = ctx.op, ctx.alpha
        h = None
        for k in range(len(g_layers), -1, -1):
            if h is not None:
                h = op(h)
            if g_pooled is not None:
                h = g_pooled * alpha[k] if h is None else h.add_(g_pooled, alpha=alpha[k])
            gk = g_layers[k - 1] if k >= 1 else None
            if gk is not None:
                h = gk.clone() if h is None else h.add_(gk)
        return (None if h is None else h.contiguous()), None, None, None


def propagate(adj, x0: Tensor, num_layers: int, alpha):
    r"""``(pooled, [x0, x1, ..., xL])`` with :math:`x_k = \hat{A} x_{k-1}`
    and ``pooled`` :math:`= \sum_k \alpha_k x_k` (``alpha`` a list of
    floats), differentiable in ``x0`` and in every returned layer."""
    alpha = [float(a) for a in alpha]
    if num_layers == 0:
        return x0 * alpha[0], [x0]
    x0c = x0.contiguous()
    op = adj.operator(x0c)
    out = _Propagate.apply(x0c, op, alpha, num_layers)
    return out[0], [x0, *out[1:]]


class _PropagateRows(torch.autograd.Function):
    """Forward: layers 1..L-1 in full, layer L only at ``rows`` (``S x_{L-1}``);
    backward: Horner's rule started from the row-sparse gradient,
    ``h = alpha_L S^T g``, then ``h <- op(h + G_k)`` with ``G_k`` the
    gradient scattered to ``rows``."""

    @staticmethod
    def forward(ctx, x0: Tensor, op, alpha, num_layers: int, rows: Tensor, sub, sub_t):
        ctx.op, ctx.alpha, ctx.sub_t = op, alpha, sub_t
        ctx.save_for_backward(rows)
        x = x0
        pooled = x0[rows] * alpha[0]
        for k in range(1, num_layers):
            x = op(x)
            pooled.add_(x[rows], alpha=alpha[k])
        return pooled.add_(torch.mm(sub, x), alpha=alpha[num_layers])

    @staticmethod
    def backward(ctx, g: Tensor):
        (rows,), op, alpha = ctx.saved_tensors, ctx.op, ctx.alpha
        g = g.contiguous()
        h = torch.mm(ctx.sub_t, g).mul_(alpha[-1])  # A G_L, G_L nonzero only at rows
        for k in range(len(alpha) - 2, -1, -1):
            h.index_add_(0, rows, g, alpha=alpha[k])
            if k > 0:
                h = op(h)
        return h, None, None, None, None, None, None


def propagate_rows(adj, x0: Tensor, num_layers: int, alpha, rows: Tensor) -> Tensor:
    r"""``pooled[rows]`` of :func:`propagate`, computing the last layer only
    at ``rows`` (sorted, distinct) and starting the backward from the
    row-sparse gradient: one full sparse product fewer each way. Gradients
    equal the full path's (``tests/nn/test_propagation.py``). LightGCN's
    restricted training step uses it (:meth:`~gnnrec.nn.LightGCN.encode_rows`,
    taken by ``Objective(restrict=True)`` when the rows a step reads are known
    before the encoder runs); measured in
    ``benchmarks/restricted_propagation.py`` (benchmarks/README.rst section
    4)."""
    alpha = [float(a) for a in alpha]
    if num_layers == 0:
        return x0[rows] * alpha[0]
    x0c = x0.contiguous()
    sub, sub_t = adj.row_slice(rows)
    return _PropagateRows.apply(x0c, adj.operator(x0c), alpha, num_layers, rows, sub, sub_t)
