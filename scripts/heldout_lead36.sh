#!/usr/bin/env bash
# Held-out batch FC (the lead, session 36, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9576-9578, 9580-9585, 9587-9589 (git grep -w over the repository and ../shared/notes: none used); every
# IMAGE@ROW:COL grepped unused there (page@20:100, brick@300:50, coffee@150:300, coins@100:200 and text@30:200 were
# taken and moved before writing), and its 4x crop inside its image. Seven translation draws, four rigid, one affine;
# two RGB (a colour wheel and coffee: the colour path's open miss); frames of 10-32 px (seven of at most 16 px).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead36.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FC_frames
#   scripts/heldout_lead36.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FC_{A,B}.json --against OUTDIR/FCv_{A,B}.json --name after
set -euo pipefail
A="rgb:sk:colorwheel@60:90,40,16,0.01,9576,translation  sk:moon@200:150,24,8,0.03,9577,rigid \
   sk:page@40:230,36,16,0.005,9578,translation          sk:brick@350:120,20,16,0.01,9580,affine \
   rgb:sk:coffee@240:420,28,8,0.01,9581,rigid           sk:grass@60:300,48,16,0.03,9582,translation"
B="sk:coins@150:40,32,16,0.005,9583,rigid               sk:camera@240:40,64,8,0.01,9584,translation \
   sk:text@60:300,20,16,0.03,9585,translation           sk:hubble_deep_field@400:300,28,16,0.01,9587,translation \
   sk:astronaut@60:330,36,16,0.005,9588,rigid           sk:immunohistochemistry@150:420,20,16,0.01,9589,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FC "$OUT" "$A" "$B" "$@"
