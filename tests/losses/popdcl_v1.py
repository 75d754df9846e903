"""PopDCL as it was before the index-list rewrite (session 16), frozen for
tests/losses/test_equivalence.py. Not used by gnnrec."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.losses.base import RecLoss
from gnnrec.losses.inbatch import EXCLUDED, excluded_mask, kept_count

_MARGIN = 1e-6


class _CorrectedNegatives(torch.autograd.Function):
    r"""Row-wise :math:`\log\sum_{j \text{ kept}} \exp c_{kj}` of PopDCL's
    corrected negative logits (Eq. 9, clamped),

    .. math::
        c_{kj} = \max\Big(\log\big(e^{s_{kj}} - \omega_k e^{s_{kk}}\big)
        - \log(1 - \omega_k),\ -1/\tau\Big),

    from the logit matrix :math:`s = f/\tau` and the positives' logits
    :math:`s_{kk}`, in one autograd node: the forward keeps only the softmax
    weights and :math:`r = 1/(1 - \omega e^{s_{kk} - s_{kj}})` of the
    unclamped entries, from which the backward is
    :math:`\partial/\partial s_{kj} = w\,r` and
    :math:`\partial/\partial s_{kk} = -\sum_j w (r - 1)`."""

    @staticmethod
    def forward(ctx, s: Tensor, s_pos: Tensor, excluded: Tensor, log_w: Tensor,
                log1m_w: Tensor, floor: float):
        d = (s_pos + log_w).unsqueeze(1) - s  # log(w e^{s_kk} / e^{s_kj})
        ok = d < -_MARGIN  # e^{s_kj} > w e^{s_kk}: Eq. 9 is positive
        e_d = d.clamp_(max=-_MARGIN).exp_()
        c = torch.log1p(e_d.neg()).add_(s).sub_(log1m_w.unsqueeze(1))
        c = torch.where(ok, c, torch.full_like(c, floor))
        active = ok & (c > floor)  # entries that move with the scores
        c.clamp_(min=floor)
        c.add_(excluded, alpha=EXCLUDED)
        top = c.amax(1, keepdim=True)
        c.sub_(top).exp_()
        total = c.sum(1, keepdim=True)
        total.masked_fill_((kept_count(excluded) <= 0).unsqueeze(1), 0.0)
        r = torch.where(active, 1.0 / (1.0 - e_d), torch.zeros_like(e_d))
        ctx.save_for_backward(c, total, r)
        return (total.log() + top).squeeze(1)

    @staticmethod
    def backward(ctx, grad: Tensor):
        c, total, r = ctx.saved_tensors
        scale = torch.where(total > 0, grad.unsqueeze(1) / total, torch.zeros_like(total))
        weight = c * scale  # softmax weight over the kept entries x upstream gradient
        grad_s = weight * r  # d c_kj / d s_kj = r
        # d c_kj / d s_kk = 1 - r on the active entries
        grad_pos = torch.where(r > 0, weight, torch.zeros_like(weight)).sum(1) - grad_s.sum(1)
        return grad_s, grad_pos, None, None, None, None


def _corrected_lse(s, s_pos, excluded, log_w, log1m_w, floor):
    return _CorrectedNegatives.apply(s, s_pos, excluded, log_w, log1m_w, floor)


class PopDCL(RecLoss):
    r"""Popularity-aware debiased contrastive loss
    (`Liu et al., "PopDCL: Popularity-aware Debiased Contrastive Loss for
    Collaborative Filtering", CIKM 2023
    <https://doi.org/10.1145/3583780.3615009>`_), with in-batch negatives
    (the other rows' items) and cosine scores :math:`f` on L2-normalised
    embeddings:

    .. math::
        \mathcal L(u, i) = -\log \frac{e^{[f(u,i) - M^+(u,i)]/\tau}}
        {e^{[f(u,i) - M^+(u,i)]/\tau} + \sum_{j \in \mathcal B_u}
        e^{[f(u,j) - M^-(u,j)]/\tau}} \quad \text{(Eq. 1)}

    where :math:`\mathcal B_u` holds the batch's items that are *not*
    training items of :math:`u` (copies of the positive and the user's other
    items are false negatives and are left out, as sampled softmax's
    false-negative masking does; the paper writes :math:`j \in B \setminus
    \{i\}`, which counts them).

    * positive correction (Eq. 2-6):
      :math:`M^+(u,i) = \sigma\big(P(i \notin \mathcal N_u)\, f^-(u,i)\big)`,
      :math:`P(i \notin \mathcal N_u) = \mathrm{pop}(i) / \sum_{i' \in
      \mathcal N_u} \mathrm{pop}(i')` (Eq. 3),
      :math:`f^-(u,i) = \frac{1}{|\mathcal B_u|}\sum_{j \in \mathcal B_u}
      f(u,j)` (Eq. 5);
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
    ``--reg``. The loss is the mean over the batch, computed in log space;
    Eq. 9's negatives are one fused autograd node.

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
        self.positives = None

    def bind(self, graph) -> None:
        pop = graph.item_degree.double()
        self.item_pop = pop.float()
        self.user_pop_sum = torch.zeros(graph.num_users, dtype=torch.float64,
                                        device=pop.device).index_add_(0, graph.user,
                                                                      pop[graph.item])
        self.num_interactions = graph.num_edges
        self.positives = graph.positives

    def excluded(self, users: Tensor, items: Tensor) -> Tensor:
        r"""``(B, B)`` indicator of the in-batch items that are not negatives
        of each row: the user's training items (the positive and its copies
        included)."""
        pairs = self.positives.member_pairs(users, items)
        B = len(users)
        return excluded_mask(B, B, users.device, pairs=pairs,
                             own=torch.arange(B, device=users.device).unsqueeze(1))

    def corrections(self, users: Tensor, items: Tensor, scores: Tensor,
                    excluded: Optional[Tensor] = None):
        r"""``(M_plus (B,), omega_plus (B,))`` for the batch, from the
        ``(B, B)`` cosine score matrix (diagonal positives) and the
        :meth:`excluded` indicator (``None``: only the diagonal)."""
        B = len(users)
        if excluded is None:
            excluded = excluded_mask(B, B, scores.device,
                                     own=torch.arange(B, device=scores.device).unsqueeze(1))
        kept = kept_count(excluded)
        f_minus = (scores * (1.0 - excluded)).sum(1) / kept.clamp(min=1)  # Eq. 5
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
        un, pn = F.normalize(user, dim=-1), F.normalize(pos, dim=-1)
        scores = un @ pn.t()  # (B, B) cosine, diagonal positive
        excluded = self.excluded(users, items)
        m_plus, omega = self.corrections(users, items, scores, excluded)
        f_pos = (un * pn).sum(1)
        pos_logit = (f_pos - m_plus) / tau
        omega = omega.clamp(min=1e-12, max=1 - 1e-6)
        neg_lse = _corrected_lse(scores / tau, f_pos / tau, excluded, omega.log(),
                                 torch.log1p(-omega), -1.0 / tau)
        return (torch.logaddexp(pos_logit, neg_lse) - pos_logit).mean()
