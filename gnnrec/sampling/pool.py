"""The candidate pool of the hard samplers: a given size, or the largest
whose most popular candidate is seldom one of the user's own items
(:mod:`gnnrec.data.density`)."""
from typing import List, Optional

from gnnrec.data.density import MAX_OWN_RATE, own_pick_rate, pool_size
from gnnrec.data.graph import RecGraph
from gnnrec.sampling.base import _at_least


class CandidatePool:
    r"""Mixin of the samplers that draw ``num_candidates`` uniform candidates:
    a given pool size is used as is; ``None`` derives it from the training
    graph at :meth:`bind`: the largest pool, up to ``max_candidates``, whose
    most popular candidate is a user's own item at most 1/8 of the time
    (:func:`~gnnrec.data.density.pool_size`), and :meth:`advice` prints what
    it chose and why at the start of a run."""
    num_candidates: Optional[int]

    def _init_pool(self, num_candidates: Optional[int], max_candidates: int) -> None:
        if num_candidates is not None:
            _at_least("num_candidates", num_candidates, 1)
        _at_least("max_candidates", max_candidates, 1)
        self.requested_candidates = None if num_candidates is None else int(num_candidates)
        self.max_candidates = int(max_candidates)
        self.num_candidates = self.requested_candidates

    def _min_pool(self) -> int:
        """The smallest pool the sampler's other options allow."""
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
