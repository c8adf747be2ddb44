#!/usr/bin/env bash
# Held-out batch EW (the lead, session 33, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9483-9487, 9489-9494 (git grep -w over the repository: none used); every IMAGE@ROW:COL grepped unused in the
# repository and ../shared/notes, and its 4x crop inside its image. Five translation draws, four rigid, two affine;
# two RGB; frames of 10-32 px (five of at most 16 px, where the split walk does not run).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead33.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/EW_frames
#   scripts/heldout_lead33.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/EW_{A,B}.json --against OUTDIR/EWv_{A,B}.json --name after
set -euo pipefail
A="sk:rocket@150:300,32,16,0.01,9483,rigid          sk:camera@230:130,48,8,0.03,9484,translation \
   rgb:sk:chelsea@60:250,40,16,0.005,9485,affine    sk:retina@650:750,24,16,0.01,9486,rigid \
   sk:clock@170:230,28,8,0.005,9487,translation     sk:gravel@100:250,56,16,0.03,9489,rigid"
B="sk:astronaut@250:300,36,16,0.03,9490,translation rgb:sk:rocket@270:480,32,8,0.01,9491,rigid \
   sk:immunohistochemistry@400:100,20,16,0.01,9492,translation  sk:moon@50:100,44,16,0.005,9493,affine \
   sk:coffee@80:320,64,8,0.01,9494,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" EW "$OUT" "$A" "$B" "$@"
