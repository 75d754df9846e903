"""What the per-paper scripts share: run a protocol's methods over seeds
(resuming where a run stopped), then lay the results out as the paper does.

Every (method, seed) is an ordinary gnnrec run folder under
``<out>/runs/<method>-s<seed>``, trained by :func:`gnnrec.run.train_run`
with the protocol's preset (``gnnrec train --protocol NAME``), selected on
validation, tested once at its best validation epoch. A finished run
(``results.json``) is read back, an interrupted one resumed.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable, Dict, List, Mapping

import torch

from gnnrec.data.loading import load_dataset
from gnnrec.protocols import apply
from gnnrec.run import train_run
from gnnrec.spec import RunSpec


def parser(doc: str, epochs: int, eval_every: int, patience: int,
           seeds: str = "0,1,2") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="dataset path (as gnnrec train --dataset)")
    p.add_argument("--out", required=True, help="results folder (runs/ and the table)")
    p.add_argument("--label", default=None, help="dataset name in the table")
    p.add_argument("--epochs", type=int, default=epochs, help="epoch budget of every run")
    p.add_argument("--eval-every", type=int, default=eval_every)
    p.add_argument("--patience", type=int, default=patience,
                   help="evaluations without improvement before stopping")
    p.add_argument("--seeds", default=seeds)
    p.add_argument("--methods", default=None, help="comma-separated subset of the methods")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--time-col", default=None, help="timestamp column of a CSV")
    p.add_argument("--data", dest="data_opts", action="append", default=[],
                   metavar="FIELD=VALUE",
                   help="a data option over the protocol's (e.g. k_core=20, split=random); "
                        "repeatable; stated in the table")
    p.add_argument("--model-opt", dest="model_opts", action="append", default=[],
                   metavar="KEY=VALUE",
                   help="an encoder option for every method (e.g. init=xavier); repeatable; "
                        "stated in the table")
    return p


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def data_changes(args) -> Dict:
    out = {"path": args.data}
    if args.time_col:
        out["time_col"] = args.time_col
    for item in args.data_opts:
        key, _, value = item.partition("=")
        out[key.strip()] = _value(value.strip())
    return out


def spec_for(protocol: str, args, method: Mapping, seed: int) -> RunSpec:
    r"""The protocol's preset, the method's changes
    (:meth:`RunSpec.override` arguments), the budget and the seed."""
    spec = apply(RunSpec(), protocol, takes_layers=method.get("model", "") != "mf")
    changes = {k: v for k, v in method.items() if k not in ("trainer", "evaluation")}
    changes["model_options"] = list(changes.get("model_options", [])) + list(args.model_opts)
    return spec.override(
        **changes, data=data_changes(args),
        trainer={"epochs": args.epochs, "seed": seed, **method.get("trainer", {})},
        evaluation={"eval_every": args.eval_every, "patience": args.patience,
                    **method.get("evaluation", {})}).validate()


def run_all(protocol: str, args, methods: Mapping[str, Mapping],
            echo: Callable[[str], None] = print) -> Dict[str, List[Dict]]:
    r"""``{method: [results of each seed]}``, training what is missing."""
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = args.methods.split(",") if args.methods else list(methods)
    unknown = [m for m in wanted if m not in methods]
    if unknown:
        raise SystemExit(f"unknown method {', '.join(map(repr, unknown))}; the methods: "
                         f"{', '.join(methods)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    datasets = {}
    out: Dict[str, List[Dict]] = {}
    for name in wanted:
        for seed in seeds:
            spec = spec_for(protocol, args, methods[name], seed)
            folder = os.path.join(args.out, "runs", f"{slug(name)}-s{seed}")
            done = os.path.join(folder, "results.json")
            if not os.path.exists(done):
                key = json.dumps(spec.to_dict()["data"], sort_keys=True)
                if key not in datasets:
                    datasets[key] = load_dataset(spec.data, echo=echo)
                    ds = datasets[key]
                    echo(f"data: {ds.num_users} users, {ds.num_items} items; "
                         + "; ".join(ds.notes))
                resume = os.path.exists(os.path.join(folder, "last.pt"))
                start = time.time()
                echo(f"{name} seed {seed}: training ({'resumed' if resume else 'new'})")
                train_run(spec, datasets[key], folder, device=args.device, resume=resume,
                          overwrite=not resume, echo=lambda m: None)
                echo(f"{name} seed {seed}: done in {time.time() - start:.0f}s")
            with open(done) as f:
                res = json.load(f)
            res["seconds"] = train_seconds(folder)
            out.setdefault(name, []).append(res)
    return out


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def train_seconds(folder: str) -> float:
    with open(os.path.join(folder, "log.jsonl")) as f:
        return sum(json.loads(line).get("train_seconds", 0.0) for line in f if line.strip())


def ms(values, scale: float = 1.0, digits: int = 4) -> str:
    """``mean ± std`` (std over seeds; alone with one seed)."""
    values = [v * scale for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def rst(header: List[str], rows: List[List]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line, fmt(header), line, *map(fmt, rows), line])


def budget_line(args, results: Mapping[str, List[Dict]]) -> str:
    runs = [r for rs in results.values() for r in rs]
    best = [r["best_epoch"] for r in runs]
    model = f"encoder options {', '.join(args.model_opts)}; " if args.model_opts else ""
    return (f"{model}budget: at most {args.epochs} epochs, validation every {args.eval_every}, "
            f"early stop after {args.patience} evaluations without improvement; seeds "
            f"{args.seeds}; best epochs {min(best)}-{max(best)}; {platform.node()}, "
            f"{args.device}, torch {torch.__version__}")


def per_epoch(runs: List[Dict], digits: int = 2) -> str:
    """Mean ± std seconds per epoch of a method's runs."""
    return ms([r["seconds"] / max(r["epochs_run"], 1) for r in runs], 1, digits)


def report(args, name: str, title: str, ours: str, results, caption: str, paper: str) -> str:
    """The protocol's table, the budget line and the paper's figures, written
    to ``<out>/<name>.rst``."""
    text = "\n\n".join([title, ours, budget_line(args, results), caption, paper])
    return write(args, name, text)


def write(args, name: str, text: str) -> str:
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{name}.rst")
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)
    print(text)
    print(f"\nwrote {path}", file=sys.stderr)
    return path
