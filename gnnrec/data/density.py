r"""How dense a training graph is for hard negatives: how often the hardest
of :math:`M` uniform candidates would be one of the user's own items.

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
import torch

from gnnrec.data.graph import RecGraph

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


def is_dense(graph: RecGraph, cap: int = 16, max_rate: float = MAX_OWN_RATE) -> bool:
    r"""Whether the most popular of ``cap`` uniform candidates is a user's
    own item more often than ``max_rate`` (:math:`r(\text{cap})`): the data on
    which the hard samplers shrink their pools and in-batch sampled softmax
    raises its temperature."""
    return float(own_pick_rate(graph, [cap])[0]) > max_rate


def class_prior(graph: RecGraph, side: str = "item") -> float:
    r"""The chance that a uniformly drawn item is one of the user's training
    items, over the rows a batch draws (training edges, so a user weighs its
    degree :math:`d_u`), for :math:`N` items:

    .. math::
        \pi = \frac{1}{|E|} \sum_{(u, i) \in E} \frac{d_u}{N}
            = \frac{\sum_u d_u^2}{|E|\, N}

    ``side="user"``: the chance that a uniformly drawn user is one of the
    row's item's users, :math:`\sum_i d_i^2 / (|E|\, M)` for :math:`M` users.
    It is the class prior :math:`\omega^+` of a debiased contrastive loss
    (the share of uniform negatives that are positives) if a user has as
    many missing positives as observed ones; the held-out share of uniform
    negatives under a 30% held-out split measured 0.44-0.58 times it on four
    sets (``benchmarks/README.rst`` section 6, ``benchmarks/omega.py``)."""
    if side not in ("item", "user"):
        raise ValueError(f"side must be 'item' or 'user', got {side!r}")
    if graph.num_edges == 0:
        return 0.0
    ids, n, size = ((graph.user, graph.num_users, graph.num_items) if side == "item"
                    else (graph.item, graph.num_items, graph.num_users))
    degree = torch.bincount(ids, minlength=n).to(torch.float64)
    return float(degree.square().sum()) / (graph.num_edges * size)
