#!/usr/bin/env bash
# Held-out check of solver.lam_range_units (the lead, session 39, docs/ct.md "(ctunits)"), written down and committed
# before any run on it. The six files of held-out batch FJ (seed 8021, scripts/heldout_lead39_ct.sh; never used to
# choose anything of lam_range_units: its band [0.1, 10] and the FBP's 99th percentile were set beforehand from
# lam_range's own units) given in other units: sinogram and truth times C for C in 0.01 (a power of 10) and 30 (not),
# and as made (C = 1). Each file through the user's command, `regrun problem=ct_fewview problem.data=file ...
# solver=fista_tv`, with solver.lam_range_units=fixed (main's search) and auto.
# Judged: auto stays the default for a user's file only if (a) at C = 1 every answer equals fixed's bit for bit, and
# (b) over the 12 scaled runs the dB summed (auto - fixed) is >= 0 and no run loses more than 0.1 dB.
#   scripts/heldout_ctunits.sh FJDIR OUTDIR    # FJDIR: heldout_8021 of heldout_lead39_ct.sh's output
set -euo pipefail
FJ=$1; OUT=$2; mkdir -p "$OUT"
python - "$FJ" "$OUT" <<'PY'
import sys, numpy as np, pathlib
fj, out = map(pathlib.Path, sys.argv[1:])
for f in sorted(fj.glob("*.npz")):
    d = np.load(f)
    for c in (1.0, 0.01, 30.0):
        stem = f"{f.stem}_x{c:g}"
        np.save(out / f"{stem}_sino.npy", d["sinogram"] * c)
        np.save(out / f"{stem}_truth.npy", d["truth"] * c)
PY
for s in "$OUT"/*_sino.npy; do
  stem=${s%_sino.npy}
  for units in fixed auto; do
    OMP_NUM_THREADS=1 regrun problem=ct_fewview problem.data=file problem.sinogram="$s" \
      problem.truth_file="${stem}_truth.npy" solver=fista_tv solver.lam_range_units=$units \
      hydra.run.dir="${stem}_$units" > "${stem}_$units.log" 2>&1 || echo "failed: ${stem}_$units"
  done
done
python - "$OUT" <<'PY'
import sys, json, pathlib
out = pathlib.Path(sys.argv[1])
for d in sorted(out.glob("*_fixed")):
    a = json.loads((d / "metrics.json").read_text())
    b = json.loads((out / (d.name[:-6] + "_auto") / "metrics.json").read_text())
    print(f"{d.name[:-6]:40s} fixed lam {a['lam_chosen']:.4g} psnr {a['psnr']:.4f} | auto lam {b['lam_chosen']:.4g} "
          f"psnr {b['psnr']:.4f} scale {b.get('lam_range_scale')} | {b['psnr'] - a['psnr']:+.2f} dB")
PY
