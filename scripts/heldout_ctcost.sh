#!/usr/bin/env bash
# Held-out batch for CT auto's cost on a user's file (docs/ct.md "(ctcost)"), written down and committed before any
# run on it. Seed 7989 (never used before; 7988 was ctcost's dev batch). Six files of kinds, sizes and noise not in
# the dev batch:
#   scikit-image radon files (scripts/ct_radon_files.py): moon 96^2 circle=True 60 views Gaussian 0.5%;
#   coffee filling the square 64^2 circle=False 15 views Poisson 1e4; chelsea 80^2 circle=True 30 views Poisson 1e6;
#   coffee in a disk 144^2 circle=True 45 views Gaussian 1% (above tv_grid_auto_size: the pixel grid, no check);
#   4x-simulated user files (scripts/heldout_ct_sinograms.py --user): rings 64^2 30 views 1e5; ellipses 112^2 15
#   views 1e4.
# Each file: main's `auto` and the typed run at its weight (scripts/ct_auto_cost.py, whole regrun processes, one
# thread; main's code from `git archive main`), then this checkout's `auto` (the typed run is the same code).
# Rule: (a) each file's `auto` weight and PSNR equal to main's to the digit (then no file can lose a target and the
# PSNR summed over moved files is 0; a file that moves is scored against its grid optimum with bench_lambda_ct.py,
# the rule then: within 0.5 dB of it where main was, and PSNR summed over moved files >= -0.1 dB);
# (b) the cost: this checkout's auto CPU over the typed run's CPU, stated for each file, the target <= 10 on each;
# (c) /metrics/lam_solves equal to the FISTA runs made (lam_cv_runs_reused naming those not run again).
#     bash scripts/heldout_ctcost.sh OUT [PART]     (PART 0 or 1: every other file, two processes)
set -euo pipefail
out=${1:?usage: heldout_ctcost.sh OUT [PART]}
part=${2:-}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
if [[ ! -e $out/made ]]; then
    mkdir -p "$out/main_src"
    git -C "$here" archive main | tar -x -C "$out/main_src"
    PYTHONPATH=$here python "$here/scripts/ct_radon_files.py" --out "$out" --seed 7989 \
        --cases moon:96:60:T:g0.5 sqcoffee:64:15:F:p1e4 chelsea:80:30:T:p1e6 coffee:144:45:T:g1
    PYTHONPATH=$here python "$here/scripts/heldout_ct_sinograms.py" --user --seed 7989 --out "$out/sim" \
        --cases rings:64:30:1e5 ellipses:112:15:1e4
    touch "$out/made"
fi
files=("$out"/7989_moon_96_60_T_g0.5_case.npz "$out"/sim/rings_64_30_1e+05.npz
       "$out"/7989_sqcoffee_64_15_F_p1e4_case.npz "$out"/sim/ellipses_112_15_1e+04.npz
       "$out"/7989_chelsea_80_30_T_p1e6_case.npz "$out"/7989_coffee_144_45_T_g1_case.npz)
for k in "${!files[@]}"; do
    if [[ -n $part && $((k % 2)) != "$part" ]]; then continue; fi
    f=${files[$k]}
    PYTHONPATH=$out/main_src python "$here/scripts/ct_auto_cost.py" "$f" --out "$out/main_$k.json"
    PYTHONPATH=$here python "$here/scripts/ct_auto_cost.py" "$f" --no-typed --out "$out/new_$k.json"
done
