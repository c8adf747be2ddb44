#!/usr/bin/env bash
# Held-out CT batch FD (the lead, session 36, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 7998 (git grep -w over the repository and ../shared/notes: unused). Six 128^2 scans: natural photos in a disk
# (coffee and moon standing in for astronaut and brick), a bone slice, pipes with 1-2 px walls, a battery cell's
# electrode roll and a jaw slice; 60/30/15 views (two of each); 1e4-1e6 photons.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead36_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FD.json
#   scripts/heldout_lead36_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FDv.json
set -euo pipefail
OUT=$1; shift
CASES="bone:128:60:1e5 pipes:128:30:1e4 astronaut:128:30:1e5 brick:128:15:1e6 battery:128:15:1e5 dental:128:60:1e4"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FD 7998 "coffee moon" "$OUT" "$CASES" "$@"
