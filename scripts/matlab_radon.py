"""MATLAB's `[R, xp] = radon(I, theta)` in numpy, and a `save scan.mat R xp theta` file made with it
(docs/ct.md "A MATLAB user's radon file (ctmatlab)").

The convention, from MATLAB's documentation (help/images/ref/radon.html) and Octave's image package radon.m
(image-2.0.0, read in HULCBio/MotionStation): the origin is the centre pixel floor((size(I) + 1) / 2) (1-based);
xp runs along x', theta degrees counterclockwise from the x-axis (the columns, rightwards; y upwards, against the
rows); each pixel is split into 2 x 2 subpixels of a quarter of its value, each projected onto x' and shared
linearly between the two nearest unit bins; xp = -b..b with b = ceil(norm(size(I)) / 2 + 1) in Octave,
2 ceil(norm(size(I) - floor((size(I) - 1) / 2) - 1)) + 3 bins in MATLAB's documentation (equal for even N x N,
2 bins wider in Octave for some odd N: this emulates MATLAB's). R holds one column a view. No MATLAB or Octave ran here: checked against
Octave's own test value and by symmetry, the centre of mass's sinusoid and xp (--check).

    python scripts/matlab_radon.py OUT/scan.mat --size 64 --views 30 --noise poisson --seed 9740
    python scripts/matlab_radon.py --check
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np


def matlab_width(shape) -> int:
    """MATLAB's documented number of bins for an image of `shape`."""
    half = np.asarray(shape) - np.floor((np.asarray(shape) - 1) / 2) - 1
    return int(2 * math.ceil(float(np.linalg.norm(half))) + 3)


def matlab_radon(image: np.ndarray, theta) -> tuple[np.ndarray, np.ndarray]:
    """R (bins x angles) and xp, as MATLAB's radon returns them (column vector xp)."""
    image = np.asarray(image, dtype=np.float64)
    m, n = image.shape
    theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
    b = (matlab_width(image.shape) - 1) // 2
    xp = np.arange(-b, b + 1, dtype=np.float64)
    # subpixel centres relative to the centre pixel: row i (1-based) at i - floor((m + 1) / 2) -+ 1/4
    rows = (np.arange(1, m + 1) - (m + 1) // 2)[:, None] + np.array([-0.25, 0.25])
    cols = (np.arange(1, n + 1) - (n + 1) // 2)[:, None] + np.array([-0.25, 0.25])
    x = np.broadcast_to(rows.reshape(m, 1, 2, 1), (m, n, 2, 2)).ravel()   # down the rows
    y = np.broadcast_to(cols.reshape(1, n, 1, 2), (m, n, 2, 2)).ravel()   # along the columns
    value = np.broadcast_to(image[:, :, None, None] / 4, (m, n, 2, 2)).ravel()
    out = np.zeros((len(xp), len(theta)))
    for k, t in enumerate(np.radians(theta)):
        pos = np.cos(t) * y - np.sin(t) * x + b     # x' along (cos, sin) in (right, up): up is -rows
        low = np.floor(pos).astype(int)
        frac = pos - low
        out[:, k] = (np.bincount(low, value * (1 - frac), len(xp))[:len(xp)]
                     + np.bincount(low + 1, value * frac, len(xp) + 1)[:len(xp)])
    return out, xp[:, None]


def phantom(size: int, rng: np.random.Generator) -> np.ndarray:
    """An object of our own: a body ellipse, a denser disk, a hole, two bars and small dots, drawn on the grid."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1
    img = np.zeros((size, size))

    def ellipse(cx, cy, a, b, ang):
        c, s = math.cos(ang), math.sin(ang)
        u, v = (x - cx) * c + (y - cy) * s, -(x - cx) * s + (y - cy) * c
        return (u / a) ** 2 + (v / b) ** 2 <= 1

    img[ellipse(*rng.uniform(-0.05, 0.05, 2), rng.uniform(0.6, 0.75), rng.uniform(0.45, 0.6),
                rng.uniform(0, np.pi))] = 1.0
    img[ellipse(*rng.uniform(-0.3, 0.3, 2), *rng.uniform(0.1, 0.2, 2), 0)] = 2.0
    img[ellipse(*rng.uniform(-0.3, 0.3, 2), *rng.uniform(0.06, 0.12, 2), 0)] = 0.0
    for _ in range(2):
        img[ellipse(*rng.uniform(-0.3, 0.3, 2), rng.uniform(0.15, 0.3), 0.03, rng.uniform(0, np.pi))] = 1.6
    for _ in range(4):
        img[ellipse(*rng.uniform(-0.35, 0.35, 2), 0.05, 0.05, 0)] += 0.5
    return img


def check() -> None:
    """What can be checked without MATLAB: Octave's own test value, symmetry, the centre of mass's sinusoid, xp."""
    r, xp = matlab_radon(np.ones((2, 2)), [30])
    octave = [0, 0, 0.608253175473055, 2.103325780167649, 1.236538105676658, 0.051882938682637, 0]
    print(f"radon(ones(2,2),30) against Octave's test: max |diff| {np.abs(r[:, 0] - octave).max():.2e}")
    differ = [n for n in range(2, 301) if 2 * math.ceil(math.hypot(n, n) / 2 + 1) + 1 != matlab_width((n, n))]
    print(f"Octave's width 2 ceil(norm(size) / 2 + 1) + 1 against MATLAB's documented one, N x N, N = 2..300: "
          f"equal for every even N, differs for {len(differ)} odd N ({differ[:4]}...): this emulates MATLAB's")
    rng = np.random.default_rng(0)
    img = rng.random((64, 64))
    r, xp = matlab_radon(img, [0, 90, 180])
    assert xp.shape == (95, 1) and xp[0, 0] == -47 and xp[-1, 0] == 47
    print(f"64x64: {len(xp)} bins, xp {xp[0, 0]:g}..{xp[-1, 0]:g}; sum kept: {abs(r.sum(0) / img.sum() - 1).max():.1e}")
    print(f"theta 180 is theta 0 reversed: {np.abs(r[:, 2] - r[::-1, 0]).max():.1e}")
    # theta 0 projects onto the columns, rightwards; theta 90 onto the rows, upwards (xp grows towards row 1)
    dot = np.zeros((64, 64))
    dot[10, 50] = 1.0  # row 11, column 51 (1-based); centre pixel (32, 32) 1-based
    r, _ = matlab_radon(dot, np.arange(0, 180, 15))
    centre = (r * xp).sum(0) / r.sum(0)
    t = np.radians(np.arange(0, 180, 15))
    expect = (51 - 32) * np.cos(t) - (11 - 32) * np.sin(t)
    print(f"a dot at row 11, column 51 (1-based): centre of mass against (col-32) cos t - (row-32) sin t: "
          f"max |diff| {np.abs(centre - expect).max():.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", help="the .mat (or .npz) to write; truth beside it as <stem>_truth.npy")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--views", type=int, default=30)
    ap.add_argument("--span", type=float, default=180.0, help="theta = (0:views-1) * span / views")
    ap.add_argument("--noise", choices=("none", "gaussian", "poisson"), default="poisson")
    ap.add_argument("--level", type=float, default=0.01, help="gaussian: sigma relative to the largest bin")
    ap.add_argument("--photons", type=float, default=1e5, help="poisson: incident photons a bin")
    ap.add_argument("--mu", type=float, default=0.02, help="poisson: attenuation a unit of the image, per pixel")
    ap.add_argument("--seed", type=int, default=9740)
    ap.add_argument("--v73", action="store_true", help="write MATLAB's -v7.3 (HDF5, arrays transposed)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check or not args.out:
        check()
        return
    rng = np.random.default_rng(args.seed)
    img = phantom(args.size, rng)
    theta = np.arange(args.views) * args.span / args.views
    clean, xp = matlab_radon(img, theta)
    if args.noise == "gaussian":
        noisy = clean + rng.normal(0, args.level * clean.max(), clean.shape)
    elif args.noise == "poisson":
        counts = rng.poisson(args.photons * np.exp(-args.mu * clean))
        noisy = -np.log(np.maximum(counts, 1) / args.photons) / args.mu
    else:
        noisy = clean
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"R": noisy, "xp": xp, "theta": theta[None, :]}  # MATLAB's shapes: (bins, views), (bins, 1), (1, views)
    if out.suffix == ".npz":
        np.savez(out, **arrays)
    elif args.v73:
        import h5py

        with h5py.File(out, "w") as f:
            for k, v in arrays.items():
                f[k] = v.T
    else:
        from scipy.io import savemat

        savemat(out, arrays)
    np.save(out.with_name(out.stem + "_truth.npy"), img)
    print(f"{out}: R {noisy.shape}, xp {xp.shape}, theta {theta.shape} ({args.noise}); truth {img.shape}")


if __name__ == "__main__":
    main()
