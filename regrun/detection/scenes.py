"""Scenes for crab detection: the paper's five beach scenes, any image file, and generated scenes (eq. 8) with
the template at any rotation and position, optionally articulated parts, on the beach or procedural clutter.

Conventions: (C, H, W) tensors in [0, 1]; points are (row, col) pixel indices; an angle is in degrees, positive
clockwise as displayed (the paper's scenes: at +7.5 deg the right claw drops). Observations are rendered with
Keys cubic convolution (a = -0.5) and pasted with a rounded (binary) alpha, as the authors made theirs. Random
draws use a CPU generator, so a seed gives the same scene on every device; the result is then moved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..imaging.gaussian import gaussian_filter
from ..imaging.io import resolve_data_path
from ..imaging.keys import keys_sample
from ..imaging.transforms import rotation_matrix
from .crab_data import Template, downscale_point, read_rgba

PAPER_ANGLES = (0.0, 7.5, 15.0, 22.5, 30.0)
# The v1 scenes paste the 184 x 246 crab with its top-left near (100, 100) and rotate it about its own centre
# (refine_data README): the template centre (91.5, 122.5) lands at (191.5, 222.5).
PAPER_CENTRE = (191.5, 222.5)
BEACH_CROP = (800, 400)  # top-left (row, col) of the paper's 0-22.5 deg scenes in beach_bg.jpg
# beach_bg.jpg (1536 x 2048: sky, trees and sand on the left, sky, sea and surf on the right) is split by columns so
# that no evaluation crop was seen by calibration: calibration scenes are cut from cols >= 1212 (right of the paper's
# Fig. 3 crops, rows 800-1183, cols 400-911), held-out evaluation scenes from cols < 1212 (they may overlap the
# paper's crops, which no calibration used either). (rows, cols) half-open ranges a crop must lie in.
BEACH_REGIONS = {"calibration": ((0, 1536), (1212, 2048)), "heldout": ((0, 1536), (0, 1212))}


def pixel_grid(h: int, w: int, dtype=torch.float64, device="cpu") -> torch.Tensor:
    r = torch.arange(h, dtype=dtype, device=device)
    c = torch.arange(w, dtype=dtype, device=device)
    return torch.stack(torch.meshgrid(r, c, indexing="ij"), dim=-1)


@dataclass
class Truth:
    """Where the template is in a scene: its centre, global angle, and each leaf's pivot and total angle.
    centre None: no template in the scene when `known` (a generated crab-free scene), or nothing known about the
    scene at all (`known=False`: a user's image, judged by its detections only)."""

    centre: tuple[float, float] | None
    angle: float = 0.0
    parts: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # name -> (row, col, angle)
    known: bool = True

    def downscaled(self, factor: int) -> "Truth":
        if self.centre is None:
            return self
        parts = {k: (*downscale_point(v[:2], factor), v[2]) for k, v in self.parts.items()}
        return Truth(downscale_point(self.centre, factor), self.angle, parts)


@dataclass
class Scene:
    image: torch.Tensor  # (3, H, W)
    truth: Truth
    label: str


# ---- backgrounds -------------------------------------------------------------------------------------------------
def has_beach(data_dir: str) -> bool:
    """Whether data_dir holds the beach photograph that beach_background crops."""
    return (resolve_data_path(data_dir) / "beach_bg.jpg").is_file()


def beach_background(data_dir: str, size: tuple[int, int], top_left: tuple[int, int] | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """A crop of the CC0 beach photograph (refine_data/beach_bg.jpg): at top_left, else at random."""
    path = resolve_data_path(data_dir) / "beach_bg.jpg"
    if not path.is_file():
        raise UserError(f"problem.data_dir={data_dir!r}: no beach_bg.jpg in {path.parent}; "
                        "use problem.scene.background=clutter to generate one")
    rgb, _ = read_rgba(path)
    h, w = size
    if h > rgb.shape[1] or w > rgb.shape[2]:
        raise UserError(f"a {h}x{w} scene does not fit in the {rgb.shape[1]}x{rgb.shape[2]} beach photograph")
    if top_left is None:
        g = generator or torch.Generator().manual_seed(0)
        top_left = (int(torch.randint(0, rgb.shape[1] - h + 1, (1,), generator=g)),
                    int(torch.randint(0, rgb.shape[2] - w + 1, (1,), generator=g)))
    i, j = top_left
    return torch.from_numpy(np.ascontiguousarray(rgb[:, i:i + h, j:j + w]))


def beach_region_crop(data_dir: str, size: tuple[int, int], region: str, generator: torch.Generator) -> torch.Tensor:
    """A random crop of the beach photograph lying wholly in BEACH_REGIONS[region]."""
    (r0, r1), (c0, c1) = BEACH_REGIONS[region]
    h, w = size
    if h > r1 - r0 or w > c1 - c0:
        raise UserError(f"a {h}x{w} scene does not fit in the beach photograph's {region} region "
                        f"(rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1})")
    top = (int(torch.randint(r0, r1 - h + 1, (1,), generator=generator)),
           int(torch.randint(c0, c1 - w + 1, (1,), generator=generator)))
    return beach_background(data_dir, size, top)


def clutter_background(size: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """Procedural 'sand': a sand-coloured field with noise at several scales, pebbles and dark strokes, so that
    textured motifs meet texture of their own scale (a blank background would make detection trivial)."""
    h, w = size
    rand = lambda *s: torch.rand(*s, generator=generator, dtype=torch.float64, device="cpu")  # noqa: E731
    base = torch.tensor([0.72, 0.62, 0.48], dtype=torch.float64, device="cpu")[:, None, None]
    img = base.expand(3, h, w).clone()
    for sigma, amp in ((24.0, 0.10), (6.0, 0.06), (1.5, 0.05), (0.0, 0.03)):
        n = torch.randn(1, h, w, generator=generator, dtype=torch.float64, device="cpu")
        if sigma:
            n = gaussian_filter(n, sigma)
        n = n / n.std()
        img = img + amp * n * (0.8 + 0.4 * rand(3, 1, 1))
    for _ in range(int(h * w / 1500)):  # pebbles: small ellipses of random colour
        c = rand(2) * torch.tensor([h, w], dtype=torch.float64, device="cpu")
        ax = 2 + 6 * rand(2)
        r0, c0 = max(int(c[0] - ax[0]) - 1, 0), max(int(c[1] - ax[1]) - 1, 0)
        r1, c1 = min(int(c[0] + ax[0]) + 2, h), min(int(c[1] + ax[1]) + 2, w)
        local = pixel_grid(r1 - r0, c1 - c0) + torch.tensor((r0, c0), dtype=torch.float64, device="cpu")
        d = ((local - c) / ax).pow(2).sum(-1) <= 1
        colour = (0.25 + 0.6 * rand(3, 1, 1)).expand(3, r1 - r0, c1 - c0)
        img[:, r0:r1, c0:c1] = torch.where(d, colour, img[:, r0:r1, c0:c1])
    for _ in range(int(h * w / 6000)):  # twigs / shadows: dark strokes
        p = rand(2) * torch.tensor([h, w], dtype=torch.float64, device="cpu")
        q = p + (rand(2) - 0.5) * 60
        width = 1 + 1.5 * float(rand(1))
        r0, c0 = max(int(min(p[0], q[0]) - width) - 1, 0), max(int(min(p[1], q[1]) - width) - 1, 0)
        r1, c1 = min(int(max(p[0], q[0]) + width) + 2, h), min(int(max(p[1], q[1]) + width) + 2, w)
        if r1 <= r0 or c1 <= c0:
            continue
        local = pixel_grid(r1 - r0, c1 - c0) + torch.tensor((r0, c0), dtype=torch.float64, device="cpu")
        d = q - p
        t = (((local - p) * d).sum(-1) / (d @ d)).clamp(0, 1)
        near = ((local - p - t[..., None] * d) ** 2).sum(-1) <= width**2
        shade = (0.1 + 0.25 * rand(1)).expand(3, r1 - r0, c1 - c0)
        img[:, r0:r1, c0:c1] = torch.where(near, shade, img[:, r0:r1, c0:c1])
    return img.clamp(0, 1)


# ---- observations (eq. 8) ----------------------------------------------------------------------------------------
def articulated_template(template: Template, articulation: dict[str, float], pad: int):
    """The template with each part rotated about its pivot by articulation[name] degrees, on a canvas padded by
    `pad` on every side: (RGB (3, H+2p, W+2p) premultiplied by alpha, alpha)."""
    h, w = template.size
    dt, dev = template.image.dtype, template.image.device
    rgb = torch.nn.functional.pad(template.body, (pad,) * 4)
    alpha = torch.nn.functional.pad(template.body_mask, (pad,) * 4)
    for name, part in template.parts.items():
        pivot = torch.tensor(part.pivot, dtype=dt, device=dev)
        origin = torch.tensor((part.offset[0] + pad, part.offset[1] + pad), dtype=dt, device=dev)
        # Only the disc the rotated motif can reach is resampled: canvas point q shows the motif at
        # R(-theta)(q - origin - pivot) + pivot.
        reach = math.ceil(max(math.hypot(part.pivot[0] - a, part.pivot[1] - b)
                              for a in (0, part.size[0]) for b in (0, part.size[1]))) + 2
        p0 = (int(part.offset[0] + pad + part.pivot[0]), int(part.offset[1] + pad + part.pivot[1]))
        r0, r1 = max(p0[0] - reach, 0), min(p0[0] + reach + 1, h + 2 * pad)
        c0, c1 = max(p0[1] - reach, 0), min(p0[1] + reach + 1, w + 2 * pad)
        grid = pixel_grid(r1 - r0, c1 - c0, dt, dev) + torch.tensor((r0, c0), dtype=dt, device=dev)
        rot_inv = rotation_matrix(-articulation.get(name, 0.0), degrees=True, clockwise=True, dtype=dt, device=dev)
        q = (grid - origin - pivot) @ rot_inv.T + pivot
        sampled = keys_sample(torch.cat((part.image, part.mask[None]), 0), q)
        m = (sampled[3] > 0.5).to(dt)
        rgb[:, r0:r1, c0:c1] = rgb[:, r0:r1, c0:c1] * (1 - m) + sampled[:3].clamp(0, 1) * m
        alpha[r0:r1, c0:c1] = torch.maximum(alpha[r0:r1, c0:c1], m)
    return rgb, alpha


def compose_scene(template: Template, background: torch.Tensor, centre: tuple[float, float], angle: float = 0.0,
                  articulation: dict[str, float] | None = None, label: str = "") -> Scene:
    """Paste the template, rotated by `angle` about its centre and with parts articulated, so that its centre
    lands at `centre` of the background (eq. 8)."""
    articulation = articulation or {}
    dt, dev = background.dtype, background.device
    template = template.to(dev, dt)
    h, w = template.size
    pad = int(math.ceil(0.5 * math.hypot(h, w)))
    rgb, alpha = articulated_template(template, articulation, pad)
    tc = torch.tensor(template.centre, dtype=dt, device=dev) + pad
    sc = torch.tensor(centre, dtype=dt, device=dev)
    # resample only the box the padded canvas can cover around the centre
    bh, bw = background.shape[-2:]
    r0, r1 = max(int(centre[0]) - pad - 2, 0), min(int(centre[0]) + pad + 3, bh)
    c0, c1 = max(int(centre[1]) - pad - 2, 0), min(int(centre[1]) + pad + 3, bw)
    image = background.clone()
    if r1 > r0 and c1 > c0:
        grid = pixel_grid(r1 - r0, c1 - c0, dt, dev) + torch.tensor((r0, c0), dtype=dt, device=dev)
        q = (grid - sc) @ rotation_matrix(-angle, degrees=True, clockwise=True, dtype=dt, device=dev).T + tc
        sampled = keys_sample(torch.cat((rgb, alpha[None]), 0), q)
        a = (sampled[3] > 0.5).to(dt)
        image[:, r0:r1, c0:c1] = background[:, r0:r1, c0:c1] * (1 - a) + sampled[:3].clamp(0, 1) * a
    rot = rotation_matrix(angle, degrees=True, clockwise=True, device="cpu")
    parts = {}
    for name, part in template.parts.items():
        p = (torch.tensor(part.pivot_in_template(), dtype=torch.float64, device="cpu")
             - torch.tensor(template.centre, dtype=torch.float64, device="cpu"))
        pos = torch.tensor(centre, dtype=torch.float64, device="cpu") + rot @ p
        parts[name] = (float(pos[0]), float(pos[1]), angle + articulation.get(name, 0.0))
    return Scene(image, Truth(tuple(map(float, centre)), angle, parts), label)


def paper_scene(data_dir: str, angle: float, template: Template | None = None) -> Scene:
    """One of the paper's Fig. 3 scenes (crab_beach_{angle}deg.png, 384 x 512). Its truth is the v1 layout: the
    crab's centre at PAPER_CENTRE, rotated by `angle` (clockwise as displayed); part positions follow from the
    template's pivots when the v1 template is given."""
    if angle not in PAPER_ANGLES:
        raise UserError(f"problem.scene.angle={angle} has no paper scene; the paper's are {list(PAPER_ANGLES)}")
    path = resolve_data_path(data_dir) / f"crab_beach_{angle:.1f}deg.png"
    if not path.is_file():
        raise UserError(f"problem.data_dir={data_dir!r}: {path.name} not found in {path.parent}")
    rgb, _ = read_rgba(path)
    parts = {}
    if template is not None:
        rot = rotation_matrix(angle, degrees=True, clockwise=True, device="cpu")
        for name, part in template.parts.items():
            p = (torch.tensor(part.pivot_in_template(), dtype=torch.float64, device="cpu")
                 - torch.tensor(template.centre, dtype=torch.float64, device="cpu"))
            pos = torch.tensor(PAPER_CENTRE, dtype=torch.float64, device="cpu") + rot @ p
            parts[name] = (float(pos[0]), float(pos[1]), angle)
    return Scene(torch.from_numpy(rgb), Truth(PAPER_CENTRE, angle, parts), f"paper {angle} deg")


def image_scene(path: str) -> Scene:
    """Any image file PIL reads as a scene (no ground truth): see crab_data.read_rgba for the formats."""
    rgb, _ = read_rgba(resolve_data_path(path))
    return Scene(torch.from_numpy(rgb), Truth(None, known=False), Path(path).name)


def downscale_scene(scene: Scene, factor: int) -> Scene:
    if factor == 1:
        return scene
    img = torch.nn.functional.avg_pool2d(scene.image[None], factor, ceil_mode=True)[0]
    return Scene(img, scene.truth.downscaled(factor), f"{scene.label} /{factor}")


def resampled_size(size: tuple[int, int], object_scale: float) -> tuple[int, int]:
    """The scene's (rows, cols) once resampled by 1 / object_scale: objects object_scale times the template's size
    come out at the template's (each side rounded, at least 1 px)."""
    return tuple(max(1, round(n / object_scale)) for n in size)


def photo_point(p, factors) -> tuple[float, float]:
    """A pixel index of a scene resampled (or block-averaged) by `factors` (photo px per scene px, per axis) -> the
    photo's pixel index; pixel centres map to pixel centres (x + 1/2 scales), as align_corners=False resampling and
    block averages both place them (crab_data.downscale_point is its inverse for an integer factor)."""
    return tuple((x + 0.5) * f - 0.5 for x, f in zip(p, factors))


def resample_scene(scene: Scene, size: tuple[int, int]) -> Scene:
    """The scene resampled to `size` (rows, cols): antialiased bilinear when shrinking (each output pixel averages
    the photo's pixels it covers, as a block average does), bilinear when enlarging; the truth moved with it."""
    h, w = scene.image.shape[-2:]
    if (h, w) == tuple(size):
        return scene
    img = torch.nn.functional.interpolate(scene.image[None], size=tuple(size), mode="bilinear", align_corners=False,
                                          antialias=True)[0].clamp(0, 1)
    truth = scene.truth
    if truth.centre is not None:
        inv = (size[0] / h, size[1] / w)   # scene px per photo px
        parts = {k: (*photo_point(v[:2], inv), v[2]) for k, v in truth.parts.items()}
        truth = Truth(photo_point(truth.centre, inv), truth.angle, parts, truth.known)
    return Scene(img, truth, scene.label)


def mosaic(images: list[torch.Tensor], gap: int, align: int) -> tuple[torch.Tensor, list[int]]:
    """(3, H_i, W_i) images side by side, top-aligned, `gap` columns or more apart, each starting at a multiple of
    `align` (a block average by problem.scale keeps every tile on whole blocks); the rest is each channel's mean
    over the images (flat: no motif matches it). Returns the canvas and each image's first column."""
    offsets, col = [], 0
    for img in images:
        offsets.append(col)
        col = -(-(col + img.shape[-1] + gap) // align) * align
    h = max(img.shape[-2] for img in images)
    fill = torch.stack([img.mean((-2, -1)) for img in images]).mean(0)
    canvas = fill[:, None, None].expand(3, h, offsets[-1] + images[-1].shape[-1]).clone()
    for img, c in zip(images, offsets):
        canvas[:, :img.shape[-2], c:c + img.shape[-1]] = img
    return canvas, offsets


def part_ranges(parts, spec: dict[str, float]) -> dict[str, float]:
    """How far each part may turn (degrees, +-) from a mapping of keys to degrees: the key that is the part's name,
    else the longest key contained in it (claw: left_claw and right_claw), else `other` (0 when absent)."""
    out = {}
    for name in parts:
        if name in spec:
            out[name] = float(spec[name])
            continue
        keys = sorted((k for k in spec if k != "other" and k in name), key=len, reverse=True)
        if keys:
            out[name] = float(spec[keys[0]])
        else:   # a template file that names no `other` declares that unnamed parts do not turn
            out[name] = float(spec["other"]) if "other" in spec else 0.0
    return out


def articulation_ranges(template: Template, spec: dict[str, float] | None = None) -> dict[str, float]:
    """Each part's range for generated scenes: the template's own (Template.articulation: declared in its file, the
    crab's issue-11 ranges) when spec is None, else part_ranges(spec)."""
    return dict(template.articulation) if spec is None else part_ranges(template.parts, spec)


def parse_ranges(items: list[str] | None, **shorthands: float | None) -> dict[str, float] | None:
    """Command-line KEY=DEGREES items (the scripts' --articulation) and shorthands (--claw DEG: claw=DEG; None: not
    given) as a mapping; None when nothing is given (then the template's own ranges apply)."""
    given = {k: float(v) for k, v in shorthands.items() if v is not None}
    if not items:
        return given or None
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise UserError(f"--articulation {item!r} must be KEY=DEGREES (a part name, a piece of part names, or "
                            "other)")
    return {**out, **given}


def random_pose(generator: torch.Generator, size: tuple[int, int], template: Template, max_angle: float,
                articulation: dict[str, float] | None = None):
    """A random centre (the whole rotated template inside the scene), a global angle in [-max, max] and each
    part's articulation angle uniform in [-r, r], r = articulation[part] (part_ranges; 0 when absent: no draw)."""
    u = lambda lo, hi: lo + (hi - lo) * float(torch.rand(1, generator=generator, dtype=torch.float64, device="cpu"))  # noqa: E731
    r = 0.5 * math.hypot(*template.size)
    h, w = size
    if h < 2 * r + 2 or w < 2 * r + 2:
        margin = (0.5 * template.size[0], 0.5 * template.size[1])
    else:
        margin = (r, r)
    centre = (u(margin[0], h - 1 - margin[0]), u(margin[1], w - 1 - margin[1]))
    articulation = articulation or {}
    art = {}
    for name in template.parts:
        lim = articulation.get(name, 0.0)
        art[name] = u(-lim, lim) if lim else 0.0
    return centre, u(-max_angle, max_angle), art
