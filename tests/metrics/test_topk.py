import pytest
import torch

from gnnrec.metrics.topk import topk_rows


def check(scores, k, group=8):
    assert scores.size(1) // group >= 4 * k  # the grouped path, not the fallback
    values, index = topk_rows(scores, k, group=group)
    want = torch.topk(scores, k, dim=1).values
    assert torch.equal(values, want)  # the same k largest values, in order
    assert torch.equal(scores.gather(1, index), values)  # indices pointing at them
    assert (index.sort(1).values.diff(dim=1) > 0).all()  # distinct items


@pytest.mark.parametrize("n", [640, 643, 2000])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_topk_rows_equal_torch_topk(n, k):
    check(torch.randn(7, n, generator=torch.Generator().manual_seed(n + k)), k)


def test_top_items_crowded_into_one_group_are_all_found():
    # every top item in the same group (a method keeping fewer than k groups,
    # or one item per group, misses them), and some in the ragged tail
    scores = torch.randn(3, 403, generator=torch.Generator().manual_seed(0))
    scores[0, 16:24] += 100
    scores[1, 400:403] += 100
    scores[1, 8:12] += 50
    scores[2, ::50] += 100
    check(scores, 10)


def test_ties_and_masked_rows():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 4, (5, 640), generator=gen).float()  # heavy ties
    scores[0] = -torch.inf  # everything masked
    scores[1, 3:] = -torch.inf  # fewer than k scores left
    check(scores, 20)


def test_short_rows_fall_back_to_torch_topk():
    scores = torch.randn(4, 30)
    v, i = topk_rows(scores, 5)
    assert torch.equal(v, torch.topk(scores, 5, dim=1).values)
