#!/usr/bin/env bash
# Dev table for solver.lam_cv_pixel_grid_margin (docs/ct.md "A margin for the pixel-grid check (ctmargin)"): every
# file the pixel-grid check has moved to the pixel grid in earlier rounds, remade from its seed with the command its
# section names, run once with main's check (`auto`, no grid, no peer). One run gives main's answer, the finer
# grid's answer it replaced (fine_grid), the two grids' lowest held-out raw misfits and their per-view misfits
# (lam_cv_raw_views), from which every margin is judged without another run. Files that kept the finer grid are
# kept by any margin (a margin only makes the move harder) and are not run.
#     bash scripts/ctmargin_dev.sh OUT & bash scripts/ctmargin_dev.sh OUT   # two processes side by side
#     python scripts/ctmargin_table.py OUT        # the table
set -euo pipefail
out=${1:?usage: ctmargin_dev.sh OUT}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$here
mk() {  # DIR made-by args...: each set once (a second PART waits for the first to make it)
  local dir=$1; shift
  if mkdir "$out/$dir.lock" 2>/dev/null; then "$@"; touch "$out/$dir.made"; fi
  while [[ ! -e $out/$dir.made ]]; do sleep 5; done
}
R="python $here/scripts/ct_radon_files.py"
S="python $here/scripts/heldout_ct_sinograms.py"
mkdir -p "$out"
mk r7984 $R --out "$out/r7984" --seed 7984 --cases shepp:96:60:T:g1 camera:128:30:T:p1e5 coins:65:15:F:p1e4 gear:96:15:T:g2
mk r7986 $R --out "$out/r7986" --seed 7986 --cases ctscan:127:60:F:p1e4 cells:64:15:T:p1e5 brick:80:180:T:g0.5 \
    mrihead:65:60:T:p1e6 sqmoon:128:60:F:p1e5 sqcoffee:100:30:F:g2
mk r7996 $R --out "$out/r7996" --seed 7996 --cases honeycomb:88:45:T:p1e4 histology:72:90:T:g1.5 blobs:104:30:T:p1e5 \
    retina:80:60:T:p1e6
mk r7999 $R --out "$out/r7999" --seed 7999 --cases petscan:84:40:T:p3e4 truss:76:60:T:g0.7 epislice:92:30:T:p3e5 \
    laminate:68:90:T:g3
mk s7984 $S --user --seed 7984 --out "$out/s7984" --cases gear:96:15:1e5 gear:128:15:1e5 ellipses:128:15:1e6
mk s9097 $S --seed 9097 --images coffee moon --out "$out/s9097" --cases ellipses:128:15:1e5
mk s9065 $S --seed 9065 --images rocket cat --out "$out/s9065" --cases ellipses:128:30:1e4 gear:128:15:1e5
mk s9072 $S --seed 9072 --images retina hubble_deep_field --out "$out/s9072" --cases gear:128:60:1e4 \
    ellipses:128:15:1e4 circuit:128:30:1e4
mk s7997 $S --seed 7997 --out "$out/s7997" --cases bone:96:15:1e4
mk s7998 $S --seed 7998 --images coffee moon --out "$out/s7998" --cases bone:128:60:1e5 battery:128:15:1e5 \
    astronaut:128:30:1e5
mk s9612 $S --seed 9612 --out "$out/s9612" --cases shells:112:60:1e4 rock:96:15:1e5
# the 4x-simulated files first (the check's losses are there), then the radon files, the two filling the square last
files=("$out"/s7984/*.npz "$out"/s9*/*.npz "$out"/s799*/*.npz)
square=()
for f in "$out"/r*/*_case.npz; do [[ $f == *_sq* ]] && square+=("$f") || files+=("$f"); done
files+=("${square[@]}")
for f in "${files[@]}"; do  # each file taken by the first free process (a lock per file)
  stem=$(basename "$(dirname "$f")")_$(basename "$f" .npz); stem=${stem//./p}
  [[ -e $out/main_$stem.json ]] || ! mkdir "$out/main_$stem.lock" 2>/dev/null || \
      python "$here/scripts/bench_lambda_ct.py" --cases "$f" --no-grid --no-peer --auto-rules cv --cv-pixel-grid \
      --threads 1 --out "$out/main_$stem"
done
