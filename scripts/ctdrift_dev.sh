#!/usr/bin/env bash
# ctdrift's dev runs (docs/ct.md, "A drifting beam in raw counts (ctdrift)"): does a gain drift between projections
# pull cv's weight off the grid optimum, and does scaling each view by its air columns (problem.counts_air_correction)
# undo it? Seeds 8029 and 8030 (the scans' own 802900, 802901, 803000), and ctcounts' seen stacks (seed 8023) as dev.
# Each scan is made twice from the same seed, the drift off and on (the same object; scripts/ct_counts_files.py).
# Usage: scripts/ctdrift_dev.sh OUT STAGE   (STAGE: files | grid DIR | air DIR | six)
set -euo pipefail
OUT=$1; STAGE=$2
B="python scripts/bench_lambda_ct.py --threads 1"
case "$STAGE" in
  files)
    for d in 0 0.02; do python scripts/ct_counts_files.py --seed 8023 --out "$OUT/h8023_d$d" --drift $d --scans 128:60:1e4:8:dx; done
    for d in 0 0.03; do
      python scripts/ct_counts_files.py --seed 8029 --out "$OUT/s8029_d$d" --drift $d --scans 128:60:1e4:8:dx 96:45:1e4:8:npz
      python scripts/ct_counts_files.py --seed 8030 --out "$OUT/s8030_d$d" --drift $d --scans 128:60:3e4:8:dx
    done
    python scripts/ct_counts_files.py --seed 8023 --out "$OUT/six" --drift 0.02 0.03 0.04 0.03 0.02 0.04 \
      --scans 128:60:1e4:8:dx 128:120:1e3:6:npz:1 160:30:3e4:8:dx:6 144:90:1e5:5:npz 192:45:3e3:8:dx 128:40:3e3:6:npz:0 ;;
  grid)  # the grid optimum (7 weights 0.01-1, 3 golden steps) and cv, as regrun reads the file
    D=$3; $B --cases "$D"/*_counts.npz --grid 7 --lam-lo 0.01 --lam-hi 1 --refine 3 --auto-rules cv --no-peer \
      --no-grid-rules --out "$D/bench" ;;
  air)  # cv with the air correction, against the same file's grid run
    D=$3; $B --cases "$D"/*_counts.npz --reuse "$D/bench.json" --auto-rules cv --counts-air-correction --out "$D/air" ;;
  six)  # ctcounts' six stacks: cv with the air correction (without it: docs/ct.md "(ctcounts)")
    $B --cases "$OUT"/six/*_counts.npz --no-grid --auto-rules cv --counts-air-correction --out "$OUT/six/air" ;;
esac
