"""The loss contract: user, positive and negative embeddings to a scalar."""
import abc
from typing import Optional

import torch
from torch import Tensor


class RecLoss(torch.nn.Module, abc.ABC):
    r"""Base class of recommendation losses.

    A loss declares where its negatives come from in :attr:`negatives`:
    ``"sampler"`` (explicit negatives from a
    :class:`~gnnrec.sampling.NegativeSampler`, ``(B, D)`` or ``(B, K, D)``)
    or ``"in_batch"`` (the other positives of the mini-batch; no sampler).
    The trainer checks the pairing before training starts.
    """
    #: ``"sampler"`` or ``"in_batch"``
    negatives: str = "sampler"

    @abc.abstractmethod
    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None,
                **context) -> Tensor:
        r"""The mean loss of the batch."""


def pair_scores(user: Tensor, pos: Tensor, neg: Tensor):
    r"""Inner-product scores: ``(B,)`` positives and ``(B,)`` or ``(B, K)``
    negatives."""
    pos_score = (user * pos).sum(-1)
    if neg.dim() == 3:
        neg_score = torch.einsum("bd,bkd->bk", user, neg)
    else:
        neg_score = (user * neg).sum(-1)
    return pos_score, neg_score
