"""Do the seed methods deliver? Tuned on validation, run with several seeds,
tested at the best validation epoch (issue 9's experiment).

    python benchmarks/methods.py tune --data ../shared/data/gowalla \
        --out benchmarks/results/methods
    python benchmarks/methods.py run  --data ../shared/data/gowalla \
        --out benchmarks/results/methods --datasets g20-resplit --encoders lightgcn \
        --seeds 0,1,2          # start it twice: two workers share the plan
    python benchmarks/methods.py summarize --out benchmarks/results/methods --target 0.18

``tune`` searches each method's own hyper-parameters (the grids in METHODS,
within each paper's grid) with ``gnnrec tune`` (grid search, median pruning)
on one dataset / encoder / seed, at the budget in TUNE_BUDGET, and writes
``tuned/<method>.json``. ``run`` trains every (dataset, encoder, method, seed) with
the tuned values, evaluating validation *and* test every few epochs (test is
recorded for the curves and the epochs-to-target, never used to select);
each run is one JSON file written after every evaluation, so an interrupted
plan resumes where it stopped, and several worker processes share a plan
through lock files. ``summarize`` prints reST tables: test Recall@20 /
NDCG@20 at the best validation epoch (mean +- std over seeds), the epochs
and seconds to a test Recall@20 target, per-epoch seconds and the median
negative hardness.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from gnnrec.bench import provenance  # noqa: E402
from gnnrec.data import RecGraph, load_dataset  # noqa: E402
from gnnrec.data.loading import DataSpec  # noqa: E402
from gnnrec.lock import OutputLock  # noqa: E402
from gnnrec.metrics import split_sets  # noqa: E402
from gnnrec.spec import Component, RunSpec  # noqa: E402
from gnnrec.train.callbacks import EarlyStopping, Evaluate  # noqa: E402
from gnnrec.train.trainer import Callback  # noqa: E402

#: name -> data options (the path is --data); re-splits use their own seed (1)
DATASETS = {
    "g20-given": {"k_core": 20, "split": "given", "val_frac": 0.1},
    "g20-resplit": {"k_core": 20, "split": "random", "test_frac": 0.2, "val_frac": 0.1,
                    "seed": 1},
    "g30-dense": {"k_core": 30, "split": "random", "test_frac": 0.2, "val_frac": 0.1, "seed": 1},
}
#: name -> (sampler, loss, fixed options, searched space). Grids inside each paper's own.
METHODS = {
    "rns": (Component("rns"), Component("bpr"), {}, []),
    "dns": (Component("dns"), Component("bpr"), {}, ["dns.num_candidates=8,16,32"]),
    "mixgcf": (Component("mixgcf"), Component("bpr"), {}, ["mixgcf.num_candidates=8,16,32"]),
    "pdns": (Component("pdns"), Component("bpr"), {}, ["pdns.mix=0.8,0.9,0.95"]),
    "ahns": (Component("ahns"), Component("bpr"), {},
             ["ahns.alpha=0.1,0.5,1.0", "ahns.beta=0.1,0.5,1.0"]),
    "ssm": (None, Component("ssm", {"logq": False}), {}, ["ssm.tau=0.1,0.2,0.5"]),
    "ssm-logq": (None, Component("ssm", {"logq": True}), {}, ["ssm.tau=0.1,0.2,0.5"]),
    "ssm-sampled": (Component("rns", {"num_negatives": 64}), Component("ssm", {"in_batch": False}),
                    {}, ["ssm.tau=0.1,0.2,0.5"]),
    "dcl": (None, Component("dcl", {"logq": False}), {},
            ["dcl.tau=0.1,0.2", "dcl.omega=0.01,0.05,0.1"]),
    "dcl-logq": (None, Component("dcl", {"logq": True}), {},
                 ["dcl.tau=0.1,0.2", "dcl.omega=0.01,0.05,0.1"]),
    "hdccf": (None, Component("hdccf", {"logq": False}), {}, ["hdccf.tau=0.1,0.2"]),
    "hdccf-logq": (None, Component("hdccf", {"logq": True}), {}, ["hdccf.tau=0.1,0.2"]),
    "popdcl": (None, Component("popdcl", {"logq": False}), {}, ["popdcl.tau=0.1,0.2"]),
    # not searched: DCL with logQ at omega+ 0 (issue 22: the debiasing off), tuned tau
    "dcl-logq-w0": (None, Component("dcl", {"logq": True, "tau": 0.2, "omega": 0.0}), {}, []),
    # not searched: HDCCF with logQ at its tuned tau and DCL's omega+ 0.01 (issue 22)
    "hdccf-logq-w01": (None, Component("hdccf", dict(logq=True, tau=0.2, omega_item=0.01,
                                                     omega_user=0.01)), {}, []),
    # not searched: popdcl's tuned tau (0.2), with logQ (issue 22)
    "popdcl-logq": (None, Component("popdcl", {"logq": True, "tau": 0.2}), {}, []),
    # not searched: DCL / PopDCL with logQ at SSM-logQ's tau (0.1): full Gowalla's
    # in-batch rows plateaued at tau 0.2 (issue 19)
    "dcl-logq-t01": (None, Component("dcl", {"logq": True, "tau": 0.1, "omega": 0.01}), {}, []),
    "popdcl-logq-t01": (None, Component("popdcl", {"logq": True, "tau": 0.1}), {}, []),
    "hdccf-logq-t01": (None, Component("hdccf", dict(logq=True, tau=0.1, omega_item=0.01,
                                                     omega_user=0.01)), {}, []),
    # HDCCF with and without its negative users and auxiliary terms, every other option at
    # its default: do they help on sparse data? (issues 19, 22; both were on there by
    # default before; the last is the default now)
    "hdccf-users": (None, Component("hdccf", dict(user_negatives=True, lambda_u=0.1,
                                                  lambda_i=0.1)), {}, []),
    "hdccf-nousers": (None, Component("hdccf", dict(user_negatives=False, lambda_u=0.1,
                                                    lambda_i=0.1)), {}, []),
    "hdccf-nousers-noaux": (None, Component("hdccf", dict(user_negatives=False, lambda_u=0.0,
                                                          lambda_i=0.0)), {}, []),
    # PopDCL with logQ and no M- correction (omega+ 0 in place of Eq. 8's; issue 22)
    "popdcl-logq-w0": (None, Component("popdcl", dict(logq=True, tau=0.2,
                                                      negative_correction=False)), {}, []),
    # not searched: DNS at its tuned candidates and a larger L2 than LightGCN's 1e-4 (issue
    # 19: on full Gowalla DNS's test peaks ~15 epochs before validation; MF + DNS's
    # validation there chose a larger L2)
    **{f"dns-l2-{v}": (Component("dns", {"num_candidates": 32}), Component("bpr"),
                       {"objective.reg_weight": float(v)}, []) for v in ("1e-4", "1e-3", "1e-2")},
    # at 1e-2 validation rose for 145 epochs: does a 3x learning rate get there sooner?
    "dns-l2-1e-2-lr3e-3": (Component("dns", {"num_candidates": 32}), Component("bpr"),
                           {"objective.reg_weight": 1e-2, "trainer.lr": 3e-3}, []),
}
PAIRWISE = ("rns", "dns", "mixgcf", "pdns", "ahns", "dns-l2-1e-4", "dns-l2-1e-3", "dns-l2-1e-2",
            "dns-l2-1e-2-lr3e-3")
#: (epochs, eval every, patience in evaluations) for pairwise samplers and contrastive losses
BUDGET = {"pairwise": (150, 5, 6), "contrastive": (60, 2, 6), "hdccf": (30, 2, 5)}
TUNE_BUDGET = {"pairwise": (40, 5), "contrastive": (20, 2), "hdccf": (12, 2)}


def kind(method):
    r"""The budget class: HDCCF's dense ``(B, P B)`` terms cost ~25x a BPR
    epoch on this CPU (``benchmarks/README.rst``), so it gets fewer epochs."""
    if method.startswith("hdccf"):
        return "hdccf"
    return "pairwise" if method in PAIRWISE else "contrastive"


def data_spec(args, name):
    return DataSpec(path=args.data, **DATASETS[name])


def base_spec(args, dataset, encoder, method, seed, tuned=None, budget=None):
    sampler, loss, fixed, _ = METHODS[method]
    epochs, every, patience = budget or BUDGET[kind(method)]
    spec = RunSpec(model=Component(encoder, {"embedding_dim": 64}),
                   sampler=None if sampler is None else Component(sampler.name,
                                                                  dict(sampler.options)),
                   loss=Component(loss.name, dict(loss.options)),
                   trainer={"epochs": epochs, "batch_size": 2048, "lr": 1e-3, "seed": seed},
                   objective={"reg_weight": 1e-4},
                   evaluation={"ks": [20], "patience": patience, "eval_every": every},
                   data=data_spec(args, dataset), layers=None if encoder == "mf" else 3)
    for path, value in {**fixed, **(tuned or {})}.items():
        spec.set_option(path, value)
    return spec.validate()


# --------------------------------------------------------------------------- tune

def cmd_tune(args):
    from gnnrec.tune import parse_space, tune

    os.makedirs(os.path.join(args.out, "tuned"), exist_ok=True)
    ds = load_dataset(data_spec(args, args.dataset))
    for method in args.methods.split(","):
        space = METHODS[method][3]
        path = os.path.join(args.out, "tuned", f"{method}.json")
        if not space or os.path.exists(path):
            continue
        epochs, every = TUNE_BUDGET[kind(method)]
        spec = base_spec(args, args.dataset, args.encoder, method, 0,
                         budget=(epochs, every, 0))
        dims = parse_space(space, spec)
        trials = 1
        for d in dims:
            trials *= len(d.choices)
        out = os.path.join(args.out, "tune", f"{args.dataset}-{args.encoder}-{method}")
        print(f"tuning {method}: {trials} trials of {epochs} epochs", flush=True)
        # pruning from the first evaluation: how this experiment's first searches ran
        res = tune(spec, dims, ds, out, trials, search="grid", prune=True, device=args.device,
                   echo=lambda m: print(m, flush=True), prune_warmup=0)
        tuned = {"params": res["best"], "val": res["best_val"],
                 "trials": [{k: t[k] for k in ("params", "state", "value")}
                            for t in res["trials"]],
                 "budget": {"epochs": epochs, "eval_every": every},
                 "tuned_on": {"dataset": args.dataset, "encoder": args.encoder, "seed": 0}}
        with open(path + ".tmp", "w") as f:
            json.dump(tuned, f, indent=2)
        os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------- run

class Record(Callback):
    """Writes the run's records after every epoch (atomically)."""

    def __init__(self, path, head):
        self.path, self.head, self.records = path, head, []

    def on_epoch_end(self, trainer, epoch, logs):
        keep = ("epoch", "loss", "hardness", "hardness_uniform", "train_seconds",
                "val/recall@20", "val/ndcg@20", "test/recall@20", "test/ndcg@20", "is_best")
        self.records.append({k: logs[k] for k in keep if k in logs})
        self.write(False)

    def write(self, done):
        with open(self.path + ".tmp", "w") as f:
            json.dump({**self.head, "done": done, "records": self.records}, f)
        os.replace(self.path + ".tmp", self.path)


_DATA = {}


def run_one(args, job, tuned, path):
    dataset, encoder, method, seed = job
    params = tuned.get(method, {}).get("params", {})
    budget = None
    if args.budget == "tune":  # the search's budget, early stopping off
        epochs, every = TUNE_BUDGET[kind(method)]
        budget = (epochs, every, epochs)
    spec = base_spec(args, dataset, encoder, method, seed, params, budget)
    if dataset not in _DATA:
        ds = load_dataset(spec.data)
        _DATA[dataset] = (ds, RecGraph.from_dataset(ds).to(args.device),
                          spec.eval_protocol(split_sets(ds, args.device)))
    ds, graph, protocol = _DATA[dataset]
    every = spec.evaluation["eval_every"]
    head = {"job": {"dataset": dataset, "encoder": encoder, "method": method, "seed": seed},
            "spec": spec.to_dict(), "tuned": params, **provenance(args.device),
            "machine": platform.node(),
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "data": {"users": ds.num_users, "items": ds.num_items, "train": graph.num_edges,
                     "notes": ds.notes}}
    record = Record(path, head)
    callbacks = [Evaluate(protocol, "val", every), Evaluate(protocol, "test", every),
                 EarlyStopping("val/recall@20", patience=spec.evaluation["patience"]), record]
    objective = spec.build(ds.num_users, ds.num_items, device=args.device)
    spec.trainer_for(objective, graph, callbacks).fit()
    record.write(True)


def claim(path):
    r"""The job at ``path``'s lock (the kernel's, on ``path + ".lock"``: it ends
    with its worker however that ends), or ``None`` while another worker
    holds it."""
    return OutputLock(path + ".lock", path).try_acquire()


def read_tuned(out):
    """``{method: {"params": ...}}`` of every finished search."""
    folder = os.path.join(out, "tuned")
    if not os.path.isdir(folder):
        return {}
    return {name[:-5]: json.load(open(os.path.join(folder, name)))
            for name in os.listdir(folder) if name.endswith(".json")}


def cmd_run(args):
    torch.set_num_threads(args.threads)
    tuned = read_tuned(args.out)
    runs = runs_dir(args)
    os.makedirs(runs, exist_ok=True)
    jobs = [(d, e, m, s) for d in args.datasets.split(",") for e in args.encoders.split(",")
            for m in args.methods.split(",") for s in map(int, args.seeds.split(","))]
    while True:  # a method whose search is still running elsewhere waits for its values
        tuned, pending, ran = read_tuned(args.out), 0, False
        for job in jobs:
            path = os.path.join(runs, "{}-{}-{}-s{}.json".format(*job))
            if os.path.exists(path) and json.load(open(path)).get("done"):
                continue
            if METHODS[job[2]][3] and job[2] not in tuned:
                pending += 1
                continue
            lock = claim(path)
            if lock is None:
                continue
            try:
                start = time.time()
                print(f"{os.getpid()} {job}", flush=True)
                run_one(args, job, tuned, path)
                print(f"{os.getpid()} {job} done in {time.time() - start:.0f}s", flush=True)
                ran = True
            finally:
                lock.release()
        if not pending:
            return
        if not ran:
            time.sleep(60)


# --------------------------------------------------------------------------- summarize

def summarize_run(d, target):
    recs = d["records"]
    evals = [r for r in recs if "val/recall@20" in r]
    best = max(evals, key=lambda r: r["val/recall@20"])
    secs = [r["train_seconds"] for r in recs]
    hit = next((r for r in evals if r["test/recall@20"] >= target), None)
    hard = [r["hardness"] for r in recs[len(recs) // 2:]
            if r.get("hardness") is not None and r["hardness"] == r["hardness"]]
    return {"test_r": best["test/recall@20"], "test_n": best["test/ndcg@20"],
            "val_r": best["val/recall@20"], "best_epoch": best["epoch"],
            "epochs_run": recs[-1]["epoch"], "sec_epoch": statistics.median(secs),
            "epochs_to": hit["epoch"] if hit else None,
            "sec_to": sum(r["train_seconds"] for r in recs if r["epoch"] <= hit["epoch"])
            if hit else None,
            "hardness": statistics.median(hard) if hard else None}


def rst(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line, fmt(header), line, *map(fmt, rows), line])


def ms(values, digits=4):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} +- {statistics.stdev(values):.{digits}f}"


def runs_dir(args):
    return os.path.join(args.out, "runs" if args.budget == "full" else "runs-tune")


def cmd_summarize(args):
    runs = runs_dir(args)
    groups = {}
    for name in sorted(os.listdir(runs)):
        if not name.endswith(".json"):
            continue
        d = json.load(open(os.path.join(runs, name)))
        if not d.get("records") or not any("val/recall@20" in r for r in d["records"]):
            continue
        j = d["job"]
        groups.setdefault((j["dataset"], j["encoder"]), {}).setdefault(j["method"], []).append(
            (d, summarize_run(d, args.target)))
    for (dataset, encoder), methods in groups.items():
        print(f"\n{dataset}, {encoder}\n")
        rows = []
        base = None
        for method in METHODS:
            if method not in methods:
                continue
            got = [s for _, s in methods[method]]
            done = sum(d["done"] for d, _ in methods[method])
            sec = statistics.mean(s["sec_epoch"] for s in got)
            base = sec if method == "rns" else base
            reached = [s["epochs_to"] for s in got if s["epochs_to"] is not None]
            rows.append([method, f"{len(got)} ({done} done)", ms([s["test_r"] for s in got]),
                         ms([s["test_n"] for s in got]), ms([s["val_r"] for s in got]),
                         ms([s["best_epoch"] for s in got], 0),
                         f"{ms(reached, 0)} ({len(reached)}/{len(got)})",
                         ms([s["sec_to"] for s in got], 0), f"{sec:.2f}",
                         f"{sec / base:.2f}" if base else "-",
                         ms([s["hardness"] for s in got], 2)])
        print(rst(["method", "seeds", "test R@20 at best val", "test N@20", "val R@20",
                   "best epoch", f"epochs to test R@20 {args.target}", "seconds to it",
                   "s/epoch", "vs rns", "hardness"], rows))
        if args.plot:
            plot_group(args.plot, dataset, encoder, methods)


def plot_group(folder, dataset, encoder, methods):
    r"""One PNG per (dataset, encoder): validation and test Recall@20, the
    loss and the hardness against the epoch, averaged over the seeds that
    reached each epoch."""
    from gnnrec.plot import plot_curves

    curves = {}
    for method in METHODS:
        if method not in methods:
            continue
        by_epoch = {}
        for d, _ in methods[method]:
            for r in d["records"]:
                by_epoch.setdefault(r["epoch"], []).append(r)
        # hardness is a ratio to the positive's score, huge while positives score ~0:
        # drawn from epoch 5 on so the panel shows the steady state
        curves[method] = [
            {"epoch": e, **{k: statistics.mean(r[k] for r in rs if r.get(k) is not None)
                            for k in ("val/recall@20", "test/recall@20", "loss", "hardness")
                            if any(r.get(k) is not None for r in rs)
                            and (k != "hardness" or e >= 5)}}
            for e, rs in sorted(by_epoch.items())]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{dataset}-{encoder}.png")
    plot_curves(curves, [("val/recall@20", "validation Recall@20"),
                         ("test/recall@20", "test Recall@20"), ("loss", "training loss"),
                         ("hardness", "negative hardness (epoch >= 5)")], path,
                title=f"{dataset}, {encoder} (mean over seeds)")
    print(f"\nplot: {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("tune", "run", "summarize"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True, help="results folder")
        if name != "summarize":
            s.add_argument("--data", default=os.path.join("..", "shared", "data", "gowalla"),
                           help="a LightGCN folder (Gowalla)")
            s.add_argument("--methods", default=",".join(METHODS),
                           help="comma-separated methods")
            s.add_argument("--device", default="cpu", help="cpu or cuda (the same plan on a GPU)")
    t = sub.choices["tune"]
    t.add_argument("--dataset", default="g20-resplit", choices=list(DATASETS))
    t.add_argument("--encoder", default="lightgcn")
    r = sub.choices["run"]
    r.add_argument("--datasets", default="g20-resplit")
    r.add_argument("--encoders", default="lightgcn")
    r.add_argument("--seeds", default="0,1,2")
    r.add_argument("--threads", type=int, default=1, help="torch threads of this worker")
    for name in ("run", "summarize"):
        sub.choices[name].add_argument(
            "--budget", choices=("full", "tune"), default="full",
            help="full: BUDGET with early stopping on validation, runs in OUT/runs; tune: the "
                 "search's shorter TUNE_BUDGET, no early stopping, runs in OUT/runs-tune")
    sub.choices["summarize"].add_argument("--target", type=float, default=0.18,
                                          help="test Recall@20 to reach")
    sub.choices["summarize"].add_argument("--plot", default=None, metavar="FOLDER",
                                          help="also draw each group's curves there")
    args = p.parse_args(argv)
    unknown = [m for m in getattr(args, "methods", "").split(",") if m and m not in METHODS]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    {"tune": cmd_tune, "run": cmd_run, "summarize": cmd_summarize}[args.cmd](args)


if __name__ == "__main__":
    main(sys.argv[1:])
