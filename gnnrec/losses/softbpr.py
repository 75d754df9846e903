"""Soft BPR: BPR with a flattened sigmoid (PDNS's equivalent algorithm)."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import RecLoss, pair_scores


class SoftBPR(RecLoss):
    r"""The soft BPR loss of the PDNS paper (`Shi et al.
    <https://arxiv.org/abs/2211.13912>`_, Eq. 10),
    averaged over the batch (and the negatives of each positive):

    .. math::
        \mathcal{L}^{\text{soft}}_{\text{BPR}} = -\ln\sigma\big(\beta\,
        (\hat y_{ui} - \hat y_{uj})\big).

    With DNS negatives and :math:`\beta = 1 - a` it is PDNS (Eq. 7): the
    same loss and gradients as BPR on the mixed negative
    :math:`a\mathbf{e}_i + (1-a)\mathbf{e}_j` (Eq. 8-9). :math:`\beta = 1`
    is BPR.

    Args:
        beta (float, optional): the soft factor, in ``(0, 1]``; the paper
            tunes it in ``(0, 0.3)``. (default: :obj:`0.1`)
        scorer (str, optional): ``dot``, ``cosine`` or ``modulated``.
            (default: :obj:`"dot"`)
    """
    summary = "soft BPR (PDNS Eq. 10): -ln sigmoid(beta*(y_ui - y_uj))"

    def __init__(self, beta: float = 0.1, scorer: str = "dot"):
        super().__init__(scorer)
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        self.beta = float(beta)

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None,
                **context) -> Tensor:
        pos_score, neg_score = pair_scores(user, pos, neg, self.scorer)
        if neg_score.dim() == 2:
            pos_score = pos_score.unsqueeze(-1)
        return F.softplus(self.beta * (neg_score - pos_score)).mean()
