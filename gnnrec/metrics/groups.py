"""Head / mid / tail item groups by training popularity (PopDCL, Sec. 4.3)."""
from typing import Dict

import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet

GROUP_NAMES = ("head", "mid", "tail")


def popularity_groups(item_degree: Tensor, num_groups: int = 3) -> Tensor:
    r"""Group id of every item, ``0`` the most popular: items in descending
    order of training degree are cut so that each group holds (as nearly as
    whole items allow) the same number of training interactions, as PopDCL
    does. Returns ``(num_items,)`` int64."""
    deg = item_degree.double()
    order = torch.argsort(deg, descending=True, stable=True)
    before = torch.cumsum(deg[order], 0) - deg[order]  # interactions ahead of each item
    total = float(deg.sum()) or 1.0
    group_sorted = torch.clamp((before / total * num_groups).floor().long(), max=num_groups - 1)
    groups = torch.empty_like(group_sorted)
    groups[order] = group_sorted
    return groups


def restrict(target: PositiveSet, keep_item: Tensor) -> PositiveSet:
    r"""The pairs of ``target`` whose item is in ``keep_item`` (a boolean
    mask over items)."""
    user = target.keys // target.num_items
    keep = keep_item[target.col]
    return PositiveSet(user[keep], target.col[keep], target.num_users, target.num_items)


def evaluate_groups(evaluator, score_fn, target: PositiveSet, exclude, item_degree: Tensor
                    ) -> Dict[str, Dict[str, float]]:
    r"""Full-ranking metrics of ``target`` restricted to each popularity
    group (the ranking still covers all items)."""
    groups = popularity_groups(item_degree.to(target.device), len(GROUP_NAMES))
    return {name: evaluator.evaluate(score_fn, restrict(target, groups == g), exclude)
            for g, name in enumerate(GROUP_NAMES)}
