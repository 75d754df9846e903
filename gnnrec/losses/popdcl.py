"""PopDCL: popularity-aware debiased contrastive loss."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.losses.base import RecLoss


class PopDCL(RecLoss):
    r"""Popularity-aware debiased contrastive loss
    (`Liu et al., "PopDCL: Popularity-aware Debiased Contrastive Loss for
    Collaborative Filtering", CIKM 2023
    <https://doi.org/10.1145/3583780.3615009>`_), with in-batch negatives :math:`j \in B
    \setminus \{i\}` (the other rows' items) and cosine scores :math:`f` on
    L2-normalised embeddings:

    .. math::
        \mathcal L(u, i) = -\log \frac{e^{[f(u,i) - M^+(u,i)]/\tau}}
        {e^{[f(u,i) - M^+(u,i)]/\tau} + \sum_{j \in B\setminus\{i\}}
        e^{[f(u,j) - M^-(u,j)]/\tau}} \quad \text{(Eq. 1)}

    * positive correction (Eq. 2-6):
      :math:`M^+(u,i) = \sigma\big(P(i \notin \mathcal N_u)\, f^-(u,i)\big)`,
      :math:`P(i \notin \mathcal N_u) = \mathrm{pop}(i) / \sum_{i' \in
      \mathcal N_u} \mathrm{pop}(i')` (Eq. 3),
      :math:`f^-(u,i) = \frac{1}{|B|-1}\sum_{j \in B\setminus\{i\}} f(u,j)`
      (Eq. 5);
    * personalised bias correction (Eq. 8):
      :math:`\omega^+(u) = \sum_{i \in \mathcal N_u}\mathrm{pop}(i) / N`,
      :math:`\omega^- = 1 - \omega^+`;
    * negative correction, Eq. 9 directly (not the Eq. 10 approximation):
      :math:`e^{[f(u,j) - M^-(u,j)]/\tau} = \frac{1}{\omega^-(u)}\big(e^{f(u,j)/\tau}
      - \omega^+(u)\, e^{f(u,i)/\tau}\big)`.

    The right side of Eq. 9 is negative whenever
    :math:`e^{f(u,j)/\tau} < \omega^+ e^{f(u,i)/\tau}` (a well-separated
    positive), which the paper leaves open; each corrected term is clamped at
    the theoretical minimum of :math:`e^{f/\tau}` for cosine scores,
    :math:`e^{-1/\tau}` (the DCL clamp, per term), so the loss is always
    defined. :math:`\omega^-` is floored at ``1e-6``. Popularity is the
    training degree, :math:`\mathcal N_u` the training items of :math:`u`,
    :math:`N` the number of training interactions, all precomputed once per
    graph (:meth:`bind`). Gradients flow through :math:`M^+` (it depends on
    the negatives' scores). The L2 term (Eq. 16) is the objective's
    ``--reg``. The loss is the mean over the batch, computed in log space.

    Args:
        tau (float, optional): temperature, ``> 0``. (default: :obj:`0.1`)
    """
    summary = "PopDCL: cosine in-batch contrastive loss with popularity-aware M+ / M- corrections"
    negatives = "in_batch"

    def __init__(self, tau: float = 0.1):
        super().__init__("cosine")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.tau = float(tau)
        self.user_pop_sum: Optional[Tensor] = None

    def bind(self, graph) -> None:
        pop = graph.item_degree.double()
        self.item_pop = pop.float()
        self.user_pop_sum = torch.zeros(graph.num_users, dtype=torch.float64,
                                        device=pop.device).index_add_(0, graph.user,
                                                                      pop[graph.item])
        self.num_interactions = graph.num_edges

    def corrections(self, users: Tensor, items: Tensor, scores: Tensor):
        r"""``(M_plus (B,), omega_plus (B,))`` for the batch, from the
        ``(B, B)`` cosine score matrix (diagonal positives)."""
        B = len(users)
        off = ~torch.eye(B, dtype=torch.bool, device=scores.device)
        f_minus = (scores * off).sum(1) / (B - 1)  # Eq. 5
        p_not = self.item_pop[items] / self.user_pop_sum[users].float()  # Eq. 3
        m_plus = torch.sigmoid(p_not * f_minus)  # Eq. 6
        omega = (self.user_pop_sum[users] / self.num_interactions).float()  # Eq. 8
        return m_plus, omega

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None, *,
                users: Tensor, items: Tensor, **context) -> Tensor:
        if self.user_pop_sum is None:
            raise RuntimeError("PopDCL is not bound to a graph")
        B = len(users)
        if B < 2:  # no in-batch negative (e.g. a last batch of one row): nothing to contrast
            return user.sum() * 0.0
        tau = self.tau
        scores = self.scorer.matrix(user, pos)  # (B, B) cosine, diagonal positive
        m_plus, omega = self.corrections(users, items, scores)
        f_pos = scores.diagonal()
        pos_logit = (f_pos - m_plus) / tau
        # Eq. 9 in log space: log(e^{s_j} - w e^{s_i}) - log(1 - w), clamped at -1/tau
        s = scores / tau
        off = ~torch.eye(B, dtype=torch.bool, device=s.device)
        log_w = torch.log(omega.clamp(min=1e-12)).unsqueeze(1) + (f_pos / tau).unsqueeze(1)
        d = log_w - s  # log(w e^{s_i} / e^{s_j})
        ok = d < -1e-6
        safe = torch.where(ok, d, torch.full_like(d, -1.0))
        corrected = torch.where(ok, s + torch.log1p(-torch.exp(safe)),
                                torch.full_like(s, float("-inf")))
        corrected = corrected - torch.log1p(-omega.clamp(max=1 - 1e-6)).unsqueeze(1)
        corrected = torch.maximum(corrected, torch.full_like(corrected, -1.0 / tau))
        neg_lse = torch.logsumexp(corrected.masked_fill(~off, float("-inf")), 1)
        return (torch.logaddexp(pos_logit, neg_lse) - pos_logit).mean()
