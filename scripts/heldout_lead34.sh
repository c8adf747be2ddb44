#!/usr/bin/env bash
# Held-out batch EY (the lead, session 34, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9505-9511, 9513-9516 (git grep -w over the repository: none used); every IMAGE@ROW:COL grepped unused in the
# repository and ../shared/notes, and its 4x crop inside its image. Six translation draws, four rigid, one affine;
# two RGB; frames of 10-32 px (six of at most 16 px, where the split walk does not run).
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead34.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/EY_frames
#   scripts/heldout_lead34.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/EY_{A,B}.json --against OUTDIR/EYv_{A,B}.json --name after
set -euo pipefail
A="sk:coins@40:120,36,16,0.01,9505,translation      sk:hubble_deep_field@620:420,48,8,0.03,9506,rigid \
   rgb:sk:coffee@230:440,28,16,0.005,9507,translation  sk:grass@300:60,20,8,0.01,9508,affine \
   sk:camera@60:380,32,16,0.03,9509,rigid            sk:astronaut@300:40,44,8,0.01,9510,translation"
B="rgb:sk:retina@1000:860,40,16,0.01,9511,rigid      sk:moon@380:380,24,16,0.03,9513,translation \
   sk:brick@230:170,64,8,0.005,9514,translation      sk:text@30:200,24,16,0.005,9515,rigid \
   sk:page@70:230,28,8,0.01,9516,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" EY "$OUT" "$A" "$B" "$@"
