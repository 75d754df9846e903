r"""How much of the users' training lists popularity alone ranks: the
in-sample Recall@k of the most-popular ranking,

.. math::
    P_k = \frac{1}{|\mathcal{U}|} \sum_{u} \frac{|\mathcal{I}_u \cap T_k|}
    {\min(|\mathcal{I}_u|, k)},

with :math:`\mathcal{I}_u` the user's training items and :math:`T_k` the
:math:`k` items of highest training degree (ties broken by
:func:`torch.topk`). It reads the training graph only, so a run can print it
at its start. Measured values (``benchmarks/README.rst`` section 6, random
70/10/20 splits): 0.37 on the dense synthetic set, where the most-popular
ranking's test Recall@20 is 0.368 against BPR + RNS's 0.399 (MF) and 0.435
(LightGCN), and LightGCN's cosine in-batch losses lose 9-13% to BPR + RNS;
0.21 on 30-core Gowalla (where they win by 4%), 0.13 on 25-core and 0.08 on
20-core Gowalla.
"""
import torch

from gnnrec.data.graph import RecGraph

#: above this :math:`P_{20}` the data is popularity-dominated (between the
#: synthetic set's 0.37 and 30-core Gowalla's 0.21, above)
POPULARITY_DOMINATED = 0.3


def most_popular_recall(graph: RecGraph, k: int = 20) -> float:
    r""":math:`P_k` above over the users with a training item."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    degree = torch.bincount(graph.item, minlength=graph.num_items)
    top = torch.zeros(graph.num_items, dtype=torch.float64, device=degree.device)
    top[degree.topk(min(k, graph.num_items)).indices] = 1.0
    user_degree = torch.bincount(graph.user, minlength=graph.num_users).to(torch.float64)
    hits = torch.bincount(graph.user, weights=top[graph.item], minlength=graph.num_users)
    has = user_degree > 0
    if not bool(has.any()):
        return 0.0
    return float((hits[has] / user_degree[has].clamp(max=k)).mean())
