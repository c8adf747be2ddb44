"""Held-out CT sinograms for choosing the unknown's grid from the data (docs/ct.md "Sixteenth round (ctgridcv)",
batch Mg in docs/ct.md): scripts/heldout_ct_sinograms.py's simulation (its `make`: Poisson counts, the object on a grid `fine`
times finer, exact square-pixel footprints, the same .npz files) with kinds none of the earlier batches used.

Thin structure of 0.8-1.5 output pixels, new to CT:
- `capillary`: soft tissue (a smooth radial fall and a slow bump) holding 40 hollow tubes, walls 0.8-1.5 px,
  outer radii 1.5-5 px, some filled with contrast;
- `cracks`: a rock core (two minerals with a smooth grading) cut by a network of 0.8-1.2 px open cracks (random
  polylines, some branching);
- `wires`: 25 straight wires 0.8-1.2 px wide at random angles and lengths over a smooth body, crossing each other;
- `shellmesh` (a mix): the seed-4001 kinds `shells` and `mesh` together (their maximum): a woven mesh inside a
  coating stack.
Smooth or natural, where the output's pixel grid should do:
- `organ`: a smooth body of Gaussian bumps and soft-edged low-contrast lesions (no edge sharper than ~3 px);
- `sandsea`: a 640^2 crop of ../shared/refine_data/detection_images/beach_bg.jpg's sand and sea (its lower right),
  a natural texture none of the batches used (`foliage` is the treeline, the upper left);
- the generator's own `ellipses` (analytic) in a fan beam.

    python scripts/heldout_ct_grid.py --seed 4211 --out outputs/heldout_ct_4211 --cases capillary:160:45:1e4 \
        cracks:176:30:1e5 shellmesh:208:60:1e5 wires:144:20:1e6 ellipses:192:15:1e3:fan sandsea:224:90:1e4 \
        organ:160:30:1e3 organ:224:45:1e5

Added for seed 8995 (docs/ct.md, "A new held-out batch at today's main (ct28)"), kinds no batch used:
- `concrete`: a concrete core's section: rounded-angular coarse aggregate 3-14 px of three mineral densities in a
  graded cement paste, sand grains 1-2 px, a 1 px porous rim round some stones, empty air voids 1-4 px, a ribbed
  steel bar and a 0.8-1.2 px crack;
- `lung`: a thorax slice: a body with a fat layer, two lungs of air with a faint parenchyma texture, a branching
  vessel tree (2.5 px down to 0.8 px), bronchi with 1 px walls, the heart, a vertebra's cortical shell, a nodule.

    python scripts/heldout_ct_grid.py --seed 8995 --out OUT/heldout_8995 --cases concrete:128:60:1e5 \
        lung:128:30:1e4 concrete:256:30:1e4 lung:256:60:1e6
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_ct_sinograms as hs  # noqa: E402

NEW = ("capillary", "cracks", "wires", "shellmesh", "organ", "sandsea", "concrete", "lung")
BEACH = hs.FAIR / "../refine_data/detection_images/beach_bg.jpg"


def _segment(X1, X2, p, q, half):
    """Points within `half` of the segment p-q."""
    d = np.array(q) - np.array(p)
    t = np.clip(((X1 - p[0]) * d[0] + (X2 - p[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
    return np.hypot(X1 - p[0] - t * d[0], X2 - p[1] - t * d[1]) < half


def new_kind(name: str, fine: int, size: int, seed: int) -> np.ndarray:
    """The object sampled on the fine grid (fine = the output's size x the simulation factor), values >= 0."""
    rng = np.random.default_rng([seed, size, 11])
    X1, X2 = hs._fine_coords(fine, size)  # output-pixel units, centred
    r = size / 2
    rho = np.hypot(X1, X2)
    body = rho < 0.85 * r
    if name == "capillary":
        img = (0.35 - 0.1 * (rho / r) ** 2) * body
        c = rng.uniform(-0.3, 0.3, 2) * r
        img += 0.08 * np.exp(-((X1 - c[0]) ** 2 + (X2 - c[1]) ** 2) / (0.25 * r) ** 2) * body
        for _ in range(40):
            ro = rng.uniform(1.5, 5.0)
            wall = rng.uniform(0.8, 1.5)
            ang, rad = rng.uniform(0, 2 * math.pi), rng.uniform(0, 0.78 * r - ro)
            cx, cy = rad * math.cos(ang), rad * math.sin(ang)
            d = np.hypot(X1 - cx, X2 - cy)
            if rng.uniform() < 0.3:
                img = np.where(d < ro - wall, 0.6, img)  # filled with contrast
            img = np.where((d < ro) & (d >= ro - wall), 1.0, img)
        return img
    if name == "cracks":
        g = (X1 * math.cos(rng.uniform(0, math.pi)) + X2 * math.sin(rng.uniform(0, math.pi))) / r
        img = np.where(g + 0.15 * np.sin(3 * X2 / r) > rng.uniform(-0.2, 0.2), 0.8, 0.55) * body
        img = img * (1 + 0.1 * np.exp(-rho**2 / (0.5 * r) ** 2))
        crack = np.zeros_like(img, dtype=bool)
        for _ in range(12):
            p = rng.uniform(-0.7, 0.7, 2) * r
            heading = rng.uniform(0, 2 * math.pi)
            half = rng.uniform(0.4, 0.6)
            for _ in range(int(rng.integers(3, 7))):
                heading += rng.normal(0, 0.5)
                q = p + rng.uniform(0.08, 0.2) * r * np.array([math.cos(heading), math.sin(heading)])
                crack |= _segment(X1, X2, p, q, half)
                p = q
        return np.where(crack, 0.0, img)
    if name == "wires":
        img = (0.3 + 0.1 * np.cos(2 * X1 / r) * np.cos(1.5 * X2 / r)) * body
        for _ in range(25):
            c = rng.uniform(-0.55, 0.55, 2) * r
            t = rng.uniform(0, math.pi)
            half_len = rng.uniform(0.2, 0.8) * r / 2
            e = half_len * np.array([math.cos(t), math.sin(t)])
            img = np.where(_segment(X1, X2, c - e, c + e, rng.uniform(0.4, 0.6)) & body, rng.uniform(0.8, 1.0), img)
        return img
    if name == "shellmesh":
        return np.maximum(hs.designed_kind("shells", fine, size, seed), hs.designed_kind("mesh", fine, size, seed))
    if name == "organ":
        img = 0.4 * np.exp(-(rho / (0.9 * r)) ** 6) * (rho < 0.9 * r)
        for _ in range(8):
            c = rng.uniform(-0.5, 0.5, 2) * r
            s = rng.uniform(0.06, 0.2) * r
            img += rng.uniform(-0.1, 0.2) * np.exp(-((X1 - c[0]) ** 2 + (X2 - c[1]) ** 2) / (2 * s**2))
        for _ in range(5):  # soft-edged lesions: a logistic edge about 3 px wide
            c = rng.uniform(-0.45, 0.45, 2) * r
            a = rng.uniform(3, 12)
            img += rng.uniform(-0.08, 0.12) / (1 + np.exp((np.hypot(X1 - c[0], X2 - c[1]) - a) / 0.8))
        return np.clip(img, 0, None) * (rho < 0.9 * r)
    if name == "sandsea":
        from PIL import Image
        import skimage.transform

        im = np.asarray(Image.open(BEACH).convert("L"), dtype=float)
        im = im[im.shape[0] - 640:, im.shape[1] - 640:]
        im = im / im.max()
        return skimage.transform.resize(im, (fine, fine), anti_aliasing=True)
    if name == "concrete":
        return _concrete(X1, X2, r, rho, rng)
    if name == "lung":
        return _lung(X1, X2, r, rho, rng)
    raise ValueError(name)


def _stone(X1, X2, c, a, rng):
    """A rounded-angular stone of mean radius a at c: a radius wobbling with the polar angle (5 harmonics)."""
    phi = np.arctan2(X2 - c[1], X1 - c[0])
    rad = a * (1 + sum(rng.uniform(-0.12, 0.12) * np.cos(k * phi + rng.uniform(0, 2 * math.pi)) for k in range(2, 7)))
    return np.hypot(X1 - c[0], X2 - c[1]) < rad


def _concrete(X1, X2, r, rho, rng):
    scale = r / 64  # counts grow with the area; sizes stay in output pixels
    body = rho < 0.88 * r
    img = (0.42 + 0.04 * np.cos(X1 / r * rng.uniform(1, 3)) * np.sin(X2 / r * rng.uniform(1, 3))) * body
    placed = []
    for _ in range(int(400 * scale**2)):  # coarse aggregate, no two stones overlapping
        a = rng.uniform(3, 14)
        c = rng.uniform(-0.8, 0.8, 2) * r
        if np.hypot(*c) + a > 0.86 * r or any(np.hypot(*(c - q)) < a + b + 1 for q, b in placed):
            continue
        placed.append((c, a))
        stone = _stone(X1, X2, c, a, rng)
        if rng.uniform() < 0.4:  # the interfacial zone: a porous 1 px rim in the paste
            img = np.where(_stone(X1, X2, c, a + 1.0, rng) & ~stone & body, 0.33, img)
        img = np.where(stone, rng.choice([0.62, 0.7, 0.82]) + 0.03 * rng.standard_normal(), img)
        if len(placed) >= int(45 * scale**2):
            break
    for _ in range(int(120 * scale**2)):  # sand grains 1-2 px in the paste
        c = rng.uniform(-0.85, 0.85, 2) * r
        g = np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.5, 1.0)
        img = np.where(g & body & (img < 0.5), 0.66, img)
    for _ in range(int(30 * scale**2)):  # air voids, empty
        c = rng.uniform(-0.8, 0.8, 2) * r
        img = np.where(np.hypot(X1 - c[0], X2 - c[1]) < rng.uniform(0.5, 2.0), 0.0, img)
    c = rng.uniform(-0.4, 0.4, 2) * r  # a ribbed steel bar
    d, phi = np.hypot(X1 - c[0], X2 - c[1]), np.arctan2(X2 - c[1], X1 - c[0])
    img = np.where(d < 0.09 * r * (1 + 0.08 * np.cos(8 * phi)), 1.0, img)
    p = rng.uniform(-0.6, 0.6, 2) * r
    heading = rng.uniform(0, 2 * math.pi)
    for _ in range(6):  # a crack through paste and stones
        heading += rng.normal(0, 0.4)
        q = p + 0.12 * r * np.array([math.cos(heading), math.sin(heading)])
        img = np.where(_segment(X1, X2, p, q, rng.uniform(0.4, 0.6)) & body, 0.0, img)
        p = q
    return img


def _lung(X1, X2, r, rho, rng):
    body = (X1 / (0.9 * r)) ** 2 + (X2 / (0.68 * r)) ** 2 < 1
    inner = (X1 / (0.85 * r)) ** 2 + (X2 / (0.63 * r)) ** 2 < 1
    img = np.where(inner, 0.36, 0.30) * body  # soft tissue in a fat layer
    lungs = []
    for side in (-1, 1):
        c = np.array([side * 0.42 * r, -0.02 * r])
        lung = ((X1 - c[0]) / (0.33 * r)) ** 2 + ((X2 - c[1]) / (0.5 * r)) ** 2 < 1
        lung &= ~(((X1 - side * 0.12 * r) / (0.16 * r)) ** 2 + ((X2 + 0.05 * r) / (0.22 * r)) ** 2 < 1)
        lungs.append((c, lung))
        tex = sum(rng.uniform(0.004, 0.01) * np.cos(X1 * f[0] + X2 * f[1] + rng.uniform(0, 6.3))
                  for f in rng.uniform(-1.2, 1.2, (12, 2)))
        img = np.where(lung, 0.03 + tex, img)
    for c, lung in lungs:  # vessel trees from the hilum outwards: 2.5 px down to 0.8 px
        out = 0.0 if c[0] > 0 else math.pi
        stack = [(c + np.array([-np.sign(c[0]) * 0.12 * r, 0]), out + t + rng.normal(0, 0.15), 1.25, 0)
                 for t in (-0.9, 0.0, 0.9)]
        while stack:
            p, heading, half, depth = stack.pop()
            q = p + rng.uniform(0.08, 0.16) * r * np.array([math.cos(heading), math.sin(heading)])
            img = np.where(_segment(X1, X2, p, q, half) & lung, 0.38, img)
            if depth < 4 and half > 0.45:
                for turn in (-0.5, 0.5):
                    stack.append((q, heading + turn + rng.normal(0, 0.2), half * 0.75, depth + 1))
        for _ in range(3):  # bronchi: air with a 1 px wall
            b = c + rng.uniform(-0.15, 0.15, 2) * r
            a = rng.uniform(1.5, 3.5)
            d = np.hypot(X1 - b[0], X2 - b[1])
            img = np.where((d < a + 1) & lung, np.where(d < a, 0.0, 0.4), img)
    img = np.where(((X1 + 0.06 * r) / (0.17 * r)) ** 2 + ((X2 + 0.1 * r) / (0.2 * r)) ** 2 < 1, 0.42, img)  # heart
    d = np.hypot(X1, X2 - 0.48 * r)  # the vertebra: a cortical shell round trabecular bone
    img = np.where(d < 0.11 * r, np.where(d > 0.11 * r - 1.2, 1.0, 0.55), img)
    c, lung = lungs[int(rng.integers(2))]
    n = c + rng.uniform(-0.15, 0.15, 2) * r
    img = np.where((np.hypot(X1 - n[0], X2 - n[1]) < rng.uniform(2, 4)) & lung, 0.37, img)  # a nodule
    return np.clip(img, 0, None)


_pixel_object = hs.pixel_object


def pixel_object(name: str, fine: int, seed: int, size: int | None = None) -> np.ndarray:
    """heldout_ct_sinograms.pixel_object with the kinds above (each in the generator's disk)."""
    if name in NEW:
        return new_kind(name, fine, size, seed) * hs.disk(fine)
    return _pixel_object(name, fine, seed, size)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--fine", type=int, default=4)
    ap.add_argument("--cases", nargs="+", required=True, help="OBJECT:SIZE:VIEWS:PHOTONS[:fan]")
    args = ap.parse_args(argv)
    hs.pixel_object = pixel_object  # make() draws pixel objects through the module's pixel_object
    args.out.mkdir(parents=True, exist_ok=True)
    for spec in args.cases:
        name, size, views, photons, geometry, span, level, _ = hs.parse_case(spec)  # no user's-file fields here
        sino, clean, truth = hs.make(name, size, views, photons, args.seed, args.fine, geometry, span, level)
        tag = "" if geometry == "parallel" else f"_{geometry}"
        path = args.out / f"{name}_{size}_{views}_{photons:.0e}{tag}.npz"
        np.savez(path, sinogram=sino, clean=clean, truth=truth, object=name, size=size, views=views,
                 photons=photons, seed=args.seed, fine=args.fine, geometry=geometry,
                 angle_range=span if geometry == "parallel" else 360.0, noise_level=level)
        print(path, sino.shape, f"max {clean.max():.2f}", f"truth min {truth.min():.3f}", flush=True)


if __name__ == "__main__":
    main()
