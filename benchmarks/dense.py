"""The samplers and losses at the defaults a user gets, on dense data, against
BPR + RNS (issue 22).

    gnnrec data synth --users 1000 --items 800 --interactions 60000 --seed 5 \
        --out synth-1000x800.csv
    python benchmarks/dense.py synth-1000x800.csv --label synth-3.3pct \
        --encoders mf,lightgcn --seeds 0,1,2 --epochs 1000 --eval-every 10 --patience 10 \
        --out benchmarks/results/dense/defaults-synth-3.3pct.json
    python benchmarks/dense.py ../shared/data/gowalla --k-core 30 --label g30-dense ...

Every (encoder, method, seed) is an ordinary gnnrec run folder under --work
(random 70/10/20 split, data seed 1; validation and test evaluated every 5
epochs by default, test recorded for the record and never used to select;
with ``--patience`` the run stops after that many evaluations without a new
best validation Recall@20, so each method runs to its own best), resumed
when the script is started again; the summary (test Recall@20 / NDCG@20 at
the best validation epoch, mean and std over seeds, the change against BPR +
RNS, the negatives' hardness, the share of the top-20 slots that go to the
most popular third of items) is rewritten after every run, with the
script's command line, commit, torch version and machine. ``--set
trainer.lr=3e-4`` (any ``NAME.KEY=VALUE``) changes every run it names, under
a ``--label`` of its own.
"""
import argparse
import json
import os
import statistics
import sys

import torch

from gnnrec.bench import provenance
from gnnrec.data.graph import RecGraph
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.run import resumed_spec, train_run
from gnnrec.spec import Component, RunSpec
from gnnrec.train.callbacks import read_log

#: HDCCF's omega+ and auxiliary weights before issue 22
W05 = {"omega_item": 0.05, "omega_user": 0.05}
AUX = {"lambda_u": 0.1, "lambda_i": 0.1}
#: method -> (sampler, loss, options): every option at its default unless named; a
#: sampler given as a Component carries its own options
METHODS = {
    "rns": ("rns", "bpr", {}), "dns": ("dns", "bpr", {}), "mixgcf": ("mixgcf", "bpr", {}),
    "pdns": ("pdns", "bpr", {}), "ahns": ("ahns", "bpr", {}),
    "ssm": (None, "ssm", {}), "ssm-nologq": (None, "ssm", {"logq": False, "tau": 0.1}),
    "dcl": (None, "dcl", {}), "popdcl": (None, "popdcl", {}),
    "popdcl-nologq": (None, "popdcl", {"logq": False}), "hdccf": (None, "hdccf", {}),
    "popdcl-literal": (None, "popdcl", {"exclude_observed": False, "logq": False}),
    "popdcl-logq": (None, "popdcl", {"logq": True}),
    "ssm-t01": (None, "ssm", {"tau": 0.1}), "ssm-t05": (None, "ssm", {"tau": 0.5}),
    "ssm-dot": (None, "ssm", {"scorer": "dot"}), "ssm-t1": (None, "ssm", {"tau": 1.0}),
    "dcl-dot": (None, "dcl", {"scorer": "dot"}),
    "ssm-dot-t05": (None, "ssm", {"scorer": "dot", "tau": 0.5}),
    "ssm-dot-t1": (None, "ssm", {"scorer": "dot", "tau": 1.0}),
    "dcl-t05": (None, "dcl", {"tau": 0.5}),
    "popdcl-logq-t05": (None, "popdcl", {"logq": True, "tau": 0.5}),
    # HDCCF at its defaults before issue 22 (omega+ 0.05, negative users on any data), then
    # its parts one at a time at those values: without the user-user and item-item losses,
    # without negative users, and without both (DCL with two neighbours a row)
    "hdccf-old": (None, "hdccf", {**W05, **AUX, "user_negatives": True}),
    "hdccf-noaux": (None, "hdccf", {**W05, "user_negatives": True, "lambda_u": 0.0,
                                    "lambda_i": 0.0}),
    "hdccf-nousers": (None, "hdccf", {**W05, **AUX, "user_negatives": False}),
    "popdcl-w0": (None, "popdcl", {"negative_correction": False}),
    "popdcl-eq8": (None, "popdcl", {"negative_correction": True}),
    "hdccf-w0": (None, "hdccf", {**AUX, "omega_item": 0.0, "omega_user": 0.0,
                                 "user_negatives": True}),
    "hdccf-w01": (None, "hdccf", {**AUX, "omega_item": 0.01, "omega_user": 0.01,
                                  "user_negatives": True}),
    # DCL at omega+ 0.05 (its default before 0.01), 0.01 and 0
    "dcl-w05": (None, "dcl", {"omega": 0.05}), "dcl-w01": (None, "dcl", {"omega": 0.01}),
    "dcl-w0": (None, "dcl", {"omega": 0.0}),
    "hdccf-itemonly": (None, "hdccf", {**W05, "lambda_u": 0.0, "lambda_i": 0.0,
                                       "user_negatives": False}),
    # HDCCF at DCL's omega+ 0.01, without negative users, and without the auxiliary losses
    "hdccf-nousers-w01": (None, "hdccf", {**AUX, "user_negatives": False, "omega_item": 0.01,
                                          "omega_user": 0.01}),
    "hdccf-itemonly-w01": (None, "hdccf", {"lambda_u": 0.0, "lambda_i": 0.0,
                                           "user_negatives": False, "omega_item": 0.01,
                                           "omega_user": 0.01}),
    "hdccf-dot": (None, "hdccf", {"scorer": "dot"}),
    # the papers' cosine where the scorer is now derived (dot on popularity-dominated data)
    "ssm-cos": (None, "ssm", {"scorer": "cosine"}), "dcl-cos": (None, "dcl", {"scorer": "cosine"}),
    "hdccf-cos": (None, "hdccf", {"scorer": "cosine"}),
    "popdcl-cos": (None, "popdcl", {"scorer": "cosine"}),
    "ssm-sampled": (Component("rns", {"num_negatives": 64}), "ssm", {"in_batch": False}),
    "ssm-sampled-t02": (Component("rns", {"num_negatives": 64}), "ssm",
                        {"in_batch": False, "tau": 0.2}),
}


def spec_for(args, encoder, method, seed):
    sampler, loss, options = METHODS[method]
    spec = RunSpec(model=Component(encoder),
                   sampler=(sampler if sampler is None or isinstance(sampler, Component)
                            else Component(sampler)),
                   loss=Component(loss, dict(options)),
                   trainer={"epochs": args.epochs, "seed": seed},
                   evaluation={"eval_every": args.eval_every, "patience": args.patience},
                   data=DataSpec(path=args.data, split="random", test_frac=0.2, val_frac=0.1,
                                 seed=1, k_core=args.k_core))
    for path, value in getattr(args, "set", None) or ():
        name = path.partition(".")[0]
        if name in ("trainer", "objective") or name in (
                spec.model.name, spec.loss.name, spec.sampler and spec.sampler.name):
            spec.set_option(path, value)  # another method's option is not this run's
    return spec.validate()


def parse_set(text):
    r"""``NAME.KEY=VALUE`` (VALUE in JSON) -> ``(NAME.KEY, value)``."""
    path, sep, value = text.partition("=")
    if not sep or "." not in path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME.KEY=VALUE")
    try:
        return path, json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{text!r}: VALUE must be JSON (strings quoted)")


def derived_options(spec, dataset):
    r"""``{option: value}`` of the loss options that ``spec`` leaves to be
    derived from the data (``None``: the scorer, the temperature, DCL's and
    HDCCF's :math:`\omega^+`), as a run on ``dataset`` derives them."""
    objective = spec.build(dataset.num_users, dataset.num_items)
    loss, graph = objective.loss, RecGraph.from_dataset(dataset)
    out = {}
    if getattr(loss, "requested_scorer", "given") is None:
        out["scorer"] = loss.scorer_for(objective.encoder, graph)
    if getattr(loss, "requested_tau", "given") is None and loss._derives_tau():
        out["tau"] = loss._tau_for(graph)[0]
    if hasattr(loss, "omega_for"):
        derived = loss.omega_for(graph)
        out.update({k: v for k, v in zip(loss.OMEGA_OPTIONS, derived) if k is not None})
    return out


def stale_options(folder, spec, derive=dict):
    r"""``(component, option, saved, now)`` for each model, sampler or loss
    option whose value in ``folder/config.json`` differs from ``spec``'s: a
    run folder keyed by method name outlives a change of default. A loss
    option now derived from the data (``None`` in ``spec``) is compared by
    the value it derives (``derive()``: :func:`derived_options`, called
    only when such an option was saved with a value). Options
    added or removed since the run are not compared (an option added later
    keeps the earlier behaviour at its default, a removed one was a probe)."""
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        return []
    saved, now = json.load(open(path)), spec.to_dict()
    derived = None
    out = []
    for part in ("trainer", "objective"):  # not the budget: a resumed run may get more
        a, b = saved.get(part, {}), now[part]
        out += [(part, k, a[k], v) for k, v in b.items() if k != "epochs" and k in a
                and a[k] != v]
    for part in ("model", "sampler", "loss"):
        a, b = saved.get(part), now[part]
        if (a is None) != (b is None) or (a and a["name"] != b["name"]):
            out.append((part, "name", a and a["name"], b and b["name"]))
        elif a:
            for k, v in b["options"].items():
                if part == "loss" and v is None and a["options"].get(k) is not None:
                    derived = derive() if derived is None else derived
                    v = derived.get(k, v)
                if k in a["options"] and a["options"][k] != v:
                    out.append((part, k, a["options"][k], v))
    return out


def run_one(args, dataset, encoder, method, seed):
    folder = os.path.join(args.work, args.label, f"{encoder}-{method}-s{seed}")
    results = os.path.join(folder, "results.json")
    spec = spec_for(args, encoder, method, seed)
    stale = stale_options(folder, spec, lambda: derived_options(spec, dataset))
    if stale:
        raise SystemExit(f"{folder} ran other options than {method!r} now means ("
                         + "; ".join(f"{part} {key} {a} now {b}" for part, key, a, b in stale)
                         + "): rename or remove it")
    if not os.path.exists(results):
        resume = os.path.exists(os.path.join(folder, "last.pt"))
        if resume:  # its own spec (a derived option saved by value), this budget
            spec = resumed_spec(folder, spec)
        train_run(spec, dataset, folder, device=args.device, echo=lambda m: None, resume=resume,
                  also_evaluate=("test",), test=True)
    log, _ = read_log(os.path.join(folder, "log.jsonl"))
    evals = [r for r in log if "val/recall@20" in r]
    best = max(evals, key=lambda r: (r["val/recall@20"], -r["epoch"]))
    report = json.load(open(results))
    hard = [r["hardness"] for r in log[len(log) // 2:] if r.get("hardness") is not None]
    return {"best_epoch": best["epoch"], "val": best["val/recall@20"],
            "test_recall@20": best["test/recall@20"], "test_ndcg@20": best["test/ndcg@20"],
            "hardness": statistics.median(hard) if hard else None,
            "head_share@20": report["test"].get("exposure_head@20")}


def notes_of(spec, dataset):
    """What a run of ``spec`` prints at its start (options derived from the data)."""
    objective = spec.build(dataset.num_users, dataset.num_items)
    graph = RecGraph.from_dataset(dataset)
    return objective.advice(graph, spec.trainer["batch_size"])


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"mean": statistics.mean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def table(summary) -> str:
    r"""The summary as a reST table (test Recall@20 at the best validation
    epoch, mean +- std over seeds, against BPR + RNS of the same encoder)."""
    head = ("run", "test R@20", "vs RNS", ">= RNS - std", "head share", "best epoch")
    rows = []
    for name, row in summary["rows"].items():
        encoder = name.split()[0]
        base = summary["rows"].get(f"{encoder} rns")
        t = row["test_recall@20"]
        held = "-" if base is None or name == f"{encoder} rns" else (
            "yes" if t["mean"] >= base["test_recall@20"]["mean"] - base["test_recall@20"]["std"]
            else "no")
        rows.append((name, f"{t['mean']:.4f} +- {t['std']:.4f}",
                     f"{row.get('vs_rns', 0):+.1%}", held,
                     f"{row['head_share@20']['mean']:.2f}", f"{row['best_epoch']['mean']:.0f}"))
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(len(head))]
    rule = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([rule, fmt(head), rule, *map(fmt, rows), rule])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--label", required=True)
    p.add_argument("--k-core", type=int, default=0,
                   help="keep the k-core (e.g. 30 on the Gowalla folder: section 3's g30-dense)")
    p.add_argument("--encoders", default="lightgcn")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0")
    p.add_argument("--epochs", type=int, default=80)
    p.add_argument("--eval-every", type=int, default=5)
    p.add_argument("--patience", type=int, default=0,
                   help="stop after this many evaluations without a new best validation "
                        "Recall@20 (0: run every epoch)")
    p.add_argument("--set", action="append", type=parse_set, default=[],
                   metavar="NAME.KEY=VALUE",
                   help="an option for every run it names (trainer.lr=3e-4, "
                        "objective.reg_weight=1e-3, ssm.tau=0.5; VALUE in JSON), with a "
                        "--label of its own: a folder that ran other values is refused")
    p.add_argument("--work", default="/tmp/gnnrec-dense/runs")
    p.add_argument("--device", default="cpu",
                   help="where the runs train (a run folder resumes on another device)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    named = {"trainer", "objective", *args.encoders.split(",")}
    for method in args.methods.split(","):
        if method not in METHODS:
            p.error(f"--methods: {method!r} is not one of {', '.join(METHODS)}")
        sampler, loss, _ = METHODS[method]
        named |= {loss, getattr(sampler, "name", sampler)}
    for path, _ in args.set:
        if path.partition(".")[0] not in named:
            p.error(f"--set {path}: {path.partition('.')[0]} is none of these runs' "
                    f"encoders, samplers or losses, nor trainer or objective")
    torch.set_num_threads(1)
    dataset = load_dataset(spec_for(args, "mf", "rns", 0).data)
    stats = dataset.stats()
    summary = {**provenance(args.device, [sys.argv[0], *(argv or sys.argv[1:])]),
               "data": {"path": args.data, "label": args.label, "users": stats["users"],
                        "items": stats["items"], "interactions": stats["interactions"],
                        "density": stats["density"]},
               "protocol": "random 70/10/20 (data seed 1), every option at its default, test "
                           "at the best validation Recall@20",
               "budget": {"epochs": args.epochs, "eval_every": args.eval_every,
                          "patience": args.patience},
               "set": {path: value for path, value in args.set}, "rows": {}}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for encoder in args.encoders.split(","):
        for method in args.methods.split(","):
            runs = [run_one(args, dataset, encoder, method, int(s)) for s in args.seeds.split(",")]
            row = {k: mean_std([r[k] for r in runs]) for k in runs[0]}
            row["seeds"] = args.seeds
            row["notes"] = notes_of(spec_for(args, encoder, method, 0), dataset)
            summary["rows"][f"{encoder} {method}"] = row
            base = summary["rows"].get(f"{encoder} rns")
            if base:
                row["vs_rns"] = row["test_recall@20"]["mean"] / base["test_recall@20"]["mean"] - 1
            print(f"{encoder:8s} {method:9s} test R@20 {row['test_recall@20']['mean']:.4f} "
                  f"± {row['test_recall@20']['std']:.4f}  vs RNS {row.get('vs_rns', 0):+.1%}  "
                  f"head share {row['head_share@20']['mean']:.2f}", flush=True)
            with open(args.out + ".tmp", "w") as f:
                json.dump(summary, f, indent=2)
            os.replace(args.out + ".tmp", args.out)
    print(table(summary))


if __name__ == "__main__":
    main()
