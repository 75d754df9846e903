"""Sampled leave-one-out metrics and the popularity views of the top-K lists."""
import math

import numpy as np
import pytest
import torch

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics import EvalProtocol, FullRankingEvaluator, SampledEvaluator, metric_grid
from gnnrec.metrics.groups import popularity_groups


def to_set(mask):
    u, i = np.nonzero(mask)
    return PositiveSet(torch.as_tensor(u), torch.as_tensor(i), *mask.shape)


def loo_case(seed, num_users=40, num_items=300):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(num_users, num_items)).astype(np.float32)
    train = rng.random((num_users, num_items)) < 0.1
    test = np.zeros_like(train)
    for u in range(num_users):  # one held-out item per user
        test[u, rng.choice(np.flatnonzero(~train[u]))] = True
    return scores, train, test


def test_candidates_are_distinct_unknown_and_uniform():
    rng = np.random.default_rng(0)
    known = rng.random((3, 60)) < 0.3
    known[2, :55] = True  # 5 unknown items: fewer than asked, all of them, -1 elsewhere
    ks = to_set(known)
    users = torch.arange(3)
    counts = np.zeros(60)
    for seed in range(300):
        gen = torch.Generator().manual_seed(seed)
        neg = ks.sample_complement_distinct(users, 10, gen).numpy()
        for u in range(2):
            assert len(set(neg[u])) == 10 and not known[u, neg[u]].any()
        assert sorted(neg[2][neg[2] >= 0]) == list(range(55, 60)) and (neg[2] < 0).sum() == 5
        np.add.at(counts, neg[0], 1)
    free = np.flatnonzero(~known[0])
    assert counts[known[0]].sum() == 0
    from scipy.stats import chisquare

    assert chisquare(counts[free]).pvalue > 0.001  # uniform over the user's unknown items


def slow_sampled(scores, test, negatives, k):
    """Per (user, target) loop: the target's rank among the user's candidates."""
    hit, ndcg = [], []
    for u in range(scores.shape[0]):
        targets = np.flatnonzero(test[u])
        if not len(targets):
            continue
        cand = [j for j in negatives[u] if j >= 0]
        h, n = [], []
        for t in targets:
            rank = sum(scores[u, j] >= scores[u, t] for j in cand)
            h.append(float(rank < k))
            n.append(1 / math.log2(rank + 2) if rank < k else 0.0)
        hit.append(np.mean(h))
        ndcg.append(np.mean(n))
    return {f"hit@{k}": float(np.mean(hit)), f"ndcg@{k}": float(np.mean(ndcg))}


@pytest.mark.parametrize("seed", range(3))
def test_sampled_metrics_equal_a_slow_reference(seed):
    scores, train, test = loo_case(seed)
    rng = np.random.default_rng(seed + 10)
    test |= (rng.random(test.shape) < 0.02) & ~train  # some users with several targets
    known = to_set(train | test)
    ev = SampledEvaluator(50, ks=(5, 10), seed=seed, max_scores=300 * 7)
    plan = ev.plan(to_set(test), known)
    negatives = np.full((scores.shape[0], 50), -1)
    for b in plan.batches:
        negatives[b.users.numpy()] = b.negatives.numpy()
    got = ev.evaluate(lambda u: torch.as_tensor(scores)[u], to_set(test), known, plan)
    for k in (5, 10):
        want = slow_sampled(scores, test, negatives, k)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-9), key
    assert got["users"] == int(test.any(1).sum())


@pytest.mark.parametrize("seed", range(3))
def test_sampled_hit_rate_is_never_below_the_full_ranking_one(seed):
    scores, train, test = loo_case(seed)
    full = FullRankingEvaluator(metric_grid(["hit"], [1, 5, 10]))
    score_fn = lambda u: torch.as_tensor(scores)[u]  # noqa: E731
    f = full.evaluate(score_fn, to_set(test), [to_set(train)])
    s = SampledEvaluator(100, ks=(1, 5, 10), seed=seed).evaluate(score_fn, to_set(test),
                                                                 to_set(train | test))
    for k in (1, 5, 10):
        assert s[f"hit@{k}"] >= f[f"hit@{k}"]
    assert s["hit@10"] > f["hit@10"]  # and here strictly (100 of ~270 unknown items)


def test_the_candidates_are_drawn_once_per_protocol():
    scores, train, test = loo_case(0)
    proto = EvalProtocol({"train": to_set(train), "test": to_set(test)}, ks=[10], sampled=20)
    score_fn = lambda u: torch.as_tensor(scores)[u]  # noqa: E731
    a = proto.evaluate_sampled(score_fn, "test")
    b = proto.evaluate_sampled(score_fn, "test")
    assert a == b and a["negatives"] == 20


def slow_views(scores, train, test, popularity, k):
    shown = np.zeros(scores.shape[1])
    for u in range(scores.shape[0]):
        if not test[u].any():
            continue
        cand = [i for i in range(scores.shape[1]) if not train[u, i]]
        for i in sorted(cand, key=lambda i: -scores[u, i])[:k]:
            shown[i] += 1
    groups = popularity_groups(torch.as_tensor(popularity), 3).numpy()
    out = {f"exposure_{g}@{k}": shown[groups == n].sum() / shown.sum()
           for n, g in enumerate(("head", "mid", "tail"))}
    out[f"avgpop@{k}"] = (shown * popularity).sum() / shown.sum()
    out[f"coverage@{k}"] = (shown > 0).mean()
    return out


@pytest.mark.parametrize("seed", range(3))
def test_popularity_views_equal_a_slow_reference_and_exposure_sums_to_one(seed):
    scores, train, test = loo_case(seed, num_items=80)
    popularity = train.sum(0)
    ev = FullRankingEvaluator(metric_grid(["recall"], [5, 20]), max_scores=80 * 9)
    got = ev.evaluate(lambda u: torch.as_tensor(scores)[u], to_set(test), [to_set(train)],
                      popularity=torch.as_tensor(popularity))
    for k in (5, 20):
        want = slow_views(scores, train, test, popularity, k)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-9), key
        assert sum(got[f"exposure_{g}@{k}"] for g in ("head", "mid", "tail")) == \
            pytest.approx(1.0)


def test_most_popular_exposes_only_the_head_and_covers_little():
    scores, train, test = loo_case(1, num_items=200)
    proto = EvalProtocol({"train": to_set(train), "test": to_set(test)}, ks=[5])
    pop = proto.baseline("test", views=True)
    assert pop["exposure_head@5"] == 1.0 and pop["coverage@5"] < 0.1
    model = proto.evaluate(lambda u: torch.as_tensor(scores)[u], "test", views=True)
    assert model["coverage@5"] > 5 * pop["coverage@5"]
    assert model["avgpop@5"] < pop["avgpop@5"]
