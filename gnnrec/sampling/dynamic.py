"""DNS: the highest-scored of H uniform candidates (and DNS(M, N))."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives, _at_least, _in_range
from gnnrec.sampling.pool import CandidatePool


def dns_select(sampler: NegativeSampler, users: Tensor, out: EncoderOutput, num_candidates: int,
               top: int = 1, generator=None) -> Tensor:
    r"""``(B, K)`` items: per (user, k), ``num_candidates`` uniform
    non-positive candidates, the ``top`` highest-scored kept and one of them
    taken uniformly (``top = 1``: the argmax, Eq. 3 of the PDNS paper)."""
    cand = sampler.candidates(users, num_candidates, generator)
    scores = sampler.candidate_scores(out, users, cand)
    if top == 1:
        pick = scores.max(-1, keepdim=True).indices
    else:
        best = scores.topk(top, dim=-1).indices
        which = torch.randint(top, best.shape[:-1] + (1,), generator=generator,
                              device=best.device)
        pick = best.gather(-1, which)
    return cand.gather(-1, pick).squeeze(-1)


class DNS(CandidatePool, NegativeSampler):
    r"""Dynamic negative sampling (`Zhang et al. 2013
    <https://doi.org/10.1145/2484028.2484126>`_; PDNS paper Eq. 3): draw a
    pool :math:`\mathcal{C}` of :math:`H` items uniformly from
    :math:`\mathcal{I} \setminus \mathcal{I}_u` and keep

    .. math::
        j = \arg\max_{k \in \mathcal{C}} \mathbf{e}_u^\top \mathbf{e}_k.

    With ``top = N > 1`` it is DNS(M, N) of `Shi et al. 2023
    <https://arxiv.org/abs/2302.03472>`_ as the AHNS authors run it: one of
    the :math:`N` highest-scored of the :math:`M = H` candidates, uniformly.
    Selection is not differentiated; the loss sees the picked item's
    embedding.

    Args:
        num_candidates (int, optional): pool size :math:`H` (:math:`M`); :obj:`None` derives it
            from the data (:class:`~gnnrec.sampling.pool.CandidatePool`).
            (default: :obj:`None`)
        max_candidates (int, optional): a derived pool's cap. (default: :obj:`16`)
        top (int, optional): :math:`N`, in ``[1, num_candidates]``.
            (default: :obj:`1`)
        num_negatives (int, optional): negatives per positive, each from its
            own pool. (default: :obj:`1`)
    """
    summary = "dynamic negative sampling: best-scored of H uniform candidates"

    def __init__(self, num_candidates: Optional[int] = None, max_candidates: int = 16,
                 top: int = 1, num_negatives: int = 1):
        super().__init__(num_negatives)
        self._init_pool(num_candidates, max_candidates)
        if num_candidates is None:
            _at_least("top", top, 1)
        else:
            _in_range("top", top, 1, num_candidates)
        self.top = int(top)

    def _min_pool(self) -> int:
        return self.top

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        items = dns_select(self, users, out, self.num_candidates, self.top, generator)
        return self.pack(items, out, users, pos_items)
