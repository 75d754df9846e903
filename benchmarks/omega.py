r"""DCL's and PopDCL's :math:`\omega^+` against the measured false-negative
rate of their negatives: how often a negative is one of the user's held-out
(validation or test) items.

    python benchmarks/omega.py ../shared/data/gowalla --k-core 30 --label g30-dense \
        --out benchmarks/results/dense/omega_g30.json

The data are split as ``benchmarks/dense.py`` splits them (random 70/10/20,
data seed 1). No model is trained: for ``--batches`` batches of training
pairs drawn as training draws them (uniformly over the pairs), each row's
negatives are the other rows' items that are not its user's training items
(what the in-batch losses keep), and the measured rates are

All three are means over the rows (each row's own share), as
:math:`\omega^+` acts per row.

* ``in_batch``: the share of those negatives that are held-out items of the
  row's user (the rate DCL's :math:`\omega^+` stands for when negatives are
  drawn in batch, without ``logq``);
* ``in_batch_logq``: the same share with each negative weighted by
  :math:`1/q_j` (what ``logq`` estimates: the rate among uniformly drawn
  negatives);
* ``uniform``: the exact rate among uniformly drawn non-training items,
  :math:`|\text{held-out}(u)| / (N - |\text{train}(u)|)`, averaged over the
  rows;

beside DCL's and HDCCF's constant :math:`\omega^+` (their defaults) and PopDCL's
per-user :math:`\omega^+(u) = \sum_{i \in \mathcal N_u} \mathrm{pop}(i)/|\mathcal D|`
(Eq. 8), whose calibration is shown per fifth of the rows sorted by it
(mean :math:`\omega^+(u)` against the measured in-batch rate of those rows).
Held-out items are the only missing positives a split can name, so the
measured rates are lower bounds of the real ones.
"""
import argparse
import json
import os
import sys

import torch

from gnnrec.bench import provenance
from gnnrec.data.loading import DataSpec, load_dataset
from gnnrec.losses import DCL
from gnnrec.metrics import split_sets


def measure(dataset, batches: int, batch_size: int, seed: int = 0):
    sets = split_sets(dataset, "cpu")
    train = sets["train"]
    folds = [f for f in ("val", "test") if f in sets]
    held = [sets[f] for f in folds]
    user, item = dataset.edges("train")
    N, D = dataset.num_items, len(user)
    pop = torch.bincount(item, minlength=N).double()
    train_deg = torch.bincount(user, minlength=dataset.num_users).double()
    held_deg = sum(torch.bincount(dataset.edges(f)[0], minlength=dataset.num_users).double()
                   for f in folds)
    omega_pop = torch.zeros(dataset.num_users, dtype=torch.float64).index_add_(
        0, user, pop[item]) / D  # PopDCL Eq. 8
    inv_q = D / pop.clamp(min=1)
    gen = torch.Generator().manual_seed(seed)
    uniform, rows_omega, rows_rate, rows_logq = [], [], [], []
    for _ in range(batches):
        e = torch.randint(0, D, (batch_size,), generator=gen)
        u, i = user[e], item[e]
        uu = u.unsqueeze(1).expand(-1, batch_size).reshape(-1)
        ii = i.unsqueeze(0).expand(batch_size, -1).reshape(-1)
        keep = ~train.contains(uu, ii)
        keep.view(batch_size, batch_size).fill_diagonal_(False)
        out = torch.zeros_like(keep)
        for s in held:
            out |= s.contains(uu, ii)
        out &= keep
        k2, o2 = keep.view(batch_size, -1).double(), out.view(batch_size, -1).double()
        w = inv_q[i].unsqueeze(0)
        rows_logq.append((o2 * w).sum(1) / (k2 * w).sum(1).clamp(min=1e-30))
        uniform.append(held_deg[u] / (N - train_deg[u]))
        rows_omega.append(omega_pop[u])
        rows_rate.append(o2.sum(1) / k2.sum(1).clamp(min=1))
    omega_rows, rate_rows = torch.cat(rows_omega), torch.cat(rows_rate)
    order = omega_rows.argsort()
    fifths = [{"popdcl_omega": float(omega_rows[part].mean()),
               "in_batch": float(rate_rows[part].mean())}
              for part in order.chunk(5)]
    return {"rows": len(omega_rows), "in_batch": float(rate_rows.mean()),
            "in_batch_logq": float(torch.cat(rows_logq).mean()),
            "uniform": float(torch.cat(uniform).mean()), "dcl_omega": DCL().omega_item,
            "popdcl_omega": float(omega_rows.mean()), "popdcl_by_fifth": fifths}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data")
    p.add_argument("--label", required=True)
    p.add_argument("--k-core", type=int, default=0)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    spec = DataSpec(path=args.data, split="random", test_frac=0.2, val_frac=0.1, seed=1,
                    k_core=args.k_core)
    dataset = load_dataset(spec)
    stats = dataset.stats()
    result = {**provenance("cpu", [sys.argv[0], *(argv or sys.argv[1:])]),
              "data": {"path": args.data, "label": args.label, "users": stats["users"],
                       "items": stats["items"], "interactions": stats["interactions"],
                       "density": stats["density"]},
              "batches": args.batches, "batch_size": args.batch_size,
              **measure(dataset, args.batches, args.batch_size)}
    print(f"{args.label}: held-out share of in-batch negatives {result['in_batch']:.4f} "
          f"(weighted 1/q: {result['in_batch_logq']:.4f}; uniform {result['uniform']:.4f}); "
          f"DCL omega+ {result['dcl_omega']}, PopDCL omega+(u) mean "
          f"{result['popdcl_omega']:.4f}")
    for k, f in enumerate(result["popdcl_by_fifth"]):
        print(f"  fifth {k + 1} of rows by PopDCL omega+(u): omega+ {f['popdcl_omega']:.4f}, "
              f"measured {f['in_batch']:.4f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
