#!/usr/bin/env bash
# Held-out batch SM (srsmall16, session 33, issue 16): `auto`'s weight on frames of 12-16 px a side (fine 24^2-32^2 at
# factor 2), written down and committed before any run on it; never tuned on. Seeds 7968-7974 (git grep -w over the
# repository: none used); every IMAGE@ROW:COL grepped unused and its 4x crop checked inside its image (grey std
# 27-70). Images none of srsmall16's dev sets used (dev: camera, hands-R, astronaut, moon, chelsea, ellipses, coins,
# spots, coffee, retina, grace_hopper, rocket, gravel, polygons, hubble, grass, immunohistochemistry, cell, s1045):
# clock, brick, a text and a page, FAIR's HNSP-T, and two generated colour scenes (plasma, voronoi: the RGB path);
# six with 14-16 px frames (where the candidate acts), one with 12 px frames (text 24^2, a control: bit-identical by
# construction); 8 and 16 frames, 0.5-3%, translation / rigid / affine draws.
# The candidate (chosen on dev before this batch was run): problem.lam_gcv_gamma_small=1.5 with
# problem.lam_gcv_gamma_small_floor=true (gamma 1.5 on 13-16 px frames, and the search at 1.2 too, its GML floor
# kept: the larger weight). Judged, decided before the run: it replaces main's default iff on SM it loses no target
# main meets and its dB summed over the sets where the two answers differ is >= 0.
#   scripts/heldout_srsmall16.sh OUTDIR                 # main: grid, peer and auto; frames kept in OUTDIR/SM_frames
#   scripts/heldout_srsmall16.sh OUTDIR lam_gcv_gamma_small=1.5 lam_gcv_gamma_small_floor=true
#   python scripts/report_sr_acceptance.py OUTDIR/SM_{A,B}.json --against OUTDIR/SMv_{A,B}.json --name floor
set -euo pipefail
A="sk:clock@140:180,28,16,0.01,7968,translation  sk:brick@330:20,32,16,0.005,7969,affine \
   plasma,28,16,0.005,7970,rigid                 sk:text@60:250,24,16,0.01,7971,translation"
B="fair:HNSP-T@100:200,32,8,0.03,7972,rigid      voronoi,30,8,0.01,7973,affine \
   sk:page@70:250,28,16,0.02,7974,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" SM "$OUT" "$A" "$B" "$@"
