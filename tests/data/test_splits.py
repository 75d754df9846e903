import numpy as np
import pytest

from gnnrec.data import splits
from gnnrec.data.interactions import Interactions
from gnnrec.errors import GnnrecError

TRAIN, VAL, TEST = 0, 1, 2


def table(num_users=50, seed=0, with_time=True):
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(num_users):
        n = int(rng.integers(1, 40))
        its = rng.choice(200, n, replace=False)
        users += [u] * n
        items += its.tolist()
        times += rng.permutation(n).astype(float).tolist()
    return Interactions.from_raw(np.array(users), np.array(items),
                                 timestamp=np.array(times) if with_time else None)


def per_user_counts(inter, fold):
    return [np.bincount(inter.user[fold == f], minlength=inter.num_users)
            for f in (TRAIN, VAL, TEST)]


def test_random_split_ratios_and_no_leakage():
    inter = table()
    fold = splits.random_split(inter, test=0.2, val=0.1, seed=1)
    n = np.bincount(inter.user, minlength=inter.num_users)
    tr, va, te = per_user_counts(inter, fold)
    assert np.all(tr >= 1)
    assert np.all(tr + va + te == n)
    expect_test = np.minimum(np.floor(n * 0.2 + 0.5), n - 1)
    assert np.array_equal(te, expect_test)
    expect_val = np.minimum(np.floor(n * 0.1 + 0.5), n - 1 - expect_test)
    assert np.array_equal(va, expect_val)
    # every interaction in exactly one fold, pairs unique across folds
    keys = inter.user * 1000 + inter.item
    sets = [set(keys[fold == f]) for f in (TRAIN, VAL, TEST)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sum(len(s) for s in sets) == len(inter)


def test_random_split_is_deterministic_under_seed():
    inter = table()
    a = splits.random_split(inter, 0.2, 0.1, seed=3)
    b = splits.random_split(inter, 0.2, 0.1, seed=3)
    c = splits.random_split(inter, 0.2, 0.1, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_temporal_split_respects_time_order():
    inter = table()
    fold = splits.temporal_split(inter, test=0.2, val=0.1)
    for u in range(inter.num_users):
        m = inter.user == u
        t, f = inter.timestamp[m], fold[m]
        if (f == TEST).any():
            assert t[f == TEST].min() > t[f != TEST].max()
        if (f == VAL).any():
            assert t[f == VAL].min() > t[f == TRAIN].max()
            assert t[f == VAL].max() < t[f == TEST].min()


def test_leave_one_out_takes_last_and_second_to_last():
    inter = table()
    fold = splits.temporal_leave_one_out(inter, val=True)
    n = np.bincount(inter.user, minlength=inter.num_users)
    tr, va, te = per_user_counts(inter, fold)
    assert np.array_equal(te, (n >= 2).astype(int))
    assert np.array_equal(va, (n >= 3).astype(int))
    for u in np.flatnonzero(n >= 3):
        m = inter.user == u
        order = np.argsort(inter.timestamp[m])
        assert fold[m][order[-1]] == TEST and fold[m][order[-2]] == VAL


def test_temporal_needs_timestamps():
    with pytest.raises(GnnrecError, match="needs timestamps"):
        splits.temporal_split(table(with_time=False))


def test_carve_validation_leaves_test_untouched():
    inter = table()
    fold = splits.random_split(inter, test=0.2, seed=0)
    carved = splits.carve_validation(inter, fold, 0.1, seed=0)
    assert np.array_equal(carved == TEST, fold == TEST)
    assert np.all((carved == VAL) <= (fold == TRAIN))
    assert (carved == VAL).sum() > 0


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_bad_fractions(bad):
    with pytest.raises(GnnrecError):
        splits.random_split(table(), test=bad)


def popularity_skewed(seed=0, users=300, items=60):
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, items + 1) ** 1.1
    u, i = [], []
    for user in range(users):
        its = rng.choice(items, int(rng.integers(5, 25)), replace=False, p=p / p.sum())
        u += [user] * len(its)
        i += its.tolist()
    return Interactions.from_raw(np.array(u), np.array(i))


def test_popularity_balanced_split_shares_and_balance():
    inter = popularity_skewed()
    fold = splits.popularity_balanced_split(inter, test=0.15, val=0.1, seed=0)
    n = len(inter)
    share = lambda f: (fold == f).sum() / n  # noqa: E731
    assert abs(share(splits.TEST_BALANCED) - 0.15) < 0.005
    assert abs(share(TEST) - 0.15) < 0.03 and abs(share(VAL) - 0.10) < 0.03
    # every user keeps a training interaction
    assert np.all(np.bincount(inter.user[fold == TRAIN], minlength=inter.num_users) > 0)
    # the balanced test is far flatter over items than the imbalanced one
    pop = np.bincount(inter.item, minlength=inter.num_items)
    head = pop >= np.quantile(pop, 0.9)
    bal_head = np.isin(inter.item[fold == splits.TEST_BALANCED], np.flatnonzero(head)).mean()
    imb_head = np.isin(inter.item[fold == TEST], np.flatnonzero(head)).mean()
    assert bal_head < 0.6 * imb_head
    assert np.array_equal(fold, splits.popularity_balanced_split(inter, 0.15, 0.1, seed=0))


def test_balanced_test_set_is_uniform_over_items_by_chi_square():
    from scipy.stats import chisquare

    rng = np.random.default_rng(0)
    pop = (2000 / np.arange(1, 101) ** 0.5).astype(int)  # a head of 2000, a tail of 200
    users, items = [], []
    for item, p in enumerate(pop):
        users += rng.choice(4000, p, replace=False).tolist()
        items += [item] * p
    inter = Interactions.from_raw(np.array(users), np.array(items))
    for seed in range(3):
        fold = splits.popularity_balanced_split(inter, 0.15, 0.1, seed=seed)
        count = lambda f: np.bincount(inter.item[fold == f], minlength=inter.num_items)  # noqa
        assert chisquare(count(splits.TEST_BALANCED)).pvalue > 0.01  # uniform over items
        assert chisquare(count(TEST)).pvalue < 1e-12  # the imbalanced one follows popularity


def test_validation_carved_out_of_train_after_the_test_share():
    from gnnrec.data.loading import DataSpec, load_dataset

    inter = table(200, seed=3)
    fold = splits.random_split(inter, test=0.2, val=0.0, seed=1)
    carved = splits.carve_validation(inter, fold, 0.1, seed=1)
    assert np.array_equal(carved == TEST, fold == TEST)  # test untouched
    n_train = np.bincount(inter.user[fold == TRAIN], minlength=inter.num_users)
    tr, va, te = per_user_counts(inter, carved)
    assert np.array_equal(va, np.minimum(np.floor(n_train * 0.1 + 0.5), n_train - 1))
    assert np.all(tr >= 1)
    with pytest.raises(GnnrecError, match="val_carve"):
        load_dataset(DataSpec(split="popbalanced", val_carve=True))


def test_leave_one_out_drops_users_with_too_few_interactions_with_a_count(tmp_path):
    from gnnrec.data.loading import DataSpec, load_dataset

    rows = ["user,item,timestamp"]
    for u, n in enumerate([1, 2, 3, 5, 8]):  # users 0 and 1 cannot give train+val+test
        rows += [f"u{u},i{k},{10 * u + k}" for k in range(n)]
    path = tmp_path / "d.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(DataSpec(path=str(path), split="loo", val_frac=0.1, time_col="timestamp"))
    assert ds.num_users == 3
    assert any("2 user(s) with fewer than 3 interactions dropped" in n for n in ds.notes)
    test = ds.edges("test")
    assert len(test[0]) == 3  # one (the latest) test item per remaining user
    ds = load_dataset(DataSpec(path=str(path), split="loo", val_frac=0, time_col="timestamp"))
    assert ds.num_users == 4 and any("1 user(s) with fewer than 2" in n for n in ds.notes)
    found = load_dataset(DataSpec(path=str(path), split="loo", val_frac=0))  # found by name
    assert np.array_equal(found.edges("test"), ds.edges("test"))
    bare = tmp_path / "bare.csv"
    bare.write_text("\n".join(r.rsplit(",", 1)[0] for r in rows) + "\n")
    with pytest.raises(splits.NeedsTimestamps):
        load_dataset(DataSpec(path=str(bare), split="loo"))  # no time column at all


@pytest.mark.parametrize("seed", range(3))
def test_the_fast_split_order_is_lexsorts_even_with_tied_keys(seed):
    from gnnrec.data.splits import _by_user_then_key

    rng = np.random.default_rng(seed)
    user = rng.integers(0, 300, 5000)
    key = rng.random(5000)
    key[rng.integers(0, 5000, 800)] = key[0]  # many exact ties
    assert np.array_equal(_by_user_then_key(user, key), np.lexsort((key, user)))
    big = rng.integers(0, 2 ** 40, 300)  # too many user bits for the composite: lexsort
    assert np.array_equal(_by_user_then_key(big, key[:300]), np.lexsort((key[:300], big)))


def test_fast_id_maps_and_duplicate_checks_equal_numpys():
    from gnnrec.data.interactions import _distinct, _unique_inverse

    rng = np.random.default_rng(0)
    for raw in (rng.integers(0, 50, 400), rng.integers(10 ** 12, 10 ** 12 + 9, 40),
                np.array(["b", "a", "b"]), np.array([5, 5, 3], np.int32)):
        ids, inv = _unique_inverse(raw)
        want_ids, want_inv = np.unique(raw, return_inverse=True)
        assert np.array_equal(ids, want_ids) and np.array_equal(inv, want_inv.ravel())
    assert _distinct(np.array([1, 4, 9])) and _distinct(np.array([9, 1, 4]))
    assert not _distinct(np.array([9, 1, 9])) and not _distinct(np.array([1, 1]))


def test_the_recorded_data_is_read_from_either_checkpoint_layout():
    from gnnrec.data.loading import DataSpec

    saved = {"path": "d.csv", "split": "random", "k_core": 5, "seed": 3}
    now = DataSpec.recorded({"spec": {"data": saved}})
    older = DataSpec.recorded({"data": saved})
    assert now == older == DataSpec(**saved)
    assert DataSpec.recorded({}) == DataSpec()
