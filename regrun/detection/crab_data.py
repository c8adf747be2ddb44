"""Hierarchical templates for detection (seed 002 §4.1, eq. 7): the tree of parts as data, one constructor every
template goes through (assemble_template), the authors' crab read from refine_data, a synthetic textured crab with
the same tree so that no file is needed, and the dispatch to a template of the user's own (an image and a YAML
naming its parts: template_file.py).

A template is a canonical RGB image y_o on black, its leaf motifs x_k with binary masks, where each motif sits
in y_o (offset, row/col of its top-left pixel) and the joint it articulates about (pivot, row/col in the motif),
and the static body y_o - sum_k x_k * e_{i_k j_k}. Images are (C, H, W) tensors with values in [0, 1], the RGB
exactly 0 outside a motif's mask (the authors' convention).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..imaging.io import IMAGE_SUFFIXES, resolve_data_path, upright
from .drawing import ellipse, segment, texture

# The crab's hierarchy (notes §1): parent -> children, children in the order of the parent's scene channels.
CRAB_TREE = {"crab": ("left_claw", "right_claw", "eye_pair"), "eye_pair": ("left_eye", "right_eye")}
CRAB_ROOT = "crab"
LEAVES = ("left_claw", "right_claw", "left_eye", "right_eye")
# How far each crab part may turn about its joint (degrees, +-): issue 11's claws +-15, eyes +-5, what the
# calibration and bench scripts draw by default (the whole-circle file and crab_eval use 20 and 8, given explicitly);
# a template file declares its own.
CRAB_ARTICULATION = {"left_claw": 15.0, "right_claw": 15.0, "left_eye": 5.0, "right_eye": 5.0}
# Joints the authors hard-code at HEAD (row, col in each detection_images/ motif): notes §1, refine_data README.
HEAD_PIVOTS = {"left_eye": (82.0, 4.0), "right_eye": (81.0, 4.0), "left_claw": (51.0, 38.0),
               "right_claw": (45.0, 3.0)}
REFINE_VERSIONS = ("v1", "head")


def depth_first_order(tree: dict[str, tuple[str, ...]], root: str) -> list[tuple[str, int]]:
    """(node, depth) for every node, deepest first; nodes of equal depth in tree order (the paper's traversal)."""
    out, frontier, depth = [], [root], 0
    levels = []
    while frontier:
        levels.append([(n, depth) for n in frontier])
        frontier = [c for n in frontier for c in tree.get(n, ())]
        depth += 1
    for level in reversed(levels):
        out.extend(level)
    return out


def leaves_of(tree: dict[str, tuple[str, ...]], node: str) -> list[str]:
    kids = tree.get(node, ())
    return [node] if not kids else [leaf for k in kids for leaf in leaves_of(tree, k)]


def downscale_point(p, factor: int):
    """Pixel-index coordinates after averaging factor x factor blocks (block i covers pixels factor*i ...)."""
    return tuple((x - (factor - 1) / 2) / factor for x in p)


@dataclass
class Part:
    """A leaf motif: image (C, h, w), binary mask (h, w), top-left offset in the template, pivot in the motif."""

    image: torch.Tensor
    mask: torch.Tensor
    offset: tuple[int, int]
    pivot: tuple[float, float]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.mask.shape)

    def pivot_in_template(self) -> tuple[float, float]:
        return (self.offset[0] + self.pivot[0], self.offset[1] + self.pivot[1])


@dataclass
class Template:
    name: str
    image: torch.Tensor  # (3, H, W), the canonical template y_o on black
    mask: torch.Tensor   # (H, W), its support
    body: torch.Tensor   # (3, H, W): y_o without the parts (the static body of eq. 7)
    body_mask: torch.Tensor
    parts: dict[str, Part]
    tree: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(CRAB_TREE))
    root: str = CRAB_ROOT
    articulation: dict[str, float] = field(default_factory=dict)  # leaf -> how far it may turn (degrees, +-)
    source: Path | None = None  # the template file it was read from (None: a built-in crab)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.mask.shape)

    @property
    def centre(self) -> tuple[float, float]:
        h, w = self.size
        return ((h - 1) / 2, (w - 1) / 2)

    def to(self, device=None, dtype=None) -> "Template":
        mv = lambda t: t.to(device=device, dtype=dtype)  # noqa: E731
        parts = {k: replace(p, image=mv(p.image), mask=mv(p.mask)) for k, p in self.parts.items()}
        return replace(self, image=mv(self.image), mask=mv(self.mask), body=mv(self.body),
                       body_mask=mv(self.body_mask), parts=parts)

    def downscaled(self, factor: int = 2) -> "Template":
        """Every image averaged over factor x factor blocks; masks re-binarised at 1/2; offsets and pivots scaled.
        Offsets are rounded down, so parts stay aligned with the template only where they are multiples of
        factor: the motifs are re-cut from the downscaled template to keep eq. 7 exact."""
        if factor == 1:
            return self
        pool = lambda t: torch.nn.functional.avg_pool2d(t[None] if t.dim() == 3 else t[None, None],  # noqa: E731
                                                        factor, ceil_mode=True)[0]
        image = pool(self.image)
        mask = (pool(self.mask)[0] > 0.5).to(self.mask.dtype)
        parts = {}
        for name, p in self.parts.items():
            o0, o1 = p.offset[0] // factor, p.offset[1] // factor
            h = -(-(p.offset[0] + p.size[0]) // factor) - o0
            w = -(-(p.offset[1] + p.size[1]) // factor) - o1
            full = torch.zeros_like(self.mask)
            full[p.offset[0]:p.offset[0] + p.size[0], p.offset[1]:p.offset[1] + p.size[1]] = p.mask
            pm = (pool(full)[0] > 0.5).to(self.mask.dtype)[o0:o0 + h, o1:o1 + w]
            pi = image[:, o0:o0 + h, o1:o1 + w] * pm
            pt = downscale_point((p.offset[0] + p.pivot[0], p.offset[1] + p.pivot[1]), factor)
            pivot = (pt[0] - o0, pt[1] - o1)
            parts[name] = Part(pi, pm, (o0, o1), pivot)
        union = torch.zeros_like(mask)
        for name, p in parts.items():
            union[p.offset[0]:p.offset[0] + p.size[0], p.offset[1]:p.offset[1] + p.size[1]] += p.mask
        body_mask = mask * (union == 0).to(mask.dtype)
        return replace(self, name=f"{self.name}/{factor}", image=image * mask, mask=mask,
                       body=image * body_mask, body_mask=body_mask, parts=parts)


def part_from_mask(image: torch.Tensor, shape: torch.Tensor, pivot: tuple[float, float]) -> Part:
    """A leaf cut out of a full-canvas image (3, H, W) by its boolean shape (H, W): cropped to the shape's bounding
    box, black outside the shape; `pivot` (its joint) is given in template coordinates."""
    rows = torch.nonzero(shape.any(1)).flatten()
    cols = torch.nonzero(shape.any(0)).flatten()
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    pm = shape[r0:r1, c0:c1].to(torch.float64)
    return Part(image[:, r0:r1, c0:c1] * pm, pm, (r0, c0), (pivot[0] - r0, pivot[1] - c0))


def assemble_template(name: str, image: torch.Tensor, mask: torch.Tensor, parts: dict[str, Part],
                      tree: dict[str, tuple[str, ...]], root: str, articulation: dict[str, float],
                      source: Path | None = None) -> Template:
    """The one constructor of every template (the crabs and a user's file): the image (3, H, W) and its support
    mask (H, W), the leaves as parts placed by their offsets; the static body of eq. 7 is the support less the
    parts. The parts must be exactly the tree's leaves, inside the image and disjoint: a ValueError otherwise (the
    built-in templates satisfy this by construction; template_file.py checks a user's file first and says what is
    wrong in one line)."""
    leaves = leaves_of(tree, root)
    if sorted(leaves) != sorted(parts):
        raise ValueError(f"template {name}: the parts {sorted(parts)} are not the tree's leaves {sorted(leaves)}")
    h, w = mask.shape
    union = torch.zeros_like(mask)
    for part_name, p in parts.items():
        (i, j), (ph, pw) = p.offset, p.size
        if i < 0 or j < 0 or i + ph > h or j + pw > w:
            raise ValueError(f"template {name}: part {part_name} ({ph}x{pw} at {p.offset}) leaves the {h}x{w} image")
        union[i:i + ph, j:j + pw] += p.mask
    if float(union.max()) > 1:
        raise ValueError(f"template {name}: parts overlap")
    body_mask = mask * (union == 0).to(mask.dtype)
    return Template(name, image * mask, mask, image * body_mask, body_mask, dict(parts), dict(tree), root,
                    {k: float(articulation.get(k, 0.0)) for k in parts}, source)


# ---- the authors' crab ---------------------------------------------------------------------------------------
# PIL modes holding more than 8 bits per pixel: read through 8-bit "RGBA" they would be clipped (a 16-bit grey PNG
# came out all white), so they are read as they are and normalised by their type's range.
_DEEP_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0, "I": None, "F": None}


def _deep_grey(img, path: Path) -> np.ndarray:
    """A deep single-channel image in [0, 1]: 16-bit by 65535; 32-bit integer by 65535 when its values fit in 16
    bits (PIL opens 16-bit PNGs as "I"), else by 2^31 - 1; float as it is when in [0, 1], else min-max rescaled."""
    arr = np.asarray(img, dtype=np.float64)
    scale = _DEEP_MODES[img.mode]
    if scale is None and img.mode == "I":
        scale = 65535.0 if arr.min() >= 0 and arr.max() <= 65535 else 2.0**31 - 1
    if scale is not None:
        return np.clip(arr / scale, 0.0, 1.0)
    if not np.isfinite(arr).all():
        raise UserError(f"image {path} has non-finite values (NaN or inf); a scene must be finite")
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0.0 and hi <= 1.0:
        return arr
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)


def colour_spread(rgb: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """How coloured an image (3, H, W) is: the mean over its (masked) pixels of the channels' standard deviation,
    relative to the mean brightness. 0 for a grey image (read_rgba repeats grey in the three channels); measured
    on the shipped templates: synthetic crab 0.22, robot 0.18, the authors' crab 0.072."""
    spread = pixel_spreads(rgb, mask)
    return 0.0 if spread is None else float(spread.mean())


def pixel_spreads(rgb: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
    """Each (masked) pixel's standard deviation over its three channels, relative to the image's mean brightness;
    None for a grey file (read_rgba repeats its grey: every spread exactly 0)."""
    px = rgb.reshape(3, -1) if mask is None else rgb[:, mask.reshape(rgb.shape[1:]) > 0.5]
    if torch.equal(px[0], px[1]) and torch.equal(px[1], px[2]):
        return None
    # each pixel's population std over its three channels from the three rows (torch's std over dim 0 of a (3, N)
    # tensor took 0.48 CPU-s on a 2048x2048 photo, this 0.06: the same values up to rounding)
    m = px.mean(0)
    return (((px - m) ** 2).mean(0)).sqrt() / px.mean().clamp_min(1e-12)


def coloured_pixels(rgb: torch.Tensor, mask: torch.Tensor | None = None, level: float = 0.05) -> int:
    """How many (masked) pixels have a relative channel spread above level (0 in a grey file)."""
    spread = pixel_spreads(rgb, mask)
    return 0 if spread is None else int((spread > level).sum())


# The grey a grey file holds: PIL's "L" conversion, ITU-R 601-2 luma in 16-bit fixed point (L = (19595 R + 38470 G
# + 7471 B + 2^15) >> 16, Convert.c), which read_rgba repeats in the three channels. A coloured template is matched
# against a grey scene in this grey (grey_template), so that a grey photo of an object costs what its colour copy
# does; with these exact weights a template's grey equals PIL's grey of the same pixels up to its rounding.
LUMA = (19595 / 65536, 38470 / 65536, 7471 / 65536)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(3, H, W) -> (3, H, W): every pixel's grey (LUMA) repeated in the three channels, as read_rgba reads a grey
    file; linear, so it commutes with downscaling and with masking."""
    w = torch.tensor(LUMA, dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("c,chw->hw", w, rgb).expand(3, *rgb.shape[1:]).contiguous()


def grey_template(t: Template) -> Template:
    """The template as a grey photo shows it: its image, static body and every part in grey (luma), masks, offsets,
    pivots, tree and source unchanged; named NAME_grey, so that its extraction is cached apart from the colour
    one's (the cache key hashes the images anyway). The calibration stays the colour template's (its name)."""
    parts = {k: replace(p, image=luma(p.image)) for k, p in t.parts.items()}
    return replace(t, name=f"{t.name}_grey", image=luma(t.image), body=luma(t.body), parts=parts)


def palette_template(t: Template, palette: torch.Tensor) -> Template:
    """The template as a palette file shows it: every pixel of its image, body and parts replaced by the nearest
    (Euclidean RGB) of the file's colours `palette` (N, 3) in [0, 1], masks, offsets, pivots and tree unchanged;
    named NAME_palette, so that its extraction is cached apart (the calibration stays the colour template's). A
    quantiser without dithering (PIL's `quantize`) stores nearly every pixel as its nearest palette colour:
    measured on heldout16's turtle palette PNG, each part's mean error against its RGB twin equals its mean
    distance to the nearest palette entry (to 3 decimals), and 97% of the synthetic crab's pixels at 256 colours
    are their nearest entry (docs/detection.md, detimg), so the template mapped alike is what the file holds."""
    pal = palette.to(t.image.dtype).to(t.image.device)

    def nearest(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        px = img.reshape(3, -1).T
        idx = torch.cdist(px, pal).argmin(1)
        return torch.where(mask.reshape(-1) > 0.5, pal[idx].T, img.reshape(3, -1)).reshape(img.shape)

    parts = {k: replace(p, image=nearest(p.image, p.mask)) for k, p in t.parts.items()}
    return replace(t, name=f"{t.name}_palette", image=nearest(t.image, t.mask), body=nearest(t.body, t.body_mask),
                   parts=parts)


def read_palette(path: Path) -> np.ndarray | None:
    """The colours (N, 3) in [0, 1] of a palette file (PIL mode P or PA: every pixel one of them), None for any
    other file. Only the entries the pixels use: an unused entry is no colour the file shows."""
    from PIL import Image

    with Image.open(path) as img:
        if img.mode not in ("P", "PA"):
            return None
        used = np.unique(np.asarray(img.getchannel(0) if img.mode == "PA" else img))
        pal = np.asarray(img.getpalette("RGB"), dtype=np.float64).reshape(-1, 3) / 255.0
    return pal[used[used < len(pal)]]


def read_rgba(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(RGB (3, H, W) float64 in [0, 1], alpha (H, W) in [0, 1]) of any image PIL reads: 8-bit grey, grey+alpha,
    RGB, RGBA, palette, CMYK, JPEG, 16-bit grey PNG/TIFF, 32-bit integer or float TIFF (deep modes normalised by
    their range, _deep_grey; grey is repeated in the three channels). Alpha is 1 where the file has none; an
    animated or multi-page file gives its first frame. Turned upright by its EXIF orientation (imaging.io.upright)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise UserError(f"image file not found: {path}")
    try:
        with Image.open(path) as raw:
            img = upright(raw)  # a phone's photo as a viewer shows it (its EXIF orientation), as every reader does
            if img.mode in _DEEP_MODES:
                grey = _deep_grey(img, path)
                return np.ascontiguousarray(np.broadcast_to(grey, (3, *grey.shape))), np.ones_like(grey)
            arr = np.asarray(img.convert("RGBA"))  # (H, W, 4) uint8
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"cannot read image {path}: {exc}") from None
    # channels first while still 8-bit, then one float64 array: the same values (x / 255.0 of each byte) as
    # converting the (H, W, 4) bytes to float64 first and copying them channel-first, which took 0.7-1.1 of a
    # 2048x2048 photo's CPU-s (two float64 copies, 224 MB; docs/detection.md, detfast2)
    rgb = np.ascontiguousarray(arr[..., :3].transpose(2, 0, 1)).astype(np.float64)
    rgb /= 255.0
    return rgb, arr[..., 3] / 255.0


def locate_motif(template: np.ndarray, motif: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    """Top-left (row, col) where the masked motif matches the template best (by FFT masked SSD); the refine_data
    motifs are exact crops, so the best match has zero error (checked by the caller). numpy's FFT, not
    scipy.signal's fftconvolve: importing scipy.signal cost every run with this template ~0.5 CPU-s."""
    big, (h, w) = template.shape[-2:], mask.shape
    t_f = lambda a: np.fft.rfft2(a, big)  # noqa: E731
    # correlation at the valid offsets: on a grid the template's size, the motif's window never wraps there
    corr = lambda img_f, ker: np.fft.irfft2(img_f * np.conj(t_f(ker)), big)[:big[0] - h + 1, :big[1] - w + 1]  # noqa: E731
    ssd = corr(t_f((template**2).sum(0)), mask) + (mask * (motif**2).sum(0)).sum()
    for c in range(template.shape[0]):
        ssd -= 2 * corr(t_f(template[c]), mask * motif[c])
    i, j = np.unravel_index(np.argmin(ssd), ssd.shape)
    return int(i), int(j)


def refine_crab(data_dir: str = "../shared/refine_data", version: str = "v1") -> Template:
    """The authors' crab: v1 = the paper-era motifs (top level of refine_data; the paper's scenes were made from
    its crab.png), head = detection_images/ with the articulation joints the authors hard-code."""
    if version not in REFINE_VERSIONS:
        raise UserError(f"problem.refine_version={version!r} is not valid; allowed: {', '.join(REFINE_VERSIONS)}")
    root = resolve_data_path(data_dir)
    folder = root / "detection_images" if version == "head" else root
    if not (folder / "crab.png").is_file():
        raise UserError(f"problem.data_dir={data_dir!r}: no crab.png in {folder} (it should be the refine_data "
                        f"folder, e.g. ../shared/refine_data); problem.template=synthetic needs no files")
    rgb, alpha = read_rgba(folder / "crab.png")
    mask = (alpha > 0.5).astype(np.float64)
    rgb = rgb * mask
    parts = {}
    for name in LEAVES:
        p_rgb, p_alpha = read_rgba(folder / f"{name}.png")
        p_mask = (p_alpha > 0.5).astype(np.float64)
        p_rgb = p_rgb * p_mask
        i, j = locate_motif(rgb, p_rgb, p_mask)
        h, w = p_mask.shape
        err = float((((rgb[:, i:i + h, j:j + w] - p_rgb) ** 2) * p_mask).sum())
        if err > 1e-6 * p_mask.sum():
            raise UserError(f"{folder / (name + '.png')} is not a crop of {folder / 'crab.png'} (best masked "
                            f"squared error {err:.3g})")
        pivot = HEAD_PIVOTS[name] if version == "head" else ((h - 1) / 2, (w - 1) / 2)
        parts[name] = Part(torch.from_numpy(p_rgb), torch.from_numpy(p_mask), (i, j), pivot)
    return assemble_template(f"refine_crab_{version}", torch.from_numpy(rgb), torch.from_numpy(mask), parts,
                             CRAB_TREE, CRAB_ROOT, CRAB_ARTICULATION)


# ---- a synthetic crab -----------------------------------------------------------------------------------------
def synthetic_crab(seed: int = 0) -> Template:
    """A 184 x 246 textured crab drawn procedurally: an oval body with legs, two claws of different shape and
    colour, and two eye stalks on top (unlike the authors' near-identical eyes, these differ in colour and eye
    ball, so that each has a separating threshold; the authors' crab keeps the ambiguity). Parts
    are disjoint crops with binary masks; the pivots are the joints where each part meets the body."""
    gen = torch.Generator().manual_seed(seed)
    h, w = 184, 246
    r = torch.arange(h, dtype=torch.float64, device="cpu")
    c = torch.arange(w, dtype=torch.float64, device="cpu")
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    body_shape = ellipse(rr, cc, (128, 123), (38, 78))
    legs = torch.zeros_like(body_shape)
    for k, side in ((k, s) for k in range(3) for s in (-1, 1)):
        start = (140 + 10 * k, 123 + side * 60)
        end = (172 + 3 * k, 123 + side * (92 + 14 * k))
        legs |= segment(rr, cc, start, end, 5)
    body_img = torch.where(body_shape, texture(gen, (h, w), (0.55, 0.55, 0.6), 0.18, 2.0),
                           torch.zeros(3, h, w, dtype=torch.float64, device="cpu"))
    outline = body_shape & ~ellipse(rr, cc, (128, 123), (35, 75))
    body_img = torch.where(outline, torch.tensor([0.55, 0.1, 0.08], dtype=torch.float64, device="cpu")[:, None, None], body_img)
    body_img = torch.where(legs & ~body_shape, torch.tensor([0.45, 0.2, 0.12], dtype=torch.float64, device="cpu")[:, None, None],
                           body_img)
    # parts: (name, boolean shape on the full canvas, colour, pivot in template coordinates)
    left_claw = (ellipse(rr, cc, (82, 24), (26, 17), 0.3) & ~ellipse(rr, cc, (62, 30), (12, 5), 0.5)) \
        | segment(rr, cc, (100, 36), (118, 50), 9)
    right_claw = (ellipse(rr, cc, (88, 222), (22, 20), -0.2) & ~ellipse(rr, cc, (70, 214), (9, 7), -0.4)) \
        | segment(rr, cc, (104, 210), (120, 196), 9)
    left_eye = segment(rr, cc, (22, 96), (92, 104), 7) | ellipse(rr, cc, (14, 95), (10, 10))
    right_eye = segment(rr, cc, (26, 148), (92, 140), 7) | ellipse(rr, cc, (15, 150), (8, 12), 0.6)
    specs = (
        ("left_claw", left_claw, (0.85, 0.35, 0.12), 0.22, 1.5, (118.0, 50.0)),
        ("right_claw", right_claw, (0.8, 0.55, 0.15), 0.22, 1.2, (120.0, 196.0)),
        ("left_eye", left_eye, (0.2, 0.25, 0.45), 0.12, 1.0, (92.0, 104.0)),
        ("right_eye", right_eye, (0.4, 0.28, 0.12), 0.12, 1.0, (92.0, 140.0)),
    )
    image = body_img.clone()
    mask = (body_shape | legs).to(torch.float64)
    parts = {}
    taken = torch.zeros(h, w, dtype=torch.bool, device="cpu")
    for name, shape, colour, contrast, sigma, pivot in specs:
        shape = shape & ~taken
        tex = texture(gen, (h, w), colour, contrast, sigma)
        if name == "left_eye":  # a white ball with a dark pupil
            tex = torch.where(ellipse(rr, cc, (14, 95), (8, 8)), torch.tensor(0.92, dtype=torch.float64, device="cpu"), tex)
            tex = torch.where(ellipse(rr, cc, (12, 97), (3, 3)), torch.tensor(0.05, dtype=torch.float64, device="cpu"), tex)
        elif name == "right_eye":  # a yellow ball with a red ring: the eyes must not register onto each other
            ball = ellipse(rr, cc, (15, 150), (6, 10), 0.6)
            tex = torch.where(ball, torch.tensor([0.95, 0.85, 0.2], dtype=torch.float64, device="cpu")[:, None, None], tex)
            ring = ball & ~ellipse(rr, cc, (15, 150), (4, 7), 0.6)
            tex = torch.where(ring, torch.tensor([0.75, 0.1, 0.1], dtype=torch.float64, device="cpu")[:, None, None], tex)
        taken |= shape
        parts[name] = part_from_mask(tex, shape, pivot)
        image = torch.where(shape, tex, image)
        mask = torch.maximum(mask, shape.to(torch.float64))
    return assemble_template("synthetic", image, mask, parts, CRAB_TREE, CRAB_ROOT, CRAB_ARTICULATION)


BUILT_IN = ("synthetic", "refine_crab")


def load_template(kind: str, data_dir: str = "../shared/refine_data", version: str = "v1",
                  seed: int = 0) -> Template:
    """problem.template: synthetic | refine_crab (the crabs) | the name of a shipped example template
    (detection/templates/NAME.yaml) | the path of a template YAML file of the user's own (template_file.py)."""
    from .template_file import EXAMPLES_DIR, example_names, is_template_file, load_template_file

    if kind == "synthetic":
        return synthetic_crab(seed)
    if kind == "refine_crab":
        return refine_crab(data_dir, version)
    if isinstance(kind, str) and is_template_file(kind):
        return load_template_file(kind)
    if kind in example_names():
        return load_template_file(EXAMPLES_DIR / f"{kind}.yaml")
    # an image given as the template was told only the allowed values, as if the path were mistyped (newuser25)
    picture = (f" ({Path(kind).name} is an image: a template of your own is a YAML file that names its image and "
               f"the parts in it, their joints and articulation)"
               if isinstance(kind, str) and Path(kind).suffix.lower() in IMAGE_SUFFIXES else "")
    raise UserError(f"problem.template={kind!r} is not valid{picture}; allowed: "
                    f"{', '.join(BUILT_IN + tuple(example_names()))}, or the path of a template YAML file (PATH.yaml: "
                    "docs/detection.md, 'A template of your own')")
