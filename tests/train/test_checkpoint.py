import numpy as np
import pytest
import torch

import gnnrec
from gnnrec.data import load_dataset
from gnnrec.errors import GnnrecError
from tests.conftest import tiny_lightgcn_dataset, write_lightgcn_files
from tests.train.test_resume import run


@pytest.fixture
def trained(tmp_path):
    # string-like ids far from 0..n-1 so the id maps matter
    rng = np.random.default_rng(0)
    train = {1000 + u: (500 + rng.choice(40, 8, replace=False)).tolist() for u in range(30)}
    test = {u: [i + 1 for i in items[:1]] for u, items in train.items()}
    folder = write_lightgcn_files(str(tmp_path / "d"), train, test)
    ds = load_dataset(path=folder)
    run(ds, str(tmp_path / "r"), epochs=2)
    return ds, str(tmp_path / "r" / "best.pt"), train


def test_load_in_one_line_and_embeddings(trained):
    ds, path, _ = trained
    model = gnnrec.load(path)
    user, item = model.embeddings()
    assert user.shape == (ds.num_users, 8) and item.shape == (ds.num_items, 8)
    assert isinstance(model.encoder, torch.nn.Module)
    model.check_dataset(ds)


def test_recommend_speaks_original_ids_and_skips_seen(trained):
    ds, path, train = trained
    model = gnnrec.load(path)
    items, scores = model.recommend([1003, "1007"], k=5)
    assert [len(x) for x in items] == [5, 5]
    assert set(items[0].tolist()).isdisjoint(train[1003])
    assert set(items[1].tolist()).isdisjoint(train[1007])
    assert all(int(i) in ds.items.original for row in items for i in row)
    assert all(np.all(np.diff(s) <= 0) for s in scores)
    with pytest.raises(GnnrecError, match="unknown user 42"):
        model.recommend([42])


def test_recommend_returns_at_most_the_unseen_items_and_can_skip_unknown_users(trained):
    ds, path, train = trained
    model = gnnrec.load(path)
    items, scores = model.recommend([1003, 42, 1007], k=1000, skip_unknown=True)
    index = model.user_index([1003])
    seen = set(model.items[model.graph.positives.items_of(index)[1].numpy()].tolist())
    assert len(items[0]) == ds.num_items - len(seen) and len(items[1]) == 0
    assert np.isfinite(scores[0]).all() and set(items[0].tolist()).isdisjoint(seen)
    everything, _ = model.recommend([1003], k=1000, exclude_seen=False)
    assert len(everything[0]) == ds.num_items


def test_checkpoint_from_other_data_is_refused(trained, tmp_path):
    _, path, _ = trained
    other = load_dataset(path=tiny_lightgcn_dataset(str(tmp_path / "o")))
    with pytest.raises(GnnrecError, match="trained on other data"):
        gnnrec.load(path).check_dataset(other)


def test_export_pt_and_npy(trained, tmp_path):
    ds, path, _ = trained
    model = gnnrec.load(path)
    model.export(str(tmp_path / "e.pt"))
    got = torch.load(tmp_path / "e.pt", weights_only=True)
    assert got["user_emb"].shape == (ds.num_users, 8)
    assert got["user_ids"] == ds.users.original.tolist()
    written = model.export(str(tmp_path / "e.npy"))
    assert np.load(written["items"]).shape == (ds.num_items, 8)
    assert np.array_equal(np.load(written["item_ids"]), ds.items.original)


def test_embeddings_attach_to_heterodata(trained):
    ds, path, _ = trained
    model = gnnrec.load(path)
    data = model.to_hetero(ds.to_hetero("train"))
    assert data["user"].x.shape == (ds.num_users, 8)
    assert torch.allclose(data["item"].x, model.embeddings()[1])
    fresh = model.to_hetero()
    assert fresh["user", "interacts", "item"].edge_index.shape[1] == len(ds.edges("train")[0])


def test_not_a_checkpoint(tmp_path):
    p = tmp_path / "x.pt"
    p.write_bytes(b"garbage")
    with pytest.raises(GnnrecError, match="not a readable checkpoint"):
        gnnrec.load(str(p))
    with pytest.raises(GnnrecError, match="no such checkpoint"):
        gnnrec.load(str(tmp_path / "missing.pt"))
