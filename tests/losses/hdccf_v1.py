"""The HDCCF / DCL implementation of sessions 1-3, frozen as it was (dense
bitmap masks, a two-hop co-occurrence expansion), so the faster rewrite can be
checked against it: same losses and gradients on random batches."""
import math
from typing import Optional

import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet
from gnnrec.losses.base import RecLoss
from gnnrec.nn.scorers import Cosine, Dot

NEG_INF = float("-inf")


def block_mask(rows: int, per_row: int, device) -> Tensor:
    r"""``(rows, rows * per_row)``: True on each row's own block of columns."""
    owner = torch.arange(rows, device=device).repeat_interleave(per_row)
    return owner.unsqueeze(0) == torch.arange(rows, device=device).unsqueeze(1)


def own_columns(rows: int, per_row: int, device) -> Tensor:
    r"""``(rows, per_row)`` column indices of each row's own block."""
    return (torch.arange(rows, device=device).unsqueeze(1) * per_row
            + torch.arange(per_row, device=device).unsqueeze(0))


def contains_grid(ps: PositiveSet, rows: Tensor, cols: Tensor) -> Tensor:
    """``(len(rows), len(cols))``: is ``cols[m]`` in the set of ``rows[k]``?"""
    grid = torch.zeros(len(rows), len(cols), dtype=torch.bool, device=rows.device)
    grid[ps.member_pairs(rows, cols)] = True
    return grid


def masked_logsumexp(x: Tensor, keep: Tensor) -> Tensor:
    """Row-wise log-sum-exp over ``keep`` entries (``-inf`` for none)."""
    return torch.logsumexp(x.masked_fill(~keep, NEG_INF), dim=-1)


def debiased_log_negative_score(neg: Tensor, unobserved: Tensor, pos: Tensor, omega: float,
                                q: int, tau: float, margin: float = 1e-6) -> Tensor:
    r"""Log of HDCCF's debiased negative score with its clamp (Eq. 15, 24-25,
    16), one value per row, computed in log space.

    .. math::
        \tilde F = \sum_{n \in \mathcal{N}^-} \pi_0(n)\, e^{s_n}
        - \sum_{p \in \mathcal{N}^+ \cup \{\cdot\}} \pi_1\, e^{s_p},
        \quad \pi_0 = \frac{Q\,\mathbb 1[n \notin \mathcal D]}{\omega^-
        \sum_{n'} \mathbb 1[n' \notin \mathcal D]}, \quad
        \pi_1 = \frac{Q\,\omega^+}{\omega^- (|\mathcal N^+| + 1)},

    i.e. :math:`\frac{Q}{\omega^-}(\text{mean}_{\text{unobserved}} e^{s} -
    \omega^+ \text{mean}_{\text{positives}} e^{s})`, then
    :math:`\tilde F \leftarrow \max(\tilde F, Q e^{-1/\tau})` (Eq. 16; see
    :class:`HDCCF` for the sign of the exponent). Scores ``s`` are already
    divided by :math:`\tau`.

    Args:
        neg (Tensor): ``(B, N)`` negative logits :math:`f/\tau`.
        unobserved (Tensor): ``(B, N)`` negatives not observed as positives
            (and not the row's own block).
        pos (Tensor): ``(B, P + 1)`` logits of the positive set.
        omega (float): :math:`\omega^+` in ``[0, 1)``.
        q (int): :math:`Q = |\mathcal N^-|`.
    Returns:
        ``(B,)`` :math:`\log \tilde F`. A row with no unobserved negative
        gets the clamp value (its mean is undefined).
    """
    count = unobserved.sum(-1)
    la = masked_logsumexp(neg, unobserved) - count.clamp(min=1).log()  # log mean_neg
    if omega > 0:
        lb = math.log(omega) + torch.logsumexp(pos, -1) - math.log(pos.size(-1))
        z = lb - la  # log(omega+ mean_pos / mean_neg)
        ok = (z < -margin) & (count > 0)
        safe = torch.where(ok, z, torch.full_like(z, -1.0))
        diff = torch.where(ok, la + torch.log1p(-torch.exp(safe)), torch.full_like(la, NEG_INF))
    else:
        diff = torch.where(count > 0, la, torch.full_like(la, NEG_INF))
    log_f = math.log(q) - math.log1p(-omega) + diff
    bound = math.log(q) - 1.0 / tau
    return torch.maximum(log_f, torch.full_like(log_f, bound))


def cooccur(ps: PositiveSet, back: PositiveSet, a: Tensor, b: Tensor) -> Tensor:
    r"""``(len(a), len(b))`` booleans: do rows ``a[k]`` and ``b[m]`` share a
    member (two users with a common item, or two items with a common user)?
    ``back`` is the transposed set (members to rows). Every row of ``a``
    marks its two-hop neighbours in a per-batch bitmap (one scatter), which
    is then gathered at ``b``; no loop."""
    rows, members = ps.items_of(a)
    hop, second = back.items_of(members)
    bitmap = torch.zeros(len(a), back.num_items, dtype=torch.bool, device=a.device)
    bitmap[rows[hop], second] = True
    return bitmap[:, b]


class HDCCF(RecLoss):
    r"""Hardness-aware debiased contrastive CF (`Yang et al., "Trading Hard
    Negatives and True Negatives: A Debiased Contrastive Collaborative
    Filtering Approach", IJCAI 2022 <https://arxiv.org/abs/2204.11752>`_,
    `doi:10.24963/ijcai.2022/327 <https://doi.org/10.24963/ijcai.2022/327>`_).

    *Sampling* (Eq. 9): each row :math:`(u_k, i_k)` of the batch draws
    :math:`P` positive neighbours, items :math:`\mathcal N^+_{u_k}` of
    :math:`u_k` and users :math:`\mathcal N^+_{i_k}` of :math:`i_k`; the
    negatives of a row are the other rows' neighbours (multisets),
    :math:`\mathcal N^-_{u_k} = \bigcup_{m \ne k}\mathcal N^+_{u_m}`, same for
    users, so :math:`Q = P(|B| - 1)`; no explicit negative sampling.

    *User-item loss* (Eq. 1-2), with both negative items and negative users:

    .. math::
        \mathcal L_{u-i} = -\log\frac{e^{f(u,i)/\tau}}{F^i(\mathcal N_i^-)
        + F^u(\mathcal N_u^-) + e^{f(u,i)/\tau}},\quad
        F^u = \sum_{i^-} e^{f(u,i^-)/\tau},\ F^i = \sum_{u^-} e^{f(u^-,i)/\tau}.

    *Debiased* (Eq. 14-15, 24-25, ``Q = |N^-|``): each negative score is
    replaced by :func:`debiased_log_negative_score` with
    :math:`\omega^+_i` (``omega_item``) for negative items and
    :math:`\omega^+_u` (``omega_user``) for negative users; observed pairs
    among the negatives (:math:`(u, i^-) \in \mathcal D`) get weight 0; the
    positive sets are :math:`\mathcal N^+_u \cup \{i\}` and
    :math:`\mathcal N^+_i \cup \{u\}`. At :math:`\omega^+ = 0` with no
    observed negative it is the biased score.

    *Clamp* (Eq. 16): :math:`\tilde F \leftarrow \max(\tilde F,
    |\mathcal N^-| e^{-1/\tau})`. The paper prints :math:`e^{1/\tau}`; the
    theoretical lower bound of a sum of :math:`|\mathcal N^-|` terms
    :math:`e^{f/\tau}` with :math:`f \ge -1` (cosine) is
    :math:`|\mathcal N^-|e^{-1/\tau}` (as in Chuang et al.'s DCL, which the
    paper follows), while :math:`e^{1/\tau}` bounds each term from *above*
    and would make the clamp constant; the lower bound is used.

    *Auxiliary losses* (Eq. 5, 17, 26-27), weighted by :math:`\lambda_u`,
    :math:`\lambda_i` (Eq. 6): user-user with positives
    :math:`u^+ \in \mathcal N^+_i` and negatives :math:`\mathcal N^-_i`,
    item-item likewise; debiased by dropping negatives that are observed
    neighbours (two users sharing a training item, two items sharing a
    user) and rescaling by :math:`Q` over the count kept (Eq. 27, whose
    denominator reads :math:`(u', u^-)`; it is the count over
    :math:`(u, u')`, which makes the weights average to :math:`Q`). A row
    whose negatives are all observed contributes 0 (documented fallback).
    User-user and item-item similarities use the dot product (cosine when
    the scorer is cosine); the modulated scorer is for user-item pairs.

    All terms are computed in log space (``logsumexp``), finite for any
    scores. The loss is the mean over rows (and over the :math:`P`
    positives of the auxiliary terms).

    Args:
        tau (float, optional): temperature, ``> 0``. (default: :obj:`0.1`)
        num_neighbors (int, optional): :math:`P \ge 1`. (default: :obj:`2`)
        omega_item (float, optional): :math:`\omega^+_i` in ``[0, 1)``.
            (default: :obj:`0.05`)
        omega_user (float, optional): :math:`\omega^+_u` in ``[0, 1)``.
            (default: :obj:`0.05`)
        lambda_u (float, optional): weight of the user-user loss, ``>= 0``.
            (default: :obj:`0.1`)
        lambda_i (float, optional): weight of the item-item loss, ``>= 0``.
            (default: :obj:`0.1`)
        user_negatives (bool, optional): include negative users
            :math:`F^u`. (default: :obj:`True`)
        debias (bool, optional): use the debiased scores (Eq. 14-17); off is
            the biased HDCCF of Eq. 1-6. (default: :obj:`True`)
        scorer (str, optional): :math:`f`: ``cosine``, ``dot`` or
            ``modulated`` (Eq. 7-8). (default: :obj:`"cosine"`)
    """
    summary = "HDCCF: in-batch user+item negatives, debiased (omega+), user-user/item-item terms"
    negatives = "in_batch"

    def __init__(self, tau: float = 0.1, num_neighbors: int = 2, omega_item: float = 0.05,
                 omega_user: float = 0.05, lambda_u: float = 0.1, lambda_i: float = 0.1,
                 user_negatives: bool = True, debias: bool = True, scorer: str = "cosine"):
        super().__init__(scorer)
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        if num_neighbors < 1:
            raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
        for name, w in (("omega_item", omega_item), ("omega_user", omega_user)):
            if not 0.0 <= w < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {w}")
        for name, lam in (("lambda_u", lambda_u), ("lambda_i", lambda_i)):
            if lam < 0:
                raise ValueError(f"{name} must be >= 0, got {lam}")
        self.tau, self.P = float(tau), int(num_neighbors)
        self.omega_item, self.omega_user = float(omega_item), float(omega_user)
        self.lambda_u, self.lambda_i = float(lambda_u), float(lambda_i)
        self.user_negatives, self.debias = bool(user_negatives), bool(debias)
        self.pair_scorer = Cosine() if scorer == "cosine" else Dot()

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None, *,
                users: Tensor, items: Tensor, out, graph, generator=None, **context) -> Tensor:
        B, P, tau, dev = len(users), self.P, self.tau, users.device
        if B < 2:  # no in-batch negative (e.g. a last batch of one row): nothing to contrast
            return user.sum() * 0.0
        item_nb = graph.positives.sample_members(users, P, generator)  # (B, P) items of u_k
        user_nb = graph.item_positives.sample_members(items, P, generator)  # (B, P) users of i_k
        item_flat, user_flat = item_nb.flatten(), user_nb.flatten()
        item_emb = out.pooled[item_flat + out.num_users]
        user_emb = out.pooled[user_flat]
        own = block_mask(B, P, dev)
        q = P * (B - 1)

        s_pos = self.scorer.pair(user, pos) / tau  # (B,)
        s_items = self.scorer.matrix(user, item_emb) / tau  # f(u_k, i^-), (B, BP)
        s_users = self.scorer.matrix(user_emb, pos).t() / tau  # f(u^-, i_k), (B, BP)
        obs_i = obs_u = None
        if self.debias:
            obs_i = contains_grid(graph.positives, users, item_flat)  # (u_k, i^-) in D
            obs_u = contains_grid(graph.item_positives, items, user_flat)  # (u^-, i_k) in D
        loss = self.user_item_loss(s_pos, s_items, s_users if self.user_negatives else None,
                                   own, obs_i, obs_u).mean()

        if self.lambda_u > 0:
            loss = loss + self.lambda_u * self._aux(user, user_emb, users, user_flat, own,
                                                    graph.positives, graph.item_positives, q)
        if self.lambda_i > 0:
            loss = loss + self.lambda_i * self._aux(pos, item_emb, items, item_flat, own,
                                                    graph.item_positives, graph.positives, q)
        return loss

    def user_item_loss(self, s_pos: Tensor, s_items: Tensor, s_users: Optional[Tensor],
                       own: Tensor, obs_i: Optional[Tensor] = None,
                       obs_u: Optional[Tensor] = None) -> Tensor:
        r"""Eq. 1 (biased) or Eq. 14 (debiased) per row, from logits
        :math:`f/\tau`: ``s_pos`` ``(B,)``, ``s_items`` / ``s_users``
        ``(B, PB)`` against every row's neighbours (``own`` marks the row's
        own block, its positives), ``obs_*`` the observed pairs among them."""
        B, P = own.shape[0], self.P
        q = P * (B - 1)
        parts = [s_pos]
        sides = [(s_items, obs_i, self.omega_item)]
        if s_users is not None:
            sides.append((s_users, obs_u, self.omega_user))
        for s, obs, omega in sides:
            if self.debias:
                positives = torch.cat([s.gather(1, own_columns(B, P, s.device)),
                                       s_pos.unsqueeze(1)], 1)
                parts.append(debiased_log_negative_score(s, ~own & ~obs, positives, omega, q,
                                                         self.tau))
            else:
                parts.append(masked_logsumexp(s, ~own))
        return torch.logsumexp(torch.stack(parts, 1), 1) - s_pos

    def _aux(self, anchor: Tensor, nb_emb: Tensor, anchor_ids: Tensor, nb_ids: Tensor,
             own: Tensor, sets: PositiveSet, back: PositiveSet, q: int) -> Tensor:
        r"""User-user (or item-item) loss, Eq. 5 / 17: positives are the
        row's own neighbours, negatives the other rows' (observed
        neighbours dropped and the rest rescaled, Eq. 26-27)."""
        B, P = own.shape[0], self.P
        s = self.pair_scorer.matrix(anchor, nb_emb) / self.tau  # (B, BP)
        s_pos = s.gather(1, own_columns(B, P, s.device))
        keep = ~own
        if self.debias:
            keep = keep & ~cooccur(sets, back, anchor_ids, nb_ids)
            count = keep.sum(1)
            log_neg = masked_logsumexp(s, keep) + math.log(q) - count.clamp(min=1).log()
        else:
            log_neg = masked_logsumexp(s, keep)
        log_neg = log_neg.unsqueeze(1).expand(B, P)
        return (torch.logaddexp(s_pos, log_neg) - s_pos).mean()


class DCL(HDCCF):
    r"""Debiased contrastive loss (`Chuang et al. 2020
    <https://arxiv.org/abs/2007.00224>`_ for CF, PopDCL paper Eq. 7): HDCCF
    with negative items only, one :math:`\omega^+`, no auxiliary losses (the
    special case named in the HDCCF paper's Sec. 2.3).

    Args:
        tau (float, optional): temperature, ``> 0``. (default: :obj:`0.1`)
        omega (float, optional): :math:`\omega^+` in ``[0, 1)``.
            (default: :obj:`0.05`)
        num_neighbors (int, optional): :math:`P`. (default: :obj:`1`)
        scorer (str, optional): ``cosine``, ``dot`` or ``modulated``.
            (default: :obj:`"cosine"`)
    """
    summary = "DCL: debiased in-batch contrastive loss over negative items (one omega+)"

    def __init__(self, tau: float = 0.1, omega: float = 0.05, num_neighbors: int = 1,
                 scorer: str = "cosine"):
        super().__init__(tau=tau, num_neighbors=num_neighbors, omega_item=omega, omega_user=0.0,
                         lambda_u=0.0, lambda_i=0.0, user_negatives=False, debias=True,
                         scorer=scorer)
