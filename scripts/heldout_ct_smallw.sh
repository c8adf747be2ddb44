#!/usr/bin/env bash
# Held-out batch for problem.size_reading=disk (ctsmallw, session 33, issue 16; docs/ct.md "(ctsmallw)"), written
# down and committed before any run on it; never tuned on. Seeds 9085-9090 (git grep -nw over docs/, scripts/,
# tests/, configs/, regrun/ and ../shared/notes: none used). Kinds unlike the dev set's (star, circuit, mesh, shells):
#   9085 scikit-image's astronaut 100 px across in a 144^2 radon(circle=True) field, 60 views, 1e4 photons
#   9086 matplotlib's Grace Hopper portrait 140 px in a 200^2 ASTRA N field, 15 views, 1e5 (eagle, first listed,
#        needs pooch, a download, and failed before running: replaced after case 9085 had run, unread)
#   9087 scikit-image's page 124 px in a 176^2 radon(circle=True) field, 30 views, 1e6
#   9088 scikit-image's clock 90 px in a 160^2 radon(circle=False) field, 30 views, 1e5 (an ordinary file: the
#        readings' disks all hold it, so both settings read the same grid: the same run)
#   9089 scikit-image's horse 124 px in regrun's own 128^2 file (183 bins), 30 views, 1e4 (the object passes its own
#        grid's 0.95 disk: disk reads a larger grid where square reads the true 128: the candidate's risk)
#   9090 scikit-image's text 66 px in a 96^2 radon(circle=True) field, 15 views, 1e5
# Each: the README's command with no size at main (`--main`, size_reading=square, its default) and on this tree
# with problem.size_reading=disk, each run again at 0.5x and 2x its chosen weight (a coarse grid optimum on its own
# grid); PSNR in the file's own N x N frame (ct_grid_conventions.psnr_in_frame).
# The rule to judge by (written before the run): problem.size_reading=disk replaces the default square iff (a) it
# loses no target main meets: no file where main's PSNR is within 0.5 dB of the best PSNR reached on that file (over
# both runs' three weights, 0.5x, 1x, 2x the chosen) and the candidate's is not, and (b) its PSNR minus main's summed
# over the files where the two read different grids is >= 0; files read the same must give the same run (lambda and
# PSNR equal). Peers (the oracle-tuned target) not run for lack of CPU. A case not finished by 07:15 UTC is reported
# as not run, the judgement on those run.
# Usage: scripts/heldout_ct_smallw.sh OUTDIR MAIN_CHECKOUT
set -euo pipefail
OUT=$1
MAIN=$2
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec python "$(dirname "$0")/ct_fan_grid.py" --out "$OUT" --seed 9085 --main "$MAIN" --skip-same \
    --lam-factors 0.5 2 --set problem.size_reading=disk --cases \
    par-sktrue:astronaut@100:144:views=60:photons=1e4 par-astraN:gracehopper@140:200:views=15:photons=1e5 \
    par-sktrue:page@124:176:views=30:photons=1e6 par-skfalse:clock@90:160:views=30:photons=1e5 \
    par-regrun:horse@124:128:views=30:photons=1e4 par-sktrue:text@66:96:views=15:photons=1e5
