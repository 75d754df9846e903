"""Accuracy curves of several training set-ups at equal epochs, in one run.

Each run is MODEL:SAMPLER:LOSS[:NAME.KEY=VALUE;...] (SAMPLER '-' for in-batch
losses; the optional fourth field sets options for that run only). All runs
share the data, the split, the seed, batch size, learning rate and L2; only
what the run names differs (plus --opt NAME.KEY=VALUE for a component's own
hyperparameters). Every --eval-every epochs each run is evaluated on the
validation split (carved out of train, 10% per user) and on the test split;
the record has per-epoch loss, seconds, negative hardness and both metric
sets. The summary reports, per run, the best test Recall@20/NDCG@20 over
the curve, the test value at the best-validation epoch (honest model
selection), the last value, and the epochs to reach a target recall.

Example (issue 3's sampler comparison):
  python benchmarks/curves.py --data ../shared/data/gowalla --epochs 100 \
      --runs lightgcn:rns:bpr,lightgcn:dns:bpr,lightgcn:mixgcf:bpr,lightgcn:pdns:bpr,\
lightgcn:ahns:bpr \
      --out benchmarks/results/samplers_lightgcn.json
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
from gnnrec.metrics import EvalProtocol  # noqa: E402
from gnnrec.registry import parse_named_options  # noqa: E402
from gnnrec.spec import REGISTRIES, SKIP, RunSpec  # noqa: E402


def parse_runs(text):
    runs = []
    for spec in text.split(","):
        model, sampler, loss, *extra = spec.split(":")
        opts = [o for o in extra[0].split(";") if o] if extra else []
        runs.append((spec, model, None if sampler == "-" else sampler, loss, opts))
    return runs


def parse_opts(pairs):
    return parse_named_options(pairs, REGISTRIES, skip=SKIP)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="dataset path (default: bundled sample)")
    p.add_argument("--k-core", type=int, default=0, help="k-core filter before splitting (0: none)")
    p.add_argument("--val-frac", type=float, default=0.1,
                   help="share of each user's training items carved out as validation")
    p.add_argument("--runs", default=None,
                   help="comma-separated MODEL:SAMPLER:LOSS[:NAME.KEY=V;...] "
                        "(SAMPLER - for in-batch)")
    p.add_argument("--opt", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="an option of a named model, sampler or loss, for every run; repeatable")
    p.add_argument("--epochs", type=int, default=100, help="epochs of every run")
    p.add_argument("--eval-every", type=int, default=5,
                   help="evaluate validation and test every N epochs")
    p.add_argument("--batch-size", type=int, default=2048, help="interactions per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--reg", type=float, default=1e-4,
                   help="L2 weight, lambda/2 * sum ||e0||^2 / B")
    p.add_argument("--dim", type=int, default=64, help="embedding size")
    p.add_argument("--layers", type=int, default=3, help="propagation layers")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of initialisation (the same for every run), batches, negatives")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--target-recall", type=float, default=None,
                   help="report the first epoch each run reaches this test Recall@20")
    p.add_argument("--out", default=None,
                   help="results JSON, rewritten after every evaluation epoch")
    p.add_argument("--from-log", default=None, metavar="LOG",
                   help="rebuild --out from the JSON lines of an earlier (perhaps "
                        "interrupted) run's stdout instead of training")
    args = p.parse_args(argv)
    if args.from_log:
        if not args.out:
            p.error("--from-log needs --out")
        return from_log(args.from_log, args.out, args.target_recall)

    if not args.runs:
        p.error("--runs is required")
    device = torch.device(args.device)
    ds = load_dataset(path=args.data, k_core=args.k_core, val_frac=args.val_frac)
    graph = RecGraph.from_dataset(ds, device)
    protocol = EvalProtocol.from_dataset(ds, device, ks=[20])
    shared = parse_opts(args.opt)
    info = {**provenance(str(device)), "machine": platform.node(), "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "torch": torch.__version__, "python": sys.version.split()[0],
            "dataset": ds.name, "users": ds.num_users, "items": ds.num_items,
            "train": graph.num_edges, "notes": ds.notes, "args": vars(args)}
    print(json.dumps(info), flush=True)

    runs = []
    for name, model, sampler, loss, run_opts in parse_runs(args.runs):
        options = {k: dict(v) for k, v in shared.items()}
        for comp, extra in parse_opts(run_opts).items():
            options.setdefault(comp, {}).update(extra)
        spec, = RunSpec.grid([model], [sampler], [loss], options, dim=args.dim,
                             layers=None if model == "mf" else args.layers,
                             trainer={"epochs": args.epochs, "batch_size": args.batch_size,
                                      "lr": args.lr, "seed": args.seed},
                             objective={"reg_weight": args.reg})
        # the same initial embeddings for every run: build() seeds with args.seed
        trainer = spec.trainer_for(spec.build(ds.num_users, ds.num_items, device), graph)
        runs.append({"name": name, "trainer": trainer, "records": []})

    for epoch in range(1, args.epochs + 1):
        for run in runs:
            trainer = run["trainer"]
            logs = trainer.train_epoch(epoch)
            trainer.epoch = epoch
            rec = {"epoch": epoch, "seconds": logs["train_seconds"], "loss": logs["loss"],
                   "hardness": logs.get("hardness")}
            if epoch % args.eval_every == 0 or epoch == args.epochs:
                t = time.perf_counter()
                score_fn = trainer.objective.model.ranker()
                for fold in ("val", "test"):
                    res = protocol.evaluate(score_fn, fold)
                    rec[f"{fold}/recall@20"] = res["recall@20"]
                    rec[f"{fold}/ndcg@20"] = res["ndcg@20"]
                rec["eval_seconds"] = time.perf_counter() - t
            run["records"].append(rec)
            print(json.dumps({"run": run["name"], **rec}), flush=True)
        if "eval_seconds" in runs[-1]["records"][-1] and epoch < args.epochs:
            write_results(args.out, info, {r["name"]: r["records"] for r in runs},
                          args.target_recall)

    write_results(args.out, info, {r["name"]: r["records"] for r in runs},
                  args.target_recall, final=True)


def summarize(records, target_recall=None):
    """Best / at-best-validation / last test figures of one run's records."""
    evals = [r for r in records if "test/recall@20" in r]
    if not evals:
        return None
    best_test = max(evals, key=lambda r: r["test/recall@20"])
    best_val = max(evals, key=lambda r: r["val/recall@20"])
    secs = sorted(r["seconds"] for r in records)
    entry = {"best_test_recall@20": best_test["test/recall@20"],
             "best_test_ndcg@20": max(r["test/ndcg@20"] for r in evals),
             "best_test_epoch": best_test["epoch"],
             "test_at_best_val": {"epoch": best_val["epoch"],
                                  "recall@20": best_val["test/recall@20"],
                                  "ndcg@20": best_val["test/ndcg@20"]},
             "last": {"epoch": evals[-1]["epoch"], "recall@20": evals[-1]["test/recall@20"],
                      "ndcg@20": evals[-1]["test/ndcg@20"]},
             "median_epoch_seconds": secs[len(secs) // 2]}
    if target_recall is not None:
        hit = [r["epoch"] for r in evals if r["test/recall@20"] >= target_recall]
        entry["epochs_to_target"] = hit[0] if hit else None
    return entry


def write_results(out, info, runs, target_recall=None, final=False):
    """Write {info, runs, summary} to ``out`` atomically (temp file + rename).

    Called after every evaluation epoch as well as at the end, so an
    interrupted run leaves everything measured so far; ``complete`` says
    whether all requested epochs ran.
    """
    summary = {name: summarize(records, target_recall) for name, records in runs.items()}
    if final:
        print(json.dumps({"summary": summary}, indent=2))
    if not out:
        return
    epochs = min((len(r) for r in runs.values()), default=0)
    data = {"info": info, "complete": epochs >= info["args"]["epochs"],
            "epochs_done": epochs, "runs": runs, "summary": summary}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, out)


def from_log(log, out, target_recall=None):
    """Rebuild the results file from the JSON lines a run printed (its log)."""
    info, runs = None, {}
    if not os.path.isfile(log):
        sys.exit(f"{log}: no such file")
    with open(log) as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a multi-line summary block or a cut-off last line
            if "machine" in rec and info is None:
                info = rec
            elif "run" in rec:
                runs.setdefault(rec.pop("run"), []).append(rec)
    if info is None:
        sys.exit(f"{log}: no header line; is this a curves.py log?")
    if target_recall is None:
        target_recall = info["args"].get("target_recall")
    write_results(out, info, runs, target_recall, final=True)


if __name__ == "__main__":
    main()
