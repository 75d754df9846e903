import math

import numpy as np
import pytest
import torch
from sklearn.metrics import ndcg_score

from gnnrec.data.positives import PositiveSet
from gnnrec.metrics import FullRankingEvaluator, metric_grid, most_popular, parse_metric
from gnnrec.errors import GnnrecError

NAMES = ["recall", "ndcg", "precision", "hit", "mrr"]


def random_case(seed, num_users=30, num_items=25):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(num_users, num_items)).astype(np.float32)
    train = rng.random((num_users, num_items)) < 0.25
    test = (rng.random((num_users, num_items)) < 0.2) & ~train
    test[0] = False  # a user with nothing to find
    return scores, train, test


def to_set(mask):
    u, i = np.nonzero(mask)
    return PositiveSet(torch.as_tensor(u), torch.as_tensor(i), *mask.shape)


def slow_reference(scores, train, test, k):
    """Per-user Python loop: rank the non-training items, score the top k."""
    out = {n: [] for n in NAMES}
    for u in range(scores.shape[0]):
        rel = set(np.flatnonzero(test[u]))
        if not rel:
            continue
        cand = [i for i in range(scores.shape[1]) if not train[u, i]]
        ranked = sorted(cand, key=lambda i: -scores[u, i])[:k]
        hits = [i in rel for i in ranked]
        dcg = sum(1 / math.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        out["recall"].append(sum(hits) / len(rel))
        out["precision"].append(sum(hits) / k)
        out["ndcg"].append(dcg / idcg)
        out["hit"].append(float(any(hits)))
        out["mrr"].append(next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0))
    return {f"{n}@{k}": float(np.mean(v)) for n, v in out.items()}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_scores", [25 * 4, 2 ** 20])
def test_every_metric_equals_slow_reference(seed, max_scores):
    scores, train, test = random_case(seed)
    ks = [1, 5, 10]
    ev = FullRankingEvaluator(metric_grid(NAMES, ks), max_scores=max_scores)
    s = torch.as_tensor(scores)
    got = ev.evaluate(lambda u: s[u], to_set(test), [to_set(train)])
    assert got["users"] == int((test.sum(1) > 0).sum())
    for k in ks:
        want = slow_reference(scores, train, test, k)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.parametrize("seed", range(3))
def test_ndcg_agrees_with_sklearn(seed):
    scores, train, test = random_case(seed)
    ev = FullRankingEvaluator(metric_grid(["ndcg"], [5, 10]))
    s = torch.as_tensor(scores)
    got = ev.evaluate(lambda u: s[u], to_set(test), [to_set(train)], per_user=True)
    users = got["per_user"]["user"].numpy()
    for k in (5, 10):
        mine = got["per_user"][f"ndcg@{k}"].numpy()
        for u, v in zip(users, mine):
            keep = ~train[u]  # sklearn ranks only the candidates
            ref = ndcg_score(test[u][keep][None].astype(float), scores[u][keep][None], k=k)
            assert v == pytest.approx(ref, abs=1e-6)


def test_masked_items_never_count_even_with_few_candidates():
    # user 0 has 3 items, 2 in training: a top-5 must not count masked items
    scores = torch.tensor([[5.0, 4.0, 3.0]])
    train = np.array([[True, True, False]])
    test = np.array([[False, False, True]])
    ev = FullRankingEvaluator(metric_grid(["recall", "precision"], [5]))
    got = ev.evaluate(lambda u: scores[u], to_set(test), [to_set(train)])
    assert got["recall@5"] == 1.0 and got["precision@5"] == pytest.approx(1 / 5)


def test_most_popular_ranks_by_degree():
    deg = torch.tensor([1, 9, 5, 0])
    test = np.array([[False, True, False, False], [False, False, True, False]])
    ev = FullRankingEvaluator(metric_grid(["hit", "mrr"], [1, 2]))
    got = ev.evaluate(most_popular(deg), to_set(test))
    assert got["hit@1"] == 0.5 and got["mrr@2"] == pytest.approx((1 + 0.5) / 2)


def test_parse_metric():
    assert repr(parse_metric("NDCG@20")) == "ndcg@20"
    with pytest.raises(GnnrecError):
        parse_metric("auc@5")
