"""Whether a run on a user's sinogram names a truth file in other units than the sinogram (newuser9; docs/sweeps.md,
"A new user's afternoon from a fresh clone (newuser9)"): a sinogram saved as a 16-bit or 8-bit image holds its line
integrals times the factor that filled the image's range, and every metric against a truth in the object's units
read as a failure without a word (PSNR -57 dB from a 16-bit PNG whose .npy gave 24 dB).

For each scikit-image picture (64 x 64), scikit-image's radon at 45 views over 180 degrees with 1% gaussian noise
(seeded), saved as .npy in line integrals, .npy times 0.6 and times 3, a 16-bit PNG and an 8-bit PNG each filling
its range; each run `regrun problem=ct_fewview problem.data=file ... problem.angle_start=90` (FBP) with the picture
as `problem.truth_file`. One JSON row per run: exit status, PSNR, whether the truth's scale was named.

    python scripts/newuser9_ct_scale.py --root CHECKOUT --work DIR --seed S --images coins brick
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newuser8_heldout import _run, parse_checkout  # noqa: E402

SAVED = {"npy": 1.0, "npy_x0.6": 0.6, "npy_x3": 3.0, "png16": 65535.0, "png8": 255.0}


def _save(sino: np.ndarray, how: str, path: Path) -> Path:
    from PIL import Image

    if how.startswith("npy"):
        np.save(path.with_suffix(".npy"), sino * SAVED[how])
        return path.with_suffix(".npy")
    full = SAVED[how]
    image = np.clip(np.round(sino / sino.max() * full), 0, full).astype(np.uint16 if full > 255 else np.uint8)
    Image.fromarray(image).save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def main() -> None:
    from skimage import data, transform

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--images", nargs="+", required=True)
    args, env = parse_checkout(ap)
    for i, name in enumerate(args.images):
        rng = np.random.default_rng([args.seed, i])
        img = getattr(data, name)()
        img = (img if img.ndim == 2 else img.mean(-1)).astype(np.float64)
        img = transform.resize(img / img.max(), (64, 64), anti_aliasing=True)
        sino = transform.radon(img, np.arange(45) * 4.0, circle=False).T
        sino = sino + 0.01 * sino.max() * rng.standard_normal(sino.shape)
        np.save(args.work / f"{name}_truth.npy", img)
        for how in SAVED:
            path = _save(sino, how, args.work / f"{name}_{how}")
            run = args.work / f"run_{name}_{how}"
            got = _run(["problem=ct_fewview", "problem.data=file", f"problem.sinogram={path}", "problem.size=64",
                        "problem.angle_start=90", f"problem.truth_file={args.work / f'{name}_truth.npy'}",
                        "figures=false", f"hydra.run.dir={run}"], args.work, env)
            try:
                psnr = json.loads((run / "metrics.json").read_text())["metrics"]["psnr"]
            except (OSError, ValueError, KeyError):
                psnr = float("nan")
            print(json.dumps({"image": name, "saved": how, "exit": got.returncode, "psnr": round(psnr, 2),
                              "named": "times problem.truth_file" in got.stderr}), flush=True)


if __name__ == "__main__":
    main()
