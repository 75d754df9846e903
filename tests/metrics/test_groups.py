import torch

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics import FullRankingEvaluator, evaluate_groups, metric_grid, popularity_groups
from gnnrec.metrics.groups import restrict


def test_groups_hold_equal_interaction_mass_most_popular_first():
    deg = torch.tensor([1, 50, 3, 20, 20, 2, 4, 30, 10, 10])
    g = popularity_groups(deg)
    assert g[1] == 0 and g[0] == 2  # the most popular item is head, the least tail
    mass = [int(deg[g == k].sum()) for k in range(3)]
    assert sum(mass) == int(deg.sum()) and max(mass) - min(mass) <= 30
    # monotone: a more popular item is never in a later group
    order = torch.argsort(deg, descending=True, stable=True)
    assert torch.all(g[order][1:] >= g[order][:-1])


def test_restrict_and_group_evaluation():
    target = PositiveSet(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 3, 1, 2]), 2, 4)
    kept = restrict(target, torch.tensor([True, False, False, True]))
    assert kept.keys.tolist() == [0 * 4 + 0, 0 * 4 + 3]
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    ev = FullRankingEvaluator(metric_grid(["recall"], [2]))
    deg = torch.tensor([40, 30, 20, 10])  # head {0}, mid {1}, tail {2, 3}
    res = evaluate_groups(ev, lambda u: scores[u], target, [], deg)
    assert res["head"]["recall@2"] == 1.0 and res["head"]["users"] == 1
    assert res["tail"]["recall@2"] == 0.5  # user 0 misses item 3, user 1 finds item 2
