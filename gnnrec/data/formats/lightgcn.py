"""The LightGCN / NGCF text format: ``user item item ...`` per line."""
import os
from typing import Dict, List

import numpy as np

from gnnrec.data.formats.base import Progress, Reader, first_lines
from gnnrec.data.formats.text import (INT64_MAX, check_text, int_token, line_blocks,
                                      numbered_lines)
from gnnrec.data.interactions import Interactions
from gnnrec.errors import GnnrecError

#: bytes parsed at a time (the parse keeps a few arrays of this size)
CHUNK = 8 * 2 ** 20
_DIGITS = np.zeros(256, bool)
_DIGITS[list(b"0123456789+-")] = True
_SPACE = np.zeros(256, bool)
_SPACE[list(b" \t\r\n\v\f")] = True
_ALLOWED = _DIGITS | _SPACE


class LightGCN(Reader):
    r"""The LightGCN / NGCF text format: one user a line, ``user item item
    ...`` separated by whitespace; a folder holds ``train.txt`` and
    optionally ``val.txt`` / ``test.txt`` (the split they fix). A line
    holding only a user id is legal (that user has no items in this file,
    as in Amazon-Book's ``test.txt``); blank lines are skipped.

    Parsed in chunks of :data:`CHUNK` bytes by NumPy (integers straight into
    int64 arrays, no Python object per id); a chunk that is not plain
    integers and whitespace is parsed line by line instead, which names the
    first bad line.
    """
    name = "lightgcn"
    summary = "user item item ... per line; a folder of train.txt [+ val.txt] [+ test.txt]"

    @classmethod
    def recognise(cls, path: str, head: str) -> int:
        if os.path.isdir(path):
            return 90 if os.path.exists(os.path.join(path, "train.txt")) else 10
        lines = first_lines(head)
        if not lines or not all(t.isdigit() for line in lines for t in line.split()):
            return 0
        widths = {len(line.split()) for line in lines}
        if all("\t" in line for line in lines) and len(widths) == 1 and widths <= {3, 4}:
            return 30  # tab-separated rows of 3-4 numbers: u.data-style ratings more likely
        return 60

    def read(self, path: str, progress: Progress) -> Dict[str, np.ndarray]:
        if not os.path.isdir(path):
            got = read_lightgcn(path, progress)
            return {"user": got["user"], "item": got["item"]}
        train = os.path.join(path, "train.txt")
        if not os.path.exists(train):
            raise GnnrecError(f"{path}: a LightGCN folder needs train.txt")
        parts = [(train, Interactions.TRAIN)]
        for name, fold in (("val.txt", Interactions.VAL), ("test.txt", Interactions.TEST)):
            if os.path.exists(os.path.join(path, name)):
                parts.append((os.path.join(path, name), fold))
        users, items, folds = [], [], []
        for file, fold in parts:
            got = read_lightgcn(file, progress)
            users.append(got["user"])
            items.append(got["item"])
            folds.append(np.full(len(got["user"]), fold, np.int8))
        out = {"user": np.concatenate(users), "item": np.concatenate(items)}
        if len(parts) > 1:
            out["fold"] = np.concatenate(folds)
        return out


def read_lightgcn(path: str, progress: Progress = None) -> Dict[str, np.ndarray]:
    r"""Reads one LightGCN file.

    Returns:
        dict with ``user`` and ``item`` int64 arrays (original ids) and
        ``listed_users``, every user id that has a line.
    """
    users: List[np.ndarray] = []
    items: List[np.ndarray] = []
    listed: List[np.ndarray] = []
    for data, line in line_blocks(path, CHUNK, progress or Progress()):
        got = _parse_fast(data)
        if got is None:
            got = _parse_exact(data, path, line)
        users.append(got[0])
        items.append(got[1])
        listed.append(got[2])
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))  # noqa: E731
    return {"user": cat(users), "item": cat(items), "listed_users": cat(listed)}


def _parse_fast(data: bytes):
    r"""``(user, item, listed)`` of whole lines of plain non-negative
    integers, or ``None`` when anything else is in ``data`` (the exact
    parser then says what and where)."""
    arr = np.frombuffer(data, np.uint8)
    if not _ALLOWED[arr].all():
        return None
    space = _SPACE[arr]
    starts = ~space
    starts[1:] &= space[:-1]
    token_pos = np.flatnonzero(starts)
    if len(token_pos) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    try:
        values = np.fromstring(data, dtype=np.int64, sep=" ")  # C parse, whitespace-separated
    except ValueError:
        return None
    if len(values) != len(token_pos) or values.min() < 0 or values.max() == INT64_MAX:
        return None  # "1-2", a negative id, an overflow: line by line
    newlines = np.flatnonzero(arr == 10)
    token_line = np.searchsorted(newlines, token_pos)  # the line each token is on
    first = np.ones(len(token_pos), bool)
    first[1:] = token_line[1:] != token_line[:-1]
    heads = np.flatnonzero(first)
    per_line = np.diff(np.append(heads, len(values)))
    if values.max() < 2 ** 31:  # half the memory for the usual ids
        values = values.astype(np.int32)
    listed = values[heads]
    return np.repeat(listed, per_line - 1), values[~first], listed


def _parse_exact(data: bytes, path: str, line: int):
    r"""Line-by-line parse of one chunk starting at 1-based ``line``: the
    first malformed line is an error naming the file and line."""
    check_text(data, path, line)
    users, items, listed = [], [], []
    for lineno, text in numbered_lines(data.decode("utf-8"), path, line):
        tokens = text.split()
        if not tokens:
            continue
        u = int_token(tokens[0], path, lineno, "user id")
        row = [int_token(t, path, lineno, "item id") for t in tokens[1:]]
        listed.append(u)
        users.extend([u] * len(row))
        items.extend(row)
    return (np.asarray(users, np.int64), np.asarray(items, np.int64),
            np.asarray(listed, np.int64))
