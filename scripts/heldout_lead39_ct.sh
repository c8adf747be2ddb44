#!/usr/bin/env bash
# Held-out CT batch FJ (the lead, session 39, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 8021 (git grep -w over the repository and ../shared/notes: unused; no range holds it). Five 128^2 scans and one
# 256^2: a honeycomb infill, a laminate, a fibre composite, a page of text and coins in a disk (page and coins stand in
# for astronaut and brick), a gear at 256^2; 60/30/15 views (two of each); 1e4-1e5 photons. No lead batch used these
# two pictures for CT.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead39_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FJ.json
#   scripts/heldout_lead39_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FJv.json
set -euo pipefail
OUT=$1; shift
CASES="honeycomb:128:15:1e5 laminate:128:60:1e4 fibres:128:30:1e5 astronaut:128:60:1e5 brick:128:30:1e4 gear:256:15:1e5"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FJ 8021 "page coins" "$OUT" "$CASES" "$@"
