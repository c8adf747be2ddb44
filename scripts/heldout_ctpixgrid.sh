#!/usr/bin/env bash
# Held-out batch for solver.lam_cv_pixel_grid_pick (docs/ct.md "The pixel grid's weight on flat held-out curves
# (ctpixgrid)"), the list and the rule written down and committed before any run on it; never tuned on. Seeds 7999
# (radon files) and 9612 (4x-simulated files): git grep -w and ../shared unused; 9613 kept unused.
#   radon files (scripts/ct_radon_files.py --seed 7999; kinds, sizes and noise not in seeds 7984, 7986 or 7996):
#     FAIR's PET slice 84^2 circle=True 40 views Poisson 3e4; truss 76^2 True 60 views Gaussian 0.7%;
#     FAIR's EPI slice 92^2 True 30 views Poisson 3e5; laminate 68^2 True 90 views Gaussian 3%.
#   4x-simulated files (scripts/heldout_ct_sinograms.py --seed 9612, bin-integrated, Poisson; FB's kind):
#     shells 112^2 60 views 1e4; fibres 96^2 30 views 1e4; mesh 104^2 45 views 3e4; rock 96^2 15 views 1e5.
# Runs per file, one thread: main (grid optimum on the 2x unknown, 9 weights 0.01-100 and 3 golden steps; the
# oracle peers; `auto` with the pixel-grid check as main runs it), `auto` again with the change
# (lam_cv_pixel_grid_pick=$PICK, --reuse); then, on the files it moved, the grid optimum on the pixel grid
# (--tv-grid 1, the same grid).
# Rule, counted separately for the radon files and the 4x-simulated files; "moved": the change's answer differs from
# main's: (a) no moved file loses a target main meets (within 0.5 dB of the better of the two grid optima; above the
# best oracle peer), (b) the change's PSNR minus main's summed over the moved files >= 0. The setting becomes the
# default iff (a) and (b) hold in both groups and dev supported it; otherwise it stays opt-in (min), reported as run.
#     bash scripts/heldout_ctpixgrid.sh OUT radon|sim
set -euo pipefail
out=${1:?usage: heldout_ctpixgrid.sh OUT radon|sim}
what=${2:?}
PICK=one_se
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here
bench=$here/scripts/bench_lambda_ct.py
radon=(petscan:84:40:T:p3e4 truss:76:60:T:g0.7 epislice:92:30:T:p3e5 laminate:68:90:T:g3)
sim=(shells:112:60:1e4 fibres:96:30:1e4 mesh:104:45:3e4 rock:96:15:1e5)
case $what in
  radon)
    [[ -e $out/radon/made ]] || { python "$here/scripts/ct_radon_files.py" --out "$out/radon" --seed 7999 \
        --cases "${radon[@]}"; touch "$out/radon/made"; }
    files=("$out"/radon/7999_*_case.npz) ;;
  sim)
    [[ -e $out/sim/made ]] || { python "$here/scripts/heldout_ct_sinograms.py" --seed 9612 --out "$out/sim" \
        --cases "${sim[@]}"; touch "$out/sim/made"; }
    files=("$out"/sim/*.npz) ;;
  *) echo "heldout_ctpixgrid.sh: $what is not radon or sim" >&2; exit 2 ;;
esac
for f in "${files[@]}"; do
  stem=$(basename "$f" .npz); stem=${stem//./p}  # the bench's --out takes what follows a dot as a suffix (g0.7)
  [[ -e $out/main_$stem.json ]] || python "$bench" --cases "$f" --grid 9 --lam-lo 0.01 --lam-hi 100 --refine 3 \
      --auto-rules cv --cv-pixel-grid --threads 1 --out "$out/main_$stem"
  [[ -e $out/${PICK}_$stem.json ]] || python "$bench" --cases "$f" --reuse "$out/main_$stem.json" --auto-rules cv \
      --cv-pixel-grid --threads 1 --set lam_cv_pixel_grid_pick="$PICK" --out "$out/${PICK}_$stem"
done
for f in "${files[@]}"; do
  stem=$(basename "$f" .npz); stem=${stem//./p}
  moved=$(python -c "import json, sys; a, b = (json.load(open(x))['results'][0]['auto_cv']['lam'] for x in sys.argv[1:]); \
print(int(a != b))" "$out/main_$stem.json" "$out/${PICK}_$stem.json")
  [[ $moved == 1 && ! -e $out/grid1_$stem.json ]] && python "$bench" --cases "$f" --grid 9 --lam-lo 0.01 \
      --lam-hi 100 --refine 3 --auto-rules --tv-grid 1 --no-peer --threads 1 --out "$out/grid1_$stem"
done
exit 0
