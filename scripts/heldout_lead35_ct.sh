#!/usr/bin/env bash
# Held-out CT batch FB (the lead, session 35, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation, Poisson), written down and committed before any run on it; never tuned on. Seed 9072 (git grep
# -w over the repository and ../shared/notes: unused). Six 128^2 scans: the issue's kinds (ellipses, designed metal
# parts with 1-2 px walls, natural photos in a disk: retina and a deep field standing in for astronaut and brick), a gear and a
# circuit board; 60/30/15 views (two of each); 1e4-1e6 photons.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead35_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FB.json
#   scripts/heldout_lead35_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FBv.json
set -euo pipefail
OUT=$1; shift
CASES="metal:128:30:1e5 ellipses:128:15:1e4 astronaut:128:15:1e5 gear:128:60:1e4 brick:128:60:1e6 circuit:128:30:1e4"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FB 9072 "retina hubble_deep_field" "$OUT" "$CASES" "$@"
