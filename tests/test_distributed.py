"""Data-parallel training on torch.distributed (gloo, CPU)."""
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from click.testing import CliRunner

from gnnrec.cli import cli
from gnnrec.losses import BPR
from gnnrec.nn import LightGCN
from gnnrec.sampling.base import NegativeSampler
from gnnrec.train.objective import Objective
from tests.conftest import random_graph
from tests.test_cli import make_data, one_line_error

ROOT = os.path.join(os.path.dirname(__file__), "..")
ARGS = ["--epochs", "2", "--dim", "8", "--layers", "1", "--batch-size", "64", "--device", "cpu",
        "--no-progress", "--ks", "5"]


class Fixed(NegativeSampler):
    """Given negatives, so one process and two see the same batch."""

    def __init__(self, negs):
        super().__init__()
        self.negs = negs

    def sample(self, users, pos_items, out, generator=None):
        return self.pack(self.negs.unsqueeze(1), out, users, pos_items)


def batch():
    g = random_graph(20, 30, 0.3, seed=5)
    gen = torch.Generator().manual_seed(0)
    pick = torch.randperm(g.num_edges, generator=gen)[:16]
    users, items = g.user[pick], g.item[pick]
    negs = g.positives.sample_complement(users, 1, gen).squeeze(1)
    return g, users, items, negs


def objective(negs):
    torch.manual_seed(0)
    return Objective(LightGCN(20, 30, embedding_dim=6, num_layers=2), Fixed(negs), BPR())


def _exit_worker():
    # leave without the interpreter's teardown: gloo's background threads, destroyed
    # there, occasionally abort ("terminate called without an active exception")
    # after the work is done and written
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def rank_gradient(rank, world, store, out):
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    g, users, items, negs = batch()
    shard = slice(rank, None, world)  # the rows ShardedBatches gives this rank
    obj = objective(negs[shard]).bind(g)
    ddp = torch.nn.parallel.DistributedDataParallel(obj)
    loss, _ = ddp(g, users[shard], items[shard])
    loss.backward()
    if rank == 0:
        torch.save(obj.encoder.embedding.weight.grad, out)
    dist.barrier()
    dist.destroy_process_group()
    _exit_worker()


def test_all_reduced_gradient_equals_the_gradient_of_the_union_batch(tmp_path):
    out = str(tmp_path / "grad.pt")
    mp.spawn(rank_gradient, args=(2, str(tmp_path / "store"), out), nprocs=2, join=True)
    g, users, items, negs = batch()
    obj = objective(negs).bind(g)
    loss, _ = obj(g, users, items)
    loss.backward()
    want = obj.encoder.embedding.weight.grad
    got = torch.load(out, weights_only=True)
    assert want.abs().sum() > 0
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-8)


def ssm_batch():
    g = random_graph(20, 12, 0.5, seed=7)  # dense: rows share items and users
    gen = torch.Generator().manual_seed(1)
    pick = torch.randperm(g.num_edges, generator=gen)[:15]  # shards of 8 and 7 rows
    user_emb = torch.randn(15, 6, generator=gen)
    pos_emb = torch.randn(15, 6, generator=gen)
    return g, g.user[pick], g.item[pick], user_emb, pos_emb


def rank_ssm(rank, world, store, out, gather):
    from gnnrec.losses import SSM

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    g, users, items, user_emb, pos_emb = ssm_batch()
    user_emb.requires_grad_(), pos_emb.requires_grad_()
    loss_fn = SSM(tau=0.5, logq=True, gather=gather)
    loss_fn.bind(g)
    shard = slice(rank, None, world)
    rows = torch.arange(15)[shard]
    loss = loss_fn(user_emb[shard], pos_emb[shard], users=users[shard], items=items[shard])
    share = loss * len(rows) / 15  # this shard's part of the global batch's mean
    share.backward()
    total, grads = share.detach().reshape(1), torch.cat([user_emb.grad, pos_emb.grad])
    for t in (total, grads):
        dist.all_reduce(t)
    if rank == 0:
        torch.save({"loss": total, "grad": grads}, out)
    dist.barrier()
    dist.destroy_process_group()
    _exit_worker()


@pytest.mark.parametrize("gather", [True, False])
def test_ssm_gather_equals_one_process_on_the_global_batch(tmp_path, gather):
    from gnnrec.losses import SSM

    out = str(tmp_path / "ssm.pt")
    mp.spawn(rank_ssm, args=(2, str(tmp_path / "store"), out, gather), nprocs=2, join=True)
    g, users, items, user_emb, pos_emb = ssm_batch()
    user_emb.requires_grad_(), pos_emb.requires_grad_()
    loss_fn = SSM(tau=0.5, logq=True)
    loss_fn.bind(g)
    loss = loss_fn(user_emb, pos_emb, users=users, items=items)
    loss.backward()
    got = torch.load(out, weights_only=True)
    want = torch.cat([user_emb.grad, pos_emb.grad])
    # with gather every row sees the global batch's negatives (minus its user's items):
    # the loss and gradient of one process; without, only its shard's, which differ
    same = torch.allclose(got["loss"], loss.detach(), atol=1e-6) and \
        torch.allclose(got["grad"], want, atol=1e-6)
    assert same == gather


def torchrun(*args, nproc=2):
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run",
                           f"--nproc_per_node={nproc}", "-m", "gnnrec", *args],
                          env=env, capture_output=True, text=True, timeout=600)


def test_two_processes_train_one_run_folder_that_resumes_on_one(tmp_path):
    data = make_data(str(tmp_path / "d"))[0]
    out = str(tmp_path / "run")
    r = torchrun("train", "--dataset", data, "--out", out, *ARGS)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(os.listdir(tmp_path)) == ["d", "run"]  # one set of run files, nothing else
    assert sorted(os.listdir(out)) == ["best.pt", "config.json", "last.pt", "log.jsonl",
                                       "results.json"]
    assert r.stdout.count("test (") == 1  # process 0 alone reports
    logs = [json.loads(x) for x in open(os.path.join(out, "log.jsonl"))]
    assert [x["epoch"] for x in logs] == [1, 2]
    r = CliRunner().invoke(cli, ["train", "--out", out, "--resume", "--epochs", "3",
                                 "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["epoch"] for x in open(os.path.join(out, "log.jsonl"))] == [1, 2, 3]


def test_a_batch_smaller_than_the_world_is_refused(tmp_path):
    data = make_data(str(tmp_path / "d"))[0]
    r = torchrun("train", "--dataset", data, "--out", str(tmp_path / "run"), "--batch-size", "1",
                 "--epochs", "1", "--device", "cpu", "--no-progress")
    assert r.returncode != 0
    assert "leaves some of the 2 processes no rows" in r.stderr
    assert "Traceback" not in r.stderr.split("Error:")[-1]
    assert not os.path.exists(tmp_path / "run")  # refused before anything was written


def test_distributed_outside_torchrun_names_the_launcher(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    r = CliRunner().invoke(cli, ["train", "--distributed", "--dataset", "nope"])
    assert "torchrun --nproc_per_node=N -m gnnrec train" in one_line_error(r)


@pytest.mark.parametrize("world,rank", [(2, 0), (2, 1), (3, 2)])
def test_shards_are_disjoint_and_cover_each_batch(world, rank):
    from gnnrec.distributed import ShardedBatches
    from gnnrec.train.batching import EdgeBatches

    g = random_graph(20, 30, 0.3, seed=1)
    batches = EdgeBatches(g, 8)
    union = {}
    for r in range(world):
        shards = list(ShardedBatches(batches, r, world)(torch.Generator().manual_seed(3)))
        for b, (u, i) in enumerate(shards):
            union.setdefault(b, []).append(torch.stack([u, i]))
    whole = list(batches(torch.Generator().manual_seed(3)))
    for b, (u, i) in enumerate(whole):
        if len(u) < world:
            continue
        got = torch.cat(union[b], 1)
        key = lambda t: sorted(zip(t[0].tolist(), t[1].tolist()))  # noqa: E731
        assert key(got) == key(torch.stack([u, i]))


def _start_job_and_signal(tmp_path, rank, signum):
    r"""A 2-process torchrun training job, ``signum`` sent to ``rank`` once
    the run has logged; the job must end in one line of ours (no traceback
    blamed on gnnrec) that gives the resume command: returns the run folder
    and that line."""
    import time

    data = make_data(str(tmp_path / "d"))[0]
    out = str(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                            "-m", "gnnrec", "train", "--dataset", data, "--out", out,
                            "--epochs", "5000", "--dim", "8", "--layers", "1", "--batch-size",
                            "16", "--device", "cpu", "--no-progress", "--patience", "0"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.time() + 120
    while not os.path.exists(os.path.join(out, "log.jsonl")):
        assert job.poll() is None and time.time() < end, job.communicate()
        time.sleep(0.1)
    children = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True,
                              text=True).stdout.split()
    ranks = {}
    for pid in children:
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        found = [e for e in environ if e.startswith(b"RANK=")]
        if found:
            ranks[int(found[0][5:])] = int(pid)
    os.kill(ranks[rank], signum)
    _, err = job.communicate(timeout=300)
    assert job.returncode != 0
    ours = [line for line in err.splitlines() if line.startswith("Error:")]
    assert ours and "bug in gnnrec" not in err, err
    assert f"gnnrec train --out {out} --resume" in ours[0]
    return out, ours[0]


def test_a_process_torchrun_stops_says_why_in_one_line(tmp_path):
    # torchrun sends SIGTERM to the other processes when one fails; on a loaded machine
    # that can come before the survivor notices the lost peer itself
    import signal

    _, line = _start_job_and_signal(tmp_path, 0, signal.SIGTERM)
    assert "process 0: another process of this torchrun job stopped" in line


def test_a_killed_process_leaves_a_run_that_resumes_on_one(tmp_path):
    import signal

    out, line = _start_job_and_signal(tmp_path, 1, signal.SIGKILL)
    assert "another process of this torchrun job stopped" in line
    done = max(json.loads(x)["epoch"] for x in open(os.path.join(out, "log.jsonl")))
    r = CliRunner().invoke(cli, ["train", "--out", out, "--resume", "--epochs", str(done + 1),
                                 "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
