#!/usr/bin/env bash
# Held-out CT scans for solver.data_weight=poisson (ctpwls, session 39; docs/ct.md "Poisson weights in FISTA-TV's
# data term (ctpwls)"), written down and committed before any run on them; never tuned on. Seeds 8026 and 8027
# (git grep -w over the repository: unused). Files made by scripts/heldout_ct_sinograms.py (4x finer simulation or
# exact chords; Poisson with the largest line integral transmitting 5%, or Gaussian), 128^2, parallel beam:
#   8026: truss 30 views 1e4 (1-1.5 px struts), honeycomb 60/1e4 (1-2 px walls), ellipses 60/1e3 (smooth, very low
#         dose), metal 30/1e4 (a dense part), scikit-image's `gravel` in a disk (the "astronaut" slot) 15/1e5
#   8027: pipes 30 views, Gaussian noise 1% of the largest line integral (no Poisson statistics: the weights'
#         model is wrong there; what they cost)
# Runs: main's code (grid with the truth, oracle peers, auto) from a main checkout, then this branch with
# solver.data_weight=poisson data_weight_transmission=0.05 (the grid optimum again and auto, --regrid against
# main's run: the same FBP and peers).
# Rule (judged by scripts/report_ct_variant.py against the better of the two grid optima): poisson becomes the
# default for a user's file only if (a) the grid-optimal PSNR summed over the six scans rises, (b) auto's PSNR summed
# over the six rises, and (c) no scan loses a target main meets (auto within 0.5 dB of the grid optimum; auto above
# the best oracle-tuned peer). Otherwise it stays opt-in (none).
#   MAIN=/path/to/main/checkout scripts/heldout_ctpwls.sh OUTDIR main   # -> OUTDIR/ctpwls_8026.json, ctpwls_8027.json
#   scripts/heldout_ctpwls.sh OUTDIR poisson                            # -> OUTDIR/ctpwlsv_8026.json, ...
set -euo pipefail
OUT=$1; WHICH=$2
run() {  # SEED "IMAGES" "CASES"
  if [ "$WHICH" = main ]; then
    (cd "$MAIN" && PYTHONPATH="$MAIN" bash scripts/heldout_ct_batch.sh "ctpwls_$1" "$1" "$2" "$OUT" "$3")
  else
    python scripts/bench_lambda_ct.py --cases "$OUT/heldout_$1"/*.npz --reuse "$OUT/ctpwls_$1.json" --regrid \
      --grid 9 --lam-lo 0.01 --lam-hi 100 --refine 3 --auto-rules cv --threads 1 \
      --set data_weight=poisson data_weight_transmission=0.05 --out "$OUT/ctpwlsv_$1"
  fi
}
run 8026 "gravel microaneurysms" "truss:128:30:1e4 honeycomb:128:60:1e4 ellipses:128:60:1e3 metal:128:30:1e4 astronaut:128:15:1e5"
run 8027 "gravel microaneurysms" "pipes:128:30:g0.01"
