r"""How much of a loss's gap to BPR + RNS its epoch selection explains: per
run folder, test Recall@20 at the best validation epoch (what the tables
report) beside the best test Recall@20 at *any* evaluated epoch (an oracle
that selects on test: an upper bound of what any selection rule could give).

    python benchmarks/oracle_gap.py RUNS/lightgcn-{rns,dcl,popdcl,hdccf-dot}-s{0,1,2} \
        --out benchmarks/results/dense/oracle_gap_synth_lightgcn.json

Runs are grouped by folder name without its ``-s<seed>`` suffix; each group
gets the mean over its seeds of both numbers.
"""
import argparse
import json
import os
import re
import statistics
import sys

from gnnrec.bench import provenance
from gnnrec.train.callbacks import read_log


def measure(folder, metric="recall@20"):
    log, _ = read_log(os.path.join(folder, "log.jsonl"))
    evals = [r for r in log if f"val/{metric}" in r and f"test/{metric}" in r]
    if not evals:
        raise SystemExit(f"{folder}: no evaluation with both val/{metric} and test/{metric}")
    best = max(evals, key=lambda r: r[f"val/{metric}"])  # the first best, as early stopping keeps
    oracle = max(evals, key=lambda r: r[f"test/{metric}"])
    return {"run": os.path.basename(folder.rstrip("/")), "selected_epoch": best["epoch"],
            "test_at_best_val": best[f"test/{metric}"], "oracle_epoch": oracle["epoch"],
            "best_test_any_epoch": oracle[f"test/{metric}"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders with log.jsonl (test logged)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    runs = [measure(r) for r in args.runs]
    groups = {}
    for r in runs:
        groups.setdefault(re.sub(r"-s\d+$", "", r["run"]), []).append(r)
    summary = {}
    for name, rs in groups.items():
        summary[name] = {k: statistics.mean(r[k] for r in rs)
                         for k in ("test_at_best_val", "best_test_any_epoch")}
        summary[name]["seeds"] = len(rs)
        print(f"{name}: test at best val {summary[name]['test_at_best_val']:.4f}, best test at "
              f"any epoch {summary[name]['best_test_any_epoch']:.4f} ({len(rs)} seeds)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({**provenance("cpu", [sys.argv[0], *(argv or sys.argv[1:])]),
                   "runs": runs, "groups": summary}, f, indent=1)


if __name__ == "__main__":
    main()
