"""Full-ranking evaluation: every item scored, known items masked, top-K hits."""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics.groups import GROUP_NAMES, popularity_groups
from gnnrec.metrics.ranking import RankingMetric, metric_grid
from gnnrec.metrics.topk import topk_rows

ScoreFn = Callable[[Tensor], Tensor]


def dot_scores(user_emb: Tensor, item_emb: Tensor) -> ScoreFn:
    r"""Score function for inner-product models: ``users -> (B, I)``."""
    item_t = item_emb.t().contiguous()
    return lambda users: user_emb[users] @ item_t


def popularity_views(shown: Tensor, popularity: Tensor, k: int) -> Dict[str, float]:
    r"""What the recommended top-``k`` lists expose, from ``shown`` (how many
    lists hold each item) and the items' training ``popularity``:

    * ``exposure_<group>@k``: the share of all recommended slots that go to
      each head / mid / tail group (each group a third of the training
      interactions, :func:`~gnnrec.metrics.groups.popularity_groups`); the
      shares sum to 1;
    * ``avgpop@k``: the mean training popularity of a recommended item
      (average recommendation popularity);
    * ``coverage@k``: the share of all items recommended to someone.
    """
    total = float(shown.sum())
    groups = popularity_groups(popularity, len(GROUP_NAMES))
    out = {}
    for g, name in enumerate(GROUP_NAMES):
        out[f"exposure_{name}@{k}"] = float(shown[groups == g].sum()) / total if total else 0.0
    out[f"avgpop@{k}"] = float((shown * popularity.double()).sum()) / total if total else 0.0
    out[f"coverage@{k}"] = float((shown > 0).sum()) / max(len(shown), 1)
    return out


@dataclass
class _Batch:
    users: Tensor  # (B,) user indices
    masked: Tuple[Tensor, Tensor]  # (row, item) index lists of the excluded items
    targets: Tensor  # sorted local keys row * num_items + item of the target items
    n_rel: Tensor  # (B,) number of target items


@dataclass
class EvalPlan:
    r"""What a full-ranking evaluation of one split walks through, computed
    once and reused every epoch: the users in batches, each batch's masked
    items as index lists and its targets as sorted keys."""
    batches: List[_Batch]
    users: Tensor
    num_items: int


class FullRankingEvaluator:
    r"""Ranks *all* items for each evaluated user, masks the items the user
    is known to have (training items, and validation items when testing),
    and scores the top :math:`K` against the target set.

    Users are processed in batches so at most ``max_scores`` scores exist at
    once (never a dense all-users x all-items matrix); scoring, masking,
    top-:math:`K` (:func:`~gnnrec.metrics.topk.topk_rows`) and hit lookup
    run on the embeddings' device. What does not change from one evaluation
    to the next (the batches, their
    masked items, their targets) is an :class:`EvalPlan` built once
    (:meth:`plan`); the default batch keeps a CPU batch's scores in cache
    (``2**21`` scores, 8 MB) and a GPU's large. A user counts only if it has
    at least one target item. Values are means over those users.

    Args:
        metrics (sequence of RankingMetric, optional): what to compute;
            ``None`` is recall, ndcg, precision, hit and mrr at every ``ks``.
            (default: :obj:`None`)
        ks (sequence of int, optional): cut-offs for the default metrics.
            (default: :obj:`(20,)`)
        max_scores (int, optional): scores held at once; ``None`` is
            ``2**21`` on CPU and ``2**26`` on CUDA. (default: :obj:`None`)
    """

    def __init__(self, metrics: Optional[Sequence[RankingMetric]] = None,
                 ks: Sequence[int] = (20,), max_scores: Optional[int] = None):
        if metrics is None:
            metrics = metric_grid(["recall", "ndcg", "precision", "hit", "mrr"], ks)
        self.metrics = list(metrics)
        self.max_k = max(m.k for m in self.metrics)
        self.max_scores = max_scores

    def _batch_size(self, num_items: int, device) -> int:
        cap = self.max_scores or (2 ** 26 if torch.device(device).type == "cuda" else 2 ** 21)
        return max(1, cap // max(num_items, 1))

    def plan(self, target: PositiveSet, exclude: Sequence[PositiveSet] = (),
             users: Optional[Tensor] = None) -> EvalPlan:
        r"""The batches of an evaluation of ``target`` (see :meth:`evaluate`)."""
        device = target.device
        if users is None:
            users = torch.nonzero(target.degree > 0).flatten()
        else:
            users = users.to(device)
            users = users[target.degree[users] > 0]
        n = target.num_items
        size = self._batch_size(n, device)
        batches = []
        for start in range(0, len(users), size):
            u = users[start:start + size]
            rows, items = [], []
            for ex in exclude:
                r, i = ex.items_of(u)
                rows.append(r)
                items.append(i)
            masked = (torch.cat(rows), torch.cat(items)) if rows else (
                u.new_zeros(0), u.new_zeros(0))
            r, i = target.items_of(u)
            keys, _ = torch.sort(r * n + i)
            batches.append(_Batch(u, masked, keys, target.degree[u]))
        return EvalPlan(batches, users, n)

    @torch.no_grad()
    def evaluate(self, score_fn: ScoreFn, target: PositiveSet,
                 exclude: Sequence[PositiveSet] = (), users: Optional[Tensor] = None,
                 per_user: bool = False, plan: Optional[EvalPlan] = None,
                 popularity: Optional[Tensor] = None) -> Dict[str, float]:
        r"""Returns ``{"recall@20": ..., ...}`` (plus ``"users"``, how many
        were evaluated).

        Args:
            score_fn (callable): maps a ``(B,)`` user index tensor to
                ``(B, num_items)`` scores (see :func:`dot_scores`).
            target (PositiveSet): the relevant items of each user.
            exclude (sequence of PositiveSet): items to remove from each
                user's ranking (e.g. training items).
            users (Tensor, optional): restrict to these users.
            per_user (bool): also return per-user values under ``"per_user"``.
            plan (EvalPlan, optional): a :meth:`plan` of the same arguments
                (reused across evaluations of the same split).
            popularity (Tensor, optional): ``(num_items,)`` training degree of
                every item; adds the popularity views of the recommended
                lists (:func:`popularity_views`) at every cut-off.
        """
        plan = plan if plan is not None else self.plan(target, exclude, users)
        device, n = plan.users.device, plan.num_items
        k = min(self.max_k, n)
        sums = {repr(m): torch.zeros((), dtype=torch.float64, device=device) for m in self.metrics}
        values = {repr(m): [] for m in self.metrics} if per_user else None
        masked_any = any(len(b.masked[0]) for b in plan.batches)
        ks = sorted({m.k for m in self.metrics})
        shown = {kk: torch.zeros(n, dtype=torch.float64, device=device) for kk in ks} \
            if popularity is not None else None
        for b in plan.batches:
            scores = score_fn(b.users).float()
            if len(b.masked[0]):
                scores.index_put_(b.masked, torch.tensor(-torch.inf, device=scores.device))
            top_v, top = topk_rows(scores, k)
            local = torch.arange(len(b.users), device=device).unsqueeze(1) * n + top
            pos = torch.searchsorted(b.targets, local).clamp_(max=max(len(b.targets) - 1, 0))
            if len(b.targets):
                hits = b.targets[pos] == local
            else:
                hits = torch.zeros_like(local, dtype=torch.bool)
            if masked_any:  # a masked item can reach the top-k only when fewer than k remain
                hits &= top_v > -torch.inf
            if shown is not None:
                for kk in ks:
                    kept = top[:, :kk][top_v[:, :kk] > -torch.inf]
                    shown[kk].index_add_(0, kept, torch.ones_like(kept, dtype=torch.float64))
            if k < self.max_k:
                hits = torch.nn.functional.pad(hits, (0, self.max_k - k))
            for m in self.metrics:
                v = m.per_user(hits, b.n_rel)
                sums[repr(m)] += v.sum(dtype=torch.float64)
                if per_user:
                    values[repr(m)].append(v)
        n_users = max(len(plan.users), 1)
        out = {name: float(s) / n_users for name, s in sums.items()}
        out["users"] = len(plan.users)
        if shown is not None:
            for kk, counts in shown.items():
                out.update(popularity_views(counts, popularity.to(device), kk))
        if per_user:
            out["per_user"] = {name: torch.cat(v) if v else torch.empty(0)
                               for name, v in values.items()}
            out["per_user"]["user"] = plan.users
        return out
