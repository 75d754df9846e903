import pytest
import torch

from gnnrec.nn import MF, LightGCN
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


@pytest.mark.parametrize("encoder", [MF, LightGCN])
def test_xavier_init_bounds_each_table_by_its_own_size(encoder):
    # the AHNS authors' initialisation: xavier_uniform_ on the user and the item table apart
    torch.manual_seed(0)
    enc = encoder(3000, 200, embedding_dim=64, init="xavier")
    users, items = enc.embedding.weight[:3000], enc.embedding.weight[3000:]
    for table, n in ((users, 3000), (items, 200)):
        bound = (6 / (n + 64)) ** 0.5
        assert float(table.abs().max()) <= bound
        assert float(table.abs().max()) > 0.95 * bound  # uniform, reaching its bound
        assert float(table.std()) == pytest.approx(bound / 3 ** 0.5, rel=0.05)
    assert enc.options()["init"] == "xavier"
    with pytest.raises(ValueError, match="init must be normal or xavier"):
        encoder(3, 3, init="he")
