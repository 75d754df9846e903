#!/usr/bin/env bash
# The GPU figures in benchmarks/README.rst, as run on the lent H100 (device tool).
# Data: a copy of ../shared/data/gowalla in .device/gowalla (carried, not committed).
#   bash benchmarks/gpu_suite.sh tests     # GPU tests + timing benches
#   bash benchmarks/gpu_suite.sh losses    # loss curves, LightGCN, 24 epochs
#   bash benchmarks/gpu_suite.sh samplers  # sampler curves, LightGCN, 40 epochs
#   bash benchmarks/gpu_suite.sh lease     # everything one 10-minute call can hold (below)
#   bash benchmarks/gpu_suite.sh runs      # a later lease: a carried run resumed (CARRY_RUN) + LEASE_ROWS
#   bash benchmarks/gpu_suite.sh refit     # refits of committed selection runs (REFIT_JOBS)
#   bash benchmarks/gpu_suite.sh jobs      # selections and refits side by side (SELECT_JOBS, REFIT_JOBS)
set -euo pipefail
export PYTHONPATH=. PYTHONUNBUFFERED=1
DATA=${DATA:-.device/gowalla}
OUT=${OUT:-benchmarks/results}
case "$1" in
tests)
  python3 -m pytest -q -p no:cacheprovider tests 2>&1 | tail -3
  python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn,mf \
    --samplers rns,pns,dns,mixgcf,pdns,ahns --losses bpr --opt ahns.num_candidates=16 \
    --epochs 4 --device ${DEV:-cuda} --json > "$OUT/bench_samplers_h100.json"
  python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn \
    --samplers rns --losses bpr,ssm,dcl,hdccf,popdcl --epochs 4 --device ${DEV:-cuda} \
    --opt ssm.tau=0.2 --opt dcl.tau=0.2 --opt hdccf.tau=0.2 --opt popdcl.tau=0.2 \
    --json > "$OUT/bench_losses_h100.json"
  python3 benchmarks/guard_sync.py --data "$DATA" --device ${DEV:-cuda} --rounds 5 \
    --batches 100 --out "$OUT/guard_sync_gpu.json"
  ;;
losses)
  python3 benchmarks/curves.py --data "$DATA" --device ${DEV:-cuda} --epochs 24 --eval-every 3 \
    --runs "lightgcn:rns:bpr,lightgcn:rns:ssm:ssm.in_batch=false;rns.num_negatives=64,lightgcn:-:ssm,lightgcn:-:dcl,lightgcn:-:hdccf,lightgcn:-:popdcl" \
    --opt ssm.tau=0.2 --opt dcl.tau=0.2 --opt hdccf.tau=0.2 --opt popdcl.tau=0.2 \
    --out "$OUT/losses_lightgcn_gowalla_h100.json" | tail -70
  ;;
samplers)
  python3 benchmarks/curves.py --data "$DATA" --device ${DEV:-cuda} --epochs 40 --eval-every 4 \
    --runs lightgcn:rns:bpr,lightgcn:dns:bpr,lightgcn:mixgcf:bpr,lightgcn:pdns:bpr,lightgcn:ahns:bpr \
    --out "$OUT/samplers_lightgcn_gowalla_h100.json" | tail -60
  ;;
lease)
  # One device call: timing benches alone first, then the Gowalla runs of
  # benchmarks/gowalla.py in the background while the GPU tests and the rest
  # of the suite run; logs, results and the checkpoint that lets the CPU go on
  # with the reproduction run come back under $OUT (8 files at most).
  R=.device/lease; rm -rf "$R"; mkdir -p "$R"; W=.device/gw; mkdir -p "$W"
  T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
  { nvidia-smi; python3 -c "import torch, torch_geometric; print(torch.__version__, torch_geometric.__version__, torch.cuda.get_device_name(0))"; } > "$R/machine.txt" 2>&1 || true
  el "bench samplers"
  timeout 120 python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn,mf \
    --samplers rns,pns,dns,mixgcf,pdns,ahns --losses bpr --epochs 4 --max-batches 120 \
    --device ${DEV:-cuda} --output "$R/bench_samplers_gpu.json" > "$R/bench.txt" 2>&1 || el "bench samplers failed"
  el "bench losses"
  timeout 90 python3 -m gnnrec.cli bench --dataset "$DATA" --val-frac 0 --models lightgcn \
    --samplers rns --losses bpr,ssm,dcl,hdccf,popdcl --epochs 4 --max-batches 120 --device ${DEV:-cuda} \
    --opt ssm.tau=0.2 --opt dcl.tau=0.2 --opt hdccf.tau=0.2 --opt popdcl.tau=0.2 \
    --output "$R/bench_losses_gpu.json" >> "$R/bench.txt" 2>&1 || el "bench losses failed"
  el "guard sync"
  timeout 60 python3 benchmarks/guard_sync.py --data "$DATA" --device ${DEV:-cuda} --rounds 5 \
    --batches 100 --out "$R/guard_sync_gpu.json" >> "$R/bench.txt" 2>&1 || el "guard sync failed"
  LEFT=$(( ${LEASE_SECONDS:-570} - ($(date +%s) - T0) - 40 ))
  el "gowalla runs for ${LEFT}s"
  G="python3 benchmarks/gowalla.py"; A="--out $W --data $DATA --device ${DEV:-cuda} --threads 1"
  timeout $((LEFT + 30)) $G select $A --rows lightgcn-rns --seeds 0 --max-seconds $((LEFT - 20)) --stop-at-best > "$W/rns-s0.log" 2>&1 &
  for row in ${LEASE_ROWS:-lightgcn-dns:1 lightgcn-mixgcf:0 lightgcn-ahns:0 lightgcn-pdns:0 lightgcn-ssm-logq:0}; do
    timeout $LEFT $G select $A --rows ${row%:*} --seeds ${row#*:} --max-seconds $LEFT > "$W/${row%:*}-s${row#*:}.log" 2>&1 &
  done
  el "tests"
  [ -n "${SKIP_TESTS:-}" ] && sleep "$LEFT"
  [ -n "${SKIP_TESTS:-}" ] || {
  rc=0; timeout 120 python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py -rs > "$R/pytest_gpu.txt" 2>&1 || rc=$?; el "gpu tests rc $rc"
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$R/machine.txt" 2>&1 || true
  rc=0; timeout 200 python3 -m pytest -q -p no:cacheprovider -n 6 tests --ignore=tests/test_tune.py > "$R/pytest_all.txt" 2>&1 || rc=$?; el "all tests rc $rc"; }
  wait || true; el "runs ended"
  cp "$W"/*.log "$R/" 2>/dev/null || true
  tar czf "$OUT/lease.tgz" --exclude='*.pt' --exclude='*.lock' "$R" "$W"
  if [ -f "$W/runs/lightgcn-rns-s0/last.pt" ]; then split -b 15m "$W/runs/lightgcn-rns-s0/last.pt" "$OUT/rns-s0-last.pt.part-"; fi
  rm -rf "$R"; el "packed"; ls -la "$OUT"
  ;;
runs)
  # A later lease, all of it for benchmarks/gowalla.py: one run resumed from
  # the checkpoint the development machine carries (CARRY_RUN, a run folder's
  # name, ROW-sSEED, default the reproduction: .device/carry/CARRY_RUN holds
  # its last.pt, config.json, log.jsonl and machines.jsonl; the data comes as
  # gowalla.txz; a checkpoint plus the data just fit the 64 MiB a call
  # carries), beside the LEASE_ROWS from scratch or their last state.
  # Its checkpoint comes back in parts (only one fits what comes back).
  C=.device/carry; W=.device/gw; T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
  CARRY_RUN=${CARRY_RUN:-lightgcn-rns-s0}; CROW=${CARRY_RUN%-s*}; CSEED=${CARRY_RUN##*-s}
  [ -d "$DATA" ] || tar xJf "$C/gowalla.txz" -C .device
  RUN="$W/runs/$CARRY_RUN"; mkdir -p "$RUN"
  cp "$C/$CARRY_RUN/last.pt" "$C/$CARRY_RUN/config.json" "$C/$CARRY_RUN/log.jsonl" "$RUN/"
  cp "$C/$CARRY_RUN/machines.jsonl" "$RUN.machines.jsonl"
  LEFT=${LEASE_SECONDS:-480}
  G="python3 benchmarks/gowalla.py"; A="--out $W --data $DATA --device ${DEV:-cuda} --threads 1"
  el "gowalla runs for ${LEFT}s"
  timeout $((LEFT + 40)) $G select $A --rows $CROW --seeds $CSEED --max-seconds $LEFT --stop-at-best > "$W/$CARRY_RUN.log" 2>&1 &
  for row in ${LEASE_ROWS:-}; do
    timeout $((LEFT + 10)) $G select $A --rows ${row%:*} --seeds ${row#*:} --max-seconds $LEFT > "$W/${row%:*}-s${row#*:}.log" 2>&1 &
  done
  nvidia-smi --query-gpu=name --format=csv > "$W/machine.txt" 2>&1 || true
  sleep 120; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$W/machine.txt" 2>&1 || true
  wait || true; el "runs ended"
  tar czf "$OUT/lease.tgz" --exclude='*.pt' --exclude='*.lock' "$W"
  split -b 15m "$RUN/last.pt" "$OUT/$CARRY_RUN-last.pt.part-"
  el "packed"; ls -la "$OUT"
  ;;
refit)
  # Refits (gowalla.py refit) of selection runs whose logs are committed and
  # final (finished or cut): REFIT_JOBS, ROW:SEED each, trained from epoch 0
  # to the selection's best epoch and tested, alone on the GPU, for at most
  # LEASE_SECONDS of training. A second call on the same warm machine goes
  # on from .device/gw (ignored, so kept there between calls); each refit's
  # folder comes back in lease.tgz and its last.pt in parts, so that the
  # development machine can finish one the lease could not. TESTS_AFTER=N
  # runs tests/test_gpu.py for at most N seconds once the refits end.
  W=.device/gw; T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
  LEFT=${LEASE_SECONDS:-480}; mkdir -p "$W/runs"
  G="python3 benchmarks/gowalla.py"; A="--out $W --data $DATA --device ${DEV:-cuda} --threads 1"
  nvidia-smi --query-gpu=name --format=csv > "$W/machine.txt" 2>&1 || true
  for job in ${REFIT_JOBS:-lightgcn-rns:0}; do
    run="${job%:*}-s${job#*:}"
    [ -d "$W/runs/$run" ] || cp -r "benchmarks/results/gowalla/runs/$run" "$W/runs/"
    el "refit $run for ${LEFT}s"
    timeout $((LEFT + 90)) $G refit $A --rows ${job%:*} --seeds ${job#*:} --max-seconds $LEFT \
      --poll 5 >> "$W/$run-refit.log" 2>&1 &
  done
  wait || true; el "refits ended"; tail -n 4 "$W"/*-refit.log
  [ -n "${TESTS_AFTER:-}" ] && { rc=0; timeout "$TESTS_AFTER" python3 -m pytest -q \
    -p no:cacheprovider tests/test_gpu.py -rs > "$W/pytest_gpu.txt" 2>&1 || rc=$?; el "gpu tests rc $rc"; }
  tar czf "$OUT/lease.tgz" --exclude='*.pt' --exclude='*.lock' "$W"
  for job in ${REFIT_JOBS:-lightgcn-rns:0}; do
    run="${job%:*}-s${job#*:}-refit"
    [ -f "$W/runs/$run/results.json" ] || [ ! -f "$W/runs/$run/last.pt" ] ||
      split -b 15m "$W/runs/$run/last.pt" "$OUT/$run-last.pt.part-"
  done
  el "packed"; ls -la "$OUT"
  ;;
jobs)
  # One call, several gowalla.py jobs sharing the GPU (a lone LightGCN run
  # leaves it mostly idle): SELECT_JOBS and REFIT_JOBS, GROUP/ROW:SEED each
  # (GROUP runs or gpu-survey), for LEASE_SECONDS of training. A refit's
  # selection folder is copied from the committed results; a second call on
  # the same warm machine goes on from .device/gw (ignored, so kept). BACK
  # (GROUP/RUN) names the one run whose last.pt comes back in parts while it
  # is unfinished (one checkpoint is what the 64 MiB that come back hold);
  # it stops at a best epoch, so that last.pt carries it alone. DENSE_JOBS,
  # ENCODER/METHOD:SEED each, are benchmarks/dense.py runs on $DATA
  # (DENSE_LABEL, DENSE_KCORE) in $W/dense, where carried folders resume;
  # they come back in dense.tgz.part-*, with the checkpoints of the
  # unfinished ones. TESTS=N first runs tests/test_gpu.py for at most N
  # seconds beside the jobs.
  W=.device/gw; T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
  LEFT=${LEASE_SECONDS:-480}; mkdir -p "$W/runs" "$W/gpu-survey"
  G="python3 benchmarks/gowalla.py"; A="--out $W --data $DATA --device ${DEV:-cuda} --threads 1"
  nvidia-smi --query-gpu=name --format=csv > "$W/machine.txt" 2>&1 || true
  for job in ${SELECT_JOBS:-}; do
    g=${job%%/*}; rs=${job#*/}; run="${rs%:*}-s${rs#*:}"; at=""
    [ "$g/$run" = "${BACK:-}" ] && at="--stop-at-best"
    el "select $g/$run for ${LEFT}s $at"
    timeout $((LEFT + 90)) $G select $A --group $g --rows ${rs%:*} --seeds ${rs#*:} \
      --max-seconds $LEFT $at >> "$W/$g-$run.log" 2>&1 &
  done
  for job in ${REFIT_JOBS:-}; do
    g=${job%%/*}; rs=${job#*/}; run="${rs%:*}-s${rs#*:}"
    [ -d "$W/$g/$run" ] || cp -r "benchmarks/results/gowalla/$g/$run" "$W/$g/"
    el "refit $g/$run for ${LEFT}s"
    timeout $((LEFT + 90)) $G refit $A --group $g --rows ${rs%:*} --seeds ${rs#*:} \
      --max-seconds $LEFT --poll 5 >> "$W/$g-$run-refit.log" 2>&1 &
  done
  for job in ${DENSE_JOBS:-}; do
    enc=${job%%/*}; ms=${job#*/}; run="$enc-${ms%:*}-s${ms#*:}"
    el "dense $DENSE_LABEL/$run for ${LEFT}s"
    timeout $LEFT python3 benchmarks/dense.py "$DATA" --label $DENSE_LABEL --k-core ${DENSE_KCORE:-0} \
      --encoders $enc --methods ${ms%:*} --seeds ${ms#*:} --epochs 1000 --eval-every 10 \
      --patience 10 --work "$W/dense" --device ${DEV:-cuda} --out "$W/dense/$run.json" \
      >> "$W/dense-$run.log" 2>&1 &
  done
  [ -n "${TESTS:-}" ] && { rc=0; timeout "$TESTS" python3 -m pytest -q -p no:cacheprovider \
    tests/test_gpu.py -rs > "$W/pytest_gpu.txt" 2>&1 || rc=$?; el "gpu tests rc $rc"; }
  sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv >> "$W/machine.txt" 2>&1 || true
  wait || true; el "jobs ended"; tail -n 3 "$W"/*.log
  tar czf "$OUT/lease.tgz" --exclude='*.pt' --exclude='*.lock' --exclude="$W/dense" "$W"
  if [ -d "$W/dense" ]; then  # unfinished dense runs come back with their checkpoints
    (cd "$W/dense" && find . -name '*.pt' | while read -r f; do
       if [ -f "$(dirname "$f")/results.json" ]; then echo "$f"; fi; done > /tmp/drop_pt
     tar czf - --exclude='*.lock' -X /tmp/drop_pt .) | split -b 15m - "$OUT/dense.tgz.part-"; fi
  if [ -n "${BACK:-}" ] && [ ! -f "$W/$BACK/results.json" ] && [ -f "$W/$BACK/last.pt" ]; then
    split -b 15m "$W/$BACK/last.pt" "$OUT/${BACK#*/}-last.pt.part-"; fi
  el "packed"; ls -la "$OUT"
  ;;
esac
