#!/bin/bash
# Every GPU measurement of issue 21 in one call of under 10 minutes, for a session that is lent a GPU:
#   1. the cuda test cases (pytest -k cuda);
#   2. CPU-vs-CUDA parity of every CI pair (configs/ci/*.yaml): the pairs on cuda four at a time, while the
#      CPU runs of the same pairs go on in parallel on the machine's cores;
#   3. one paper-scale run per problem on cuda, with its time and peak GPU memory (results.h5 records
#      wall_time and gpu_peak_memory_mb): super-resolution 256x256 from 16 frames, crab detection at full size,
#      the same 256x256 set with the weight chosen from the frames (lambda_f=auto), registration of a 512 x 512
#      pair, and last (the longest) the CT cone-beam bilevel preset at the paper's learning size (1400 x 1400 x 2
#      from 60 views: saved bytes, peak memory and seconds of one hypergradient per mode at 10 and 40 inner
#      iterations);
#   4. one table (scripts/gpu_check_table.py): OUT/gpu_check.md and .json, copied into docs/ and spliced into
#      docs/devices.md between its gpu_check markers.
# A command still to start when BUDGET seconds have passed is skipped and reported as such (not dropped).
# Usage: scripts/gpu_check.sh [--dry-run] [--out DIR] [--budget SECONDS] [--refine-data DIR]
#   --dry-run   print every command it would run (in order, with its time limit) and run none of them
#   --refine-data DIR   the authors' crab data (../shared/refine_data, carried to the GPU machine): the paper's
#               five scenes at full size on cuda (one run extracts the motifs, then five cached detections)
set -u
DRY=0; OUT=outputs/gpu_check; BUDGET=540; REFINE=
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUT=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --refine-data) REFINE=$2; shift ;;
    *) echo "gpu_check.sh: unknown argument '$1' (allowed: --dry-run, --out DIR, --budget SECONDS," \
            "--refine-data DIR)" >&2; exit 2 ;;
  esac
  shift
done
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
START=$SECONDS
COMMON="figures=false progress=false"

# run NAME LIMIT COMMAND...: one measured command (or its line in a dry run); its log goes to OUT/logs/NAME.log
run() {
  local name=$1 limit=$2; shift 2
  if [ "$DRY" = 1 ]; then echo "[$name] timeout $limit $*"; return 0; fi
  mkdir -p "$OUT/logs"
  if [ $((SECONDS - START)) -ge "$BUDGET" ]; then echo "skipped: budget" >"$OUT/logs/$name.status"; return 0; fi
  timeout "$limit" "$@" >"$OUT/logs/$name.log" 2>&1
  echo "exit $?" >"$OUT/logs/$name.status"
}

PAIRS=$(ls configs/ci/*.yaml | xargs -n1 basename | sed 's/\.yaml$//')

# CPU side of the parity table, in the background on the CPU cores (not timed against the budget's GPU part)
if [ "$DRY" = 1 ]; then
  for p in $PAIRS; do echo "[cpu/$p] timeout 400 regrun +ci=$p device=cpu hydra.run.dir=$OUT/cpu/$p $COMMON"; done
else
  mkdir -p "$OUT/logs"
  printf '%s\n' $PAIRS | xargs -P 8 -I{} sh -c \
    "timeout 400 regrun +ci={} device=cpu hydra.run.dir=$OUT/cpu/{} $COMMON >$OUT/logs/cpu_{}.log 2>&1" &
  CPU_JOBS=$!
fi

# pytest-xdist and pytest-timeout where installed (a GPU image usually has them): the cuda cases in parallel
# processes, each test bounded, so one hung case cannot eat the budget
PYTEST_ARGS="-q -p no:cacheprovider -o addopts= -rfE -k cuda"
python -c "import xdist" 2>/dev/null && PYTEST_ARGS="$PYTEST_ARGS -n 12"
python -c "import pytest_timeout" 2>/dev/null && PYTEST_ARGS="$PYTEST_ARGS --timeout 100"
run pytest_cuda 150 python -m pytest $PYTEST_ARGS tests/
# the CUDA side of the parity table four at a time (each run's wall time is then an upper bound)
run_pair() { run "cuda_$1" 90 regrun +ci=$1 device=cuda hydra.run.dir=$OUT/cuda/$1 $COMMON; }
if [ "$DRY" = 1 ]; then
  for p in $PAIRS; do run_pair "$p"; done
else
  export -f run; export -f run_pair; export OUT DRY BUDGET START COMMON
  printf '%s\n' $PAIRS | xargs -P 4 -I{} bash -c 'run_pair {}'
fi

run sr256_frames 60 python scripts/make_sr_frames.py "$OUT/sr256" --size 256 --frames 16 --supersample 4 --format npz
run paper_superres 60 regrun problem=superres problem.data=frames problem.frames=$OUT/sr256/frames.npz \
  problem.truth=$OUT/sr256/frames.npz problem.true_motion=$OUT/sr256/frames.npz problem.lambda_f=0.1 \
  device=cuda hydra.run.dir=$OUT/paper/superres $COMMON
# half size: the synthetic crab's shipped calibrations are for scale 2 (full size has none: the run stops, exit 2)
run paper_crab 90 regrun +experiment=crab_eval problem.scale=2 problem.scene.seed=0 device=cuda \
  hydra.run.dir=$OUT/paper/crab_detection $COMMON
if [ -n "$REFINE" ]; then
  # the paper's scenes at full size: the first run extracts the motifs into the cache, the five then detect
  run paper_crab_extract 120 regrun +experiment=crab_fig3 problem.data_dir=$REFINE device=cuda \
    hydra.run.dir=$OUT/extract/crab_fig3 $COMMON
  for a in 0.0 7.5 15.0 22.5 30.0; do
    run "paper_crab_fig3_$a" 60 regrun +experiment=crab_fig3 problem.data_dir=$REFINE problem.scene.angle=$a \
      device=cuda hydra.run.dir=$OUT/paper/crab_fig3_$a $COMMON
  done
fi
run paper_superres_auto 90 regrun problem=superres problem.data=frames problem.frames=$OUT/sr256/frames.npz \
  problem.truth=$OUT/sr256/frames.npz problem.true_motion=$OUT/sr256/frames.npz problem.lambda_f=auto \
  device=cuda hydra.run.dir=$OUT/paper/superres_auto $COMMON
run paper_registration 60 regrun problem=multiscale_affine problem.synthetic.size=512 device=cuda \
  hydra.run.dir=$OUT/paper/registration $COMMON
# the paper's learning size: one hypergradient per mode at 10 and 40 inner FISTA iterations (saved bytes, CUDA peak,
# seconds; scripts/bench_bilevel_memory.py's table): implicit's memory flat in the count, unrolled's growing. No
# learning, no grid: 1 outer step + the memory of the 4 modes did not finish in 192 s on an H200 (docs/devices.md).
# Implicit first, the paper's mode last, each kept as measured; 20 Neumann terms for implicit's adjoint (the
# preset's 100 cost as much as 100 more FISTA steps, memory alike). The data simulation runs on the CPU (21-23
# CPU-s on one thread here): 8 threads, as the CPU parity jobs are done by then (the same sinogram bit for bit
# on 1 and 2 threads here; the gain on 8 not yet timed).
run paper_ct_bilevel 200 env OMP_NUM_THREADS=8 regrun +experiment=ct_bilevel_3d problem.size=1400 problem.slices=2 \
  device=cuda solver.max_outer=0 solver.grid.points=0 solver.compare_paper=false solver.adjoint_iters=20 \
  'solver.memory.iters=[10,40]' 'solver.memory.modes=[implicit,unrolled,checkpointed,paper]' \
  hydra.run.dir=$OUT/paper/ct_bilevel $COMMON

if [ "$DRY" = 1 ]; then
  echo "[table] python scripts/gpu_check_table.py $OUT --docs docs"
  exit 0
fi
wait "$CPU_JOBS"
python scripts/gpu_check_table.py "$OUT" --docs docs
