#!/usr/bin/env bash
# The runs of a held-out SR batch of untouched draws (heldout_srsmallw.sh's SW, heldout_lead32.sh's EU): its sets in
# two lanes, one bench process each, the user's defaults (grid + peer + `auto`, or `auto` again on the same frames).
# Usage: heldout_sr_lanes.sh NAME OUTDIR "LANE A SETS" "LANE B SETS" [again | KEY=VALUE ...]
#   nothing more: main's grid, peer and `auto`, frames kept in OUTDIR/NAME_frames, outputs OUTDIR/NAME_{A,B}.json;
#   again: `auto` alone again with this checkout's code on the same frames (--reuse), outputs OUTDIR/NAMEv_{A,B}.json;
#   KEY=VALUE ...: the same with those problem settings for `auto` (--auto-set).
set -euo pipefail
NAME=$1; OUT=$2; A=$3; B=$4; shift 4
OPTS="--grid 0.1 0.2 0.4 --grid-refine --rules gcv --split $NAME --supersample 8 --frames-level --motion-model auto"
mkdir -p "$OUT"
if [ $# -eq 0 ]; then
  python scripts/bench_lambda_sr.py $OPTS --keep "$OUT/${NAME}_frames" --out "$OUT/${NAME}_A" --set $A &
  python scripts/bench_lambda_sr.py $OPTS --keep "$OUT/${NAME}_frames" --out "$OUT/${NAME}_B" --set $B
else
  settings=()
  [ "$1" = again ] || settings=(--auto-set "$@")
  python scripts/bench_lambda_sr.py $OPTS --reuse "$OUT/${NAME}_A.json" "${settings[@]}" --out "$OUT/${NAME}v_A" --set $A &
  python scripts/bench_lambda_sr.py $OPTS --reuse "$OUT/${NAME}_B.json" "${settings[@]}" --out "$OUT/${NAME}v_B" --set $B
fi
wait
