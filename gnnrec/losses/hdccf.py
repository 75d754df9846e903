"""HDCCF: hardness-aware debiased contrastive CF (and DCL, its special case)."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.data.density import class_prior, own_pick_rate
from gnnrec.losses.base import RecLoss
from gnnrec.losses.inbatch import (TAU_MAX_OWN_RATE, DerivedScorer, DerivedTau, covering_note,
                                   excluded_mask, kept_count, masked_lse, masked_lse_mm,
                                   member_exclusions, row_dots)

NEG_INF = float("-inf")
#: the weight of each auxiliary loss (Eq. 6) where the data does not call for 0
LAMBDA = 0.1


def own_columns(rows: int, per_row: int, device) -> Tensor:
    r"""``(rows, per_row)`` column indices of each row's own block."""
    return (torch.arange(rows, device=device).unsqueeze(1) * per_row
            + torch.arange(per_row, device=device).unsqueeze(0))


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
    return debiased_from_lse(masked_logsumexp(neg, unobserved), unobserved.sum(-1), pos, omega,
                             q, tau, margin)


def debiased_from_lse(lse: Tensor, count: Tensor, pos: Tensor, omega: float, q: int, tau: float,
                      margin: float = 1e-6) -> Tensor:
    r""":func:`debiased_log_negative_score` from the log-sum-exp ``lse`` of
    each row's unobserved negatives and their ``count``."""
    la = lse - count.clamp(min=1).log()  # log mean_neg
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


#: the largest :math:`\omega^+` a derived one takes (:meth:`HDCCF.omega_for`): the
#: validation choice over 0.05 (and, with LightGCN, over 0) on 20- and 30-core Gowalla,
#: where the data's class prior is at or above it (``benchmarks/README.rst`` section 6)
OMEGA_CAP = 0.01

#: above this :math:`r(16)` (:func:`~gnnrec.data.density.own_pick_rate`) HDCCF leaves
#: out its negative users and its auxiliary terms by default: the temperature's
#: threshold (:data:`~gnnrec.losses.inbatch.TAU_MAX_OWN_RATE`), as on 25-core Gowalla
#: (0.088) each of them lost (``benchmarks/README.rst`` section 6)
DENSE_MAX_OWN_RATE = TAU_MAX_OWN_RATE


class HDCCF(DerivedScorer, DerivedTau, RecLoss):
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

    gnnrec's defaults leave out the negative users and the auxiliary losses
    (they lost or did nothing on every set measured; ``user_negatives``,
    ``lambda_u`` below): the paper's loss is ``user_negatives=True,
    lambda_u=0.1, lambda_i=0.1``.

    Args:
        tau (float, optional): temperature, ``> 0``; :obj:`None` derives
            it from the data (:class:`~gnnrec.losses.inbatch.DerivedTau`).
            With logQ, test Recall@20 on 20-core Gowalla (LightGCN, 12 epochs,
            seed 0) 0.187 at 0.1 against 0.180 at 0.2, the old default,
            which on full Gowalla plateaued at validation 0.136 against BPR
            + RNS's 0.197 (``benchmarks/README.rst`` sections 5 and 6).
            (default: :obj:`None`)
        num_neighbors (int, optional): :math:`P \ge 1`. (default: :obj:`2`)
        omega_item (float, optional): :math:`\omega^+_i` in ``[0, 1)``;
            :obj:`None` derives it as :class:`DCL`'s ``omega``: the data's
            class prior (:func:`~gnnrec.data.density.class_prior`) up to
            :data:`OMEGA_CAP`, 0.01, which was the validation choice over
            0.05 on two of three sets, seed 0 (``benchmarks/README.rst``
            section 6): LightGCN, 20-core Gowalla, 12 epochs, 0.179 against
            0.176, and 30-core Gowalla without negative users, 0.221 against
            0.200; MF on the dense synthetic set, without negative users,
            preferred 0.05 (0.420 against 0.408). (default: :obj:`None`)
        omega_user (float, optional): :math:`\omega^+_u` in ``[0, 1)``,
            derived likewise from the users' side (``side="user"``).
            (default: :obj:`None`)
        lambda_u (float, optional): weight of the user-user loss, ``>= 0``
            (the paper: 0.1). Off by default, and the run says so at its
            start: without negative users the auxiliary terms lost on
            validation Recall@20 on the dense sets (seed 0,
            ``benchmarks/README.rst`` section 6): the dense synthetic set,
            MF, 0.420 with them and 0.437 without; 30-core Gowalla,
            LightGCN, 0.221 and 0.232; 25-core Gowalla, LightGCN, 0.254 and
            0.266 (epoch 110); on sparse 20-core Gowalla (LightGCN, 12
            epochs, seeds 0-1) they were level, 0.2123 with them and 0.2120
            without, at 1.7-2.6x the time an epoch. With both off (and no
            negative users, the default) HDCCF is :class:`DCL` with
            ``num_neighbors`` in-batch neighbours a row. :obj:`None` is the
            earlier default, kept so that runs saved with it resume
            unchanged: 0.1, or 0 where :math:`r(16)` is above
            :data:`DENSE_MAX_OWN_RATE`. (default: :obj:`0.0`)
        lambda_i (float, optional): weight of the item-item loss, ``>= 0``,
            likewise. (default: :obj:`0.0`)
        user_negatives (bool, optional): include the negative users
            :math:`F^u` of Eq. 1. Off by default, and the run says so at its
            start: each batch item, drawn by popularity, is pushed away from
            the other rows' users, many of whom would take it, and they lost
            on every set measured, sparse and dense (seed 0, LightGCN
            unless said; ``benchmarks/README.rst`` sections 5 and 6), with
            them and without: validation Recall@20 on 20-core Gowalla
            (0.8% density; 12 epochs, seeds 0-1) 0.185 and 0.212, on full
            Gowalla (epoch 8) 0.161 and 0.183, on 25-core Gowalla 0.233 and
            0.254; test on 30-core Gowalla 0.185 and 0.208, on the dense
            synthetic set (MF) 0.164 and 0.388. :obj:`None` is the earlier
            default, kept so that runs saved with it resume unchanged: on
            unless :math:`r(16)` is above :data:`DENSE_MAX_OWN_RATE`.
            (default: :obj:`False`)
        debias (bool, optional): use the debiased scores (Eq. 14-17); off is
            the biased HDCCF of Eq. 1-6. (default: :obj:`True`)
        logq (bool, optional): weigh each in-batch negative by
            :math:`1/q`, its probability of being drawn (:math:`q_j =
            \deg(j)/|\mathcal D|` for items, likewise users), so the means
            of Eq. 15 (and the sums of Eq. 1, 5) estimate what the uniformly
            drawn negatives that Eq. 1 is defined with would give
            (self-normalised importance sampling: weighted means times the
            count kept), not the popularity-weighted ones that in-batch
            sampling draws (Sec. 2.2's "frequency-aware" property). The
            logQ correction of sampled softmax (`Yi et al. 2019
            <https://doi.org/10.1145/3298689.3346996>`_) for these losses.
            On by default, as the evidence says: DCL's test Recall@20 on
            20-core Gowalla 0.169 -> 0.212 (LightGCN, tuned tau and omega,
            seeds 0-1), on the dense synthetic set 0.055 -> 0.408 (MF, tau
            0.2; BPR + RNS 0.399) (``benchmarks/README.rst`` section 6).
            Off is Sec. 2.2's frequency-aware in-batch sampling as printed.
            (default: :obj:`True`)
        scorer (str, optional): :math:`f`: ``cosine``, ``dot`` or
            ``modulated`` (Eq. 7-8), or :obj:`None` to derive it: the dot
            product (Eq. 7 with an all-ones modulation) on
            popularity-dominated data with an encoder whose norms carry
            degree (LightGCN), the cosine elsewhere
            (:class:`~gnnrec.losses.inbatch.DerivedScorer`). Neither is the
            paper's full model, which scores user-item pairs with the neural
            modulated similarity (Eq. 7-8: ``scorer="modulated"``, the
            setting of the paper's experiments); both keep the loss a plain
            product of the batch's embeddings, several times cheaper, and
            are what the benchmarks tuned.
            (default: :obj:`None`)
    """
    summary = ("HDCCF: debiased (omega+) in-batch negatives, P neighbours a row; negative users "
               "and user-user/item-item terms optional")
    negatives = "in_batch"

    def __init__(self, tau: Optional[float] = None, num_neighbors: int = 2,
                 omega_item: Optional[float] = None,
                 omega_user: Optional[float] = None, lambda_u: Optional[float] = 0.0,
                 lambda_i: Optional[float] = 0.0,
                 user_negatives: Optional[bool] = False, debias: bool = True, logq: bool = True,
                 scorer: Optional[str] = None):
        super().__init__(scorer or "cosine")
        self.requested_scorer = scorer
        self._init_tau(tau)
        if num_neighbors < 1:
            raise ValueError(f"num_neighbors must be >= 1, got {num_neighbors}")
        for name, w in (("omega_item", omega_item), ("omega_user", omega_user)):
            if w is not None and not 0.0 <= w < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {w}")
        for name, lam in (("lambda_u", lambda_u), ("lambda_i", lambda_i)):
            if lam is not None and lam < 0:
                raise ValueError(f"{name} must be >= 0, got {lam}")
        self.P = int(num_neighbors)
        #: :math:`\omega^+_i, \omega^+_u` as given (``None``: derived at :meth:`bind`)
        self.omegas = tuple(None if w is None else float(w) for w in (omega_item, omega_user))
        self.omega_item, self.omega_user = (OMEGA_CAP if w is None else w for w in self.omegas)
        #: the weights as given (``None``: derived at :meth:`bind`)
        self.lambdas = tuple(None if lam is None else float(lam) for lam in (lambda_u, lambda_i))
        self.lambda_u, self.lambda_i = (LAMBDA if lam is None else lam for lam in self.lambdas)
        #: ``None`` (a saved run's earlier default) decides from the data at :meth:`bind`
        self.user_negatives = None if user_negatives is None else bool(user_negatives)
        self.contrasts_users = user_negatives is not False
        self.debias = bool(debias)
        self.logq = bool(logq)
        self.log_q = {}  # side -> log of the in-batch drawing probability

    def _drops_users(self, dense: bool) -> bool:
        return self.user_negatives is None and dense

    def _drops_aux(self, dense: bool) -> bool:
        return None in self.lambdas and dense

    def _is_dense(self, graph) -> bool:
        """:math:`r(16)` above :data:`DENSE_MAX_OWN_RATE`, read only when an
        option depends on it (never for :class:`DCL`)."""
        if self.user_negatives is not None and None not in self.lambdas:
            return False  # nothing derives from it
        return float(own_pick_rate(graph, [16])[0]) > DENSE_MAX_OWN_RATE

    def omega_for(self, graph) -> Tuple[float, float]:
        r""":math:`(\omega^+_i, \omega^+_u)` on ``graph``: each as given, or
        the data's class prior (:func:`~gnnrec.data.density.class_prior`)
        up to :data:`OMEGA_CAP`."""
        return tuple(min(OMEGA_CAP, class_prior(graph, side)) if w is None else w
                     for w, side in zip(self.omegas, ("item", "user")))

    #: the option names of :math:`(\omega^+_i, \omega^+_u)` (:class:`DCL` has one)
    OMEGA_OPTIONS = ("omega_item", "omega_user")
    #: whether ``user_negatives`` is an option (:class:`DCL` has no user side)
    HAS_USER_SIDE = True

    def omega_note(self, graph) -> List[str]:
        r"""The start-of-run line saying which :math:`\omega^+` was derived."""
        name, out = type(self).__name__.lower(), []
        derived = self.omega_for(graph)
        sides = [("item", "a uniform item is one of a row's user's items"),
                 ("user", "a uniform user is one of a row's item's users")]
        for option, given, value, (side, what) in zip(self.OMEGA_OPTIONS, self.omegas, derived,
                                                      sides):
            if given is not None or option is None or (side == "user"
                                                       and not self.contrasts_users):
                continue
            prior = f"class prior {class_prior(graph, side):.2%}: how often {what}"
            why = (f"the data's {prior}; a larger omega+ sends the debiased negative score "
                   f"(Eq. 15) to its clamp (Eq. 16), where a row's negatives get no gradient"
                   if value < OMEGA_CAP else f"its cap; the data's {prior}")
            out.append(f"{name}: {option} {value:.2g}, {why}; set {name}.{option} to override")
        return out

    def bind(self, graph) -> None:
        self._bind_tau(graph)
        self.omega_item, self.omega_user = self.omega_for(graph)
        dense = self._is_dense(graph)
        self.contrasts_users = self.user_negatives is not False and not self._drops_users(dense)
        derived = 0.0 if self._drops_aux(dense) else LAMBDA
        self.lambda_u, self.lambda_i = (derived if lam is None else lam for lam in self.lambdas)
        for side, degree in (("item", graph.item_degree), ("user", graph.user_degree)):
            q = degree.clamp(min=1).double() / max(graph.num_edges, 1)
            self.log_q[side] = q.log().float()

    def _weights(self, side: str, ids: Tensor, excluded: Tensor):
        r"""``(bias, log_count)`` of the importance weights :math:`w_m \propto
        1/q_m` of the in-batch negatives ``ids`` (``None, None`` without
        ``logq``): the log weights to add to the scores (at most 0) and, per
        row, the log of the kept weights' sum."""
        if not self.logq:
            return None, None
        if side not in self.log_q:
            raise RuntimeError(f"{type(self).__name__} with logq needs a bound graph")
        bias = -self.log_q[side][ids]
        bias = bias - bias.max()
        w = bias.exp()
        log_count = (w.sum() - excluded @ w).clamp(min=1e-30).log()  # the kept weights' sum
        return bias, log_count

    def _factors(self, a: Tensor, b: Tensor) -> Tuple[Tensor, Tensor]:
        r"""``(a', b')`` with :math:`f(a_k, b_m) / \tau = a'_k \cdot b'_m` for
        the dot product, or cosine when the scorer is cosine."""
        if self.scorer_name == "cosine":
            a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        return a * (1.0 / self.tau), b

    def _negatives(self, anchor: Tensor, nb: Tensor, excluded: Tensor, modulated=None,
                   bias: Optional[Tensor] = None):
        r"""``(lse, own)``: the log-sum-exp of each row's kept scores (plus
        ``bias``, per column) against all neighbours and its ``(B, P)``
        scores against its own block. With the dot or cosine similarity the
        score matrix is one fused :func:`~gnnrec.losses.inbatch.masked_lse_mm`;
        ``modulated`` is the dense ``(B, PB)`` matrix of the modulated scorer."""
        B = len(anchor)
        if modulated is not None:
            P = modulated.size(1) // B
            own = own_columns(B, P, modulated.device)
            shifted = modulated if bias is None else modulated + bias
            return masked_lse(shifted, excluded), modulated.gather(1, own)
        a, b = self._factors(anchor, nb)
        return masked_lse_mm(a, b, excluded, bias), row_dots(a, b.view(B, -1, b.size(-1)))

    def _draw(self, users: Tensor, items: Tensor, graph,
              generator) -> Tuple[Tensor, Optional[Tensor]]:
        item_nb = graph.positives.sample_members(users, self.P, generator)  # (B, P) items of u_k
        if not (self.contrasts_users or self.lambda_u > 0):  # no term scores a user neighbour
            return item_nb, None
        user_nb = graph.item_positives.sample_members(items, self.P, generator)  # users of i_k
        return item_nb, user_nb

    def advice(self, graph, batch_size: int) -> List[str]:
        name = type(self).__name__.lower()
        notes = self.tau_note(graph) + self.omega_note(graph)
        notes += [] if self.logq else covering_note(
            name, graph, batch_size, f"{name}.logq=true corrects for it (dense synthetic "
                                     f"set, MF, DCL: Recall@20 0.055 -> 0.316)")
        dense = self._is_dense(graph)
        evidence = ("they lost on every set measured (20-core Gowalla, LightGCN: validation "
                    "Recall@20 0.185 with them, 0.212 without; dense synthetic set, MF: test "
                    "0.164 with them, 0.388 without)")
        drops = self.user_negatives is False or self._drops_users(dense)
        if self.HAS_USER_SIDE and drops:
            notes.append(f"{name}: no negative users (Eq. 1's F^u), the default: each batch item, "
                         f"drawn by popularity, would be pushed away from the other rows' users, "
                         f"and {evidence}; {name}.user_negatives=true keeps them")
        elif self.HAS_USER_SIDE and self.user_negatives:
            notes.append(f"{name}: the negative users of Eq. 1 push each batch item (drawn by "
                         f"popularity) away from the other rows' users, and {evidence}; "
                         f"leaving {name}.user_negatives at its default drops them")
        if self.HAS_USER_SIDE and self.lambda_u == self.lambda_i == 0.0:
            notes.append(f"{name}: no user-user or item-item terms (Eq. 5, 17), the default: they "
                         f"lost on the dense sets (dense synthetic set, MF: validation Recall@20 "
                         f"0.420 with them, 0.437 without) and were level on 20-core Gowalla at "
                         f"up to 2.6x the time an epoch; set {name}.lambda_u and {name}.lambda_i "
                         f"to keep them (the paper: {LAMBDA})")
        return notes

    def rows_needed(self, users: Tensor, items: Tensor, graph,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        r"""The neighbours' node ids, drawn now for the next :meth:`forward`
        on the same ``users`` (the same draws it would make itself)."""
        if len(users) < 2:
            return users.new_empty(0)
        drawn = self._draw(users, items, graph, generator)
        self._drawn = (users, drawn)
        rows = drawn[0].flatten() + graph.num_users
        return rows if drawn[1] is None else torch.cat([rows, drawn[1].flatten()])

    def forward(self, user: Tensor, pos: Tensor, neg: Optional[Tensor] = None, *,
                users: Tensor, items: Tensor, out, graph, generator=None, **context) -> Tensor:
        B, P, tau, dev = len(users), self.P, self.tau, users.device
        drawn, self._drawn = getattr(self, "_drawn", None), None
        if B < 2:  # no in-batch negative (e.g. a last batch of one row): nothing to contrast
            return user.sum() * 0.0
        if drawn is not None and drawn[0] is users:  # drawn by rows_needed for this batch
            item_nb, user_nb = drawn[1]
        else:
            item_nb, user_nb = self._draw(users, items, graph, generator)
        item_flat = item_nb.flatten()
        item_emb = out.item_rows(item_flat)
        user_flat = None if user_nb is None else user_nb.flatten()
        user_emb = None if user_nb is None else out.user_rows(user_flat)
        own = own_columns(B, P, dev)
        q = P * (B - 1)
        modulated = self.scorer_name == "modulated"

        s_pos = self.scorer.pair(user, pos) / tau  # (B,)
        parts = [s_pos]
        # negative items f(u_k, i^-) and negative users f(u^-, i_k), Eq. 1-2 / 14
        sides = [("item", user, item_emb, graph.positives, users, item_flat, self.omega_item,
                  self.scorer.matrix(user, item_emb) / tau if modulated else None)]
        if self.contrasts_users:
            sides.append(("user", pos, user_emb, graph.item_positives, items, user_flat,
                          self.omega_user,
                          self.scorer.matrix(user_emb, pos).t() / tau if modulated else None))
        for side, anchor, nb, sets, ids, nb_ids, omega, dense in sides:
            observed = member_exclusions(sets, ids, nb_ids) if self.debias else {}  # in D
            excluded = excluded_mask(B, B * P, dev, own=own, **observed)
            bias, log_w = self._weights(side, nb_ids, excluded)
            lse, own_s = self._negatives(anchor, nb, excluded, dense, bias)
            count = kept_count(excluded)
            if bias is not None:  # the weighted mean, over as many negatives as were kept
                lse = lse - log_w + count.clamp(min=1).log()
            if self.debias:
                lse = debiased_from_lse(lse, count, torch.cat([own_s, s_pos.unsqueeze(1)], 1),
                                        omega, q, tau)
            parts.append(lse)
        loss = (torch.logsumexp(torch.stack(parts, 1), 1) - s_pos).mean()

        if self.lambda_u > 0:
            loss = loss + self.lambda_u * self._aux(user, user_emb, graph, "user", users,
                                                    user_flat, own, q)
        if self.lambda_i > 0:
            loss = loss + self.lambda_i * self._aux(pos, item_emb, graph, "item", items,
                                                    item_flat, own, q)
        return loss

    def _aux(self, anchor: Tensor, nb: Tensor, graph, side: str, ids: Tensor, nb_ids: Tensor,
             own: Tensor, q: int) -> Tensor:
        r"""User-user (or item-item) loss, Eq. 5 / 17: positives are the row's
        own neighbours, negatives the other rows'; debiased, observed
        neighbours (sharing a training item, or a user) are dropped and the
        rest rescaled by :math:`Q` over their count (Eq. 26-27)."""
        B = len(anchor)
        also = []
        if self.debias:
            cooc = graph.cooccurrence(side)
            sets = graph.positives if side == "user" else graph.item_positives
            also.append(cooc.grid(ids, nb_ids) if cooc is not None
                        else sets.shares_grid(ids, nb_ids))
        excluded = excluded_mask(B, len(nb), anchor.device, own=own, also=also)
        bias, log_w = self._weights(side, nb_ids, excluded)
        a, b = (F.normalize(anchor, dim=-1), F.normalize(nb, dim=-1)) \
            if self.scorer_name == "cosine" else (anchor, nb)
        a = a * (1.0 / self.tau)
        log_neg = masked_lse_mm(a, b, excluded, bias)
        if bias is not None:  # the weighted mean, over as many negatives as were kept
            log_neg = log_neg - log_w + kept_count(excluded).clamp(min=1).log()
        own_s = row_dots(a, b.view(B, -1, b.size(-1)))
        if self.debias:
            log_neg = log_neg + math.log(q) - kept_count(excluded).clamp(min=1).log()
        return (torch.logaddexp(own_s, log_neg.unsqueeze(1)) - own_s).mean()


class DCL(HDCCF):
    r"""Debiased contrastive loss (`Chuang et al. 2020
    <https://arxiv.org/abs/2007.00224>`_, for CF): in HDCCF's own terms its
    debiased user-item loss (Eq. 14-16) with negative items only, one
    :math:`\omega^+` and no auxiliary losses; the PopDCL paper writes this
    loss as its Eq. 7 and attributes it to HDCCF.

    Args:
        tau (float, optional): temperature, ``> 0``; :obj:`None` derives
            it from the data (:class:`~gnnrec.losses.inbatch.DerivedTau`).
            0.2 was chosen on 20-core Gowalla *without* logQ; with logQ (the
            default) 0.1 wins on sparse data: test Recall@20 on 20-core
            Gowalla (LightGCN, 20 epochs, three seeds) 0.219 against 0.213;
            on full Gowalla at 0.2 validation plateaued at 0.153 against BPR
            + RNS's 0.197, and at 0.1 passed that by epoch 8
            (``benchmarks/README.rst`` sections 5 and 6); the dense sets of
            section 6 chose 0.2. (default: :obj:`None`)
        omega (float, optional): :math:`\omega^+` in ``[0, 1)``, the
            chance that an unobserved negative is a missing positive (the
            observed ones are already left out); :obj:`None` derives it: the
            data's class prior (:func:`~gnnrec.data.density.class_prior`, how
            often a uniform item is one of a row's user's items) up to
            :data:`OMEGA_CAP`, 0.01. The cap was chosen on validation across
            sparse and dense data (``benchmarks/README.rst`` section 6):
            validation Recall@20 at 0.01 / 0.05 on 20-core Gowalla 0.169 /
            0.161 (LightGCN, without logQ), on 30-core Gowalla 0.234 / 0.201
            (LightGCN) and 0.235 / 0.213 (MF), on the dense synthetic set
            0.428 / 0.432 (MF); there the class prior is 0.01-0.08, so the
            cap is what they get. Above the class prior the debiased score of
            Eq. 15 reaches its clamp (Eq. 16) on many rows, which then lose
            their negatives' gradient: at 0.05, 12% of the rows on 30-core
            Gowalla (LightGCN stops ranking popular items above others: head
            share 0.34 against 0.56 at 0.01); at 0.01 on the full Gowalla
            split (class prior 0.0017, tau 0.1), 54% of the rows after four
            epochs, and validation Recall@20 stalls (0.155 at epoch 8 against
            0.187 at 0; section 5). The held-out share of its negatives
            measured 0.005 (20-core Gowalla) to 0.047 (dense synthetic set; a
            lower bound, ``benchmarks/omega.py``), 0.44-0.58 times the class
            prior. (default: :obj:`None`)
        num_neighbors (int, optional): :math:`P`. (default: :obj:`1`)
        logq (bool, optional): as :class:`HDCCF`'s. (default: :obj:`True`)
        scorer (str, optional): ``cosine``, ``dot`` or ``modulated``;
            :obj:`None` derives it as :class:`HDCCF`'s. (default: :obj:`None`)
    """
    summary = "DCL: debiased in-batch contrastive loss over negative items (one omega+)"
    OMEGA_OPTIONS = ("omega", None)
    HAS_USER_SIDE = False

    def __init__(self, tau: Optional[float] = None, omega: Optional[float] = None,
                 num_neighbors: int = 1,
                 logq: bool = True, scorer: Optional[str] = None):
        super().__init__(tau=tau, num_neighbors=num_neighbors, omega_item=omega, omega_user=0.0,
                         lambda_u=0.0, lambda_i=0.0, user_negatives=False, debias=True,
                         logq=logq, scorer=scorer)
