"""Full-ranking evaluation: every item scored, known items masked, top-K hits."""
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics.ranking import RankingMetric, metric_grid

ScoreFn = Callable[[Tensor], Tensor]


def dot_scores(user_emb: Tensor, item_emb: Tensor) -> ScoreFn:
    r"""Score function for inner-product models: ``users -> (B, I)``."""
    item_t = item_emb.t().contiguous()
    return lambda users: user_emb[users] @ item_t


class FullRankingEvaluator:
    r"""Ranks *all* items for each evaluated user, masks the items the user
    is known to have (training items, and validation items when testing),
    and scores the top :math:`K` against the target set.

    Users are processed in batches so at most ``max_scores`` scores exist at
    once (never a dense all-users x all-items matrix); scoring, masking,
    :func:`torch.topk` and hit lookup run on the embeddings' device. A user
    counts only if it has at least one target item. Values are means over
    those users.

    Args:
        metrics (sequence of RankingMetric, optional): what to compute;
            ``None`` is recall, ndcg, precision, hit and mrr at every ``ks``.
            (default: :obj:`None`)
        ks (sequence of int, optional): cut-offs for the default metrics.
            (default: :obj:`(20,)`)
        max_scores (int, optional): scores held at once (bounds memory).
            (default: :obj:`2**24`)
    """

    def __init__(self, metrics: Optional[Sequence[RankingMetric]] = None,
                 ks: Sequence[int] = (20,), max_scores: int = 2 ** 24):
        if metrics is None:
            metrics = metric_grid(["recall", "ndcg", "precision", "hit", "mrr"], ks)
        self.metrics = list(metrics)
        self.max_k = max(m.k for m in self.metrics)
        self.max_scores = int(max_scores)

    @torch.no_grad()
    def evaluate(self, score_fn: ScoreFn, target: PositiveSet,
                 exclude: Sequence[PositiveSet] = (), users: Optional[Tensor] = None,
                 per_user: bool = False) -> Dict[str, float]:
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
        """
        device = target.device
        if users is None:
            users = torch.nonzero(target.degree > 0).flatten()
        else:
            users = users.to(device)
            users = users[target.degree[users] > 0]
        num_items = target.num_items
        k = min(self.max_k, num_items)
        batch = max(1, self.max_scores // max(num_items, 1))
        sums = {repr(m): torch.zeros((), dtype=torch.float64, device=device) for m in self.metrics}
        values = {repr(m): [] for m in self.metrics} if per_user else None
        for start in range(0, len(users), batch):
            u = users[start:start + batch]
            scores = score_fn(u).float()
            for ex in exclude:
                row, item = ex.items_of(u)
                scores[row, item] = -torch.inf
            top = torch.topk(scores, k, dim=1).indices
            hits = target.contains(u.unsqueeze(1), top)
            # a masked item can reach the top-k only when fewer than k remain
            if exclude:
                hits &= torch.gather(scores, 1, top) > -torch.inf
            if k < self.max_k:
                hits = torch.nn.functional.pad(hits, (0, self.max_k - k))
            n_rel = target.degree[u]
            for m in self.metrics:
                v = m.per_user(hits, n_rel)
                sums[repr(m)] += v.sum(dtype=torch.float64)
                if per_user:
                    values[repr(m)].append(v)
        n = max(len(users), 1)
        out = {name: float(s) / n for name, s in sums.items()}
        out["users"] = len(users)
        if per_user:
            out["per_user"] = {name: torch.cat(v) if v else torch.empty(0)
                               for name, v in values.items()}
            out["per_user"]["user"] = users
        return out
