#!/usr/bin/env python
"""Frames saved frames-last, (rows, columns, frames), that the shape alone cannot tell from frames-first: measure
the layout check of `regrun.imaging.io` (`frames_axis_spread`) on stacks of known layout.

Each case is one burst made by scripts/make_sr_frames.py (factor 2, 1% noise, `--format npz`) from a scene, a
frame size and a frame count drawn from the case's seed; it is judged twice: as made, (frames, rows, columns), and
moved frames-last with numpy.moveaxis(frames, 0, -1). Every third seed's frames carry exposure gains 0.8-1.2
(`--gain`, marked (g)), which scale each frame's values. For each array the script prints the spread of the slices'
sorted values along the first and along the last axis (`frames_axis_spread`: frames of one scene share their
values' distribution, whatever their motion; the rows or columns of one image do not), what read_frames does
with the .npy (`refused`, named frames-last by its shape rule, or `read`) and what the rule tried here would do
(refused also where the first axis's spread is over FRAMES_LAST_SPREAD times the last's). The right answer: every frames-last array refused,
every frames-first one read. The shapes are drawn so that half the frames-last arrays have a last axis narrower
than both others and not 4x narrower (the zone the shape rule leaves to the content), and half the frames-first
arrays have few columns (F frames of H x W with W < min(F, H)), which a shape rule would refuse.

    python scripts/newuser11_frames_last.py OUT --seeds 8201 8202 ... 8210      # dev (the rule was chosen here)
    python scripts/newuser11_frames_last.py OUT --seeds 8221 8222 ... 8230      # held-out (written down before)

Held-out batch (docs/sweeps.md, newuser11), written down before any run on it: seeds 8221-8230, scenes drawn
from the held-out list (`--heldout`: scenes the dev batch did not use).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

from regrun.errors import UserError
from regrun.imaging.io import read_frames

# the rule tried: a stack whose slices along its first axis are this many times less alike than along its last is
# frames-last (frames of one scene hold the same values wherever they moved; an image's rows do not). Chosen on dev seeds
# 8201-8212 (scripts/newuser11_frames_last.py): first / last at most 0.74 for frames-first stacks, at least 3.2
# for frames-last ones; 1.5 lies between them by a factor of about 2 either way. Held-out: 16 of 20, two
# frames-first weave bursts with gains refused: not merged (docs/sweeps.md, newuser11)
FRAMES_LAST_SPREAD = 1.5


def frames_axis_spread(stack: np.ndarray) -> tuple[float, float]:
    """How unlike one another a 3-D stack's slices are along its first and along its last axis: the mean squared
    distance of each slice's sorted values, scaled to fit those of the average slice best, from the average slice's,
    over the stack's variance. Motion leaves a frame's sorted values (its histogram) nearly as they are, and an
    exposure gain scales them; the rows or columns of one image differ in theirs."""
    scale = float(np.var(stack)) or 1.0

    def spread(axis: int) -> float:
        q = np.sort(np.moveaxis(stack, axis, 0).reshape(stack.shape[axis], -1), axis=1).astype(np.float64)
        mean = q.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = (q @ mean) / (mean @ mean)  # least squares: a burst's exposure gains (0.8-1.2) scale its frames
        gain = np.where(np.isfinite(gain) & (gain > 0), gain, 1.0)  # a black slice, or values about 0: unscaled
        q /= gain[:, None]
        return float(np.mean((q - q.mean(axis=0)) ** 2)) / scale

    return spread(0), spread(-1)


MAKE = Path(__file__).with_name("make_sr_frames.py")
DEV_SCENES = ["phantom", "texture", "cartoon", "bricks", "skfile:camera.png@100:180:96",
              "skfile:coins.png@60:80:96", "skfile:chelsea.png@40:120:96", "rendered_text"]
HELDOUT_SCENES = ["weave", "terrain", "tiles", "polygons", "skfile:moon.png@200:200:96",
                  "skfile:brick.png@100:100:96", "skfile:grass.png@50:300:96", "skfile:text.png@10:60:96"]


def case(seed: int, scenes: list[str]) -> dict:
    """A scene, frame shape and frame count in the ambiguous zone, from the seed: frames-last (H, W, F) with
    min(H, W) / 4 < F < min(H, W), or frames-first (F, H, W) with W < min(F, H) and 4 W > min(F, H)."""
    rng = np.random.default_rng(seed)
    scene = scenes[int(rng.integers(len(scenes)))]
    if seed % 2:  # few columns: F frames of H x W, W the narrowest (frames-first read; a shape rule would refuse)
        w = int(rng.integers(8, 13))
        h, f = (int(rng.integers(w + 2, 4 * w - 1)) for _ in range(2))
    else:  # frames-last zone: F frames of H x W with min(H, W) / 4 < F < min(H, W)
        h, w = (int(rng.integers(16, 41)) for _ in range(2))
        f = int(rng.integers(min(h, w) // 4 + 1, min(h, w)))
    return {"scene": scene, "rows": h, "cols": w, "frames": max(f, 2), "gain": seed % 3 == 0}


def layout(path: Path, arr: np.ndarray) -> str:
    """What read_frames does with the file (`refused` as frames-last, `read`), and what the rule tried would do."""
    try:
        read_frames(path)
        got = "read"
    except UserError as err:
        got = "refused" if "(rows, columns, frames)" in str(err) else f"other error: {err}"
    first, last = frames_axis_spread(arr)
    rule = "refused" if got == "refused" or last * FRAMES_LAST_SPREAD < first else "read"
    return f"{got:8} {rule}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--heldout", action="store_true", help="draw scenes from the held-out list")
    a = ap.parse_args(argv)
    scenes = HELDOUT_SCENES if a.heldout else DEV_SCENES
    print(f"{'seed':>5} {'scene':32} {'frames x rows x cols':>20}  {'layout':12} {'spread first':>12} "
          f"{'spread last':>11}  read_frames / the rule tried")
    right = total = 0
    for seed in a.seeds:
        c = case(seed, scenes)
        made = a.out / f"s{seed}"
        if not (made / "frames.npz").exists():
            subprocess.run([sys.executable, str(MAKE), str(made), "--shape", str(2 * c["rows"]), str(2 * c["cols"]),
                            "--frames", str(c["frames"]), "--seed", str(seed), "--format", "npz",
                            "--image", c["scene"], *(["--gain", "0.8", "1.2"] if c["gain"] else [])], check=True, stdout=subprocess.DEVNULL)
        with np.load(made / "frames.npz") as data:
            stack = data["frames"]
        if stack.ndim == 4:  # a colour scene (bench_lambda_sr's cartoon): its luminance, the grey frames a user saves
            stack = stack.mean(axis=-1)
        for name, arr in (("first", stack), ("last", np.moveaxis(stack, 0, -1))):
            path = made / f"frames_{name}.npy"
            np.save(path, arr)
            first, last = frames_axis_spread(arr)
            got = layout(path, arr)
            ok = got.split()[-1] == ("refused" if name == "last" else "read")
            right += ok
            total += 1
            print(f"{seed:>5} {c['scene'][:28] + (' (g)' if c['gain'] else ''):32} {c['frames']:>6} x {c['rows']:>3} x {c['cols']:>3}  "
                  f"{'frames-' + name:12} {first:12.4g} {last:11.4g}  {got}{'' if ok else '  <- WRONG'}")
    print(f"{right} of {total} as they should be under the rule tried")


if __name__ == "__main__":
    main()
