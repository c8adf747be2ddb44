#!/usr/bin/env bash
# The runs of a held-out batch of turned frame sets (heldout_srturn.sh's TU, heldout_lead32_turns.sh's EV): two lanes,
# each set as SCALE:SET (bench_lambda_sr.py --turn-scale SCALE, one bench run per set, so each set keeps its scale).
# Usage: heldout_turned_lanes.sh NAME OUTDIR "LANE A SETS" "LANE B SETS" [KEY=VALUE]
#   no KEY=VALUE: main's grid, peer and `auto`, frames kept in OUTDIR/NAME_frames, outputs OUTDIR/NAME_*.json;
#   KEY=VALUE: `auto` again with that setting on the same frames (--reuse), outputs OUTDIR/NAMEv_TAG_*.json.
set -euo pipefail
NAME=$1; OUT=$2; A=$3; B=$4; SETTING=${5:-}
OPTS="--grid 0.1 0.2 0.4 --grid-refine --rules gcv --split $NAME --supersample 8 --frames-level --motion-model auto"
mkdir -p "$OUT"
lane() {  # lane SETS: each scale's set in turn
  for item in $1; do
    scale=${item%%:*}; set=${item#*:}
    stem="${set##*,}_${scale}_$(echo "$set" | cut -d, -f5)"
    if [ -z "$SETTING" ]; then
      python scripts/bench_lambda_sr.py $OPTS --turn-scale "$scale" --keep "$OUT/${NAME}_frames" \
        --out "$OUT/${NAME}_$stem" --set "$set"
    else
      tag=$(echo "${SETTING#*=}" | tr -c 'A-Za-z0-9.\n' _)
      python scripts/bench_lambda_sr.py $OPTS --turn-scale "$scale" --auto-set "$SETTING" \
        --reuse "$OUT/${NAME}_$stem.json" --out "$OUT/${NAME}v_${tag}_$stem" --set "$set"
    fi
  done
}
lane "$A" &
lane "$B"
wait
