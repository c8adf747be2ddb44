#!/usr/bin/env bash
# Held-out batch for solver.lam_cv_pixel_grid (docs/ct.md "(ctskradon)"), written down before any run on it.
# Seed 7986 (never used before; 7984 was the dev batch, 7985 and 7987 unused). Files made as a scikit-image
# radon user makes them (scripts/ct_radon_files.py: kinds, sizes and noise not in the dev batch):
#   sqmoon 128^2 circle=False 60 views Poisson 1e5; chelsea 96^2 circle=True 30 views Gaussian 1%;
#   ctscan 127^2 circle=False 60 views Poisson 1e4; cells 64^2 circle=True 15 views Poisson 1e5;
#   brick 80^2 circle=True 180 views Gaussian 0.5%; sqcoffee 100^2 circle=False 30 views Gaussian 2%;
#   mrihead 65^2 circle=True 60 views Poisson 1e6.
# Each: bench_lambda_ct.py as the README's command reads the file (problem.angle_start=90, the truth's grid), the
# grid optimum on main's unknown (solver.tv_grid=auto: 2x at these sizes), the oracle peers, and `auto` with the
# pixel-grid check (its record keeps main's answer, the finer grid's search, beside); then the grid optimum on the
# pixel grid (solver.tv_grid=1 typed). "best" = the higher of the two grid optima.
# Decision rule: lam_cv_pixel_grid becomes the default for a user's parallel sinogram (problem.data=file) iff
#   (a) no file where main's answer is within 0.5 dB of best has the check's answer more than 0.5 dB under best,
#   (b) the check's PSNR minus main's, summed over the files where it takes the pixel grid, is >= 0, and
#   (c) where it keeps the finer grid, the answer is main's bit for bit.
# Otherwise it stays opt-in (false), and the numbers are reported either way.
#     bash scripts/heldout_ct_radon.sh OUT [PART]
# PART 0 or 1: only every other case's runs (two processes on two cores; start 1 once 0 has made the files)
set -euo pipefail
out=${1:?usage: heldout_ct_radon.sh OUT [PART]}
part=${2:-}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here
cases=(sqmoon:128:60:F:p1e5 chelsea:96:30:T:g1 ctscan:127:60:F:p1e4 cells:64:15:T:p1e5 brick:80:180:T:g0.5
       sqcoffee:100:30:F:g2 mrihead:65:60:T:p1e6)
if [[ ! -e $out/made ]]; then  # the files once (a second PART started after the first has made them)
    python "$here/scripts/ct_radon_files.py" --out "$out" --seed 7986 --cases "${cases[@]}"
    touch "$out/made"
fi
for k in "${!cases[@]}"; do
    c=${cases[$k]}
    if [[ -n $part && $((k % 2)) != "$part" ]]; then continue; fi
    IFS=: read -r obj n v circ noise <<< "$c"
    stem=7986_${obj}_${n}_${v}_${circ}_${noise}
    python "$here/scripts/bench_lambda_ct.py" --cases "$out/${stem}_case.npz" --auto-rules cv --cv-pixel-grid \
        --out "$out/b_$stem"
    python "$here/scripts/bench_lambda_ct.py" --cases "$out/${stem}_case.npz" --auto-rules --tv-grid 1 --no-peer \
        --out "$out/t1_$stem"
done
