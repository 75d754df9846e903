import os

import numpy as np
import pytest

from gnnrec.data import load_dataset
from gnnrec.data.formats import Progress, Tabular
from gnnrec.data.formats.lightgcn import read_lightgcn
from gnnrec.data.formats.movielens import read_movielens
from gnnrec.data.writers import write_lightgcn
from gnnrec.errors import GnnrecError
from tests.conftest import write_lightgcn_files


def read_csv(path, **options):
    return Tabular(**options).read(path, Progress())


def test_lightgcn_reads_lines_and_empty_user_lines(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("0 5 7\n1\n\n2 7\t9\n")
    got = read_lightgcn(str(p))
    assert got["user"].tolist() == [0, 0, 2, 2]
    assert got["item"].tolist() == [5, 7, 7, 9]
    assert got["listed_users"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("text,line,word", [
    ("0 1 2\n1 x 3\n", 2, "'x' is not an integer"),
    ("0 1\nabc 2\n", 2, "user id 'abc'"),
    ("0 1 -4\n", 1, "negative"),
    ("0 1.5\n", 1, "'1.5' is not an integer"),
])
def test_lightgcn_malformed_line_names_file_and_line(tmp_path, text, line, word):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(GnnrecError) as e:
        read_lightgcn(str(p))
    assert f"bad.txt:{line}:" in str(e.value)
    assert word in str(e.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(GnnrecError, match="no such file"):
        read_lightgcn(str(tmp_path / "nope.txt"))
    with pytest.raises(GnnrecError, match="no such file"):
        load_dataset(path=str(tmp_path / "nope.txt"))


def test_folder_without_train_file(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(GnnrecError, match="needs train.txt"):
        load_dataset(path=str(tmp_path / "d"))


def test_empty_dataset_is_a_user_error(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("0\n1\n")
    with pytest.raises(GnnrecError, match="no interactions"):
        load_dataset(path=str(p))


def test_movielens_both_separators(tmp_path):
    a = tmp_path / "ratings.dat"
    a.write_text("1::10::5::978300760\n1::11::3::978302109\n2::10::4::978301968\n")
    b = tmp_path / "u.data"
    b.write_text("1\t10\t5\t978300760\n1\t11\t3\t978302109\n2\t10\t4\t978301968\n")
    for p in (a, b):
        got = read_movielens(str(p))
        assert got["user"].tolist() == [1, 1, 2]
        assert got["item"].tolist() == [10, 11, 10]
        assert got["rating"].tolist() == [5, 3, 4]
        assert got["timestamp"][0] == 978300760
    assert read_movielens(str(a), min_rating=4)["item"].tolist() == [10, 10]


def test_movielens_bad_line(tmp_path):
    p = tmp_path / "ratings.dat"
    p.write_text("1::10::5::1\n1::eleven::3::2\n")
    with pytest.raises(GnnrecError, match=r"ratings.dat:2: item id 'eleven'"):
        read_movielens(str(p))


def test_csv_named_columns_threshold_and_string_ids(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("ts,who,what,stars\n5,u1,i9,4\n3,u2,i9,2\n9,u1,i7,5\n")
    got = read_csv(str(p), user_col="who", item_col="what", rating_col="stars", time_col="ts",
                   min_rating=4)
    assert got["user"].tolist() == ["u1", "u1"]
    assert got["item"].tolist() == ["i9", "i7"]
    assert got["timestamp"].tolist() == [5.0, 9.0]


def test_tsv_and_errors(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("user\titem\trating\n1\t2\tgood\n")
    with pytest.raises(GnnrecError, match=r"log.tsv:2: rating 'good' is not a number"):
        read_csv(str(p), rating_col="rating")
    with pytest.raises(GnnrecError, match=r"no column named 'stars'"):
        read_csv(str(p), rating_col="stars")


def test_ids_remapped_contiguously_and_kept(tmp_path):
    folder = write_lightgcn_files(str(tmp_path / "d"), {100: [7, 9, 11], 5: [9, 30]},
                                  {100: [30], 5: [7]})
    ds = load_dataset(path=folder, val_frac=0)
    assert ds.num_users == 2 and ds.num_items == 4
    assert ds.users.original.tolist() == [5, 100]
    assert ds.items.original.tolist() == [7, 9, 11, 30]
    test = ds.edges("test").numpy()
    # user 100 (index 1) has test item 30 (index 3)
    assert {(int(ds.users[u]), int(ds.items[i])) for u, i in test.T} == {(100, 30), (5, 7)}


def test_write_then_read_round_trip(tmp_path, tiny_dataset_dir):
    ds = load_dataset(path=tiny_dataset_dir, val_frac=0.2)
    write_lightgcn(ds, str(tmp_path / "out"))
    back = load_dataset(path=str(tmp_path / "out"), val_frac=0)
    assert (back.num_users, back.num_items) == (ds.num_users, ds.num_items)
    for fold in ("train", "val", "test"):
        assert np.array_equal(back.edges(fold).numpy(), ds.edges(fold).numpy())
    assert os.path.exists(tmp_path / "out" / "user_list.txt")


def test_user_without_training_items_is_refused(tmp_path):
    folder = write_lightgcn_files(str(tmp_path / "d"), {0: [1, 2]}, {0: [3], 7: [1]})
    with pytest.raises(GnnrecError, match="no training item .*user 7"):
        load_dataset(path=folder, val_frac=0)


def test_k_core(tmp_path):
    train = {u: list(range(u % 3, u % 3 + 4)) for u in range(10)}
    train[99] = [50]  # a user and an item below the core
    folder = write_lightgcn_files(str(tmp_path / "d"), train)
    ds = load_dataset(path=folder, k_core=3, test_frac=0.25, val_frac=0)
    assert 99 not in ds.users.original.tolist()
    assert 50 not in ds.items.original.tolist()
    assert np.bincount(ds.inter.user).min() >= 3
    assert np.bincount(ds.inter.item).min() >= 3
