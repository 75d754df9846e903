import pytest
import torch

from gnnrec.sampling.base import row_dots


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(6, 5), (6, 2, 4), (6, 1, 1), (6, 30)])
def test_row_dots_equal_gathered_inner_products(shape, dtype):
    # candidates repeat, come unsorted, may outnumber the table's rows (30 > 12)
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(20, 8, generator=gen, dtype=dtype)[8:]  # a slice, as out.item
    query = torch.randn(6, 16, generator=gen, dtype=dtype)[:, ::2]  # non-contiguous
    index = torch.randint(12, shape, generator=gen)
    index[:, ..., 0] = index[:, ..., -1]  # a repeat in every row
    want = (table[index] * query.view(6, *([1] * (len(shape) - 1)), 8)).sum(-1)
    got = row_dots(query, table, index)
    assert got.shape == shape and got.dtype == dtype
    torch.testing.assert_close(got, want)


def test_row_dots_take_no_gradient():
    table = torch.randn(12, 4, requires_grad=True)
    query = torch.randn(3, 4, requires_grad=True)
    assert not row_dots(query, table, torch.randint(12, (3, 5))).requires_grad
