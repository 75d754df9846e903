"""How an epoch walks the training interactions."""
from typing import Iterator, Tuple

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph


class EdgeBatches:
    r"""One epoch is one pass over the training interactions in a random
    order, cut into mini-batches of ``(user, positive item)``."""

    def __init__(self, graph: RecGraph, batch_size: int):
        self.graph, self.batch_size = graph, int(batch_size)

    def __len__(self) -> int:
        return -(-self.graph.num_edges // self.batch_size)

    def __call__(self, generator: torch.Generator) -> Iterator[Tuple[Tensor, Tensor]]:
        g = self.graph
        perm = torch.randperm(g.num_edges, generator=generator, device=g.device)
        for start in range(0, g.num_edges, self.batch_size):
            idx = perm[start:start + self.batch_size]
            yield g.user[idx], g.item[idx]


class UserUniformBatches:
    r"""The sampling of the LightGCN authors' PyTorch code: ``|train|`` times,
    draw a user uniformly among users with training items, then one of its
    items uniformly. Users, not interactions, are equally likely."""

    def __init__(self, graph: RecGraph, batch_size: int):
        self.graph, self.batch_size = graph, int(batch_size)
        self.active = torch.nonzero(graph.user_degree > 0).flatten()

    def __len__(self) -> int:
        return -(-self.graph.num_edges // self.batch_size)

    def __call__(self, generator: torch.Generator) -> Iterator[Tuple[Tensor, Tensor]]:
        g, pos = self.graph, self.graph.positives
        n = g.num_edges
        pick = torch.randint(len(self.active), (n,), generator=generator, device=g.device)
        users = self.active[pick]
        deg = pos.degree[users]
        offset = (torch.rand(n, generator=generator, device=g.device, dtype=torch.float64)
                  * deg).long()
        items = pos.col[pos.rowptr[users] + torch.minimum(offset, deg - 1)]
        for start in range(0, n, self.batch_size):
            yield users[start:start + self.batch_size], items[start:start + self.batch_size]


#: ``--batching`` name -> class
BATCHINGS = {"edges": EdgeBatches, "users": UserUniformBatches}
