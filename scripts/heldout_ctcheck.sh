#!/usr/bin/env bash
# Held-out batch for solver.lam_cv_pixel_grid_misfit=ramp (docs/ct.md "The pixel-grid check on 4x-simulated files
# (ctcheck)"), written down and committed before any run on it; never tuned on. Seeds 7996 (radon files) and 7997
# (4x-simulated files): git grep -w and ../shared/notes unused.
#   radon files (scripts/ct_radon_files.py --seed 7996; kinds, sizes and noise not in seeds 7984 or 7986):
#     honeycomb 88^2 circle=True 45 views Poisson 1e4; histology 72^2 True 90 views Gaussian 1.5%;
#     blobs 104^2 True 30 views Poisson 1e5; retina 80^2 True 60 views Poisson 1e6.
#   4x-simulated files (scripts/heldout_ct_sinograms.py --seed 7997, bin-integrated, Poisson; FB's kind):
#     gear 112^2 45 views 1e4; ellipses 96^2 30 views 1e4; circuit 80^2 60 views 1e5; bone 96^2 15 views 1e4.
# Runs per file: `auto` (cv) with the pixel-grid check as main runs it (misfit plain) and with misfit ramp, no grid,
# no peers (bench_lambda_ct.py --no-grid --no-peer); where the two answers differ (a "moved" file), the grid optimum
# on the 2x unknown with the oracle peers, and the grid optimum on the pixel grid (--tv-grid 1): its targets.
# Rule, counted separately for the radon files and the 4x-simulated files: (a) no moved file loses a target main
# meets (within 0.5 dB of "best", the higher of the two grid optima; above the best oracle peer), (b) ramp's PSNR
# minus main's summed over the moved files >= 0. ramp becomes the default iff (a) and (b) hold in both groups;
# otherwise it stays opt-in (plain), the numbers reported either way.
#     bash scripts/heldout_ctcheck.sh OUT radon|sim [plain|ramp]      # the files, then `auto` with one misfit
#     bash scripts/heldout_ctcheck.sh OUT targets CASE_FILE             # the grid optima and peers of a moved file
set -euo pipefail
out=${1:?usage: heldout_ctcheck.sh OUT radon|sim|targets [plain|ramp|CASE_FILE]}
what=${2:?}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here
bench=$here/scripts/bench_lambda_ct.py
radon=(honeycomb:88:45:T:p1e4 histology:72:90:T:g1.5 blobs:104:30:T:p1e5 retina:80:60:T:p1e6)
sim=(gear:112:45:1e4 ellipses:96:30:1e4 circuit:80:60:1e5 bone:96:15:1e4)
case $what in
  radon)
    [[ -e $out/radon/made ]] || { python "$here/scripts/ct_radon_files.py" --out "$out/radon" --seed 7996 \
        --cases "${radon[@]}"; touch "$out/radon/made"; }
    files=("$out"/radon/7996_*_case.npz) ;;
  sim)
    [[ -e $out/sim/made ]] || { python "$here/scripts/heldout_ct_sinograms.py" --seed 7997 --out "$out/sim" \
        --cases "${sim[@]}"; touch "$out/sim/made"; }
    files=("$out"/sim/*.npz) ;;
  targets)
    f=${3:?a moved file}; stem=$(basename "$f" .npz)
    python "$bench" --cases "$f" --auto-rules --threads 1 --out "$out/grid2_$stem"
    python "$bench" --cases "$f" --auto-rules --tv-grid 1 --no-peer --threads 1 --out "$out/grid1_$stem"
    exit 0 ;;
  *) echo "heldout_ctcheck.sh: $what is not radon, sim or targets" >&2; exit 2 ;;
esac
for misfit in ${3:-plain ramp}; do
  for f in "${files[@]}"; do
    python "$bench" --cases "$f" --no-grid --no-peer --auto-rules cv --cv-pixel-grid --threads 1 \
        --set lam_cv_pixel_grid_misfit="$misfit" --out "$out/${misfit}_$(basename "$f" .npz)"
  done
done
