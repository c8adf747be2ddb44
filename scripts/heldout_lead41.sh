#!/usr/bin/env bash
# Held-out batch FM (the lead, session 41, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9853-9862 (git grep -w over the repository and ../shared/notes: none used, no range holds them); every
# IMAGE@ROW:COL grepped unused there, its 4x crop inside its image (coffee@100:300, brick@300:300 and rocket@150:350
# were taken and moved before writing). Five translation draws, three rigid, two affine; four RGB (coffee, a rocket,
# a cat, a colour wheel); a horse, brick, a page of text, coins, gravel and a retina's microaneurysms (102^2 picture).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead41.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FM_frames
#   scripts/heldout_lead41.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FM_{A,B}.json --against OUTDIR/FMv_{A,B}.json --name after
set -euo pipefail
A="sk:horse@60:120,28,16,0.01,9853,translation              rgb:sk:coffee@100:310,40,8,0.005,9854,rigid \
   sk:brick@300:310,24,16,0.03,9855,translation             sk:page@30:150,20,8,0.01,9856,affine \
   rgb:sk:rocket@150:360,60,16,0.01,9857,translation"
B="sk:coins@150:200,36,16,0.005,9858,rigid                  rgb:sk:chelsea@100:250,32,8,0.03,9859,affine \
   sk:gravel@50:300,44,8,0.005,9860,translation             sk:microaneurysms@10:20,20,16,0.01,9861,translation \
   rgb:sk:colorwheel@150:100,48,16,0.01,9862,rigid"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FM "$OUT" "$A" "$B" "$@"
