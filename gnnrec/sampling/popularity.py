"""PNS: negatives drawn in proportion to a power of item popularity."""
from typing import Optional

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.nn.base import EncoderOutput
from gnnrec.sampling.base import NegativeSampler, Negatives, _at_least


class PNS(NegativeSampler):
    r"""Popularity-biased negative sampling (NNCF, Chen et al. 2017; the
    word2vec unigram^0.75 rule): a negative :math:`j \notin \mathcal{I}_u`
    is drawn with probability

    .. math::
        P(j \mid u) = \frac{d_j^{\,p}}{\sum_{k \notin \mathcal{I}_u} d_k^{\,p}},

    :math:`d_j` the training degree of item :math:`j`. Draws use the
    inverse CDF of the global distribution (one :func:`torch.searchsorted`)
    and redraw only the draws that hit a positive, for whole batches at once;
    rows still rejected after ``max_rounds`` are drawn exactly from their own
    renormalised distribution. Items with zero weight (never seen in
    training, when ``power > 0``) are never drawn unless a user has no
    other non-positive, in which case that user's negatives are uniform.

    Args:
        power (float, optional): the exponent :math:`p`; ``0`` is RNS.
            (default: :obj:`0.75`)
        num_negatives (int, optional): negatives per positive.
            (default: :obj:`1`)
        max_rounds (int, optional): vectorised redraw rounds before the exact
            fallback. (default: :obj:`8`)
    """
    summary = "negatives proportional to item degree^power (never a positive)"

    def __init__(self, power: float = 0.75, num_negatives: int = 1, max_rounds: int = 8):
        super().__init__(num_negatives)
        _at_least("power", power, 0.0)
        _at_least("max_rounds", max_rounds, 0)
        self.power, self.max_rounds = float(power), int(max_rounds)

    def bind(self, graph: RecGraph) -> "PNS":
        super().bind(graph)
        w = graph.item_degree.double().pow(self.power)
        self.weight = w
        self.cdf = torch.cumsum(w, 0)
        return self

    def draw(self, users: Tensor, num: int, generator=None) -> Tensor:
        r"""``(B, num)`` items from :math:`P(\cdot \mid u)`, never a positive."""
        pos = self.graph.positives
        total = self.cdf[-1]
        shape = (len(users), num)
        u = users.unsqueeze(1).expand(shape)
        items = torch.empty(shape, dtype=torch.long, device=users.device)
        todo = torch.ones(shape, dtype=torch.bool, device=users.device)
        for _ in range(self.max_rounds):
            n = int(todo.sum())
            if n == 0:
                return items
            r = torch.rand(n, generator=generator, device=users.device, dtype=torch.float64) * total
            cand = torch.searchsorted(self.cdf, r, right=True).clamp_(max=len(self.cdf) - 1)
            ok = ~pos.contains(u[todo], cand)
            idx = todo.nonzero(as_tuple=True)
            keep = (idx[0][ok], idx[1][ok])
            items[keep] = cand[ok]
            todo[keep] = False
        if bool(todo.any()):
            rows = todo.any(1).nonzero().flatten()
            items[rows] = torch.where(todo[rows], self._exact(users[rows], num, generator),
                                      items[rows])
        return items

    def _exact(self, users: Tensor, num: int, generator) -> Tensor:
        """Exact draws from each user's renormalised distribution (few rows)."""
        w = self.weight.unsqueeze(0).repeat(len(users), 1)
        row, item = self.graph.positives.items_of(users)
        w[row, item] = 0.0
        empty = w.sum(1) == 0  # only zero-weight non-positives left: uniform over them
        if bool(empty.any()):
            uni = torch.ones_like(w[empty])
            r2, i2 = self.graph.positives.items_of(users[empty])
            uni[r2, i2] = 0.0
            w[empty] = uni
        return torch.multinomial(w, num, replacement=True, generator=generator)

    def sample(self, users: Tensor, pos_items: Tensor, out: EncoderOutput,
               generator: Optional[torch.Generator] = None) -> Negatives:
        return self.pack(self.blind_items(users, pos_items, generator), out, users, pos_items)

    def blind_items(self, users: Tensor, pos_items: Tensor,
                    generator: Optional[torch.Generator] = None) -> Tensor:
        return self.draw(users, self.num_negatives, generator)
