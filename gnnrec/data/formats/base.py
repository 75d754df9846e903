"""The reader contract: one class per file format, recognised from the
file's name and first bytes, read into arrays of original ids."""
import abc
import inspect
import os
import time
from typing import Callable, Dict, Optional

import numpy as np

from gnnrec.errors import GnnrecError

#: bytes sniffed from the start of a file to recognise its format
HEAD_BYTES = 64 * 1024


class Reader(abc.ABC):
    r"""A data file format.

    A subclass sets :attr:`name` and :attr:`summary`, takes its options as
    constructor arguments (with defaults: they are how ``--data-opt
    KEY=VALUE`` and the data flags reach it), says how sure it is that a
    file is in its format (:meth:`recognise`) and reads one
    (:meth:`read`). Register it in :data:`gnnrec.data.formats.READERS`.

    :meth:`read` returns a dict of arrays of equal length: ``user`` and
    ``item`` (original ids: integers or strings), and optionally
    ``timestamp`` (float64) and ``fold`` (int8, when the files fix the
    split, see :class:`~gnnrec.data.interactions.Interactions`). Every format
    error is a :class:`~gnnrec.errors.GnnrecError` naming the file and line.
    """
    #: the registry name (``--format NAME``)
    name = ""
    #: one line for ``--help``
    summary = ""

    @classmethod
    def recognise(cls, path: str, head: str) -> int:
        r"""How sure the reader is that ``path`` is in its format, 0 (not
        at all) to 100, from the name and ``head`` (the first bytes, as
        text; empty for a folder)."""
        return 0

    @abc.abstractmethod
    def read(self, path: str, progress: "Progress") -> Dict[str, np.ndarray]:
        r"""The interactions of ``path``: the one method every reader
        implements."""

    def describe(self) -> Optional[str]:
        r"""What the reader found out about the file it read (a detected
        delimiter, the columns it chose), for the user; ``None`` if nothing."""
        return None


def option_names(cls) -> Dict[str, object]:
    """``{option: default}`` of a reader's constructor."""
    params = inspect.signature(cls.__init__).parameters
    return {n: p.default for n, p in params.items()
            if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def head_of(path: str) -> str:
    r"""The first :data:`HEAD_BYTES` of a file as text (undecodable bytes
    replaced), ``""`` for a folder."""
    if os.path.isdir(path):
        return ""
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such file or directory")
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES).decode("utf-8", errors="replace")


def first_lines(head: str, n: int = 20):
    """Up to ``n`` non-empty lines of ``head`` (the last, maybe cut, dropped
    when there are more)."""
    lines = [x for x in head.splitlines() if x.strip()]
    if len(head) >= HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]
    return lines[:n]


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Progress:
    r"""Reports how far a long read got: silent for the first ``after``
    seconds, then one line every ``every`` seconds (``reading FILE: 120 of
    200 MB``), and a last line with the time taken.

    Args:
        echo (callable, optional): where the lines go; ``None`` is silent.
    """

    def __init__(self, echo: Optional[Callable[[str], None]] = None, after: float = 3.0,
                 every: float = 5.0):
        self.echo, self.after, self.every = echo, after, every
        self.start = time.perf_counter()
        self.last = self.start - every  # the first line comes after ``after`` seconds
        self.spoke = False

    def __call__(self, what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if self.echo is None or now - self.start < self.after or now - self.last < self.every:
            return
        self.last, self.spoke = now, True
        self.echo(f"reading {what}: {done / 2 ** 20:.0f} of {total / 2 ** 20:.0f} MB "
                  f"({now - self.start:.0f} s)")

    def done(self, what: str) -> None:
        if self.spoke and self.echo is not None:
            self.echo(f"read {what} in {time.perf_counter() - self.start:.0f} s")
