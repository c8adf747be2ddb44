#!/usr/bin/env bash
# Held-out CT batch FH (the lead, session 38, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 7993 (git grep -w over the repository and ../shared/notes: unused). Five 128^2 scans and one 256^2: a truss,
# nested shells, a cell culture, a stained-tissue photo in a disk (immunohistochemistry standing in for astronaut), a
# grass texture (for brick) and a bottle at 256^2; 60/30/15 views (two of each); 1e4-1e6 photons. No lead batch used
# these two pictures for CT.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead38_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FH.json
#   scripts/heldout_lead38_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FHv.json
set -euo pipefail
OUT=$1; shift
CASES="truss:128:60:1e5 shells:128:30:1e4 cells:128:15:1e5 astronaut:128:30:1e6 brick:128:60:1e5 bottle:256:15:1e5"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FH 7993 "immunohistochemistry grass" "$OUT" "$CASES" "$@"
