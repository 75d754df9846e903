"""MixGCF: hard negatives synthesised by positive and hop mixing."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives, row_dots
from gnnrec.sampling.pool import CandidatePool


class MixGCF(CandidatePool, NegativeSampler):
    r"""MixGCF (`Huang et al., KDD 2021
    <https://doi.org/10.1145/3447548.3467408>`_). For each :math:`(u, i^+)`
    draw :math:`M` uniform non-positive candidates; with the encoder's
    per-layer embeddings :math:`\mathbf{e}^{(l)}`:

    * *positive mixing* (Eq. 6 there): at every layer :math:`l` draw one
      :math:`a^{(l)} \sim U(0, 1)` per example, *shared by its* :math:`M`
      *candidates* (the paper's formulation and the authors' code,
      ``seed = torch.rand(batch_size, 1, n_hops + 1, 1)``), and mix
      :math:`\mathbf{e}'^{(l)}_m = a^{(l)} \mathbf{e}^{(l)}_{i^+} +
      (1 - a^{(l)})\, \mathbf{e}^{(l)}_m`;
    * *hop mixing* (Eq. 7-8): at every layer keep the candidate whose mixed
      embedding has the largest inner product with the user,
      :math:`m_l = \arg\max_m \mathbf{q}_u^\top \mathbf{e}'^{(l)}_m`, where
      :math:`\mathbf{q}_u` is the user's pooled embedding (its own layer-
      :math:`l` embedding when the encoder concatenates layers, as NGCF; as
      the authors' code). With :math:`a^{(l)}` shared the mixed score is
      :math:`a\,\mathbf{q}^\top\mathbf{e}_{i^+} + (1 - a)\,
      \mathbf{q}^\top\mathbf{e}_m`, a monotone function of the candidate's
      own score, so :math:`m_l` is the candidate with the highest *unmixed*
      score, computed as such;
    * the synthetic negative is the encoder's pooling (Eq. 9) of
      :math:`a^{(l)}\mathbf{e}^{(l)}_{i^+} + (1 - a^{(l)})\mathbf{e}^{(l)}_{m_l}`.

    Selection is not differentiated; gradients flow into the mixed
    embeddings (of the positive and of the picked candidates), as in the
    authors' code, and the L2 term uses the synthetic layer-0 embedding, as
    there. (A coefficient drawn per candidate, an earlier reading, biases
    the argmax towards candidates with a large :math:`a`: the negative
    becomes the positive, hardness ~1 and a loss stuck at :math:`\log 2`.)

    Args:
        num_candidates (int, optional): :math:`M`; :obj:`None` derives it
            from the data (:class:`~gnnrec.sampling.pool.CandidatePool`).
            (default: :obj:`None`)
        max_candidates (int, optional): a derived pool's cap. (default: :obj:`16`)
        num_negatives (int, optional): negatives per positive, each from its
            own candidates and coefficients. (default: :obj:`1`)
    """
    summary = "synthetic negatives: per-layer positive mixing + hop mixing over M candidates"
    needs_layers = True

    def __init__(self, num_candidates: Optional[int] = None, max_candidates: int = 16,
                 num_negatives: int = 1):
        super().__init__(num_negatives)
        self._init_pool(num_candidates, max_candidates)

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        cand = self.candidates(users, self.num_candidates, generator)  # (B, K, M)
        B, K, M = cand.shape
        L1 = len(out.layers)
        if out.ego_is_pooled and out.batch_pos is not None:  # MF: the objective's gather
            pos_layers = out.batch_pos.unsqueeze(-2)
        else:
            pos_layers = out.item_layers(pos_items)  # (B, L+1, D), with gradient
        with torch.no_grad():
            layerwise = out.pooled.size(1) != pos_layers.size(-1)  # concatenating encoder
            q_all = out.user_layers(users) if layerwise else out.batch_user_rows(users)
            best = []
            for layer in range(L1):
                q = q_all[:, layer] if layerwise else q_all  # (B, D)
                score = row_dots(q, out.layers[layer][out.num_users:], cand)  # (B, K, M)
                best.append(score.max(-1).indices)  # hop mixing's pick
            picked = cand.gather(2, torch.stack(best, -1))  # (B, K, L+1)
        a = torch.rand((B, K, L1, 1), generator=generator, device=cand.device,
                       dtype=pos_layers.dtype)  # one per example and layer, shared by M
        neg_layers = torch.stack([out.rows(out.layers[layer], picked[..., layer] + out.num_users)
                                  for layer in range(L1)], dim=-2)  # (B, K, L+1, D)
        synth = a * pos_layers.unsqueeze(1) + (1 - a) * neg_layers
        neg = self.pack(picked[..., 0], out, users, pos_items, emb=out.pool(synth),
                        ego=synth[..., 0, :])
        neg.items = None  # synthetic: no real item stands for it
        return neg
