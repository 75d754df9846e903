"""Data-parallel throughput: 1 process against N processes (docs/scaling.rst).

    python benchmarks/ddp_throughput.py --data ../shared/data/gowalla \
        --out benchmarks/results/ddp_cpu.json

Trains LightGCN (dim 64, 3 layers, BPR + RNS) on the Gowalla split for
``--steps`` timed steps (after two untimed ones) in each configuration:
one process with all threads, one with a rank's share of them, and
``torchrun --nproc_per_node=N`` (gloo on
CPU, NCCL on CUDA) with the threads split between the ranks, each at the
same *global* batch (every rank takes 1/N of it) and at N times it (every
rank keeps the single process's batch). Reported: seconds a step (the
slowest rank's mean), training interactions a second, and the projected
epoch time (steps an epoch x seconds a step). Every rank propagates the
whole graph each step; only the batch is split.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time


def worker(args):
    """One rank (or the single process): times the steps, prints a JSON line
    on rank 0."""
    import torch

    from gnnrec import distributed
    from gnnrec.data import RecGraph, load_dataset
    from gnnrec.spec import RunSpec

    ctx = distributed.from_env()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if ctx is not None:
        device = distributed.device_for(ctx, args.device)
        distributed.init(ctx, device)
    ds = load_dataset(path=args.data, val_frac=0)
    spec = RunSpec(trainer={"batch_size": args.batch, "epochs": 1, "seed": 0}).validate()
    objective = spec.build(ds.num_users, ds.num_items, device)
    graph = RecGraph.from_dataset(ds, device)
    trainer = spec.trainer_for(objective, graph)
    if ctx is not None:
        distributed.distribute(trainer, ctx)
    trainer.train_epoch(1, max_batches=2)  # warm-up: CSR blocks, allocator
    start = time.perf_counter()
    logs = trainer.train_epoch(2, max_batches=args.steps)
    step = torch.tensor([(time.perf_counter() - start) / logs["batches"]], dtype=torch.float64)
    if ctx is not None:
        import torch.distributed as dist

        dist.all_reduce(step, op=dist.ReduceOp.MAX)
    if ctx is None or ctx.main:
        steps = len(trainer.batches)
        print(json.dumps({"world": 1 if ctx is None else ctx.world, "threads": args.threads,
                          "global_batch": args.batch, "step_seconds": step.item(),
                          "interactions_per_second": args.batch / step.item(),
                          "steps_per_epoch": steps, "epoch_seconds": steps * step.item(),
                          "device": str(device)}), flush=True)
    if ctx is not None:
        distributed.close()


def launch(args, world, threads, batch):
    cmd = [__file__, "--worker", "--data", args.data, "--steps",
           str(args.steps), "--threads", str(threads), "--batch", str(batch),
           "--device", args.device]
    if world > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={world}", *cmd]
    else:
        cmd = [sys.executable, *cmd]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    return json.loads([x for x in r.stdout.splitlines() if x.startswith("{")][-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.path.join("..", "shared", "data", "gowalla"))
    p.add_argument("--out", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2, help="threads in all")
    p.add_argument("--worlds", default="2", help="process counts to compare with 1")
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--device", default="cpu")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)
    rows = [launch(args, 1, args.threads, args.batch)]
    print(json.dumps(rows[-1]), flush=True)
    for world in map(int, args.worlds.split(",")):
        threads = max(1, args.threads // world)
        if threads != args.threads:  # one rank's share of the machine, alone
            rows.append(launch(args, 1, threads, args.batch))
            print(json.dumps(rows[-1]), flush=True)
        for batch in (args.batch, args.batch * world):
            rows.append(launch(args, world, threads, batch))
            print(json.dumps(rows[-1]), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            from gnnrec.bench import provenance

            json.dump({**provenance("cpu"), "machine": platform.node(),
                       "python": sys.version.split()[0],
                       "rows": rows, "args": vars(args)}, f, indent=2)


if __name__ == "__main__":
    main()
