#!/usr/bin/env bash
# The runs of a lead's held-out CT batch (heldout_lead33_ct.sh's EX, heldout_lead34_ct.sh's EZ): the sinogram files
# made outside regrun's projector, then the grid with the truth, the oracle peers and `auto` (cv), one thread.
# Usage: heldout_ct_batch.sh NAME SEED "IMAGE IMAGE" OUTDIR "CASES" [again]
#   nothing more: the files in OUTDIR/heldout_SEED, outputs OUTDIR/NAME.json;
#   again: `auto` alone again with this checkout's code on the same files (--reuse), outputs OUTDIR/NAMEv.json.
set -euo pipefail
NAME=$1; SEED=$2; IMAGES=$3; OUT=$4; CASES=$5; shift 5
if [ $# -eq 0 ]; then
  python scripts/heldout_ct_sinograms.py --seed "$SEED" --images $IMAGES --out "$OUT/heldout_$SEED" --cases $CASES
  python scripts/bench_lambda_ct.py --cases "$OUT/heldout_$SEED"/*.npz --grid 9 --lam-lo 0.01 --lam-hi 100 --refine 3 \
    --auto-rules cv --threads 1 --out "$OUT/$NAME"
else
  python scripts/bench_lambda_ct.py --cases "$OUT/heldout_$SEED"/*.npz --reuse "$OUT/$NAME.json" --auto-rules cv \
    --threads 1 --out "$OUT/${NAME}v"
fi
