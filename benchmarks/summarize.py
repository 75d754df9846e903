"""Prints reST tables from a benchmarks/curves.py record.

    python benchmarks/summarize.py benchmarks/results/samplers_lightgcn_gowalla20core_cpu.json \
        --epochs 25,50,100,150,200

Table 1: test (or, with --fold val, validation) Recall@20 / NDCG@20 of every
run at the given epochs. Table 2:
the best test value over the curve (and its epoch), the test value at the
best validation epoch (honest model selection), the last value, the first
epoch reaching a target recall (--target), the median epoch seconds, their
ratio to the first run's (the runs' epochs interleave, so the ratio is
measured in the same run), and the median negative hardness over the second
half of training.
"""
import argparse
import json


def rst_table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = "  ".join("=" * w for w in widths)
    fmt = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line, fmt(header), line, *map(fmt, rows), line])


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("record")
    p.add_argument("--epochs", default="")
    p.add_argument("--target", type=float, default=None)
    p.add_argument("--fold", choices=["test", "val"], default="test",
                   help="which split's figures the tables show (model selection "
                        "always uses validation)")
    args = p.parse_args(argv)
    fold = args.fold
    with open(args.record) as f:
        data = json.load(f)
    runs = data["runs"]
    epochs = [int(e) for e in args.epochs.split(",") if e]
    rows = []
    for name, recs in runs.items():
        by_epoch = {r["epoch"]: r for r in recs if "test/recall@20" in r}
        row = [name]
        for e in epochs:
            r = by_epoch.get(e)
            row.append(f"{r[fold + '/recall@20']:.4f} / {r[fold + '/ndcg@20']:.4f}" if r else "-")
        rows.append(row)
    if epochs:
        print(rst_table(["run"] + [f"epoch {e}" for e in epochs], rows))
        print()
    rows = []
    base = None
    for name, recs in runs.items():
        evals = [r for r in recs if "test/recall@20" in r]
        best = max(evals, key=lambda r: r[f"{fold}/recall@20"])
        sel = max(evals, key=lambda r: r["val/recall@20"])
        last = evals[-1]
        secs = sorted(r["seconds"] for r in recs)
        median = secs[len(secs) // 2]
        base = median if base is None else base
        hard = sorted(r["hardness"] for r in recs[len(recs) // 2:]
                      if r.get("hardness") is not None and r["hardness"] == r["hardness"])
        fig = lambda r: f"{r[fold + '/recall@20']:.4f} / {r[fold + '/ndcg@20']:.4f}"  # noqa: E731
        row = [name, f"{fig(best)} (ep {best['epoch']})", f"{fig(sel)} (ep {sel['epoch']})",
               fig(last),
               f"{median:.2f}", f"{median / base:.2f}",
               f"{hard[len(hard) // 2]:.2f}" if hard else "-"]
        if args.target is not None:
            hit = [r["epoch"] for r in evals if r[f"{fold}/recall@20"] >= args.target]
            row.insert(4, str(hit[0]) if hit else "never")
        rows.append(row)
    header = ["run", f"best {fold} R@20 / N@20", f"{fold} at best val", "last", "s/epoch",
              "vs 1st", "hardness"]
    if args.target is not None:
        header.insert(4, f"epochs to R@20 {args.target}")
    print(rst_table(header, rows))


if __name__ == "__main__":
    main()
