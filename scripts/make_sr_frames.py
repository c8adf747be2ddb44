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
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout, write_png16
from regrun.imaging.synthetic import superres_burst


def _write_image(path: Path, arr: np.ndarray, peak: float) -> None:
    from PIL import Image

    img = from_fair_layout(arr)
    if img.ndim == 3:  # colour (channels, rows, columns): a 16-bit RGB PNG (PIL writes 16 bits for grey only)
        write_png16(path, np.clip(np.round(np.moveaxis(img, 0, -1) / peak * 65535), 0, 65535).astype(np.uint16))
    elif path.suffix == ".png":  # 16-bit: 1% noise is far above the quantisation step
        Image.fromarray(np.clip(np.round(img / peak * 65535), 0, 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray(img.astype(np.float32), mode="F").save(path)


def _channels_last(arr: np.ndarray, colour: bool) -> np.ndarray:
    """An array as stored (row 0 at the top), colour channels last as the frames reader takes them."""
    arr = from_fair_layout(arr)
    return np.moveaxis(arr, -3, -1) if colour else arr


def write_frame_set(out: Path, fmt: str = "png", **kw) -> dict:
    """Write the set under `out`; returns the paths to pass to regrun."""
    truth, frames, w, omega, gains = superres_burst(**kw)
    colour = frames.ndim == 4
    if colour and fmt == "tiff":
        raise SystemExit("--channels > 1 needs --format png, npz or h5 (float TIFFs are grey)")
    out.mkdir(parents=True, exist_ok=True)
    peak = 1.25 * float(max(truth.max(), frames.max()))
    # 16-bit PNGs store intensities scaled by 65535 / peak; the truth is written with the same scale.
    scale = 65535 / peak if fmt == "png" else 1.0
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
        ext = ".png" if fmt == "png" else ".tiff"
        (out / "frames").mkdir(exist_ok=True)
        for j, d in enumerate(frames):
            _write_image(out / "frames" / f"frame_{j:02d}{ext}", d, peak)
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
    ap.add_argument("--format", choices=("png", "tiff", "npz", "h5"), default="png")
    ap.add_argument("--gain", type=float, nargs=2, default=(1.0, 1.0), metavar=("LO", "HI"),
                    help="exposure gains of frames 1.., uniform in [LO, HI] (frame 0's is 1)")
    ap.add_argument("--channels", type=int, default=1, help="1: grey; 3: a colour scene (RGB)")
    a = ap.parse_args(argv)
    if a.size % a.factor:
        ap.error(f"--size {a.size} must be a multiple of --factor {a.factor}")
    paths = write_frame_set(a.out, a.format, size=a.size, factor=a.factor, frames=a.frames, noise=a.noise,
                            supersample=a.supersample, angle=a.angle, seed=a.seed, gain=tuple(a.gain),
                            channels=a.channels)
    # the README's command (tests/test_readme.py checks that both agree)
    print(f"regrun problem=superres problem.data=frames problem.frames={paths['frames']} problem.factor={a.factor} \\\n"
          f"    problem.truth={paths['truth']} problem.true_motion={paths['true_motion']}")


if __name__ == "__main__":
    main()
