#!/usr/bin/env bash
# Held-out batch FK (the lead, session 40, issue 16): the issue's kind (a photo crop made 8x finer than the reference,
# 20^2-64^2, 8 or 16 frames, 0.5/1/3% noise), written down and committed before any run on it; never tuned on.
# Seeds 9783, 9784, 9786, 9787, 9790, 9792-9795, 9797 (git grep -w over the repository and ../shared/notes: none used,
# no range holds them); every IMAGE@ROW:COL grepped unused there, its 4x crop inside its image (clock@40:60,
# cell@300:200, hubble_deep_field@100:700 and @700:30, text@30:200 and @60:330, camera@200:20, astronaut@300:40 were
# taken and moved before writing). Five translation draws, three rigid, two affine; four RGB (an immunohistochemistry
# slide, a deep field, a retina, an astronaut); grass, a clock, a microscope cell, a line of text, camera and the moon.
# Run once at main before the session's SR merges (grid + peer + `auto`), then `auto` again at main after each merge
# on the same frames (--reuse). Judged per merge: no set loses a target main met; the dB summed over sets it moves >= 0.
#   scripts/heldout_lead40.sh OUTDIR            # main: grid, peer and auto; frames kept in OUTDIR/FK_frames
#   scripts/heldout_lead40.sh OUTDIR again      # auto again with the code of this checkout on the same frames
#   python scripts/report_sr_acceptance.py OUTDIR/FK_{A,B}.json --against OUTDIR/FKv_{A,B}.json --name after
set -euo pipefail
A="sk:grass@100:350,20,16,0.03,9783,translation             rgb:sk:immunohistochemistry@250:100,52,16,0.01,9784,affine \
   sk:clock@120:230,36,8,0.01,9786,translation              sk:cell@410:330,48,16,0.005,9787,rigid \
   rgb:sk:hubble_deep_field@640:820,28,8,0.005,9790,rigid"
B="sk:text@45:350,24,16,0.01,9792,translation               sk:camera@230:250,64,8,0.03,9793,translation \
   rgb:sk:retina@300:900,32,16,0.005,9794,rigid             rgb:sk:astronaut@310:330,44,8,0.03,9795,translation \
   sk:moon@20:250,56,16,0.01,9797,affine"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FK "$OUT" "$A" "$B" "$@"
