"""PDNS: DNS selection, then positive-dominated mixing."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives, _in_range
from gnnrec.sampling.pool import CandidatePool
from gnnrec.sampling.dynamic import dns_select


class PDNS(CandidatePool, NegativeSampler):
    r"""Positive-dominated negative synthesising (`Shi et al., "Enhancing
    Recommender Systems: A Strategy to Mitigate False Negative Impact"
    <https://arxiv.org/abs/2211.13912>`_, Sec. 3.2): a DNS pick :math:`j` (Eq. 3) is mixed
    with the positive, Eq. 5,

    .. math::
        \tilde{\mathbf{e}}_{j'} = a\,\mathbf{e}_{i} + (1 - a)\,\mathbf{e}_j,

    with a fixed :math:`a` (normally > 0.7, so the positive dominates).
    Gradients flow into both :math:`\mathbf{e}_i` and
    :math:`\mathbf{e}_j`, so BPR on :math:`\tilde{\mathbf{e}}_{j'}` is Eq. 7,
    :math:`-\ln\sigma((1-a)(\hat y_{ui} - \hat y_{uj}))`: exactly DNS with the
    soft BPR loss of Eq. 10 at :math:`\beta = 1 - a` (``--loss softbpr``),
    same loss and same gradients (Eq. 8-9). The L2 term penalises the real
    item :math:`j`'s ego embedding, so the two forms minimise the same
    objective.

    Args:
        mix (float, optional): :math:`a`, in ``[0, 1]``. (default: :obj:`0.9`)
        num_candidates (int, optional): DNS pool size :math:`H`; :obj:`None` derives it
            from the data (:class:`~gnnrec.sampling.pool.CandidatePool`).
            (default: :obj:`None`)
        max_candidates (int, optional): a derived pool's cap. (default: :obj:`16`)
        num_negatives (int, optional): negatives per positive.
            (default: :obj:`1`)
    """
    summary = "DNS pick mixed with the positive: a*e_i + (1-a)*e_j (a fixed, ~0.9)"

    def __init__(self, mix: float = 0.9, num_candidates: Optional[int] = None,
                 max_candidates: int = 16, num_negatives: int = 1):
        super().__init__(num_negatives)
        _in_range("mix", mix, 0.0, 1.0)
        self._init_pool(num_candidates, max_candidates)
        self.mix = float(mix)

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        items = dns_select(self, users, out, self.num_candidates, 1, generator)  # (B, K)
        if out.batch_pos is not None:  # the objective's gather of the positives
            pos, neg = out.batch_pos.unsqueeze(1), out.item_rows(items)
        else:
            both = out.item_rows(torch.cat([pos_items.unsqueeze(1), items], 1))  # one gather
            pos, neg = both[:, :1], both[:, 1:]
        emb = self.mix * pos + (1.0 - self.mix) * neg
        # the L2 term penalises the real item j's ego embedding: for MF, the rows just gathered
        return self.pack(items, out, users, pos_items, emb=emb,
                         ego=neg if out.ego_is_pooled else None)
