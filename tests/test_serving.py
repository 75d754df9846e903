"""Exports for other pipelines: a PyG HeteroData, a FAISS index."""
import os

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import gnnrec
from gnnrec.cli import cli
from tests.test_cli import FAST, make_data, one_line_error


@pytest.fixture
def run(tmp_path):
    data = make_data(str(tmp_path / "d"))[0]
    out = str(tmp_path / "run")
    r = CliRunner().invoke(cli, ["train", "--dataset", data, "--out", out, *FAST])
    assert r.exit_code == 0, r.output
    return os.path.join(out, "best.pt")


def test_pyg_export_round_trips_into_heterodata(run, tmp_path):
    from torch_geometric.data import HeteroData

    path = str(tmp_path / "g.pyg.pt")
    r = CliRunner().invoke(cli, ["export", run, path, "--device", "cpu"])
    assert r.exit_code == 0, r.output
    data = torch.load(path, weights_only=False)
    model = gnnrec.load(run)
    user, item = model.embeddings()
    assert isinstance(data, HeteroData)
    assert torch.allclose(data["user"].x, user) and torch.allclose(data["item"].x, item)
    fwd = data["user", "interacts", "item"].edge_index
    assert torch.equal(fwd.flip(0), data["item", "rev_interacts", "user"].edge_index)
    assert fwd.size(1) == model.graph.num_edges
    assert data["user"].original_id == model.users.original.tolist()
    # ready for PyG: a heterogeneous GNN runs on it
    from torch_geometric.nn import SAGEConv, to_hetero

    class GNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = SAGEConv((-1, -1), 4)

        def forward(self, x, edge_index):
            return self.conv(x, edge_index)

    gnn = to_hetero(GNN(), data.metadata())
    h = gnn(data.x_dict, data.edge_index_dict)
    assert h["user"].shape == (model.num_users, 4)


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "hnsw-ip"])
def test_faiss_index_top_k_equals_exact_top_k(run, tmp_path, index_type):
    pytest.importorskip("faiss")
    path = str(tmp_path / "items.faiss")
    r = CliRunner().invoke(cli, ["export", run, path, "--index-type", index_type, "--device",
                                 "cpu"])
    assert r.exit_code == 0, r.output
    from gnnrec.serving import IndexRecommender

    model, index = gnnrec.load(run), IndexRecommender(path)
    users = model.users.original.tolist()
    exact, exact_scores = model.recommend(users, k=5)
    approx, approx_scores = index.recommend(users, k=5)
    for a, b, sa, sb in zip(exact, approx, exact_scores, approx_scores):
        assert np.array_equal(a, b)  # a small case: HNSW finds the exact neighbours too
        assert np.allclose(sa, sb, rtol=1e-4, atol=1e-4)  # and reports inner products
    r = CliRunner().invoke(cli, ["recommend", "--index", path, "--user", "103", "--user", "7",
                                 "--skip-unknown", "-k", "3"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("103: ") and "unknown user 7: skipped" in r.stderr


def test_export_formats_refuse_bad_names(run, tmp_path):
    r = CliRunner().invoke(cli, ["export", run, str(tmp_path / "x.bin")])
    assert "give --format" in one_line_error(r)
    r = CliRunner().invoke(cli, ["export", run, str(tmp_path / "x.bin"), "--format", "npy"])
    assert "needs OUTPUT ending in .npy" in one_line_error(r)
    r = CliRunner().invoke(cli, ["recommend", "--user", "1"])
    assert "give a CHECKPOINT or --index" in one_line_error(r)


def test_recommend_index_refuses_files_that_were_not_exported_together(run, tmp_path):
    pytest.importorskip("faiss")
    import shutil

    a, b = str(tmp_path / "a.faiss"), str(tmp_path / "b.faiss")
    for path, kind in ((a, "flat"), (b, "hnsw")):
        r = CliRunner().invoke(cli, ["export", run, path, "--index-type", kind, "--device",
                                     "cpu"])
        assert r.exit_code == 0, r.output
    mixed = str(tmp_path / "mixed.faiss")
    shutil.copy(b, mixed)  # another export's index beside this export's ids
    shutil.copy(a + ".npz", mixed + ".npz")
    cases = {"mixed": mixed}
    trunc = str(tmp_path / "trunc.faiss")  # a cut index
    open(trunc, "wb").write(open(a, "rb").read()[:100])
    shutil.copy(a + ".npz", trunc + ".npz")
    cases["truncated"] = trunc
    junk = str(tmp_path / "junk.faiss")  # random bytes beside a good index
    shutil.copy(a, junk)
    open(junk + ".npz", "wb").write(np.random.default_rng(0).bytes(500))
    cases["junk ids"] = junk
    partial = str(tmp_path / "partial.faiss")  # an npz missing the id maps
    shutil.copy(a, partial)
    side = dict(np.load(a + ".npz"))
    del side["item_ids"]
    np.savez(partial + ".npz", **side)
    os.replace(partial + ".npz.npz", partial + ".npz") if os.path.exists(
        partial + ".npz.npz") else None
    cases["missing ids"] = partial
    old = str(tmp_path / "old.faiss")  # an export without a fingerprint
    shutil.copy(a, old)
    side = dict(np.load(a + ".npz"))
    side["meta"] = np.array('{"cosine": false, "index_type": "flat", "max_norm": 0.0}')
    with open(old + ".npz", "wb") as f:
        np.savez(f, **side)
    cases["no fingerprint"] = old
    folder = str(tmp_path / "dir.faiss")
    os.makedirs(folder)
    cases["a folder"] = folder
    for what, path in cases.items():
        r = CliRunner().invoke(cli, ["recommend", "--index", path, "--user", "103"])
        line = one_line_error(r)
        assert r.exit_code == 2 and "bug" not in line, (what, r.output)
    assert "not exported together" in one_line_error(CliRunner().invoke(
        cli, ["recommend", "--index", mixed, "--user", "103"]))
