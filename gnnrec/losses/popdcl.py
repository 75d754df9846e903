"""PopDCL: popularity-aware debiased contrastive loss."""
from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.data.density import MAX_OWN_RATE, is_dense, own_pick_rate
from gnnrec.losses.base import RecLoss
from gnnrec.losses.inbatch import (DerivedScorer, DerivedTau, covering_note, excluded_mask,
                                   kept_count)


class _CorrectedNegatives(torch.autograd.Function):
    r"""Row-wise :math:`\log\sum_{j \text{ kept}} \exp c_{kj}` of PopDCL's
    corrected negative logits (Eq. 9, clamped),

    .. math::
        c_{kj} = \max\Big(\log\big(e^{s_{kj}} - \omega_k e^{s_{kk}}\big)
        - \log(1 - \omega_k),\ -1/\tau\Big),

    from the score matrix :math:`f` (:math:`s = f/\tau`) and the positives'
    logits :math:`s_{kk}`, in one autograd node, with the excluded entries
    given as index lists. No logarithm of the matrix is taken: with a
    per-row shift :math:`m_k \ge \max_j s_{kj}`,

    .. math::
        e^{c_{kj} + \log(1-\omega_k) - m_k} = \max\big(E_{kj} - A_k,\ L_k\big),
        \quad E = e^{s - m},\ A_k = \omega_k e^{s_{kk} - m_k},\
        L_k = (1 - \omega_k)\, e^{-1/\tau - m_k},

    so the forward is five passes over the ``B x B`` matrix (scale, shift,
    exponentiate, subtract and clamp, sum) and keeps only these terms
    :math:`T`; the backward is :math:`\partial/\partial s_{kj} = (T_{kj} +
    A_k)/\Sigma_k` on the unclamped entries (:math:`T > L`) and
    :math:`\partial/\partial s_{kk} = -A_k\, n_k / \Sigma_k`, :math:`n_k`
    their number, :math:`\Sigma_k = \sum_j T_{kj}`. In float32 while
    :math:`e^{-2/\tau}/10^6` is representable (:math:`\tau \ge 0.05`), in
    float64 below."""

    @staticmethod
    def forward(ctx, f: Tensor, s_pos: Tensor, rows: Tensor, cols: Tensor, kept: Tensor,
                log_w: Tensor, log1m_w: Tensor, floor: float, inv_tau: float,
                weight: Optional[Tensor] = None):
        dtype = torch.float64 if inv_tau > 20 else f.dtype
        t = torch.mul(f.to(dtype), inv_tau)  # s
        m = t.amax(1, keepdim=True)
        t.sub_(m).exp_()  # E
        a = (s_pos.to(dtype) + log_w).unsqueeze(1).sub(m).exp_()  # A
        low = (floor + log1m_w).to(dtype).unsqueeze(1).sub(m).exp_()  # L
        t.sub_(a).clamp_(min=low)  # T
        if cols is None:  # rows is the (B, B) 0/1 indicator of the kept entries
            t.mul_(rows.to(dtype))
        else:
            t[rows, cols] = 0.0  # excluded: no term (and T = 0 < L marks them clamped)
        w = None if weight is None else weight.to(dtype)
        total = (t.sum(1, keepdim=True) if w is None else (t @ w).unsqueeze(1))
        total.masked_fill_((kept <= 0).unsqueeze(1), 0.0)
        ctx.inv_tau, ctx.dtype = inv_tau, f.dtype
        ctx.save_for_backward(t, total, a, low, w)
        return ((total.log() + m).squeeze(1) - log1m_w.to(dtype)).to(f.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        t, total, a, low, w = ctx.saved_tensors
        scale = torch.where(total > 0, grad.to(total.dtype).unsqueeze(1) / total,
                            torch.zeros_like(total))
        # 1 on the unclamped entries, 0 on the clamped (T = L) and excluded (T = 0 < L)
        # ones; arithmetic, as boolean masks of B x B run ~10x slower on CPU here
        active = torch.sub(t, low).sign_().clamp_(min=0.0)
        if w is not None:  # each term weighs w_j
            active.mul_(w)
        count = active.sum(1, keepdim=True)
        grad_s = torch.add(t, a).mul_(active)  # w E on the unclamped entries
        grad_pos = -(a * scale * count).squeeze(1)
        return (grad_s.mul_(scale * ctx.inv_tau).to(ctx.dtype), grad_pos.to(ctx.dtype),
                None, None, None, None, None, None, None, None)


def _corrected_lse(f, s_pos, excluded, kept, log_w, log1m_w, floor, inv_tau=1.0,
                   weight=None):
    r"""``excluded``: index lists ``(rows, cols)``, or a ``(B, B)`` 0/1
    tensor of the *kept* entries; ``weight``: ``(B,)`` column weights of the
    terms (``None``: all 1)."""
    rows, cols = excluded if isinstance(excluded, tuple) else (excluded, None)
    return _CorrectedNegatives.apply(f, s_pos, rows, cols, kept, log_w, log1m_w,
                                     floor, float(inv_tau), weight)


def use_mask(num_pairs: int, rows: int, cols: int, dim: int) -> bool:
    r"""Whether ``num_pairs`` excluded entries of a ``rows x cols`` score
    matrix of ``dim``-dimensional factors are cheaper handled as a dense
    mask (one pass over the matrix) than as index lists (a ``dim``-long dot
    product per pair): on dense data a batch of 2048 excludes ~2 M pairs,
    half its matrix."""
    return num_pairs * dim > rows * cols


class PopDCL(DerivedScorer, DerivedTau, RecLoss):
    r"""Popularity-aware debiased contrastive loss
    (`Liu et al., "PopDCL: Popularity-aware Debiased Contrastive Loss for
    Collaborative Filtering", CIKM 2023
    <https://doi.org/10.1145/3583780.3615009>`_), with in-batch negatives
    (the other rows' items) and scores :math:`f`, the cosine of L2-normalised
    embeddings (the paper's; the dot product where ``scorer`` derives it):

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

    With ``logq`` (the default) each in-batch negative :math:`j` weighs
    :math:`1/q_j`, :math:`q_j = \mathrm{pop}(j)/N` its probability of being
    drawn into a batch, in Eq. 5's mean and in Eq. 1's sum (self-normalised:
    weighted means times the number of negatives kept), as
    :class:`~gnnrec.losses.DCL`'s ``logq`` does: the popularity terms
    :math:`M^+, M^-` (Eq. 3-9) do not undo the popularity with which
    in-batch sampling draws negatives, which pushes every popular item down
    where a batch covers the catalogue.

    Args:
        tau (float, optional): temperature, ``> 0``; :obj:`None` derives
            it from the data (:class:`~gnnrec.losses.inbatch.DerivedTau`).
            0.2 was chosen on 20-core Gowalla *without* logQ; with logQ (the
            default) test Recall@20 there (LightGCN, 20 epochs) is 0.230 at
            0.1 (seeds 0-2) against 0.217 at 0.2 (seeds 0-1), and on full Gowalla at 0.2
            validation plateaued at 0.155 against BPR + RNS's 0.197
            (``benchmarks/README.rst`` sections 5 and 6). (default:
            :obj:`None`)
        exclude_observed (bool, optional): leave the user's training items
            (copies of the positive included) out of :math:`\mathcal B_u`;
            off is the paper's :math:`B \setminus \{i\}`, which counts them
            as negatives while Eq. 8's :math:`\omega^+(u)` discounts them
            (dense synthetic set, MF, without logQ, seed 0: validation
            Recall@20 0.062 off against 0.110 on). (default: :obj:`True`)
        logq (bool, optional): the importance weights above. On by default,
            as the evidence says (``benchmarks/README.rst`` section 6): test
            Recall@20 on the dense synthetic set 0.094 -> 0.389 (MF, three
            seeds; BPR + RNS 0.399), on 20-core Gowalla 0.172 -> 0.217
            (LightGCN, section 3's protocol). Off is the loss as printed.
            (default: :obj:`True`)
        negative_correction (bool, optional): the :math:`M^-` correction
            (Eq. 8-9). :obj:`None` applies it except on data dense for hard
            negatives (:func:`~gnnrec.data.density.is_dense`: the most
            popular of 16 uniform candidates is a user's own item more than
            1/8 of the time) when ``exclude_observed`` is on; the run says
            so at its start. Eq. 8's :math:`\omega^+(u)` is the chance that
            a batch item is one of the user's *training* items, which
            ``exclude_observed`` already leaves out; on dense data it is
            large (mean 0.10 on 30-core Gowalla, 0.18 on the dense synthetic
            set, against 0.03 and 0.05 of the negatives kept being held-out
            items, ``benchmarks/omega.py``) and Eq. 9's clamp then takes the
            gradient of many negatives (seed 0, validation Recall@20 with
            it and without: 30-core Gowalla, LightGCN, 0.206 and 0.236; the
            dense synthetic set, MF, 0.407 and 0.428;
            ``benchmarks/README.rst`` section 6). On sparse data it stays
            (20-core Gowalla: 0.218 with it, 0.216 without). Off is
            :math:`\omega^+ = 0`. (default: :obj:`None`)
        scorer (str, optional): :math:`f`: ``cosine`` (the paper's Eq. 1)
            or ``dot``; :obj:`None` derives it as SSM, DCL and HDCCF do
            (:class:`~gnnrec.losses.inbatch.DerivedScorer`): the dot product
            with an encoder whose norms carry degree (LightGCN) on
            popularity-dominated data, the cosine elsewhere. With the dot
            product Eq. 9's clamp at :math:`e^{-1/\tau}` is a floor, not the
            scores' minimum. (default: :obj:`None`)
    """
    summary = "PopDCL: in-batch contrastive loss with popularity-aware M+ / M- corrections"
    negatives = "in_batch"

    def __init__(self, tau: Optional[float] = None, exclude_observed: bool = True,
                 logq: bool = True, negative_correction: Optional[bool] = None,
                 scorer: Optional[str] = None):
        if scorer not in (None, "cosine", "dot"):
            raise ValueError(f"scorer must be cosine or dot, got {scorer!r}")
        super().__init__(scorer or "cosine")
        self.requested_scorer = scorer
        self._init_tau(tau)
        self.exclude_observed = bool(exclude_observed)
        self.logq = bool(logq)
        #: ``None`` decides from the data at :meth:`bind`
        self.negative_correction = (negative_correction if negative_correction is None
                                    else bool(negative_correction))
        self.corrects_negatives = negative_correction is not False
        self.log_q: Optional[Tensor] = None
        self.user_pop_sum: Optional[Tensor] = None
        self.positives = None

    def _drops_correction(self, graph) -> bool:
        return self.negative_correction is None and self.exclude_observed and is_dense(graph)

    def advice(self, graph, batch_size: int) -> List[str]:
        notes = self.tau_note(graph)
        if self._drops_correction(graph):
            pop = graph.item_degree.double()
            per_user = torch.zeros(graph.num_users, dtype=torch.float64,
                                   device=pop.device).index_add_(0, graph.user, pop[graph.item])
            eq8 = float(per_user[graph.user].mean()) / max(graph.num_edges, 1)
            notes.append(f"popdcl: no M- correction (Eq. 8-9) on dense data (the most popular "
                         f"of 16 uniform candidates is a user's own item "
                         f"{own_pick_rate(graph, [16])[0]:.1%} of the time, against "
                         f"{MAX_OWN_RATE:.1%}): Eq. 8's omega+(u) (mean {eq8:.2f} here) counts "
                         f"the user's training items, which are not among its negatives; "
                         f"popdcl.negative_correction=true keeps it")
        if not self.logq:
            notes += covering_note("popdcl", graph, batch_size,
                                   "its popularity terms do not correct it here (dense synthetic "
                                   "set, MF: Recall@20 0.094 against BPR + RNS's 0.399); leave "
                                   "popdcl.logq at its default to correct for it (0.389)")
        return notes

    def bind(self, graph) -> None:
        self._bind_tau(graph)
        self.corrects_negatives = (self.negative_correction is not False
                                   and not self._drops_correction(graph))
        pop = graph.item_degree.double()
        self.item_pop = pop.float()
        self.user_pop_sum = torch.zeros(graph.num_users, dtype=torch.float64,
                                        device=pop.device).index_add_(0, graph.user,
                                                                      pop[graph.item])
        self.num_interactions = graph.num_edges
        self.positives = graph.positives
        self.log_q = (pop.clamp(min=1) / max(graph.num_edges, 1)).log().float()

    def excluded_pairs(self, users: Tensor, items: Tensor):
        r"""Index lists ``(k, j)``, each pair once, of the in-batch items that
        are not negatives of row ``k``: the user's training items (the
        positive and its copies included), and the diagonal."""
        B = len(users)
        if not self.exclude_observed:  # the paper's B \ {i}: the diagonal only
            diag = torch.arange(B, device=users.device)
            return diag, diag
        k, j = self.positives.member_pairs(users, items)  # each pair once
        # the diagonal is among them whenever (users[k], items[k]) is a training pair
        missing = torch.ones(B, dtype=torch.bool, device=users.device)
        missing[k[k == j]] = False
        diag = torch.nonzero(missing).flatten()
        return torch.cat([k, diag]), torch.cat([j, diag])

    def excluded(self, users: Tensor, items: Tensor) -> Tensor:
        r"""``(B, B)`` 0/1 indicator of :meth:`excluded_pairs`."""
        B = len(users)
        return excluded_mask(B, B, users.device, pairs=self.excluded_pairs(users, items))

    def corrections(self, users: Tensor, items: Tensor, scores: Tensor,
                    excluded: Optional[Tensor] = None):
        r"""``(M_plus (B,), omega_plus (B,))`` for the batch, from the
        ``(B, B)`` score matrix (diagonal positives) and the
        :meth:`excluded` indicator (``None``: only the diagonal)."""
        B = len(users)
        if excluded is None:
            excluded = excluded_mask(B, B, scores.device,
                                     own=torch.arange(B, device=scores.device).unsqueeze(1))
        kept = kept_count(excluded)
        f_minus = (scores * (1.0 - excluded)).sum(1) / kept.clamp(min=1)  # Eq. 5
        return self._m_plus(users, items, f_minus), self._omega(users)

    def _m_plus(self, users: Tensor, items: Tensor, f_minus: Tensor) -> Tensor:
        p_not = self.item_pop[items] / self.user_pop_sum[users].float()  # Eq. 3
        return torch.sigmoid(p_not * f_minus)  # Eq. 6

    def _omega(self, users: Tensor) -> Tensor:
        if not self.corrects_negatives:  # omega+ = 0: Eq. 9 leaves every term as it is
            return torch.zeros(len(users), device=users.device)
        return (self.user_pop_sum[users] / self.num_interactions).float()  # Eq. 8

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None, *,
                users: Tensor, items: Tensor, **context) -> Tensor:
        if self.user_pop_sum is None:
            raise RuntimeError("PopDCL is not bound to a graph")
        B = len(users)
        if B < 2:  # no in-batch negative (e.g. a last batch of one row): nothing to contrast
            return user.sum() * 0.0
        tau = self.tau
        un, pn = user, pos
        if self.scorer_name == "cosine":
            un, pn = F.normalize(user, dim=-1), F.normalize(pos, dim=-1)
        scores = un @ pn.t()  # (B, B) f, diagonal positive
        rows, cols = self.excluded_pairs(users, items)
        kept = B - torch.bincount(rows, minlength=B)
        w = None  # logq: each in-batch negative weighs 1 / q_j (at most 1)
        if self.logq:
            bias = -self.log_q[items]
            w = (bias - bias.max()).exp()
        negatives = (rows, cols)  # the exclusions as index lists, or the kept entries as 0/1
        if use_mask(len(rows), B, B, un.size(1)):  # many exclusions: one pass over the matrix
            negatives = 1.0 - excluded_mask(B, B, un.device, pairs=negatives)
            kept_w = kept.to(un.dtype) if w is None else negatives @ w
            row_sum = (scores * negatives).sum(1) if w is None else (scores * negatives) @ w
        else:  # Eq. 5 without a pass over the matrix: all the row's scores less the excluded
            zeros = torch.zeros(B, dtype=un.dtype, device=un.device)
            dots = (un.index_select(0, rows) * pn.index_select(0, cols)).sum(1)
            if w is None:
                kept_w = kept.to(un.dtype)
                row_sum = un @ pn.sum(0) - zeros.index_add(0, rows, dots)
            else:
                w_cols = w.index_select(0, cols)
                kept_w = w.sum() - zeros.index_add(0, rows, w_cols)
                row_sum = un @ (w @ pn) - zeros.index_add(0, rows, dots * w_cols)
        f_minus = row_sum / kept_w.clamp(min=1e-30)  # Eq. 5 (a weighted mean with logq)
        m_plus, omega = self._m_plus(users, items, f_minus), self._omega(users)
        f_pos = (un * pn).sum(1)
        pos_logit = (f_pos - m_plus) / tau
        omega = omega.clamp(min=1e-12, max=1 - 1e-6)
        neg_lse = _corrected_lse(scores, f_pos / tau, negatives, kept, omega.log(),
                                 torch.log1p(-omega), -1.0 / tau, 1.0 / tau, w)
        if w is not None:  # the weighted mean, over as many negatives as were kept
            neg_lse = neg_lse - kept_w.clamp(min=1e-30).log() + kept.clamp(min=1).log()
        return (torch.logaddexp(pos_logit, neg_lse) - pos_logit).mean()
