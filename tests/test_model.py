"""The model object: scoring, the embedding cache, checkpoints (also format 1)."""
import numpy as np
import pytest
import torch

from gnnrec.model import RecModel
from gnnrec.nn import NGCF, LightGCN
from gnnrec.nn.scorers import Cosine
from tests.conftest import random_graph


def test_score_all_follows_the_parameters():
    g = random_graph(6, 9, 0.4)
    torch.manual_seed(0)
    model = RecModel(LightGCN(6, 9, embedding_dim=4, num_layers=2), "dot", graph=g)
    before = model.score_all(torch.arange(6)).clone()
    user, item = model.embeddings()
    assert torch.allclose(before, user @ item.t(), atol=1e-6)
    opt = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    model.encode().pooled.pow(2).sum().backward()
    opt.step()  # an in-place update must invalidate the cached embeddings
    after = model.score_all(torch.arange(6))
    assert not torch.allclose(before, after)
    user, item = model.embeddings()
    assert torch.allclose(after, user @ item.t(), atol=1e-6)


def test_embeddings_are_kept_until_parameters_or_graph_change():
    g, h = random_graph(6, 9, 0.4, seed=1), random_graph(6, 9, 0.4, seed=2)
    torch.manual_seed(0)
    model = RecModel(LightGCN(6, 9, embedding_dim=4, num_layers=2), "dot", graph=g).eval()
    first = model.embeddings()
    assert model.embeddings()[0] is first[0]  # kept: one user a call costs no propagation
    assert model.train().embeddings()[0] is not model.embeddings()[0]  # not while training
    model.eval()
    other = RecModel(LightGCN(6, 9, embedding_dim=4, num_layers=2), "dot", graph=g)
    model.load_state_dict(other.state_dict())
    loaded = model.embeddings()
    assert torch.allclose(loaded[0], other.embeddings()[0])
    assert not torch.allclose(loaded[0], first[0])
    model.bind(h)
    assert torch.allclose(model.embeddings()[1], model.encoder.encode(h).item)
    assert not torch.allclose(model.embeddings()[1], loaded[1])


def test_eval_mode_embeddings_while_training():
    g = random_graph(6, 9, 0.4)
    torch.manual_seed(0)
    enc = NGCF(6, 9, embedding_dim=4, layer_sizes=[4], mess_dropout=0.5)
    model = RecModel(enc, graph=g).train()
    a, b = model.embeddings()[0], model.embeddings()[0]
    assert torch.equal(a, b) and model.training  # no dropout, mode restored
    enc.eval()
    assert torch.allclose(a, enc(g)[0])


def test_cosine_scorer_ranks_by_cosine():
    g = random_graph(5, 8, 0.4)
    model = RecModel(LightGCN(5, 8, embedding_dim=3, num_layers=1), "cosine", graph=g)
    assert isinstance(model.scorer, Cosine)
    u, i = model.embeddings()
    want = torch.nn.functional.normalize(u, dim=1) @ torch.nn.functional.normalize(i, dim=1).t()
    assert torch.allclose(model.score_all(torch.arange(5)), want, atol=1e-6)
    assert torch.allclose(model.score(torch.arange(5), torch.zeros(5, dtype=torch.long)),
                          want[:, 0], atol=1e-6)


def test_checkpoint_round_trip_with_a_modulated_scorer():
    g = random_graph(5, 8, 0.4)
    torch.manual_seed(0)
    model = RecModel(LightGCN(5, 8, embedding_dim=3, num_layers=1), "modulated", graph=g)
    ckpt = model.checkpoint(epoch=4)
    back = RecModel.from_checkpoint(ckpt)
    assert back.meta["epoch"] == 4 and back.fingerprint == model.fingerprint
    assert torch.allclose(back.score_all(torch.arange(5)), model.score_all(torch.arange(5)))


def test_format_1_checkpoints_still_load():
    # the layout sessions 1-3 wrote: model_spec + separate encoder / scorer states
    g = random_graph(5, 8, 0.4)
    torch.manual_seed(0)
    enc = LightGCN(5, 8, embedding_dim=3, num_layers=1)
    v1 = {"format": "gnnrec-checkpoint", "version": 1,
          "model_spec": {"name": "lightgcn", "options": {"embedding_dim": 3, "num_layers": 1}},
          "num_users": 5, "num_items": 8,
          "train_edges": torch.stack([g.user, g.item]).int(),
          "users": {"original": list(range(5)), "kind": "i"},
          "items": {"original": list(range(8)), "kind": "i"},
          "fingerprint": g.fingerprint(),
          "model": {"epoch": 7, "encoder": enc.state_dict(),
                    "scorer": {"name": "cosine", "dim": 3, "state": {}}}}
    model = RecModel.from_checkpoint(v1)
    assert isinstance(model.scorer, Cosine) and model.meta["epoch"] == 7
    assert torch.equal(model.encoder.embedding.weight, enc.embedding.weight)
    items, _ = model.recommend([0, 1], k=3)
    assert [len(x) for x in items] == [3, 3] and all(np.all(x < 8) for x in items)


def test_bind_refuses_a_graph_of_another_size():
    model = RecModel(LightGCN(5, 8, embedding_dim=3))
    with pytest.raises(ValueError, match="encoder 5 / 8"):
        model.bind(random_graph(6, 8, 0.4))
