#!/usr/bin/env bash
# Held-out batch TU (srturn, session 32): does `problem.motion_model_shift_ratio: 750` (srtrans) take the rotation
# from rigid bursts turned by under a degree (a steady hand, a tripod's slight twist)? The ratio grows about as
# 1/turn^2, so such bursts may read over 750 and be answered with translation. Written down and committed before any
# run on it; never tuned on. Seeds 9212-9215, 9217-9220, 9395-9400 (git grep -w over the repository and
# ../shared/notes: none used); every IMAGE@ROW:COL grepped unused there and its 4x crop inside its image. Twelve rigid
# draws, the bench's angles (+-10 deg) times 0.02-0.08 (bench_lambda_sr.py --turn-scale: turned at most +-0.2, 0.3,
# 0.35, 0.45, 0.6, 0.8 deg, two sets each), and two translation draws; 32^2-48^2 (16-24 px frames: motion_model=auto
# chooses on frames of at most 24 px), 8/12/16 frames, 0.5-3% noise, two RGB (rocket, astronaut).
# Run once at main (the default 750: grid, peer and `auto`), then `auto` again on the same frames (--reuse) with
# the rule switched off (motion_model_shift_ratio=null). Judged on the user's answer (the bench's `auto`): the
# default 750 stays if no set loses a target that the rule switched off meets, and the dB summed over the sets where
# the rule fires (motion_model_shift_dropped = 1 at 750) is >= 0.
#   scripts/heldout_srturn.sh OUTDIR                                   # main: grid, peer, auto; frames OUTDIR/TU_frames
#   scripts/heldout_srturn.sh OUTDIR motion_model_shift_ratio=null     # auto again, the setting given, same frames
#   python scripts/report_sr_acceptance.py OUTDIR/TU_*.json --against OUTDIR/TUv_null_*.json --name null
set -euo pipefail
# scale:set ... per lane; each scale's sets are one bench run (--turn-scale is the run's)
A="0.02:sk:camera@280:60,40,16,0.01,9212,rigid  0.03:sk:retina@600:500,36,12,0.005,9213,rigid \
   0.035:sk:immunohistochemistry@300:150,40,8,0.005,9218,rigid  0.045:rgb:sk:rocket@120:300,32,8,0.01,9214,rigid \
   0.06:sk:cell@420:300,48,16,0.03,9215,rigid  0.08:sk:horse@60:40,32,12,0.02,9217,rigid \
   1:sk:coins@40:250,32,16,0.01,9219,translation"
B="0.02:sk:hubble_deep_field@500:650,44,16,0.01,9220,rigid  0.03:sk:chelsea@120:250,36,16,0.005,9395,rigid \
   0.035:sk:coffee@20:380,40,12,0.03,9399,rigid  0.045:rgb:sk:astronaut@200:350,40,12,0.02,9396,rigid \
   0.06:sk:cat@30:60,48,8,0.01,9397,rigid  0.08:sk:clock@150:220,32,16,0.005,9398,rigid \
   1:sk:text@10:300,32,12,0.02,9400,translation"
exec bash "$(dirname "$0")/heldout_turned_lanes.sh" TU "$1" "$A" "$B" "${2:-}"
