#!/usr/bin/env bash
# Held-out batch EU (the lead, session 32, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9196-9200, 9206-9210 (git grep -w over the repository and ../shared/notes: none used); every IMAGE@ROW:COL
# grepped unused there and its 4x crop inside its image. Five translation draws (session 32's srtrans reads the
# model choice on them), three rigid, two affine; two RGB; text, a page, coins, brick and stars beside photos.
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after them on the
# same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead32.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/EU_frames
#   scripts/heldout_lead32.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/EU_{A,B}.json --against OUTDIR/EUv_{A,B}.json --name after
set -euo pipefail
A="sk:chelsea@80:150,32,16,0.01,9196,translation  sk:coins@150:80,24,16,0.005,9197,translation \
   rgb:sk:coffee@200:250,40,8,0.01,9198,rigid     sk:page@10:200,40,16,0.03,9199,translation \
   sk:brick@250:200,28,16,0.01,9200,affine"
B="sk:moon@300:250,20,16,0.03,9206,translation    sk:camera@350:300,36,16,0.005,9207,rigid \
   rgb:sk:astronaut@330:40,24,8,0.01,9208,affine  sk:hubble_deep_field@100:450,64,16,0.01,9209,rigid \
   sk:text@20:150,32,16,0.005,9210,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" EU "$OUT" "$A" "$B" "$@"
