#!/usr/bin/env bash
# Held-out batch GW for srwheel (session 37, issue 16): problem.lam_rechoose_move_saturated=0 (above the frames'
# chroma share bar, problem.lam_chroma_share_max, auto's weight is searched again at the solver's final motion however
# little the motion moved; dev: +0.66 dB over 11 sets above the bar, GH's wheel's target gained, none lost), written
# down and committed before any run on it; never tuned on. (The list and rule were committed first for
# problem.lam_channels_saturated, which dev contradicted before any held-out run: GC's wheel s9599 -0.84, two targets
# lost; so it is not taken to held-out, and this batch judges the search again instead.) Eight RGB sets of the issue's kind,
# 28^2-40^2, 8/16 frames, 0.5-2%, translation and rigid draws: five saturated (a colorwheel crop and the bench's
# generated colour kinds voronoi, tiles, flags, stainedglass: shares 1.8-8.6 read from their frames alone) and three
# photos near or above the bar (rocket 0.96, coffee 1.30, rocket 1.59). Seeds 9664-9667 (git grep -w over the
# repository and ../shared/notes: none used), each for two sets; every IMAGE@ROW:COL grepped unused there, its
# 4*SIZE crop inside its image; not the lead's sets.
# Run once at main (grid + peer + `auto`), then `auto` again with lam_rechoose_move_saturated=0 on the same frames
# (--reuse). The rule, fixed before the run: the change becomes the default only if no set loses a target (above
# bicubic, within 0.75 dB of regrun's best, within 0.5 dB of the peer) that main meets, and the dB summed over the
# sets it moves is >= 0; otherwise it stays opt-in (off) and is reported as it fell.
#   scripts/heldout_srwheel.sh OUTDIR                              # main: grid, peer and auto
#   scripts/heldout_srwheel.sh OUTDIR lam_rechoose_move_saturated=0  # auto again with the change
#   python scripts/report_sr_acceptance.py OUTDIR/GW_{A,B}.json --against OUTDIR/GWv_{A,B}.json --name "search again"
set -euo pipefail
A="rgb:sk:colorwheel@30:200,36,8,0.01,9664,rigid            voronoi,32,16,0.01,9665,translation \
   tiles,28,8,0.02,9666,translation                        rgb:sk:rocket@20:250,28,16,0.01,9665,rigid"
B="flags,40,16,0.005,9667,rigid                            stainedglass,32,16,0.01,9664,translation \
   rgb:sk:coffee@270:380,28,8,0.01,9666,translation        rgb:sk:rocket@30:320,32,8,0.01,9667,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" GW "$OUT" "$A" "$B" "$@"
