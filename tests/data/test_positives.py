import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from gnnrec.data.positives import PositiveSet
from tests.conftest import random_graph


def dense(ps: PositiveSet):
    m = np.zeros((ps.num_users, ps.num_items), bool)
    u = (ps.keys // ps.num_items).numpy()
    m[u, ps.col.numpy()] = True
    return m


@pytest.fixture(params=["bitmap", "search"])
def path(request, monkeypatch):
    """Both ways of drawing and testing members: the packed bitmap, and
    searchsorted alone (a set too large for the bitmap)."""
    if request.param == "search":
        monkeypatch.setattr(PositiveSet, "BITMAP_MAX_BYTES", 0)
    return request.param


def test_contains_matches_dense(path):
    g = random_graph(9, 13, 0.4, seed=1)
    ps, m = g.positives, dense(g.positives)
    assert (ps.bitmap() is None) == (path == "search")
    uu, ii = torch.meshgrid(torch.arange(9), torch.arange(13), indexing="ij")
    assert np.array_equal(ps.contains(uu, ii).numpy(), m)


def test_bitmap_holds_exactly_the_members():
    g = random_graph(7, 21, 0.3, seed=4)  # 21 items: a partial last byte
    bits = g.positives.bitmap()
    assert bits.shape == (7, 3) and bits.dtype == torch.uint8
    unpacked = (bits.unsqueeze(-1) >> torch.arange(8, dtype=torch.uint8)) & 1
    assert np.array_equal(unpacked.view(7, 24)[:, :21].bool().numpy(), dense(g.positives))
    assert not unpacked.view(7, 24)[:, 21:].any()


def test_items_of_gathers_each_users_items():
    g = random_graph(9, 13, 0.4, seed=2)
    users = torch.tensor([3, 0, 3, 8])
    row, item = g.positives.items_of(users)
    m = dense(g.positives)
    got = {(int(r), int(i)) for r, i in zip(row, item)}
    want = {(r, i) for r, u in enumerate(users.tolist()) for i in np.flatnonzero(m[u])}
    assert got == want and len(row) == len(want)


def test_sample_complement_never_returns_a_member(dense_graph, path):
    g = dense_graph
    users = torch.arange(g.num_users).repeat_interleave(200)
    items = g.positives.sample_complement(users, 5, torch.Generator().manual_seed(0))
    assert items.shape == (len(users), 5)
    assert not g.positives.contains(users.unsqueeze(1), items).any()
    assert items.min() >= 0 and items.max() < g.num_items


def test_sample_complement_is_uniform_over_non_members(path):
    g = random_graph(3, 12, 0.5, seed=5)
    m = dense(g.positives)
    gen = torch.Generator().manual_seed(1)
    for u in range(3):
        draws = g.positives.sample_complement(torch.full((6000,), u), 1, gen).flatten()
        free = np.flatnonzero(~m[u])
        counts = np.bincount(draws.numpy(), minlength=12)
        assert counts[m[u]].sum() == 0
        # chi-square goodness of fit against the uniform over the non-members
        p = chisquare(counts[free]).pvalue
        assert p > 1e-3, (u, counts[free], p)


def test_redrawn_members_do_not_favour_their_neighbours(path):
    # members in one long run: a draw that lands on a member and is moved to
    # the next non-member (a tempting shortcut) would pile onto item 10
    ps = PositiveSet(torch.zeros(9, dtype=torch.long), torch.arange(1, 10), 1, 12)
    draws = ps.sample_complement(torch.zeros(4000, dtype=torch.long), 3,
                                 torch.Generator().manual_seed(3)).flatten()
    counts = np.bincount(draws.numpy(), minlength=12)
    assert counts[1:10].sum() == 0
    assert chisquare(counts[[0, 10, 11]]).pvalue > 1e-3, counts


def test_member_and_shared_pairs_equal_brute_force():
    from gnnrec.data.cooccurrence import Cooccurrence
    from tests.conftest import random_graph

    g = random_graph(30, 40, 0.2, seed=1)
    sets = [set(g.item[g.user == u].tolist()) for u in range(30)]
    rows, cols = torch.randint(30, (50,)), torch.randint(40, (70,))
    want = torch.tensor([[int(c) in sets[int(r)] for c in cols] for r in rows])
    k, m = g.positives.member_pairs(rows, cols)
    got = torch.zeros(len(rows), len(cols), dtype=torch.bool)
    got[k, m] = True
    assert torch.equal(got, want)
    ucols = torch.randint(30, (60,))
    want = torch.tensor([[bool(sets[int(a)] & sets[int(b)]) for b in ucols] for a in rows])
    assert torch.equal(g.positives.shares_grid(rows, ucols), want)
    for ps in (g.positives, g.item_positives):  # the bitmap, built in small chunks
        c = Cooccurrence(ps, chunk=7)
        a, b = torch.randint(ps.num_users, (20,)), torch.randint(ps.num_users, (33,))
        assert torch.equal(c.grid(a, b).bool(), ps.shares_grid(a, b))
        # both builds (the join for sparse sets, the OR for dense ones) give the same bitmap
        assert torch.equal(c._by_or(ps), c._by_join(ps, 7))


def test_member_grid_equals_member_pairs_and_exclusions_agree_in_both_forms():
    from gnnrec.losses.inbatch import excluded_mask, member_exclusions
    from tests.conftest import random_graph

    for g in (random_graph(30, 40, 0.5, seed=2), random_graph(30, 400, 0.02, seed=2)):
        for ps, n in ((g.positives, 30), (g.item_positives, 40)):
            rows, cols = torch.randint(n, (25,)), torch.randint(ps.num_items, (60,))
            k, m = ps.member_pairs(rows, cols)
            want = torch.zeros(25, 60, dtype=torch.bool)
            want[k, m] = True
            assert torch.equal(ps.member_grid(rows, cols), want)
            got = excluded_mask(25, 60, "cpu", **member_exclusions(ps, rows, cols))
            assert torch.equal(got.bool(), want)
    # dense sets take the grid, sparse ones the lists
    dense, sparse = random_graph(30, 40, 0.5, seed=2), random_graph(30, 4000, 0.002, seed=2)
    rows = torch.arange(30)
    assert "also" in member_exclusions(dense.positives, rows, torch.arange(40))
    assert "pairs" in member_exclusions(sparse.positives, rows, torch.arange(40))
