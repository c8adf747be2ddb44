#!/usr/bin/env bash
# Held-out batch SCH (srcell, session 41, issue 16): `problem.lam_split_stay_climb` (opt-in) against main on fresh
# draws of its kind (clean 0.5-1% smooth crops with frames of 17-32 px: a microscope cell, a colour retina, a portrait,
# the moon as a control where srfk's climb before the walk lost), written down and committed before any run on them;
# never tuned on. Seeds 9867-9870 (git grep -w over the repository and ../shared/notes: unused); each IMAGE@ROW:COL
# grepped unused there, its 4x crop inside its image.
# Main: the bench as the lead's batches run it (grid, peer, `auto` with the user's defaults), one process;
# then `auto` again on the same frames with the setting on (--reuse).
# Judged (scripts/report_sr_acceptance.py OUT/SCH.json --against OUT/SCHv.json): the setting passes where no set
# loses more than 0.1 dB to main's `auto`, the dB summed over the sets it moves is >= 0, and no set loses a target
# main meets there.
#   scripts/heldout_srcell.sh OUTDIR
set -euo pipefail
SETS="sk:cell@250:60,44,16,0.005,9867,rigid rgb:sk:retina@500:1000,40,16,0.005,9868,rigid
      sk:astronaut@150:200,48,16,0.01,9869,translation sk:moon@30:280,56,16,0.01,9870,affine"
OUT=$1
OPTS="--grid 0.1 0.2 0.4 --grid-refine --rules gcv --split SCH --supersample 8 --frames-level --motion-model auto
      --threads 1"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
python scripts/bench_lambda_sr.py $OPTS --keep "$OUT/SCH_frames" --out "$OUT/SCH" --set $SETS
python scripts/bench_lambda_sr.py $OPTS --reuse "$OUT/SCH.json" --auto-set lam_split_stay_climb=true \
  --out "$OUT/SCHv" --set $SETS
