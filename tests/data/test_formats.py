"""The readers registry: formats told from content, columns found by name,
the chunked parsers equal to line-by-line parsing, errors naming the line."""
import re

import numpy as np
import pytest

from gnnrec.data import load_dataset
from gnnrec.data.formats import READERS, detect, lightgcn, movielens
from gnnrec.data.formats.lightgcn import read_lightgcn
from gnnrec.data.formats.movielens import read_movielens
from gnnrec.data.formats.text import line_blocks
from gnnrec.data.loading import DataSpec
from gnnrec.errors import GnnrecError


@pytest.mark.parametrize("name,text,fmt", [
    ("syn", "user,item,timestamp\nu1,i1,3.5\nu2,i1,4\n", "csv"),  # gnnrec data synth, no .csv
    ("log", "user_id:token\titem_id:token\trating:float\n1\t2\t5\n", "csv"),  # RecBole
    ("ratings", "1::10::5::978300760\n2::11::3::978302109\n", "movielens"),
    ("ml", "1\t10\t5\t978300760\n2\t11\t3\t978302109\n", "movielens"),  # u.data-style
    ("train", "0 1 2 3\n1 5\n2 7 8 9 10 11\n", "lightgcn"),
    ("x.csv", "a,b\n1,2\n", "csv"),  # the extension says so
])
def test_the_format_is_told_from_the_content(tmp_path, name, text, fmt):
    path = tmp_path / name
    path.write_text(text)
    assert detect(str(path)) == fmt


def test_an_unknown_format_names_the_option_to_give(tmp_path):
    path = tmp_path / "odd"
    path.write_text("hello world, this is prose\n")
    with pytest.raises(GnnrecError, match="give --format"):
        detect(str(path))


@pytest.mark.parametrize("header,user,item,time", [
    ("user,item,timestamp", "user", "item", "timestamp"),
    ("userId,movieId,rating,timestamp", "userId", "movieId", "timestamp"),
    ("user_id:token,item_id:token,timestamp:float", "user_id:token", "item_id:token",
     "timestamp:float"),
    ("ts,visitorid,itemid", "visitorid", "itemid", "ts"),
])
def test_csv_columns_are_found_by_their_usual_names_and_reported(tmp_path, header, user, item,
                                                                 time):
    cols = header.split(",")
    rows = [header]
    for u in range(6):
        for k in range(4):
            values = {user: f"u{u}", item: f"i{(u + k) % 5}", time: str(10 * u + k)}
            rows.append(",".join(values.get(c, "4") for c in cols))
    path = tmp_path / "data.csv"
    path.write_text("\n".join(rows) + "\n")
    ds = load_dataset(DataSpec(path=str(path), split="temporal", val_frac=0))
    note = ds.notes[0]
    assert f"user {user!r}" in note and f"item {item!r}" in note and f"timestamp {time!r}" in note
    assert ds.inter.timestamp is not None and ds.num_users == 6


def lightgcn_text(rng, lines=300):
    out = []
    for u in rng.permutation(lines):
        row = [str(u)] + [str(i) for i in rng.integers(0, 10 ** 6, rng.integers(0, 9))]
        seps = rng.choice([" ", "  ", "\t", " \t"], len(row))
        out.append("".join(s + t for s, t in zip(seps, row)).lstrip() + rng.choice(["", " "]))
        if rng.random() < 0.05:
            out.append("")  # blank lines are skipped
    return "\n".join(out) + rng.choice(["", "\n", "\r\n"])


class _Reports:
    def __init__(self):
        self.calls, self.ended = [], None

    def __call__(self, name, done, total):
        self.calls.append((name, done, total))

    def done(self, name):
        self.ended = name


@pytest.mark.parametrize("chunk", [1, 3, 8, 1000])
@pytest.mark.parametrize("text", [b"", b"a\n", b"a b\nc\n\nd e f\n", b"x\nlast without newline",
                                  b"no newline at all"])
def test_line_blocks_are_whole_lines_numbered_and_cover_the_file(tmp_path, chunk, text):
    path = tmp_path / "f.txt"
    path.write_bytes(text)
    reports = _Reports()
    blocks = list(line_blocks(str(path), chunk, reports))
    assert b"".join(b for b, _ in blocks) == text
    assert all(b and (b.endswith(b"\n") or i == len(blocks) - 1)
               for i, (b, _) in enumerate(blocks))
    assert [n for _, n in blocks] == [1 + text[:sum(len(b) for b, _ in blocks[:i])].count(b"\n")
                                      for i in range(len(blocks))]
    assert reports.calls[-1] == ("f.txt", len(text), len(text)) and reports.ended == "f.txt"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunk", [7, 64, 4096])
def test_the_chunked_lightgcn_parse_equals_the_line_parse(tmp_path, monkeypatch, seed, chunk):
    rng = np.random.default_rng(seed)
    text = lightgcn_text(rng)
    path = tmp_path / "t.txt"
    path.write_text(text)
    monkeypatch.setattr(lightgcn, "CHUNK", chunk)
    fast = read_lightgcn(str(path))
    exact = lightgcn._parse_exact(text.encode(), str(path), 1)
    for got, want in zip((fast["user"], fast["item"], fast["listed_users"]), exact):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("chunk", [16, 10 ** 6])
@pytest.mark.parametrize("bad,word", [("1 x 3", "'x' is not an integer"),
                                      ("1 -4", "negative"), ("1 1.5", "'1.5'"),
                                      ("1 99999999999999999999", "larger than 2**63 - 1"),
                                      ("1 2-3", "'2-3'")])
def test_a_bad_line_in_any_chunk_is_named(tmp_path, monkeypatch, chunk, bad, word):
    lines = [f"{u} {u + 1} {u + 2}" for u in range(50)]
    lines[37] = bad
    path = tmp_path / "bad.txt"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(lightgcn, "CHUNK", chunk)
    with pytest.raises(GnnrecError, match=rf"bad.txt:38: .*{re.escape(word)}"):
        read_lightgcn(str(path))


def test_binary_bytes_are_named_by_line(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"0 1 2\n1 2\n2 \xff\xfe 3\n")
    with pytest.raises(GnnrecError, match="bin.txt:3: not UTF-8"):
        read_lightgcn(str(path))
    path.write_bytes(b"0 1 2\n1 \x00 2\n")
    with pytest.raises(GnnrecError, match="bin.txt:2: contains a NUL byte"):
        read_lightgcn(str(path))


@pytest.mark.parametrize("chunk", [16, 10 ** 6])
def test_the_chunked_ratings_parse_equals_the_line_parse(tmp_path, monkeypatch, chunk):
    rng = np.random.default_rng(3)
    rows = [f"{rng.integers(0, 10 ** 6)}::{rng.integers(0, 10 ** 6)}::{rng.integers(1, 6)}"
            f"::{rng.integers(0, 10 ** 9)}" for _ in range(400)]
    text = "\n".join(rows) + "\n"
    path = tmp_path / "ratings.dat"
    path.write_text(text)
    monkeypatch.setattr(movielens, "CHUNK", chunk)
    fast = read_movielens(str(path))
    exact = movielens._parse_exact(text.encode(), str(path), 1, "::")
    for key in ("user", "item", "rating", "timestamp"):
        assert np.array_equal(fast[key], exact[key])
    path.write_text(text.replace(rows[200], rows[200].replace("::", "::x", 1)))
    with pytest.raises(GnnrecError, match="ratings.dat:201: item id 'x"):
        read_movielens(str(path))


def test_an_option_for_another_format_names_its_flag(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("0 1 2\n1 2\n")
    with pytest.raises(GnnrecError, match="user_col does not apply to the lightgcn format"):
        load_dataset(DataSpec(path=str(path), user_col="who"))
    assert set(READERS) >= {"lightgcn", "movielens", "csv"}


def test_a_long_read_reports_progress(tmp_path, monkeypatch):
    from gnnrec.data.formats import Progress

    path = tmp_path / "t.txt"
    path.write_text("".join(f"{u} {u + 1} {u + 2}\n" for u in range(2000)))
    monkeypatch.setattr(lightgcn, "CHUNK", 512)
    said = []
    read_lightgcn(str(path), Progress(said.append, after=0.0, every=0.0))
    assert len(said) > 5 and said[0].startswith("reading t.txt: ")
    assert said[-1].startswith("read t.txt in")
    quiet = []
    read_lightgcn(str(path), Progress(quiet.append))  # a short read says nothing
    assert quiet == []
