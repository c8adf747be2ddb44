#!/usr/bin/env python
"""The frames and sinograms of newuser10's new-user pass (docs/sweeps.md, "(newuser10)"): what a user brings, in
the forms users bring it, made by the existing generators (scripts/make_sr_frames.py,
scripts/heldout_ct_sinograms.py) and then re-saved the way a user would.

    python scripts/newuser10_data.py OUT --seed 26101      # needs scikit-image (the photo crop)

Frames (OUT/sr/): `png8` (8 frames of 24 x 36 from a 48 x 72 crop of scikit-image's chelsea, 8-bit, factor 2,
truth and motion beside), `png16` (the same scene as 16-bit PNGs), `rgb` (the crop in colour), `f4` / `f32`
(4 and 32 frames, seeds + 1 and + 2), and from png8: `tiff/` (16-bit TIFFs), `jpeg/` (quality 90), `stack.npy`
(frames, rows, columns), `stray/` (the frames plus `notes.txt`), `sizes/` (frame 3 cropped by 2 columns), `one/`
(frame 0 only). Sinograms (OUT/ct/, seed + 10): scikit-image-free analytic ellipses at 64², 60 parallel views over
180° and 90 fan views over 360°, Poisson 1e4 photons, as a user's `.npz` (sinogram, angles in degrees, truth);
from the parallel one `noangles.npy` (the array alone), `noangles.npz` (key `sino`), `transposed.npy` (bins x
views), `cube.npy` (3-D), `nan.npy` (two NaN bins), `short_angles.npz` (one angle too few), `truth.npy`.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SCENE = "skfile:chelsea.png@60:120:200"


def frames(out: Path, name: str, seed: int, *extra: str) -> Path:
    subprocess.run([sys.executable, str(HERE / "make_sr_frames.py"), str(out / name), "--shape", "48", "72",
                    "--seed", str(seed), "--image", SCENE, *extra], check=True, stdout=subprocess.DEVNULL)
    return out / name / "frames"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=26101)
    a = ap.parse_args(argv)
    sr, ct = a.out / "sr", a.out / "ct"
    sr.mkdir(parents=True, exist_ok=True)
    ct.mkdir(parents=True, exist_ok=True)

    png8 = frames(sr, "png8", a.seed, "--bits", "8")
    frames(sr, "png16", a.seed)
    frames(sr, "rgb", a.seed, "--bits", "8", "--image", "rgb:" + SCENE)
    frames(sr, "f4", a.seed + 1, "--frames", "4", "--bits", "8")
    frames(sr, "f32", a.seed + 2, "--frames", "32", "--bits", "8")
    files = sorted(png8.glob("*.png"))
    stack = np.stack([np.asarray(Image.open(f)) for f in files])
    np.save(sr / "stack.npy", stack)
    for name in ("tiff", "jpeg", "stray", "sizes", "one"):
        (sr / name).mkdir(exist_ok=True)
    for i, f in enumerate(files):
        img = Image.open(f)
        Image.fromarray(np.asarray(img).astype(np.uint16) * 257).save(sr / "tiff" / f"{f.stem}.tif")
        img.save(sr / "jpeg" / f"{f.stem}.jpg", quality=90)
        shutil.copy(f, sr / "stray")
        (Image.fromarray(np.asarray(img)[:, :-2]) if i == 3 else img).save(sr / "sizes" / f.name)
    (sr / "stray" / "notes.txt").write_text("frames from the garden, ISO 400\n")
    shutil.copy(files[0], sr / "one")

    subprocess.run([sys.executable, str(HERE / "heldout_ct_sinograms.py"), "--out", str(ct), "--seed",
                    str(a.seed + 10), "--user", "--cases", "ellipses:64:60:1e4", "ellipses:64:90:1e4:fan"],
                   check=True, stdout=subprocess.DEVNULL)
    d = np.load(ct / "ellipses_64_60_1e+04.npz")
    s = d["sinogram"]
    np.save(ct / "noangles.npy", s)
    np.savez(ct / "noangles.npz", sino=s)
    np.save(ct / "transposed.npy", s.T)
    np.save(ct / "cube.npy", np.stack([s, s]))
    bad = s.copy()
    bad[5, 10] = bad[17, 40] = np.nan
    np.save(ct / "nan.npy", bad)
    np.savez(ct / "short_angles.npz", sinogram=s, angles=d["angles"][:-1])
    np.save(ct / "truth.npy", d["truth"])
    np.save(ct / "truth_fan.npy", np.load(ct / "ellipses_64_90_1e+04_fan.npz")["truth"])
    print(a.out, sorted(p.name for p in sr.iterdir()), sorted(p.name for p in ct.iterdir()))


if __name__ == "__main__":
    main()
