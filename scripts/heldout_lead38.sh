#!/usr/bin/env bash
# Held-out batch FG (the lead, session 38, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9722-9724, 9726-9732, 9735, 9736 (git grep -w over the repository and ../shared/notes: none used); every
# IMAGE@ROW:COL grepped unused there, and its 4x crop inside its image (clock@200:50 did not fit and was moved before
# writing). Seven translation draws, four rigid, one affine; four RGB (an astronaut, a retina, a stained tissue, coffee);
# three text or hard-edged crops (coins, text, clock), a texture (grass) and five photos.
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead38.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FG_frames
#   scripts/heldout_lead38.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FG_{A,B}.json --against OUTDIR/FGv_{A,B}.json --name after
set -euo pipefail
A="sk:coins@50:60,28,16,0.01,9722,translation           rgb:sk:astronaut@250:50,40,8,0.005,9723,rigid \
   sk:grass@120:260,20,16,0.03,9724,translation          rgb:sk:retina@300:250,48,16,0.01,9726,translation \
   sk:text@20:120,24,8,0.005,9727,rigid                  rgb:sk:immunohistochemistry@150:80,36,16,0.03,9728,affine"
B="sk:camera@260:60,44,8,0.01,9729,translation          rgb:sk:coffee@120:200,32,16,0.005,9730,translation \
   sk:cell@300:40,56,16,0.01,9731,rigid                  sk:moon@80:80,64,8,0.03,9732,translation \
   rgb:sk:chelsea@30:60,20,16,0.01,9735,translation      sk:clock@100:220,40,16,0.03,9736,rigid"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FG "$OUT" "$A" "$B" "$@"
