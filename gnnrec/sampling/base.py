"""The sampler contract: a batch of (user, positive) in, negative embeddings out."""
import abc
import warnings
from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.nn.base import EncoderOutput


@dataclass
class Negatives:
    r"""The negatives of a batch, ready for a loss.

    Attributes:
        emb (Tensor): pooled embeddings, ``(B, D)`` for one negative per
            positive or ``(B, K, D)`` for several.
        ego (Tensor): their layer-0 embeddings (same leading shape), the
            terms of the L2 regulariser.
        items (Tensor, optional): the item ids when real items were picked,
            ``(B,)`` or ``(B, K)`` (``None`` for purely synthetic negatives).
        hardness (Tensor, optional): AHNS's hardness of each negative, see
            :func:`hardness`, for the per-epoch diagnostics.
        uniform_hardness (Tensor, optional): the mean hardness of the uniform
            candidates the negative was chosen from (what uniform sampling
            would have given), for samplers that score candidates.
    """
    emb: Tensor
    ego: Tensor
    items: Optional[Tensor] = None
    hardness: Optional[Tensor] = None
    uniform_hardness: Optional[Tensor] = None


def hardness(user: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    r"""AHNS's hardness of each negative (AHNS paper, Introduction and
    Eq. 5): :math:`\mathbf{e}_u^\top\mathbf{e}_j / \mathbf{e}_u^\top
    \mathbf{e}_{i^+}`, without gradient. The ratio is defined only for a
    positive :math:`\mathbf{e}_u^\top\mathbf{e}_{i^+} > 0` (the paper's
    assumption); other pairs give NaN and are left out of the averages.

    Shapes: user, pos ``(B, D)``; neg ``(B, D)`` or ``(B, K, D)``.
    """
    with torch.no_grad():
        pos_score = (user * pos).sum(-1)
        if neg.dim() == 3:
            neg_score = torch.einsum("bd,bkd->bk", user, neg)
            pos_score = pos_score.unsqueeze(-1)
        else:
            neg_score = (user * neg).sum(-1)
        out = neg_score / pos_score
        return torch.where(pos_score > 0, out, torch.full_like(out, float("nan")))


class NegativeSampler(abc.ABC):
    r"""Base class of negative samplers and synthesisers.

    A sampler is built from its hyperparameters alone (so options are checked
    before any data is read), then :meth:`bind` to the training graph, after
    which :meth:`sample` runs on whole batches of tensors on the graph's
    device: candidates are drawn, scored and selected for the whole batch at
    once, never in a Python loop over examples. Exclusion of training
    positives is exact.

    Args:
        num_negatives (int): negatives per positive, :math:`K`; with more
            than one the embeddings are ``(B, K, D)``.
    """
    #: needs the encoder's per-layer embeddings (e.g. MixGCF)
    needs_layers: bool = False
    #: what to change when the sampler keeps picking easier negatives than
    #: uniform ones (``None``: it cannot, by construction)
    easy_hint: Optional[str] = None

    def __init__(self, num_negatives: int = 1):
        self.graph: Optional[RecGraph] = None
        _at_least("num_negatives", num_negatives, 1)
        self.num_negatives = int(num_negatives)

    def bind(self, graph: RecGraph) -> "NegativeSampler":
        """Attaches the training graph (positives, popularity)."""
        self.graph = graph
        return self

    def advice(self, graph: RecGraph) -> List[str]:
        r"""Lines a run prints at its start about options this sampler
        derived from ``graph`` (after :meth:`bind`); none by default."""
        return []

    def candidates(self, users: Tensor, num: int, generator=None) -> Tensor:
        r"""``(B, K, num)`` items drawn uniformly, with replacement, from each
        user's non-positives."""
        items = self.graph.positives.sample_complement(users, self.num_negatives * num, generator)
        return items.view(len(users), self.num_negatives, num)

    def blind_items(self, users: Tensor, pos_items: Tensor,
                    generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        r"""``(B, K)`` negatives for samplers whose choice reads no
        embeddings (RNS, PNS), drawn before the encoder runs, so a step can
        propagate only to the rows it reads; ``None`` for the others (the
        default). Such a sampler's :meth:`sample` is :meth:`pack` of these."""
        return None

    @staticmethod
    def candidate_scores(out: EncoderOutput, users: Tensor, items: Tensor) -> Tensor:
        r"""``(B, K, M)`` inner products of the users' and the candidates'
        pooled embeddings, without gradient (selection is not differentiated)."""
        with torch.no_grad():
            return row_dots(out.batch_user_rows(users), out.item, items)

    def pack(self, items: Tensor, out: EncoderOutput, users: Tensor, pos_items: Tensor,
             emb: Optional[Tensor] = None, ego: Optional[Tensor] = None) -> Negatives:
        r"""Negatives from ``(B, K)`` picked items (and, for synthesisers,
        their synthetic embeddings), squeezed to ``(B, ...)`` when ``K = 1``."""
        real = emb is None
        emb = out.item_rows(items) if real else emb
        if ego is None:
            ego = emb if real and out.ego_is_pooled else out.item_ego(items)
        with torch.no_grad():
            h = hardness(out.batch_user_rows(users), out.batch_pos_rows(pos_items), emb.detach())
        neg = Negatives(emb=emb, ego=ego, items=items, hardness=h)
        if self.num_negatives == 1:
            neg = Negatives(*(None if t is None else t.squeeze(1)
                              for t in (neg.emb, neg.ego, neg.items, neg.hardness)))
        return neg

    @staticmethod
    def uniform_hardness(cand_scores: Tensor, pos_score: Tensor) -> Tensor:
        r"""``(B,)`` mean hardness of uniform candidates, from their
        ``(B, K, M)`` scores and the ``(B,)`` positives' (NaN where the
        positive's score is not positive, as :func:`hardness`)."""
        ratio = cand_scores.mean((1, 2)) / pos_score
        return torch.where(pos_score > 0, ratio, torch.full_like(ratio, float("nan")))

    @abc.abstractmethod
    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        r"""Negatives for the batch ``(users[k], pos_items[k])``."""

    def __call__(self, users, pos_items, out, generator=None) -> Negatives:
        if self.graph is None:
            raise RuntimeError(f"{type(self).__name__} is not bound to a graph; call bind(graph)")
        return self.sample(users, pos_items, out, generator)

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "spec", (None, {}))[1].items())
        return f"{type(self).__name__}({opts})"


def row_dots(query: Tensor, table: Tensor, index: Tensor) -> Tensor:
    r"""``out[b, ...] = table[index[b, ...]] . query[b]``, without gradient:
    the scores of ``(B, ...)`` candidate rows of ``table`` against one
    ``(B, D)`` query each.

    On CPU this is one sampled dense-dense product
    (:func:`torch.sparse.sampled_addmm` over the CSR pattern whose row ``b``
    holds the indices ``index[b]``), which reads each candidate row once
    instead of first copying the ``(B, M, D)`` rows out: 0.36 ms against
    0.80 ms for 2048 x 16 candidates of a 41k x 64 table (Gowalla, this
    repository's 2-core machine). Elsewhere a gather and a ``bmm``.
    Candidates may repeat and come in any order (with more candidates per
    query than table rows, torch's kernel refuses the pattern: the gather).
    """
    B, D = query.shape
    flat = index.reshape(B, -1)
    with torch.no_grad():
        M = flat.size(1)
        # torch's kernel refuses rows with more entries than the table has rows
        if (query.device.type == "cpu" and 0 < M <= len(table)
                and query.dtype in (torch.float32, torch.float64)):
            crow = torch.arange(0, B * M + 1, M, device=query.device)
            with warnings.catch_warnings():  # "beta" notes of torch's sparse CSR support
                warnings.simplefilter("ignore", UserWarning)
                pattern = torch.sparse_csr_tensor(crow, flat.reshape(-1),
                                                  query.new_zeros(B * M), size=(B, len(table)),
                                                  check_invariants=False)
                dots = torch.sparse.sampled_addmm(pattern, query, table.t(), beta=0.0)
            return dots.values().view(index.shape)
        rows = table.index_select(0, flat.reshape(-1)).view(B, -1, D)
        return torch.bmm(rows, query.unsqueeze(-1)).view(index.shape)


def _at_least(name: str, value, low) -> None:
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _in_range(name: str, value, low, high, closed: str = "[]") -> None:
    lo_ok = value >= low if closed[0] == "[" else value > low
    hi_ok = value <= high if closed[1] == "]" else value < high
    if not (lo_ok and hi_ok):
        raise ValueError(f"{name} must be in {closed[0]}{low}, {high}{closed[1]}, got {value}")
