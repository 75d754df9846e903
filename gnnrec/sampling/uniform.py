"""RNS: uniform negatives over each user's non-interacted items."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives


class RNS(NegativeSampler):
    r"""Random negative sampling (`Rendle et al. 2009, BPR
    <https://arxiv.org/abs/1205.2618>`_): each negative is uniform over
    :math:`\mathcal{I} \setminus \mathcal{I}_u`, exactly (no rejection loop,
    see :meth:`~gnnrec.data.positives.PositiveSet.sample_complement`).

    Args:
        num_negatives (int, optional): negatives per positive; with more than
            one the embeddings are ``(B, K, D)``. (default: :obj:`1`)
    """
    summary = "uniform over each user's non-interacted items (exact)"

    def __init__(self, num_negatives: int = 1):
        super().__init__(num_negatives)

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        return self.pack(self.blind_items(users, pos_items, generator), out, users, pos_items)

    def blind_items(self, users: Tensor, pos_items: Tensor,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        return self.candidates(users, 1, generator).squeeze(-1)
