"""Training steps with glibc's default allocator settings against
:func:`gnnrec.allocator.keep_freed_memory`, on the same data, in one run.

    python benchmarks/allocator.py --data ../shared/data/gowalla --rounds 3 \
        --out benchmarks/results/allocator_cpu.json

``mallopt`` settings hold for a whole process and cannot be undone, so each
measurement is a child process (``default``: ``GNNREC_KEEP_FREED=0``;
``keep``: the settings ``gnnrec`` applies), the two alternated for
``--rounds`` rounds. A child times ``gnnrec.bench`` epochs of the given
models x samplers (BPR) and reports the median seconds per epoch and of
each phase; the parent keeps, per setting, the median over rounds and the
spread (min-max) of the epoch times, which is where the default's
bimodal steps show.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

import torch

from gnnrec.bench import provenance


def child(args) -> dict:
    from gnnrec.allocator import keep_freed_memory
    from gnnrec.bench import bench
    from gnnrec.data import RecGraph, load_dataset
    from gnnrec.spec import RunSpec

    applied = keep_freed_memory()
    ds = load_dataset(path=args.data, val_frac=0)
    graph = RecGraph.from_dataset(ds)
    specs = RunSpec.grid(args.models.split(","), args.samplers.split(","), ["bpr"],
                         options={"ahns": {"num_candidates": 16}})
    res = bench(graph, specs, epochs=args.epochs, max_batches=args.batches, echo=lambda s: None)
    return {"applied": applied,
            "runs": [{k: r[k] for k in ("model", "sampler", "seconds", "all_seconds", "phases",
                                        "peak_mb", "batches")} for r in res]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="a LightGCN-format folder")
    p.add_argument("--models", default="mf,lightgcn")
    p.add_argument("--samplers", default="rns,dns")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--out", default=None, help="JSON file for the results")
    p.add_argument("--child", choices=["default", "keep"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    runs = {"default": [], "keep": []}
    for r in range(args.rounds):
        for setting in ("default", "keep"):
            env = dict(os.environ, GNNREC_KEEP_FREED="0" if setting == "default" else "1")
            for k in [k for k in env if k.startswith("MALLOC_")]:
                env.pop(k)
            cmd = [sys.executable, __file__, "--child", setting, "--data", args.data,
                   "--models", args.models, "--samplers", args.samplers,
                   "--epochs", str(args.epochs), "--batches", str(args.batches)]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            runs[setting].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds} {setting} done", file=sys.stderr)
    table = []
    for i, base in enumerate(runs["default"][0]["runs"]):
        row = {"model": base["model"], "sampler": base["sampler"]}
        for setting in ("default", "keep"):
            got = [rr["runs"][i] for rr in runs[setting]]
            epochs = [s for g in got for s in g["all_seconds"][1:]]
            row[setting] = {
                "seconds": statistics.median(g["seconds"] for g in got),
                "min": min(epochs), "max": max(epochs),
                "backward": statistics.median(g["phases"]["backward"] for g in got),
                "peak_mb": max(g["peak_mb"] for g in got)}
        row["keep_vs_default"] = row["keep"]["seconds"] / row["default"]["seconds"]
        table.append(row)
    for row in table:
        rns = next(r for r in table if r["model"] == row["model"])
        for setting in ("default", "keep"):
            row[setting]["vs_first_sampler"] = row[setting]["seconds"] / rns[setting]["seconds"]
    print(f"{'model':9}{'sampler':9}{'default s':>10}{'(min-max)':>16}{'keep s':>9}"
          f"{'(min-max)':>16}{'keep/def':>9}{'MB def':>8}{'MB keep':>8}")
    for row in table:
        d, k = row["default"], row["keep"]
        spread = ["%.3f-%.3f" % (x["min"], x["max"]) for x in (d, k)]
        print(f"{row['model']:9}{row['sampler']:9}{d['seconds']:10.3f}{spread[0]:>16}"
              f"{k['seconds']:9.3f}{spread[1]:>16}{row['keep_vs_default']:9.2f}"
              f"{d['peak_mb']:8.0f}{k['peak_mb']:8.0f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**provenance("cpu"), "machine": platform.platform(),
                       "cpus": os.cpu_count(),
                       "torch": torch.__version__, "args": vars(args), "table": table,
                       "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
