#!/usr/bin/env bash
# Held-out batch for srcolour (session 36, issue 16): the colour image's weight on RGB frame sets, written down and
# committed before any run on it; never tuned on. Nine RGB sets of the issue's kind (photo crops in colour, 8x finer
# than the reference, 24^2-48^2, 8/16 frames, 0.5/1/3%; translation, rigid and affine draws). Seeds 9590-9592,
# 9594-9596, 9598-9600 (git grep -w over the repository and ../shared/notes: none used); every IMAGE@ROW:COL grepped
# unused there, its crop inside its image; not the lead's FC crops (colorwheel@60:90, coffee@240:420).
# Run once at main (grid + peer + `auto`), then `auto` again with the change on the same frames (--reuse).
# The rule, fixed before the run: the change is kept as the default only if no set loses a target (above bicubic,
# within 0.75 dB of regrun's best, within 0.5 dB of the peer) that main meets, and the dB summed over the sets it
# moves is >= 0; otherwise it stays opt-in (off) and is reported as it fell.
#   scripts/heldout_srcolour.sh OUTDIR                 # main: grid, peer and auto; frames kept in OUTDIR/GC_frames
#   scripts/heldout_srcolour.sh OUTDIR again           # auto again with this checkout's code (its defaults)
#   scripts/heldout_srcolour.sh OUTDIR KEY=VALUE ...   # auto again with those problem settings
#   python scripts/report_sr_acceptance.py OUTDIR/GC_{A,B}.json --against OUTDIR/GCv_{A,B}.json --name after
set -euo pipefail
A="rgb:sk:retina@700:400,40,16,0.01,9590,rigid               rgb:sk:immunohistochemistry@150:150,32,16,0.01,9591,translation \
   rgb:sk:coffee@100:350,28,8,0.005,9592,rigid              rgb:sk:chelsea@30:150,36,16,0.03,9594,translation \
   rgb:sk:colorwheel@150:200,24,16,0.01,9599,rigid"
B="rgb:sk:retina@300:1000,48,16,0.005,9598,translation      rgb:sk:astronaut@250:120,24,8,0.01,9595,affine \
   rgb:sk:rocket@280:200,32,16,0.01,9596,rigid              rgb:mpl:grace_hopper@100:200,32,8,0.01,9600,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" GC "$OUT" "$A" "$B" "$@"
