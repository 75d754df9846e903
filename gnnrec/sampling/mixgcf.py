"""MixGCF: hard negatives synthesised by positive and hop mixing."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives, _at_least


class MixGCF(NegativeSampler):
    r"""MixGCF (`Huang et al., KDD 2021
    <https://doi.org/10.1145/3447548.3467408>`_), as summarised in the
    project spec. For each :math:`(u, i^+)` draw :math:`M` uniform
    non-positive candidates; with the encoder's per-layer embeddings
    :math:`\mathbf{e}^{(l)}`:

    * *positive mixing*, at every layer :math:`l` and for every candidate
      :math:`m`, with a fresh :math:`a^{(l)}_m \sim U(0, 1)`:
      :math:`\mathbf{e}'^{(l)}_m = a^{(l)}_m \mathbf{e}^{(l)}_{i^+} +
      (1 - a^{(l)}_m)\, \mathbf{e}^{(l)}_m`;
    * *hop mixing*: at every layer keep the candidate whose mixed embedding
      has the largest inner product with the user,
      :math:`\mathbf{e}^{(l)} = \mathbf{e}'^{(l)}_{m_l}`,
      :math:`m_l = \arg\max_m \mathbf{q}_u^{(l)\top} \mathbf{e}'^{(l)}_m`,
      where :math:`\mathbf{q}_u^{(l)}` is the user's pooled embedding (the
      user's own layer-:math:`l` embedding when the encoder concatenates
      layers, as NGCF);
    * the synthetic negative is the encoder's pooling of the picked layers.

    Selection is not differentiated; gradients flow into the mixed
    embeddings (of the positive and of the picked candidates), as in the
    authors' code. Their code draws one :math:`a^{(l)}` per example and
    layer shared by the candidates; the spec draws it per candidate, as here.
    The L2 term uses the synthetic layer-0 embedding, as in their code.

    Args:
        num_candidates (int, optional): :math:`M`. (default: :obj:`16`)
        num_negatives (int, optional): negatives per positive, each from its
            own candidates. (default: :obj:`1`)
    """
    summary = "synthetic negatives: per-layer positive mixing + hop mixing over M candidates"
    needs_layers = True

    def __init__(self, num_candidates: int = 16, num_negatives: int = 1):
        super().__init__(num_negatives)
        _at_least("num_candidates", num_candidates, 1)
        self.num_candidates = int(num_candidates)

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        cand = self.candidates(users, self.num_candidates, generator)  # (B, K, M)
        B, K, M = cand.shape
        L1 = len(out.layers)
        pos_layers = out.item_layers(pos_items)  # (B, L+1, D), with gradient
        a = torch.rand((B, K, M, L1, 1), generator=generator, device=cand.device,
                       dtype=pos_layers.dtype)
        with torch.no_grad():
            # the score of a mixed embedding is linear in the mix:
            # q.(a p + (1 - a) n) = a (q.p) + (1 - a) (q.n), so no mixed tensor is built
            layerwise = out.pooled.size(1) != pos_layers.size(-1)  # concatenating encoder
            q_all = out.user_layers(users) if layerwise else out.user[users]
            s_n, s_p = [], []
            for layer in range(L1):
                q = q_all[:, layer] if layerwise else q_all  # (B, D)
                n = out.layers[layer][cand + out.num_users]  # (B, K, M, D)
                s_n.append(torch.einsum("bd,bkmd->bkm", q, n))
                s_p.append((q * pos_layers[:, layer].detach()).sum(-1))
            s_n = torch.stack(s_n, -1)  # (B, K, M, L+1)
            s_p = torch.stack(s_p, -1)[:, None, None, :]  # (B, 1, 1, L+1)
            scores = a.squeeze(-1) * s_p + (1 - a.squeeze(-1)) * s_n
            best = scores.argmax(2)  # (B, K, L+1): the hop-mixing pick of every layer
        picked_items = cand.gather(2, best)  # (B, K, L+1): a candidate per layer
        a_best = a.squeeze(-1).gather(2, best.unsqueeze(2)).squeeze(2).unsqueeze(-1)
        neg_layers = torch.stack(
            [out.layers[layer][picked_items[..., layer] + out.num_users] for layer in range(L1)],
            dim=-2)  # (B, K, L+1, D), with gradient
        synth = a_best * pos_layers.unsqueeze(1) + (1 - a_best) * neg_layers
        emb = out.pool(synth)
        neg = self.pack(picked_items[..., 0], out, users, pos_items, emb=emb,
                        ego=synth[..., 0, :])
        neg.items = None  # synthetic: no real item stands for it
        return neg
