"""What AHNS does on a dataset: the positive scores it sees against its
target, the share of positives below -alpha, and how often its pick is the
highest-scored candidate (DNS's pick), epoch by epoch (issue 22).

    gnnrec data synth --users 1000 --items 800 --interactions 60000 --seed 5 --out d.csv
    python benchmarks/ahns_regime.py d.csv --encoders lightgcn,mf --epochs 40 \
        --out benchmarks/results/ahns_regime_synth.json

AHNS rates candidate m by |s_m - beta (s+ + alpha)^(p+1)| (Eq. 2). When the
target is far above every candidate's score, the argmin is the argmax: AHNS
is then DNS with M candidates, the hardest choice, whatever the positive's
score. The script trains an ordinary run with a probe on AHNS's ratings and
writes, per epoch, the mean positive score, the mean target, the share of
picks that are the candidate maximum, and the share of positives with
s+ + alpha <= 0 (where the authors' code, computing the power directly,
aims at a negative score, and gnnrec's clamp aims at the maximum).
"""
import argparse
import json
import os
import sys

import torch

from gnnrec.bench import provenance
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.run import train_run
from gnnrec.sampling.ahns import AHNS
from gnnrec.spec import Component, RunSpec
from gnnrec.train.trainer import Callback


class Probe(Callback):
    """Wraps the sampler's ratings for the run and sums what they saw."""

    def __init__(self, sampler: AHNS):
        self.sampler, self.rows, self.sums = sampler, [], None
        rate = sampler.ratings
        self.reset()

        def ratings(cand_scores, pos_score):
            r = rate(cand_scores, pos_score)
            ps = pos_score.double().reshape(-1)
            target = sampler.ideal_score(pos_score).reshape(-1)
            self.sums["n"] += ps.numel()
            self.sums["below"] += float((ps + sampler.alpha <= 0).sum())
            self.sums["pos"] += float(ps.sum())
            self.sums["target"] += float(target.clamp(max=1e6).sum())
            self.sums["cand_max"] += float(cand_scores.double().amax(-1).sum())
            self.sums["is_max"] += float((r.argmin(-1) == cand_scores.argmax(-1)).sum())
            return r

        sampler.ratings = ratings

    def reset(self):
        self.sums = dict.fromkeys(("n", "below", "pos", "target", "cand_max", "is_max"), 0.0)

    def on_epoch_end(self, trainer, epoch, logs):
        n = max(self.sums["n"], 1.0)
        self.rows.append({"epoch": epoch, "mean_pos_score": self.sums["pos"] / n,
                          "mean_target": self.sums["target"] / n,
                          "mean_candidate_max": self.sums["cand_max"] / n,
                          "share_pick_is_candidate_max": self.sums["is_max"] / n,
                          "share_pos_plus_alpha_le_0": self.sums["below"] / n,
                          "hardness": logs.get("hardness"),
                          "val/recall@20": logs.get("val/recall@20")})
        self.reset()


def run(args, encoder):
    spec = RunSpec(model=Component(encoder), sampler=Component("ahns", dict(args.ahns)),
                   trainer={"epochs": args.epochs, "seed": args.seed},
                   evaluation={"eval_every": 5, "patience": 0},
                   data=DataSpec(path=args.data, split="random", test_frac=0.2, val_frac=0.1,
                                 k_core=args.k_core, seed=1)).validate()
    dataset = load_dataset(spec.data)
    objective_probe = {}

    class Attach(Callback):
        def on_fit_start(self, trainer):
            objective_probe["probe"] = Probe(trainer.objective.sampler)
            trainer.callbacks.append(objective_probe["probe"])

    folder = os.path.join(args.work, f"{encoder}")
    train_run(spec, dataset, folder, device="cpu", overwrite=True, echo=lambda m: None,
              callbacks=[Attach()], test=False)
    return objective_probe["probe"].rows


def _pair(text):
    key, value = text.split("=")
    return key, float(value)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--encoders", default="lightgcn,mf")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--k-core", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ahns", nargs="*", default=[], type=_pair,
                   help="AHNS options KEY=VALUE (default: gnnrec's defaults)")
    p.add_argument("--work", default="/tmp/gnnrec-ahns-regime")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    result = {**provenance("cpu", [sys.argv[0], *(argv or sys.argv[1:])]),
              "data": args.data, "k_core": args.k_core, "split": "random 70/10/20, seed 1",
              "ahns": dict(args.ahns), "encoders": {}}
    for encoder in args.encoders.split(","):
        result["encoders"][encoder] = run(args, encoder)
        rows = result["encoders"][encoder]
        print(encoder, [(r["epoch"], round(r["mean_pos_score"], 3), round(r["mean_target"], 2),
                         round(r["share_pick_is_candidate_max"], 3)) for r in rows[::5]],
              flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
