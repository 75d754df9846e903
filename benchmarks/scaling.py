"""How memory and time grow with the graph (docs/scaling.rst).

    python benchmarks/scaling.py --data ../shared/data/gowalla \
        --out benchmarks/results/scaling_cpu.json

Every size runs in a fresh process (so its peak resident set is its own):
the graph (synthetic power-law graphs of 10^5 .. 10^7 interactions, 20
interactions per user and 40 per item on average, two denser ones at 100 and
200, and Gowalla's k-cores),
LightGCN (dim 64, 3 layers) with BPR + RNS, batch 2048. Recorded: the
process's resident memory after the data, after building the model and
adjacency, its peak over evaluating four batches of users (full ranking; measured
first, as an allocator keeps freed pages resident), and its peak over
``--steps`` training steps (after one warm-up step); the mean seconds of a
training step, the fastest of two propagations evaluation starts with, and of
ranking all items for one user; and the bytes of the model's own tensors (embedding
table, Adam moments, gradient; the adjacency's CSR blocks; the positive
sets), which a GPU holds too.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

SYNTH = [10 ** 5, 3 * 10 ** 5, 10 ** 6, 3 * 10 ** 6, 10 ** 7]
DENSE = [10 ** 6, 3 * 10 ** 6]
CORES = [30, 20, 0]


def rss_mb(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def tensor_mb(*tensors):
    return sum(t.numel() * t.element_size() for t in tensors) / 2 ** 20


def one(args):
    """Measures one size in this process; prints a JSON line."""
    import torch

    from gnnrec.data import RecGraph, load_dataset
    from gnnrec.data.synthetic import synthesize
    from gnnrec.metrics import EvalProtocol
    from gnnrec.spec import RunSpec

    torch.set_num_threads(args.threads)
    base = rss_mb()
    if args.kind == "synth":
        e, deg = args.size, args.degree
        d = synthesize(max(e // deg, 10), max(e // (2 * deg), 10), e, seed=0)
        num_users, num_items = int(d["user"].max()) + 1, int(d["item"].max()) + 1
        key = torch.unique(torch.as_tensor(d["user"]) * num_items + torch.as_tensor(d["item"]))
        user, item = key // num_items, key % num_items  # repeated pairs dropped
        graph = RecGraph(user, item, num_users, num_items)
        protocol = None
        label = f"synthetic {e:.0e}, {deg}/user"
    else:
        ds = load_dataset(path=args.data, k_core=args.size, val_frac=0)
        graph = RecGraph.from_dataset(ds)
        num_users, num_items = ds.num_users, ds.num_items
        protocol = EvalProtocol.from_dataset(ds, "cpu", ks=[20])
        label = f"gowalla {args.size}-core" if args.size else "gowalla"
    data_mb = rss_mb() - base
    spec = RunSpec(trainer={"batch_size": 2048, "epochs": 10}).validate()
    objective = spec.build(num_users, num_items)
    trainer = spec.trainer_for(objective, graph)
    adj = graph.adjacency("csr")
    built_mb = rss_mb() - base
    reset_peak()
    chunk = max(1, 2 ** 21 // num_items)  # the evaluator's CPU batch of users
    objective.model.ranker()  # the first builds the CSR blocks (inside the peak)
    embed_s = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        scores = objective.model.ranker()  # one propagation, shared by every batch
        embed_s = min(embed_s, time.perf_counter() - start)
    users = torch.arange(min(num_users, 4 * chunk))
    start = time.perf_counter()
    for batch in users.split(chunk):
        top = torch.topk(scores(batch), 20, dim=1).indices  # what evaluation does per batch
    eval_user_s = (time.perf_counter() - start) / len(users)
    eval_peak_mb = rss_mb("VmHWM") - base
    del top
    reset_peak()
    trainer.train_epoch(1, max_batches=1)  # warm-up (Adam state, allocator)
    start = time.perf_counter()
    logs = trainer.train_epoch(2, max_batches=args.steps)
    step_s = (time.perf_counter() - start) / max(logs["batches"], 1)
    train_peak_mb = rss_mb("VmHWM") - base
    weight = objective.encoder.embedding.weight
    opt_state = [t for s in trainer.optimizer.state.values() for t in s.values()
                 if torch.is_tensor(t)]
    model_mb = tensor_mb(weight, *opt_state) + tensor_mb(weight)  # + its gradient
    pos = graph.positives
    e = graph.num_edges  # + two CSR blocks: crow (int64), col (int64), value (float32)
    graph_mb = tensor_mb(adj.user, adj.item, adj.value, pos.keys, pos.col, pos.rowptr,
                         pos._gap_keys) + (2 * 20 * e + 8 * (num_users + num_items + 2)) / 2 ** 20
    print(json.dumps({"label": label, "users": num_users, "items": num_items,
                      "edges": graph.num_edges, "data_mb": data_mb, "built_mb": built_mb,
                      "train_peak_mb": train_peak_mb, "eval_peak_mb": eval_peak_mb,
                      "model_tensors_mb": model_mb, "graph_tensors_mb": graph_mb,
                      "step_seconds": step_s, "embed_seconds": embed_s,
                      "eval_seconds_per_user": eval_user_s,
                      "threads": args.threads, "protocol": protocol is not None}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "gowalla"))
    p.add_argument("--out", default=None)
    p.add_argument("--steps", type=int, default=4, help="training steps measured per size")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default=",".join(map(str, SYNTH)),
                   help="synthetic interaction counts")
    p.add_argument("--dense-sizes", default=",".join(map(str, DENSE)),
                   help="synthetic interaction counts at 100 per user, 200 per item "
                        "(separates the per-node from the per-interaction cost)")
    p.add_argument("--cores", default=",".join(map(str, CORES)),
                   help="Gowalla k-cores (0: the whole split)")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        args.kind, size, degree = args.one.split(":")
        args.size, args.degree = int(size), int(degree)
        return one(args)
    jobs = [f"synth:{s}:20" for s in args.sizes.split(",") if s] + \
        [f"synth:{s}:100" for s in args.dense_sizes.split(",") if s] + \
        [f"core:{c}:0" for c in args.cores.split(",") if c]
    rows = []
    for job in jobs:
        r = subprocess.run([sys.executable, __file__, "--one", job, "--data", args.data,
                            "--steps", str(args.steps), "--threads", str(args.threads)],
                           capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-2000:], file=sys.stderr)
            continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    fits = {key: fit_memory(rows, key) for key in ("train_peak_mb", "eval_peak_mb")}
    for key, fit in fits.items():
        if fit:
            print("{}: {:.0f} MB + {:.0f} B/node + {:.0f} B/interaction".format(key, *fit))
    if args.out:
        with open(args.out, "w") as f:
            from gnnrec.bench import provenance

            json.dump({**provenance("cpu"), "machine": platform.node(),
                       "python": sys.version.split()[0],
                       "rows": rows, "fits (MB, bytes/node, bytes/interaction)": fits,
                       "args": vars(args)}, f, indent=2)


def fit_memory(rows, key):
    """Least squares ``MB = a + b * nodes + c * edges`` over the rows
    (``(a, b_bytes, c_bytes)``), or None with fewer than 3 rows."""
    import torch

    if len(rows) < 3:
        return None
    x = torch.tensor([[1.0, r["users"] + r["items"], r["edges"]] for r in rows],
                     dtype=torch.float64)
    y = torch.tensor([r[key] for r in rows], dtype=torch.float64)
    a, b, c = torch.linalg.lstsq(x, y[:, None]).solution[:, 0].tolist()
    return a, b * 2 ** 20, c * 2 ** 20


if __name__ == "__main__":
    main()
