"""The frames' noise estimate of the seventh new-user pass (ux7) on frame sets made here with numpy, scipy, Pillow and
scikit-image only (never regrun's generators), each with its true noise sigma known (docs/sweeps.md, "Seventh
new-user pass"):

    python scripts/ux7_noise.py --seed 19001 [--write DIR]      # one JSON row per set: sigma true / estimated

Each set: 8 frames of 64 x 64 at factor 2 of a 128 x 128 crop of a scikit-image photo (or a smooth drawing),
sub-pixel shifts up to 3 fine px and turns up to 1 degree (cubic interpolation of the crop, then 2 x 2 block means),
white gaussian noise of `pct` % of the full scale (255 or 65535) added to every frame and channel, then rounded to
the depth (8 or 16 bits). The true sigma is that of the frames regrun's model sees: the luminance of colour frames
(Rec. 601 weights: sigma * |w|), with the rounding's 1/sqrt(12) level added in quadrature. --write saves each set
as a folder of PNG frames (the depth's), for the CLI.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# (name, scikit-image image or "drawing", colour, bits, noise % of full scale); the seen seed's sets use SEEN, the
# held-out seed's HELDOUT (other photos, so nothing of them was looked at)
SEEN = [("camera16_1", "camera", False, 16, 1.0), ("astronaut8_2", "astronaut", False, 8, 2.0),
        ("drawing8_05", "drawing", False, 8, 0.5), ("coffee_rgb8_15", "coffee", True, 8, 1.5),
        ("drawing16_3", "drawing", False, 16, 3.0), ("brick16_05", "brick", False, 16, 0.5),
        ("rocket8_3", "rocket", False, 8, 3.0)]
HELDOUT = [("moon16_1", "moon", False, 16, 1.0), ("chelsea_rgb8_2", "chelsea", True, 8, 2.0),
           ("grass8_05", "grass", False, 8, 0.5), ("hubble16_15", "hubble_deep_field", False, 16, 1.5),
           ("drawing8_3", "drawing", False, 8, 3.0), ("gravel16_3", "gravel", False, 16, 3.0),
           ("motorcycle_rgb16_1", "motorcycle_left", True, 16, 1.0)]
LUMA = (0.299, 0.587, 0.114)


def scene(name, colour, rng, size=128):
    if name == "drawing":  # flat areas, a gentle ramp and a few hard-edged shapes
        y, x = np.mgrid[0:size, 0:size] / size
        img = 0.2 + 0.3 * x
        for _ in range(5):
            cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.05, 0.2)]
            img = np.where(np.hypot(y - cy, x - cx) < r, rng.uniform(0.1, 0.9), img)
        img = np.stack([img] * 3, -1) if colour else img
    else:
        import skimage.data as d
        from skimage.color import rgb2gray
        img = np.asarray(getattr(d, name)(), dtype=float)
        img = img / (255.0 if img.max() > 1 else 1.0)
        if img.ndim == 3 and not colour:
            img = rgb2gray(img[..., :3])
        elif img.ndim == 2 and colour:
            img = np.stack([img] * 3, -1)
        r0 = rng.integers(0, img.shape[0] - size - 8)
        c0 = rng.integers(0, img.shape[1] - size - 8)
        img = img[r0:r0 + size + 8, c0:c0 + size + 8]
    return img


def frames_of(img, rng, count=8, factor=2, size=128):
    from scipy.ndimage import map_coordinates
    out = []
    for k in range(count):
        t = np.zeros(2) if k == 0 else rng.uniform(-3, 3, 2)
        a = 0.0 if k == 0 else math.radians(rng.uniform(-1, 1))
        r, c = np.mgrid[0:size, 0:size].astype(float) - size / 2
        rr = math.cos(a) * r - math.sin(a) * c + size / 2 + 4 + t[0]
        cc = math.sin(a) * r + math.cos(a) * c + size / 2 + 4 + t[1]
        chans = img[..., None] if img.ndim == 2 else img
        moved = np.stack([map_coordinates(chans[..., j], [rr, cc], order=3, mode="reflect")
                          for j in range(chans.shape[-1])], -1)
        moved = moved.reshape(size // factor, factor, size // factor, factor, -1).mean((1, 3))
        out.append(moved if img.ndim == 3 else moved[..., 0])
    return np.clip(np.stack(out), 0, 1)


def make_set(spec, rng):
    name, source, colour, bits, pct = spec
    full = 255.0 if bits == 8 else 65535.0
    clean = frames_of(scene(source, colour, rng), rng) * full
    sigma = pct / 100 * full
    noisy = np.clip(np.round(clean + sigma * rng.standard_normal(clean.shape)), 0, full)
    lum = (lambda a: sum(w * a[..., j] for j, w in enumerate(LUMA))) if colour else (lambda a: a)
    true = math.hypot(sigma * (math.sqrt(sum(w * w for w in LUMA)) if colour else 1.0),
                      math.sqrt(sum(w * w for w in LUMA)) / math.sqrt(12) if colour else 1 / math.sqrt(12))
    # the sigma the frames actually carry (the draw, rounding and clipping), beside the nominal one
    drawn = float(np.std(lum(noisy) - lum(clean)))
    return name, noisy.astype(np.uint8 if bits == 8 else np.uint16), lum(noisy), true, drawn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--heldout", action="store_true", help="the held-out photos (HELDOUT) instead of SEEN")
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args()
    from regrun.optim.parameter_choice import noise_std_images
    from regrun.imaging.io import to_fair_layout
    rng = np.random.default_rng(args.seed)
    for spec in HELDOUT if args.heldout else SEEN:
        try:
            name, stack, lum, true, drawn = make_set(spec, rng)
        except AttributeError as exc:  # an image scikit-image fetches from the network (motorcycle_left), offline
            print(json.dumps({"set": spec[0], "error": str(exc)}), flush=True)
            continue
        est = noise_std_images(torch.as_tensor(to_fair_layout(lum), dtype=torch.float64))
        if args.write:
            folder = args.write / name
            folder.mkdir(parents=True, exist_ok=True)
            for k, f in enumerate(stack):
                Image.fromarray(f).save(folder / f"f{k:02d}.png")
        print(json.dumps({"set": name, "sigma_true": round(true, 4), "sigma_drawn": round(drawn, 4),
                          "sigma_est": round(est, 4), "ratio": round(est / drawn, 3)}), flush=True)


if __name__ == "__main__":
    main()
