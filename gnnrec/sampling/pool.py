r"""The candidate pool size of the hard samplers, derived from the data: the
largest pool whose hardest pick is seldom one of the user's own items.

A hard sampler (DNS, MixGCF, PDNS, AHNS) scores :math:`M` uniform
non-positive candidates and keeps the hardest. On dense data the hardest of
many candidates is often an item the user would interact with but has not
in training (a missing positive), and training pushes it down: on the dense
synthetic set of ``benchmarks/README.rst`` section 6 every hard sampler at
:math:`M = 16` lost to uniform sampling, by 8-15% with MF, and DNS with
:math:`M = 2` did not. How often a pick is a missing positive cannot be read
before training, but its stand-in can: the chance that the **most popular**
of :math:`M` uniform items (the pick of a model that ranks by popularity,
as every model does early on) is one of the user's *training* items, under
a random split distributed like the held-out ones. For a training edge of
user :math:`u`, items ordered by popularity and :math:`c_i` the number of
items at most as popular as :math:`i`, the maximum of :math:`M` uniform
draws over :math:`N` items is :math:`i` with probability
:math:`(c_i/N)^M - ((c_i - 1)/N)^M`, so over the training edges

.. math::
    r(M) = \frac{1}{|E|} \sum_{(u, i) \in E} d_u
    \left[\left(\tfrac{c_i}{N}\right)^M - \left(\tfrac{c_i - 1}{N}\right)^M\right]

(each edge's user :math:`u` weighs its :math:`d_u` training items: a batch
draws users by their degree). :func:`pool_size` is the largest
:math:`M \le` a sampler's cap with :math:`r(M) \le` ``max_rate``.

``max_rate = 1/8`` was chosen on validation Recall@20 of two sets, where
the best pool sizes were :math:`M = 2` (dense synthetic, 2.3% training
density, :math:`r(2) = 0.11`, :math:`r(4) = 0.15`) and :math:`M \ge 32`
(20-core Gowalla, 0.58%, :math:`r(32) = 0.049`); on the full Gowalla split
:math:`r(32) = 0.010`, so sparse data keeps each sampler's cap.
"""
from typing import List, Optional

import torch

from gnnrec.data.graph import RecGraph
from gnnrec.sampling.base import _at_least

#: the share of hardest picks that may be the user's own item (see above)
MAX_OWN_RATE = 0.125


def own_pick_rate(graph: RecGraph, sizes) -> torch.Tensor:
    r""":math:`r(M)` above for each pool size in ``sizes`` (float64, on
    the graph's device); ties in popularity are broken by item id."""
    n = graph.num_items
    degree = torch.bincount(graph.item, minlength=n)
    order = torch.argsort(degree, stable=True)
    rank = torch.empty(n, dtype=torch.float64, device=degree.device)
    rank[order] = torch.arange(1, n + 1, dtype=torch.float64, device=degree.device)
    user_degree = torch.bincount(graph.user, minlength=graph.num_users).to(torch.float64)
    weight = user_degree[graph.user]
    top, below = rank[graph.item] / n, (rank[graph.item] - 1) / n
    m = torch.as_tensor(list(sizes), dtype=torch.float64, device=degree.device).view(-1, 1)
    return (weight * (top.pow(m) - below.pow(m))).sum(1) / max(graph.num_edges, 1)


def pool_size(graph: RecGraph, cap: int, max_rate: float = MAX_OWN_RATE) -> int:
    r"""The largest :math:`M` in ``[1, cap]`` with :math:`r(M) \le`
    ``max_rate`` (1 when even a single uniform pick exceeds it)."""
    rates = own_pick_rate(graph, range(1, cap + 1))
    fits = (rates <= max_rate).nonzero()
    return int(fits[-1]) + 1 if len(fits) else 1


class CandidatePool:
    r"""Mixin of the samplers that draw ``num_candidates`` uniform candidates:
    a given pool size is used as is; ``None`` derives it from the training
    graph at :meth:`bind` (:func:`pool_size`, at most ``max_candidates``)
    and :meth:`advice` says what it chose and why."""
    num_candidates: Optional[int]

    def _init_pool(self, num_candidates: Optional[int], max_candidates: int) -> None:
        if num_candidates is not None:
            _at_least("num_candidates", num_candidates, 1)
        _at_least("max_candidates", max_candidates, 1)
        self.requested_candidates = None if num_candidates is None else int(num_candidates)
        self.max_candidates = int(max_candidates)
        self.num_candidates = self.requested_candidates

    #: the smallest pool the sampler's other options allow
    def _min_pool(self) -> int:
        return 1

    def _derive(self, graph: RecGraph):
        r"""``(size, rate)`` of the pool derived from ``graph`` (computed once
        per graph)."""
        if getattr(self, "_derived_for", None) is not graph:
            cap = max(self.max_candidates, self._min_pool())
            size = max(pool_size(graph, cap), self._min_pool())
            self._derived = size, float(own_pick_rate(graph, [size])[0])
            self._derived_for = graph
        return self._derived

    def bind(self, graph: RecGraph):
        super().bind(graph)
        if self.requested_candidates is None:
            self.num_candidates = self._derive(graph)[0]
        return self

    def advice(self, graph: RecGraph) -> List[str]:
        if self.requested_candidates is not None:
            return []
        size, rate = self._derive(graph)
        name = type(self).__name__.lower()
        if size >= self.max_candidates:
            return [f"{name}: {size} candidates (the cap, max_candidates; the most popular of "
                    f"them is a user's own item {rate:.1%} of the time, within "
                    f"{MAX_OWN_RATE:.1%})"]
        return [f"{name}: {size} candidates, not {self.max_candidates}: on data this dense the "
                f"most popular of more would be a user's own item (a likely missing positive) "
                f"more than {MAX_OWN_RATE:.1%} of the time ({rate:.1%} at {size}); set "
                f"{name}.num_candidates to override"]
