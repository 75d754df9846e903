"""gnnrec embeddings in someone else's PyG model.

Trains LightGCN with gnnrec (or takes a trained checkpoint), exports the
model as a PyG ``HeteroData`` (``gnnrec export --format pyg``), and trains a
heterogeneous GraphSAGE link predictor (``torch_geometric.nn.to_hetero``)
whose input features are the exported embeddings; then reports its test
AUC and a few predictions, and looks up related items by embedding
similarity.

    python examples/downstream_linkpred.py                  # bundled sample
    python examples/downstream_linkpred.py --checkpoint runs/gowalla/best.pt
"""
import argparse
import os
import tempfile

import torch
import torch.nn.functional as F
from torch_geometric.nn import SAGEConv, to_hetero
from torch_geometric.utils import negative_sampling

import gnnrec
from gnnrec.cli import main as gnnrec_main
from gnnrec.data import load_dataset
from gnnrec.data.loading import DataSpec

EDGE = ("user", "interacts", "item")


class Encoder(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.conv1 = SAGEConv((-1, -1), hidden)
        self.conv2 = SAGEConv((-1, -1), hidden)

    def forward(self, x, edge_index):
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)


def score(h, pairs):
    return (h["user"][pairs[0]] * h["item"][pairs[1]]).sum(-1)


def auc(pos, neg):
    """Probability that a positive pair outscores a negative one."""
    return float((pos.unsqueeze(1) > neg.unsqueeze(0)).float().mean())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="a gnnrec best.pt (default: train one)")
    p.add_argument("--epochs", type=int, default=30, help="epochs of the link predictor")
    p.add_argument("--workdir", default=None, help="where the run and export go")
    args = p.parse_args(argv)
    torch.manual_seed(0)
    work = args.workdir or tempfile.mkdtemp(prefix="gnnrec-example-")
    checkpoint = args.checkpoint
    if checkpoint is None:  # a short gnnrec run on the bundled sample
        run = os.path.join(work, "run")
        try:
            gnnrec_main(["-q", "train", "--epochs", "5", "--out", run, "--no-progress",
                         "--device", "cpu"])
        except SystemExit as e:
            if e.code:
                raise
        checkpoint = os.path.join(run, "best.pt")
    exported = os.path.join(work, "graph.pyg.pt")
    try:
        gnnrec_main(["-q", "export", checkpoint, exported, "--overwrite", "--device", "cpu"])
    except SystemExit as e:
        if e.code:
            raise
    data = torch.load(exported, weights_only=False)  # a HeteroData, embeddings as x

    model = gnnrec.load(checkpoint)
    saved = model.meta.get("spec", {}).get("data") or {}
    test = load_dataset(DataSpec(**saved)).edges("test")  # held-out pairs for the AUC

    gnn = to_hetero(Encoder(32), data.metadata())
    opt = torch.optim.Adam(gnn.parameters(), lr=0.01)
    train = data[EDGE].edge_index
    n_users, n_items = data["user"].num_nodes, data["item"].num_nodes
    for epoch in range(1, args.epochs + 1):
        gnn.train()
        h = gnn(data.x_dict, data.edge_index_dict)
        neg = negative_sampling(train, num_nodes=(n_users, n_items))
        pos_s, neg_s = score(h, train), score(h, neg)
        loss = F.binary_cross_entropy_with_logits(
            torch.cat([pos_s, neg_s]), torch.cat([torch.ones_like(pos_s), torch.zeros_like(neg_s)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if epoch % 10 == 0 or epoch == 1:
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}")
    gnn.eval()
    with torch.no_grad():
        h = gnn(data.x_dict, data.edge_index_dict)
        neg = torch.stack([test[0], torch.randint(n_items, (test.size(1),))])
        result = auc(score(h, test)[:2000], score(h, neg)[:2000])
    print(f"test AUC {result:.3f} ({test.size(1)} held-out pairs against random items)")
    # related items: the nearest neighbours of an item in gnnrec's embedding space
    item = data["item"].x
    sims = F.normalize(item, dim=1) @ F.normalize(item[:1], dim=1).t()
    related = sims.squeeze(1).topk(4).indices[1:]
    ids = data["item"].original_id
    print(f"items related to item {ids[0]}: {[ids[i] for i in related.tolist()]}")
    return result


if __name__ == "__main__":
    main()
