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
