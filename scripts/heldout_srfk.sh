#!/usr/bin/env bash
# Held-out batch FKH (srfk, session 40, issue 16): `problem.lam_rechoose_after_floor_climb` (opt-in) against main on
# fresh draws of its kind (small text and page crops from translation draws, two small smooth controls), written down
# and committed before any run on them; never tuned on. Seeds 9846-9850 (git grep -w over the repository and
# ../shared/notes: unused); each IMAGE@ROW:COL grepped unused there, its 4x crop inside its image.
# `auto` alone (the user's command on the bench's frames, supersample 8), main and the setting on the same frames.
# Judged: no set loses more than 0.1 dB to main's `auto`, and the dB summed over the sets the setting moves >= 0.
#   scripts/heldout_srfk.sh OUTDIR                 # writes OUTDIR/FKH_<set>.npz, runs main and the setting
#   python scripts/heldout_srfk_report.py OUTDIR    # the table and the verdict
set -euo pipefail
SETS="sk:text@60:200,24,16,0.01,9846,translation sk:page@60:250,28,16,0.01,9847,translation
      sk:text@20:40,20,16,0.01,9848,translation sk:coins@150:250,20,16,0.01,9849,translation
      sk:moon@400:60,24,16,0.005,9850,rigid"
OUT=$1
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for S in $SETS; do
  N=FKH_$(echo "$S" | tr ':@,' '___')
  python - "$S" "$OUT/$N.npz" <<'PY'
import sys
import numpy as np
sys.path.insert(0, "scripts")
from bench_lambda_sr import frame_set, parse_set
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
spec = parse_set(sys.argv[1])
truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                               supersample=8, motion=spec.get("motion", "affine"))
np.savez(sys.argv[2], **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
PY
  for V in main floorclimb; do
    extra=()
    [ $V = main ] || extra=(problem.lam_rechoose_after_floor_climb=true)
    regrun problem=superres problem.data=frames problem.frames="$OUT/$N.npz" problem.truth="$OUT/$N.npz" \
      figures=false progress=false "${extra[@]}" hydra.run.dir="$OUT/${N}_$V" > "$OUT/${N}_$V.log" 2>&1
  done
done
