"""The loss contract: user, positive and negative embeddings to a scalar."""
import abc
from typing import List, Optional

import torch
from torch import Tensor

from gnnrec.nn.scorers import SCORERS, Dot, Scorer, check_scorer, make_scorer


class RecLoss(torch.nn.Module, abc.ABC):
    r"""Base class of recommendation losses.

    A loss declares where its negatives come from in :attr:`negatives`:
    ``"sampler"`` (explicit negatives from a
    :class:`~gnnrec.sampling.NegativeSampler`, ``(B, D)`` or ``(B, K, D)``)
    or ``"in_batch"`` (built from the mini-batch itself; no sampler). The
    objective checks the pairing before training starts and passes context
    by keyword: ``users`` and ``items`` (the batch's ids), ``out`` (the
    encoder's :class:`~gnnrec.nn.EncoderOutput`), ``graph`` (the training
    :class:`~gnnrec.data.RecGraph`) and ``generator``.

    A loss is defined with a similarity :math:`f(u, i)`, named by
    :attr:`scorer_name` (inner product unless it says otherwise). The
    similarity belongs to the model (:class:`~gnnrec.model.RecModel`), which
    evaluation and serving rank with; :meth:`attach` makes the loss borrow
    the model's scorer. A loss used on its own (tests, other pipelines)
    scores with a fresh scorer of its name.

    Args:
        scorer (str, optional): ``dot``, ``cosine`` or ``modulated``.
            (default: :obj:`"dot"`)
    """
    #: ``"sampler"`` or ``"in_batch"``
    negatives: str = "sampler"

    def __init__(self, scorer: str = "dot"):
        super().__init__()
        self.scorer_name = check_scorer(scorer)
        self._borrow(None if scorer == "modulated" else make_scorer(scorer, 0))

    def _borrow(self, scorer: Optional[Scorer]) -> None:
        # kept out of the module tree: the model owns (and saves) the scorer
        object.__setattr__(self, "scorer", scorer)

    def attach(self, model) -> None:
        r"""Borrows ``model.scorer`` (a :class:`~gnnrec.model.RecModel`),
        which must be of this loss's kind."""
        if not isinstance(model.scorer, SCORERS[self.scorer_name]):
            raise ValueError(f"{type(self).__name__} scores with {self.scorer_name}, the model "
                             f"with {type(model.scorer).__name__}")
        self._borrow(model.scorer)

    def bind(self, graph) -> None:
        r"""Called with the training graph (precompute per-graph terms)."""

    def advice(self, graph, batch_size: int) -> List[str]:
        r"""Lines a run prints at its start when this loss, at its options, is
        known to lose on data like ``graph`` (each naming the option that
        fixes it); none by default."""
        return []

    def rows_needed(self, users: Tensor, items: Tensor, graph,
                    generator: Optional[torch.Generator] = None) -> Optional[Tensor]:
        r"""Node ids (users first) the next :meth:`forward` on this batch will
        read through ``out`` beyond the batch's users, positives and
        negatives, drawing now whatever it draws (and keeping it for that
        call), so a step can propagate only to the rows it reads; ``None``
        when the loss cannot tell in advance. The default reads none."""
        return users.new_empty(0)

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
