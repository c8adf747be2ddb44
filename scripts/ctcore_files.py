"""ctcore's dev draws (docs/ct.md, "cv's low weight on rock-core slices (ctcore)"): `core` stacks of counts
(scripts/ct_counts_files.py, its files and cases), and beside each: NAME_li.npz, the same slice's line integrals as
a user's file (the generator's noise-free projection, kappa-scaled, plus white Gaussian noise of the slice's own
noise variance: the same object without counts, to tell the counts reading from the object), and NAME_notch.npz,
per view the deepest notch the crack cuts into the projection (the projection without the crack less with it: the
view whose rays run along the crack holds its whole length), with the slice's noise variance (`var_counts`: the
hand-normalised line integrals less the noise-free projection).

Usage: python scripts/ctcore_files.py --seed SEED --out OUT --scans SPEC [SPEC ...] [--drift D]
  SPEC as ct_counts_files.py's, SIZE:VIEWS:I0:ROWS:LAYOUT (the middle row).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ct_counts_files as counts  # noqa: E402
from heldout_ct_sinograms import angles, detector_bins, project_pixels  # noqa: E402


def twins(out: Path, seed: int, spec: str) -> str:
    """Write NAME_li.npz and NAME_notch.npz beside ct_counts_files.py's scan `spec` drawn from `seed`."""
    f = spec.split(":")
    size, views, rows, layout = int(f[0]), int(f[1]), int(f[3]), f[4]
    name = f"core_{size}_{views}_{seed}_{layout}"
    case = np.load(out / f"{name}_counts.npz")
    kappa = float(case["kappa"])
    parts = counts.core(seed)
    z = float(np.linspace(-0.5, 0.5, rows)[int(case["row"])])
    fine = max(2, 512 // size) * size  # the generator's grid
    theta, n_det = angles(views), detector_bins(size)
    img = counts.core_slice(parts, fine, z)
    clean = kappa * project_pixels(img, size, theta, n_det)
    var = float(np.mean((np.load(out / f"{name}_hand.npz")["sinogram"] - clean) ** 2))
    noisy = clean + math.sqrt(var) * np.random.default_rng(seed + 50).standard_normal(clean.shape)
    keep = {k: case[k] for k in ("truth", "size", "views", "photons", "kappa", "drift", "row")}
    np.savez(out / f"{name}_li.npz", sinogram=noisy, angles=np.degrees(theta), object="core li", **keep)
    shut = dict(parts, crack=(parts["crack"][0], parts["crack"][1], 0.0))
    notch = kappa * project_pixels(counts.core_slice(shut, fine, z) - img, size, theta, n_det)
    np.savez(out / f"{name}_notch.npz", notch=notch.max(1), var_counts=var)
    return (f"{name}: noise variance {var:.3g}; the crack edge-on in view {int(np.argmax(notch.max(1)))} "
            f"(notch {notch.max():.3g}, the views' median {np.median(notch.max(1)):.3g})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--scans", nargs="+", required=True)
    ap.add_argument("--drift", type=float, default=0.0)
    args = ap.parse_args(argv)
    counts.main(["--seed", str(args.seed), "--out", str(args.out), "--scans", *args.scans, "--drift", str(args.drift)])
    for i, spec in enumerate(args.scans):
        print(twins(args.out, args.seed * 100 + i, spec), flush=True)


if __name__ == "__main__":
    main()
