"""Checked text input shared by the readers: files that exist and are text,
numbered lines, ids and numbers whose errors name the file and line."""
import math
import os
from typing import Iterator, Tuple

from gnnrec.errors import GnnrecError, data_error

INT64_MAX = 2 ** 63 - 1


def open_text(path: str, binary: bool = False):
    r"""Opens a data file (binary, or UTF-8 text with ``newline=""``); a
    missing file or a folder is a :class:`~gnnrec.errors.GnnrecError`."""
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such file")
    if os.path.isdir(path):
        raise GnnrecError(f"{path}: is a directory, expected a file")
    if binary:
        return open(path, "rb")
    return open(path, encoding="utf-8", newline="")


def line_blocks(path: str, chunk: int, progress) -> Iterator[Tuple[bytes, int]]:
    r"""Reads ``path`` in blocks of about ``chunk`` bytes cut after a newline
    (a last line without one comes with the last block) and yields each
    non-empty block with the 1-based number of its first line. Reports
    ``progress(name, bytes_read, total)`` after each read and
    ``progress.done(name)`` at the end (a
    :class:`~gnnrec.data.formats.base.Progress`)."""
    name = os.path.basename(path)
    total = os.path.getsize(path) if os.path.isfile(path) else 0
    done, line, rest = 0, 1, b""
    with open_text(path, binary=True) as f:
        while True:
            block = f.read(chunk)
            done += len(block)
            data = rest + block
            if block:
                cut = data.rfind(b"\n") + 1
                data, rest = (data[:cut], data[cut:]) if cut else (b"", data)
            else:
                rest = b""
            if data:
                yield data, line
                line += data.count(b"\n")
            progress(name, done, total)
            if not block:
                break
    progress.done(name)


def check_text(data: bytes, path: str, line: int) -> None:
    r"""Raises naming the first line of ``data`` (which starts at 1-based
    ``line``) that is not UTF-8 or holds a NUL byte: a binary file given as
    data."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = line + data[:e.start].count(b"\n")
        raise data_error(path, bad, "not UTF-8 text (is it a binary file?)") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise data_error(path, line + data[:nul].count(b"\n"),
                         "contains a NUL byte (is it a binary file?)")


def numbered_lines(text: str, path: str, start: int = 1):
    """``(lineno, line)`` of a text, numbered from ``start``; a NUL byte is an
    error naming its line."""
    for offset, line in enumerate(text.split("\n")):
        if "\0" in line:
            raise data_error(path, start + offset, "contains a NUL byte (is it a binary file?)")
        yield start + offset, line


def int_token(token: str, path: str, lineno: int, what: str) -> int:
    try:
        value = int(token)
    except ValueError:
        raise data_error(path, lineno, f"{what} {token!r} is not an integer") from None
    if value < 0:
        raise data_error(path, lineno, f"{what} {value} is negative")
    if value > INT64_MAX:
        raise data_error(path, lineno, f"{what} {value} is larger than 2**63 - 1")
    return value


def float_token(token: str, path: str, lineno: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise data_error(path, lineno, f"{what} {token!r} is not a number") from None
    if not math.isfinite(value):
        raise data_error(path, lineno, f"{what} {token!r} is not a finite number")
    return value
