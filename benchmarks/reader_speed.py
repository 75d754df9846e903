"""Reading a big file: ``gnnrec data`` on a ~200 MB LightGCN file (~40 M
interactions), this checkout against an earlier commit (issue 20).

    python benchmarks/reader_speed.py --baseline bdfc190 \
        --out benchmarks/results/reader_speed.json

Writes the file once (deterministic: power-law user activity and item
popularity, seed 0) under --work, checks out --baseline into a git worktree
there, then runs ``python -m gnnrec.cli data --dataset FILE`` with each
code base in turn (alternating, --rounds times), timing the whole command
and reading each child's peak resident memory (``os.wait4``). Both load the
same file into the same dataset (the printed statistics are compared).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_file(path: str, users: int, interactions: int, items: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    activity = 1.0 / np.arange(1, users + 1) ** 0.6
    degree = np.maximum(1, np.round(activity / activity.sum() * interactions)).astype(int)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    cdf = np.cumsum(popularity) / popularity.sum()
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for start in range(0, users, 20_000):
            lines = []
            for u in range(start, min(users, start + 20_000)):
                row = np.unique(np.searchsorted(cdf, rng.random(degree[u])))
                lines.append(f"{u} " + " ".join(map(str, row.tolist())))
            f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="the commit to compare against")
    p.add_argument("--work", default="/tmp/gnnrec-reader-bench")
    p.add_argument("--users", type=int, default=400_000)
    p.add_argument("--interactions", type=int, default=40_000_000)
    p.add_argument("--items", type=int, default=120_000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    data = os.path.join(args.work, f"big-{args.users}-{args.interactions}.txt")
    if not os.path.exists(data):
        print(f"writing {data}", flush=True)
        make_file(data, args.users, args.interactions, args.items)
    old = os.path.join(args.work, "baseline")
    if not os.path.isdir(old):
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", old, args.baseline],
                       check=True, capture_output=True)
    codes = {"baseline": old, "this": ROOT}
    records, stats = [], {}
    for r in range(args.rounds):
        for name, code in codes.items():
            seconds, usage, out, err = run_measured(code, data)
            stats[name] = [line for line in out.splitlines()
                           if line.split()[0] in ("users", "items", "interactions")]
            records.append({"round": r, "code": name, "seconds": seconds, "peak_mb": usage})
            print(f"round {r} {name:8s} {seconds:7.1f} s  peak {usage:7.0f} MB", flush=True)
    same = stats["baseline"] == stats["this"]
    summary = {}
    for name in codes:
        mine = [x for x in records if x["code"] == name]
        summary[name] = {"seconds": min(x["seconds"] for x in mine),
                         "peak_mb": max(x["peak_mb"] for x in mine)}
    summary["speedup"] = summary["baseline"]["seconds"] / summary["this"]["seconds"]
    summary["peak_ratio"] = summary["this"]["peak_mb"] / summary["baseline"]["peak_mb"]
    result = {"command": " ".join([sys.argv[0], *(argv or sys.argv[1:])]),
              "gnnrec_command": "python -m gnnrec.cli data --dataset FILE --val-frac 0 "
                                "--split random",
              "file": {"path": data, "bytes": os.path.getsize(data), "stats": stats["this"]},
              "same_dataset": same, "baseline_commit": args.baseline,
              "commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                       capture_output=True, text=True).stdout.strip(),
              "machine": {"node": platform.node(), "cpus": os.cpu_count(),
                          "python": platform.python_version(), "numpy": np.__version__},
              "records": records, "summary": summary}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(summary, indent=2))
    if not same:
        raise SystemExit("the two code bases read different datasets")


def run_measured(code: str, data: str):
    """One child, its wall time and peak RSS (``os.wait4`` on its pid)."""
    env = {**os.environ, "PYTHONPATH": code, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gnnrec.cli", "data", "--dataset", data,
                             "--val-frac", "0", "--split", "random"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=code)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status:
        raise SystemExit(f"{code}: failed: {err.decode()[-500:]}")
    return seconds, usage.ru_maxrss / 1024, out.decode(), err.decode()


if __name__ == "__main__":
    main()
