#!/usr/bin/env python
"""Super-resolution from JPEG frames (srjpeg, session 27): issue 16's three targets on frames stored as a phone or
camera stores them, 8-bit JPEG at quality 95 / 85 / 70 (Pillow's scale; colour with 4:2:0 or 4:4:4 chroma), on top
of 0.5-2% Gaussian sensor noise; beside each set its lossless twin (the same seed: the same scene, motions and
sensor noise, stored as 8-bit PNG), so the difference is JPEG's alone.

    python scripts/srjpeg_batch.py write OUT/dev --split dev              # the sets (make_sr_frames.write_frame_set)
    PYTHONPATH=CODE python scripts/srjpeg_batch.py run OUT/dev --split dev --out OUT/dev.json [--only NAME ...]
    python scripts/srjpeg_batch.py table OUT/dev.json
    python scripts/srjpeg_batch.py diag OUT/dev --split dev --out OUT/diag.json --only NAME ...   # at the true motion
    python scripts/srjpeg_batch.py run OUT/dark --split dark --no-judge --out OUT/dark.json       # the user's runs only

Splits: dev (seeds 8101-8120), heldout (8121-8133, written down before its run), dark (8141-8148, dark scenes:
the exposure check's false alarms on JPEG); srjpeggain's gaindev (8461-8472, JPEG bursts with exposure gains) and
heldgain (8134-8140, 8501-8504, its held-out sets). `gain` runs the README's command with problem.gain_again=false
and with problem.gain=true per set, `gaintable` reads off which answer a rule's JPEG factors pick:

    PYTHONPATH=CODE python scripts/srjpeg_batch.py gain OUT/gaindev --split gaindev --out OUT/gaindev.json
    python scripts/srjpeg_batch.py gaintable OUT/gaindev.json OUT/dark.json --factors 0,0 2,10

Results: docs/superres.md, "Super-resolution from JPEG frames (srjpeg)".

`run`, per set: the README's command as a new user types it on the JPEG frames and on the PNG twin (a subprocess of
CODE's regrun, heldout_sr_wide.readme_run: `auto`'s weight, PSNR, motion model chosen, the frames' noise estimate
`noise_sigma`); then (heldout_sr_wide.judged, on the JPEG frames) bicubic of frame 0, regrun's best weight on a grid
judged with the truth, the two-stage SimpleITK peer at its best weight fed the same JPEG frames. And the frames'
true error: the frames as regrun reads them (luminance for colour, as the run estimates its noise on) minus the
noise-free frames in the same 8-bit units, its RMS (what `noise_sigma` should read), its share on the pixels at
the 8x8 blocks' edges (rows or columns 0 and 7 of a block) over the others (1 for noise without block structure),
and the correlation of horizontally neighbouring errors (0 for white noise).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

# name: (seed, image, size (fine px a side), frames, sensor noise, JPEG quality, chroma). Factor 2, make_sr_frames'
# affine motions (rotation +-10 deg, scale 0.95-1.05, shift +-5%). Five scenes at the three qualities, five more.
DEV = {
    "camera_q95": (8101, "skfile:camera.png@40:180:180", 32, 8, 0.01, 95, "420"),
    "camera_q85": (8102, "skfile:camera.png@40:180:180", 32, 8, 0.01, 85, "420"),
    "camera_q70": (8103, "skfile:camera.png@40:180:180", 32, 8, 0.01, 70, "420"),
    "astro_rgb_q95": (8104, "rgb:skfile:astronaut.png@30:150:200", 32, 8, 0.01, 95, "420"),
    "astro_rgb_q85": (8105, "rgb:skfile:astronaut.png@30:150:200", 32, 8, 0.01, 85, "420"),
    "astro_rgb_q70": (8106, "rgb:skfile:astronaut.png@30:150:200", 32, 8, 0.01, 70, "420"),
    "texture_q95": (8107, "texture", 48, 16, 0.005, 95, "420"),
    "texture_q85": (8108, "texture", 48, 16, 0.005, 85, "420"),
    "texture_q70": (8109, "texture", 48, 16, 0.005, 70, "420"),
    "lineart_q95": (8110, "lineart", 24, 8, 0.02, 95, "420"),
    "lineart_q85": (8111, "lineart", 24, 8, 0.02, 85, "420"),
    "lineart_q70": (8112, "lineart", 24, 8, 0.02, 70, "420"),
    "coffee_rgb_q95": (8113, "rgb:skfile:coffee.png@60:330:160", 64, 16, 0.005, 95, "420"),
    "coffee_rgb_q85": (8114, "rgb:skfile:coffee.png@60:330:160", 64, 16, 0.005, 85, "420"),
    "coffee_rgb_q70": (8115, "rgb:skfile:coffee.png@60:330:160", 64, 16, 0.005, 70, "420"),
    "cartoon_rgb_q85": (8116, "cartoon", 24, 8, 0.01, 85, "420"),
    "astro_rgb444_q70": (8117, "rgb:skfile:astronaut.png@30:150:200", 32, 8, 0.01, 70, "444"),
    "coffee_rgb444_q85": (8118, "rgb:skfile:coffee.png@60:330:160", 64, 16, 0.005, 85, "444"),
    "grass_q70": (8119, "skfile:grass.png@100:100:120", 20, 8, 0.02, 70, "420"),
    "moon_q85": (8120, "skfile:moon.png@200:150:160", 40, 16, 0.005, 85, "420"),
}
# Held out (written down and committed before any run on it): scenes, crops and qualities (90, 80, 75) dev never
# used; the last set's motions are translations (angle 0, scale 1), for `motion_model=auto`'s pick.
HELD = {
    "chelsea_rgb_q90": (8121, "rgb:skfile:chelsea.png@80:120:200", 32, 8, 0.01, 90, "420"),
    "hubble_q85": (8122, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 85, "420"),
    "gravel_q95": (8123, "skfile:gravel.png@50:50:150", 48, 8, 0.01, 95, "420"),
    "handwriting_q80": (8124, "handwriting", 32, 8, 0.01, 80, "420"),
    "rocket_rgb_q70": (8125, "rgb:skfile:rocket.jpg@100:200:160", 40, 16, 0.02, 70, "420"),
    "mondrian_rgb444_q95": (8126, "mondrian", 32, 8, 0.005, 95, "444"),
    "page_q75": (8127, "skfile:page.png@50:100:120", 20, 8, 0.01, 75, "420"),
    "terrain_q85": (8128, "terrain", 64, 16, 0.005, 85, "420"),
    "retina_rgb_q95": (8129, "rgb:skfile:retina.jpg@300:300:200", 24, 8, 0.01, 95, "420"),
    "brick_q70": (8130, "skfile:brick.png@100:100:160", 32, 16, 0.02, 70, "420"),
    "ihc_rgb444_q85": (8131, "rgb:skfile:ihc.png@100:100:180", 48, 8, 0.005, 85, "444"),
    "deadleaves_q90": (8132, "deadleaves", 20, 16, 0.015, 90, "420"),
    "coins_translation_q85": (8133, "skfile:coins.png@100:100:160", 32, 8, 0.01, 85, "420",
                              {"angle": 0.0, "scale": (1.0, 1.0)}),
}
# Dark scenes (measured after the held-out miss on hubble s8122, no change chosen on them): how often does JPEG on a
# dark ground set off the exposure check (problem.gain_again)? Seeds 8141-8148; run with --no-judge.
DARK = {
    "hubble2_q85": (8141, "skfile:hubble_deep_field.jpg@400:500:160", 24, 16, 0.005, 85, "420"),
    "hubble3_q70": (8142, "skfile:hubble_deep_field.jpg@600:200:160", 32, 8, 0.01, 70, "420"),
    "hubble4_rgb_q85": (8143, "rgb:skfile:hubble_deep_field.jpg@200:700:160", 32, 8, 0.01, 85, "420"),
    "spots_q85": (8144, "spots", 32, 8, 0.01, 85, "420"),
    "spots_q95": (8145, "spots", 24, 16, 0.005, 95, "420"),
    "hubble_q95": (8146, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 95, "420"),
    "hubble_q70": (8147, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 70, "420"),
    "hubble5_q85": (8148, "skfile:hubble_deep_field.jpg@700:800:160", 20, 8, 0.02, 85, "420"),
}
# JPEG bursts WITH exposure gains (srjpeggain, dev; seeds 8461-8472): where the exposure check must still fire.
# The 8th entry's gain: frames 1.. uniform in that range (make_sr_frames' --gain).
GAINDEV = {
    "hubble2_q85_g2": (8461, "skfile:hubble_deep_field.jpg@400:500:160", 24, 16, 0.005, 85, "420", {"gain": (0.98, 1.02)}),
    "hubble3_q70_g3": (8462, "skfile:hubble_deep_field.jpg@600:200:160", 32, 8, 0.01, 70, "420", {"gain": (0.97, 1.03)}),
    "hubble4_rgb_q85_g5": (8463, "rgb:skfile:hubble_deep_field.jpg@200:700:160", 32, 8, 0.01, 85, "420",
                           {"gain": (0.95, 1.05)}),
    "hubble_q95_g2": (8464, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 95, "420", {"gain": (0.98, 1.02)}),
    "hubble_q70_g5": (8465, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 70, "420", {"gain": (0.95, 1.05)}),
    "hubble5_q85_g3": (8466, "skfile:hubble_deep_field.jpg@700:800:160", 20, 8, 0.02, 85, "420", {"gain": (0.97, 1.03)}),
    "spots_q85_g2": (8467, "spots", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "camera_q85_g2": (8468, "skfile:camera.png@40:180:180", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "moon_q70_g3": (8469, "skfile:moon.png@200:150:160", 40, 16, 0.005, 70, "420", {"gain": (0.97, 1.03)}),
    "coffee_rgb_q85_g2": (8470, "rgb:skfile:coffee.png@60:330:160", 64, 16, 0.005, 85, "420", {"gain": (0.98, 1.02)}),
    "texture_q95_g15": (8471, "texture", 48, 16, 0.005, 95, "420", {"gain": (0.985, 1.015)}),
    "hubble_q85_g15": (8472, "skfile:hubble_deep_field.jpg@100:100:160", 24, 16, 0.005, 85, "420",
                       {"gain": (0.985, 1.015)}),
}
# srjpeggain's held-out sets (written down and committed before any run on them; seeds 8134-8140, 8501-8504):
# dark JPEG without gains (the false alarm), dark and bright JPEG with gains (must still fire), crops dev never used.
HELDGAIN = {
    "hubble6_q85": (8134, "skfile:hubble_deep_field.jpg@300:300:160", 24, 16, 0.005, 85, "420"),
    "hubble7_q70": (8135, "skfile:hubble_deep_field.jpg@800:300:160", 32, 8, 0.01, 70, "420"),
    "hubble8_rgb_q90": (8136, "rgb:skfile:hubble_deep_field.jpg@500:800:160", 24, 8, 0.01, 90, "420"),
    "spots_q70": (8137, "spots", 32, 8, 0.01, 70, "420"),
    "hubble9_q85_g3": (8138, "skfile:hubble_deep_field.jpg@700:100:160", 24, 16, 0.005, 85, "420",
                       {"gain": (0.97, 1.03)}),
    "hubble6_q95_g2": (8139, "skfile:hubble_deep_field.jpg@300:600:160", 24, 16, 0.005, 95, "420",
                       {"gain": (0.98, 1.02)}),
    "hubble10_rgb_q85_g5": (8140, "rgb:skfile:hubble_deep_field.jpg@600:600:160", 32, 8, 0.01, 85, "420",
                            {"gain": (0.95, 1.05)}),
    "astro_q85_g2": (8501, "skfile:astronaut.png@30:150:200", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "coins_q70_g3": (8502, "skfile:coins.png@100:100:160", 32, 8, 0.01, 70, "420", {"gain": (0.97, 1.03)}),
    "chelsea_rgb_q85_g5": (8503, "rgb:skfile:chelsea.png@80:120:200", 32, 8, 0.01, 85, "420", {"gain": (0.95, 1.05)}),
    "brick2_q70": (8504, "skfile:brick.png@300:300:160", 32, 16, 0.02, 70, "420"),
}
# srdarkgain's held-out sets (written down and committed before any run on them; seeds 8601-8612; run on the png8
# twins): dark with gains (the re-solve with gains lost there), bright with gains, dark and bright without gains.
DARKGAINHELD = {
    "hubble11_g2": (8601, "skfile:hubble_deep_field.jpg@200:200:160", 24, 16, 0.005, 85, "420", {"gain": (0.98, 1.02)}),
    "hubble12_g3": (8602, "skfile:hubble_deep_field.jpg@500:200:160", 32, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "hubble13_rgb_g3": (8603, "rgb:skfile:hubble_deep_field.jpg@300:800:160", 24, 8, 0.01, 85, "420",
                        {"gain": (0.97, 1.03)}),
    "hubble14_g5": (8604, "skfile:hubble_deep_field.jpg@600:400:160", 24, 16, 0.005, 85, "420", {"gain": (0.95, 1.05)}),
    "spots_g3": (8605, "spots", 32, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "hubble15_g15": (8606, "skfile:hubble_deep_field.jpg@400:100:160", 20, 8, 0.02, 85, "420",
                     {"gain": (0.985, 1.015)}),
    "astro_g3": (8607, "skfile:astronaut.png@30:150:200", 32, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "coins_g2": (8608, "skfile:coins.png@100:100:160", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "chelsea_rgb_g5": (8609, "rgb:skfile:chelsea.png@80:120:200", 32, 8, 0.01, 85, "420", {"gain": (0.95, 1.05)}),
    "hubble16": (8610, "skfile:hubble_deep_field.jpg@100:600:160", 24, 16, 0.005, 85, "420"),
    "camera": (8611, "skfile:camera.png@40:180:180", 32, 8, 0.01, 85, "420"),
    "spots": (8612, "spots", 32, 8, 0.01, 85, "420"),
}
# srgainmean's held-out sets (written down and committed before any run on them; seeds 8921-8932; the png8 twins,
# and hubble22's JPEG too): problem.gain_anchor=mean against frame0 in the README's command. Crops never used before.
DARKGAINMEAN = {
    "hubble17_g3": (8921, "skfile:hubble_deep_field.jpg@150:350:160", 24, 16, 0.005, 85, "420", {"gain": (0.97, 1.03)}),
    "hubble18_g2": (8922, "skfile:hubble_deep_field.jpg@450:650:160", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "hubble19_rgb_g5": (8923, "rgb:skfile:hubble_deep_field.jpg@650:450:160", 24, 8, 0.01, 85, "420",
                        {"gain": (0.95, 1.05)}),
    "hubble20_g15": (8924, "skfile:hubble_deep_field.jpg@250:50:160", 20, 8, 0.02, 85, "420", {"gain": (0.985, 1.015)}),
    "spots_g5": (8925, "spots", 32, 8, 0.01, 85, "420", {"gain": (0.95, 1.05)}),
    "hubble22_g3": (8926, "skfile:hubble_deep_field.jpg@350:250:160", 24, 16, 0.005, 85, "420", {"gain": (0.97, 1.03)}),
    "astro2_g2": (8927, "skfile:astronaut.png@100:250:200", 32, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "moon2_g3": (8928, "skfile:moon.png@100:300:160", 40, 16, 0.005, 85, "420", {"gain": (0.97, 1.03)}),
    "coffee2_rgb_g3": (8929, "rgb:skfile:coffee.png@100:100:160", 32, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "hubble21": (8930, "skfile:hubble_deep_field.jpg@550:750:160", 24, 16, 0.005, 85, "420"),
    "camera2": (8931, "skfile:camera.png@200:60:180", 32, 8, 0.01, 85, "420"),
    "moon3": (8932, "skfile:moon.png@250:50:160", 32, 8, 0.01, 85, "420"),
}
# srgainmean2's held-out sets (written down and committed before any run on them; seeds 8976-8980 and 8991-8994; the
# png8 twins): frames of at most 24 px a side, where problem.motion_model=auto chooses, dark and bright, with and
# without gains (docs/superres.md, "srgainmean2")
GAINMODELHELD = {
    "hubble23_g2": (8976, "skfile:hubble_deep_field.jpg@700:550:160", 20, 8, 0.02, 85, "420", {"gain": (0.98, 1.02)}),
    "hubble24_g3": (8977, "skfile:hubble_deep_field.jpg@100:450:160", 24, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "hubble25_rgb_g2": (8978, "rgb:skfile:hubble_deep_field.jpg@450:50:160", 24, 16, 0.005, 85, "420",
                        {"gain": (0.98, 1.02)}),
    "hubble26_g15": (8979, "skfile:hubble_deep_field.jpg@650:650:160", 20, 8, 0.02, 85, "420",
                     {"gain": (0.985, 1.015)}),
    "spots_g2": (8980, "spots", 24, 8, 0.01, 85, "420", {"gain": (0.98, 1.02)}),
    "coins2_g3": (8991, "skfile:coins.png@40:40:160", 24, 8, 0.01, 85, "420", {"gain": (0.97, 1.03)}),
    "camera3_g2": (8992, "skfile:camera.png@100:250:180", 20, 8, 0.02, 85, "420", {"gain": (0.98, 1.02)}),
    "hubble27": (8993, "skfile:hubble_deep_field.jpg@50:250:160", 20, 8, 0.02, 85, "420"),
    "astro3": (8994, "skfile:astronaut.png@250:100:200", 24, 8, 0.01, 85, "420"),
}
SPLITS = {"dev": DEV, "heldout": HELD, "dark": DARK, "gaindev": GAINDEV, "heldgain": HELDGAIN,
          "darkgainheld": DARKGAINHELD, "darkgainmean": DARKGAINMEAN, "gainmodelheld": GAINMODELHELD}
BLOCK = 8  # JPEG's DCT block, in frame pixels


def settings(spec):
    """(write_frame_set's kw, wide_burst's settings, quality, chroma) of a set; an 8th entry: more of wide_burst's
    settings, angle (kw's) among them."""
    seed, image, size, frames, noise, quality, chroma = spec[:7]
    more = dict(spec[7]) if len(spec) > 7 else {}
    kw = {"size": size, "factor": 2, "frames": frames, "noise": noise, "supersample": 10,
          "angle": more.pop("angle", 10.0), "gain": more.pop("gain", (1.0, 1.0)), "seed": seed}
    return kw, {"image": image, **more}, quality, chroma


def write(root: Path, sets: dict) -> None:
    from make_sr_frames import write_frame_set

    for name, spec in sets.items():
        kw, wide, quality, chroma = settings(spec)
        write_frame_set(root / name / "jpeg", "jpeg", 8, wide, quality, chroma, **kw)
        write_frame_set(root / name / "png8", "png", 8, wide, **kw)  # the lossless twin
        print(name, flush=True)


def true_error(d: Path, spec) -> dict:
    """The frames as regrun reads them (luminance for colour) minus the noise-free frames, both in the stored 8-bit
    units: RMS, RMS on the 8x8 blocks' edge pixels over RMS inside, and the lag-1 correlation along rows."""
    from make_sr_frames import wide_burst

    from regrun.imaging.io import read_frames
    from regrun.imaging.io import luminance

    kw, wide, _, _ = settings(spec)
    size = kw.pop("size")
    noisy = wide_burst(shape=(size, size), **kw, **wide)
    clean = wide_burst(shape=(size, size), **{**kw, "noise": 0.0}, **wide)  # the same draws, the noise times 0
    peak = 1.25 * float(max(noisy[0].max(), noisy[1].max()))  # write_frame_set's scale
    stored = read_frames(d / "frames", colour=clean[1].ndim == 4)
    ref = clean[1] * 255 / peak
    if stored.ndim == 4:
        stored, ref = luminance(stored), luminance(ref)
    err = stored - ref  # FAIR layout (frames, x1 = column, x2 = row from the bottom)
    rows = err.shape[-1]
    col = np.arange(err.shape[-2]) % BLOCK
    row = (rows - 1 - np.arange(rows)) % BLOCK  # row from the top, where JPEG's blocks start
    edge = ((col[:, None] == 0) | (col[:, None] == BLOCK - 1) | (row[None] == 0) | (row[None] == BLOCK - 1))
    e = err - err.mean(axis=(-2, -1), keepdims=True)
    corr = float((e[:, 1:, :] * e[:, :-1, :]).mean() / (e ** 2).mean())
    # the scene's fine detail in each frame: the noise-free frame less its 3x3 mean (interior pixels)
    box = sum(ref[:, 1 + a:ref.shape[1] - 1 + a, 1 + b:ref.shape[2] - 1 + b] for a in (-1, 0, 1) for b in (-1, 0, 1)) / 9
    detail, inner = ref[:, 1:-1, 1:-1] - box, e[:, 1:-1, 1:-1]
    return {"rms": float(np.sqrt((err ** 2).mean())), "edge_over_inside": float(
        np.sqrt((err[:, edge] ** 2).mean() / (err[:, ~edge] ** 2).mean())), "lag1_corr": corr,
        "detail_corr": float((inner * detail).sum() / np.sqrt((inner ** 2).sum() * (detail ** 2).sum()))}


def at_true_motion(d: Path) -> dict:
    """The regularised least-squares image at the TRUE motion (bench_superres_frames.solve_channels, the peer's
    solve), its best PSNR over heldout_sr_wide's weight grid: what the frames allow with the motion known."""
    import torch
    from bench_lambda_sr import weight_search
    from bench_superres_frames import scores, solve_channels
    from heldout_sr_wide import GRID

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    truth = next(p for p in (d / "truth.tiff", d / "truth.npy") if p.exists())

    def at(lam):
        p = SuperRes(config_section("problem", "superres", data="frames", frames=str(d / "frames"), truth=str(truth),
                                    true_motion=str(d / "motion.json"), factor=2, lambda_f=lam), ctx)
        return scores(p, solve_channels(p, p.w_true))

    grid = weight_search(at, GRID, True)
    best = max(grid, key=lambda g: g["psnr"])
    return {"lam": best["lam"], "psnr": best["psnr"]}


def diag(root: Path, sets: dict, out: Path, names) -> None:
    """Per set, JPEG and PNG twin: at_true_motion and true_error (out: a .json of them)."""
    import torch

    torch.set_num_threads(1)
    rows = json.loads(out.read_text()) if out.exists() else {}
    for name in names:
        rows[name] = {k: {"true_motion": at_true_motion(root / name / k), "error": true_error(root / name / k,
                                                                                              sets[name])}
                      for k in ("jpeg", "png8")}
        j, p = rows[name]["jpeg"], rows[name]["png8"]
        print(f"{name}: at the true motion JPEG {j['true_motion']['psnr']:.2f} PNG {p['true_motion']['psnr']:.2f}; "
              f"error-detail corr JPEG {j['error']['detail_corr']:.2f} PNG {p['error']['detail_corr']:.2f}", flush=True)
        out.write_text(json.dumps(rows, indent=1))


def run(root: Path, sets: dict, out: Path, names, judge: bool = True) -> None:
    import torch
    from heldout_sr_wide import judged, readme_run

    torch.set_num_threads(1)
    import SimpleITK

    SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    rows = json.loads(out.read_text())["rows"] if out.exists() else {}
    for name in names:
        spec = sets[name]
        row = {"spec": spec}
        for kind in ("jpeg", "png8"):
            d = root / name / kind
            truth = next(p for p in (d / "truth.tiff", d / "truth.npy") if p.exists())
            row[kind] = {"user": readme_run(d / "frames", 2, truth, d / "motion.json",
                                            out.parent / f"{out.stem}_runs" / name / kind),
                         "error": true_error(d, spec)}
        if judge:
            row.update(judged(root / name / "jpeg", 2, row["jpeg"]["user"]))
        rows[name] = row
        j, p = (row[k]["user"].get("metrics", {}) for k in ("jpeg", "png8"))
        again = ["solved again with problem.gain=true" in (row[k]["user"].get("message") or "") for k in ("jpeg", "png8")]
        print(f"{name}: auto {j.get('psnr', math.nan):.2f} (png {p.get('psnr', math.nan):.2f}) bicubic "
              f"{row.get('psnr_bicubic', math.nan):.2f} best {row.get('psnr_regrun_best', math.nan):.2f} peer "
              f"{row.get('psnr_peer_best', math.nan):.2f}; gains again JPEG / PNG {again[0]} / {again[1]}, "
              f"exposure_std {j.get('exposure_std', math.nan):.4g} / {p.get('exposure_std', math.nan):.4g}; "
              f"sigma {j.get('noise_sigma', math.nan):.3f} true {row['jpeg']['error']['rms']:.3f} (png "
              f"{p.get('noise_sigma', math.nan):.3f} / {row['png8']['error']['rms']:.3f})", flush=True)
        out.write_text(json.dumps({"code": os.environ.get("PYTHONPATH", ""), "rows": rows}, indent=1, default=str))


def gain_runs(root: Path, sets: dict, out: Path, names, kinds) -> None:
    """Per set and kind (jpeg, png8): the README's command with problem.gain_again=false (the first answer and its
    exposure measures, frames_jpeg_dc_share among them) and with problem.gain=true (the answer the exposure check's
    re-solve gives), so any rule's choice between them is read off the metrics (gain_table)."""
    from heldout_sr_wide import readme_run

    rows = json.loads(out.read_text())["rows"] if out.exists() else {}
    for name in names:
        row = rows.get(name, {"spec": sets[name]})
        for kind in kinds:
            d = root / name / kind
            truth = next(p for p in (d / "truth.tiff", d / "truth.npy") if p.exists())
            row[kind] = {how: readme_run(d / "frames", 2, truth, d / "motion.json",
                                         out.parent / f"{out.stem}_runs" / name / kind / how, (extra,))
                         for how, extra in (("nogain", "problem.gain_again=false"), ("gain", "problem.gain=true"))}
            m, g = row[kind]["nogain"].get("metrics", {}), row[kind]["gain"].get("metrics", {})
            print(f"{name} {kind}: gain=false {m.get('psnr', math.nan):.2f} gain=true {g.get('psnr', math.nan):.2f}; "
                  f"exposure_std {m.get('exposure_std', math.nan):.4g} moved_range "
                  f"{m.get('exposure_moved_range', math.nan):.4g} jpeg_dc {m.get('frames_jpeg_dc_share', 0):.4g}",
                  flush=True)
        rows[name] = row
        out.write_text(json.dumps({"code": os.environ.get("PYTHONPATH", ""), "rows": rows}, indent=1, default=str))


def gain_table(paths, factors) -> str:
    """Markdown: per set and kind, the exposure measures, gain=false / gain=true PSNR, and for each (std, moved)
    factor pair the rule's choice (superres.exposure_varies with JPEG_STD_FACTOR, JPEG_MOVED_FACTOR set) and the
    PSNR it gets; then per pair the sets fired and the dB against the better of the two answers."""
    import regrun.problems.superres as sr

    rows = {k: v for p in paths for k, v in json.loads(Path(p).read_text())["rows"].items()}
    head = " | ".join(f"fires / dB at ({a:g}, {b:g})" for a, b in factors)
    lines = [f"| set | kind | gains | exposure_std | moved_range | jpeg_dc_share | gain=false | gain=true | {head} |",
             "|" + "---|" * (8 + len(factors))]
    totals = [[0, 0.0, 0] for _ in factors]
    for name, r in rows.items():
        gain = r["spec"][7].get("gain", (1.0, 1.0)) if len(r["spec"]) > 7 else (1.0, 1.0)
        for kind in ("jpeg", "png8"):
            if kind not in r:
                continue
            m, g = r[kind]["nogain"]["metrics"], r[kind]["gain"]["metrics"]
            # the check reads the first answer's measures; a smaller motion model solved again after it records
            # them as first_solve_*
            m = {**m, **{k[len("first_solve_"):]: v for k, v in m.items() if k.startswith("first_solve_exposure")}}
            cells = []
            for i, (a, b) in enumerate(factors):
                sr.JPEG_STD_FACTOR, sr.JPEG_MOVED_FACTOR = a, b
                fire = sr.exposure_varies(m) is not None
                got = g["psnr"] if fire else m["psnr"]
                totals[i][0] += fire
                totals[i][1] += got - max(g["psnr"], m["psnr"])
                totals[i][2] += 1
                cells.append(f"{'yes' if fire else 'no'} / {got:.2f}")
            lines.append(f"| {name} s{r['spec'][0]} | {kind} | {gain[0]:g}-{gain[1]:g} | {m['exposure_std']:.4g} | "
                         f"{m['exposure_moved_range']:.4g} | {m.get('frames_jpeg_dc_share', 0):.4g} | "
                         f"{m['psnr']:.2f} | {g['psnr']:.2f} | " + " | ".join(cells) + " |")
    lines.append("")
    for (a, b), (fired, lost, n) in zip(factors, totals):
        lines.append(f"factors ({a:g}, {b:g}): fired on {fired} of {n}; against the better answer {lost:+.2f} dB in all")
    return "\n".join(lines)


def table(paths) -> str:
    """Markdown: per set the targets (auto on the JPEG frames against bicubic, regrun's best, the peer's best),
    the PNG twin's auto, the motion models chosen, the noise estimate against the true error; then the counts."""
    from report_superres_model_choice import targets  # scripts/report_superres_model_choice.py

    from regrun.registration.superres_motion import MOTION_MODELS

    rows = {k: v for p in paths for k, v in json.loads(Path(p).read_text())["rows"].items()}
    model = lambda m: MOTION_MODELS[int(m["motion_model_chosen"])] if "motion_model_chosen" in m else "affine"  # noqa: E731
    lines = ["| set | size / frames / noise | JPEG q (chroma) | bicubic | best λ (PSNR) | peer λ (PSNR) | auto λ (PSNR) "
             "| targets | PNG twin auto λ (PSNR) | JPEG − PNG dB | model JPEG / PNG | motion px JPEG / PNG | "
             "σ̂ / true JPEG | σ̂ / true PNG | edge/inside | lag-1 corr |", "|" + "---|" * 16]
    met = []
    for name, r in rows.items():
        seed, image, size, frames, noise, q, chroma = r["spec"][:7]
        j, p = (r[k]["user"].get("metrics", {}) for k in ("jpeg", "png8"))
        ej, ep = r["jpeg"]["error"], r["png8"]["error"]
        t = targets(j["psnr"], r)
        met.append((t, j["psnr"] - r["psnr_regrun_best"], j["psnr"] - r["psnr_peer_best"], j["psnr"] - p["psnr"]))
        rgb = f" ({chroma})" if image.startswith("rgb:") or image == "cartoon" else ""
        lines.append(
            f"| {name} s{seed} | {size}² / {frames} / {noise:.1%} | {q}{rgb} | {r['psnr_bicubic']:.2f} | "
            f"{r['regrun_best_lam']:.3g} ({r['psnr_regrun_best']:.2f}) | {r['peer_best_lam']:.3g} "
            f"({r['psnr_peer_best']:.2f}) | {j['lam_chosen']:.3g} ({j['psnr']:.2f}) | "
            f"{''.join('✓' if v else '✗' for v in t)} | {p['lam_chosen']:.3g} ({p['psnr']:.2f}) | "
            f"{j['psnr'] - p['psnr']:+.2f} | {model(j)} / {model(p)} | {j['motion_error']:.3f} / "
            f"{p['motion_error']:.3f} | {j['noise_sigma']:.3f} / {ej['rms']:.3f} | {p['noise_sigma']:.3f} / "
            f"{ep['rms']:.3f} | {ej['edge_over_inside']:.2f} | {ej['lag1_corr']:.2f} |")
    per = [sum(m[0][i] for m in met) for i in range(3)]
    lines.append(f"\n{len(met)} sets: above bicubic {per[0]}, within 0.75 dB of regrun's best {per[1]}, within 0.5 dB "
                 f"of the peer {per[2]}, all three {sum(all(m[0]) for m in met)}; worst gap to regrun's best "
                 f"{min(m[1] for m in met):+.2f} dB, to the peer {min(m[2] for m in met):+.2f} dB; JPEG − PNG twin "
                 f"median {float(np.median([m[3] for m in met])):+.2f} dB, worst {min(m[3] for m in met):+.2f} dB")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("write", "run", "diag", "table", "gain", "gaintable"))
    ap.add_argument("root", type=Path, nargs="+", help="write/run: the sets' folder; table: results .json files")
    ap.add_argument("--split", choices=tuple(SPLITS), default="dev")
    ap.add_argument("--out", type=Path, help="run: the results .json (rows added to it when it exists)")
    ap.add_argument("--only", nargs="+", help="run these sets alone")
    ap.add_argument("--kinds", nargs="+", default=["jpeg"], choices=("jpeg", "png8"), help="gain: which frames")
    ap.add_argument("--factors", nargs="+", default=["0,0"], help="gaintable: JPEG_STD_FACTOR,JPEG_MOVED_FACTOR pairs")
    ap.add_argument("--no-judge", action="store_true", help="run: the user's command and the true error alone "
                    "(no grid, no peer)")
    a = ap.parse_args(argv)
    sets = SPLITS[a.split]
    if a.what == "write":
        write(a.root[0], sets)
    elif a.what == "gaintable":
        print(gain_table(a.root, [tuple(float(v) for v in f.split(",")) for f in a.factors]))
    elif a.what in ("run", "diag", "gain"):
        if a.out is None:
            ap.error(f"{a.what} needs --out")
        unknown = set(a.only or ()) - set(sets)
        if unknown:
            ap.error(f"--only: no such set in {a.split}: {', '.join(sorted(unknown))}")
        if a.what == "gain":
            gain_runs(a.root[0], sets, a.out, a.only or list(sets), a.kinds)
        elif a.what == "run":
            run(a.root[0], sets, a.out, a.only or list(sets), not a.no_judge)
        else:
            diag(a.root[0], sets, a.out, a.only or list(sets))
    else:
        print(table(a.root))


if __name__ == "__main__":
    main()
