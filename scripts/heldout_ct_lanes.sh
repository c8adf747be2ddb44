#!/usr/bin/env bash
# The two lanes of a helper's held-out CT batch (heldout_ctcat15.sh, heldout_ct15dip.sh): main's grid with the truth
# and `auto` (cv) on each lane's files, two processes of one thread, then `auto` again with the solver settings
# given (bench_lambda_ct.py --set) on the same files (--reuse). No peers (CPU).
# Usage: heldout_ct_lanes.sh OUTDIR "LANE A FILES" "LANE B FILES" KEY=VALUE ...  -> OUTDIR/H{A,B}.json, Hv{A,B}.json
set -euo pipefail
OUT=$1; A=$2; B=$3; shift 3
for h in A B; do
  python scripts/bench_lambda_ct.py --cases ${!h} --grid 9 --lam-lo 0.01 --lam-hi 100 --refine 3 \
    --auto-rules cv --threads 1 --no-peer --out "$OUT/H$h" &
done
wait
for h in A B; do
  python scripts/bench_lambda_ct.py --cases ${!h} --reuse "$OUT/H$h.json" --auto-rules cv --threads 1 \
    --set "$@" --out "$OUT/Hv$h" &
done
wait
