"""Data file formats: one :class:`Reader` class each, one registry, and
detection from a file's name and first bytes.

Adding a format is one class (:class:`~gnnrec.data.formats.base.Reader`:
name, :meth:`~Reader.recognise`, options as constructor arguments,
:meth:`~Reader.read`) and one line in :data:`READERS`.
"""
from typing import Dict, Optional, Tuple

from gnnrec.data.formats.base import Progress, Reader, head_of, option_names
from gnnrec.data.formats.lightgcn import LightGCN
from gnnrec.data.formats.movielens import MovieLens
from gnnrec.data.formats.tabular import Tabular
from gnnrec.errors import GnnrecError, option_error

#: format name -> reader class
READERS = {"lightgcn": LightGCN, "movielens": MovieLens, "csv": Tabular}
#: reader options that have their own data flags (the rest come as --data-opt text)
FLAGS = ("user_col", "item_col", "rating_col", "time_col", "min_rating")


def detect(path: str) -> str:
    r"""The format of ``path``: the reader most sure of it
    (:meth:`Reader.recognise`), from the name and the first bytes."""
    head = head_of(path)
    scores = {name: cls.recognise(path, head) for name, cls in READERS.items()}
    best = max(scores, key=scores.get)
    if scores[best] <= 0:
        raise GnnrecError(f"{path}: cannot tell its format (first line "
                          f"{head.splitlines()[0][:60] if head.strip() else 'empty'!r}); "
                          f"give --format ({', '.join(READERS)})")
    return best


def make_reader(name: str, options: Dict) -> Reader:
    r"""The reader ``name`` with the options it takes; an option that is set
    but not one of the reader's is an error naming it (a ``None`` is
    unset)."""
    from gnnrec.registry import parse_options

    cls = READERS[name]
    accepted = option_names(cls)
    unknown = [k for k, v in options.items() if v is not None and k not in accepted]
    if unknown:
        key, listed = unknown[0], ", ".join(accepted) or "none"
        if key in FLAGS:
            raise option_error(key, f"does not apply to the {name} format (its options: "
                                    f"{listed})")
        raise option_error("data_opt", f"{key!r}: not an option of the {name} format (its "
                                       f"options: {listed})")
    given = {k: v for k, v in options.items() if k in accepted}
    text = [f"{k}={v}" for k, v in given.items() if isinstance(v, str) and k not in FLAGS]
    given.update(parse_options(cls, text, param="data_opt"))  # --data-opt values, typed
    return cls(**given)


def read(path: str, fmt: str, options: Dict, echo=None) -> Tuple[Dict, Reader, Optional[str]]:
    r"""Reads ``path`` in format ``fmt`` (``auto``: :func:`detect`) and
    returns the arrays, the reader, and a note of what was detected (the
    format when guessed, the reader's :meth:`~Reader.describe`)."""
    name = detect(path) if fmt == "auto" else fmt
    reader = make_reader(name, options)
    got = reader.read(path, Progress(echo))
    said = reader.describe()
    note = None
    if fmt == "auto" or said:
        note = (f"read as {name}" if fmt == "auto" else name) + (f": {said}" if said else "")
    return got, reader, note


__all__ = ["READERS", "Reader", "Progress", "detect", "make_reader", "read", "LightGCN",
           "MovieLens", "Tabular"]
