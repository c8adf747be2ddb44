#!/usr/bin/env bash
# Held-out batch EV (the lead, session 32, issue 16): `problem.motion_model_shift_ratio` at 750 (srtrans's default)
# against 1300 (srturn's reading after TU: 750 failed TU's rule, -0.32 dB summed where it fired, no target lost; only
# 1120 < R <= 1484 passes both TU and the lead's EU; 1300 was chosen after reading them, so neither holds it out).
# Written down and committed before any run on it; never tuned on. Seeds 9471-9482 (git grep -w over the repository
# and ../shared/notes: none used); every IMAGE@ROW:COL grepped unused there (moon@100:100, chelsea@150:300,
# retina@200:200, hubble_deep_field@600:100 were taken: moved; camera@40:380 out of its image: moved) and its 4x crop
# inside its image. Seven rigid draws turned at most +-0.3 to +-1 deg (--turn-scale 0.03-0.1), four translation
# draws, one affine; 24^2-48^2 (12-24 px frames: auto chooses on frames of at most 24 px), 12/16 frames, 0.5-2%,
# two RGB. Run at main (750: grid, peer, auto), then auto again with 1300 and with null on the same frames.
# Decided before the run: 1300 becomes the default iff on EV it loses no target that 750 meets and its dB summed
# against 750 over the sets where the two answers differ is >= 0; otherwise 750 stays. null is reported beside.
#   scripts/heldout_lead32_turns.sh OUTDIR                                 # main (750)
#   scripts/heldout_lead32_turns.sh OUTDIR motion_model_shift_ratio=1300   # and =null
set -euo pipefail
A="0.03:sk:moon@140:330,40,16,0.01,9471,rigid  0.05:sk:brick@60:300,36,12,0.005,9472,rigid \
   0.1:rgb:sk:coffee@150:60,32,16,0.01,9473,rigid  1:sk:camera@40:360,36,16,0.01,9474,translation \
   1:sk:gravel@350:300,28,16,0.02,9475,translation  0.04:sk:page@30:20,40,16,0.01,9476,rigid"
B="0.03:sk:grass@200:250,48,12,0.01,9477,rigid  0.07:sk:coins@160:230,32,16,0.005,9478,rigid \
   0.05:rgb:sk:chelsea@140:40,36,12,0.02,9479,rigid  1:sk:retina@900:300,32,16,0.005,9480,translation \
   1:sk:astronaut@50:50,24,16,0.01,9481,translation  1:sk:hubble_deep_field@650:700,40,12,0.01,9482,affine"
exec bash "$(dirname "$0")/heldout_turned_lanes.sh" EV "$1" "$A" "$B" "${2:-}"
