import hashlib

import pytest

from gnnrec.data import download, load_dataset
from gnnrec.errors import GnnrecError
from tests.conftest import tiny_lightgcn_dataset


def mirror(tmp_path, monkeypatch):
    """A local 'server' folder holding the files, served through file:// URLs."""
    src = tiny_lightgcn_dataset(str(tmp_path / "mirror"))
    digests = {f: hashlib.sha256(open(f"{src}/{f}", "rb").read()).hexdigest()
               for f in ("train.txt", "test.txt")}
    monkeypatch.setitem(download.KNOWN, "tinyset",
                        {"url": f"file://{src}", "files": digests})
    monkeypatch.setenv("GNNREC_DATA", str(tmp_path / "root"))
    return src


def test_named_dataset_is_fetched_once_and_loaded(tmp_path, monkeypatch):
    mirror(tmp_path, monkeypatch)
    said = []
    ds = load_dataset(path="tinyset", echo=said.append)
    assert ds.num_users == 40 and (tmp_path / "root" / "tinyset" / "train.txt").exists()
    assert len(said) == 2
    said.clear()
    load_dataset(path="tinyset", echo=said.append)
    assert said == []  # already there


def test_checksum_mismatch_leaves_nothing(tmp_path, monkeypatch):
    mirror(tmp_path, monkeypatch)
    download.KNOWN["tinyset"]["files"]["train.txt"] = "0" * 64
    with pytest.raises(GnnrecError, match="checksum mismatch"):
        download.fetch("tinyset")
    assert list((tmp_path / "root" / "tinyset").iterdir()) == []


def test_unreachable_mirror_is_a_user_error(tmp_path, monkeypatch):
    mirror(tmp_path, monkeypatch)
    with pytest.raises(GnnrecError, match="download failed"):
        download.fetch("tinyset", base_url=f"file://{tmp_path}/nowhere")


def test_unknown_name(tmp_path):
    with pytest.raises(GnnrecError, match="unknown dataset 'movielens-9m'"):
        download.fetch("movielens-9m", root=tmp_path)
