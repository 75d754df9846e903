"""Sampled ranking: each held-out item against N random items the user never
interacted with (the leave-one-out protocol of NCF-era papers)."""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet

#: what a sampled evaluation reports, at every cut-off
SAMPLED_METRICS = ("hit", "ndcg")


@dataclass
class _SampledBatch:
    users: Tensor  # (B,) user indices
    row: Tensor  # (P,) position in ``users`` of each target pair
    item: Tensor  # (P,) target item of each pair
    negatives: Tensor  # (B, N) the user's sampled items, -1 where it has fewer


@dataclass
class SampledPlan:
    r"""The candidates of a sampled evaluation, drawn once and reused every
    evaluation (so epochs are ranked against the same items)."""
    batches: List[_SampledBatch]
    users: Tensor


class SampledEvaluator:
    r"""Ranks each target item of a user among ``num_negatives`` items drawn
    uniformly, without replacement, from the items the user has in *no*
    split (the "sampled" leave-one-out protocol of He et al., NCF, WWW 2017,
    `doi:10.1145/3038912.3052569 <https://doi.org/10.1145/3038912.3052569>`_,
    which HDCCF follows):

    .. math::
        \text{rank}(u, i) = |\{j \in S_u : f(u, j) \ge f(u, i)\}|, \quad
        \text{HR@}K = [\text{rank} < K], \quad
        \text{NDCG@}K = \frac{[\text{rank} < K]}{\log_2(\text{rank} + 2)},

    ties counted against the target. A user with several target items gets
    the mean over them (with leave-one-out there is one). The numbers are
    *not* full-ranking metrics: they are larger, and they can order models
    differently (Krichene and Rendle, KDD 2020,
    `doi:10.1145/3394486.3403226 <https://doi.org/10.1145/3394486.3403226>`_);
    a sampled rank is never worse than the full rank among unknown items, so
    sampled HR@K is at least the full one.

    Args:
        num_negatives (int, optional): :math:`|S_u|`. (default: :obj:`100`)
        ks (sequence of int, optional): cut-offs. (default: :obj:`(10,)`)
        seed (int, optional): seed of the draw. (default: :obj:`0`)
        max_scores (int, optional): scores held at once (as
            :class:`~gnnrec.metrics.FullRankingEvaluator`). (default: :obj:`None`)
    """

    def __init__(self, num_negatives: int = 100, ks: Sequence[int] = (10,), seed: int = 0,
                 max_scores: Optional[int] = None):
        if isinstance(num_negatives, bool) or not isinstance(num_negatives, int) \
                or num_negatives < 1:
            raise ValueError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
        self.num_negatives, self.ks, self.seed = num_negatives, sorted(set(ks)), seed
        self.max_scores = max_scores

    def plan(self, target: PositiveSet, known: PositiveSet) -> SampledPlan:
        r"""Draws the candidates: for every user with a target item,
        ``num_negatives`` items outside ``known`` (every split's
        interactions)."""
        device = target.device
        users = torch.nonzero(target.degree > 0).flatten()
        gen = torch.Generator(device=device).manual_seed(self.seed)
        cap = self.max_scores or (2 ** 26 if device.type == "cuda" else 2 ** 21)
        size = max(1, cap // max(target.num_items, 1))
        batches = []
        for start in range(0, len(users), size):
            u = users[start:start + size]
            row, item = target.items_of(u)
            neg = known.sample_complement_distinct(u, self.num_negatives, gen)
            batches.append(_SampledBatch(u, row, item, neg))
        return SampledPlan(batches, users)

    @torch.no_grad()
    def evaluate(self, score_fn, target: PositiveSet, known: PositiveSet,
                 plan: Optional[SampledPlan] = None) -> Dict[str, float]:
        r"""``{"hit@10": ..., "ndcg@10": ..., "users": n, "negatives": N}``,
        means over the users with a target item.

        Args:
            score_fn (callable): users ``(B,)`` to ``(B, num_items)`` scores.
            target (PositiveSet): the held-out items.
            known (PositiveSet): every known interaction (the candidates
                are drawn outside it).
            plan (SampledPlan, optional): a :meth:`plan` of the same sets.
        """
        plan = plan if plan is not None else self.plan(target, known)
        device = plan.users.device
        sums = {f"{m}@{k}": torch.zeros((), dtype=torch.float64, device=device)
                for k in self.ks for m in SAMPLED_METRICS}
        for b in plan.batches:
            scores = score_fn(b.users).float()
            pos = scores[b.row, b.item]  # (P,)
            neg = torch.gather(scores, 1, b.negatives.clamp(min=0))[b.row]  # (P, N)
            valid = (b.negatives >= 0)[b.row]
            rank = ((neg >= pos.unsqueeze(1)) & valid).sum(1)
            per_pair = len(b.users)
            count = torch.bincount(b.row, minlength=per_pair).clamp(min=1).double()
            for k in self.ks:
                hit = (rank < k).double()
                ndcg = hit / torch.log2(rank.double() + 2)
                for name, v in (("hit", hit), ("ndcg", ndcg)):
                    user_mean = torch.zeros(per_pair, dtype=torch.float64, device=device)
                    user_mean.index_add_(0, b.row, v)
                    sums[f"{name}@{k}"] += (user_mean / count).sum()
        n = max(len(plan.users), 1)
        out = {key: float(v) / n for key, v in sums.items()}
        out["users"] = len(plan.users)
        out["negatives"] = self.num_negatives
        return out
