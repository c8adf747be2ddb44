#!/usr/bin/env python
"""Pairs a user brings already aligned (a photo and its JPEG, two noisy exposures from a tripod, a sub-pixel
tremor): does `regrun problem.data=files` call their registration failed? And does it still say so of pairs that
are not one scene?

For each seed the script draws a scikit-image scene, crops it (rows x columns drawn), and writes pairs as 8-bit
files: `jpeg` (the crop as PNG, and as JPEG at a quality drawn in 60-90), `noise` (two copies with independent
Gaussian noise of 1-4% of the range), `tremor` (the crop and the crop shifted by 0.1-0.3 px, by Fourier phase),
`moved` (shifted 2-5 px and turned 4-10 degrees: a true misalignment, which registers) and `other` (two
different scenes: which must still warn). It runs `regrun problem.data=files problem.template=T
problem.reference=R` with the checkout first on the path and prints each run's poor-fit warning (or none),
fit_quality, misfit_px and misfit_px_initial (where recorded).

    python scripts/newuser11_aligned_pairs.py --root CHECKOUT --work OUT --seeds 8214 8215 8216            # dev
    python scripts/newuser11_aligned_pairs.py --root CHECKOUT --work OUT --seeds 8217 8218 8219 8220 --heldout

Judged: no poor-fit warning on a `jpeg`, `noise`, `tremor` or `moved` pair; the warning on every `other` pair.
Dev scenes: camera, coins, chelsea; held-out scenes (`--heldout`): moon, brick, astronaut, text, grass.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

DEV = ["camera", "coins", "chelsea"]
HELDOUT = ["moon", "brick", "astronaut", "text", "grass"]


def scene(name: str) -> np.ndarray:
    import skimage.data
    from skimage.color import rgb2gray

    img = getattr(skimage.data, name)()
    return (rgb2gray(img) * 255 if img.ndim == 3 else img).astype(np.float64)


def crop(img: np.ndarray, rng, rows: int, cols: int) -> np.ndarray:
    r0 = int(rng.integers(0, img.shape[0] - rows))
    c0 = int(rng.integers(0, img.shape[1] - cols))
    return img[r0:r0 + rows, c0:c0 + cols]


def save(path: Path, img: np.ndarray, **kw) -> Path:
    Image.fromarray(np.clip(img, 0, 255).round().astype(np.uint8)).save(path, **kw)
    return path


def pairs(seed: int, names: list[str], out: Path) -> dict[str, tuple[Path, Path]]:
    rng = np.random.default_rng(seed)
    first, second = rng.choice(len(names), 2, replace=False)
    rows, cols = int(rng.integers(96, 161)), int(rng.integers(96, 161))
    big = scene(names[first])
    img = crop(big, rng, rows, cols)
    out.mkdir(parents=True, exist_ok=True)
    made = {"jpeg": (save(out / "jpeg_T.jpg", img, quality=int(rng.integers(60, 91))), save(out / "jpeg_R.png", img))}
    sigma = float(rng.uniform(0.01, 0.04)) * 255
    made["noise"] = (save(out / "noise_T.png", img + sigma * rng.standard_normal(img.shape)),
                     save(out / "noise_R.png", img + sigma * rng.standard_normal(img.shape)))
    shift = rng.uniform(0.1, 0.3) * rng.choice([-1, 1], 2)
    moved = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(img), shift)).real
    made["tremor"] = (save(out / "tremor_T.png", moved), save(out / "tremor_R.png", img))
    wide = crop(big, rng, rows + 40, cols + 40)
    turned = ndimage.rotate(ndimage.shift(wide, rng.uniform(2, 5) * rng.choice([-1, 1], 2), order=3),
                            float(rng.uniform(4, 10) * rng.choice([-1, 1])), reshape=False, order=3)
    made["moved"] = (save(out / "moved_T.png", turned[20:-20, 20:-20]), save(out / "moved_R.png", wide[20:-20, 20:-20]))
    other = crop(scene(names[second]), rng, rows, cols)
    made["other"] = (save(out / "other_T.png", other), save(out / "other_R.png", img))
    return made


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, required=True, help="the checkout whose regrun runs (first on the path)")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--heldout", action="store_true")
    a = ap.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(a.root.resolve()), "OMP_NUM_THREADS": "1"}
    a.work = a.work.resolve()  # the runs start there: `python -m` puts the working folder before PYTHONPATH
    right = total = 0
    for seed in a.seeds:
        for kind, (t, r) in pairs(seed, HELDOUT if a.heldout else DEV, a.work / "data" / str(seed)).items():
            run_dir = a.work / "runs" / f"{seed}_{kind}"
            got = subprocess.run([sys.executable, "-m", "regrun.cli", "problem.data=files", f"problem.template={t}",
                                  f"problem.reference={r}", "figures=false", "progress=false",
                                  f"hydra.run.dir={run_dir}"], env=env, capture_output=True, text=True, cwd=a.work)
            m = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
            metrics = m.get("metrics", m)
            warned = [line for line in (got.stdout + got.stderr).splitlines() if "poor fit" in line]
            ok = bool(warned) == (kind == "other")
            right += ok
            total += 1
            print(f"{seed} {kind:7} exit {got.returncode} fit_quality {metrics.get('fit_quality', float('nan')):.3f} "
                  f"misfit_px {metrics.get('misfit_px', float('nan')):.3f} initial "
                  f"{metrics.get('misfit_px_initial', float('nan')):.3f} "
                  f"{'WARNED' if warned else 'no warning'}{'' if ok else '  <- WRONG'}", flush=True)
    print(f"{right} of {total} as judged")


if __name__ == "__main__":
    main()
