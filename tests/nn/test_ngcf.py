import torch
import torch.nn.functional as F

from gnnrec.nn import NGCF
from tests.conftest import dense_reference, random_graph
from tests.nn.encoder_contract import EncoderContract


class TestNGCF(EncoderContract):
    cls = NGCF
    options = {"embedding_dim": 4, "layer_sizes": [4, 4], "mess_dropout": 0.0}


def test_ngcf_equals_dense_reference_of_eq7():
    g = random_graph(7, 9, 0.35, seed=6)
    torch.manual_seed(0)
    enc = NGCF(7, 9, embedding_dim=5, layer_sizes=[5, 5], mess_dropout=0.0).eval()
    lap = dense_reference(g)
    eye = torch.eye(16)
    x = enc.embedding.weight.detach()
    outs = [x]
    for w1, w2 in zip(enc.W1, enc.W2):
        # E' = LeakyReLU((L + I) E W1 + b1 + (L E * E) W2 + b2)
        x = F.leaky_relu((lap + eye) @ x @ w1.weight.t() + w1.bias
                         + ((lap @ x) * x) @ w2.weight.t() + w2.bias, 0.2)
        outs.append(F.normalize(x, dim=1))
    want = torch.cat(outs, dim=1)
    user, item = enc(g)
    assert torch.allclose(torch.cat([user, item]), want, atol=1e-5)


def test_ngcf_dropout_only_in_training():
    g = random_graph(7, 9, 0.35, seed=6)
    enc = NGCF(7, 9, embedding_dim=4, layer_sizes=[4], mess_dropout=0.5, node_dropout=0.5)
    enc.eval()
    a, b = enc(g)[0], enc(g)[0]
    assert torch.equal(a, b)
    enc.train()
    torch.manual_seed(0)
    c = enc(g)[0]
    torch.manual_seed(1)
    d = enc(g)[0]
    assert not torch.equal(c, d)
