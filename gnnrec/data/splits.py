"""Per-user train / validation / test splits, vectorised and seeded.

Every function returns a fold per interaction (``0`` train, ``1``
validation, ``2`` test). Each user keeps at least one training interaction;
the per-user counts are ``round(n * fraction)`` (halves round up), taken from
what is left after the test share.
"""
from typing import Optional

import numpy as np

from gnnrec.data.interactions import Interactions
from gnnrec.errors import GnnrecError

TRAIN, VAL, TEST = Interactions.TRAIN, Interactions.VAL, Interactions.TEST
TEST_BALANCED = Interactions.TEST_BALANCED


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise GnnrecError(f"{name} must be in [0, 1), got {value}")


def _rank_within_user(user: np.ndarray, order: np.ndarray, num_users: int):
    """Position of each row inside its user's block of ``order`` (and each
    row's user's count), in as few row-sized buffers as it takes."""
    counts = np.bincount(user, minlength=num_users)
    small = np.int32 if len(user) < 2 ** 31 else np.int64
    start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(small)
    shift = start[user[order]]  # the block start of each position of order
    pos = np.arange(len(user), dtype=small)
    pos -= shift
    rank = shift  # its buffer, reused
    rank[order] = pos
    del pos
    return rank, counts.astype(small)[user]


def _counts_of_rows(user: np.ndarray, num_users: int, test: float, val: float):
    """:func:`_counts` per user, then per row (cheaper than per row)."""
    n_test, n_val = _counts(np.bincount(user, minlength=num_users), test, val)
    small = np.int32 if len(user) < 2 ** 31 else np.int64
    return n_test.astype(small)[user], n_val.astype(small)[user]


def _by_user_then_key(user: np.ndarray, keys) -> np.ndarray:
    r"""``np.lexsort((key, user))`` (rows by user, then by ``key``, then by
    position), for ``key`` drawn by :meth:`numpy.random.Generator.random`
    (multiples of :math:`2^{-53}`): one argsort of a 64-bit composite of the
    user and the key's leading bits, and the rare runs of equal composites
    ordered by the whole key. Several times faster than two stable sorts on
    tens of millions of rows; the same order.

    Args:
        keys (array or callable): the keys, or a function drawing them (called
            again only if a tie needs them: the keys are then not held while
            sorting).
    """
    draw = keys if callable(keys) else (lambda: keys)
    if len(user) == 0:
        return np.zeros(0, np.int64)
    ubits = int(user.max()).bit_length()
    kbits = min(53, 64 - ubits)
    if kbits < 24:
        return np.lexsort((draw(), user))
    comp = draw() * 2.0 ** 53
    comp = comp.astype(np.uint64)
    comp >>= np.uint64(53 - kbits)
    high = user.astype(np.uint64)
    high <<= np.uint64(kbits)
    comp |= high
    del high
    order = np.argsort(comp)
    comp = comp[order]
    ties = np.flatnonzero(comp[1:] == comp[:-1])
    del comp
    if len(ties):
        key = draw()
        starts = ties[np.r_[True, ties[1:] != ties[:-1] + 1]]
        ends = ties[np.r_[ties[1:] != ties[:-1] + 1, True]] + 2
        for a, b in zip(starts, ends):  # expected ~0 runs: a tie needs 2^-kbits luck
            run = np.sort(order[a:b])
            order[a:b] = run[np.lexsort((run, key[run]))]
    return order


def _counts(n: np.ndarray, test: float, val: float):
    n_test = np.minimum(np.floor(n * test + 0.5).astype(np.int64), n - 1)
    n_val = np.minimum(np.floor(n * val + 0.5).astype(np.int64), n - 1 - n_test)
    return n_test, np.maximum(n_val, 0)


def _assign_last(rank, n, n_test, n_val) -> np.ndarray:
    """Highest ranks go to test, the ones before them to validation."""
    fold = np.full(len(rank), TRAIN, np.int8)
    fold[rank >= n - n_test] = TEST
    fold[(rank >= n - n_test - n_val) & (rank < n - n_test)] = VAL
    return fold


def random_split(inter: Interactions, test: float = 0.2, val: float = 0.0,
                 seed: int = 0) -> np.ndarray:
    r"""Random per-user split: each user's interactions are shuffled and
    ``round(n * test)`` go to test, ``round(n * val)`` to validation
    (e.g. the 80/20 split of NGCF/LightGCN, or 70/10/20).

    Args:
        test (float): share of each user's interactions for test.
            (default: :obj:`0.2`)
        val (float): share for validation. (default: :obj:`0.0`)
        seed (int): random seed. (default: :obj:`0`)
    """
    _check_fraction("test fraction", test)
    _check_fraction("validation fraction", val)
    if test + val >= 1.0:
        raise GnnrecError(f"test + validation fractions must be < 1, got {test + val}")
    order = _by_user_then_key(inter.user, lambda: np.random.default_rng(seed).random(len(inter)))
    rank, n = _rank_within_user(inter.user, order, inter.num_users)
    del order
    n_test, n_val = _counts_of_rows(inter.user, inter.num_users, test, val)
    return _assign_last(rank, n, n_test, n_val)


class NeedsTimestamps(GnnrecError):
    """A time-ordered split asked of data without timestamps."""


def require_timestamps(inter: Interactions, what: str) -> None:
    """Raises :class:`NeedsTimestamps` for data without timestamps."""
    if inter.timestamp is None:
        raise NeedsTimestamps(f"the {what} split needs timestamps, and this dataset has none")


def _time_order(inter: Interactions, what: str) -> np.ndarray:
    require_timestamps(inter, what)
    return np.lexsort((np.arange(len(inter)), inter.timestamp, inter.user))


def temporal_split(inter: Interactions, test: float = 0.2, val: float = 0.0) -> np.ndarray:
    r"""Temporal per-user split: each user's latest ``round(n * test)``
    interactions go to test and the ``round(n * val)`` before them to
    validation (ties keep file order), e.g. PDNS's "latest 10% of each user".
    """
    _check_fraction("test fraction", test)
    _check_fraction("validation fraction", val)
    order = _time_order(inter, "temporal")
    rank, n = _rank_within_user(inter.user, order, inter.num_users)
    n_test, n_val = _counts_of_rows(inter.user, inter.num_users, test, val)
    return _assign_last(rank, n, n_test, n_val)


def temporal_leave_one_out(inter: Interactions, val: bool = True) -> np.ndarray:
    r"""Leave-one-out by time (the HDCCF / NCF protocol): each user's last
    interaction is the test item and, when ``val`` is set, the second to last
    the validation item. Users with a single interaction keep it for
    training; users with two give no validation item
    (:func:`too_few_for_loo` finds them, to drop them first).
    """
    order = _time_order(inter, "leave-one-out")
    rank, n = _rank_within_user(inter.user, order, inter.num_users)
    n_test = (n >= 2).astype(np.int64)
    n_val = ((n >= 3) & val).astype(np.int64)
    return _assign_last(rank, n, n_test, n_val)


def too_few_for_loo(inter: Interactions, val: bool = True) -> np.ndarray:
    r"""Boolean mask of the rows whose user has fewer interactions than
    leave-one-out needs: a training item plus a test item, plus a validation
    item with ``val``."""
    n = np.bincount(inter.user, minlength=inter.num_users)
    return n[inter.user] < (3 if val else 2)


def popularity_balanced_split(inter: Interactions, test: float = 0.15, val: float = 0.1,
                              seed: int = 0) -> np.ndarray:
    r"""The balanced / imbalanced protocol of PopDCL (Sec. 4.1.1, after
    BC loss): a share ``test`` of all interactions is drawn *with equal
    probability with respect to items* (each interaction weighted
    :math:`1/\mathrm{pop}(i)`, drawn without replacement) as the balanced test
    set (fold ``test_balanced``); the rest is split at random into training,
    validation (``val``) and the imbalanced test set (``test``), all shares of
    the whole (PopDCL: 60/10/15 + 15 balanced). A user left with no training
    interaction gets one of its held-out interactions back.
    """
    _check_fraction("test fraction", test)
    _check_fraction("validation fraction", val)
    if 2 * test + val >= 1.0:
        raise GnnrecError(f"two test shares + validation must be < 1, got {2 * test + val}")
    rng = np.random.default_rng(seed)
    n = len(inter)
    pop = np.bincount(inter.item, minlength=inter.num_items)[inter.item]
    # weighted sampling without replacement (Efraimidis-Spirakis): largest log(U) * pop
    keys = np.log(rng.random(n)) * pop
    n_bal = int(round(n * test))
    fold = np.full(n, TRAIN, np.int8)
    fold[np.argsort(-keys, kind="stable")[:n_bal]] = TEST_BALANCED
    rest = np.flatnonzero(fold == TRAIN)
    draw = rng.random(len(rest)) * (1.0 - test)
    fold[rest[draw < test]] = TEST
    fold[rest[(draw >= test) & (draw < test + val)]] = VAL
    has_train = np.zeros(inter.num_users, bool)
    has_train[inter.user[fold == TRAIN]] = True
    lost = ~has_train[inter.user]
    if lost.any():  # give each such user one interaction back (the first in a random order)
        rows = rng.permutation(np.flatnonzero(lost))
        _, first = np.unique(inter.user[rows], return_index=True)
        fold[rows[first]] = TRAIN
    return fold


def carve_validation(inter: Interactions, fold: np.ndarray, val: float,
                     seed: int = 0) -> np.ndarray:
    r"""Moves a random ``round(n * val)`` of each user's *training*
    interactions into validation, for datasets that ship only train/test.
    Test interactions are untouched."""
    _check_fraction("validation fraction", val)
    fold = fold.copy()
    train_rows = np.flatnonzero(fold == TRAIN)
    sub = inter.take(train_rows)
    moved = random_split(sub, test=val, val=0.0, seed=seed) == TEST
    fold[train_rows[moved]] = VAL
    return fold


def check_split(inter: Interactions, fold: np.ndarray, source: Optional[str] = None) -> None:
    r"""Raises :class:`GnnrecError` when a user with validation or test
    items has no training item (nothing to learn a user embedding from)."""
    has_train = np.zeros(inter.num_users, bool)
    has_train[inter.user[fold == TRAIN]] = True
    evaluated = np.zeros(inter.num_users, bool)
    evaluated[inter.user[fold != TRAIN]] = True
    cold = np.flatnonzero(evaluated & ~has_train)
    if len(cold):
        where = f"{source}: " if source else ""
        raise GnnrecError(
            f"{where}{len(cold)} user(s) have validation/test items but no training item "
            f"(first: user {inter.users[cold[0]].item()!r}); filter them out (e.g. --k-core) or "
            "use a split that keeps a training item per user")
