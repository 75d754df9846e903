"""The sampler contract: a batch of (user, positive) in, negative embeddings out."""
import abc
from dataclasses import dataclass
from typing import Optional

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
            terms of the L2 regulariser; for synthetic negatives, the
            synthetic layer-0 embedding.
        items (Tensor, optional): the item ids when real items were picked
            (``None`` for purely synthetic negatives).
        hardness (Tensor, optional): ``(B,)`` or ``(B, K)`` score of each
            negative divided by the score of its positive (AHNS's hardness),
            for the per-epoch diagnostics.
    """
    emb: Tensor
    ego: Tensor
    items: Optional[Tensor] = None
    hardness: Optional[Tensor] = None


def hardness(user: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    r"""AHNS's hardness of each negative, :math:`e_u^\top e_j / e_u^\top e_{i^+}`
    (no gradient)."""
    with torch.no_grad():
        pos_score = (user * pos).sum(-1)
        neg_score = (user.unsqueeze(-2) * neg).sum(-1) if neg.dim() == 3 else (user * neg).sum(-1)
        if neg.dim() == 3:
            pos_score = pos_score.unsqueeze(-1)
        return neg_score / pos_score


class NegativeSampler(abc.ABC):
    r"""Base class of negative samplers and synthesisers.

    A sampler is built from its hyperparameters alone (so options are checked
    before any data is read), then :meth:`bind` to the training graph, after
    which :meth:`sample` runs on whole batches of tensors on the graph's
    device. Exclusion of training positives is exact.
    """
    #: needs the encoder's per-layer embeddings (e.g. MixGCF)
    needs_layers: bool = False

    def __init__(self):
        self.graph: Optional[RecGraph] = None

    @property
    def num_negatives(self) -> int:
        return 1

    def bind(self, graph: RecGraph) -> "NegativeSampler":
        """Attaches the training graph (positives, popularity)."""
        self.graph = graph
        return self

    def candidates(self, users: Tensor, num: int, generator=None) -> Tensor:
        r"""``(B, num)`` items drawn uniformly from each user's non-positives."""
        return self.graph.positives.sample_complement(users, num, generator)

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


def real_negatives(items: Tensor, out: EncoderOutput, users: Tensor, pos_items: Tensor) -> Negatives:
    """Packs picked real items into :class:`Negatives`."""
    emb = out.item[items]
    return Negatives(emb=emb, ego=out.item_ego(items), items=items,
                     hardness=hardness(out.user[users], out.item[pos_items], emb))
