#!/usr/bin/env bash
# Held-out CT batch FN (the lead, session 41, issue 16): sinograms made outside regrun's projector (bin-integrated,
# 4x finer simulation or exact chords, Poisson), written down and committed before any run on it; never tuned on.
# Seed 8043 (git grep -w over the repository and ../shared/notes: unused; no range holds it). Five 128^2 scans and one
# 256^2: a log's cross-section, a coated tablet, a breast slice, a fruit (four kinds no lead batch ran), scikit-image's
# cat (chelsea) and a horse's silhouette in a disk (standing in for astronaut and brick; no CT batch used either);
# 60/30/15 views (two of each); 1e4-1e5 photons.
# Run once at main before the session's CT merges (grid with the truth, peers, `auto`), then `auto` again after each
# merge on the same files (--reuse). Judged per merge: no scan loses a target main met (within 0.5 dB of the
# grid-optimal lambda; above the best oracle-tuned peer); the dB summed over scans it moves >= 0.
#   scripts/heldout_lead41_ct.sh OUTDIR           # main: the files, grid, peers and auto -> OUTDIR/FN.json
#   scripts/heldout_lead41_ct.sh OUTDIR again     # auto again with this checkout's code -> OUTDIR/FNv.json
set -euo pipefail
OUT=$1; shift
CASES="wood:128:60:1e4 tablet:128:15:1e5 breast:128:30:1e4 astronaut:128:30:1e5 brick:256:60:1e4 fruit:128:15:1e5"
exec bash "$(dirname "$0")/heldout_ct_batch.sh" FN 8043 "chelsea horse" "$OUT" "$CASES" "$@"
