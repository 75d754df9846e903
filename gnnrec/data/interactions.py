"""Interaction tables with contiguous ids and the maps back to the user's ids."""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from gnnrec.errors import GnnrecError


class IdMap:
    r"""A bijection between contiguous indices ``0..n-1`` and original ids.

    Original ids are kept exactly as read (integers stay integers, strings stay
    strings), so recommendations and exported embeddings speak the user's own
    ids.

    Args:
        original (array-like): ``original[k]`` is the id of index ``k``.
    """

    def __init__(self, original: Sequence):
        self.original = np.asarray(original)
        if self.original.ndim != 1:
            raise ValueError("IdMap expects a 1-D array of ids")
        self._order = None

    def __len__(self) -> int:
        return len(self.original)

    @classmethod
    def identity(cls, n: int) -> "IdMap":
        return cls(np.arange(n, dtype=np.int64))

    def find(self, ids) -> np.ndarray:
        r"""Indices of original ids, ``-1`` for an unknown one. Ids given as
        strings are matched against integer maps after conversion, so
        ``"42"`` finds user ``42``."""
        ids = np.asarray(ids)
        if self.original.dtype.kind in "iu" and ids.dtype.kind not in "iu":
            flat = ids.ravel().tolist()
            ok = np.array([_is_int(x) for x in flat], bool).reshape(ids.shape)
            ids = np.array([int(x) if good else -1 for x, good in zip(flat, ok.ravel())],
                           np.int64).reshape(ids.shape)
        elif self.original.dtype.kind not in "iu":
            ok = np.ones(ids.shape, bool)
            ids = ids.astype(str)
        else:
            ok = np.ones(ids.shape, bool)
        if self._order is None:
            self._order = np.argsort(self.original, kind="stable")
        sorted_ids = self.original[self._order]
        if len(sorted_ids) == 0:
            return np.full(ids.shape, -1, np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
        found = ok & (sorted_ids[pos] == ids)
        return np.where(found, self._order[pos], -1)

    def index_of(self, ids, what: str = "id") -> np.ndarray:
        r"""Maps original ids to indices; raises :class:`GnnrecError` naming
        the first unknown id."""
        index = self.find(ids)
        if np.any(index < 0):
            bad = np.asarray(ids).ravel()[np.flatnonzero(index.ravel() < 0)[0]]
            raise GnnrecError(f"unknown {what} {bad.item() if hasattr(bad, 'item') else bad!r}")
        return index

    def __getitem__(self, index):
        return self.original[index]

    def state(self) -> dict:
        return {"original": self.original.tolist(), "kind": self.original.dtype.kind}

    @classmethod
    def from_state(cls, state: dict) -> "IdMap":
        dtype = np.int64 if state["kind"] in "iu" else str
        return cls(np.asarray(state["original"], dtype=dtype))


def _is_int(x) -> bool:
    try:
        int(x)
        return True
    except (TypeError, ValueError):
        return False


@dataclass
class Interactions:
    r"""Implicit feedback as parallel arrays over contiguous user/item indices.

    Attributes:
        user (np.ndarray): ``(n,)`` int64 user indices.
        item (np.ndarray): ``(n,)`` int64 item indices.
        users (IdMap): index to original user id.
        items (IdMap): index to original item id.
        timestamp (np.ndarray, optional): ``(n,)`` float64 times.
        fold (np.ndarray, optional): ``(n,)`` int8 split of each interaction
            when the source already fixes one (``0`` train, ``1`` validation,
            ``2`` test, ``3`` popularity-balanced test), e.g. the LightGCN
            ``train.txt`` / ``test.txt`` pair.
    """
    user: np.ndarray
    item: np.ndarray
    users: IdMap
    items: IdMap
    timestamp: Optional[np.ndarray] = None
    fold: Optional[np.ndarray] = None
    #: repeated (user, item) pairs dropped when the table was read
    duplicates: int = 0

    TRAIN, VAL, TEST, TEST_BALANCED = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.user)

    @property
    def num_users(self) -> int:
        return len(self.users)

    @property
    def num_items(self) -> int:
        return len(self.items)

    @classmethod
    def from_raw(cls, raw_user, raw_item, timestamp=None, fold=None,
                 users: Optional[IdMap] = None,
                 items: Optional[IdMap] = None) -> "Interactions":
        r"""Builds a table from original ids, assigning contiguous indices in
        sorted order of the original ids (so already-contiguous integer ids,
        as in the LightGCN files, keep their values). Duplicate (user, item)
        pairs are dropped, keeping the earliest (by timestamp when given, else
        the first read)."""
        raw_user, raw_item = np.asarray(raw_user), np.asarray(raw_item)
        if users is None:
            ids, user = _unique_inverse(raw_user)
            users = IdMap(ids)
        else:
            user = users.index_of(raw_user, "user")
        if items is None:
            ids, item = _unique_inverse(raw_item)
            items = IdMap(ids)
        else:
            item = items.index_of(raw_item, "item")
        out = cls(user.astype(np.int64, copy=False).ravel(),
                  item.astype(np.int64, copy=False).ravel(), users, items,
                  None if timestamp is None else np.asarray(timestamp, np.float64),
                  None if fold is None else np.asarray(fold, np.int8))
        kept = out.deduplicate()
        kept.duplicates = len(out) - len(kept)
        return kept

    def take(self, mask_or_index) -> "Interactions":
        """The rows selected by a boolean mask or an index array (same maps)."""
        return Interactions(
            self.user[mask_or_index], self.item[mask_or_index], self.users, self.items,
            None if self.timestamp is None else self.timestamp[mask_or_index],
            None if self.fold is None else self.fold[mask_or_index])

    def deduplicate(self) -> "Interactions":
        """Drops repeated (user, item) pairs, keeping the earliest one."""
        if len(self) == 0:
            return self
        key = self.user * max(self.num_items, 1) + self.item
        if self.timestamp is None and _distinct(key):
            return self  # the common case, found without a stable argsort
        if self.timestamp is not None:
            order = np.lexsort((np.arange(len(key)), self.timestamp, key))
        else:
            order = np.lexsort((np.arange(len(key)), key))
        first = np.ones(len(key), bool)
        first[1:] = key[order][1:] != key[order][:-1]
        if first.all():
            return self
        keep = np.sort(order[first])
        return self.take(keep)

    def compact(self) -> "Interactions":
        """Re-numbers users and items so every index occurs (after filtering),
        keeping the original ids in the maps."""
        u_ids, user = np.unique(self.user, return_inverse=True)
        i_ids, item = np.unique(self.item, return_inverse=True)
        return Interactions(user.astype(np.int64), item.astype(np.int64),
                            IdMap(self.users.original[u_ids]),
                            IdMap(self.items.original[i_ids]),
                            self.timestamp, self.fold)


def _unique_inverse(raw: np.ndarray):
    r"""``np.unique(raw, return_inverse=True)``; for integer ids no larger
    than a few times their count (the usual case) by marking the ids present
    and counting, in linear time, instead of sorting."""
    if raw.dtype.kind in "iu" and len(raw):
        low, high = int(raw.min()), int(raw.max())
        if low >= 0 and high < 4 * len(raw) + 2 ** 20:
            present = np.zeros(high + 1, bool)
            present[raw] = True
            index = np.cumsum(present) - 1
            return np.flatnonzero(present), index[raw]
    ids, inverse = np.unique(raw, return_inverse=True)
    return (ids.astype(np.int64) if ids.dtype.kind in "iu" else ids), inverse.ravel()


def _distinct(key: np.ndarray) -> bool:
    """Whether no value of ``key`` repeats (strictly increasing keys, as in a
    LightGCN file, are seen without sorting)."""
    if len(key) < 2 or bool((key[1:] > key[:-1]).all()):
        return True
    ordered = np.sort(key)
    return not bool((ordered[1:] == ordered[:-1]).any())
