"""CSV / TSV files with a header row naming their columns."""
import csv
import io
import os
from typing import Dict, List, Optional

import numpy as np

from gnnrec.data.formats.base import Progress, Reader, first_lines, is_number
from gnnrec.data.formats.text import check_text, float_token, open_text
from gnnrec.errors import GnnrecError, data_error

DELIMITERS = (",", "\t", ";", "|")
#: column names recognised for each role, compared lower-case, without quotes and
#: without a RecBole type suffix (``user_id:token``)
NAMES = {
    "user": ("user", "user_id", "userid", "uid", "user id", "customer_id", "customerid",
             "visitorid", "visitor_id", "reviewerid", "member_id"),
    "item": ("item", "item_id", "itemid", "iid", "item id", "movie_id", "movieid",
             "product_id", "productid", "business_id", "asin", "song_id", "track_id",
             "book_id", "isbn", "article_id", "poi_id", "venue_id", "location_id"),
    "rating": ("rating", "ratings", "score", "stars", "rate", "overall"),
    "timestamp": ("timestamp", "time", "ts", "unix_time", "unixreviewtime", "unix_timestamp",
                  "datetime", "date", "time_stamp"),
}
ROWS_PER_CHUNK = 200_000


def _key(column: str) -> str:
    return column.strip().strip('"\'').split(":")[0].strip().lower()


def _delimiter(header: str, path: str) -> str:
    if str(path).lower().endswith(".tsv"):
        return "\t"
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class Tabular(Reader):
    r"""A CSV or TSV file whose first row names its columns. The delimiter
    (``,`` tab ``;`` ``|``) comes from the header; columns are found by
    name: the usual names (``user`` / ``user_id`` / ``userId`` ...,
    ``item`` / ``item_id`` / ``movieId`` ..., ``rating``, ``timestamp`` /
    ``time``; RecBole's ``name:type`` headers) unless named by an option.
    Ids are kept as strings; ratings and timestamps must be numbers (a
    column found by its name that is not numeric is left out, with a note).

    Args:
        user_col, item_col (str, optional): the id columns.
            (default: :obj:`None`, found by name)
        rating_col, time_col (str, optional): the rating and timestamp
            columns. (default: :obj:`None`, found by name when present)
        min_rating (float, optional): keep rows with a rating ``>=`` this.
            (default: :obj:`None`)
    """
    name = "csv"
    summary = "CSV/TSV with a header row naming user, item [, rating] [, timestamp] columns"

    def __init__(self, user_col: Optional[str] = None, item_col: Optional[str] = None,
                 rating_col: Optional[str] = None, time_col: Optional[str] = None,
                 min_rating: Optional[float] = None):
        self.given = {"user": user_col, "item": item_col, "rating": rating_col,
                      "timestamp": time_col}
        self.min_rating = min_rating
        self.found: Dict[str, str] = {}
        self.sep = ","
        self.skipped: List[str] = []

    @classmethod
    def recognise(cls, path: str, head: str) -> int:
        if str(path).lower().endswith((".csv", ".tsv")):
            return 95
        lines = first_lines(head, 2)
        if len(lines) < 2:
            return 0
        sep = _delimiter(lines[0], path)
        columns = [_key(c) for c in lines[0].split(sep)]
        if len(columns) < 2 or all(is_number(c) for c in columns) or \
                len(lines[1].split(sep)) != len(columns):
            return 0
        named = sum(any(c in NAMES[r] for c in columns) for r in ("user", "item"))
        return 85 if named == 2 else 40

    def read(self, path: str, progress: Progress) -> Dict[str, np.ndarray]:
        total = os.path.getsize(path) if os.path.isfile(path) else 0
        with open_text(path, binary=True) as raw:
            header = raw.readline()
            check_text(header, path, 1)
            text = header.decode("utf-8")
            if not text.strip():
                raise data_error(path, 1, "empty file: expected a header row naming the columns")
            self.sep = _delimiter(text, path)
            columns = [c.strip() for c in next(csv.reader([text], delimiter=self.sep))]
            index = self._columns(columns, path)
            self._drop_non_numeric(index, columns, path)
            stream = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            rows = csv.reader(stream, delimiter=self.sep)
            out = _collect(rows, index, path, progress, raw, total)
        progress.done(os.path.basename(path))
        if self.min_rating is not None:
            keep = out["rating"] >= self.min_rating
            out = {k: v[keep] for k, v in out.items()}
        if "rating" in out and self.given["rating"] is None and self.min_rating is None:
            del out["rating"]  # found by name but not asked for: nothing uses it
        return out

    def _columns(self, columns: List[str], path: str) -> Dict[str, int]:
        keys = [_key(c) for c in columns]
        index = {}
        for role in ("user", "item", "rating", "timestamp"):
            given = self.given[role]
            if given is not None:
                if given not in columns:
                    raise data_error(path, 1, f"no column named {given!r} (columns: "
                                              f"{', '.join(columns)})")
                index[role] = columns.index(given)
                continue
            hit = next((i for i, k in enumerate(keys) if k in NAMES[role]), None)
            if hit is None and role in ("user", "item"):
                raise data_error(path, 1, f"no {role} column found (columns: "
                                          f"{', '.join(columns)}); name it with --{role}-col")
            if hit is not None:
                index[role] = hit
        if self.min_rating is not None and "rating" not in index:
            raise GnnrecError("a rating threshold needs a rating column (--rating-col)")
        self.found = {role: columns[i] for role, i in index.items()}
        return index

    def _drop_non_numeric(self, index: Dict[str, int], columns: List[str], path: str) -> None:
        r"""A rating or timestamp column found by its name (not named by an
        option) whose first values are not numbers is left out, with a note."""
        from gnnrec.data.formats.base import head_of

        sample = list(csv.reader(first_lines(head_of(path))[1:], delimiter=self.sep))
        for role in ("rating", "timestamp"):
            if role not in index or self.given[role] is not None:
                continue
            values = [row[index[role]].strip() for row in sample if len(row) > index[role]]
            if values and not all(is_number(v) for v in values):
                self.skipped.append(f"column {columns[index[role]]!r} is not numeric: not used "
                                    f"as the {role} (name it with "
                                    f"--{'time' if role == 'timestamp' else role}-col to insist)")
                del index[role]
                del self.found[role]

    def describe(self) -> Optional[str]:
        shown = {"\t": "tab"}.get(self.sep, repr(self.sep))
        cols = ", ".join(f"{role} {name!r}" for role, name in self.found.items())
        text = f"{shown}-separated with a header; columns: {cols}"
        if self.skipped:
            text += "; " + "; ".join(self.skipped)
        return text


def _collect(rows, index, path, progress, raw, total) -> Dict[str, np.ndarray]:
    width = max(index.values()) + 1
    chunks: Dict[str, List[np.ndarray]] = {k: [] for k in index}
    buf: Dict[str, list] = {k: [] for k in index}
    lineno = 1

    def flush():
        for k, values in buf.items():
            if values:
                kind = str if k in ("user", "item") else np.float64
                chunks[k].append(np.asarray(values, dtype=kind))
                values.clear()

    try:
        for row in rows:
            lineno += 1
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) < width:
                raise data_error(path, lineno, f"expected at least {width} columns, "
                                               f"got {len(row)}")
            for key, col in index.items():
                value = row[col].strip()
                if key in ("user", "item"):
                    if not value:
                        raise data_error(path, lineno, f"empty {key} id")
                    if "\0" in value:
                        raise data_error(path, lineno, "contains a NUL byte (is it a binary "
                                                       "file?)")
                    buf[key].append(value)
                else:
                    buf[key].append(float_token(value, path, lineno, key))
            if len(buf["user"]) >= ROWS_PER_CHUNK:
                flush()
                progress(os.path.basename(path), raw.tell(), total)
    except UnicodeDecodeError:
        raise data_error(path, lineno + 1, "not UTF-8 text (is it a binary file?)") from None
    except csv.Error as e:
        raise data_error(path, lineno, f"unreadable CSV ({e})") from None
    flush()
    return {k: (np.concatenate(v) if v else np.zeros(0, str if k in ("user", "item")
                                                     else np.float64))
            for k, v in chunks.items()}
