"""The loss contract: user, positive and negative embeddings to a scalar."""
import abc
from typing import Optional

import torch
from torch import Tensor

from gnnrec.losses.scorers import Dot, Scorer, make_scorer


class RecLoss(torch.nn.Module, abc.ABC):
    r"""Base class of recommendation losses.

    A loss declares where its negatives come from in :attr:`negatives`:
    ``"sampler"`` (explicit negatives from a
    :class:`~gnnrec.sampling.NegativeSampler`, ``(B, D)`` or ``(B, K, D)``)
    or ``"in_batch"`` (built from the mini-batch itself; no sampler). The
    objective checks the pairing before training starts and passes context
    by keyword: ``users`` and ``items`` (the batch's ids), ``out`` (the
    encoder's :class:`~gnnrec.nn.EncoderOutput`), ``graph`` (the training
    :class:`~gnnrec.data.RecGraph`) and ``generator``. A loss scores pairs
    with its :attr:`scorer` (inner product unless it says otherwise), which
    evaluation then uses too.
    """
    #: ``"sampler"`` or ``"in_batch"``
    negatives: str = "sampler"

    def __init__(self, scorer: str = "dot"):
        super().__init__()
        self.scorer_name = scorer
        self.scorer: Optional[Scorer] = None
        if scorer != "modulated":  # modulated needs the embedding size: see attach()
            self.scorer = make_scorer(scorer, 0)

    def attach(self, encoder) -> None:
        r"""Called once by the objective with the encoder (before the
        optimiser exists), to build anything sized by it."""
        if self.scorer is None:
            self.scorer = make_scorer(self.scorer_name, encoder.out_dim)

    def bind(self, graph) -> None:
        r"""Called with the training graph (precompute per-graph terms)."""

    @abc.abstractmethod
    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None,
                **context) -> Tensor:
        r"""The mean loss of the batch."""


def pair_scores(user: Tensor, pos: Tensor, neg: Tensor, scorer: Optional[Scorer] = None):
    r"""Scores: ``(B,)`` positives and ``(B,)`` or ``(B, K)`` negatives."""
    scorer = scorer or Dot()
    pos_score = scorer.pair(user, pos)
    neg_score = scorer.pair(user.unsqueeze(1) if neg.dim() == 3 else user, neg)
    return pos_score, neg_score
