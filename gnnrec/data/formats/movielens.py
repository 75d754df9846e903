"""Delimited numeric ratings without a header: MovieLens ``ratings.dat``
(``::``), ``u.data`` (tab), and the same columns with ``,`` ``;`` ``|``."""
import os
from typing import Dict, List, Optional

import numpy as np

from gnnrec.data.formats.base import Progress, Reader, first_lines, is_number
from gnnrec.data.formats.text import (check_text, float_token, int_token, line_blocks,
                                      numbered_lines)
from gnnrec.errors import data_error

CHUNK = 8 * 2 ** 20
SEPARATORS = ("::", "\t", ",", ";", "|")
#: ids above this are not exact in float64: such files take the line-by-line path
EXACT = 2 ** 53


def _separator(line: str) -> Optional[str]:
    return next((s for s in SEPARATORS if s in line), None)


class MovieLens(Reader):
    r"""Ratings as ``user SEP item SEP rating [SEP timestamp]`` with no
    header: MovieLens ``ratings.dat`` (``::``) and ``u.data`` (tab), or the
    same columns separated by ``,``, ``;`` or ``|``; the separator is taken
    from the first line.

    Args:
        min_rating (float, optional): keep only ratings ``>= min_rating`` as
            positives. (default: :obj:`None`, every rating is a positive)
    """
    name = "movielens"
    summary = "user SEP item SEP rating [SEP time], no header (ratings.dat, u.data)"

    def __init__(self, min_rating: Optional[float] = None):
        self.min_rating = min_rating
        self.sep = None

    @classmethod
    def recognise(cls, path: str, head: str) -> int:
        name = os.path.basename(path).lower()
        if name in ("ratings.dat", "u.data") or name.endswith(".dat"):
            return 95
        lines = first_lines(head)
        if not lines:
            return 0
        sep = _separator(lines[0])
        if sep is None:
            return 0
        fields = [line.split(sep) for line in lines]
        if all(len(f) == len(fields[0]) and 3 <= len(f) <= 4 and all(is_number(x) for x in f)
               for f in fields):
            return 80 if sep in ("::", "\t") else 50
        return 0

    def read(self, path: str, progress: Progress) -> Dict[str, np.ndarray]:
        out = read_movielens(path, self.min_rating, progress)
        self.sep = out.pop("sep")
        return out

    def describe(self) -> Optional[str]:
        shown = {"\t": "tab"}.get(self.sep, repr(self.sep))
        return f"columns user, item, rating, timestamp separated by {shown}"


def read_movielens(path: str, min_rating: Optional[float] = None,
                   progress: Progress = None) -> Dict[str, np.ndarray]:
    r"""Reads headerless delimited ratings (see :class:`MovieLens`).

    Returns:
        dict with ``user``, ``item`` (int64), ``rating`` and ``timestamp``
        (float64) arrays, and ``sep``.
    """
    parts: List[Dict[str, np.ndarray]] = []
    sep = None
    for data, line in line_blocks(path, CHUNK, progress or Progress()):
        check_text(data, path, line)
        if sep is None:
            sep = _first_separator(data.decode("utf-8"), path, line)
        got = _parse_fast(data, sep)
        parts.append(got if got is not None else _parse_exact(data, path, line, sep))
    keys = ("user", "item", "rating", "timestamp")
    out = {k: np.concatenate([p[k] for p in parts]) if parts else
           np.zeros(0, np.int64 if k in ("user", "item") else np.float64) for k in keys}
    if min_rating is not None:
        keep = out["rating"] >= min_rating
        out = {k: v[keep] for k, v in out.items()}
    out["sep"] = sep
    return out


def _first_separator(text: str, path: str, line: int) -> str:
    for offset, row in enumerate(text.split("\n")):
        if row.strip():
            sep = _separator(row)
            if sep is None:
                raise data_error(path, line + offset, "not a ratings line (expected user, item "
                                                      "and rating separated by '::', tab, ',', "
                                                      "';' or '|')")
            return sep
    return "::"


def _parse_fast(data: bytes, sep: str):
    r"""The chunk's columns when every line has the same 3 or 4 plain
    numbers (ids integral and exact), else ``None``."""
    rows = data.count(b"\n")
    if rows == 0 or b"\n\n" in data or data.startswith(b"\n"):
        return None
    flat = data.replace(sep.encode(), b" ")
    try:
        values = np.fromstring(flat, dtype=np.float64, sep=" ")
    except ValueError:
        return None
    if len(values) % rows:
        return None
    width = len(values) // rows
    if width not in (3, 4):
        return None
    table = values.reshape(rows, width)
    ids = table[:, :2]
    if not (np.isfinite(table).all() and (ids >= 0).all() and (ids < EXACT).all()
            and (ids == np.floor(ids)).all()):
        return None
    # a line with another field count would have shifted the rest: check each row's width
    if sep.encode() not in data or data.count(sep.encode()) != rows * (width - 1):
        return None
    return {"user": ids[:, 0].astype(np.int64), "item": ids[:, 1].astype(np.int64),
            "rating": table[:, 2].copy(),
            "timestamp": table[:, 3].copy() if width == 4 else np.zeros(rows)}


def _parse_exact(data: bytes, path: str, line: int, sep: str):
    users, items, ratings, times = [], [], [], []
    for lineno, row in numbered_lines(data.decode("utf-8"), path, line):
        row = row.strip()
        if not row:
            continue
        parts = row.split(sep)
        if len(parts) < 3:
            raise data_error(path, lineno, f"expected user{sep}item{sep}rating[{sep}timestamp], "
                                           f"got {row!r}")
        users.append(int_token(parts[0].strip(), path, lineno, "user id"))
        items.append(int_token(parts[1].strip(), path, lineno, "item id"))
        ratings.append(float_token(parts[2].strip(), path, lineno, "rating"))
        times.append(float_token(parts[3].strip(), path, lineno, "timestamp")
                     if len(parts) > 3 else 0.0)
    return {"user": np.asarray(users, np.int64), "item": np.asarray(items, np.int64),
            "rating": np.asarray(ratings, np.float64), "timestamp": np.asarray(times, np.float64)}
