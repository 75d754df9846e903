"""Which rows of a positive set share a member, as a packed bitmap."""
import torch
from torch import Tensor

from gnnrec.data.positives import PositiveSet, _join, packed_bits

_BIT = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)


class Cooccurrence:
    r"""For every pair of rows of a :class:`PositiveSet` (two users, or two
    items of the transposed set), whether their sets intersect: two users
    with a common training item, two items with a common user. Built once
    per graph as a bitmap of ``n x ceil(n / 8)`` bytes (Gowalla: 111 MB for
    its users, 210 MB for its items), by a sort-merge join of each chunk of
    rows with all rows (sparse data) or by OR-ing the bitmaps of each row's
    members (dense data), whichever costs less; afterwards a batch's ``(B, C)`` test is two gathers.

    Args:
        sets (PositiveSet): rows and their members.
        chunk (int, optional): rows joined at a time while building.
            (default: :obj:`512`)
    """

    def __init__(self, sets: PositiveSet, chunk: int = 512):
        n = sets.num_users
        self.num_rows = n
        if self._or_cost(sets) < self._join_cost(sets):
            self.bits = self._by_or(sets)
        else:
            self.bits = self._by_join(sets, chunk)

    @staticmethod
    def _join_cost(sets: PositiveSet) -> float:
        r"""The join's work: one output pair per (row, row, shared member),
        :math:`\sum_m \deg(m)^2`, at ~16 word operations a pair (sort,
        merge, scatter; against the OR build, on Gowalla and a dense synthetic set)."""
        deg = torch.bincount(sets.col, minlength=sets.num_items).double()
        return 16.0 * float((deg * deg).sum())

    @staticmethod
    def _or_cost(sets: PositiveSet) -> float:
        r"""The OR build's work: one row of the members' bitmap (``n / 64``
        words) per (row, member) pair."""
        return float(len(sets.keys)) * ((sets.num_users + 63) // 64)

    def _by_join(self, sets: PositiveSet, chunk: int) -> Tensor:
        r"""A sort-merge join of each chunk of rows with all rows through
        their members: cheap when members are rare (sparse data)."""
        n, dev, width = sets.num_users, sets.device, (sets.num_users + 7) // 8
        bits = torch.zeros(n, width, dtype=torch.uint8, device=dev)
        every = torch.arange(n, device=dev)
        col, col_member = sets.items_of(every)
        order = torch.argsort(col_member)  # sorted once for every chunk's join
        col, col_member = col[order], col_member[order]
        bit = _BIT.to(dev)
        for start in range(0, n, chunk):
            rows = every[start:start + chunk]
            row, member = sets.items_of(rows)
            k, m = _join(row, member, col, col_member, presorted=True)
            dense = torch.zeros(len(rows), width * 8, dtype=torch.bool, device=dev)
            dense[k, m] = True
            bits[start:start + len(rows)] = (
                dense.view(len(rows), width, 8).to(torch.uint8) * bit).sum(-1, dtype=torch.uint8)
        return bits

    def _by_or(self, sets: PositiveSet) -> Tensor:
        r"""Row ``r``'s bitmap is the OR, over its members ``m``, of the
        bitmap of the rows holding ``m``: cheap when members are shared by
        many rows (dense data, where the join's output explodes). Rows are
        taken in decreasing degree, so that the rows still holding a
        ``t``-th member are a prefix; one vectorised OR per rank ``t`` (as
        many steps as the largest degree), 64 bits at a time."""
        n, dev = sets.num_users, sets.device
        words = (n + 63) // 64  # OR is bitwise: bytes viewed as words give the same bits
        row = sets.keys // sets.num_items
        order = torch.argsort(sets.col * n + row)  # the transposed pairs, sorted
        members = packed_bits(sets.col[order], row[order], sets.num_items, words * 64)
        members = members.view(torch.int64)  # (num_members, words)
        deg = sets.degree
        by_deg = torch.argsort(deg, descending=True)
        active = torch.bincount(deg, minlength=int(deg.max()) + 1 if n else 1)
        active = n - torch.cumsum(active, 0)  # active[t]: rows of degree > t
        start = sets.rowptr[by_deg]
        out = torch.zeros(n, words, dtype=torch.int64, device=dev)
        for t in range(int(deg.max()) if n else 0):
            k = int(active[t])
            out[:k].bitwise_or_(members[sets.col[start[:k] + t]])
        bits = torch.empty_like(out)
        bits[by_deg] = out
        return bits.view(torch.uint8)[:, :(n + 7) // 8].contiguous()

    @staticmethod
    def nbytes_for(sets: PositiveSet) -> int:
        """Bytes the bitmap of ``sets`` takes."""
        return sets.num_users * ((sets.num_users + 7) // 8)

    def grid(self, rows: Tensor, cols: Tensor) -> Tensor:
        r"""``(len(rows), len(cols))`` 0/1 (``uint8``): do ``rows[k]`` and
        ``cols[m]`` share a member?"""
        # a gather along each selected row (in cache), not index_select on
        # dim 1, which walks the columns across rows: 5 ms against 19 ms for
        # 2,048 x 4,096 Gowalla users
        sel = self.bits.index_select(0, rows)
        byte = torch.gather(sel, 1, (cols >> 3).expand(len(rows), -1))
        return (byte >> (cols & 7).to(torch.uint8)).bitwise_and_(1)
