#!/usr/bin/env bash
# Held-out batch FH (srflat, session 33, issue 16): issue 16's three targets (above bicubic, within 0.75 dB of regrun's
# best weight, within 0.5 dB of the peer's best) on nearly flat crops mixed with ordinary ones, and srflat's reading
# of how well the frames pin the motion, motion_model_end_gap_{translation,rigid} (fine px RMS between the smaller
# models' ends and the affine answer; recorded, the answers unchanged: EV's 12 sets bit for bit). Written down and
# committed before any run on it; never tuned on. Seeds 9500-9504 (git grep -w over the repository and
# ../shared/notes: none used); every IMAGE@ROW:COL grepped unused and its 4x crop inside its image. Kinds not run
# on srflat's dev (a sky over a skyline, an evening sky): an out-of-focus background (grace_hopper@30:400, grey std
# 4.5, mean horizontal step 1.8 grey levels at the fine size), a plain wall (coffee@10:470, 15.9 / 5.1), a dark
# sparse sky (hubble_deep_field@320:620, 18.6 / 6.1), and two ordinary crops (cat@90:260 13.2, astronaut@250:330
# 18.0 steps); three translation draws, two rigid ones turned +-0.5 deg (--turn-scale 0.05); 24^2-36^2 (12-18 px
# frames, where auto chooses the model), 8-16 frames, 0.5-2%.
#   scripts/heldout_srflat.sh OUTDIR        # the branch's code (main's answers): grid, peer, auto
set -euo pipefail
A="1:mpl:grace_hopper@30:400,24,16,0.01,9500,translation  1:sk:coffee@10:470,28,16,0.005,9501,translation \
   0.05:sk:cat@90:260,28,8,0.02,9504,rigid"
B="1:sk:hubble_deep_field@320:620,36,12,0.01,9502,translation  0.05:sk:astronaut@250:330,32,16,0.01,9503,rigid"
exec bash "$(dirname "$0")/heldout_turned_lanes.sh" FH "$1" "$A" "$B" "${2:-}"
