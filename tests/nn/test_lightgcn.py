import pytest
import torch

from gnnrec.errors import GnnrecError
from gnnrec.nn import MODELS, LightGCN
from gnnrec.registry import resolve
from tests.conftest import random_graph
from tests.nn.encoder_contract import EncoderContract


class TestLightGCN(EncoderContract):
    cls = LightGCN
    options = {"embedding_dim": 5, "num_layers": 3}


class TestLightGCNWeighted(EncoderContract):
    cls = LightGCN
    options = {"embedding_dim": 4, "num_layers": 2, "alpha": [0.5, 0.3, 0.2]}


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_equals_pyg_lightgcn_given_same_weights(layers):
    from torch_geometric.nn.models import LightGCN as PyGLightGCN

    g = random_graph(9, 12, 0.3, seed=4)
    ours = LightGCN(9, 12, embedding_dim=6, num_layers=layers)
    theirs = PyGLightGCN(21, 6, layers)
    theirs.embedding.weight.data.copy_(ours.embedding.weight.data)
    ei = torch.cat([torch.stack([g.user, g.item + 9]), torch.stack([g.item + 9, g.user])], 1)
    want = theirs.get_embedding(ei)
    user, item = ours(g)
    assert torch.allclose(torch.cat([user, item]), want, atol=1e-5)


def test_default_layer_weights_are_the_mean():
    assert LightGCN(2, 2, num_layers=3).alpha == [0.25] * 4


def test_bad_options_are_user_errors():
    with pytest.raises(GnnrecError, match="alpha needs 3 weights"):
        resolve(MODELS, "lightgcn", 2, 2, what="model", num_layers=2, alpha=[1.0])
    with pytest.raises(GnnrecError, match="unknown model 'gcn'"):
        resolve(MODELS, "gcn", 2, 2, what="model")
