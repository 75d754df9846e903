"""gnnrec LightGCN against PyG's own LightGCN, same data, same run.

Both train LightGCN (dim 64, 3 layers) with BPR on the same Gowalla split,
batch 2048, Adam lr 1e-3, the same initial embeddings, the same batch order
and the same negatives (gnnrec's exact RNS), for the same number of epochs;
each epoch is timed (training only, device synchronised) and both are
evaluated with the same full-ranking evaluator (Recall@20, NDCG@20 on the
test file, training items masked).

Systems:
  gnnrec      gnnrec.nn.LightGCN + gnnrec's Trainer step (BPR + its L2 form)
  pyg         torch_geometric.nn.models.LightGCN on the homogeneous
              edge_index, with its recommendation_loss (lambda 1e-4 on the
              batch's unique nodes), as PyG's examples/lightgcn.py does
  pyg-sparse  the same PyG model given a torch_sparse.SparseTensor adj_t
              (needs torch-sparse)
  (--pyg-loss gnnrec trains the PyG peers with gnnrec's BPR + L2 form instead,
   so that only the propagation code differs)
  csr-autograd  a bare loop: E_{k+1} = A_csr @ E_k with torch.sparse CSR,
              autograd differentiating through the sparse product

Usage:
  python benchmarks/lightgcn_vs_pyg.py --data ../shared/data/gowalla \
      --epochs 2 --systems gnnrec,pyg --device cpu --out benchmarks/results/cpu.json
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from gnnrec.bench import provenance  # noqa: E402
from gnnrec.data import RecGraph, load_dataset  # noqa: E402
from gnnrec.data.adjacency import normalized_adjacency_coo  # noqa: E402
from gnnrec.losses import BPR  # noqa: E402
from gnnrec.metrics import EvalProtocol, dot_scores  # noqa: E402
from gnnrec.model import RecModel  # noqa: E402
from gnnrec.nn import LightGCN  # noqa: E402
from gnnrec.sampling import RNS  # noqa: E402
from gnnrec.train import EdgeBatches, Objective  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bpr_l2(pooled, ego, users, items, negs, num_users, reg):
    """gnnrec's objective on any embeddings: mean BPR + reg/2 * sum ||e0||^2 / B."""
    U = num_users
    u, p, n = pooled[users], pooled[items + U], pooled[negs + U]
    loss = torch.nn.functional.softplus((u * n).sum(1) - (u * p).sum(1)).mean()
    sq = ego[users].pow(2).sum() + ego[items + U].pow(2).sum() + ego[negs + U].pow(2).sum()
    return loss + reg * 0.5 * sq / len(users)


class System:
    """One trainable set-up: ``loss`` of a batch, a shared optimiser step."""
    name = ""

    def step(self, users, items, negs):
        loss = self.loss(users, items, negs)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()


class FixedRNS(RNS):
    """RNS that returns the shared negatives of this step."""
    fixed = None

    def sample(self, users, pos_items, out, generator=None):
        return self.pack(self.fixed.unsqueeze(1), out, users, pos_items)


class GnnrecSystem(System):
    name = "gnnrec"

    def __init__(self, ds, graph, init, args):
        enc = LightGCN(ds.num_users, ds.num_items, embedding_dim=args.dim, num_layers=args.layers)
        enc.embedding.weight.data.copy_(init)
        self.model = RecModel(enc, "dot")
        self.objective = Objective(self.model, FixedRNS(), BPR(),
                                   reg_weight=args.reg).to(graph.device)
        self.objective.bind(graph)
        self.opt = torch.optim.Adam(self.objective.parameters(), lr=args.lr, fused=True)
        self.graph = graph

    def loss(self, users, items, negs):
        # the same negatives as the peers: the sampler returns the shared draw
        self.objective.sampler.fixed = negs
        return self.objective(self.graph, users, items)[0]

    def embeddings(self):
        return self.model.embeddings()


class PyGSystem(System):
    name = "pyg"

    def __init__(self, ds, graph, init, args, sparse=False):
        from torch_geometric.nn.models import LightGCN as PyGLightGCN

        U = ds.num_users
        self.U = U
        self.model = PyGLightGCN(U + ds.num_items, args.dim, args.layers).to(graph.device)
        self.model.embedding.weight.data.copy_(init)
        ei = torch.cat([torch.stack([graph.user, graph.item + U]),
                        torch.stack([graph.item + U, graph.user])], 1)
        if sparse:
            from torch_sparse import SparseTensor

            n = U + ds.num_items
            self.edge = SparseTensor(row=ei[0], col=ei[1], sparse_sizes=(n, n)).t()
            self.name = "pyg-sparse"
        else:
            self.edge = ei
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr)
        self.reg, self.own_loss = args.reg, args.pyg_loss == "pyg"

    def loss(self, users, items, negs):
        if not self.own_loss:  # gnnrec's BPR + L2 form on PyG's embeddings
            pooled = self.model.get_embedding(self.edge)
            return bpr_l2(pooled, self.model.embedding.weight, users, items, negs, self.U,
                          self.reg)
        U = self.U
        eli = torch.cat([torch.stack([users, items + U]), torch.stack([users, negs + U])], 1)
        pos_rank, neg_rank = self.model(self.edge, eli).chunk(2)
        return self.model.recommendation_loss(pos_rank, neg_rank, node_id=eli.unique(),
                                              lambda_reg=self.reg)

    @torch.no_grad()
    def embeddings(self):
        emb = self.model.get_embedding(self.edge)
        return emb[:self.U], emb[self.U:]


class CsrAutogradSystem(System):
    name = "csr-autograd"

    def __init__(self, ds, graph, init, args):
        n = ds.num_users + ds.num_items
        idx, val = normalized_adjacency_coo(graph.user, graph.item, ds.num_users, ds.num_items)
        self.A = torch.sparse_coo_tensor(idx, val, (n, n)).coalesce().to_sparse_csr()
        self.emb = torch.nn.Parameter(init.clone())
        self.layers, self.U, self.reg = args.layers, ds.num_users, args.reg
        self.opt = torch.optim.Adam([self.emb], lr=args.lr)

    def forward(self):
        x, out = self.emb, self.emb / (self.layers + 1)
        for _ in range(self.layers):
            x = self.A @ x
            out = out + x / (self.layers + 1)
        return out

    def loss(self, users, items, negs):
        return bpr_l2(self.forward(), self.emb, users, items, negs, self.U, self.reg)

    @torch.no_grad()
    def embeddings(self):
        out = self.forward()
        return out[:self.U], out[self.U:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "gowalla"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--systems", default="gnnrec,pyg")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--reg", type=float, default=1e-4)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--eval-every", type=int, default=1)
    p.add_argument("--seed", type=int, default=2020)
    p.add_argument("--pyg-loss", choices=["pyg", "gnnrec"], default="pyg",
                   help="pyg: PyG's recommendation_loss (its L2 form); gnnrec: the same BPR "
                        "and L2 form as gnnrec, so only the propagation differs")
    p.add_argument("--out", default=None, help="JSON file for the per-epoch records")
    args = p.parse_args(argv)

    device = torch.device(args.device)
    ds = load_dataset(path=args.data, split="given", val_frac=0)
    graph = RecGraph.from_dataset(ds, device)
    protocol = EvalProtocol.from_dataset(ds, device, ks=[20])
    torch.manual_seed(args.seed)
    init = torch.empty(ds.num_users + ds.num_items, args.dim).normal_(std=0.1).to(device)
    systems = []
    for name in args.systems.split(","):
        if name == "gnnrec":
            s = GnnrecSystem(ds, graph, init, args)
        elif name == "pyg":
            s = PyGSystem(ds, graph, init, args)
        elif name == "pyg-sparse":
            s = PyGSystem(ds, graph, init, args, sparse=True)
        elif name == "csr-autograd":
            s = CsrAutogradSystem(ds, graph, init, args)
        else:
            raise SystemExit(f"unknown system {name}")
        systems.append(s)

    info = {**provenance(args.device), "machine": platform.node(),
            "cpu_threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "python": sys.version.split()[0],
            "users": ds.num_users, "items": ds.num_items, "train": graph.num_edges,
            "args": vars(args)}
    print(json.dumps(info))
    batches = EdgeBatches(graph, args.batch_size)
    records = []
    for epoch in range(1, args.epochs + 1):
        # the same batches and negatives for every system, drawn once per epoch
        gen = torch.Generator(device=device).manual_seed(args.seed * 1000 + epoch)
        plan = []
        for users, items in batches(gen):
            negs = graph.positives.sample_complement(users, 1, gen).squeeze(1)
            plan.append((users, items, negs))
        for s in systems:
            sync(device)
            t = time.perf_counter()
            total = torch.zeros((), device=device)
            for users, items, negs in plan:
                total += s.step(users, items, negs)
            sync(device)
            seconds = time.perf_counter() - t
            rec = {"system": s.name, "epoch": epoch, "seconds": seconds,
                   "loss": float(total) / len(plan)}
            if epoch % args.eval_every == 0 or epoch == args.epochs:
                user_emb, item_emb = s.embeddings()
                res = protocol.evaluate(dot_scores(user_emb, item_emb), "test")
                rec.update({"recall@20": res["recall@20"], "ndcg@20": res["ndcg@20"]})
            records.append(rec)
            print(json.dumps(rec), flush=True)
    summary = {}
    for s in systems:
        mine = [r for r in records if r["system"] == s.name]
        secs = sorted(r["seconds"] for r in mine)
        summary[s.name] = {"median_epoch_seconds": secs[len(secs) // 2],
                           "final": {k: mine[-1].get(k) for k in ("recall@20", "ndcg@20")}}
    base = summary.get("pyg", {}).get("median_epoch_seconds")
    for name, v in summary.items():
        if base:
            v["time_vs_pyg"] = v["median_epoch_seconds"] / base
    print(json.dumps({"summary": summary}, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"info": info, "records": records, "summary": summary}, f, indent=2)


if __name__ == "__main__":
    main()
