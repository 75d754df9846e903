"""LightGCN on its own Gowalla benchmark, selected on validation, with
refits and time-to-quality (issue 19).

    python benchmarks/gowalla.py select --rows lightgcn-rns --seeds 0     # a worker
    python benchmarks/gowalla.py refit  --rows lightgcn-rns --seeds 0     # its follower
    python benchmarks/gowalla.py cut --rows lightgcn-rns --seeds 0 --reason WHY  # ends a run
    python benchmarks/gowalla.py summarize --readme benchmarks/README.rst  # summary.json + table
    python benchmarks/gowalla.py stopping --min-delta 0.001   # early stopping replayed on the logs

Every configuration (a row of ROWS and a seed) is two ordinary gnnrec run
folders under ``--out``/runs:

* ``ROW-sSEED``: the **selection run**, on the given train file less a
  validation carve (10% of each user's training items, at random), early
  stopping on validation Recall@20 (patience below). Test Recall/NDCG are
  *logged* at every evaluation (the curve, and "test at the best validation
  epoch" without refit), never read by anything that selects.
* ``ROW-sSEED-refit``: the **refit**: the same spec and seed on all the
  training interactions (the carve put back, ``gnnrec train --refit``'s
  data), trained for the number of epochs the selection run chose; test is
  evaluated once, when that number is final. The refit *follows* the
  selection run (it trains up to the selection run's current best epoch and
  waits), so spare cores make it nearly free in wall-clock (on a 2-core
  VM, one two-thread worker at a time was faster: benchmarks/README.rst);
  training is a function of (seed, epoch) alone, so following equals one
  refit run of the final length (tests/test_refit.py).

Both are resumable: stop a worker at any moment and start it again
(``--resume`` of each folder). Workers claim a job with a lock (the kernel's,
on ``<run>.lock``: it ends with its worker, however that ends), so several
can share one plan. ``summarize`` writes ``summary.json`` (one row
per configuration) and the reST table of ``benchmarks/README.rst``.

Time to quality (the table's "to R@20 0.183"): the training and validation
seconds of the selection run up to the first evaluation whose best-so-far
epoch tests at ``TARGET`` or more; where only a refit does, the selection's
seconds to its best epoch plus the refit's, one after the other on one
machine, marked "(refit)". Neither counts the patience that confirms a best.

Patience: evaluation every ``every`` epochs and a stop after ``patience``
evaluations without a new best validation Recall@20 (ROWS): BPR + RNS gets
10 x 10 = 100 epochs without a new best, which a curve that is still rising
(by more than the validation noise) does not meet. A row may also set
``evaluation.min_delta``: then only a gain above it is a new best.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")

from gnnrec.bench import provenance  # noqa: E402
from gnnrec.data.loading import DataSpec, load_dataset  # noqa: E402
from gnnrec.lock import OutputLock  # noqa: E402
from gnnrec.outputs import atomic_write_text  # noqa: E402
from gnnrec.refit import refit_spec  # noqa: E402
from gnnrec.run import resumed_spec, train_run  # noqa: E402
from gnnrec.spec import Component, RunSpec  # noqa: E402
from gnnrec.train.callbacks import read_log  # noqa: E402
from gnnrec.train.trainer import Callback  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
#: the quality to reach (LightGCN paper, Table 3, Gowalla: test-selected)
TARGET = 0.1830
#: published figures on this split; every one selects its epoch on the test set
PUBLISHED = [
    ("LightGCN, authors' TensorFlow code", 0.1830, 0.1554, "paper, Table 3 (~880 epochs)"),
    ("LightGCN-PyTorch (authors' port), 3 layers, 1000 epochs", 0.1824, 0.1547, "its README"),
    ("BARS gowalla_x1: SimpleX", 0.1872, 0.1557, "reczoo/BARS"),
    ("BARS gowalla_x1: UltraGCN", 0.1862, 0.1580, "reczoo/BARS"),
    ("BARS gowalla_x1: MF-CCL", 0.1837, 0.1493, "reczoo/BARS"),
    ("BARS gowalla_x1: MF-BPR", 0.1627, 0.1378, "reczoo/BARS"),
    ("CAGCN*-jc, a reproduction", 0.1883, 0.1595, "MTandHJ/RePo"),
]
#: HDCCF's auxiliary terms at the paper's weights (off by default now)
HDCCF_AUX = {"hdccf.lambda_u": 0.1, "hdccf.lambda_i": 0.1}
#: the batch-8192 rows' options beside the sampler's: L2 1e-2 (the PDNS row sets its own),
#: lr 1e-2, min_delta 0.001
DNS_B8192 = {"objective.reg_weight": 1e-2, "trainer.lr": 1e-2, "trainer.batch_size": 8192,
             "evaluation.min_delta": 1e-3}
#: row -> (encoder, sampler, loss, options {NAME.KEY: value}, eval every, patience)
#: The samplers' and losses' values are those validation chose on 20-core Gowalla
#: (benchmarks/README.rst, "Do the methods deliver?"), reused here (a stated cut).
ROWS = {
    "lightgcn-rns": ("lightgcn", "rns", "bpr", {}, 10, 10),
    # the authors' sampling (both their codes): a user uniformly, then one of its items
    "lightgcn-rns-users": ("lightgcn", "rns", "bpr", {"trainer.batching": "users"}, 10, 10),
    "lightgcn-dns": ("lightgcn", "dns", "bpr", {"dns.num_candidates": 32}, 5, 10),
    "lightgcn-dns-users": ("lightgcn", "dns", "bpr", {"dns.num_candidates": 32,
                                                      "trainer.batching": "users"}, 5, 10),
    # DNS at larger L2s (20-core Gowalla, given split: validation 1e-3 > 1e-2 > 1e-4, and at
    # 1e-2 test peaks with validation instead of 25 epochs before it); for a GPU lease
    "lightgcn-dns-l2-1e-3": ("lightgcn", "dns", "bpr", {"dns.num_candidates": 32,
                                                        "objective.reg_weight": 1e-3}, 5, 10),
    "lightgcn-dns-l2-1e-2": ("lightgcn", "dns", "bpr", {"dns.num_candidates": 32,
                                                        "objective.reg_weight": 1e-2}, 5, 10),
    # at 1e-2 with a 3x learning rate (20-core probe: validation as high as 1e-3's, reached
    # at epoch 45-70 instead of 145, test flat from there instead of falling)
    "lightgcn-dns-l2-1e-2-lr3e-3": ("lightgcn", "dns", "bpr",
                                    {"dns.num_candidates": 32, "objective.reg_weight": 1e-2,
                                     "trainer.lr": 3e-3}, 5, 10),
    # the same, stopping on gains above the validation noise only: on every row's plateau
    # successive evaluations differ by sd 0.0006-0.0007 Recall@20, and the row above crept
    # up by 0.0001-0.0007 a time from epoch 50 to 185 (each new best restarting patience)
    "lightgcn-dns-l2-1e-2-lr3e-3-md": ("lightgcn", "dns", "bpr",
                                       {"dns.num_candidates": 32, "objective.reg_weight": 1e-2,
                                        "trainer.lr": 3e-3, "evaluation.min_delta": 1e-3},
                                       5, 10),
    # the same at 4x the batch (8192): a full-graph propagation per step makes a DNS epoch
    # 3.8x cheaper on a CPU (results/gowalla/bench_batch.json: 6.6 s against 25.1 s); the
    # learning rate scaled with the batch (x3.3, about linearly)
    "lightgcn-dns-b8192-lr1e-2": ("lightgcn", "dns", "bpr",
                                  {"dns.num_candidates": 32, **DNS_B8192}, 5, 10),
    # and with 64 candidates: PDNS's authors chose 64 for DNS on this split (their Table 5,
    # on validation), "harder negatives preferred" with its many users and items
    "lightgcn-dns64-b8192-lr1e-2": ("lightgcn", "dns", "bpr",
                                    {"dns.num_candidates": 64, **DNS_B8192}, 5, 10),
    # 64 moved validation and test up at every epoch; does a larger pool go on doing so?
    "lightgcn-dns128-b8192-lr1e-2": ("lightgcn", "dns", "bpr",
                                     {"dns.num_candidates": 128, **DNS_B8192}, 5, 10),
    # PDNS at its authors' values for this data set (their Table 6, chosen on validation: H 64,
    # soft factor beta = 1 - a = 0.01, L2 1e-4), batch and lr as the rows above. Its BPR on
    # the mixed negative is DNS's with the score gap scaled by 0.01 (Eq. 7), near-linear, so
    # its L2 of 1e-4 weighs against the loss's gradient about as 1e-2 does against BPR's
    "lightgcn-pdns64-b8192-lr1e-2": ("lightgcn", "pdns", "bpr",
                                     {"pdns.num_candidates": 64, "pdns.mix": 0.99,
                                      **DNS_B8192, "objective.reg_weight": 1e-4}, 5, 10),
    "lightgcn-mixgcf": ("lightgcn", "mixgcf", "bpr", {"mixgcf.num_candidates": 32}, 5, 10),
    "lightgcn-pdns": ("lightgcn", "pdns", "bpr", {"pdns.mix": 0.8}, 5, 10),
    "lightgcn-ahns": ("lightgcn", "ahns", "bpr", {"ahns.alpha": 0.1, "ahns.beta": 1.0}, 5, 10),
    "lightgcn-ssm-logq": ("lightgcn", None, "ssm", {"ssm.tau": 0.1, "ssm.logq": True}, 2, 10),
    "lightgcn-popdcl": ("lightgcn", None, "popdcl", {"popdcl.tau": 0.2}, 2, 10),
    "lightgcn-hdccf": ("lightgcn", None, "hdccf", {"hdccf.tau": 0.2}, 2, 10),
    "lightgcn-dcl": ("lightgcn", None, "dcl", {"dcl.tau": 0.2, "dcl.omega": 0.01}, 2, 10),
    # the in-batch losses at the temperature validation chose for them *with* logQ (0.1,
    # their derived default on sparse data); the rows above ran at 0.2 and plateaued
    "lightgcn-dcl-tau01": ("lightgcn", None, "dcl", {"dcl.tau": 0.1, "dcl.omega": 0.01}, 2, 10),
    "lightgcn-popdcl-tau01": ("lightgcn", None, "popdcl", {"popdcl.tau": 0.1}, 2, 10),
    # DCL at its defaults: tau 0.1 and omega+ the split's class prior (0.0017), derived; at
    # 0.01 half its rows sat at the clamp and the row above stalled
    "lightgcn-dcl-defaults": ("lightgcn", None, "dcl", {}, 2, 10),
    # HDCCF likewise (tau 0.1; omega+ 0.0017 items, 0.0023 users) with its negative users
    # and auxiliary terms, its defaults on sparse data then (this row ran as "-defaults");
    # the row above: tau 0.2
    "lightgcn-hdccf-users": ("lightgcn", None, "hdccf", {"hdccf.user_negatives": True,
                                                         **HDCCF_AUX}, 2, 10),
    # without the negative users, with the auxiliary terms (ran as "-defaults" too)
    "lightgcn-hdccf-nousers": ("lightgcn", None, "hdccf", {"hdccf.user_negatives": False,
                                                           **HDCCF_AUX}, 2, 10),
    # HDCCF at its defaults now: neither (each lost or did nothing on the sets measured)
    "lightgcn-hdccf-defaults": ("lightgcn", None, "hdccf", {}, 2, 10),
    "mf-rns": ("mf", "rns", "bpr", {}, 10, 10),
    "mf-dns": ("mf", "dns", "bpr", {"dns.num_candidates": 32}, 5, 10),
    # MF overfits this split at LightGCN's L2 (1e-4): a grid over its L2, chosen on
    # validation across these rows (each an ordinary resumable run, no pruning)
    "mf-rns-l2-1e-3": ("mf", "rns", "bpr", {"objective.reg_weight": 1e-3}, 5, 10),
    "mf-rns-l2-1e-2": ("mf", "rns", "bpr", {"objective.reg_weight": 1e-2}, 5, 10),
    "mf-rns-l2-3e-2": ("mf", "rns", "bpr", {"objective.reg_weight": 3e-2}, 5, 10),
    "mf-rns-l2-1e-1": ("mf", "rns", "bpr", {"objective.reg_weight": 1e-1}, 5, 10),
    # MF with the best sampler above (DNS): its own L2 grid (validation: 1e-2 over 1e-3,
    # so the grid goes on upwards)
    "mf-dns-l2-1e-3": ("mf", "dns", "bpr", {"dns.num_candidates": 32,
                                            "objective.reg_weight": 1e-3}, 5, 10),
    "mf-dns-l2-1e-2": ("mf", "dns", "bpr", {"dns.num_candidates": 32,
                                            "objective.reg_weight": 1e-2}, 5, 10),
    "mf-dns-l2-3e-2": ("mf", "dns", "bpr", {"dns.num_candidates": 32,
                                            "objective.reg_weight": 3e-2}, 5, 10),
    "mf-dns-l2-1e-1": ("mf", "dns", "bpr", {"dns.num_candidates": 32,
                                            "objective.reg_weight": 1e-1}, 5, 10),
    "ngcf-rns": ("ngcf", "rns", "bpr", {}, 10, 10),
}
MAX_EPOCHS = 1000
CURVE_KEYS = ("epoch", "loss", "val/recall@20", "test/recall@20", "test/ndcg@20", "hardness")


def row_spec(args, row: str, seed: int) -> RunSpec:
    r"""The selection run's spec: the LightGCN authors' settings (dim 64,
    3 layers, Adam lr 1e-3, L2 1e-4, batch 2048) and the row's method."""
    encoder, sampler, loss, options, every, patience = ROWS[row]
    spec = RunSpec(model=Component(encoder, {"embedding_dim": 64}),
                   sampler=None if sampler is None else Component(sampler),
                   loss=Component(loss),
                   trainer={"epochs": MAX_EPOCHS, "batch_size": 2048, "lr": 1e-3, "seed": seed},
                   objective={"reg_weight": 1e-4},
                   evaluation={"ks": [20], "metric": "recall@20", "patience": patience,
                               "eval_every": every},
                   data=DataSpec(path=args.data, split="given", val_frac=0.1, seed=0),
                   layers=None if encoder == "mf" else 3)
    for path, value in options.items():
        spec.set_option(path, value)
    return spec.validate()


def run_spec(run: str, spec: RunSpec) -> RunSpec:
    r"""``spec`` for a new run; a run folder with a checkpoint goes on under
    its own (:func:`gnnrec.run.resumed_spec`), so a default changed since it
    started does not get its resume refused."""
    return resumed_spec(run, spec) if os.path.exists(os.path.join(run, "last.pt")) else spec


def folder(args, row, seed, refit=False, runs=None):
    runs = runs or getattr(args, "group", "runs")
    return os.path.join(args.out, runs, f"{row}-s{seed}" + ("-refit" if refit else ""))


class DeadlinePassed(Exception):
    """A worker's time is up; its run folders are resumable."""


class Deadline(Callback):
    """Ends a worker after the epoch that passes ``when``, once that epoch's
    log line and checkpoint are written (it runs after them). With
    ``at_best`` it waits for an epoch that is the best so far, so that
    ``last.pt`` alone carries the run (``best.pt`` is then its model: what
    a run moved between machines through a small channel needs)."""

    def __init__(self, when, at_best=False):
        self.when, self.at_best = when, at_best

    def on_epoch_end(self, trainer, epoch, logs):
        if self.when and time.time() > self.when and (logs.get("is_best")
                                                      or not self.at_best):
            raise DeadlinePassed(f"deadline after epoch {epoch}")


def claim(path):
    r"""The lock of the job whose run folder is ``path`` (the kernel's lock on
    ``path + ".lock"``, which ends with its process however that ends, so a
    stopped worker leaves nothing to clean up), or ``None`` while another
    worker holds it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return OutputLock(path + ".lock", path).try_acquire()


def selection_state(run):
    r"""``(best_epoch, final)`` of a selection run folder (0, False when it
    has not evaluated yet): final once it has finished or was cut."""
    log, _ = read_log(os.path.join(run, "log.jsonl"))
    best = max((r.get("best_epoch", 0) or 0 for r in log), default=0)
    return best, os.path.exists(os.path.join(run, "results.json")) or cut_of(run) is not None


def cut_of(run):
    r"""The ``cut.json`` of a selection run that will not resume (``gowalla.py
    cut``): its epochs run and why; None for a run that can go on."""
    path = os.path.join(run, "cut.json")
    return json.load(open(path)) if os.path.exists(path) else None


def cmd_stopping(args):
    r"""Replays early stopping at ``--min-delta`` over every selection run's
    logged validation curve: the epoch it would select and where it would
    stop. Training does not depend on the stopping rule, and a positive
    ``min_delta`` never stops later than none (a gain above it is a new
    maximum too), so on a finished run the replay is what that run would
    have done; test is read at the replayed choice, as the table reads it."""
    from gnnrec.train.callbacks import EarlyStopping

    out, trainer = [], type("T", (), {"should_stop": False})()
    runs = os.path.join(args.out, "runs")
    for row, (_, _, _, _, _, patience) in ROWS.items():
        for seed in seeds_in(runs, row):
            log, _ = read_log(os.path.join(runs, f"{row}-s{seed}", "log.jsonl"))
            evals = [r for r in log if "val/recall@20" in r]
            if not evals:
                continue
            rule = EarlyStopping("v", patience, min_delta=args.min_delta)
            stop = None
            for r in evals:
                logs = {"v": r["val/recall@20"]}
                rule.on_epoch_end(trainer, r["epoch"], logs)
                if logs.get("early_stop"):
                    stop = r["epoch"]
                    break
            own = evals[-1].get("best_epoch")
            at = {r["epoch"]: r for r in evals}
            out.append({"row": row, "seed": seed, "patience": patience,
                        "min_delta": args.min_delta, "own_best_epoch": own,
                        "own_test_recall@20": at.get(own, {}).get("test/recall@20"),
                        "best_epoch": rule.best_epoch, "stop_epoch": stop,
                        "logged_to": evals[-1]["epoch"],
                        "test_recall@20": at[rule.best_epoch].get("test/recall@20")})
    from methods import rst

    def f4(v):
        return "-" if v is None else f"{v:.4f}"

    print(rst(["row", "seed", "own best", "test there", f"min_delta {args.min_delta} best",
               "test there", "stops at"],
              [[r["row"], r["seed"], r["own_best_epoch"], f4(r["own_test_recall@20"]),
                r["best_epoch"], f4(r["test_recall@20"]),
                r["stop_epoch"] or f"not by {r['logged_to']}"] for r in out]))
    if args.save:
        with open(args.save, "w") as f:
            json.dump(out, f, indent=1)


def cmd_cut(args):
    r"""Ends selection runs that cannot or will not resume (their checkpoint
    lost, say) at their best epoch so far: writes ``cut.json``, after which
    ``select`` leaves the run alone, ``refit`` trains to that epoch and
    tests, and the table marks the row cut at its last epoch."""
    for row, seed in jobs(args):
        run = folder(args, row, seed)
        best, final = selection_state(run)
        if best == 0:
            raise SystemExit(f"{run}: no evaluated epoch to cut at")
        if final:
            print(f"{run}: already final")
            continue
        cut = {"epochs_run": _trained_epochs(run), "best_epoch": best, "reason": args.reason,
               "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        with open(os.path.join(run, "cut.json"), "w") as f:
            json.dump(cut, f, indent=1)
        print(f"{run}: cut at epoch {cut['epochs_run']}, best epoch {best}")


_DATA = {}


def dataset(spec):
    key = json.dumps(spec.data.__dict__, sort_keys=True, default=str)
    if key not in _DATA:
        _DATA[key] = load_dataset(spec.data)
    return _DATA[key]


def jobs(args):
    return [(row, int(seed)) for row in args.rows.split(",") for seed in args.seeds.split(",")]


def note_machine(args, run):
    """Appends what is about to train ``run`` to ``run.machines.jsonl``
    (a run resumed elsewhere lists every machine, with its first epoch)."""
    with open(run + ".machines.jsonl", "a") as f:
        f.write(json.dumps({**describe_machine(args.device), "from_epoch": _trained_epochs(run),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")


def cmd_select(args):
    when = time.time() + args.max_seconds if args.max_seconds else None
    for row, seed in jobs(args):
        run = folder(args, row, seed)
        if selection_state(run)[1]:
            continue
        if checkpoint_gone(run):
            print(f"[{row} s{seed}] {run}: trained {_trained_epochs(run)} epochs but its last.pt "
                  "is gone: `gowalla.py cut` ends it at its best epoch so far; remove the folder "
                  "to start it again", flush=True)
            continue
        lock = claim(run)
        if lock is None:
            print(f"[{row} s{seed}] another worker is training it: skipped", flush=True)
            continue
        try:
            spec = run_spec(run, row_spec(args, row, seed))
            print(f"{os.getpid()} select {row} seed {seed}", flush=True)
            note_machine(args, run)
            train_run(spec, dataset(spec), run, device=args.device,
                      resume=os.path.exists(os.path.join(run, "last.pt")),
                      echo=lambda m: print(f"[{row} s{seed}] {m}", flush=True),
                      also_evaluate=("test",), callbacks=[Deadline(when, args.stop_at_best)])
        except DeadlinePassed as e:
            print(f"[{row} s{seed}] {e}: stopped, resumable", flush=True)
            return
        finally:
            lock.release()


def cmd_refit(args):
    r"""Follows each selection run: trains its refit up to the selection
    run's current best epoch, waits for more, and tests once when the
    selection run has finished."""
    when = time.time() + args.max_seconds if args.max_seconds else None
    pending = jobs(args)
    while pending and not (when and time.time() > when):
        progressed = False
        for job in list(pending):
            row, seed = job
            sel, run = folder(args, row, seed), folder(args, row, seed, refit=True)
            if refit_done(run):
                pending.remove(job)
                continue
            best, done = selection_state(sel)
            have = _trained_epochs(run)
            if checkpoint_gone(run):
                print(f"[{row} s{seed} refit] {run}: trained {have} epochs but its last.pt is "
                      "gone: remove the folder to refit from epoch 0", flush=True)
                pending.remove(job)
                continue
            if best == 0 or (have >= best and not done):
                continue
            lock = claim(run)
            if lock is None:
                continue
            if have > best:
                raise SystemExit(f"{run}: trained {have} epochs, past the selection run's best "
                                 f"epoch {best}; remove it and refit again")
            try:
                spec = refit_spec(run_spec(run, row_spec(args, row, seed)), best)
                print(f"{os.getpid()} refit {row} seed {seed}: epochs {have} -> {best}"
                      + (" (final)" if done else ""), flush=True)
                note_machine(args, run)
                train_run(spec, dataset(spec), run, device=args.device,
                          resume=os.path.exists(os.path.join(run, "last.pt")),
                          echo=lambda m: print(f"[{row} s{seed} refit] {m}", flush=True),
                          test=done, callbacks=[Deadline(when)])
                progressed = True
            except DeadlinePassed as e:
                print(f"[{row} s{seed} refit] {e}: stopped, resumable", flush=True)
                return
            finally:
                lock.release()
        if not progressed:
            time.sleep(args.poll)


def refit_done(run):
    """A refit is done when its test was evaluated (the final length only)."""
    path = os.path.join(run, "results.json")
    return os.path.exists(path) and "test" in json.load(open(path))


def checkpoint_gone(run):
    r"""A run folder that trained epochs and has no ``last.pt`` to go on
    from (git keeps the logs, not the checkpoints): never started over
    silently."""
    return _trained_epochs(run) > 0 and not os.path.exists(os.path.join(run, "last.pt"))


def _trained_epochs(run):
    log, _ = read_log(os.path.join(run, "log.jsonl"))
    return max((r.get("epoch", 0) for r in log), default=0)


# --------------------------------------------------------------------------- summary

def commit():
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def machine(run):
    """What trained a run: one entry per worker start (``note_machine``)."""
    path = run + ".machines.jsonl"
    if not os.path.exists(path):
        return None
    return [json.loads(line) for line in open(path) if line.strip()]


def describe_machine(device):
    info = {"node": platform.node(), "cpus": os.cpu_count(), "torch_threads":
            torch.get_num_threads(), "torch": torch.__version__, "device": str(device)}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def summarize_selection(run):
    log, _ = read_log(os.path.join(run, "log.jsonl"))
    if not log:
        return None
    evals = [r for r in log if "val/recall@20" in r]
    if not evals:
        return None
    by_epoch = {r["epoch"]: r for r in evals}

    def chosen(upto):  # the run's own choice by then (its early stopping's rule, min_delta
        if upto.get("best_epoch") in by_epoch:  # included), else the plain maximum
            return by_epoch[upto["best_epoch"]]
        return max((r for r in evals if r["epoch"] <= upto["epoch"]),
                   key=lambda r: (r["val/recall@20"], -r["epoch"]))

    best = chosen(evals[-1])
    clock, elapsed = 0.0, {}
    for r in log:  # training plus validation time: what selection costs a user
        clock += r.get("train_seconds", 0.0) + r.get("eval_seconds_val",
                                                     r.get("val/seconds", 0.0))
        elapsed[r["epoch"]] = clock
    # the first evaluation whose validation-selected epoch tests >= TARGET
    reached = next((r for r in evals if chosen(r).get("test/recall@20", 0) >= TARGET), None)
    hard = [r["hardness"] for r in log[len(log) // 2:] if r.get("hardness") is not None]
    # what selecting on test, as the published figures do, would have reported from the same
    # curve: for comparison only (its optimism over validation selection), never a result
    tested = [r for r in evals if r.get("test/recall@20") is not None]
    on_test = max(tested, key=lambda r: (r["test/recall@20"], -r["epoch"])) if tested else None
    return {"best_epoch": best["epoch"], "epochs_run": log[-1]["epoch"],
            "finished": os.path.exists(os.path.join(run, "results.json")),
            "cut": cut_of(run),
            "val_recall@20": best["val/recall@20"],
            "test_recall@20": best.get("test/recall@20"), "test_ndcg@20": best.get("test/ndcg@20"),
            "selected_on_test": ({"epoch": on_test["epoch"],
                                  "test_recall@20": on_test["test/recall@20"]}
                                 if on_test else None),
            "seconds_to_best": elapsed[best["epoch"]],
            "seconds_run": clock,  # to the last epoch run: patience's tail included
            "seconds_to_target": elapsed[reached["epoch"]] if reached else None,
            "epoch_target_reached": reached["epoch"] if reached else None,
            "seconds_per_epoch": statistics.median(r["train_seconds"] for r in log),
            "hardness": statistics.median(hard) if hard else None,
            "curve": [{k: r.get(k) for k in CURVE_KEYS} for r in evals]}


def summarize_refit(run):
    path = os.path.join(run, "results.json")
    if not refit_done(run):
        return None
    res = json.load(open(path))
    log, _ = read_log(os.path.join(run, "log.jsonl"))
    test = res["test"]
    return {"epochs": res.get("epochs_run"), "test_recall@20": test.get("recall@20"),
            "test_ndcg@20": test.get("ndcg@20"),
            "seconds": sum(r.get("train_seconds", 0.0) for r in log), "machine": machine(run)}


def mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


#: folders of run folders summarized: the runs, and the cut survey of a GPU lease
GROUPS = (("runs", None),
          ("gpu-survey", "H200 survey: ~7 minutes of 6 runs sharing one GPU, cut mid-run"))


def cmd_summarize(args):
    rows = []
    for runs, note in GROUPS:
        rows += summarize_group(args, runs, note)
    write_summary(args, rows)


def seeds_in(runs, row):
    """The seeds of ``row`` whose selection folders (``<row>-s<seed>``) are in ``runs``."""
    names = os.listdir(runs) if os.path.isdir(runs) else []
    return sorted(int(n[len(row) + 2:]) for n in names
                  if n.startswith(row + "-s") and n[len(row) + 2:].isdigit())


def summarize_group(args, group, note):
    runs = os.path.join(args.out, group)
    rows = []
    for row in ROWS:
        sel = {s: summarize_selection(folder(args, row, s, runs=group))
               for s in seeds_in(runs, row)}
        sel = {s: v for s, v in sel.items() if v}
        if not sel:
            continue
        ref = {s: summarize_refit(folder(args, row, s, True, runs=group)) for s in sel}
        # a seed still running beside final ones (finished or cut) stays out of the row's
        # figures until it is final: its best so far is not comparable with theirs
        final = [s for s in sel if sel[s]["finished"] or sel[s]["cut"]]
        running = sorted(set(sel) - set(final)) if final else []
        agg = {s: v for s, v in sel.items() if s not in running}
        encoder, sampler, loss, options, every, patience = ROWS[row]
        out = {"row": row + (" (GPU survey)" if note else ""), "group": group, "note": note,
               "model": encoder, "sampler": sampler, "loss": loss,
               "options": options, "selection": "validation",
               "validation": "10% of each user's training items (seed 0)",
               "eval_every": every, "patience_evaluations": patience, "seeds": sorted(agg),
               "running": {s: sel[s]["epochs_run"] for s in running},
               "finished": [s for s in agg if sel[s]["finished"]],
               "cut": {s: sel[s]["cut"] for s in agg if sel[s]["cut"]},
               "machine": {s: machine(folder(args, row, s, runs=group)) for s in sel},
               "per_seed": {}}
        for name, get in (("test_recall@20", lambda s: sel[s]["test_recall@20"]),
                          ("test_ndcg@20", lambda s: sel[s]["test_ndcg@20"]),
                          ("best_epoch", lambda s: sel[s]["best_epoch"]),
                          ("seconds_to_best", lambda s: sel[s]["seconds_to_best"])):
            m, sd = mean_std([get(s) for s in agg])
            out[name] = {"mean": m, "std": sd}
        refits = {s: r for s, r in ref.items() if r and s in agg}
        out["refit"] = None
        if refits:
            out["refit"] = {"seeds": sorted(refits)}
            for name in ("test_recall@20", "test_ndcg@20"):
                m, sd = mean_std([r[name] for r in refits.values()])
                out["refit"][name] = {"mean": m, "std": sd}
        # refits not finished (trained some epochs, not tested: under way, paused or left):
        # named in the table with the epochs run, not averaged
        out["refit_running"] = {
            s: {"epoch": e, "of": sel[s]["best_epoch"]} for s in agg if not ref[s]
            for e in [_trained_epochs(folder(args, row, s, True, runs=group))] if e}
        out["seconds_to_target"] = {s: sel[s]["seconds_to_target"] for s in agg}
        # a refit that tests >= TARGET: selection to its best epoch, then the refit, one after
        # the other on one machine (a refit following on a second core overlaps the two)
        out["seconds_to_target_refit"] = {
            s: sel[s]["seconds_to_best"] + r["seconds"] for s, r in refits.items()
            if r["test_recall@20"] is not None and r["test_recall@20"] >= TARGET}
        # what a user waits for that result: the whole selection run (patience's tail
        # included: the chosen epoch is known only at its end), then the refit
        out["seconds_end_to_end_refit"] = {
            s: sel[s]["seconds_run"] + ref[s]["seconds"] for s in out["seconds_to_target_refit"]}
        for s in sel:
            out["per_seed"][s] = {"selection": {k: v for k, v in sel[s].items() if k != "curve"},
                                  "refit": ref.get(s)}
        out["curves"] = {s: sel[s]["curve"] for s in sel}
        rows.append(out)
    return rows


def sampling_pairs(rows):
    r"""Each ``-users`` row (the authors' sampling: a user uniformly, then one
    of its items) beside its row with gnnrec's default (one pass over the
    interactions), same seed, at the epochs both evaluated: validation and
    test Recall@20 of each. Epoch-matched, so it compares the two samplings
    before either run has finished."""
    by_name = {row["row"]: row for row in rows if not row.get("note")}
    pairs = []
    for name, row in by_name.items():
        users = row["options"].get("trainer.batching") == "users"
        base = by_name.get(name[:-len("-users")]) if users and name.endswith("-users") else None
        if base is None:
            continue
        for seed in sorted(set(row["curves"]) & set(base["curves"])):
            edges = {r["epoch"]: r for r in base["curves"][seed]}
            for r in row["curves"][seed]:
                e = edges.get(r["epoch"])
                if e is None or r.get("test/recall@20") is None:
                    continue
                pairs.append({"row": name, "seed": seed, "epoch": r["epoch"],
                              **{f"{k}_{tag}": x[k] for k in ("val/recall@20", "test/recall@20")
                                 for tag, x in (("edges", e), ("users", r))}})
    return pairs


def pairs_table(pairs):
    from methods import rst

    body = [[p["row"], str(p["seed"]), str(p["epoch"]),
             f"{p['val/recall@20_edges']:.4f}", f"{p['val/recall@20_users']:.4f}",
             f"{p['val/recall@20_users'] / p['val/recall@20_edges'] - 1:+.1%}",
             f"{p['test/recall@20_edges']:.4f}", f"{p['test/recall@20_users']:.4f}",
             f"{p['test/recall@20_users'] / p['test/recall@20_edges'] - 1:+.1%}"]
            for p in pairs]
    return rst(["row", "seed", "epoch", "val edges", "val users", "change", "test edges",
                "test users", "change"], body)


def write_summary(args, rows):
    pairs = sampling_pairs(rows)
    curves = {row["row"]: row.pop("curves") for row in rows}
    with open(os.path.join(args.out, "curves.json"), "w") as f:
        json.dump(curves, f)
    summary = {"benchmark": "LightGCN Gowalla split (29,858 users x 40,981 items, 810,128 "
                            "training interactions), Recall@20 / NDCG@20 over all items",
               "target_recall@20": TARGET, **provenance("cpu", ["benchmarks/gowalla.py",
                                                                *sys.argv[1:]]),
               "published_selected_on_test": [
                   {"system": n, "recall@20": r, "ndcg@20": nd, "source": src}
                   for n, r, nd, src in PUBLISHED],
               "rows": rows, "sampling_pairs": pairs}
    path = os.path.join(args.out, "summary.json")
    with open(path + ".tmp", "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(path + ".tmp", path)
    text = table(summary)
    print(text)
    if args.readme:
        replace_table(args.readme, text)
        print(f"table written into {args.readme}")
    if pairs:
        print("\nThe authors' sampling (users) against one pass over the interactions "
              "(edges), the same epochs:")
        print(pairs_table(pairs))
    if args.plot:
        plot(args, rows)


def fmt(d, digits=4):
    if d is None or d.get("mean") is None:
        return "-"
    if d.get("std") is None:
        return f"{d['mean']:.{digits}f}"
    return f"{d['mean']:.{digits}f} +- {d['std']:.{digits}f}"


def table(summary):
    from methods import rst

    body = []
    for n, r, nd, src in PUBLISHED:
        body.append([n, "test (published)", f"{r:.4f}", f"{nd:.4f}", "-", "-", "-", src])
    for row in summary["rows"]:
        seeds = ",".join(map(str, row["seeds"]))
        cuts = sorted({c["epochs_run"] for c in row.get("cut", {}).values()})
        done = ("" if len(row["finished"]) == len(row["seeds"]) else
                " (cut)" if row.get("note") else
                f" (cut at {','.join(map(str, cuts))})"
                if len(row["finished"]) + len(cuts) == len(row["seeds"]) else
                " (not final: epoch " + ",".join(str(v["selection"]["epochs_run"])
                                                 for v in row["per_seed"].values()) + ")")
        hit = [v for v in row["seconds_to_target"].values() if v is not None]
        hit_refit = list(row.get("seconds_to_target_refit", {}).values())
        to_target = (minutes(hit, row["seeds"]) if hit else
                     minutes(hit_refit, row["seeds"], "refit") if hit_refit else "-")
        done += "".join(f"; seed {s} running (epoch {e})"
                        for s, e in sorted(row.get("running", {}).items()))
        done += "".join(f"; seed {s} refit ran {r['epoch']} of {r['of']} epochs"
                        for s, r in sorted(row.get("refit_running", {}).items()))
        refit = "-"
        if row["refit"]:
            refit = fmt(row["refit"]["test_recall@20"])
            covered = row["refit"]["seeds"]
            if covered != row["seeds"]:
                refit += f" ({'seed' if len(covered) == 1 else 'seeds'} " \
                         f"{','.join(map(str, covered))})"
        body.append([row["row"] + done, f"validation, seeds {seeds}",
                     fmt(row["test_recall@20"]), fmt(row["test_ndcg@20"]),
                     refit,
                     fmt(row["best_epoch"], 0), to_target,
                     "gnnrec"])
    return rst(["system", "selected on", "R@20", "N@20", "R@20 refit", "best epoch",
                f"to R@20 {TARGET}", "source"], body)


def replace_table(path, text):
    r"""Writes ``text`` (:func:`table`) over the table in the reST file
    ``path`` whose header row starts ``system`` and names ``selected on``
    (benchmarks/README.rst, section 5), so that regenerating it needs no
    hand edit; a file without that table is refused, not appended to."""
    lines = open(path).read().split("\n")
    head = next((i for i, line in enumerate(lines)
                 if line.startswith("system ") and " selected on " in line
                 and i > 0 and set(lines[i - 1]) == {"=", " "}), None)
    if head is None:
        raise SystemExit(f"{path}: no table with a 'system ... selected on' header to replace")
    rules = [i for i in range(head - 1, len(lines))
             if lines[i] and set(lines[i]) == {"=", " "}][:3]
    if len(rules) < 3:
        raise SystemExit(f"{path}: the table under line {head + 1} has no closing rule")
    lines[head - 1:rules[2] + 1] = [line.rstrip() for line in text.split("\n")]
    atomic_write_text(path, "\n".join(lines))


def minutes(seconds, seeds, how=None):
    """Every seed's time to the target, not the fastest: ``"113-122 min (refit)"``, and
    ``"1 of 2 seeds"`` when some seeds never reached it."""
    lo, hi = round(min(seconds) / 60), round(max(seconds) / 60)
    notes = ([how] if how else []) + ([f"{len(seconds)} of {len(seeds)} seeds"]
                                      if len(seconds) < len(seeds) else [])
    span = f"{lo} min" if lo == hi else f"{lo}-{hi} min"
    return span + (f" ({', '.join(notes)})" if notes else "")


def plot(args, rows):
    from gnnrec.plot import plot_curves

    curves = {}
    for row, data in json.load(open(os.path.join(args.out, "curves.json"))).items():
        for seed, curve in data.items():
            curves[f"{row} s{seed}"] = curve
    path = os.path.join(args.out, "curves.png")
    plot_curves(curves, [("val/recall@20", "validation Recall@20"),
                         ("test/recall@20", "test Recall@20 (logged, not selected on)"),
                         ("loss", "training loss")], path,
                title="Gowalla (LightGCN split): selection runs")
    print(f"plot: {path}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("select", "refit", "cut", "summarize", "stopping"):
        s = sub.add_parser(name)
        s.add_argument("--out", default=os.path.join(HERE, "results", "gowalla"))
        s.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data",
                                                      "gowalla"),
                       help="the LightGCN Gowalla folder (train.txt, test.txt)")
        if name not in ("summarize", "stopping"):
            s.add_argument("--rows", default="lightgcn-rns", help=f"of {', '.join(ROWS)}")
            s.add_argument("--seeds", default="0")
            s.add_argument("--device", default="cpu")
            s.add_argument("--threads", type=int, default=1, help="torch threads")
            s.add_argument("--group", default="runs", choices=[g for g, _ in GROUPS],
                           help="the folder of run folders under --out (default: runs)")
            s.add_argument("--max-seconds", type=float, default=None,
                           help="stop cleanly after the epoch that passes this (resumable)")
    sub.choices["select"].add_argument(
        "--stop-at-best", action="store_true",
        help="with --max-seconds: stop at the first epoch past it that is the best so far "
             "(last.pt then carries the run alone; see Deadline)")
    sub.choices["refit"].add_argument("--poll", type=float, default=60.0,
                                      help="seconds between looks at the selection runs")
    sub.choices["cut"].add_argument("--reason", required=True,
                                    help="why the run ends here (kept in cut.json)")
    sub.choices["summarize"].add_argument("--plot", action="store_true")
    sub.choices["summarize"].add_argument(
        "--readme", default=None, metavar="RST",
        help="also write the table over the one in this reST file "
             "(benchmarks/README.rst)")
    sub.choices["stopping"].add_argument("--min-delta", type=float, default=0.001)
    sub.choices["stopping"].add_argument("--save", default=None, help="a JSON file")
    args = p.parse_args(argv)
    if args.cmd not in ("summarize", "stopping"):
        torch.set_num_threads(args.threads)
        for row, seed in jobs(args):
            if row not in ROWS:
                p.error(f"unknown row {row!r}")
        os.makedirs(os.path.join(args.out, args.group), exist_ok=True)
    try:
        {"select": cmd_select, "refit": cmd_refit, "cut": cmd_cut,
         "summarize": cmd_summarize, "stopping": cmd_stopping}[args.cmd](args)
    except KeyboardInterrupt:  # a run's last.pt holds its last completed epoch
        if args.cmd in ("select", "refit"):
            print("\ninterrupted: each run folder's last.pt holds its last completed epoch; "
                  "the same command resumes them", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main(sys.argv[1:])
