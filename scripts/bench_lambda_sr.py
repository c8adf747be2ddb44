#!/usr/bin/env python
"""Super-resolution with lambda_f chosen from the frames alone (problem.lambda_f=auto) beside bicubic upsampling
of frame 0, regrun at its own best lambda_f (a grid judged with the truth) and the two-stage SimpleITK peer at
its best weight, on frame sets that were not used to tune anything.

Frame sets (written as .npz and read through `problem.data=frames`, the user's path): a continuous image
cell-averaged 10x (from 96^2: 4x) finer than the reference, frame 0 the reference pose, the others moved by
random affines (rotation +-10 deg, scale 0.95-1.05, shift +-5%; or rigid, or translation: --set), Gaussian noise
of --noise times the frames' standard deviation; optionally colour scenes (3 channels) and per-frame gains (the
set then run with problem.gain=true). Images: see source_image and image_function (scikit-image's, FAIR's,
regrun's phantom, and generated scenes).

Per set: regrun varpro_cg with lambda_f=auto for every rule (--rules), each rule's chosen weight and PSNR;
varpro_cg on the grid --grid, extended by factors of 2 while its best is at an end (--grid-refine: then the
best's neighbours at sqrt(2)), the pre-registration computed once and reused; the peer's motion (SimpleITK, as
in scripts/bench_superres_frames.py, with gains when the set has them) with the least-squares image at every
weight of its own such grid; bicubic. regrun's PSNR is its final solve's (SuperRes.evaluate: the answer the user
gets, every channel), the peer's the same least squares at its motion by PCG. `auto` goes on as the regrun command
does after its first answer (regrun/second_solve.py: gains solved again where the exposure varies, the motion
model's choice), so its row is the command's answer (scripts/check_bench_user.py checks that on kept frames).

    pip install -e ".[bench]"
    python scripts/bench_lambda_sr.py --sizes 20 32 --noise 0.005 0.01 0.03 --seeds 0 1 --out outputs/bench/lambda_sr
    python scripts/bench_lambda_sr.py --grid 0.2 0.4 0.8 --grid-refine --rules gcv --split B \
        --set voronoi,256,16,0.01,301 gratings,192,16,0.003,303,translation voronoi,128,16,0.01,305,affine,0.8-1.2
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_superres_frames import scores, sitk_motion, solve_channels  # scripts/bench_superres_frames.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.grid import Grid
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import block_sample, textured_phantom
from regrun.imaging.transforms import affine, affine_about
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_motion import MOTION_MODELS
from regrun.registration.superres_start import start_params
from regrun.second_solve import Answer, answer_metrics, second_look
from regrun.solvers.varpro_cg import VarProCG

RULES = ("discrepancy", "gcv", "sure")


# What the previous round tuned on (its table): phantom and camera. Everything else is held out.
TUNING = ("phantom", "camera")
HELD_OUT = ("sk:astronaut", "sk:brick", "sk:coins", "sk:moon", "sk:chelsea", "fair:hands-R", "fair:MRIhead-R",
            "fair:HNSP-R", "texture")
# ../shared/fair_data beside the checkout, or above it (a worktree one level deeper), as heldout_ct_sinograms.py
FAIR_DIR = next((d / "shared" / "fair_data" for d in Path(__file__).resolve().parents[1:]
                 if (d / "shared" / "fair_data").is_dir()), Path(__file__).resolve().parents[1] / ".." / "shared" / "fair_data")


COLOUR = ("sk:stereo_motorcycle", "sk:logo", "voronoi", "tiles", "cartoon", "plasma", "isomap", "skyline", "flags",
          "stainedglass", "mondrian", "clipart")  # colour scenes: (3, rows, columns), frames with 3 channels


def is_colour(kind: str) -> bool:
    """A COLOUR kind, or rgb:IMAGE (batch N): a scikit-image/FAIR/matplotlib photo kept in colour, since the bare
    name's grey (luma) version is what earlier batches used."""
    return kind.startswith("rgb:") or kind in COLOUR


def source_image(kind: str, gen: torch.Generator, crop: tuple[int, int, int] | None = None) -> torch.Tensor:
    """The scene as a 2-D array (rows, columns), or (3, rows, columns) for the COLOUR kinds: camera's 256^2
    crop (the previous round's), a scikit-image data image (sk:NAME) or a FAIR image (fair:NAME, read-only from
    ../shared/fair_data), central square crop of at most 256 pixels (grey by Rec. 601 luma unless COLOUR);
    texture: random-phase noise with a 1/|k|^1.5 amplitude spectrum, 128^2; rendered_text: 16 lines of random
    lower-case words, Pillow's default font at 13 px, 256^2. Tenth round's (256^2 unless said): bigtext (8
    lines at 26 px); faces (a 10x10 mosaic of scikit-image's lfw_subset, 25^2 each, 250^2); polygons (30
    random filled polygons, grey levels, anti-aliased by 4x drawing); voronoi (colour cells with a linear shade
    each); gradient (smooth: a ramp, 6 wide Gaussian bumps and one soft-edged disc); halftone (a dot screen
    of period 6 px at 15 deg whose dot size follows a smooth field); gratings (4x4 tiles of sinusoids, period
    2.5-12 px, random orientation, smooth blends). Eleventh round's (batch D): ellipses (25 soft-edged ellipses,
    each with a linear shade, over a shaded background: piecewise smooth); terrain (smooth: random-phase noise with a
    1/|k|^2.5 amplitude spectrum); rings (concentric sinusoidal rings of period 7-14 px about two random centres,
    summed); tiles (colour: an 8x8 mosaic of tiles of random colour, each with a smooth shade, edges softened by 4x4
    supersampling). Twelfth round's (batch F): cartoon (colour: 24 flat-colour ellipses, rectangles and triangles
    from a palette of 8, dark outlines, anti-aliased by 4x drawing); deadleaves (the dead-leaves model of natural
    images' statistics: 600 occluding flat grey discs, radii 2-48 px with density ~1/r^3); bricks (periodic: a
    wall of 24x10 px bricks in running bond, each a flat grey, 2 px mortar, 4x drawing); weave (periodic: the
    product of two sinusoids of period 6-10 px at a random angle, plus a slow shade); plasma (colour, smooth:
    random-phase noise with a 1/|k|^3 amplitude spectrum, a field per channel). Thirteenth round's (batch G): spots
    (fluorescence-like: 150 elliptic Gaussian spots, widths 1-6 px, on a dark shaded background); circuit (a
    circuit board: 40 Manhattan traces 1-3 px wide and 30 round or square pads, 4x drawing); isomap (colour: a
    1/|k|^2 random field cut into 7 flat colour bands, curved edges, 4x4 supersampled); skyline (colour: a sky
    blended between two colours over three layers of buildings with lit windows, 4x drawing). Seventeenth round's
    (batch K): barcode (a QR-like code: 16x16 modules of 16 px, black or white at random, three 7-module finder
    squares; flat, two levels, hard edges, 4x drawing); flags (colour: flag-like flat colour, 2-4 stripes of one
    orientation, then a Nordic cross or a hoist triangle and 3 discs or boxes from a random palette, no outlines,
    4x drawing). Seventeenth round's second batch (batch L): maze (a 16x16-cell maze carved by a random depth-first
    walk, light paths, dark walls a quarter of a cell thick; two flat levels, hard edges, 4x drawing); chart (a
    plot-like graphic: a light grid, 8 flat grey bars, two dark 2 px polylines, axes and digit labels at 10 px,
    4x drawing); stainedglass (colour: 48 flat-colour Voronoi cells from a palette of 7, dark leading 3 px wide
    where two cells meet, 4x4 supersampled). Eighteenth round's (batch M): bartarget (a resolution target: 24 groups
    of three dark bars 1-10 px wide and as far apart, alternately horizontal and vertical, on a light ground; hard
    edges, 4x drawing); lineart (a line drawing: 36 dark strokes 1-3 px wide, circles, arcs and polylines, on white,
    4x drawing); mondrian (colour: a rectangle split 14 times into flat-colour or light boxes from a palette of 5,
    black lines 3 px wide between, 4x drawing). Nineteenth round's (batch N): qrcode (a finer QR-like code: 32x32
    modules of 8 px, three finder squares, one alignment square, timing rows; two flat levels); floorplan (an
    architectural plan: outer walls 6 px, 9 inner walls 3 px from recursive splits, each with an 18 px door and a
    1 px swing arc); handwriting (7 lines of cursive-like pen loops 2-3 px wide, dark ink on light paper); clipart
    (colour: 14 smooth star-shaped flat-colour blobs from a palette of 6, dark 2 px outlines); all 4x drawing, and
    rgb:IMAGE (a photo kept in colour). The continuous analytic
    kinds are in image_function. crop = (row, column, side): for sk:/fair:/mpl: images, that square (top-left corner,
    side in the image's pixels) instead of the central one (batch E)."""
    n = 256
    if kind == "camera":
        import skimage.data

        return torch.as_tensor(skimage.data.camera()[100:356, 150:406].astype(np.float64))
    if kind == "texture":
        n = 128
        k = torch.fft.fftfreq(n, dtype=torch.float64)
        amp = (k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / n**2) ** -0.75
        phase = torch.rand(n, n, generator=gen, dtype=torch.float64) * 2 * math.pi
        img = torch.fft.ifft2(amp * torch.exp(1j * phase)).real
        return 255 * (img - img.min()) / (img.max() - img.min())
    if kind in ("rendered_text", "bigtext"):  # repeating structure: lines of random words, black on white
        from PIL import Image, ImageDraw, ImageFont

        lines, per, size, step = (16, 40, 13, 15.5) if kind == "rendered_text" else (8, 18, 26, 31.0)
        img = Image.new("L", (256, 256), 255)
        draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=size)
        letters = torch.randint(0, 26, (lines, per), generator=gen).tolist()
        for row, code in enumerate(letters):
            words = "".join(chr(97 + c) if c % 6 else " " for c in code)
            draw.text((6, 4 + step * row), words, fill=0, font=font)
        return torch.as_tensor(np.asarray(img, dtype=np.float64))
    u = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    yy, xx = torch.meshgrid(torch.arange(n, dtype=torch.float64) + 0.5, torch.arange(n, dtype=torch.float64) + 0.5,
                            indexing="ij")
    if kind in ("cartoon", "bricks", "deadleaves"):  # drawn 4x larger, then 4x4-averaged: anti-aliased edges
        from PIL import Image, ImageDraw

        big = 4 * n
        if kind == "cartoon":
            palette = [tuple(int(v) for v in 30 + 220 * u(3)) for _ in range(8)]
            img = Image.new("RGB", (big, big), palette[0])
            draw = ImageDraw.Draw(img)
            for _ in range(24):
                c, r = big * u(2), big * (0.04 + 0.12 * u(2))
                box = [float(c[0] - r[0]), float(c[1] - r[1]), float(c[0] + r[0]), float(c[1] + r[1])]
                colour = palette[int(8 * u(1)) % 8]
                shape = int(3 * u(1)) % 3
                if shape == 0:
                    draw.ellipse(box, fill=colour, outline=(20, 20, 20), width=8)
                elif shape == 1:
                    draw.rectangle(box, fill=colour, outline=(20, 20, 20), width=8)
                else:
                    draw.polygon([(box[0], box[3]), (box[2], box[3]), (float(c[0]), box[1])], fill=colour,
                                 outline=(20, 20, 20), width=8)
            a = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
            return a.reshape(3, n, 4, n, 4).mean((2, 4))
        img = Image.new("L", (big, big), 128)
        draw = ImageDraw.Draw(img)
        if kind == "bricks":
            bw, bh, mortar = 4 * 24, 4 * 10, 4 * 2
            draw.rectangle([0, 0, big, big], fill=200)
            for row in range(big // bh + 1):
                off = (bw // 2) * (row % 2)
                for col in range(-1, big // bw + 2):
                    x0, y0 = col * bw - off, row * bh
                    draw.rectangle([x0 + mortar, y0 + mortar, x0 + bw - 1, y0 + bh - 1],
                                   fill=int(50 + 110 * float(u(1))))
        else:
            r = (2.0 ** -2 + (48.0 ** -2 - 2.0 ** -2) * u(600)) ** -0.5  # density ~ r^-3 on [2, 48] px
            for k in range(600):
                c, rk = big * u(2), 4 * float(r[k])
                draw.ellipse([float(c[0]) - rk, float(c[1]) - rk, float(c[0]) + rk, float(c[1]) + rk],
                             fill=int(20 + 215 * float(u(1))))
        a = torch.as_tensor(np.asarray(img, dtype=np.float64))
        return a.reshape(n, 4, n, 4).mean((1, 3))
    if kind == "weave":
        t = math.pi * float(u(1))
        a, b = math.cos(t) * xx + math.sin(t) * yy, -math.sin(t) * xx + math.cos(t) * yy
        p1, p2 = 6 + 4 * float(u(1)), 6 + 4 * float(u(1))
        img = torch.cos(2 * math.pi * a / p1) * torch.cos(2 * math.pi * b / p2)
        return 128 + 80 * img + 30 * (yy / n - 0.5)
    if kind == "plasma":
        k = torch.fft.fftfreq(n, dtype=torch.float64)
        amp = (k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / n**2) ** -1.5
        out = []
        for _ in range(3):
            f = torch.fft.ifft2(amp * torch.exp(2j * math.pi * u(n, n))).real
            out.append(30 + 200 * (f - f.min()) / (f.max() - f.min()))
        return torch.stack(out)
    if kind == "ellipses":
        img = 80 + 60 * (u(1) * yy + u(1) * xx) / n
        for _ in range(25):
            c, ax, t = n * u(2), n * (0.03 + 0.12 * u(2)), math.pi * float(u(1))
            dy, dx = yy - c[0], xx - c[1]
            r = ((math.cos(t) * dx + math.sin(t) * dy) / ax[0]) ** 2 + ((-math.sin(t) * dx + math.cos(t) * dy) / ax[1]) ** 2
            inside = torch.sigmoid((1 - r.sqrt()) * float(ax.min()) / 1.0)
            level = 40 + 170 * u(1) + 0.3 * (u(1) - 0.5) * dy + 0.3 * (u(1) - 0.5) * dx
            img = img * (1 - inside) + level * inside
        return img.clamp(0, 255)
    if kind == "terrain":
        k = torch.fft.fftfreq(n, dtype=torch.float64)
        amp = (k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / n**2) ** -1.25
        img = torch.fft.ifft2(amp * torch.exp(2j * math.pi * u(n, n))).real
        return 30 + 200 * (img - img.min()) / (img.max() - img.min())
    if kind == "rings":
        img = torch.zeros(n, n, dtype=torch.float64)
        for _ in range(2):
            c, period = n * u(2), 7 + 7 * float(u(1))
            img = img + torch.cos(2 * math.pi * ((yy - c[0]) ** 2 + (xx - c[1]) ** 2).sqrt() / period + 6.3 * u(1))
        return 128 + 55 * img
    if kind == "tiles":
        cols, shade = 30 + 200 * u(8, 8, 3), 0.5 * (u(8, 8, 2) - 0.5)
        sub = torch.arange(4, dtype=torch.float64) / 4 + 0.125
        y4 = (yy[:, None, :, None] - 0.5 + sub[None, :, None, None]).expand(n, 4, n, 4)
        x4 = (xx[:, None, :, None] - 0.5 + sub[None, None, None, :]).expand(n, 4, n, 4)
        ti, tj = (y4 * 8 / n).long().clamp(0, 7), (x4 * 8 / n).long().clamp(0, 7)
        ly, lx = y4 - (ti + 0.5) * n / 8, x4 - (tj + 0.5) * n / 8
        out = cols[ti, tj] + (shade[ti, tj, 0] * ly + shade[ti, tj, 1] * lx)[..., None]
        return out.mean((1, 3)).permute(2, 0, 1).clamp(0, 255)
    if kind == "faces":
        import skimage.data

        faces = skimage.data.lfw_subset()[torch.randperm(200, generator=gen)[:100].numpy()]
        return torch.as_tensor(255 * faces.reshape(10, 10, 25, 25).transpose(0, 2, 1, 3).reshape(250, 250))
    if kind in ("polygons", "voronoi"):
        from PIL import Image, ImageDraw

        if kind == "polygons":  # drawn 4x larger, then 4x4-averaged: anti-aliased edges
            img = Image.new("L", (4 * n, 4 * n), int(255 * u(1)))
            draw = ImageDraw.Draw(img)
            for _ in range(30):
                c, r = 4 * n * u(2), 4 * n * (0.05 + 0.2 * u(1))
                ang = torch.sort(2 * math.pi * u(int(3 + 5 * u(1))))[0]
                rad = r * (0.5 + 0.5 * u(ang.numel()))
                pts = [(float(c[0] + a * math.cos(t)), float(c[1] + a * math.sin(t))) for a, t in zip(rad, ang)]
                draw.polygon(pts, fill=int(255 * u(1)))
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        seeds, colours, slopes = n * u(40, 2), 40 + 200 * u(40, 3), 0.4 * (u(40, 2, 3) - 0.5)
        sub = torch.arange(4, dtype=torch.float64) / 4 + 0.125  # 4x4 points a pixel: anti-aliased cell edges
        y4 = (yy[:, None, :, None] - 0.5 + sub[None, :, None, None]).expand(n, 4, n, 4)
        x4 = (xx[:, None, :, None] - 0.5 + sub[None, None, None, :]).expand(n, 4, n, 4)
        d = (y4[..., None] - seeds[:, 0]) ** 2 + (x4[..., None] - seeds[:, 1]) ** 2
        cell = d.argmin(-1)
        out = (colours[cell] + slopes[cell, 0] * (y4 - seeds[cell, 0])[..., None]
               + slopes[cell, 1] * (x4 - seeds[cell, 1])[..., None])
        return out.mean((1, 3)).permute(2, 0, 1).clamp(0, 255)
    if kind == "gradient":
        img = 60 + 100 * (u(1) * yy + u(1) * xx) / n
        for _ in range(6):
            c, s = n * u(2), n * (0.08 + 0.15 * u(1))
            img = img + 80 * (u(1) - 0.5) * torch.exp(-((yy - c[0]) ** 2 + (xx - c[1]) ** 2) / (2 * s**2))
        c, r = n * (0.3 + 0.4 * u(2)), n * (0.15 + 0.1 * u(1))
        return img + 50 * torch.sigmoid((r - ((yy - c[0]) ** 2 + (xx - c[1]) ** 2).sqrt()) / 2.0)
    if kind == "halftone":
        t = math.radians(15.0)
        a, b = math.cos(t) * xx + math.sin(t) * yy, -math.sin(t) * xx + math.cos(t) * yy
        field = 0.5 + 0.45 * torch.sin(2 * math.pi * (u(1) + xx / (n * (0.4 + 0.4 * u(1))))) * torch.cos(
            2 * math.pi * (u(1) + yy / (n * (0.5 + 0.4 * u(1)))))
        da = torch.remainder(a, 6.0) - 3.0
        db = torch.remainder(b, 6.0) - 3.0
        return 255 * torch.sigmoid(((da**2 + db**2).sqrt() - 3.2 * field.sqrt()) / 0.5)
    if kind == "gratings":
        img = torch.zeros(n, n, dtype=torch.float64)
        weight = torch.zeros(n, n, dtype=torch.float64)
        for i, j in itertools.product(range(4), range(4)):
            cy, cx = n * (i + 0.5) / 4, n * (j + 0.5) / 4
            win = torch.exp(-(((yy - cy) / (n / 7)) ** 2 + ((xx - cx) / (n / 7)) ** 2))
            period, t = 2.5 + 9.5 * float(u(1)), math.pi * float(u(1))
            img = img + win * torch.cos(2 * math.pi * (math.cos(t) * xx + math.sin(t) * yy) / period + 6.3 * u(1))
            weight = weight + win
        return 128 + 100 * img / weight
    if kind == "spots":
        img = 15 + 10 * yy / n
        for _ in range(150):
            c, s = n * u(2), 1.0 + 5.0 * u(2)
            img = img + (30 + 170 * u(1)) * torch.exp(-0.5 * (((yy - c[0]) / s[0]) ** 2 + ((xx - c[1]) / s[1]) ** 2))
        return img.clamp(0, 255)
    if kind == "isomap":
        k = torch.fft.fftfreq(n, dtype=torch.float64)
        amp = (k[:, None] ** 2 + k[None, :] ** 2).clamp_min(1.0 / n**2) ** -1.0
        f = torch.fft.ifft2(amp * torch.exp(2j * math.pi * u(n, n))).real
        f = torch.nn.functional.interpolate(f[None, None], scale_factor=4, mode="bicubic", align_corners=False)[0, 0]
        level = ((f - f.min()) / (f.max() - f.min()) * 7).long().clamp(0, 6)
        palette = 30 + 200 * u(7, 3)
        return palette[level].reshape(n, 4, n, 4, 3).mean((1, 3)).permute(2, 0, 1)
    if kind in ("barcode", "flags"):  # batch K (seventeenth round): flat graphics, drawn 4x larger, 4x4-averaged
        from PIL import Image, ImageDraw

        big = 4 * n
        if kind == "barcode":
            mod = big // 16
            img = Image.new("L", (big, big), 235)
            draw = ImageDraw.Draw(img)
            bits = u(16, 16) < 0.5
            for i in range(16):
                for j in range(16):
                    if bool(bits[i, j]):
                        draw.rectangle([j * mod, i * mod, (j + 1) * mod - 1, (i + 1) * mod - 1], fill=20)
            for i0, j0 in ((0, 0), (0, 9), (9, 0)):  # finder squares: 7 modules, ring, gap, 3x3 core
                for k, fill in ((0, 20), (1, 235), (2, 20)):
                    draw.rectangle([(j0 + k) * mod, (i0 + k) * mod, (j0 + 7 - k) * mod - 1, (i0 + 7 - k) * mod - 1],
                                   fill=fill)
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        palette = [tuple(int(v) for v in 20 + 215 * u(3)) for _ in range(6)]
        img = Image.new("RGB", (big, big), palette[0])
        draw = ImageDraw.Draw(img)
        bands, vertical = int(2 + 3 * float(u(1))), float(u(1)) < 0.5
        for b in range(bands):
            lo, hi = big * b // bands, big * (b + 1) // bands
            draw.rectangle([lo, 0, hi, big] if vertical else [0, lo, big, hi], fill=palette[1 + b % 3])
        if float(u(1)) < 0.5:  # a Nordic cross
            cx, cy, w = big * (0.3 + 0.2 * float(u(1))), big * (0.4 + 0.2 * float(u(1))), big * 0.08
            draw.rectangle([cx - w, 0, cx + w, big], fill=palette[4])
            draw.rectangle([0, cy - w, big, cy + w], fill=palette[4])
        else:  # a hoist triangle
            draw.polygon([(0, 0), (big * (0.35 + 0.2 * float(u(1))), big / 2), (0, big)], fill=palette[4])
        for _ in range(3):
            c, r = big * (0.15 + 0.7 * u(2)), big * (0.04 + 0.08 * float(u(1)))
            box = [float(c[0] - r), float(c[1] - r), float(c[0] + r), float(c[1] + r)]
            (draw.ellipse if float(u(1)) < 0.5 else draw.rectangle)(box, fill=palette[5])
        a = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
        return a.reshape(3, n, 4, n, 4).mean((2, 4))
    if kind in ("maze", "chart"):  # batch L (seventeenth round, srover2): flat graphics, 4x drawing, 4x4-averaged
        from PIL import Image, ImageDraw, ImageFont

        big = 4 * n
        if kind == "maze":
            cells, cell = 16, big // 16
            wall = cell // 4
            img = Image.new("L", (big, big), 30)
            draw = ImageDraw.Draw(img)
            seen, stack = {(0, 0)}, [(0, 0)]

            def room(i, j):
                draw.rectangle([j * cell + wall, i * cell + wall, (j + 1) * cell - 1, (i + 1) * cell - 1], fill=220)

            room(0, 0)
            while stack:  # depth-first carving: every cell reached once, one path between any two
                i, j = stack[-1]
                nxt = [(i + a, j + b) for a, b in ((0, 1), (1, 0), (0, -1), (-1, 0))
                       if 0 <= i + a < cells and 0 <= j + b < cells and (i + a, j + b) not in seen]
                if not nxt:
                    stack.pop()
                    continue
                a, b = nxt[int(torch.randint(0, len(nxt), (1,), generator=gen))]
                room(a, b)
                r0, c0 = min(i, a), min(j, b)  # the opening between the two rooms
                draw.rectangle([c0 * cell + wall, r0 * cell + wall, (max(j, b) + 1) * cell - 1,
                                (max(i, a) + 1) * cell - 1], fill=220)
                seen.add((a, b))
                stack.append((a, b))
        else:
            img = Image.new("L", (big, big), 245)
            draw = ImageDraw.Draw(img)
            for k in range(1, 8):  # the grid: 1 px light lines
                draw.rectangle([k * big // 8, 0, k * big // 8 + 3, big], fill=200)
                draw.rectangle([0, k * big // 8, big, k * big // 8 + 3], fill=200)
            base, left = int(big * 0.88), int(big * 0.12)
            step = (big - left) // 9
            for b in range(8):
                top = int(base - (0.2 + 0.6 * float(u(1))) * big * 0.8)
                draw.rectangle([left + b * step + step // 4, top, left + (b + 1) * step - step // 4, base],
                               fill=int(60 + 120 * float(u(1))))
            for fill in (20, 100):  # two polylines, 2 px wide
                ys = (0.1 + 0.7 * u(12)) * big
                draw.line([(left + k * (big - left) / 11, float(ys[k])) for k in range(12)], fill=fill, width=8)
            draw.rectangle([left - 8, 0, left - 1, base], fill=0)  # the axes
            draw.rectangle([left - 8, base, big, base + 7], fill=0)
            font = ImageFont.load_default(size=40)
            for k in range(8):
                draw.text((8, base - k * big // 9 - 20), str(int(torch.randint(0, 100, (1,), generator=gen))),
                          fill=0, font=font)
        a = torch.as_tensor(np.asarray(img, dtype=np.float64))
        return a.reshape(n, 4, n, 4).mean((1, 3))
    if kind == "stainedglass":  # batch L: flat colour cells, dark leading where two cells meet, 4x4 supersampled
        big = 4 * n
        pts = u(48, 2) * big
        palette = 20 + 215 * u(7, 3)
        ys = torch.arange(big, dtype=torch.float64) + 0.5
        d1 = torch.full((big, big), float("inf"), dtype=torch.float64)
        d2, owner = d1.clone(), torch.zeros(big, big, dtype=torch.long)
        for k in range(len(pts)):  # nearest and second-nearest seed, one seed at a time (memory: a few big^2 arrays)
            d = ((ys[:, None] - pts[k, 0]) ** 2 + (ys[None, :] - pts[k, 1]) ** 2).sqrt()
            closer = d < d1
            d2 = torch.where(closer, d1, torch.minimum(d2, d))
            owner = torch.where(closer, torch.full_like(owner, k), owner)
            d1 = torch.where(closer, d, d1)
        colour = palette[owner % 7].permute(2, 0, 1)  # (3, big, big)
        lead = (d2 - d1) < 6.0  # 12 px wide at 4x: 3 px
        colour = torch.where(lead[None], torch.full_like(colour, 25.0), colour)
        return colour.reshape(3, n, 4, n, 4).mean((2, 4))
    if kind in ("bartarget", "lineart", "mondrian"):  # batch M (eighteenth round): graphics, 4x drawing, 4x4-averaged
        from PIL import Image, ImageDraw

        big = 4 * n
        if kind == "bartarget":  # a resolution target: groups of 3 bars (and 3 gaps) 1-10 px wide, both orientations
            img = Image.new("L", (big, big), 225)
            draw = ImageDraw.Draw(img)
            for g in range(24):
                w = 4 * (1 + int(10 * float(u(1))))  # bar width at 4x: 1-10 px of the 256^2 scene
                x, y = float((big - 6 * w) * u(1)), float((big - 6 * w) * u(1))
                for b in range(3):
                    box = [x + 2 * b * w, y, x + (2 * b + 1) * w - 1, y + 5 * w - 1] if g % 2 else \
                        [x, y + 2 * b * w, x + 5 * w - 1, y + (2 * b + 1) * w - 1]
                    draw.rectangle(box, fill=25)
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        if kind == "lineart":  # a line drawing: dark strokes 1-3 px wide on white, lines, circles, arcs, polylines
            img = Image.new("L", (big, big), 240)
            draw = ImageDraw.Draw(img)
            draw_strokes(draw, u, big, 36, 3, (0.03, 0.2),
                         lambda c, r, shape: [tuple(float(v) for v in big * u(2)) for _ in range(shape)])
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        palette = [tuple(int(v) for v in 20 + 215 * u(3)) for _ in range(5)]  # mondrian: colour
        img = Image.new("RGB", (big, big), (235, 235, 225))
        draw = ImageDraw.Draw(img)
        boxes = [(0.0, 0.0, float(big), float(big))]
        for _ in range(14):  # split the largest rectangle across its longer side, at 25-75%
            boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
            x0, y0, x1, y1 = boxes.pop()
            t = 0.25 + 0.5 * float(u(1))
            if x1 - x0 > y1 - y0:
                boxes += [(x0, y0, x0 + t * (x1 - x0), y1), (x0 + t * (x1 - x0), y0, x1, y1)]
            else:
                boxes += [(x0, y0, x1, y0 + t * (y1 - y0)), (x0, y0 + t * (y1 - y0), x1, y1)]
        for x0, y0, x1, y1 in boxes:  # flat colour (or the light ground), black lines 3 px wide between
            fill = palette[int(5 * float(u(1)))] if float(u(1)) < 0.6 else (235, 235, 225)
            draw.rectangle([x0, y0, x1, y1], fill=fill, outline=(15, 15, 15), width=12)
        a = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
        return a.reshape(3, n, 4, n, 4).mean((2, 4))
    if kind in ("qrcode", "floorplan", "handwriting", "clipart"):  # batch N (nineteenth round): 4x drawing, 4x4-averaged
        from PIL import Image, ImageDraw

        big = 4 * n
        if kind == "qrcode":  # a finer QR-like code than barcode's: 32x32 modules of 8 px, finders, timing, alignment
            mod = big // 32
            img = Image.new("L", (big, big), 240)
            draw = ImageDraw.Draw(img)
            bits = u(32, 32) < 0.5
            bits[6, :], bits[:, 6] = torch.arange(32) % 2 == 0, torch.arange(32) % 2 == 0  # timing patterns
            for i in range(32):
                for j in range(32):
                    if bool(bits[i, j]):
                        draw.rectangle([j * mod, i * mod, (j + 1) * mod - 1, (i + 1) * mod - 1], fill=15)
            for i0, j0, size_, rings in ((0, 0, 7, 3), (0, 25, 7, 3), (25, 0, 7, 3), (22, 22, 5, 3)):
                for k, fill in zip(range(rings), (15, 240, 15)):  # finder squares (7) and one alignment square (5)
                    draw.rectangle([(j0 + k) * mod, (i0 + k) * mod, (j0 + size_ - k) * mod - 1,
                                    (i0 + size_ - k) * mod - 1], fill=fill)
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        if kind == "floorplan":  # walls: outer 6 px, inner 3 px from recursive splits, door gaps with 1 px swing arcs
            img = Image.new("L", (big, big), 245)
            draw = ImageDraw.Draw(img)
            m = 24
            rooms, walls = [(m, m, big - m, big - m)], []
            for _ in range(9):  # split the largest room across its longer side, at 30-70%, a door in the new wall
                rooms.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
                x0, y0, x1, y1 = rooms.pop()
                t = 0.3 + 0.4 * float(u(1))
                vertical = x1 - x0 > y1 - y0
                cut = x0 + t * (x1 - x0) if vertical else y0 + t * (y1 - y0)
                rooms += [(x0, y0, cut, y1), (cut, y0, x1, y1)] if vertical else [(x0, y0, x1, cut), (x0, cut, x1, y1)]
                lo, hi = (y0, y1) if vertical else (x0, x1)
                door = lo + (0.2 + 0.5 * float(u(1))) * (hi - lo)
                walls.append((vertical, cut, lo, hi, door))
            draw.rectangle([m, m, big - m, big - m], outline=20, width=24)
            for vertical, cut, lo, hi, door in walls:
                for a0, a1 in ((lo, door), (door + 72, hi)):  # the wall either side of an 18 px door
                    if a1 > a0:
                        draw.rectangle([cut - 6, a0, cut + 6, a1] if vertical else [a0, cut - 6, a1, cut + 6], fill=20)
                box = [cut - 72, door, cut + 72, door + 144] if vertical else [door, cut - 72, door + 144, cut + 72]
                box = [box[0], box[1] - 72, box[2], box[3] - 72] if vertical else [box[0] - 72, box[1], box[2] - 72,
                                                                                   box[3]]
                draw.arc(box, 0, 90, fill=90, width=4)
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        if kind == "handwriting":  # 7 lines of cursive-like pen strokes, 2-3 px wide, dark ink on light paper
            img = Image.new("L", (big, big), 235)
            draw = ImageDraw.Draw(img)
            for line in range(7):
                x, base = 40.0, 110.0 + 130.0 * line
                while x < big - 160:
                    letters = 3 + int(5 * float(u(1)))
                    t = torch.linspace(0, letters * 2 * math.pi, 24 * letters, dtype=torch.float64)
                    amp = 30 + 30 * u(letters).repeat_interleave(24)
                    xs = x + t * (18 + 6 * float(u(1))) / (2 * math.pi) * 2 + 14 * torch.sin(t + 1.3)
                    ys = base - amp * (0.5 + 0.5 * torch.cos(t))
                    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=int(20 + 40 * float(u(1))),
                              width=8 + int(5 * float(u(1))), joint="curve")
                    x = float(xs.max()) + 40 + 40 * float(u(1))
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        palette = [tuple(int(v) for v in 25 + 215 * u(3)) for _ in range(6)]  # clipart: colour
        img = Image.new("RGB", (big, big), palette[0])
        draw = ImageDraw.Draw(img)
        for _ in range(14):  # smooth star-shaped blobs (radius a few low Fourier terms), flat colour, 2 px outline
            c, r = big * (0.1 + 0.8 * u(2)), big * (0.06 + 0.14 * float(u(1)))
            th = torch.linspace(0, 2 * math.pi, 120, dtype=torch.float64)[:-1]
            rad = r * (1 + sum(0.25 * (2 * float(u(1)) - 1) * torch.cos(k * th + 2 * math.pi * float(u(1)))
                               for k in (2, 3, 5)))
            pts = list(zip((c[0] + rad * torch.cos(th)).tolist(), (c[1] + rad * torch.sin(th)).tolist()))
            draw.polygon(pts, fill=palette[1 + int(5 * float(u(1)))], outline=(15, 15, 15), width=8)
        a = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
        return a.reshape(3, n, 4, n, 4).mean((2, 4))
    if kind in ("circuit", "skyline"):  # drawn 4x larger, then 4x4-averaged: anti-aliased edges
        from PIL import Image, ImageDraw

        big = 4 * n
        if kind == "circuit":
            img = Image.new("L", (big, big), 40)
            draw = ImageDraw.Draw(img)
            for _ in range(40):
                x, y = float(big * u(1)), float(big * u(1))
                pts = [(x, y)]
                for step in range(4):
                    d = float(big * (0.05 + 0.25 * u(1))) * (1 if float(u(1)) > 0.5 else -1)
                    x, y = (x + d, y) if step % 2 == 0 else (x, y + d)
                    pts.append((x, y))
                draw.line(pts, fill=int(170 + 60 * float(u(1))), width=4 * (1 + int(3 * float(u(1)))), joint="curve")
            for _ in range(30):
                c, r = big * u(2), 4 * (2 + 4 * float(u(1)))
                box = [float(c[0]) - r, float(c[1]) - r, float(c[0]) + r, float(c[1]) + r]
                (draw.ellipse if float(u(1)) > 0.5 else draw.rectangle)(box, fill=int(200 + 50 * float(u(1))))
            a = torch.as_tensor(np.asarray(img, dtype=np.float64))
            return a.reshape(n, 4, n, 4).mean((1, 3))
        img = Image.new("RGB", (big, big))
        draw = ImageDraw.Draw(img)
        top, bottom = 40 + 150 * u(3), 40 + 150 * u(3)
        for row in range(big):
            t = row / big
            draw.line([(0, row), (big, row)], fill=tuple(int(v) for v in (1 - t) * top + t * bottom))
        for layer in range(3):
            x, colour = 0.0, tuple(int(v) for v in 10 + (15 + 15 * layer) * u(3))
            while x < big:
                w, h = float(big * (0.04 + 0.08 * u(1))), float(big * (0.2 + 0.1 * layer + 0.4 * u(1)))
                draw.rectangle([x, big - h, x + w, big], fill=colour)
                if layer == 2:  # lit windows on the front layer
                    for wy in range(int(big - h) + 12, big - 16, 20):
                        for wx in range(int(x) + 8, int(x + w) - 12, 16):
                            if float(u(1)) > 0.5:
                                draw.rectangle([wx, wy, wx + 8, wy + 10], fill=(230, 210, 120))
                x += w + float(big * 0.02 * u(1))
        a = torch.as_tensor(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)
        return a.reshape(3, n, 4, n, 4).mean((2, 4))
    colour = is_colour(kind)
    kind = kind[4:] if kind.startswith("rgb:") else kind
    if kind.startswith("sk:"):
        import skimage.data

        a = getattr(skimage.data, kind[3:])()
        a = np.asarray(a[0] if isinstance(a, tuple) else a, dtype=np.float64)  # stereo_motorcycle: the left view
        if a.max() <= 1.0:  # float images in [0, 1] (shepp_logan_phantom, batch H): to [0, 255] as an 8-bit export,
            a = 255 * a  # so the weight's scale matches the other images'
    elif kind.startswith("fair:"):
        from PIL import Image

        path = FAIR_DIR / f"{kind[5:]}.jpg"
        if not path.exists():
            raise SystemExit(f"{path} not found (the FAIR images live in ../shared/fair_data)")
        a = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    elif kind.startswith("mpl:"):  # matplotlib's bundled sample data (batch G-small): images new to this repository
        a = mpl_sample(kind[4:])
    else:
        raise SystemExit(f"unknown image {kind!r}")
    if a.ndim == 3 and not colour:
        a = a[..., :3] @ np.array([0.299, 0.587, 0.114])
    side = min(a.shape[0], a.shape[1], 256)
    r0, c0 = (a.shape[0] - side) // 2, (a.shape[1] - side) // 2
    if crop is not None:
        r0, c0, side = crop
        if r0 < 0 or c0 < 0 or r0 + side > a.shape[0] or c0 + side > a.shape[1]:
            raise SystemExit(f"{kind}: the crop {side}^2 at ({r0}, {c0}) is not inside its {a.shape[:2]} pixels")
    a = a[r0:r0 + side, c0:c0 + side]
    return torch.as_tensor(np.moveaxis(a[..., :3], -1, 0).copy() if a.ndim == 3 else a.copy())


MPL_SAMPLES = ("grace_hopper", "s1045", "jacksboro_fault_dem", "Minduka_Present_Blue_Pack", "topobathy", "logo2")


def mpl_sample(name: str) -> np.ndarray:
    """One of matplotlib's sample-data images (shipped with matplotlib, no download): grace_hopper (a photograph,
    600x512 RGB), s1045 (an MRI slice, 256^2 uint16), jacksboro_fault_dem (a terrain elevation model, 344x403),
    Minduka_Present_Blue_Pack (a photograph, 128^2 RGBA); batch H's topobathy (a terrain and sea-floor elevation
    model, 91x120) and logo2 (matplotlib's logo, flat colours and text, 542x130 RGBA over white). Non-8-bit data are scaled to [0, 255] as a user's
    8-bit export would be (the weight's scale then matches the other images')."""
    import gzip

    from matplotlib import cbook
    from PIL import Image

    if name not in MPL_SAMPLES:
        raise SystemExit(f"mpl:{name}: not one of {', '.join(MPL_SAMPLES)}")
    if name == "s1045":
        with gzip.open(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as fh:
            a = np.frombuffer(fh.read(), np.uint16).reshape(256, 256).astype(np.float64)
    elif name == "jacksboro_fault_dem":
        a = np.load(cbook.get_sample_data("jacksboro_fault_dem.npz", asfileobj=False))["elevation"].astype(np.float64)
    elif name == "topobathy":
        a = np.load(cbook.get_sample_data("topobathy.npz", asfileobj=False))["topo"].astype(np.float64)
    else:
        ext = ".jpg" if name == "grace_hopper" else ".png"
        img = Image.open(cbook.get_sample_data(name + ext, asfileobj=False))
        if name == "logo2":  # transparent pixels over white, as a viewer shows them (Minduka keeps its RGB as before)
            img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img)
        return np.asarray(img, dtype=np.float64)[..., :3]
    return 255 * (a - a.min()) / (a.max() - a.min())


def image_function(kind: str, size: int, gen: torch.Generator):
    """A continuous image on [0, size]^2 (fine-pixel units), values (...) or (..., 3) for COLOUR kinds: regrun's
    textured phantom; zoneplate (a chirp cos(pi k r^2) about a random centre whose frequency reaches 0.45
    cycles a fine pixel at the domain's far corner: beyond the frames' Nyquist over most of the domain); or a
    source image (source_image) bilinear between its pixels over the domain. IMAGE@ROW:COL (sk:/fair: images,
    batch E): the crop of side 4 x size at that top-left corner, so that its pixels are 8x finer than the
    reference frame's (the issue's "camera crop made 8x finer than the reference"); mpl:NAME (batch G-small) too.
    Batch J's (sixteenth round): blobwaves (burst-phantom-like, smooth: 10 anisotropic Gaussian blobs, a quarter
    of them negative, plus two crossed cosine gratings of 8-16 cycles a side under a Gaussian envelope) and
    sharpphantom (Shepp-Logan-like: an elliptic shell and 8 flat inner ellipses of +-0.1..0.3, summed, hard edges
    that only the cell averaging softens). Batch K's (seventeenth round): discs (a sharp phantom: a flat background
    disc, 10 flat discs and 4 rotated flat squares of +-0.15..0.45 summed, hard edges that only the cell averaging
    softens)."""
    if kind == "phantom":
        f_unit, _ = textured_phantom(gen)
        return lambda x: 100.0 * f_unit(x / size)  # noqa: E731
    if kind == "blobwaves":  # batch J: burst-phantom-like and smooth, a scene no earlier batch used
        u = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
        centres, widths, angles = 0.15 + 0.7 * u(10, 2), 0.04 + 0.14 * u(10, 2), math.pi * u(10)
        heights = (0.3 + 0.7 * u(10)) * torch.where(u(10) < 0.25, -1.0, 1.0)
        theta, cycles = math.pi * u(2), 8 + 8 * u(2)  # two gratings, 8-16 cycles a side, random orientations
        kvec = 2 * math.pi * cycles[:, None] * torch.stack((torch.cos(theta), torch.sin(theta)), -1)
        e_c, e_w = 0.35 + 0.3 * u(2), 0.18 + 0.12 * float(u(1))

        def blobwaves(x):
            z = x / size
            d = z[..., None, :] - centres
            c, s = torch.cos(angles), torch.sin(angles)
            a = (c * d[..., 0] + s * d[..., 1]) / widths[:, 0]
            b = (-s * d[..., 0] + c * d[..., 1]) / widths[:, 1]
            blobs = (heights * torch.exp(-0.5 * (a**2 + b**2))).sum(-1)
            envelope = torch.exp(-((z - e_c) ** 2).sum(-1) / (2 * e_w**2))
            waves = torch.cos(z @ kvec[0]) * torch.cos(z @ kvec[1])
            return 100.0 * (blobs + 0.3 * envelope * waves)

        return blobwaves
    if kind == "sharpphantom":  # batch J: Shepp-Logan-like: flat ellipses summed, hard edges (cell averages only)
        u = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
        # an outer shell (1.0 minus 0.8 inside a slightly smaller copy), then 8 inner ellipses of +-0.1..0.3
        c0, r0, a0 = 0.5 + 0.04 * (2 * u(2) - 1), torch.tensor([0.42, 0.34], dtype=torch.float64), 0.3 * u(1)
        cen = torch.cat([c0[None], c0[None], 0.3 + 0.4 * u(8, 2)])
        rad = torch.cat([r0[None], 0.92 * r0[None], 0.03 + 0.12 * u(8, 2)])
        ang = torch.cat([a0, a0, math.pi * u(8)])
        val = torch.cat([torch.tensor([1.0, -0.8], dtype=torch.float64),
                         (0.1 + 0.2 * u(8)) * torch.where(u(8) < 0.4, -1.0, 1.0)])

        def sharpphantom(x):
            d = x[..., None, :] / size - cen
            c, s = torch.cos(ang), torch.sin(ang)
            a = (c * d[..., 0] + s * d[..., 1]) / rad[:, 0]
            b = (-s * d[..., 0] + c * d[..., 1]) / rad[:, 1]
            return 200.0 * ((a**2 + b**2 <= 1).to(torch.float64) * val).sum(-1)

        return sharpphantom
    if kind == "discs":  # batch K: a sharp phantom of flat discs and squares, hard edges (cell averages only)
        u = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
        # a flat background disc of 0.6, then 10 discs and 4 rotated squares of +-0.15..0.45 (summed, overlapping)
        cen = torch.cat([torch.tensor([[0.5, 0.5]], dtype=torch.float64), 0.2 + 0.6 * u(14, 2)])
        rad = torch.cat([torch.tensor([0.45], dtype=torch.float64), 0.025 + 0.1 * u(14)])
        ang = torch.cat([torch.zeros(1, dtype=torch.float64), math.pi * u(14)])
        val = torch.cat([torch.tensor([0.6], dtype=torch.float64),
                         (0.15 + 0.3 * u(14)) * torch.where(u(14) < 0.4, -1.0, 1.0)])

        def discs(x):
            d = x[..., None, :] / size - cen
            disc = d.pow(2).sum(-1) <= rad**2
            c, s = torch.cos(ang[11:]), torch.sin(ang[11:])  # the last 4 are squares of half-side rad
            a, b = (c * d[..., 11:, 0] + s * d[..., 11:, 1]).abs(), (-s * d[..., 11:, 0] + c * d[..., 11:, 1]).abs()
            inside = torch.cat([disc[..., :11], (a <= rad[11:]) & (b <= rad[11:])], -1)
            return 200.0 * (inside.to(torch.float64) * val).sum(-1)

        return discs
    if kind == "zoneplate":
        c = size * (0.3 + 0.4 * torch.rand(2, generator=gen, dtype=torch.float64))
        rmax = float(torch.maximum(c, size - c).norm())
        k = 0.45 / rmax  # d/dr (k r^2 / 2) = k r cycles a pixel: 0.45 at rmax

        def zone(x):
            return 127.5 * (1 + torch.cos(math.pi * k * ((x - c) ** 2).sum(-1)))

        return zone
    crop = None
    if "@" in kind:
        kind, at = kind.split("@")
        crop = (*(int(v) for v in at.split(":")), 4 * size)
    src = source_image(kind, gen, crop)
    img = (src[:, None] if src.dim() == 3 else src[None, None]).flip(-2).transpose(-1, -2)  # FAIR layout [x1, x2]

    def f(x):
        g = (x / size) * 2 - 1  # [-1, 1]; grid_sample's (x, y) = (column, row) = (x2, x1)
        pts = torch.stack((g[..., 1], g[..., 0]), -1).reshape(1, -1, 1, 2).expand(img.shape[0], -1, -1, -1)
        v = torch.nn.functional.grid_sample(img, pts, mode="bilinear", padding_mode="border", align_corners=False)
        return v[:, 0, :, 0].T.reshape(*x.shape[:-1], -1) if src.dim() == 3 else v.reshape(x.shape[:-1])

    return f


MOTIONS = ("affine", "rigid", "translation")


def frame_set(kind, size, frames, noise, seed, factor=2, supersample=10, motion="affine", gain=None, turn=1.0):
    """(truth, frames, w, gains): the scene cell-averaged `supersample` times finer than the reference (fine
    grid), frame 0 at the reference pose, the others moved by random motions (affine: rotation +-10 deg, scale
    0.95-1.05 per axis, shift +-5% of the side; rigid: the same without the scale; translation: the shift
    alone; the same draws, so a seed's shifts agree across the three), each frame 1.. multiplied by a gain
    uniform in `gain` = (lo, hi) (None: 1), then Gaussian noise of `noise` times the frames' standard
    deviation (per channel). Colour kinds (COLOUR): truth (3, size, size), frames (frames, 3, ...).
    FAIR layout ([x1, x2], x2 up); gains (frames,), frame 0's 1 first. `turn` multiplies each drawn angle (a
    steadier hand: 0.05 turns +-0.5 deg) and leaves every other draw as it is (1: the draws as before, bit for bit)."""
    gen = torch.Generator().manual_seed(seed)
    omega = (0.0, float(size), 0.0, float(size))
    fine, coarse = Grid(omega, (size, size)), Grid(omega, (size // factor, size // factor))
    f = image_function(kind, size, gen)
    w = []
    for _ in range(frames - 1):
        u = torch.rand(5, generator=gen, dtype=torch.float64)
        angle = turn * (10.0 * (2 * float(u[0]) - 1)) if motion != "translation" else 0.0
        sc = (0.95 + 0.1 * float(u[1]), 0.95 + 0.1 * float(u[2])) if motion == "affine" else (1.0, 1.0)
        sh = (0.05 * size * (2 * float(u[3]) - 1), 0.05 * size * (2 * float(u[4]) - 1))
        w.append(affine_about(angle, sc, sh, fine.centre))
    gains = torch.ones(frames, dtype=torch.float64)
    if gain is not None:
        gains[1:] = gain[0] + (gain[1] - gain[0]) * torch.rand(frames - 1, generator=gen, dtype=torch.float64)
    channels = [f] if not is_colour(kind) else [lambda x, c=c: f(x)[..., c] for c in range(3)]
    truth, stack = [], []
    for fc in channels:
        truth.append(block_sample(fc, fine, supersample))
        st = [block_sample(fc, coarse, supersample * factor)]
        st += [block_sample(fc, coarse, supersample * factor, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
        stack.append(torch.stack(st) * gains[:, None, None])
    for c, st in enumerate(stack):  # noise per channel, relative to that channel's spread
        stack[c] = st + noise * st.std() * torch.randn(st.shape, generator=gen, dtype=torch.float64)
    if len(channels) == 1:
        return truth[0].numpy(), stack[0].numpy(), torch.cat(w).numpy(), gains.numpy()
    return torch.stack(truth).numpy(), torch.stack(stack, 1).numpy(), torch.cat(w).numpy(), gains.numpy()


def bicubic_psnr(problem) -> float:
    """Frame 0 upsampled by bicubic convolution (pixel centres aligned) against the truth (colour: every
    channel, PSNR over all channels as SuperRes.evaluate)."""
    f0 = problem.frames()[0][None, None] if problem.colour is None else problem.colour[0][None]
    up = torch.nn.functional.interpolate(f0, size=problem.fine.m, mode="bicubic", align_corners=False)[0]
    truth = problem.truth if problem.truth_colour is None else problem.truth_colour
    return psnr((up[0] if problem.colour is None else up).cpu().numpy(), truth.cpu().numpy())


def set_key(row) -> tuple:
    return (row["image"], row["size"], row["noise"], row["seed"], row["frames"], row.get("motion", "affine"),
            tuple(row["gain"]) if row.get("gain") else None, row.get("turn_scale", 1.0))


def draw_strokes(draw, u, big: int, count: int, width_levels: int, radius: tuple[float, float], polyline) -> None:
    """`count` dark strokes on a PIL drawing of big x big px (line-art scenes): circles, arcs and polylines, widths
    4 to 4 * (width_levels + 1) px, radii big * (radius[0] + radius[1] * U); polyline(c, r, shape) gives a polyline's
    points. u(k): k uniform draws, in the order the scenes were first drawn in (their seeds' images unchanged)."""
    for _ in range(count):
        width, fill, shape = 4 * (1 + int(width_levels * float(u(1)))), int(10 + 60 * float(u(1))), int(4 * float(u(1)))
        c, r = big * u(2), float(big * (radius[0] + radius[1] * u(1)))
        box = [float(c[0]) - r, float(c[1]) - r, float(c[0]) + r, float(c[1]) + r]
        if shape == 0:
            draw.ellipse(box, outline=fill, width=width)
        elif shape == 1:
            a0 = float(360 * u(1))
            draw.arc(box, a0, a0 + 90 + float(180 * u(1)), fill=fill, width=width)
        else:
            draw.line(polyline(c, r, shape), fill=fill, width=width, joint="curve")


def parse_set(text: str) -> dict:
    """IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION[,LO-HI]]: one frame set (--set); LO-HI the gains' range (the set is
    then run with problem.gain=true)."""
    parts = text.split(",")
    if not 5 <= len(parts) <= 7:
        raise SystemExit(f"--set {text!r}: IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION[,LO-HI]]")
    motion = parts[5] if len(parts) > 5 else "affine"
    if motion not in MOTIONS:
        raise SystemExit(f"--set {text!r}: motion {motion!r} is not one of {', '.join(MOTIONS)}")
    gain = tuple(float(v) for v in parts[6].split("-")) if len(parts) > 6 else None
    return {"kind": parts[0], "size": int(parts[1]), "frames": int(parts[2]), "noise": float(parts[3]),
            "seed": int(parts[4]), "motion": motion, "gain": gain}


def weight_search(score, start, refine: bool, lo: float = 0.0125, hi: float = 12.8) -> list[dict]:
    """score(lam) -> dict with "psnr" over the weights `start`, extended by factors of 2 while the best is at an
    end (within [lo, hi]: a judged-with-the-truth grid must not stop at its edge), then (refine) the best's
    neighbours at sqrt(2) either side."""
    tried = {lam: score(lam) for lam in start}

    def best():
        return max(tried, key=lambda lam: tried[lam]["psnr"])

    while best() == max(tried) and 2 * max(tried) <= hi:
        top = 2 * max(tried)
        tried[top] = score(top)
    while best() == min(tried) and min(tried) / 2 >= lo:
        bottom = min(tried) / 2
        tried[bottom] = score(bottom)
    if refine:
        b = best()
        for lam in (b / math.sqrt(2), b * math.sqrt(2)):
            if lo <= lam <= hi and not any(abs(math.log(lam / t)) < 0.1 for t in tried):
                tried[lam] = score(lam)
    return [{"lam": lam, **tried[lam]} for lam in sorted(tried)]


def frame_file(root: Path, kind: str, size: int, noise: float, seed: int, frames: int, motion: str, gain: bool,
               turn: float = 1.0) -> Path:
    """Where run_set writes a set's frames (.npz; --keep's folder holds them by this name)."""
    tag = "" if motion == "affine" and not gain else f"_{motion}_{gain}"
    tag += f"_turn{turn:g}" if turn != 1.0 else ""
    return root / f"{kind.replace(':', '_')}_{size}_{noise}_{seed}_{frames}{tag}.npz"


def stored_preregister(model, w0, w_alt, w_given=None) -> None:
    """model.preregister answers with the stored pre-registration w0 (or, called with a ladder's thetas, the stopped
    ladder's w_alt; called on the frames as given, superres_start.as_given_start's model.frames swapped in, the
    stored as-given ladder w_given, else w0: not taken) instead of registering again. Only for this model object:
    the pairwise start registers frame pairs through copy.copy(model) views (superres_pairwise.pairwise_motions),
    which must register for real (an instance attribute would be copied into them, every pair answered with w0:
    srfinal3 found the bench's astronaut 30.77 dB where the user's run gives 33.16)."""
    ladder = type(model).preregister.__defaults__[0]  # the class's ladder: superres_start.stopped_ladder reads it here

    class Stored(type(model)):
        def preregister(self, thetas=ladder, **kwargs):
            if self._stored_for is not self:
                return super().preregister(thetas=thetas, **kwargs)
            if self.frames is not frames:
                return (w0 if w_given is None else w_given).clone()
            return (w0 if thetas == ladder or w_alt is None else w_alt).clone()

    frames = model.frames
    model.__class__ = Stored
    model._stored_for = model


def user_answer(p, solver, solve, say):
    """The answer the regrun command keeps for problem p (run.py's sequence): solve(p) -> (result, metrics, CPU-s,
    evaluation CPU-s) at the stored pre-registration, then the run's second look (regrun/second_solve.py: gains
    solved again where the exposure varies, else problem.motion_model=auto's choice and the chosen model's answer,
    the affine one kept or not), each second solve a fresh problem with its own pre-registration. One path for
    `auto` and for a typed weight: the grid's typed weights were scored at the first (affine) answer alone, the
    model's choice left out, while the command at that weight goes on to it (camera s9484 at 0.2: the grid's
    22.90 dB, the command's 29.30; docs/superres.md, "(srfixed)"). Returns (look, CPU-s of the solves and the
    choice without the kept answer's evaluation, that evaluation's CPU-s)."""
    res, metrics, cpu, cpu_eval = solve(p)
    first = Answer(p, solver, res, answer_metrics(metrics, res))
    cpus = {}

    def solve_changed(changes):  # the run's second solve: a fresh problem, its own pre-registration
        q = p.with_changes(changes)
        r2, m2, _, cpus["eval"] = solve(q, patch=False)
        return Answer(q, solver, r2, answer_metrics(m2, r2))

    t0 = time.process_time()
    look = second_look(first, solve_changed, say)
    cpu += time.process_time() - t0 - cpus.get("eval", 0.0)  # the choice and the second solve, not its evaluation
    cpu_eval = cpus.get("eval", cpu_eval) if look.answer is not first else cpu_eval
    return look, cpu, cpu_eval


def grid_point(look, cpu: float, cpu_eval: float) -> dict:
    """A typed weight's grid entry: the kept answer's PSNR, motion error and frames check (the user's), beside the
    first (affine) answer's PSNR and motion error, which is what the grid recorded before srfixed."""
    m, first = look.answer.metrics, look.first.metrics
    return {"psnr": m["psnr"], "cpu_s": cpu, "motion_error": m.get("motion_error", math.nan),
            "check_ratio": m.get("frames_check_ratio", math.nan), "first_psnr": first["psnr"],
            "first_motion_error": first.get("motion_error", math.nan),
            "motion_model_chosen": m.get("motion_model_chosen", math.nan),
            "solved_again": m.get("solved_again", 0.0)}


def run_set(ctx, root, spec, args, reuse=None):
    """One frame set (spec: parse_set's dict): bicubic, `auto` for every rule, the grid and the peer; with `reuse`
    (this set's row of an earlier run: the same frames, as they depend on the arguments and the seed alone) only
    `auto` is run and the rest is taken from it. Every PSNR is the user's: regrun's the final solve of
    SuperRes.evaluate (at the solver's final motion, all channels), the peer's the same least squares at its
    motion (bench_superres_frames.solve_channels)."""
    kind, size, noise, seed, frames = (spec[k] for k in ("kind", "size", "noise", "seed", "frames"))
    motion, gain, turn = spec.get("motion", "affine"), spec.get("gain"), spec.get("turn_scale", 1.0)
    supersample = args.supersample if args.supersample else (10 if size < 96 else 4)
    truth, stack, w, gains = frame_set(kind, size, frames, noise, seed, supersample=supersample, motion=motion,
                                       gain=gain, turn=turn)
    if args.offset:  # srsky's prototype: the moved frames' spline then extends at the frames' level, not at 0
        if gain is not None:  # a gain multiplies the level too: the shifted frames are not a gained model's
            raise SystemExit("bench_lambda_sr: --offset with per-frame gains (a set's LO-HI) is not supported")
        level = stack.mean()
        stack, truth = stack - level, truth - level
    path = frame_file(root, kind, size, noise, seed, frames, motion, gain is not None, turn)
    if stack.ndim == 4:  # colour: channels last, as a user's array file holds them
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w, **({"gain": gains} if gain is not None else {})})

    def problem(lam, rule=None, level=True):
        extra = {} if rule is None else {"lam_rule": rule, **args.auto_set}
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), lambda_f=lam, outside=args.outside, gain=gain is not None,
                             motion_model=args.motion_model, frames_level=args.frames_level and level,
                             extension=args.extension, **extra)
        return SuperRes(cfg, ctx)

    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50, **args.solver_set), ctx)
    # --prereg-as-given: the pre-registration (computed once here, handed to every run) on the frames as given
    p0 = problem(1.0) if not args.prereg_as_given else problem(1.0, level=False)
    # independent of lambda_f: computed once, handed to every run below
    c0 = time.process_time()
    w0 = start_params(p0, "preregister")
    cpu_prereg = time.process_time() - c0

    # small frames: the stopped ladder's second start too (superres_start.second_start), also computed once
    w_alt = getattr(p0, "second_start", None)
    w_given = w_alt if getattr(p0, "start_taken", {}).get("start_as_given_taken") else None

    def solve(p, patch=True):
        if patch:  # the pre-registration computed once above (patch=False: another motion model's, its own)
            stored_preregister(p.model, w0, w_alt, w_given)
        t0 = time.process_time()
        res = solver.solve(p, Monitor())
        cpu = time.process_time() - t0
        metrics, _ = p.evaluate(res)
        return res, metrics, cpu, time.process_time() - t0 - cpu

    row = {"image": kind, "split": args.split or ("tuning" if kind in TUNING else "held-out"), "size": size,
           "noise": noise, "seed": seed, "frames": frames, "motion": motion, "gain": list(gain) if gain else None,
           **({"turn_scale": turn} if turn != 1.0 else {}),
           "channels": 1 if stack.ndim == 3 else stack.shape[1], "supersample": supersample,
           "psnr_bicubic": bicubic_psnr(p0), "cpu_prereg": cpu_prereg,
           # which second start the pre-registration took (superres_start's start_*_taken, 1 taken, 0 weighed and
           # not): p0's, the real registrations; the solves' own flags read the stored answers
           "start_taken": dict(getattr(p0, "start_taken", {}))}
    for rule in args.rules:
        look, cpu, cpu_eval = user_answer(problem("auto", rule), solver, solve, ctx.reporter.line)
        first = look.first
        res, metrics = look.answer.result, look.answer.metrics
        chosen = {"gains_solved": 1.0} if look.changes and look.changes.get("gain") else {}
        if args.motion_model == "auto":
            chosen.update({k: v for k, v in first.metrics.items() if k.startswith("motion_model_")}, **look.record)
            chosen["affine_psnr"] = first.metrics["psnr"]
            # the affine answer's fit noise (record_fit_noise), the one the choice could read beside the filter's
            chosen["affine_sigma_fit"] = float(first.result.stats.get("noise_std_fit", math.nan))
            chosen["affine_sigma_residual"] = float(first.result.stats.get("noise_std_residual", math.nan))
        row[f"auto_{rule}"] = {"lam": res.metrics["lam_chosen"], "psnr": metrics["psnr"],
                               "solves": res.metrics["lam_solves"], "sigma": res.metrics["noise_sigma"],
                               # Wahba's ||r||^2 / (m - tr H) at the chosen weight (superres_weight.record_fit_noise)
                               "sigma_fit": float(res.stats.get("noise_std_fit", math.nan)),
                               # the weak-texture patches of its residual frames (superres_weight.residual_noise)
                               "sigma_residual": float(res.stats.get("noise_std_residual", math.nan)),
                               "trace_share": float(res.stats.get("noise_fit_trace", math.nan))
                               / float(res.stats.get("noise_fit_data", math.nan)),
                               "at_edge": res.metrics["lam_at_range_edge"], "cpu_s": cpu, "cpu_eval": cpu_eval,
                               "motion_error": metrics.get("motion_error", math.nan),
                               "motion_moved": res.metrics.get("lam_motion_move", math.nan),
                               # the weight at the pre-registered motion, before the search at the final motion
                               "lam_first": res.metrics.get("lam_first", res.metrics["lam_chosen"]),
                               "lam_rechosen": res.metrics.get("lam_rechosen", math.nan),
                               # 1 where the search again followed a floor's climb (lam_rechoose_climb's trigger)
                               "after_floor_climb": res.metrics.get("lam_after_floor_climb", math.nan),
                               "solver_runs": res.metrics.get("solver_runs", 1.0),
                               "criterion_fall": res.metrics.get("lam_criterion_fall", math.nan),
                               # the run again's two starts: 1 where the pre-registration's run was kept
                               "rerun_from_start": res.metrics.get("lam_rerun_from_start", math.nan),
                               # the held-out frames check without the truth (problem.frames_check)
                               "check_ratio": metrics.get("frames_check_ratio", math.nan),
                               # the cross-validation's walk (problem.lam_cv_steps): the rule's weight before it,
                               # the weights it evaluated and its CPU
                               "cv_from": res.metrics.get("lam_cv_from", math.nan),
                               "cv_evaluations": res.metrics.get("lam_cv_evaluations", 0.0),
                               "cv_s": res.metrics.get("lam_cv_s", 0.0),
                               # the frame-split walk (problem.lam_split_steps): the weight before it, its CPU
                               "split_from": res.metrics.get("lam_split_from", math.nan),
                               "split_evaluations": res.metrics.get("lam_split_evaluations", 0.0),
                               "split_s": res.metrics.get("lam_split_s", 0.0),
                               # its weight before problem.lam_split_refine's walk, where that ran (srwalk3)
                               "split_coarse": res.metrics.get("lam_split_coarse", math.nan),
                               # its first comparison's readings (superres_cv.split_readings; srwalk)
                               **{f"split_{k}": res.metrics.get(f"lam_split_{k}", math.nan)
                                  for k in ("fall", "bias", "var", "t", "moved",
                                            # problem.lam_split_stay_climb's climb after a stay (srcell)
                                            "stay_climb", "stay_fall", "stay_skipped")},
                               # GCV's one-standard-error walk (problem.lam_se_t): the weight before it, its CPU
                               "se_from": res.metrics.get("lam_se_from", math.nan),
                               "se_evaluations": res.metrics.get("lam_se_evaluations", 0.0),
                               "se_s": res.metrics.get("lam_se_s", 0.0),
                               # --motion-model auto: the choice's metrics and the affine answer's PSNR
                               **chosen}
    if reuse is not None:
        kept = {k: v for k, v in reuse.items() if k not in row and not k.startswith("auto_") and k != "wall_s"}
        return {**row, **kept, "reused": str(args.reuse)}

    def regrun_at(lam):  # the typed weight's answer as the regrun command gives it, second look and all
        return grid_point(*user_answer(problem(lam), solver, solve, ctx.reporter.line))

    grid = weight_search(regrun_at, args.grid, args.grid_refine)
    row["grid"] = grid
    best = max(grid, key=lambda g: g["psnr"])
    row["regrun_best_lam"], row["psnr_regrun_best"] = best["lam"], best["psnr"]
    try:
        w_peer = sitk_motion(p0, gain=gain is not None)

        def peer_at(lam):
            p = problem(lam)
            return scores(p, solve_channels(p, w_peer))

        peer = weight_search(peer_at, args.grid, args.grid_refine)
        pb = max(peer, key=lambda g: g["psnr"])
        row["peer"], row["peer_best_lam"], row["psnr_peer_best"] = peer, pb["lam"], pb["psnr"]
        row["peer_motion_error"] = p0.motion_error(w_peer)
    except ImportError:
        row["psnr_peer_best"] = math.nan
    return row


def suffixed(out: Path, suffix: str) -> Path:
    """--out with a suffix added (not replaced: a name like `coffee_48_0.01` keeps its `.01`)."""
    return out.with_name(out.name + suffix)


def describe(row) -> str:
    """The image, and what is not the default: motion other than affine, gains, colour."""
    extra = [row["motion"]] if row.get("motion", "affine") != "affine" else []
    extra += ["RGB"] if row.get("channels", 1) > 1 else []
    extra += [f"gain {row['gain'][0]:g}-{row['gain'][1]:g}"] if row.get("gain") else []
    extra += [f"turns x{row['turn_scale']:g}"] if row.get("turn_scale", 1.0) != 1.0 else []
    return row["image"] + (f" ({', '.join(extra)})" if extra else "")


def markdown(rows, rules, default) -> str:
    head = ("| image | size | frames | noise | seed | bicubic | regrun best lambda_f (PSNR) | peer best (PSNR) | "
            + " | ".join(f"auto {r}: lambda_f (PSNR)" for r in rules) + f" | {default} - bicubic | "
            f"{default} - regrun best | {default} - peer best | {default} CPU-s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        a = r[f"auto_{default}"]["psnr"]
        autos = " | ".join(f"{r[f'auto_{x}']['lam']:.3g} ({r[f'auto_{x}']['psnr']:.2f})" if f"auto_{x}" in r else "-"
                           for x in rules)
        lines.append(f"| {describe(r)} | {r['size']}² | {r['frames']} | {r['noise']:.1%} | {r['seed']} | "
                     f"{r['psnr_bicubic']:.2f} | "
                     f"{r['regrun_best_lam']:.3g} ({r['psnr_regrun_best']:.2f}) | "
                     f"{r.get('peer_best_lam', math.nan):.3g} ({r['psnr_peer_best']:.2f}) | {autos} | "
                     f"{a - r['psnr_bicubic']:+.2f} | {a - r['psnr_regrun_best']:+.2f} | "
                     f"{a - r['psnr_peer_best']:+.2f} | {r[f'auto_{default}'].get('cpu_s', math.nan):.1f} |")
    return "\n".join(lines)


def summary(rows, rules) -> str:
    """Per split and rule: the issue's three targets counted over the sets."""
    out = []
    for split in dict.fromkeys(r["split"] for r in rows):
        part = [r for r in rows if r["split"] == split]
        if not part:
            continue
        for x in rules:
            ran = [r for r in part if f"auto_{x}" in r]
            a = np.array([r[f"auto_{x}"]["psnr"] for r in ran])
            d_bic = a - np.array([r["psnr_bicubic"] for r in ran])
            d_best = a - np.array([r["psnr_regrun_best"] for r in ran])
            d_peer = a - np.array([r["psnr_peer_best"] for r in ran])
            out.append(f"- {split}, `{x}` ({len(ran)} sets): below bicubic on {int((d_bic < 0).sum())} (worst "
                       f"{d_bic.min():+.2f} dB, mean {d_bic.mean():+.2f}); within 0.75 dB of regrun's best on "
                       f"{int((d_best >= -0.75).sum())} (worst {d_best.min():+.2f}, mean {d_best.mean():+.2f}); at or "
                       f"above the peer's best - 0.5 dB on {int((d_peer >= -0.5).sum())} (worst {d_peer.min():+.2f}, "
                       f"mean {d_peer.mean():+.2f})")
        below = sum(r["psnr_regrun_best"] < r["psnr_bicubic"] for r in part)
        out.append(f"- {split}: regrun at its best grid weight is below bicubic on {below} of {len(part)} sets")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", nargs="+", default=list(HELD_OUT),
                    help=f"phantom, camera (the tuning split: {', '.join(TUNING)}), sk:NAME, fair:NAME, texture")
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 32, 48])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.005, 0.01, 0.03])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--frames", type=int, nargs="+", default=[8])
    ap.add_argument("--rules", nargs="+", default=["gcv", "sure"], choices=RULES)
    ap.add_argument("--default", default="gcv", choices=RULES, help="the rule the summary columns judge")
    ap.add_argument("--grid", type=float, nargs="+", default=[0.03, 0.1, 0.2, 0.3, 0.5, 1.0])
    ap.add_argument("--grid-refine", action="store_true", help="after the grid (extended by factors of 2 while its "
                    "best is at an end), the best's neighbours at sqrt(2) either side (regrun's and the peer's)")
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, metavar="IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION[,LO-HI]]",
                    help="these frame sets instead of the product of --images/--sizes/--noise/--seeds/--frames; MOTION "
                    f"one of {', '.join(MOTIONS)} (default affine); LO-HI: per-frame gains in that range, run with "
                    "problem.gain=true")
    ap.add_argument("--supersample", type=int, help="the scene's samples per fine pixel a side (default 10 below 96^2, "
                    "4 from 96^2: 10 at 256^2 from 16 frames is ~100M samples)")
    ap.add_argument("--split", help="the split's name in the table's summary (default: tuning for phantom and "
                    "camera, held-out otherwise)")
    ap.add_argument("--keep", type=Path, help="write the frame sets (.npz) here and keep them (default: a temporary "
                    "folder), e.g. to time the user's command on them")
    ap.add_argument("--outside", default="drop", choices=["drop", "keep"],
                    help="problem.outside (drop: the default for a user's frames)")
    ap.add_argument("--merge", type=Path, nargs="+", help="no runs: the table and summary of these .json outputs "
                    "(runs split over processes), written to --out .md")
    ap.add_argument("--turn-scale", type=float, default=1.0, help="every drawn rotation angle times this (the draws: "
                    "+-10 deg; 0.05: +-0.5 deg, a steadier hand), the rest of each draw as it is; > 0")
    ap.add_argument("--reuse", type=Path, nargs="+", help="earlier .json outputs: the grid and the peer of a set "
                    "found there are taken from them, only auto is run (after a change to auto alone)")
    ap.add_argument("--auto-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="problem settings for the auto runs only (e.g. lam_rechoose=0; numbers parsed as YAML)")
    ap.add_argument("--solver-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="solver (varpro_cg) settings for every run (e.g. max_iter=18); with --reuse only auto runs, "
                    "so only auto sees them")
    ap.add_argument("--motion-model", default="affine", choices=MOTION_MODELS + ("auto",),
                    help="problem.motion_model of every regrun run (pre-registration, auto, grid); affine here by "
                    "default so earlier runs stay comparable, while a user's frames get auto since session 25: pass "
                    "--motion-model auto (with --frames-level) to measure what the user gets; with --reuse "
                    "the grid and the peer come from the earlier (affine) run, so only auto's model changes; auto: "
                    "the affine answer, then the run's choice (SuperRes.solve_again) and the chosen model's answer "
                    "(with any model, auto solves again with gains where the run's exposure check says so); "
                    "the grid makes no choice, so with auto it is the affine model's grid (srfinal5: equal to "
                    "--motion-model affine's to the printed digit)")
    ap.add_argument("--frames-level", action="store_true",
                    help="problem.frames_level=true in every run (auto, the grid, the peer's image): srsky's change")
    ap.add_argument("--extension", choices=("zero", "edge"), default="zero",
                    help="problem.extension in every run (auto, the grid, the stored pre-registration's problem): "
                         "the fine image beyond its grid (srextend's change)")
    ap.add_argument("--prereg-as-given", action="store_true",
                    help="with --frames-level: the pre-registration on the frames as given, the solves with the level")
    ap.add_argument("--offset", action="store_true",
                    help="frames and truth minus the frames' mean (PSNR unchanged; no gains): what a model whose "
                         "spline extends beyond the fine grid at the frames' level, not at zero, would see "
                         "(docs/superres.md, srsky)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/lambda_sr"))
    args = ap.parse_args(argv)
    if not args.turn_scale > 0 or not math.isfinite(args.turn_scale):
        raise SystemExit(f"bench_lambda_sr: --turn-scale {args.turn_scale:g}: the drawn angles' factor must be a "
                         "finite number > 0")
    import yaml

    args.auto_set, args.solver_set = ({k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in pairs)}
                                      for pairs in (args.auto_set, args.solver_set))
    if args.merge:
        rows = [r for path in args.merge for r in json.loads(path.read_text())["rows"]]
        rules = sorted({x for x in RULES for r in rows if f"auto_{x}" in r}, key=lambda x: x != args.default)
        md = markdown(rows, rules, args.default) + "\n\n" + summary(rows, rules)
        suffixed(args.out, ".md").write_text(md + "\n")
        print(md)
        return
    torch.set_num_threads(args.threads)
    try:  # the peer on as many threads as regrun
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    except ImportError:
        pass
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    earlier = {set_key(r): r for path in args.reuse or [] for r in json.loads(path.read_text())["rows"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            tmp = args.keep
        specs = args.sets or [{"kind": kind, "size": size, "noise": noise, "seed": seed, "frames": frames}
                              for size in args.sizes for kind in args.images
                              for noise, seed, frames in itertools.product(args.noise, args.seeds, args.frames)]
        specs = [{**spec, "turn_scale": args.turn_scale} for spec in specs]
        for spec in specs:
            t0 = time.perf_counter()
            key = set_key({"image": spec["kind"], **spec})
            r = run_set(ctx, Path(tmp), spec, args, earlier.get(key))
            r["wall_s"] = time.perf_counter() - t0
            rows.append(r)
            autos = ", ".join(f"{x} {r[f'auto_{x}']['lam']:.3g} -> {r[f'auto_{x}']['psnr']:.2f} "
                              f"({r[f'auto_{x}']['cpu_s']:.1f} CPU-s)" for x in args.rules)
            print(f"{describe(r)} {r['size']}^2 {r['frames']} frames noise {r['noise']:g} seed {r['seed']}: bicubic "
                  f"{r['psnr_bicubic']:.2f}, regrun best {r['regrun_best_lam']:g} -> {r['psnr_regrun_best']:.2f}, "
                  f"peer best {r.get('peer_best_lam', math.nan):g} -> {r['psnr_peer_best']:.2f}; auto: {autos}; "
                  f"{r['wall_s']:.0f} s", flush=True)
            suffixed(args.out, ".json").write_text(json.dumps(
                {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    md = markdown(rows, args.rules, args.default) + "\n\n" + summary(rows, args.rules)
    suffixed(args.out, ".md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
