r"""The symmetric-normalised bipartite adjacency as a sparse operator.

.. math::
    \hat{\mathbf{A}} = \mathbf{D}^{-1/2} \mathbf{A} \mathbf{D}^{-1/2}
    = \begin{pmatrix} 0 & \tilde{\mathbf{R}} \\ \tilde{\mathbf{R}}^\top & 0
    \end{pmatrix}, \qquad
    \tilde{R}_{ui} = \frac{1}{\sqrt{d_u d_i}},

over the ``num_users + num_items`` nodes (users first), built once per graph.
The product is done block-wise, :math:`\tilde{\mathbf{R}}\mathbf{X}_I` and
:math:`\tilde{\mathbf{R}}^\top\mathbf{X}_U` written into one output, which
measures about twice as fast on CPU as one product with the square matrix
(``benchmarks/README.rst``). Because :math:`\hat{\mathbf{A}}` is symmetric,
the backward of :math:`\hat{\mathbf{A}}\mathbf{X}` is
:math:`\hat{\mathbf{A}}\mathbf{G}`: :class:`SymmetricSpMM` reuses the operator
instead of letting autograd differentiate through the sparse product.

The operator is a property of the training graph
(:meth:`gnnrec.data.graph.RecGraph.adjacency` builds it once);
propagation over it lives in :mod:`gnnrec.nn.propagation`.
"""
import time
import warnings
from typing import Callable, Dict

import torch
from torch import Tensor

BACKENDS = ("auto", "csr", "torch_sparse")


def torch_sparse_available() -> bool:
    try:
        import torch_sparse  # noqa: F401
    except Exception:  # ImportError, or a build that does not match torch
        return False
    return True


def edge_weights(user: Tensor, item: Tensor, num_users: int, num_items: int) -> Tensor:
    r""":math:`1/\sqrt{d_u d_i}` for each training edge ``(user, item)``."""
    du = torch.bincount(user, minlength=num_users).to(torch.float32)
    di = torch.bincount(item, minlength=num_items).to(torch.float32)
    return du[user].rsqrt() * di[item].rsqrt()


def normalized_adjacency_coo(user: Tensor, item: Tensor, num_users: int, num_items: int):
    r"""The ``(2, 2E)`` indices and values of the full square
    :math:`\hat{\mathbf{A}}` (users first); isolated nodes have empty rows."""
    w = edge_weights(user, item, num_users, num_items)
    row = torch.cat([user, item + num_users])
    col = torch.cat([item + num_users, user])
    return torch.stack([row, col]), torch.cat([w, w])


class SymmetricSpMM(torch.autograd.Function):
    r"""``y = op(x)`` for a symmetric linear ``op``; the gradient is
    ``op(grad_y)``."""

    @staticmethod
    def forward(ctx, x: Tensor, op: Callable[[Tensor], Tensor]) -> Tensor:
        ctx.op = op
        return op(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.op(grad.contiguous()), None


def _csr(row: Tensor, col: Tensor, value: Tensor, shape) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
        coo = torch.sparse_coo_tensor(torch.stack([row, col]), value, shape,
                                      check_invariants=False).coalesce()
        return coo.to_sparse_csr()


class NormalizedAdjacency:
    r"""The operator :math:`\mathbf{X} \mapsto \hat{\mathbf{A}}\mathbf{X}`.

    Args:
        user (Tensor): ``(E,)`` user of each training edge.
        item (Tensor): ``(E,)`` item of each training edge.
        num_users (int), num_items (int): the block sizes.
        backend (str): ``csr`` (:mod:`torch.sparse` CSR blocks),
            ``torch_sparse`` (``torch_sparse.SparseTensor`` blocks, when
            installed) or ``auto``, which times the available ones on the
            first product and keeps the fastest. (default: :obj:`"auto"`)
    """

    def __init__(self, user: Tensor, item: Tensor, num_users: int, num_items: int,
                 backend: str = "auto"):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; choose from {BACKENDS}")
        if backend == "torch_sparse" and not torch_sparse_available():
            raise ValueError("backend 'torch_sparse' needs torch-sparse: "
                             "pip install gnnrec[sparse]")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.num_nodes = self.num_users + self.num_items
        self.user, self.item = user, item
        self.value = edge_weights(user, item, num_users, num_items)
        self._ops: Dict[str, Callable] = {}
        self.backend = backend
        if backend == "auto" and not torch_sparse_available():
            self.backend = "csr"

    @property
    def device(self) -> torch.device:
        return self.user.device

    def _blocks(self, name: str):
        U, N = self.num_users, self.num_items
        if name == "csr":
            r = _csr(self.user, self.item, self.value, (U, N))
            rt = _csr(self.item, self.user, self.value, (N, U))
            return ((lambda x, out: torch.mm(r, x, out=out)),
                    (lambda x, out: torch.mm(rt, x, out=out)))
        from torch_sparse import SparseTensor

        r = SparseTensor(row=self.user, col=self.item, value=self.value, sparse_sizes=(U, N))
        rt = r.t()
        return (lambda x, out: out.copy_(r.matmul(x))), (lambda x, out: out.copy_(rt.matmul(x)))

    def _op(self, name: str) -> Callable[[Tensor], Tensor]:
        if name not in self._ops:
            r, rt = self._blocks(name)
            U = self.num_users

            def op(x: Tensor) -> Tensor:
                out = torch.empty_like(x)
                r(x[U:], out[:U])
                rt(x[:U], out[U:])
                return out

            self._ops[name] = op
        return self._ops[name]

    def _choose(self, x: Tensor) -> str:
        """Times each available backend on ``x`` and keeps the fastest."""
        best, best_t = None, float("inf")
        for name in ("csr", "torch_sparse"):
            op = self._op(name)
            op(x)  # warm-up
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            t = time.perf_counter()
            for _ in range(3):
                op(x)
            if x.is_cuda:
                torch.cuda.synchronize(x.device)
            t = time.perf_counter() - t
            if t < best_t:
                best, best_t = name, t
        return best

    def resolve_backend(self, x: Tensor) -> str:
        """The backend in use (timed on ``x`` the first time under ``auto``)."""
        if x.size(0) != self.num_nodes:
            raise ValueError(f"expected {self.num_nodes} rows, got {x.size(0)}")
        if self.backend == "auto":
            with torch.no_grad():
                self.backend = self._choose(x.detach())
        return self.backend

    def operator(self, x: Tensor) -> Callable[[Tensor], Tensor]:
        r"""The plain (not autograd-aware) function :math:`X \mapsto
        \hat{\mathbf{A}}X` of the backend in use for tensors like ``x``."""
        return self._op(self.resolve_backend(x))

    def __matmul__(self, x: Tensor) -> Tensor:
        x = x.contiguous()
        op = self.operator(x)
        if x.requires_grad:
            return SymmetricSpMM.apply(x, op)
        return op(x)

    matmul = __matmul__

    def row_slice(self, rows: Tensor):
        r"""``(S, S^T)``: the rows ``rows`` of :math:`\hat{\mathbf{A}}` as a
        ``(R, n)`` CSR matrix and its ``(n, R)`` transpose, for products
        needed only at those rows (``rows`` sorted, distinct node ids)."""
        if not hasattr(self, "_full"):
            index, value = normalized_adjacency_coo(self.user, self.item, self.num_users,
                                                    self.num_items)
            full = _csr(index[0], index[1], value, (self.num_nodes, self.num_nodes))
            self._full = (full.crow_indices(), full.col_indices(), full.values())
        crow, col, value = self._full
        start = crow[rows]
        count = crow[rows + 1] - start
        offsets = torch.cumsum(count, 0)
        pos = torch.repeat_interleave(start - (offsets - count), count)
        pos += torch.arange(pos.numel(), device=pos.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
            return self._slices(rows, pos, count, offsets)

    def _slices(self, rows, pos, count, offsets):
        _, col, value = self._full
        c, v = col[pos], value[pos]
        zero = offsets.new_zeros(1)
        # rows sorted and each source row's columns sorted: already CSR order
        sub = torch.sparse_csr_tensor(torch.cat([zero, offsets]), c, v,
                                      (rows.numel(), self.num_nodes))
        order = torch.argsort(c, stable=True)  # the transpose: by column, then row
        local = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count)
        crow_t = torch.cat([zero, torch.cumsum(torch.bincount(c, minlength=self.num_nodes), 0)])
        sub_t = torch.sparse_csr_tensor(crow_t, local[order], v[order],
                                        (self.num_nodes, rows.numel()))
        return sub, sub_t

    def to_dense(self) -> Tensor:
        index, value = normalized_adjacency_coo(self.user, self.item, self.num_users,
                                                self.num_items)
        n = self.num_nodes
        return torch.sparse_coo_tensor(index, value, (n, n), check_invariants=False).to_dense()
