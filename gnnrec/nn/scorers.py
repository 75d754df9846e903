"""Similarity functions f(u, i): part of the model, borrowed by the losses."""
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


class Scorer(torch.nn.Module):
    r"""Base class: :meth:`pair` scores aligned pairs (broadcasting over
    leading dimensions), :meth:`matrix` scores every user against every item.
    The default is the inner product."""

    def pair(self, u: Tensor, v: Tensor) -> Tensor:
        return (u * v).sum(-1)

    def matrix(self, u: Tensor, v: Tensor) -> Tensor:
        r"""``(B, N)`` scores of ``u`` ``(B, D)`` against ``v`` ``(N, D)``."""
        return u @ v.t()

    def many(self, u: Tensor, v: Tensor) -> Tensor:
        r"""``(B, K)`` scores of each ``u[b]`` ``(B, D)`` against its own ``K``
        items ``v[b]`` ``(B, K, D)`` (a row's sampled negatives): one batched
        product, no ``(B, K, D)`` temporary."""
        return torch.bmm(v, u.unsqueeze(-1)).squeeze(-1)

    def ranker(self, v: Tensor) -> Callable[[Tensor], Tensor]:
        r"""``u -> matrix(u, v)`` with the item side prepared once (e.g.
        normalised and transposed), for ranking many batches of users
        against the same items."""
        vt = v.t().contiguous()
        return lambda u: u @ vt


class Dot(Scorer):
    r""":math:`f(u, i) = \mathbf{e}_u^\top \mathbf{e}_i`."""


class Cosine(Scorer):
    r""":math:`f(u, i) = \mathbf{e}_u^\top \mathbf{e}_i / (\|\mathbf{e}_u\|
    \|\mathbf{e}_i\|)`, in :math:`[-1, 1]` (PopDCL, SSM)."""

    def pair(self, u, v):
        return (F.normalize(u, dim=-1) * F.normalize(v, dim=-1)).sum(-1)

    def many(self, u, v):
        dots = torch.bmm(v, F.normalize(u, dim=-1).unsqueeze(-1)).squeeze(-1)
        return dots / torch.linalg.vector_norm(v, dim=-1).clamp_min(1e-12)  # F.normalize's eps

    def matrix(self, u, v):
        return F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).t()

    def ranker(self, v):
        vt = F.normalize(v, dim=-1).t().contiguous()
        return lambda u: F.normalize(u, dim=-1) @ vt


class Modulated(Scorer):
    r"""HDCCF's neural modulated similarity (`Yang et al., IJCAI 2022
    <https://arxiv.org/abs/2204.11752>`_, Eq. 7-8):

    .. math::
        f(u, i) = (\mathbf{m}_{ui} \odot \mathbf{p}_u)^\top
        (\mathbf{m}_{ui} \odot \mathbf{q}_i), \qquad
        \mathbf{m}_{ui} = \sigma\big(g(\mathbf{e}_i \,\|\, \mathbf{e}_u \,\|\,
        \mathbf{e}_i \odot \mathbf{e}_u)\big),

    with :math:`g: \mathbb{R}^{3d} \to \mathbb{R}^d` a one-hidden-layer MLP
    (ReLU, width ``hidden``). The encoder's embeddings serve both as the
    factors :math:`\mathbf{e}` fed to :math:`g` and as
    :math:`\mathbf{p}_u, \mathbf{q}_i`. Every pair goes through :math:`g`,
    so full-ranking evaluation costs ``users x items`` MLP calls (chunked to
    bound memory; practical on a GPU).

    Computed without the concatenation: :math:`g`'s first layer
    :math:`W [\mathbf{e}_i \| \mathbf{e}_u \| \mathbf{e}_i \odot \mathbf{e}_u]`
    is :math:`W_i \mathbf{e}_i + W_u \mathbf{e}_u + W_\odot (\mathbf{e}_i
    \odot \mathbf{e}_u)`, whose first two terms are computed once per item
    and once per user, not once per pair, and :math:`f(u, i) = \sum_k
    m_{ui,k}^2 \, e_{u,k} e_{i,k}` reuses the product: two ``d x hidden``
    products a pair instead of four.

    Args:
        dim (int): embedding size :math:`d`.
        hidden (int, optional): hidden width of :math:`g`; ``None`` is ``d``.
        chunk (int, optional): pairs per MLP call in :meth:`matrix`.
            (default: :obj:`2**18`)
    """

    def __init__(self, dim: int, hidden: int = None, chunk: int = 2 ** 18):
        super().__init__()
        hidden = hidden or dim
        self.g = torch.nn.Sequential(torch.nn.Linear(3 * dim, hidden), torch.nn.ReLU(),
                                     torch.nn.Linear(hidden, dim))
        self.chunk = int(chunk)

    def pair(self, u, v):
        first, _, second = self.g
        w_item, w_user, w_both = first.weight.split(u.shape[-1], dim=1)
        both = u * v  # (..., D), broadcast
        hidden = F.linear(v, w_item) + F.linear(u, w_user) + F.linear(both, w_both, first.bias)
        m = torch.sigmoid(second(torch.relu(hidden)))
        return (m * m * both).sum(-1)

    def matrix(self, u, v):
        rows = max(1, self.chunk // max(len(v), 1))
        out = []
        for start in range(0, len(u), rows):
            ub = u[start:start + rows].unsqueeze(1)  # (b, 1, D)
            out.append(self.pair(ub, v.unsqueeze(0)))
        return torch.cat(out, 0) if out else u.new_zeros(0, len(v))

    def many(self, u, v):
        return self.pair(u.unsqueeze(1), v)

    def ranker(self, v):
        return lambda u: self.matrix(u, v)


#: scorer name -> class (a loss's ``scorer`` option)
SCORERS = {"dot": Dot, "cosine": Cosine, "modulated": Modulated}


def check_scorer(name: str) -> str:
    """``name`` if it is a known scorer, else ``ValueError`` listing them."""
    if name not in SCORERS:
        raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, got {name!r}")
    return name


def make_scorer(name: str, dim: int) -> Scorer:
    r"""``dot``, ``cosine`` or ``modulated`` (which needs the embedding
    size ``dim``)."""
    cls = SCORERS[check_scorer(name)]
    return cls(dim) if cls is Modulated else cls()
