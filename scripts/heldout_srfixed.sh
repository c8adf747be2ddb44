#!/usr/bin/env bash
# Held-out batch SF (srfixed, session 33): the kind (a photo crop made 8x finer than the reference, 20^2-40^2,
# 8 or 16 frames, 0.5/1/3% noise; two translation draws, one rigid, one affine), written down and committed before any
# run on it; never tuned on. Seeds 9067-9070 (git grep -w over the repository and ../shared/notes: none used); every
# IMAGE@ROW:COL grepped unused there and its 4x crop inside its image. Frames of 10-20 px: the motion model's choice
# (problem.motion_model=auto, frames of at most 24 px) runs on all four.
# What it judges: the bench's typed weights (the grid 0.1/0.2/0.4, extended while its best is at an end, then
# --grid-refine), scored at main's code (the first, affine answer alone) and at srfixed's (the answer the regrun
# command keeps: bench_lambda_sr.user_answer, the run's second look); `auto` run by both, to be bit-identical.
#   scripts/heldout_srfixed.sh OUTDIR CODE NAME   # CODE: a checkout (main's or this branch's); OUTDIR/NAME.json
set -euo pipefail
SETS="sk:cell@400:200,20,16,0.01,9070,translation   sk:grass@300:120,24,16,0.01,9067,rigid \
      sk:astronaut@60:300,32,8,0.005,9069,affine    sk:coins@120:220,40,8,0.03,9068,translation"
OUT=$1; CODE=$2; NAME=$3
OPTS="--grid 0.1 0.2 0.4 --grid-refine --rules gcv --split SF --supersample 8 --frames-level --motion-model auto"
mkdir -p "$OUT/${NAME}_frames"
cd "$CODE"
PYTHONPATH="$CODE" exec python scripts/bench_lambda_sr.py $OPTS --keep "$OUT/${NAME}_frames" --out "$OUT/$NAME" --set $SETS
