"""Per-user item sets as CSR tensors on a device, with exact membership tests."""
from typing import Optional, Tuple

import torch
from torch import Tensor


class PositiveSet:
    r"""The items of every user, stored as sorted keys
    ``user * num_items + item`` (one tensor, on any device).

    Membership of a batch of pairs is one :func:`torch.searchsorted`; the
    items of a batch of users are gathered through the CSR row pointer. It
    also draws, exactly and without a rejection loop, uniform items *outside* a
    user's set (see :meth:`sample_complement`).

    Args:
        user (Tensor): ``(E,)`` user indices.
        item (Tensor): ``(E,)`` item indices (duplicates are dropped).
        num_users (int), num_items (int): the index ranges.
    """

    #: the largest membership bitmap (bytes) :meth:`bitmap` builds; larger
    #: sets answer draws with :func:`torch.searchsorted` alone
    BITMAP_MAX_BYTES = 2 ** 28

    def __init__(self, user: Tensor, item: Tensor, num_users: int, num_items: int):
        self.num_users, self.num_items = int(num_users), int(num_items)
        self._bitmap: Optional[Tensor] = None
        keys = torch.unique(user.long() * self.num_items + item.long())  # sorted
        self.keys = keys
        self.col = keys % self.num_items
        row = keys // self.num_items
        self.degree = torch.bincount(row, minlength=self.num_users)
        self.rowptr = torch.zeros(self.num_users + 1, dtype=torch.long, device=keys.device)
        torch.cumsum(self.degree, 0, out=self.rowptr[1:])
        # gap_j = (item_j - rank_j): how many non-members precede item_j.
        rank = torch.arange(len(keys), device=keys.device) - self.rowptr[row]
        self._gap_keys = row * self.num_items + (self.col - rank)

    @property
    def device(self) -> torch.device:
        return self.keys.device

    def __len__(self) -> int:
        return len(self.keys)

    def to(self, device) -> "PositiveSet":
        out = PositiveSet.__new__(PositiveSet)
        out.__dict__.update({k: (v.to(device) if isinstance(v, Tensor) else v)
                             for k, v in self.__dict__.items()})
        return out

    def contains(self, user: Tensor, item: Tensor) -> Tensor:
        """Boolean tensor: is ``item[k]`` in the set of ``user[k]``? Any shape
        (``user`` broadcasts against ``item``)."""
        if self._bitmap is not None:
            return self._in_bitmap(self._bitmap, user, item)
        query = user * self.num_items + item
        if len(self.keys) == 0:
            return torch.zeros_like(query, dtype=torch.bool)
        pos = torch.searchsorted(self.keys, query).clamp_(max=len(self.keys) - 1)
        return self.keys[pos] == query

    def bitmap(self) -> Optional[Tensor]:
        r"""Membership as a packed bitmap, ``(num_users, ceil(num_items / 8))``
        bytes (bit ``i % 8`` of byte ``i // 8`` of row ``u`` is set when
        ``i`` is in the set of ``u``), built on first use; ``None`` when it
        would exceed :attr:`BITMAP_MAX_BYTES` (Gowalla's 29,858 x 40,981
        training set: 153 MB). A lookup is one gather, where
        :func:`torch.searchsorted` walks ~20 levels of the keys."""
        width = (self.num_items + 7) // 8
        if self._bitmap is None and self.num_users * width <= self.BITMAP_MAX_BYTES:
            self._bitmap = packed_bits(self.keys // self.num_items, self.col, self.num_users,
                                       self.num_items)
        return self._bitmap

    def _in_bitmap(self, bits: Tensor, user: Tensor, item: Tensor) -> Tensor:
        byte = torch.take(bits, user * bits.size(1) + (item >> 3))
        return (byte >> (item & 7).to(torch.uint8)) & 1 == 1

    def member_pairs(self, rows: Tensor, cols: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Index lists ``(k, m)`` of every pair where ``cols[m]`` is in the
        set of ``rows[k]`` (e.g. which in-batch items a batch user has
        interacted with). A sort-merge join of the rows' members with the
        columns: cost grows with the rows' degrees and the matches, never
        with ``len(rows) * num_items``."""
        row, member = self.items_of(rows)
        return _join(row, member, torch.arange(len(cols), device=cols.device), cols,
                     key_range=self.num_items)

    def member_grid(self, rows: Tensor, cols: Tensor) -> Optional[Tensor]:
        r"""``(len(rows), len(cols))`` booleans, :meth:`member_pairs` as a
        dense mask read from the :meth:`bitmap` (one gather per entry), or
        ``None`` when the set has no bitmap."""
        bits = self.bitmap()
        if bits is None:
            return None
        return self._in_bitmap(bits, rows.unsqueeze(1), cols.unsqueeze(0))

    def shared_pairs(self, rows: Tensor, cols: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Index lists ``(k, m)`` of every pair whose sets intersect (two
        users with a common item, for the set of users' items); a pair
        sharing several members appears once per shared member."""
        row, member = self.items_of(rows)
        col, col_member = self.items_of(cols)
        return _join(row, member, col, col_member, key_range=self.num_items)

    def shares_grid(self, rows: Tensor, cols: Tensor) -> Tensor:
        r"""``(len(rows), len(cols))`` booleans: do the sets of ``rows[k]``
        and ``cols[m]`` intersect? (:meth:`shared_pairs` as a dense mask.)"""
        return _grid(self.shared_pairs(rows, cols), len(rows), len(cols), rows.device)

    def items_of(self, users: Tensor) -> Tuple[Tensor, Tensor]:
        r"""All (row, item) pairs of a batch of users: ``row[k]`` is the
        position in ``users`` and ``item[k]`` one of that user's items."""
        start, count = self.rowptr[users], self.degree[users]
        row = torch.repeat_interleave(torch.arange(len(users), device=users.device), count)
        offset = torch.arange(len(row), device=users.device)
        if len(row):
            first = torch.cumsum(count, 0) - count
            offset = offset - first[row] + start[row]
        return row, self.col[offset]

    def sample_members(self, rows: Tensor, num: int, generator: torch.Generator = None) -> Tensor:
        r"""``(B, num)`` members drawn uniformly, with replacement, from each
        row's set (every row must have at least one member)."""
        deg = self.degree[rows].unsqueeze(-1)
        if bool((deg == 0).any()):
            raise ValueError("a row has no member to sample")
        u = torch.rand((len(rows), num), generator=generator, device=rows.device,
                       dtype=torch.float64)
        offset = torch.minimum((u * deg).long(), deg - 1)
        return self.col[self.rowptr[rows].unsqueeze(-1) + offset]

    def sample_complement(self, users: Tensor, num: int = 1,
                          generator: torch.Generator = None) -> Tensor:
        r"""Draws ``num`` items per user uniformly from the items *not* in
        its set, with replacement: ``(B, num)``.

        Exact and loop-free: draw a rank ``r`` uniformly in
        ``[0, num_items - deg(u))`` and map it to the ``r``-th non-member,
        ``r + #{j : item_j - j <= r}`` (sorted members ``item_j``), found by
        one :func:`torch.searchsorted` on the per-user gap keys.

        When the set has a :meth:`bitmap`, every draw is first an item
        uniform over *all* items, kept unless the bitmap says it is a member;
        only the members (a share ``deg(u) / num_items`` of the draws) are
        drawn again, the exact way above. Still exactly uniform over the
        non-members: each is drawn with probability
        :math:`\frac{1}{N} + \frac{d}{N}\cdot\frac{1}{N - d} = \frac{1}{N - d}`,
        and one gather replaces most of the searches.
        """
        free = (self.num_items - self.degree[users]).unsqueeze(-1)
        if bool((free <= 0).any()):
            raise ValueError("a user has every item as a positive: no negative exists")
        bits = self.bitmap()
        if bits is not None:
            items = torch.randint(self.num_items, (len(users), num), generator=generator,
                                  device=users.device)
            hit = self._in_bitmap(bits, users.unsqueeze(-1), items)
            if bool(hit.any()):
                row, col = hit.nonzero(as_tuple=True)
                items[row, col] = self._complement_ranked(users[row], 1, free[row],
                                                          generator).squeeze(-1)
            return items
        return self._complement_ranked(users, num, free, generator)

    def _complement_ranked(self, users: Tensor, num: int, free: Tensor, generator=None) -> Tensor:
        u = torch.rand((len(users), num), generator=generator, device=users.device,
                       dtype=torch.float64)
        return self.complement_at(users, torch.minimum((u * free).long(), free - 1))

    def complement_at(self, users: Tensor, ranks: Tensor) -> Tensor:
        r"""The ``ranks[b, j]``-th item (0-based, in id order) *not* in the
        set of ``users[b]``: ``r + #{j : item_j - j <= r}``, one
        :func:`torch.searchsorted` on the gap keys. ``ranks`` must be below
        the user's number of non-members."""
        if len(self._gap_keys) == 0:
            return ranks
        base = users.unsqueeze(-1) * self.num_items
        k = (torch.searchsorted(self._gap_keys, base + ranks, right=True)
             - self.rowptr[users].unsqueeze(-1))
        return ranks + k

    def sample_complement_distinct(self, users: Tensor, num: int,
                                   generator: torch.Generator = None,
                                   max_rounds: int = 1000) -> Tensor:
        r"""``(B, num)`` *distinct* items per user drawn uniformly from the
        items not in its set (without replacement); a user with fewer than
        ``num`` non-members gets all of them and ``-1`` in the other places.

        Ranks among the non-members are drawn with replacement and repeated
        ones drawn again (vectorised rounds, expected few when ``num`` is
        well below the non-members), then mapped by :meth:`complement_at`.
        """
        free = self.num_items - self.degree[users]
        cols = torch.arange(num, device=users.device)
        valid = cols.unsqueeze(0) < free.unsqueeze(1)
        few = free <= num  # takes every non-member
        span = free.clamp(min=1).unsqueeze(1).to(torch.float64)
        ranks = (torch.rand((len(users), num), generator=generator, device=users.device,
                            dtype=torch.float64) * span).long()
        ranks = torch.minimum(ranks, (free.clamp(min=1) - 1).unsqueeze(1))
        ranks[few] = cols.expand(int(few.sum()), num).clone()
        for _ in range(max_rounds):
            srt, order = torch.sort(torch.where(valid, ranks, -1), dim=1)
            dup_sorted = torch.zeros_like(valid)
            dup_sorted[:, 1:] = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
            dup = torch.zeros_like(valid).scatter_(1, order, dup_sorted)
            if not bool(dup.any()):
                break
            rows = dup.nonzero()[:, 0]
            fresh = torch.rand(len(rows), generator=generator, device=users.device,
                               dtype=torch.float64)
            ranks[dup] = torch.minimum((fresh * span[rows, 0]).long(), free[rows] - 1)
        else:  # pragma: no cover - needs num within a handful of the non-members
            raise RuntimeError("could not draw distinct non-members")
        items = self.complement_at(users, ranks.clamp(min=0))
        return torch.where(valid, items, torch.full_like(items, -1))


def packed_bits(row: Tensor, col: Tensor, num_rows: int, num_cols: int) -> Tensor:
    r"""``(num_rows, ceil(num_cols / 8))`` bytes with bit ``c % 8`` of byte
    ``c // 8`` of row ``r`` set for every *distinct* pair ``(row, col)``,
    given sorted by ``row * num_cols + col``."""
    width = (num_cols + 7) // 8
    bits = torch.zeros(num_rows * width, dtype=torch.uint8, device=row.device)
    if len(row):
        byte = row * width + (col >> 3)  # non-decreasing: the pairs are sorted
        value = torch.ones_like(col) << (col & 7)
        # distinct bits of one byte: their sum is their OR (segment sums by cumsum)
        uniq, count = torch.unique_consecutive(byte, return_counts=True)
        total = torch.cumsum(value, 0)[torch.cumsum(count, 0) - 1]
        total = total - torch.cat([total.new_zeros(1), total[:-1]])
        bits[uniq] = total.to(torch.uint8)
    return bits.view(num_rows, width)


def _join(a_row: Tensor, a_key: Tensor, b_row: Tensor, b_key: Tensor,
          presorted: bool = False, key_range: Optional[int] = None) -> Tuple[Tensor, Tensor]:
    r"""All ``(a_row[x], b_row[y])`` with ``a_key[x] == b_key[y]``: sort ``b``
    by key (unless ``presorted``), find each ``a`` key's run, expand the runs.

    With ``key_range`` (every key in ``[0, key_range)``), a key's run is read
    from a dense table of run starts and lengths (one ``bincount`` and two
    gathers); otherwise by two :func:`torch.searchsorted` (many ``a`` keys
    against a few ``b`` keys: the table is ~4x faster, e.g. a batch's users'
    300k training items against its 2,048 items)."""
    if presorted:
        order, keys = None, b_key
    else:
        order = torch.argsort(b_key)
        keys = b_key[order]
    if key_range is not None:
        runs = torch.bincount(b_key, minlength=key_range)
        count = runs[a_key]
        lo = (torch.cumsum(runs, 0) - runs)[a_key]
    else:
        lo = torch.searchsorted(keys, a_key)
        count = torch.searchsorted(keys, a_key, right=True) - lo
    left = torch.repeat_interleave(a_row, count)
    if len(left) == 0:
        return left, left.clone()
    start = torch.repeat_interleave(lo - (torch.cumsum(count, 0) - count), count)
    pos = torch.arange(len(left), device=left.device) + start
    return left, b_row[pos if order is None else order[pos]]


def _grid(pairs: Tuple[Tensor, Tensor], rows: int, cols: int, device) -> Tensor:
    grid = torch.zeros(rows, cols, dtype=torch.bool, device=device)
    grid[pairs] = True
    return grid
