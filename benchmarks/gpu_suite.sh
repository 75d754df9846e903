#!/usr/bin/env bash
# The GPU figures in benchmarks/README.rst, as run on the lent H100 (device tool).
# Data: a copy of ../shared/data/gowalla in .device/gowalla (carried, not committed).
#   bash benchmarks/gpu_suite.sh tests     # GPU tests + timing benches
#   bash benchmarks/gpu_suite.sh losses    # loss curves, LightGCN, 24 epochs
#   bash benchmarks/gpu_suite.sh samplers  # sampler curves, LightGCN, 40 epochs
set -euo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
DATA=${DATA:-.device/gowalla}
OUT=${OUT:-benchmarks/results}
case "$1" in
tests)
  python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -3
  python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn,mf \
    --samplers rns,pns,dns,mixgcf,pdns,ahns --losses bpr --opt ahns.num_candidates=16 \
    --epochs 4 --device cuda --json > "$OUT/bench_samplers_h100.json"
  python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn \
    --samplers rns --losses bpr,ssm,dcl,hdccf,popdcl --epochs 4 --device cuda \
    --opt ssm.tau=0.2 --opt dcl.tau=0.2 --opt hdccf.tau=0.2 --opt popdcl.tau=0.2 \
    --json > "$OUT/bench_losses_h100.json"
  ;;
losses)
  python3 benchmarks/curves.py --data "$DATA" --device cuda --epochs 24 --eval-every 3 \
    --runs "lightgcn:rns:bpr,lightgcn:rns:ssm:ssm.in_batch=false;rns.num_negatives=64,lightgcn:-:ssm,lightgcn:-:dcl,lightgcn:-:hdccf,lightgcn:-:popdcl" \
    --opt ssm.tau=0.2 --opt dcl.tau=0.2 --opt hdccf.tau=0.2 --opt popdcl.tau=0.2 \
    --out "$OUT/losses_lightgcn_gowalla_h100.json" | tail -70
  ;;
samplers)
  python3 benchmarks/curves.py --data "$DATA" --device cuda --epochs 40 --eval-every 4 \
    --runs lightgcn:rns:bpr,lightgcn:dns:bpr,lightgcn:mixgcf:bpr,lightgcn:pdns:bpr,lightgcn:ahns:bpr \
    --out "$OUT/samplers_lightgcn_gowalla_h100.json" | tail -60
  ;;
esac
