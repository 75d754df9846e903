"""Sampled softmax / InfoNCE."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import RecLoss


class SSM(RecLoss):
    r"""Sampled softmax (InfoNCE) loss, as in `Wu et al. 2022, "On the
    Effectiveness of Sampled Softmax Loss for Item Recommendation"
    <https://arxiv.org/abs/2201.02327>`_:

    .. math::
        \mathcal{L} = -\frac{1}{|B|}\sum_{(u,i)} \log
        \frac{e^{f(u,i)/\tau}}{e^{f(u,i)/\tau} + \sum_{j \in \mathcal{N}_u}
        e^{f(u,j)/\tau}},

    computed with ``logsumexp`` (stable for any scores). The negatives
    :math:`\mathcal{N}_u` are the sampler's ``K`` negatives, or, with
    ``in_batch``, the positive items of the other rows of the batch (no
    sampler).

    Args:
        tau (float, optional): temperature, ``> 0``. (default: :obj:`0.1`)
        in_batch (bool, optional): in-batch negatives instead of a sampler's.
            (default: :obj:`True`)
        scorer (str, optional): :math:`f`: ``cosine`` (the paper's),
            ``dot`` or ``modulated``. (default: :obj:`"cosine"`)
    """
    summary = "sampled softmax / InfoNCE with temperature (in-batch or sampled negatives)"

    def __init__(self, tau: float = 0.1, in_batch: bool = True, scorer: str = "cosine"):
        super().__init__(scorer)
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau, self.in_batch = float(tau), bool(in_batch)

    @property
    def negatives(self) -> str:
        return "in_batch" if self.in_batch else "sampler"

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None,
                **context) -> Tensor:
        if self.in_batch:
            if len(user) < 2:  # a batch of one row has no in-batch negative
                return user.sum() * 0.0
            logits = self.scorer.matrix(user, pos) / self.tau  # (B, B), diagonal positive
            target = torch.arange(len(user), device=user.device)
            return F.cross_entropy(logits, target)
        if neg.dim() == 2:
            neg = neg.unsqueeze(1)
        pos_logit = self.scorer.pair(user, pos).unsqueeze(1)
        neg_logit = self.scorer.pair(user.unsqueeze(1), neg)
        logits = torch.cat([pos_logit, neg_logit], 1) / self.tau
        return -(logits[:, 0] - torch.logsumexp(logits, 1)).mean()
