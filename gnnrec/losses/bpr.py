"""Bayesian personalised ranking."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import RecLoss, pair_scores


class BPR(RecLoss):
    r"""The BPR loss (`Rendle et al. 2009 <https://arxiv.org/abs/1205.2618>`_;
    PDNS paper Eq. 1-2), averaged over the batch (and over the ``K``
    negatives of each positive when there are several):

    .. math::
        \mathcal{L} = -\frac{1}{|B|}\sum_{(u,i,j)} \ln\sigma(\hat y_{ui} -
        \hat y_{uj}), \qquad \hat y_{ui} = \mathbf{e}_u^\top \mathbf{e}_i.

    The L2 penalty on ego embeddings is added by the objective, not here.

    Args:
        scorer (str, optional): :math:`\hat y`: ``dot``, ``cosine`` or
            ``modulated`` (HDCCF Eq. 7-8). (default: :obj:`"dot"`)

    Shapes:
        - **input:** user :math:`(B, D)`, pos :math:`(B, D)`, neg
          :math:`(B, D)` or :math:`(B, K, D)`
        - **output:** scalar
    """
    summary = "BPR: -ln sigmoid(y_ui - y_uj), mean over the batch"

    def __init__(self, scorer: str = "dot"):
        super().__init__(scorer)

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None,
                **context) -> Tensor:
        pos_score, neg_score = pair_scores(user, pos, neg, self.scorer)
        if neg_score.dim() == 2:
            pos_score = pos_score.unsqueeze(-1)
        return F.softplus(neg_score - pos_score).mean()
