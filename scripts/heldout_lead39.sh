#!/usr/bin/env bash
# Held-out batch FI (the lead, session 39, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9769-9780 (git grep -w over the repository and ../shared/notes: none used, no range holds them); every
# IMAGE@ROW:COL grepped unused there, and its 4x crop inside its image (rocket@100:200, brick@300:100,
# hubble_deep_field@400:500, gravel@250:250, astronaut@100:300, chelsea@100:150, coins@100:150, coffee@200:300 and
# retina@600:700 were taken and moved before writing). Seven translation draws, four rigid, one affine; four RGB (a
# rocket, a deep field, an astronaut, a cat); a page of text, coins, a brick wall and gravel, and four photos.
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead39.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FI_frames
#   scripts/heldout_lead39.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FI_{A,B}.json --against OUTDIR/FIv_{A,B}.json --name after
set -euo pipefail
A="sk:page@50:150,24,16,0.01,9769,translation            rgb:sk:rocket@200:350,32,8,0.005,9770,rigid \
   sk:brick@60:320,40,16,0.03,9771,translation           rgb:sk:hubble_deep_field@600:150,48,8,0.01,9772,translation \
   sk:gravel@400:60,20,8,0.005,9773,rigid                rgb:sk:astronaut@20:180,56,16,0.01,9774,affine"
B="sk:camera@50:300,36,16,0.005,9775,translation        rgb:sk:chelsea@170:300,28,8,0.03,9776,translation \
   sk:moon@200:200,64,16,0.01,9777,rigid                 sk:coins@60:40,44,8,0.01,9778,translation \
   sk:coffee@260:420,24,16,0.03,9779,translation         sk:retina@1000:500,32,8,0.01,9780,rigid"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FI "$OUT" "$A" "$B" "$@"
