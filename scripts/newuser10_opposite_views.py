#!/usr/bin/env python
"""Does a sinogram's opposite-view misfit tell a fan beam read as parallel? (newuser10; docs/sweeps.md, "A new
user's pass on data of their own (newuser10)"). regrun.tomography.axis.opposite_views on each file, as a run on it
with problem.geometry=parallel computes it, and whether it warns.

    python scripts/newuser10_opposite_views.py radon OUT SEED camera coins   # parallel 360-degree scans of pictures
    python scripts/newuser10_opposite_views.py eval OUT/*.npz                # the statistic and the verdict per file

`radon`: scikit-image's radon of each picture (64^2 in a disk, 90 views over 360 degrees, or --span), noise-free, with 1%
Gaussian noise (seed SEED) and with that noise then blurred along the detector (Gaussian, sigma 0.7 bins: a
scintillator's blur, which correlates the noise along u); each as a user's .npz (sinogram, angles in degrees,
truth). Fan and parallel scans of analytic objects come from scripts/heldout_ct_sinograms.py --user with
`OBJECT:SIZE:VIEWS:PHOTONS:fan` and `...:lim360`. `eval` counts a file as a fan beam when its name holds `_fan`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from regrun.tomography.axis import opposite_views


def radon_scans(out: Path, seed: int, names: list[str], span: float = 360.0) -> None:
    from scipy.ndimage import gaussian_filter1d
    from skimage import data, transform

    rng = np.random.default_rng(seed)
    theta = np.arange(90) * span / 90
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        img = getattr(data, name)()
        img = transform.resize((img if img.ndim == 2 else img.mean(-1)).astype(float), (64, 64), anti_aliasing=True)
        yy, xx = np.mgrid[:64, :64] - 31.5
        img = img * (np.hypot(yy, xx) < 31) / img.max()
        clean = transform.radon(img, theta=theta, circle=True).T  # (views, n_u)
        noisy = clean + 0.01 * clean.max() * rng.standard_normal(clean.shape)
        for tag, arr in (("clean", clean), ("noisy", noisy), ("blur", gaussian_filter1d(noisy, 0.7, axis=1))):
            np.savez(out / f"{name}_radon{span:g}_{tag}.npz", sinogram=arr, angles=theta, clean=clean, truth=img)


def evaluate(files: list[Path]) -> None:
    right = 0
    for f in sorted(files):
        d = np.load(f)
        r = opposite_views(d["sinogram"], np.radians(d["angles"]))
        fan = "_fan" in f.name
        warned = r is not None and r.inconsistent
        right += warned == fan
        print(f"{f.name:42s} {'fan' if fan else 'parallel':8s} " + ("no opposite views" if r is None else
              f"whiteness {r.whiteness:6.3f} share {r.share:.4f} pairs {r.pairs:3d} -> "
              f"{'warned' if warned else 'silent'}{'' if warned == fan else '  (MISS)'}"))
    print(f"{right} of {len(files)} as judged (every fan warned, no parallel scan)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("radon")
    r.add_argument("out", type=Path)
    r.add_argument("seed", type=int)
    r.add_argument("names", nargs="+")
    r.add_argument("--span", type=float, default=360.0, help="degrees the 90 views cover (newuser13: 180 too)")
    e = sub.add_parser("eval")
    e.add_argument("files", nargs="+", type=Path)
    a = ap.parse_args(argv)
    if a.cmd == "radon":
        radon_scans(a.out, a.seed, a.names, a.span)
    else:
        evaluate(a.files)


if __name__ == "__main__":
    main()
