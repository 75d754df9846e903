import torch

from gnnrec.nn import MF
from tests.conftest import random_graph
from tests.nn.encoder_contract import EncoderContract


class TestMF(EncoderContract):
    cls = MF
    options = {"embedding_dim": 5}


def test_mf_is_the_embedding_table():
    g = random_graph(4, 5, 0.5)
    enc = MF(4, 5, embedding_dim=3)
    user, item = enc(g)
    assert torch.equal(user, enc.embedding.weight[:4])
    assert torch.equal(item, enc.embedding.weight[4:])
