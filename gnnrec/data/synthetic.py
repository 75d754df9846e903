"""Synthetic timestamped interactions: power-law popularity and activity,
preferences that drift over time.

For tests, smoke runs, scaling measurements and the temporal / leave-one-out
protocols that the bundled data (no timestamps) cannot serve. Figures
obtained on it are to be labelled synthetic.
"""
import math
from typing import Dict

import numpy as np
import torch

from gnnrec.errors import option_error


def synthesize(users: int = 1000, items: int = 500, interactions: int = 20000,
               item_exponent: float = 1.0, user_exponent: float = 1.0,
               concentration: float = 2.0, drift: float = 1.0, seed: int = 0) -> Dict:
    r"""Draws implicit feedback with timestamps.

    * **Item popularity** is Zipf-like: item of popularity rank :math:`r`
      (a random permutation of the ids) is drawn with weight
      :math:`r^{-a}`, :math:`a` = ``item_exponent``.
    * **User activity** is Zipf-like too: the user of activity rank
      :math:`r` gets a share :math:`\propto r^{-b}` (``user_exponent``) of
      the interactions, at least 3 each.
    * **Drifting preferences**: every item sits at an angle
      :math:`\theta_i` on a circle of topics; user :math:`u`'s taste moves
      from :math:`\phi_u` at time 0 to :math:`\phi_u + \delta_u` at time 1
      (:math:`\delta_u \sim N(0, \text{drift}^2)`), and an interaction at
      time :math:`t` picks item :math:`i` with probability
      :math:`\propto r_i^{-a}\exp(\kappa\cos(\theta_i - \phi_u - \delta_u t))`
      (:math:`\kappa` = ``concentration``), by rejection from the
      popularity draw (vectorised rounds). Times are uniform in
      :math:`[0, 1)`.

    Repeated (user, item) pairs are kept (the readers count and drop them).
    Deterministic under ``seed``.

    Returns:
        dict of ``user``, ``item`` (int64) and ``timestamp`` (float64)
        arrays, and ``item_rank`` (the popularity rank of every item).
    """
    for name, value, low in (("users", users, 1), ("items", items, 2),
                             ("interactions", interactions, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise option_error(name, f"must be an integer >= {low}, got {value!r}")
    for name, value in (("item_exponent", item_exponent), ("user_exponent", user_exponent),
                        ("concentration", concentration), ("drift", drift)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise option_error(name, f"must be a finite number >= 0, got {value!r}")
    if interactions < 3 * users:
        raise option_error("interactions", f"must be at least 3 per user ({3 * users}), got "
                                           f"{interactions}")
    gen = torch.Generator().manual_seed(seed)
    # item popularity: rank r -> weight r^-a, ranks a random permutation of the ids
    item_rank = torch.randperm(items, generator=gen) + 1
    item_w = item_rank.double().pow(-item_exponent)
    # user activity: at least 3 each, the rest by rank^-b
    user_rank = torch.randperm(users, generator=gen) + 1
    user_w = user_rank.double().pow(-user_exponent)
    extra = interactions - 3 * users
    counts = 3 + torch.multinomial(user_w / user_w.sum(), extra, replacement=True,
                                   generator=gen).bincount(minlength=users) if extra else \
        torch.full((users,), 3, dtype=torch.long)
    user = torch.repeat_interleave(torch.arange(users), counts)
    n = len(user)
    t = torch.rand(n, generator=gen, dtype=torch.float64)
    theta = torch.rand(items, generator=gen, dtype=torch.float64) * 2 * math.pi
    phi = torch.rand(users, generator=gen, dtype=torch.float64) * 2 * math.pi
    delta = torch.randn(users, generator=gen, dtype=torch.float64) * drift
    taste = phi[user] + delta[user] * t
    item = torch.empty(n, dtype=torch.long)
    todo = torch.arange(n)
    p = item_w / item_w.sum()
    for _ in range(200):  # accept with exp(k (cos - 1)) <= 1
        if len(todo) == 0:
            break
        cand = torch.multinomial(p, len(todo), replacement=True, generator=gen)
        accept = torch.rand(len(todo), generator=gen, dtype=torch.float64) < torch.exp(
            concentration * (torch.cos(theta[cand] - taste[todo]) - 1))
        item[todo[accept]] = cand[accept]
        todo = todo[~accept]
    if len(todo):  # vanishingly rare: the popularity draw alone
        item[todo] = torch.multinomial(p, len(todo), replacement=True, generator=gen)
    order = torch.argsort(user * 2.0 + t)  # by user, then time
    return {"user": user[order].numpy(), "item": item[order].numpy(),
            "timestamp": t[order].numpy(), "item_rank": item_rank.numpy()}


def popularity_exponent(item: np.ndarray, top: int = 100) -> float:
    r"""The Zipf exponent of an item sample: minus the slope of
    ``log(count)`` against ``log(rank)`` over the ``top`` most frequent
    items (a least-squares fit)."""
    counts = np.sort(np.bincount(item))[::-1]
    counts = counts[counts > 0][:top]
    ranks = np.arange(1, len(counts) + 1)
    slope = np.polyfit(np.log(ranks), np.log(counts), 1)[0]
    return float(-slope)
