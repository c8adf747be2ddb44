"""Sinograms made the way most Python users make or keep a parallel scan: scikit-image's
`skimage.transform.radon(image, theta, circle=...)` (bins along rows, views along columns, angles in degrees from 0),
noise added as a user adds it, saved with numpy as the README asks (`numpy.save("S.npy", sinogram.T)`), beside the
truth image as the user holds it. Each file is also written as a case for `scripts/bench_lambda_ct.py --cases`
(an .npz naming the .npy and the settings the README says such a file needs, `problem.angle_start=90`), which runs
it as `regrun problem=ct_fewview problem.data=file problem.sinogram=S.npy solver=fista_tv problem.angle_start=90`
builds it, no size typed (the grid read from the file), and scores `auto`, the grid-optimal typed weight and the
oracle-tuned peers against the truth (docs/ct.md, "(ctskradon)").

Cases `OBJECT:N:VIEWS:CIRCLE:NOISE`, every one drawn with seed `--seed` (the noise's stream also from the case):
- OBJECT: `shepp` (scikit-image's Shepp-Logan phantom resized to N), any of heldout_ct_sinograms.py's pixel objects
  (scikit-image and FAIR pictures by name, the designed kinds) in a disk of 0.9 N, or `sqNAME` (a scikit-image
  picture filling the square; circle=False only);
- CIRCLE: `T` (circle=True, N bins) or `F` (circle=False, ceil(sqrt(2) N) bins);
- NOISE: `pPHOTONS` (Poisson counts of PHOTONS * exp(-k s), k giving the largest line integral 5% transmission,
  -log(counts / PHOTONS) / k saved: heldout_ct_sinograms.poisson) or `gPERCENT` (Gaussian, PERCENT % of the largest
  line integral: heldout_ct_sinograms.gaussian).

    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/ct_radon_files.py --out OUT/dev --seed 7984 \
        --cases shepp:96:60:T:g1 camera:128:30:F:p1e5
    OMP_NUM_THREADS=1 PYTHONPATH=. python scripts/bench_lambda_ct.py --cases OUT/dev/*_case.npz --auto-rules cv \
        --out OUT/dev/bench
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_ct_sinograms as hs  # noqa: E402

README_SETTINGS = {"angle_start": 90.0}  # what the README tells a scikit-image radon user to type


def truth_image(obj: str, n: int, seed: int) -> np.ndarray:
    import skimage.color
    import skimage.data
    import skimage.transform

    if obj == "shepp":
        return skimage.transform.resize(skimage.data.shepp_logan_phantom(), (n, n), anti_aliasing=True)
    if obj.startswith("sq"):
        im = getattr(skimage.data, obj[2:])().astype(float)
        im = skimage.color.rgb2gray(im / im.max()) if im.ndim == 3 else im / im.max()
        k = min(im.shape)
        return skimage.transform.resize(im[:k, :k], (n, n), anti_aliasing=True)
    return hs.pixel_object(obj, n, seed, n)


def parse(case: str):
    obj, n, views, circle, noise = case.split(":")
    if circle not in ("T", "F") or noise[0] not in "pg":
        raise SystemExit(f"{case}: expected OBJECT:N:VIEWS:T|F:pPHOTONS|gPERCENT")
    return obj, int(n), int(views), circle == "T", noise


def make(obj: str, n: int, views: int, circle: bool, noise: str, seed: int):
    """(sinogram as saved (views, bins), truth N x N, photons or 0, Gaussian level or 0)."""
    from skimage.transform import radon

    truth = truth_image(obj, n, seed)
    if circle:  # radon(circle=True) expects nothing outside the inscribed circle (it warns otherwise)
        c = np.arange(n) - n // 2
        truth = truth * (c[:, None] ** 2 + c[None, :] ** 2 <= (n // 2) ** 2)
    theta = np.linspace(0.0, 180.0, views, endpoint=False)
    clean = radon(truth, theta=theta, circle=circle)  # (bins, views)
    rng = np.random.default_rng([seed, n, views, int(circle), sum(map(ord, obj + noise))])
    if noise[0] == "p":
        photons, level = float(noise[1:]), 0.0
        sino = hs.poisson(np.maximum(clean, 0.0), photons, rng)
    else:
        photons, level = 0.0, float(noise[1:]) / 100.0
        sino = hs.gaussian(clean, level, rng)
    return np.ascontiguousarray(sino.T), truth, photons, level


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--cases", nargs="+", required=True)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    for case in a.cases:
        obj, n, views, circle, noise = parse(case)
        seed = a.seed
        sino, truth, photons, level = make(obj, n, views, circle, noise, seed)
        stem = f"{seed}_{obj}_{n}_{views}_{'T' if circle else 'F'}_{noise}"
        np.save(a.out / f"{stem}.npy", sino)
        np.save(a.out / f"{stem}_truth.npy", truth)
        np.savez(a.out / f"{stem}_case.npz", sinogram_file=f"{stem}.npy", truth=truth, size=n, views=views,
                 object=f"{obj} radon circle={circle} {noise}", photons=photons, noise_level=level,
                 problem=json.dumps(README_SETTINGS))
        print(f"{stem}: {sino.shape[0]} views x {sino.shape[1]} bins", flush=True)


if __name__ == "__main__":
    main()
