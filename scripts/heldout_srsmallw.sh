#!/usr/bin/env bash
# Held-out batch SW (srsmallw, session 31, issue 16): the weight on small frames (<= 16 px a side, fine 20^2-32^2 at
# factor 2), written down and committed before any run on it; never tuned on. Seeds 9136-9146 (grep -rnw over docs/,
# scripts/, tests/, configs/, regrun/, ../shared/notes: none used as a seed); every IMAGE@ROW:COL grepped unused there
# and its 4x crop checked inside its image (bench_lambda_sr.source_image). Kinds unlike the dev set's (camera,
# hands-R, astronaut, moon, chelsea, texture, ellipses, clock, topobathy, jacksboro, coins, spots, page).
# The candidate judged (chosen on the dev set before this batch was run): problem.lam_gcv_gamma_small=1.5 (gamma 1.5
# on frames of 13-16 px a side). Decided before the run: it becomes the default only if on SW, against main, (a) the
# sets meeting all three targets do not fall, (b) no set loses a target main meets, (c) the dB summed over the sets
# it moves is >= 0. Otherwise it stays opt-in (null) and the numbers are reported.
#   scripts/heldout_srsmallw.sh OUTDIR; scripts/heldout_srsmallw.sh OUTDIR lam_gcv_gamma_small=1.5
#   python scripts/report_sr_acceptance.py OUTDIR/SW_{A,B}.json --against OUTDIR/SWv_{A,B}.json --name g15
# Usage: scripts/heldout_srsmallw.sh OUTDIR [KEY=VALUE ...]: main's `auto` beside the grid and the peer (no
# KEY=VALUE), or `auto` again with those settings on the same frames (--reuse of main's grid and peer).
set -euo pipefail
A="sk:coffee@100:150,28,16,0.005,9136,translation  sk:retina@400:300,32,16,0.005,9137,rigid \
   sk:immunohistochemistry@60:380,24,16,0.01,9138    mpl:grace_hopper@150:60,32,8,0.01,9139,translation \
   sk:rocket@250:450,28,8,0.03,9140,rigid            sk:gravel@300:50,32,16,0.03,9141,translation"
B="sk:cat@50:200,20,16,0.01,9142,rigid               polygons,32,16,0.01,9143 \
   sk:hubble_deep_field@300:300,28,16,0.01,9144,translation  blobwaves,24,8,0.005,9145 \
   sk:grass@350:150,32,16,0.005,9146"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" SW "$OUT" "$A" "$B" "$@"
