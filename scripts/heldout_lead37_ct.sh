#!/usr/bin/env bash
# Held-out CT batch FF (the lead, session 37, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 7990 (git grep -w over the repository and ../shared/notes: unused). Five 128^2 scans and one 256^2: a star
# target, fibres, a rock section, a natural photo in a disk (cell standing in for astronaut), a wire mesh and a
# laminate at 256^2; 60/30/15 views (two of each); 1e4-1e6 photons.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead37_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FF.json
#   scripts/heldout_lead37_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FFv.json
set -euo pipefail
OUT=$1; shift
CASES="star:128:30:1e5 fibres:128:60:1e4 rock:128:15:1e5 astronaut:128:60:1e5 mesh:128:15:1e6 laminate:256:30:1e5"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FF 7990 "cell clock" "$OUT" "$CASES" "$@"
