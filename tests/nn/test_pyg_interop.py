"""gnnrec's encoders inside someone else's PyG model, trained end to end."""
import torch
from torch_geometric.nn import SAGEConv

from gnnrec.nn import LightGCN
from tests.conftest import random_graph


class LinkModel(torch.nn.Module):
    """LightGCN embeddings refined by a PyG SAGEConv, scoring user-item pairs."""

    def __init__(self, num_users, num_items):
        super().__init__()
        self.num_users = num_users
        self.gnn = LightGCN(num_users, num_items, embedding_dim=16, num_layers=2)
        self.conv = SAGEConv(16, 8)

    def forward(self, edge_index, pairs):
        user, item = self.gnn(edge_index)  # the homogeneous PyG edge_index, as is
        h = self.conv(torch.cat([user, item]), edge_index)
        return (h[pairs[0]] * h[pairs[1] + self.num_users]).sum(-1)


def test_lightgcn_trains_end_to_end_under_a_pyg_layer():
    g = random_graph(12, 15, 0.3, seed=4)
    U = g.num_users
    edge_index = torch.cat([torch.stack([g.user, g.item + U]), torch.stack([g.item + U, g.user])],
                           1)
    torch.manual_seed(0)
    model = LinkModel(U, g.num_items)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    pos = torch.stack([g.user, g.item])
    neg = torch.stack([g.user, torch.randint(g.num_items, (g.num_edges,))])
    losses = []
    for _ in range(30):
        score = model(edge_index, torch.cat([pos, neg], 1))
        target = torch.cat([torch.ones(g.num_edges), torch.zeros(g.num_edges)])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(score, target)
        opt.zero_grad()
        loss.backward()
        grad = model.gnn.embedding.weight.grad
        assert grad is not None and grad.abs().sum() > 0  # gradients reach gnnrec's embeddings
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0] - 0.1
    # the adjacency was built once: the cached graph is reused across steps
    assert model.gnn._graph_cache is not None
