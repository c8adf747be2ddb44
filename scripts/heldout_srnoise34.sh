#!/usr/bin/env bash
# Held-out batch NZ (srnoise, session 34, issue 16): the frames' noise estimate against the noise drawn, and what a
# better estimate changes downstream; written down and committed before any run on it, never tuned on. Seeds 9517,
# 9519, 9520, 9522-9525 (git grep -w and ../shared/notes: none used); every IMAGE@ROW:COL grepped unused, its 4x
# crop inside its image. Textures (grass, gravel, brick, terrain), hubble, a smooth crop (moon), RGB (chelsea);
# 24^2-40^2, 8/12/16 frames, 0.5-3%; translation, rigid and affine draws. `auto` alone with the user's defaults
# (the frames' level, motion_model=auto), --supersample 8, each set once per code:
#   scripts/heldout_srnoise34.sh OUTDIR main     # PYTHONPATH at main's code   -> OUTDIR/NZ_main.json
#   scripts/heldout_srnoise34.sh OUTDIR cand     # PYTHONPATH at this branch   -> OUTDIR/NZ_cand.json
#   python scripts/diag_sr_noise_wide.py --rows OUTDIR/NZ_cand.json --out OUTDIR/NZ_wide.json
# Decision rule (fixed before the run). The candidate estimate chosen on dev is recorded in the results (deciding
# nothing) if on NZ it is within 1.5x of the drawn noise on more sets than noise_std_images and on no set farther
# from the drawn noise than noise_std_images by more than 1.25x (|log(c/drawn)| <= |log(sigma_hat/drawn)| + log 1.25).
# It replaces a decision's input (the weight's, the motion model's z, the exposure check's) only if, in addition,
# dev supported that and on NZ no set's `auto` PSNR falls by more than 0.1 dB and the dB summed over the sets it
# moves is >= 0; otherwise the decisions keep noise_std_images.
set -euo pipefail
SETS="sk:grass@150:250,24,16,0.01,9517,translation  sk:gravel@60:220,32,8,0.005,9519,rigid \
      sk:brick@50:300,40,16,0.02,9520,translation   terrain,32,12,0.01,9522,affine \
      sk:hubble_deep_field@400:100,32,16,0.005,9523,translation  sk:moon@150:400,24,8,0.01,9524,rigid \
      rgb:sk:chelsea@140:260,36,16,0.03,9525,translation"
OUT=$1; NAME=$2
# shellcheck disable=SC2086
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python "$(dirname "$0")/diag_noise_fit.py" --defaults --supersample 8 \
  --out "$OUT/NZ_$NAME.json" --set $SETS
