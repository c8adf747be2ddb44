#!/usr/bin/env python
"""newuser16's held-out data (seeds 9166-9175), written down before any run on it (docs/sweeps.md, "newuser16").

A new user's files, made outside regrun from scikit-image's sample photos with numpy/scipy/Pillow/scikit-image/
ASTRA only (regrun's own generators are not used, so nothing here shares regrun's forward models):

| seed | folder | what |
|---|---|---|
| 9166 | sr_ihc | 12 RGB 8-bit PNG frames IMG_0001.png.. of an immunohistochemistry crop, 48x48, factor 2, 1% noise, small rigid moves |
| 9167 | sr_retina | 8 grey 16-bit TIFF frames of a microaneurysms crop, 24x24, factor 2, 2% noise, affine moves |
| 9168 | sr_rocket | 16 grey 8-bit PNG frames of a rocket crop, 40x40, factor 2, 0.5% noise, translations (a second folder for the sweep) |
| 9169 | ct_par | parallel sinogram (scikit-image radon, circle=True, 90 views over 180 deg) of a 96x96 coins crop, Poisson 1e4 photons: .npy (no angles) and .npz (with angles) |
| 9170 | ct_fan | fan sinogram (ASTRA fanflat, SOD 2x and ODD 1x the width, 120 views over 360 deg) of a 96x96 brick crop, Poisson 1e4 |
| 9171 | ct_train | a parallel training scan of another coins crop, same set-up as ct_par, with its truth, for grid_search then from:RUN |
| 9172 | tmpl | a template of my own: a drawn desk lamp (base, arm; a head and a switch that turn), RGBA PNG + YAML |
| 9173 | scene | a 320x384 photo (gravel) holding two lamps at 70 and -125 deg, parts turned, saved RGB PNG |
| 9174 | scene_none | the same photo kind without a lamp (a negative) |
| 9175 | bad | bad inputs: a one-frame folder, a sinogram with a NaN bin |

Truths (sr_*/truth.png, ct_*/truth.npy) sit beside the data, never inside the frames folder.

    python scripts/newuser16_data.py OUT            # writes every folder above under OUT
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage


def _sk(name: str) -> np.ndarray:
    import skimage.io
    import skimage.data
    return skimage.io.imread(str(Path(skimage.data.data_dir) / name)).astype(np.float64)


def _frames(src: np.ndarray, n: int, rng, factor_total: int, fine_factor: int, kind: str, noise: float):
    """src: a high-resolution crop (rows, cols[, ch]); frames are src moved then block-averaged by factor_total,
    the truth block-averaged by fine_factor (so the truth is factor_total/fine_factor times finer than a frame)."""
    def block(a, f):
        r, c = a.shape[0] // f, a.shape[1] // f
        a = a[: r * f, : c * f]
        return a.reshape(r, f, c, f, *a.shape[2:]).mean(axis=(1, 3))

    h, w = src.shape[:2]
    centre = np.array([(h - 1) / 2, (w - 1) / 2])
    frames, motions = [], []
    for k in range(n):
        if k == 0:
            a, t = np.eye(2), np.zeros(2)
        else:
            ang = np.deg2rad(rng.uniform(-2, 2)) if kind in ("rigid", "affine") else 0.0
            a = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
            if kind == "affine":
                a = a @ (np.eye(2) + rng.uniform(-0.015, 0.015, (2, 2)))
            t = rng.uniform(-1.5, 1.5, 2) * factor_total  # up to 1.5 frame pixels
        off = centre - a @ centre - t
        chans = src[..., None] if src.ndim == 2 else src
        moved = np.stack([ndimage.affine_transform(chans[..., c], a, offset=off, order=3, mode="reflect")
                          for c in range(chans.shape[2])], axis=-1)
        fr = block(moved, factor_total)
        frames.append(fr if src.ndim == 3 else fr[..., 0])
        motions.append({"A": a.tolist(), "t_src_px": t.tolist()})
    frames = np.array(frames)
    scale = frames.max()
    frames = frames + rng.normal(0, noise * scale, frames.shape)
    truth = block(src, fine_factor)
    return frames, truth, motions


def make_sr(out: Path, name: str, seed: int, photo: str, corner, side_fine: int, n: int, kind: str, noise: float,
            fmt: str, rgb: bool):
    rng = np.random.default_rng(seed)
    img = _sk(photo)
    if not rgb and img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    if rgb and img.ndim == 3:
        img = img[..., :3]
    src_side = side_fine * 4            # the source is 4x finer than the truth, 8x finer than a frame
    r0, c0 = corner
    src = ndimage.zoom(img[r0:r0 + side_fine * 2, c0:c0 + side_fine * 2], (2, 2) + ((1,) if img.ndim == 3 else ()),
                       order=3)[:src_side, :src_side]
    frames, truth, motions = _frames(src, n, rng, 8, 4, kind, noise)
    d = out / name
    (d / "frames").mkdir(parents=True, exist_ok=True)
    for k, fr in enumerate(frames):
        if fmt == "png8":
            Image.fromarray(np.clip(np.round(fr), 0, 255).astype(np.uint8)).save(d / "frames" / f"IMG_{k + 1:04d}.png")
        elif fmt == "png8grey":
            Image.fromarray(np.clip(np.round(fr), 0, 255).astype(np.uint8), "L").save(d / "frames" / f"f{k}.png")
        elif fmt == "tiff16":
            Image.fromarray(np.clip(np.round(fr * 257), 0, 65535).astype(np.uint16)).save(
                d / "frames" / f"frame{k}.tif")
    if truth.ndim == 2:
        scale = 257 if fmt == "tiff16" else 1
        dtype = np.uint16 if fmt == "tiff16" else np.uint8
        Image.fromarray(np.clip(np.round(truth * scale), 0, np.iinfo(dtype).max).astype(dtype)).save(d / "truth.png")
    else:
        Image.fromarray(np.clip(np.round(truth), 0, 255).astype(np.uint8)).save(d / "truth.png")
    (d / "motion_src.json").write_text(json.dumps(motions))


def _poisson(sino: np.ndarray, rng, photons: float = 1e4) -> np.ndarray:
    scale = 3.0 / sino.max()  # the thickest ray lets e^-3 through
    counts = rng.poisson(photons * np.exp(-sino * scale))
    return -np.log(np.maximum(counts, 1) / photons) / scale


def _crop(photo: str, r0: int, c0: int, side: int, n: int) -> np.ndarray:
    img = _sk(photo)
    if img.ndim == 3:
        img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
    crop = img[r0:r0 + side, c0:c0 + side]
    x = ndimage.zoom(crop, n / side, order=1)[:n, :n] / 255.0
    yy, xx = np.mgrid[0:n, 0:n]
    x[(yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 > ((n - 1) / 2 * 0.97) ** 2] = 0  # inside the disk
    return x


def make_ct(out: Path):
    from skimage.transform import radon
    for name, seed, (r0, c0) in (("ct_par", 9169, (150, 200)), ("ct_train", 9171, (20, 30))):
        rng = np.random.default_rng(seed)
        x = _crop("coins.png", r0, c0, 150, 96)
        theta = np.linspace(0.0, 180.0, 90, endpoint=False)
        sino = radon(x, theta=theta, circle=True).T          # (views, bins)
        sino = _poisson(sino, rng)
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        np.save(d / "sino.npy", sino)
        np.savez(d / "sino.npz", sinogram=sino, angles=theta)
        np.save(d / "truth.npy", x)
    import astra
    rng = np.random.default_rng(9170)
    n = 96
    x = _crop("brick.png", 200, 180, 200, n)
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    vol = astra.create_vol_geom(n, n)
    det = int(np.ceil(n * 3 / 2 * 1.5))
    proj = astra.create_proj_geom("fanflat", 1.5, det, angles, 2.0 * n, 1.0 * n)
    pid = astra.create_projector("line_fanflat", proj, vol)
    sid, sino = astra.create_sino(x, pid)
    astra.data2d.delete(sid)
    sino = _poisson(sino, rng)
    d = out / "ct_fan"
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "sino.npy", sino)
    np.save(d / "truth.npy", x)
    (d / "README.txt").write_text(f"fanflat: {det} bins of 1.5 px, SOD {2 * n} px, ODD {n} px, 120 views over 360 deg\n")


def draw_lamp(angle_head: float = 0.0, angle_switch: float = 0.0):
    """A desk lamp, 120x140 RGBA: a base and an arm (the body), a head turning at its hinge, a switch knob on the
    base turning about its pin."""
    h, w = 120, 140
    im = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    dr = ImageDraw.Draw(im)
    dr.rectangle([20, 100, 100, 115], fill=(90, 60, 40, 255))            # base
    for y in range(100, 116, 3):
        dr.line([20, y, 100, y], fill=(120, 85, 55, 255))
    dr.polygon([(55, 100), (65, 100), (85, 45), (77, 42)], fill=(160, 160, 170, 255))   # arm
    dr.ellipse([74, 36, 88, 50], fill=(60, 60, 70, 255))                 # hinge (body)
    head = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    hd = ImageDraw.Draw(head)
    hd.polygon([(84, 40), (128, 18), (134, 52)], fill=(200, 40, 40, 255))  # shade
    hd.ellipse([118, 28, 132, 44], fill=(250, 230, 90, 255))              # bulb
    hd.line([90, 40, 126, 24], fill=(120, 20, 20, 255), width=2)
    head = head.rotate(angle_head, center=(81, 43), resample=Image.BICUBIC)
    sw = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    sd = ImageDraw.Draw(sw)
    sd.rectangle([28, 70, 40, 100], fill=(40, 90, 200, 255))              # switch lever
    sd.ellipse([24, 62, 44, 78], fill=(240, 240, 240, 255))
    sd.ellipse([30, 66, 38, 74], fill=(20, 20, 20, 255))
    sw = sw.rotate(angle_switch, center=(34, 100), resample=Image.BICUBIC)
    im = Image.alpha_composite(im, head)
    im = Image.alpha_composite(im, sw)
    return im


def make_detection(out: Path):
    d = out / "tmpl"
    d.mkdir(parents=True, exist_ok=True)
    draw_lamp().save(d / "lamp.png")
    (d / "lamp.yaml").write_text(
        "image: lamp.png\n"
        "root: lamp\n"
        "tree:\n"
        "  lamp: [head, switch]\n"
        "parts:\n"
        "  head: {box: [10, 82, 60, 140], joint: [43, 81], articulation: 15}\n"
        "  switch: {box: [60, 22, 100, 46], joint: [99, 34], articulation: 20}\n")
    rng = np.random.default_rng(9173)
    bg = _sk("gravel.png")
    bg = np.stack([bg] * 3, -1) if bg.ndim == 2 else bg[..., :3]
    scene = Image.fromarray(bg[40:360, 60:444].astype(np.uint8)).convert("RGBA")
    truth = []
    for (angle, cx, cy) in ((70.0, 110, 150), (-125.0, 270, 180)):
        ah, asw = rng.uniform(-12, 12), rng.uniform(-15, 15)
        lamp = draw_lamp(ah, asw).rotate(angle, expand=True, resample=Image.BICUBIC)
        scene.alpha_composite(lamp, (cx - lamp.width // 2, cy - lamp.height // 2))
        truth.append({"angle_ccw_deg": angle, "centre_xy": [cx, cy], "head": ah, "switch": asw})
    (out / "scene").mkdir(exist_ok=True)
    scene.convert("RGB").save(out / "scene" / "two_lamps.png")
    (out / "scene" / "truth.json").write_text(json.dumps(truth))
    (out / "scene_none").mkdir(exist_ok=True)
    Image.fromarray(bg[100:420, 100:484].astype(np.uint8)).convert("RGB").save(out / "scene_none" / "gravel.png")


def make_bad(out: Path):
    rng = np.random.default_rng(9175)
    d = out / "bad" / "one_frame"
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (32, 32), dtype=np.uint8)).save(d / "only.png")
    s = np.load(out / "ct_par" / "sino.npy")
    s[10, 40] = np.nan
    np.save(out / "bad" / "sino_nan.npy", s)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    a = p.parse_args()
    make_sr(a.out, "sr_ihc", 9166, "ihc.png", (300, 300), 96, 12, "rigid", 0.01, "png8", True)
    make_sr(a.out, "sr_retina", 9167, "microaneurysms.png", (3, 3), 48, 8, "affine", 0.02, "tiff16", False)
    make_sr(a.out, "sr_rocket", 9168, "rocket.jpg", (150, 250), 80, 16, "translation", 0.005, "png8grey", False)
    make_ct(a.out)
    make_detection(a.out)
    make_bad(a.out)


if __name__ == "__main__":
    main()
