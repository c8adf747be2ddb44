#!/usr/bin/env bash
# Held-out batch FE (the lead, session 37, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9705-9716 (git grep -w over the repository and ../shared/notes: none used); every IMAGE@ROW:COL grepped unused
# there (chelsea@100:200, camera@100:300, moon@300:300 and brick@200:200 were taken and moved before writing), and its
# 4x crop inside its image. Seven translation draws, four rigid, one affine; three RGB (a motorcycle, a cat, a rocket);
# five scikit-image pictures no earlier lead batch used (cell, gravel, clock, microaneurysms, stereo_motorcycle).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead37.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FE_frames
#   scripts/heldout_lead37.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FE_{A,B}.json --against OUTDIR/FEv_{A,B}.json --name after
set -euo pipefail
A="sk:cell@100:200,32,16,0.01,9705,translation          sk:gravel@300:300,24,8,0.03,9706,rigid \
   rgb:sk:stereo_motorcycle@200:300,36,16,0.01,9707,translation  sk:clock@100:150,20,16,0.005,9708,translation \
   sk:microaneurysms@10:10,20,8,0.01,9709,rigid         rgb:sk:chelsea@110:210,44,16,0.005,9710,affine"
B="sk:camera@130:330,28,16,0.01,9711,translation        sk:moon@310:270,48,8,0.01,9712,translation \
   sk:hubble_deep_field@100:100,16,16,0.01,9713,translation  rgb:sk:rocket@100:400,32,8,0.03,9714,rigid \
   sk:page@60:30,28,16,0.01,9715,translation            sk:brick@210:170,64,16,0.005,9716,rigid"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FE "$OUT" "$A" "$B" "$@"
