"""Readers for the LightGCN text format, MovieLens ratings and CSV/TSV files.

Each reader returns plain arrays of *original* ids (and optional ratings /
timestamps); :meth:`gnnrec.data.interactions.Interactions.from_raw` turns them
into contiguous indices. Every format error names the file and the 1-based
line, as a :class:`gnnrec.errors.GnnrecError`.
"""
import csv
import math
import os
from typing import Dict, Optional

import numpy as np

from gnnrec.errors import GnnrecError, data_error


INT64_MAX = 2 ** 63 - 1


def _open(path):
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such file")
    if os.path.isdir(path):
        raise GnnrecError(f"{path}: is a directory, expected a file")
    return open(path, encoding="utf-8", newline="")


class _Lines:
    r"""Numbered lines of a text file; a byte sequence that is not UTF-8 (a
    binary file given as data) or a NUL byte is an error naming the line."""

    def __init__(self, path, start: int = 1, rows=None):
        self.path, self.lineno, self.rows = path, start - 1, rows

    def __call__(self, f):
        it = iter(f if self.rows is None else self.rows)
        while True:
            try:
                item = next(it)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise data_error(self.path, self.lineno + 1,
                                 "not UTF-8 text (is it a binary file?)") from None
            except csv.Error as e:
                raise data_error(self.path, self.lineno + 1, f"unreadable CSV ({e})") from None
            self.lineno += 1
            if isinstance(item, str) and "\0" in item:
                raise data_error(self.path, self.lineno, "contains a NUL byte (is it a binary "
                                                         "file?)")
            yield self.lineno, item


def _int(token: str, path, lineno: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise data_error(path, lineno, f"{what} {token!r} is not an integer") from None
    if value < 0:
        raise data_error(path, lineno, f"{what} {value} is negative")
    if value > INT64_MAX:
        raise data_error(path, lineno, f"{what} {value} is larger than 2**63 - 1")
    return value


def read_lightgcn(path) -> Dict[str, np.ndarray]:
    r"""Reads the LightGCN / NGCF text format: one user per line,
    ``user item item ...``, separated by whitespace.

    A line holding only a user id is legal (that user has no items in this
    file, as in Amazon-Book's ``test.txt``); blank lines are skipped.

    Returns:
        dict with ``user`` and ``item`` int64 arrays (original ids) and
        ``listed_users``, every user id that has a line.
    """
    users, items, listed = [], [], []
    with _open(path) as f:
        for lineno, line in _Lines(path)(f):
            tokens = line.split()
            if not tokens:
                continue
            u = _int(tokens[0], path, lineno, "user id")
            listed.append(u)
            try:
                row = [int(t) for t in tokens[1:]]
            except ValueError:
                for t in tokens[1:]:
                    _int(t, path, lineno, "item id")
                raise  # pragma: no cover - _int raised above
            if row and (min(row) < 0 or max(row) > INT64_MAX):
                for t in tokens[1:]:
                    _int(t, path, lineno, "item id")
            users.extend([u] * len(row))
            items.extend(row)
    return {"user": np.asarray(users, np.int64), "item": np.asarray(items, np.int64),
            "listed_users": np.asarray(listed, np.int64)}


def read_movielens(path, min_rating: Optional[float] = None) -> Dict[str, np.ndarray]:
    r"""Reads MovieLens ratings: ``ratings.dat`` (``user::item::rating::time``)
    or ``u.data`` (tab-separated ``user item rating time``); the separator is
    detected from the first line.

    Args:
        min_rating (float, optional): keep only ratings ``>= min_rating`` as
            positives. (default: :obj:`None`, every rating is a positive)

    Returns:
        dict with ``user``, ``item`` (int64), ``rating`` and ``timestamp``
        (float64) arrays.
    """
    users, items, ratings, times = [], [], [], []
    sep = None
    with _open(path) as f:
        for lineno, line in _Lines(path)(f):
            line = line.strip()
            if not line:
                continue
            if sep is None:
                sep = "::" if "::" in line else ("\t" if "\t" in line else None)
                if sep is None:
                    raise data_error(path, lineno,
                                     "not a MovieLens ratings line (expected '::' or tab "
                                     "separators)")
            parts = line.split(sep)
            if len(parts) < 3:
                raise data_error(path, lineno,
                                 f"expected user{sep}item{sep}rating[{sep}timestamp], "
                                 f"got {line!r}")
            users.append(_int(parts[0], path, lineno, "user id"))
            items.append(_int(parts[1], path, lineno, "item id"))
            ratings.append(_float(parts[2], path, lineno, "rating"))
            times.append(_float(parts[3], path, lineno, "timestamp") if len(parts) > 3 else 0.0)
    out = {"user": np.asarray(users, np.int64), "item": np.asarray(items, np.int64),
           "rating": np.asarray(ratings, np.float64),
           "timestamp": np.asarray(times, np.float64)}
    if min_rating is not None:
        keep = out["rating"] >= min_rating
        out = {k: v[keep] for k, v in out.items()}
    return out


def _float(token: str, path, lineno: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise data_error(path, lineno, f"{what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise data_error(path, lineno, f"{what} {token!r} is not a finite number")
    return value


def read_csv(path, user_col: str = "user", item_col: str = "item",
             rating_col: Optional[str] = None, time_col: Optional[str] = None,
             min_rating: Optional[float] = None,
             sep: Optional[str] = None) -> Dict[str, np.ndarray]:
    r"""Reads a CSV/TSV file with a header row naming its columns.

    Ids are kept as strings (any id is legal, ``"u17"`` or ``"42"``);
    ratings and timestamps must be numbers.

    Args:
        user_col (str): column of user ids. (default: :obj:`"user"`)
        item_col (str): column of item ids. (default: :obj:`"item"`)
        rating_col (str, optional): column of ratings. (default: :obj:`None`)
        time_col (str, optional): column of numeric timestamps.
            (default: :obj:`None`)
        min_rating (float, optional): keep only rows with rating
            ``>= min_rating`` (needs ``rating_col``). (default: :obj:`None`)
        sep (str, optional): the delimiter; ``None`` picks tab for ``.tsv``
            files and otherwise sniffs ``,``, tab, ``;`` or ``|`` from the
            header. (default: :obj:`None`)
    """
    if min_rating is not None and rating_col is None:
        raise GnnrecError("a rating threshold needs the rating column to be named")
    with _open(path) as f:
        try:
            header_line = f.readline()
        except UnicodeDecodeError:
            raise data_error(path, 1, "not UTF-8 text (is it a binary file?)") from None
        if "\0" in header_line:
            raise data_error(path, 1, "contains a NUL byte (is it a binary file?)")
        if not header_line.strip():
            raise data_error(path, 1, "empty file: expected a header row naming the columns")
        if sep is None:
            if str(path).endswith(".tsv"):
                sep = "\t"
            else:
                counts = {d: header_line.count(d) for d in [",", "\t", ";", "|"]}
                sep = max(counts, key=counts.get)
                if counts[sep] == 0:
                    sep = ","
        header = [h.strip() for h in next(csv.reader([header_line], delimiter=sep))]
        wanted = {"user": user_col, "item": item_col, "rating": rating_col, "timestamp": time_col}
        index = {}
        for key, col in wanted.items():
            if col is None:
                continue
            if col not in header:
                raise data_error(path, 1, f"no column named {col!r} (columns: {', '.join(header)})")
            index[key] = header.index(col)
        width = max(index.values()) + 1
        out = {k: [] for k in index}
        for lineno, row in _Lines(path, 2, csv.reader(f, delimiter=sep))(f):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < width:
                raise data_error(path, lineno, f"expected at least {width} columns, got {len(row)}")
            for key, col in index.items():
                value = row[col].strip()
                if key in ("user", "item"):
                    if not value:
                        raise data_error(path, lineno, f"empty {key} id")
                    out[key].append(value)
                else:
                    out[key].append(_float(value, path, lineno, key))
    result = {"user": np.asarray(out["user"], dtype=str),
              "item": np.asarray(out["item"], dtype=str)}
    for key in ("rating", "timestamp"):
        if key in out:
            result[key] = np.asarray(out[key], np.float64)
    if min_rating is not None:
        keep = result["rating"] >= min_rating
        result = {k: v[keep] for k, v in result.items()}
    return result
