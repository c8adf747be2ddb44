#!/usr/bin/env bash
# Held-out batch FA (the lead, session 35, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9526-9533, 9535-9538 (git grep -w over the repository and ../shared/notes: none used); every IMAGE@ROW:COL
# grepped unused there, and its 4x crop inside its image. Seven translation draws, four rigid, one affine; two RGB;
# frames of 10-32 px (seven of at most 16 px, where the split walk does not run).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead35.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FA_frames
#   scripts/heldout_lead35.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FA_{A,B}.json --against OUTDIR/FAv_{A,B}.json --name after
set -euo pipefail
A="sk:cat@40:250,32,16,0.01,9526,translation        rgb:sk:immunohistochemistry@300:40,40,8,0.03,9527,rigid \
   sk:cell@440:320,24,16,0.005,9528,translation     sk:clock@100:170,48,8,0.01,9529,rigid \
   sk:gravel@380:300,20,16,0.03,9530,affine         rgb:sk:rocket@250:60,28,16,0.01,9531,translation"
B="sk:chelsea@120:40,36,8,0.005,9532,rigid          sk:hubble_deep_field@100:700,64,16,0.01,9533,translation \
   sk:astronaut@380:300,24,8,0.03,9535,translation   sk:retina@500:200,32,16,0.01,9536,rigid \
   sk:horse@100:100,28,16,0.01,9537,translation      sk:microaneurysms@10:12,20,16,0.01,9538,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FA "$OUT" "$A" "$B" "$@"
