"""One behaviour contract every encoder passes (subclass it in five lines)."""
import torch

from gnnrec.data.dataset import EDGE, ITEM, REV_EDGE, USER
from tests.conftest import random_graph


class EncoderContract:
    #: the encoder class under test and its constructor options
    cls = None
    options = {}

    def make(self, g, seed=0):
        torch.manual_seed(seed)
        return self.cls(g.num_users, g.num_items, **self.options)

    def test_shapes_and_pooling(self):
        g = random_graph(6, 8, 0.4)
        enc = self.make(g).eval()
        out = enc.encode(g)
        user, item = enc(g)
        assert user.shape[0] == 6 and item.shape[0] == 8 and user.shape[1] == item.shape[1]
        assert torch.allclose(out.user, user) and torch.allclose(out.item, item)
        stack = out.item_layers(torch.arange(8))
        assert torch.allclose(enc.pool(stack), item, atol=1e-6)
        assert torch.equal(out.ego, enc.embedding.weight)

    def test_accepts_heterodata(self):
        from torch_geometric.data import HeteroData

        g = random_graph(6, 8, 0.4)
        data = HeteroData()
        data[USER].num_nodes, data[ITEM].num_nodes = 6, 8
        data[EDGE].edge_index = torch.stack([g.user, g.item])
        data[REV_EDGE].edge_index = torch.stack([g.item, g.user])
        enc = self.make(g).eval()
        a = enc(data)
        b = enc(g)
        assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])

    def test_gradient_reaches_every_parameter(self):
        g = random_graph(6, 8, 0.4)
        enc = self.make(g).train()
        user, item = enc(g)
        (user.sum() + item.pow(2).sum()).backward()
        for name, p in enc.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name

    def test_seeded_and_state_dict_round_trip(self):
        g = random_graph(6, 8, 0.4)
        a, b = self.make(g, seed=1).eval(), self.make(g, seed=1).eval()
        assert torch.equal(a(g)[0], b(g)[0])
        c = self.make(g, seed=2).eval()
        c.load_state_dict(a.state_dict())
        assert torch.equal(a(g)[1], c(g)[1])

    def test_accepts_pyg_edge_index_edgeindex_and_sparsetensor(self):
        from torch_geometric import EdgeIndex

        g = random_graph(6, 8, 0.4)
        enc = self.make(g).eval()
        want = enc(g)
        bipartite = torch.stack([g.user, g.item])
        homogeneous = torch.cat([torch.stack([g.user, g.item + 6]),
                                 torch.stack([g.item + 6, g.user])], 1)
        inputs = [bipartite, homogeneous, EdgeIndex(bipartite, sparse_size=(6, 8)),
                  EdgeIndex(homogeneous, sparse_size=(14, 14))]
        try:
            from torch_sparse import SparseTensor

            inputs.append(SparseTensor(row=g.user, col=g.item, sparse_sizes=(6, 8)))
        except ImportError:
            pass
        for graph in inputs:
            got = enc(graph)
            assert torch.allclose(got[0], want[0], atol=1e-6)
            assert torch.allclose(got[1], want[1], atol=1e-6)
