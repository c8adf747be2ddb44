#!/usr/bin/env bash
# Held-out CT batch FL (the lead, session 40, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 8035 (git grep -w over the repository and ../shared/notes: unused; no range holds it). Five 128^2 scans and one
# 192^2 (a size no lead batch ran): a sandstone core plug, a bone slice, a circuit board, a jaw, scikit-image's camera
# and gravel in a disk (standing in for astronaut and brick); 60/30/15 views (two of each); 1e4-1e5 photons. No lead
# batch used these two pictures for CT.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead40_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FL.json
#   scripts/heldout_lead40_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FLv.json
set -euo pipefail
OUT=$1; shift
CASES="rock:128:30:1e4 bone:128:15:1e5 circuit:128:60:1e4 dental:128:30:1e5 astronaut:128:15:1e4 brick:192:60:1e5"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FL 8035 "camera gravel" "$OUT" "$CASES" "$@"
