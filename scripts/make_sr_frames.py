#!/usr/bin/env python
"""Write a super-resolution frame set with known truth, for `regrun problem=superres problem.data=frames`.

A continuous textured phantom (regrun.imaging.synthetic) is cell-averaged on a much finer grid than the one
regrun reconstructs (`--supersample` samples per fine pixel and axis, 10 by default: 10x finer than the 20x20
reference, 20x finer than the 10x10 frames), so no interpolation model reproduces the frames exactly (no
inverse crime). Frame 0 is the reference pose; frames 1.. are cell averages of the phantom moved by random
affine motions (rotation, per-axis scale and shift about the centre), then Gaussian noise (`--noise` times
the frames' standard deviation) is added.

    python scripts/make_sr_frames.py OUT_DIR                 # 20x20 truth, eight 10x10 frames, 1% noise
    regrun problem=superres problem.data=frames problem.frames=OUT_DIR/frames problem.factor=2 \\
        problem.truth=OUT_DIR/truth.png problem.true_motion=OUT_DIR/motion.json

Writes OUT_DIR/frames/frame_00.png ... (16-bit PNG; `--format tiff` float TIFF, `npz` / `h5` one array file
OUT_DIR/frames.npz|h5 with keys frames, truth, w), OUT_DIR/truth.png (or .tiff), and OUT_DIR/motion.json: the
true w (6 per frame after frame 0) in regrun's convention (domain = fine-pixel units, FAIR's axes) and the
frames' gains.

A burst as a camera takes it: `--gain 0.8 1.2` multiplies frames 1.. by exposure gains uniform in that range
(frame 0's is 1; regrun estimates them with problem.gain=true), `--channels 3` makes a colour scene (16-bit RGB
PNGs; array files (frames, rows, columns, channels)):

    python scripts/make_sr_frames.py OUT_DIR --size 64 --frames 8 --gain 0.8 1.2 --channels 3

Frame sets unlike the default ones (`wide_burst`; any of these options takes that path, the defaults' outputs are
unchanged): `--shape ROWS COLS` non-square (fine pixels), `--shift LO HI` shifts of LO-HI frame pixels per axis
(random sign), `--angle-min` rotations of at least that many degrees, `--shear S` an affine shear uniform in
+-S, `--photons P` Poisson noise (the frames' mean is P counts) instead of Gaussian, `--bits 8` 8-bit PNG frames
as a camera writes them (the truth then a float TIFF in the frames' units), `--image KIND` another scene:
scripts/bench_lambda_sr.py's kinds, or skfile:NAME@ROW:COL:SIDE (a crop of a file in scikit-image's data folder;
rgb:skfile:... keeps its colour):

    python scripts/make_sr_frames.py OUT_DIR --shape 40 72 --frames 8 --shift 3 6 --bits 8

Frames as a phone or camera stores them: `--format jpeg --quality Q` 8-bit JPEG frames (frame_00.jpg ...; the truth
a float TIFF, or truth.npy in colour, in the frames' units as with --bits 8), colour ones with `--chroma 420`
(Pillow's default, the chroma at half resolution a side) or `--chroma 444` (full):

    python scripts/make_sr_frames.py OUT_DIR --size 32 --format jpeg --quality 70 --image rgb:skfile:coffee.png@0:0:200
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout, write_png16
from regrun.imaging.synthetic import superres_burst


def photo_scene(spec: str, extent: tuple[float, float]):
    """skfile:NAME@ROW:COL:SIDE (rgb:skfile:... in colour): the crop of SIDE pixels at that top-left corner of a
    file in scikit-image's data folder (files no data function reads, e.g. motorcycle_right.png), bilinear between
    its pixels, spread over [0, extent[0]] x [0, extent[1]] (FAIR layout; the crop is square, a non-square domain
    takes its sub-rectangle). Grey by Rec. 601 luma unless rgb:."""
    import skimage.data
    import torch
    from PIL import Image

    colour = spec.startswith("rgb:")
    name, at = spec.removeprefix("rgb:").removeprefix("skfile:").split("@")
    r0, c0, side = (int(v) for v in at.split(":"))
    img = Image.open(Path(skimage.data.data_dir) / name).convert("RGB" if colour else "L")
    a = np.asarray(img, dtype=np.float64)[r0:r0 + side, c0:c0 + side]
    src = torch.as_tensor(np.moveaxis(a, -1, 0) if colour else a[None])  # (channels, rows, columns)
    src = src.flip(-2).transpose(-1, -2)[None]  # FAIR layout [x1, x2], x2 up
    big = max(extent)

    def f(x):
        g = (x / big) * 2 - 1  # grid_sample's (x, y) = (x2, x1) of the FAIR-layout array
        pts = torch.stack((g[..., 1], g[..., 0]), -1).reshape(1, -1, 1, 2)
        v = torch.nn.functional.grid_sample(src, pts, mode="bilinear", padding_mode="border", align_corners=False)
        v = v[0, :, :, 0].T.reshape(*x.shape[:-1], -1)
        return v if colour else v[..., 0]

    return f, colour


def wide_burst(shape=(20, 20), factor: int = 2, frames: int = 8, noise: float = 0.01, supersample: int = 10,
               angle: float = 10.0, angle_min: float = 0.0, scale=(0.95, 1.05), shift=None, shear: float = 0.0,
               seed: int = 0, gain=(1.0, 1.0), photons: float | None = None, image: str = "phantom"):
    """A burst superres_burst never draws: (truth, frames, w, omega, gains), FAIR layout. shape = (rows, columns)
    of the fine image (the domain [0, columns] x [0, rows] in fine pixels); rotation uniform in +-[angle_min, angle]
    degrees, per-axis scale in `scale`, shift (lo, hi) frame pixels per axis with a random sign (None: +-5% of the
    side, superres_burst's), then a shear [[1, s], [0, 1]] with s uniform in +-shear, all about the centre; gains
    as superres_burst; noise Gaussian (`noise` times the frames' standard deviation, per channel) or, with
    `photons`, Poisson: each frame pixel a count of mean value / (frames' mean) x photons, scaled back. image:
    phantom (regrun's textured phantom over the longer side), a kind of scripts/bench_lambda_sr.py (its scene on
    the square of the longer side, the domain its sub-rectangle) or skfile:/rgb:skfile: (photo_scene)."""
    import torch

    from regrun.imaging.grid import Grid
    from regrun.imaging.synthetic import block_sample, textured_phantom
    from regrun.imaging.transforms import affine, affine_about

    gen = torch.Generator().manual_seed(seed)
    rows, cols = shape
    if rows % factor or cols % factor:
        raise SystemExit(f"--shape {rows} {cols} must be multiples of --factor {factor}")
    omega = (0.0, float(cols), 0.0, float(rows))
    fine = Grid(omega, (cols, rows))
    coarse = Grid(omega, (cols // factor, rows // factor))
    big = max(rows, cols)
    if image == "phantom":
        f_unit, _ = textured_phantom(gen)
        scene, colour = (lambda x: 100.0 * f_unit(x / big)), False  # noqa: E731
    elif "skfile:" in image:
        scene, colour = photo_scene(image, (cols, rows))
    else:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_lambda_sr import image_function, is_colour

        scene, colour = image_function(image, big, gen), is_colour(image)
    u = lambda *s: torch.rand(*s, generator=gen, dtype=torch.float64)  # noqa: E731
    w = []
    for _ in range(frames - 1):
        d = u(8)
        a = (angle_min + (angle - angle_min) * float(d[0])) * (1 if float(d[5]) < 0.5 else -1)
        sc = (scale[0] + (scale[1] - scale[0]) * float(d[1]), scale[0] + (scale[1] - scale[0]) * float(d[2]))
        if shift is None:
            sh = (0.05 * cols * (2 * float(d[3]) - 1), 0.05 * rows * (2 * float(d[4]) - 1))
        else:  # frame pixels -> fine pixels, a random sign per axis
            sh = tuple(factor * (shift[0] + (shift[1] - shift[0]) * float(d[k])) * (1 if float(d[k + 3]) < 0.5 else -1)
                       for k in (3, 4))  # sign draws d[6], d[7]
        wj = affine_about(a, sc, sh, fine.centre)
        if shear:
            s_ = shear * (2 * float(u(1)) - 1)
            A = wj[:4].reshape(2, 2) @ torch.tensor([[1.0, s_], [0.0, 1.0]], dtype=torch.float64)
            c = torch.tensor(fine.centre, dtype=torch.float64)
            wj = torch.cat((A.reshape(4), wj[4:] + wj[:4].reshape(2, 2) @ c - A @ c))  # the same point maps to c + b
        w.append(wj)
    gains = torch.ones(frames, dtype=torch.float64)
    if tuple(gain) != (1.0, 1.0):
        gains[1:] = gain[0] + (gain[1] - gain[0]) * u(frames - 1)
    channels = [scene] if not colour else [lambda x, c=c: scene(x)[..., c] for c in range(3)]
    truths, stacks = [], []
    for fc in channels:
        truths.append(block_sample(fc, fine, supersample))
        st = [block_sample(fc, coarse, supersample * factor)]
        st += [block_sample(fc, coarse, supersample * factor, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
        st = torch.stack(st) * gains[:, None, None]
        if photons is None:
            st = st + noise * st.std() * torch.randn(st.shape, generator=gen, dtype=torch.float64)
        else:  # shot noise: its variance follows the intensity (dark pixels are cleaner than bright ones)
            mean = float(st.clamp_min(0).mean())
            st = torch.poisson(st.clamp_min(0) / mean * photons, generator=gen) * mean / photons
        stacks.append(st)
    if colour:
        return torch.stack(truths).numpy(), torch.stack(stacks, 1).numpy(), torch.cat(w).numpy(), omega, gains.numpy()
    return truths[0].numpy(), stacks[0].numpy(), torch.cat(w).numpy(), omega, gains.numpy()


# Pillow's `subsampling` of JPEG's chroma: 4:4:4 keeps it at full resolution, 4:2:0 (Pillow's default for RGB, and
# most cameras') halves it a side
CHROMA = {"444": 0, "420": 2}


def _write_image(path: Path, arr: np.ndarray, peak: float, bits: int = 16, quality: int | None = None,
                 chroma: str = "420") -> None:
    from PIL import Image

    img = from_fair_layout(arr)
    if bits == 8:  # as a camera writes its frames: 8 bits a sample, the quantisation step peak / 255
        arr8 = np.clip(np.round((np.moveaxis(img, 0, -1) if img.ndim == 3 else img) / peak * 255), 0, 255)
        if quality is None:
            Image.fromarray(arr8.astype(np.uint8)).save(path)
        else:  # then 8x8-block DCT quantisation (grey frames have no chroma to subsample)
            Image.fromarray(arr8.astype(np.uint8)).save(path, quality=quality, subsampling=CHROMA[chroma])
    elif img.ndim == 3:  # colour (channels, rows, columns): a 16-bit RGB PNG (PIL writes 16 bits for grey only)
        write_png16(path, np.clip(np.round(np.moveaxis(img, 0, -1) / peak * 65535), 0, 65535).astype(np.uint16))
    elif path.suffix == ".png":  # 16-bit: 1% noise is far above the quantisation step
        Image.fromarray(np.clip(np.round(img / peak * 65535), 0, 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray(img.astype(np.float32), mode="F").save(path)


def _channels_last(arr: np.ndarray, colour: bool) -> np.ndarray:
    """An array as stored (row 0 at the top), colour channels last as the frames reader takes them."""
    arr = from_fair_layout(arr)
    return np.moveaxis(arr, -3, -1) if colour else arr


def write_frame_set(out: Path, fmt: str = "png", bits: int = 16, wide: dict | None = None, quality: int = 85,
                    chroma: str = "420", **kw) -> dict:
    """Write the set under `out`; returns the paths to pass to regrun. wide: wide_burst's extra settings (the set
    is then drawn by wide_burst, with kw's size giving a square shape unless wide has one). fmt "jpeg": 8-bit JPEG
    frames at `quality` (1-100, Pillow's scale), colour ones with `chroma` subsampling (CHROMA)."""
    if fmt == "jpeg":
        if not 1 <= quality <= 100:
            raise SystemExit(f"--quality {quality} must be 1-100")
        if chroma not in CHROMA:
            raise SystemExit(f"--chroma {chroma} must be one of {', '.join(CHROMA)}")
        bits = 8
    if wide:
        kw = {k: v for k, v in kw.items() if k != "channels"}
        size = kw.pop("size", 20)
        truth, frames, w, omega, gains = wide_burst(**{"shape": (size, size), **kw, **wide})
    else:
        truth, frames, w, omega, gains = superres_burst(**kw)
    if bits == 8 and fmt not in ("png", "jpeg"):
        raise SystemExit("--bits 8 needs --format png")
    colour = frames.ndim == 4
    if colour and fmt == "tiff":
        raise SystemExit("--channels > 1 needs --format png, npz or h5 (float TIFFs are grey)")
    out.mkdir(parents=True, exist_ok=True)
    peak = 1.25 * float(max(truth.max(), frames.max()))
    # 16-bit PNGs store intensities scaled by 65535 / peak; the truth is written with the same scale.
    scale = (65535 if bits == 16 else 255) / peak if fmt in ("png", "jpeg") else 1.0
    if fmt in ("npz", "h5"):
        path = out / f"frames.{fmt}"
        data = {FRAMES_KEY: _channels_last(frames, colour), TRUTH_KEY: _channels_last(truth, colour), "w": w,
                "gain": gains}
        if fmt == "npz":
            np.savez(path, **data)
        else:
            import h5py

            with h5py.File(path, "w") as h5:
                for k, v in data.items():
                    h5[k] = v
        paths = {"frames": path, "truth": path}
    else:
        ext = {"png": ".png", "jpeg": ".jpg"}.get(fmt, ".tiff")
        (out / "frames").mkdir(exist_ok=True)
        for j, d in enumerate(frames):
            _write_image(out / "frames" / f"frame_{j:02d}{ext}", d, peak, bits,
                         quality if fmt == "jpeg" else None, chroma)
        if bits == 8:  # the truth in the 8-bit frames' units, unquantised (it only judges): a float TIFF
            t = from_fair_layout(truth) * scale
            t = np.moveaxis(t, 0, -1) if t.ndim == 3 else t
            if t.ndim == 3:
                np.save(out / "truth.npy", t)
                paths = {"frames": out / "frames", "truth": out / "truth.npy"}
            else:
                from PIL import Image

                Image.fromarray(t.astype(np.float32), mode="F").save(out / "truth.tiff")
                paths = {"frames": out / "frames", "truth": out / "truth.tiff"}
        else:
            _write_image(out / f"truth{ext}", truth, peak)
            paths = {"frames": out / "frames", "truth": out / f"truth{ext}"}
    meta = {"w": [float(v) for v in w], "gain": [float(v) for v in gains], "omega": list(omega),
            "factor": kw.get("factor", 2),
            "intensity_scale": scale,
            "convention": "w = (A11, A12, A21, A22, b1, b2) per frame after frame 0: frame j samples the "
                          "scene at y = A x + b, x in the domain (fine-pixel units, x1 = image column from the "
                          "left, x2 = image row from the bottom)"}
    (out / "motion.json").write_text(json.dumps(meta, indent=1))
    paths["true_motion"] = out / "motion.json"
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", type=int, default=20, help="fine (reference) pixels per side")
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--frames", type=int, default=8, help="frames including frame 0")
    ap.add_argument("--noise", type=float, default=0.01, help="relative to the frames' standard deviation")
    ap.add_argument("--supersample", type=int, default=10, help="samples per fine pixel and axis")
    ap.add_argument("--angle", type=float, default=10.0, help="rotation uniform in +-angle degrees")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=("png", "tiff", "npz", "h5", "jpeg"), default="png")
    ap.add_argument("--quality", type=int, default=85, help="--format jpeg: Pillow's quality, 1-100")
    ap.add_argument("--chroma", choices=tuple(CHROMA), default="420",
                    help="--format jpeg, colour frames: chroma subsampling 4:2:0 (Pillow's default) or 4:4:4")
    ap.add_argument("--gain", type=float, nargs=2, default=(1.0, 1.0), metavar=("LO", "HI"),
                    help="exposure gains of frames 1.., uniform in [LO, HI] (frame 0's is 1)")
    ap.add_argument("--channels", type=int, default=1, help="1: grey; 3: a colour scene (RGB)")
    ap.add_argument("--shape", type=int, nargs=2, metavar=("ROWS", "COLS"), help="a non-square fine image")
    ap.add_argument("--shift", type=float, nargs=2, metavar=("LO", "HI"), help="shifts of LO-HI frame pixels per axis")
    ap.add_argument("--angle-min", type=float, default=0.0, help="rotations of at least this many degrees")
    ap.add_argument("--shear", type=float, default=0.0, help="an affine shear uniform in +-SHEAR")
    ap.add_argument("--photons", type=float, help="Poisson noise, the frames' mean P counts (instead of --noise)")
    ap.add_argument("--bits", type=int, choices=(8, 16), default=16, help="8: uint8 PNG frames")
    ap.add_argument("--image", default="phantom", help="the scene (wide_burst): phantom, a bench_lambda_sr kind, "
                    "skfile:NAME@ROW:COL:SIDE or rgb:skfile:...")
    a = ap.parse_args(argv)
    wide = {k: v for k, v in (("shape", tuple(a.shape) if a.shape else None),
                              ("shift", tuple(a.shift) if a.shift else None), ("angle_min", a.angle_min or None),
                              ("shear", a.shear or None), ("photons", a.photons),
                              ("image", None if a.image == "phantom" else a.image)) if v is not None}
    if a.size % a.factor and not a.shape:
        ap.error(f"--size {a.size} must be a multiple of --factor {a.factor}")
    if wide and a.channels != 1:
        ap.error("--channels with the wide options: colour comes from --image rgb:... or a colour kind")
    paths = write_frame_set(a.out, a.format, a.bits, wide or None, a.quality, a.chroma, size=a.size, factor=a.factor, frames=a.frames,
                            noise=a.noise, supersample=a.supersample, angle=a.angle, seed=a.seed, gain=tuple(a.gain),
                            channels=a.channels)
    # the README's command (tests/test_readme.py checks that both agree)
    print(f"regrun problem=superres problem.data=frames problem.frames={paths['frames']} problem.factor={a.factor} \\\n"
          f"    problem.truth={paths['truth']} problem.true_motion={paths['true_motion']}")


if __name__ == "__main__":
    main()
