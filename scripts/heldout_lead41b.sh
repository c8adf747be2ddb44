#!/usr/bin/env bash
# Held-out batch FO (the lead, session 41, issue 16): a second batch of the issue's kind in the session, run once at
# main after the session's SR merges (every one opt-in, so the user's defaults are session 40's), to measure the
# targets on sets no code of the session was judged on. Written down and committed before any run; never tuned on.
# Seeds 9884-9892 and 9895 (git grep -w over the repository and ../shared/notes: none used, no range holds them;
# 9893 and 9894 were taken); every IMAGE@ROW:COL grepped unused there, its 4x crop inside its image (text@100:120 and
# coffee@220:40 did not fit and were moved before writing). Six translation draws, three rigid, one affine; four RGB
# (a cat, an astronaut, coffee, a rocket); camera, Grace Hopper (matplotlib's portrait), grass, moon, text and a
# terrain elevation model (matplotlib's jacksboro_fault_dem) among the grey ones.
#   scripts/heldout_lead41b.sh OUTDIR            # grid, peer and auto; frames kept in OUTDIR/FO_frames
#   python scripts/report_sr_acceptance.py OUTDIR/FO_{A,B}.json
set -euo pipefail
A="rgb:sk:cat@40:200,40,16,0.01,9884,rigid                  sk:camera@330:60,24,8,0.03,9885,translation \
   mpl:grace_hopper@100:150,36,16,0.005,9886,translation    sk:grass@380:200,28,8,0.01,9887,affine \
   rgb:sk:astronaut@380:120,32,16,0.005,9888,translation"
B="sk:moon@300:380,32,16,0.03,9889,rigid                    sk:text@80:120,20,16,0.005,9890,translation \
   rgb:sk:coffee@150:40,56,8,0.01,9891,translation          rgb:sk:rocket@20:60,48,8,0.03,9892,rigid \
   mpl:jacksboro_fault_dem@50:100,64,16,0.01,9895,translation"
OUT=$1; shift
exec bash "$(dirname "$0")/heldout_sr_lanes.sh" FO "$OUT" "$A" "$B" "$@"
