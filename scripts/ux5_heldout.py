"""Held-out batch of the fifth new-user pass (issue 19, ux5): the frames-check warning on bursts whose frames'
sub-pixel phases are or are not sampled by another frame, with and without a bad frame, and the registration of a
large pair; each case run once through the CLI of the code at --repo; prints one JSON row per case (docs/sweeps.md,
"Fifth new-user pass").

    python scripts/ux5_heldout.py --repo PATH --work DIR [--cases NAME ...]

Cases (data made here from seed 91357, never used before; nothing is tuned on them):
- nf_unshared_coins, nf_unshared_moon: noise-free 16-bit TIFF bursts like userpass3's `tif16`: 6 frames 27 x 33 at
  factor 3 (a 81 x 99 crop of scikit-image's coins / moon, block-averaged), whole fine-pixel shifts (0, 0), (0, 3)
  (a whole frame pixel: frame 0's phase), (1, 1) (frame 2: a phase no other frame has), (2, 0), (0, 2), (3, -1);
- nf_shared_coins: the same with the last frame at (1, 4), on frame 2's phase (a control);
- noisy_bad_frame: 8 frames 40 x 40 at factor 2 of brick, sub-pixel random shifts (+-3 fine px), 2% noise, frame 1
  a crop of grass (a bad frame);
- noisy_bad_unshared: the coins layout above with 2% noise, frame 2 (the unsampled phase) a crop of grass;
- pair_800, pair_320: an RGB pair (coffee, resized to 800 x 600 / 320 x 240), the template turned 9 degrees about
  its centre and shifted (14, -9) px (PIL), JPEG quality 92, registered with problem.data=files.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SEED = 91357
K, H, W = 3, 81, 99
UNSHARED = [(0, 0), (0, 3), (1, 1), (2, 0), (0, 2), (3, -1)]
SHARED = UNSHARED[:5] + [(1, 4)]


def grey(name):
    import skimage.data as d
    img = getattr(d, name)()
    img = img.mean(-1) if img.ndim == 3 else img.astype(float)
    return img / img.max()


def write_tifs(folder: Path, frames):
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for j, c in enumerate(frames):
        Image.fromarray(np.clip(c * 65535, 0, 65535).astype(np.uint16)).save(folder / f"f{j}.tif")


def whole_pixel_burst(rng, img, shifts, noise=0.0, bad=-1, other=None):
    r0 = rng.integers(10, img.shape[0] - H - 10)
    c0 = rng.integers(10, img.shape[1] - W - 10)
    out = []
    for j, (s1, s2) in enumerate(shifts):
        src = other if j == bad else img
        f = src[r0 + s1: r0 + s1 + H, c0 + s2: c0 + s2 + W]
        c = f.reshape(H // K, K, W // K, K).mean((1, 3))
        out.append(c + noise * rng.standard_normal(c.shape))
    return out


def subpixel_burst(rng, img, other, n=8, k=2, size=40, noise=0.02, bad=1):
    from scipy.ndimage import shift
    m = size * k
    r0, c0 = rng.integers(10, img.shape[0] - m - 10), rng.integers(10, img.shape[1] - m - 10)
    out = []
    for j in range(n):
        t = (0.0, 0.0) if j == 0 else tuple(rng.uniform(-3, 3, 2))
        src = other if j == bad else img
        f = shift(src[r0 - 8: r0 + m + 8, c0 - 8: c0 + m + 8], t, order=3, mode="nearest")[8:-8, 8:-8]
        c = f.reshape(size, k, size, k).mean((1, 3))
        out.append(c + noise * rng.standard_normal(c.shape))
    return out


def make(work: Path):
    from PIL import Image
    import skimage.data as d
    rng = np.random.default_rng(SEED)
    grass = grey("grass")
    coins, moon, brick = grey("coins"), grey("moon"), grey("brick")
    write_tifs(work / "nf_unshared_coins", whole_pixel_burst(np.random.default_rng(SEED + 1), coins, UNSHARED))
    write_tifs(work / "nf_unshared_moon", whole_pixel_burst(np.random.default_rng(SEED + 2), moon, UNSHARED))
    write_tifs(work / "nf_shared_coins", whole_pixel_burst(np.random.default_rng(SEED + 1), coins, SHARED))
    write_tifs(work / "noisy_bad_frame", subpixel_burst(rng, brick, grass))
    write_tifs(work / "noisy_bad_unshared", whole_pixel_burst(np.random.default_rng(SEED + 1), coins, UNSHARED,
                                                               0.02, 2, grass))
    coffee = Image.fromarray(d.coffee())
    for w, h in ((800, 600), (320, 240)):
        ref = coffee.resize((w, h), Image.BICUBIC)
        s = w / 800
        tmpl = ref.rotate(9, resample=Image.BICUBIC, translate=(round(14 * s), round(-9 * s)), fillcolor=(0, 0, 0))
        ref.save(work / f"R{w}.jpg", quality=92)
        tmpl.save(work / f"T{w}.jpg", quality=92)


def run(repo: str, work: Path, name: str, args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": repo, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = work / f"run_{name}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", "from regrun.cli import main; main()", *args,
                        f"hydra.run.dir={out}"], env=env, cwd=work, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"case": name, "rc": p.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)}
    text = p.stdout + p.stderr
    row["warnings"] = re.findall(r"WARNING: ([^;\n]*)", text)
    row["hints"] = [ln for ln in text.splitlines() if "problem.resize" in ln]
    try:
        m = json.loads((out / "metrics.json").read_text())
        metrics = m.get("metrics", m)
        row["metrics"] = {k: v for k, v in metrics.items() if k.startswith("frames_check_ratio") or
                          k.startswith("frames_check_gap") or k in ("lam_chosen", "fit_quality", "misfit_px")}
        if "result" in m and "w_affine" in m["result"]:
            row["w_affine"] = m["result"]["w_affine"]
    except (OSError, ValueError):
        pass
    return row


CASES = {
    "nf_unshared_coins": ["problem=superres", "problem.data=frames", "problem.frames=nf_unshared_coins", "problem.factor=3"],
    "nf_unshared_moon": ["problem=superres", "problem.data=frames", "problem.frames=nf_unshared_moon", "problem.factor=3"],
    "nf_shared_coins": ["problem=superres", "problem.data=frames", "problem.frames=nf_shared_coins", "problem.factor=3"],
    "noisy_bad_frame": ["problem=superres", "problem.data=frames", "problem.frames=noisy_bad_frame", "problem.factor=2"],
    "noisy_bad_unshared": ["problem=superres", "problem.data=frames", "problem.frames=noisy_bad_unshared",
                           "problem.factor=3"],
    "pair_800": ["problem.data=files", "problem.template=T800.jpg", "problem.reference=R800.jpg"],
    "pair_320": ["problem.data=files", "problem.template=T320.jpg", "problem.reference=R320.jpg"],
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "R800.jpg").exists():
        make(work)
    for name in a.cases:
        print(json.dumps(run(a.repo, work, name, CASES[name])), flush=True)


if __name__ == "__main__":
    main()
