"""Top-K ranking metrics computed from each user's hit vector.

Every metric is a small subclass of :class:`RankingMetric`: given
``hits`` (``(B, K_max)`` booleans, whether the item ranked ``r`` is relevant)
and the number of relevant items of each user, it returns per-user values.
"""
import abc

import torch
from torch import Tensor

from gnnrec.errors import GnnrecError


class RankingMetric(abc.ABC):
    r"""Base class: a metric at cut-off ``k``.

    Args:
        k (int): the cut-off.
    """
    name: str = ""

    def __init__(self, k: int):
        if k < 1:
            raise GnnrecError(f"{self.name}@{k}: the cut-off must be >= 1")
        self.k = int(k)

    @abc.abstractmethod
    def per_user(self, hits: Tensor, num_relevant: Tensor) -> Tensor:
        r"""``(B,)`` values from ``hits`` ``(B, >= k)`` and ``(B,)`` counts."""

    def __repr__(self) -> str:
        return f"{self.name}@{self.k}"


class Recall(RankingMetric):
    r""":math:`|\mathrm{top}_K \cap \mathcal{T}_u| / |\mathcal{T}_u|`."""
    name = "recall"

    def per_user(self, hits, num_relevant):
        return hits[:, :self.k].sum(1) / num_relevant


class Precision(RankingMetric):
    r""":math:`|\mathrm{top}_K \cap \mathcal{T}_u| / K`."""
    name = "precision"

    def per_user(self, hits, num_relevant):
        return hits[:, :self.k].sum(1) / self.k


class NDCG(RankingMetric):
    r"""Binary-relevance NDCG:
    :math:`\sum_{r \le K} \mathrm{rel}_r / \log_2(r + 1)` over the ideal
    :math:`\sum_{r \le \min(K, |\mathcal{T}_u|)} 1 / \log_2(r + 1)`."""
    name = "ndcg"

    def per_user(self, hits, num_relevant):
        disc = 1.0 / torch.log2(torch.arange(2, self.k + 2, device=hits.device,
                                             dtype=torch.float32))
        dcg = (hits[:, :self.k].float() * disc).sum(1)
        ideal = torch.cumsum(disc, 0)[(num_relevant.clamp(max=self.k) - 1).long()]
        return dcg / ideal


class HitRate(RankingMetric):
    r"""1 if any relevant item is in the top :math:`K`, else 0 (HR@K)."""
    name = "hit"

    def per_user(self, hits, num_relevant):
        return hits[:, :self.k].any(1).float()


class MRR(RankingMetric):
    r"""Reciprocal rank of the first relevant item within the top :math:`K`
    (0 when there is none)."""
    name = "mrr"

    def per_user(self, hits, num_relevant):
        h = hits[:, :self.k]
        first = h.float().argmax(1)
        return torch.where(h.any(1), 1.0 / (first + 1).float(), torch.zeros_like(first,
                                                                                 dtype=torch.float))


#: metric name -> class
METRICS = {m.name: m for m in (Recall, NDCG, Precision, HitRate, MRR)}


def parse_metric(text: str) -> RankingMetric:
    r"""``"recall@20"`` to ``Recall(20)``."""
    name, _, k = text.strip().lower().partition("@")
    if name not in METRICS or not k.isdigit():
        detail = f"{text!r} is a bad metric: expected NAME@K with NAME one of {', '.join(METRICS)}"
        raise GnnrecError(f"metric {detail}", param="metric", detail=detail)
    return METRICS[name](int(k))


def metric_grid(names, ks):
    """Every metric name at every cut-off."""
    return [METRICS[n](k) for n in names for k in ks]
