#!/usr/bin/env bash
# Held-out batch GH for srcolour2 (session 36, issue 16): a truthless gate for problem.lam_chroma_factor, written down and
# committed before any run on it; never tuned on. Eight RGB sets of the issue's kind, 24^2-40^2, 8/16 frames,
# 0.5-3%, translation and rigid draws: four of saturated colour (a colorwheel crop, and the bench's generated colour
# kinds flags, stainedglass, mondrian: new scenes, their seeds new) and four photos (retina, coffee, chelsea,
# astronaut). Seeds 9651-9658 (git grep -w over the repository and ../shared/notes: none used); every IMAGE@ROW:COL
# grepped unused there, its 4*SIZE crop inside its image; not the lead's FC sets.
# Run once at main (grid + peer + `auto`), then `auto` again with the change on the same frames (--reuse).
# The rule, fixed before the run: the change becomes the default only if no set loses a target (above bicubic,
# within 0.75 dB of regrun's best, within 0.5 dB of the peer) that main meets, and the dB summed over the sets it
# moves is >= 0; otherwise it stays opt-in (off) and is reported as it fell.
#   scripts/heldout_srcolour2.sh OUTDIR                 # main: grid, peer and auto; frames kept in OUTDIR/GH_frames
#   scripts/heldout_srcolour2.sh OUTDIR KEY=VALUE ...   # auto again with those problem settings (the change)
#   python scripts/report_sr_acceptance.py OUTDIR/GH_{A,B}.json --against OUTDIR/GHv_{A,B}.json --name after
set -euo pipefail
A="rgb:sk:colorwheel@200:40,32,16,0.01,9651,translation     flags,28,16,0.01,9652,rigid \
   stainedglass,24,8,0.005,9654,translation                 rgb:sk:retina@600:1100,40,16,0.01,9655,rigid"
B="mondrian,36,8,0.02,9653,translation                      rgb:sk:coffee@150:100,32,8,0.01,9656,translation \
   rgb:sk:chelsea@120:200,28,16,0.02,9657,rigid             rgb:sk:astronaut@150:350,36,8,0.03,9658,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" GH "$OUT" "$A" "$B" "$@"
