"""Scenes for the covering-versus-optimisation experiment of seed 002's Fig. 1 (App. A.3.1): a textured motif
(the crab's body) in its crab, pasted on clutter, the whole scene transformed by a random map of one of four
classes about the motif's centre and blurred.

Laws (App. A.3.1; the authors' sample_random_transform): a shift uniform in [-5, 5]^2 px; Euclidean adds a
rotation uniform in [-pi/4, pi/4]; similarity adds a scale uniform in [0.8, 1.25]; affine is
A = R(phi) diag(s1, s2) R(theta)^T with s_i uniform in [0.8, 1.25] and phi, theta uniform in [-pi/4, pi/4].
The scene is y(q) = s(A (q - c) + c + b) for the composite s, so the registering pose is the inverse map.

Sources: `synthetic` (no files): the synthetic crab of crab_data.py, its static body (body and legs) as the
motif, on procedural clutter; `refine_crab`: the authors' crab_big_bbg_tight.png with crab_body.png as the
motif (its mask sum(RGB) > 0.2, as the authors'), on random crops of the beach photograph. crab_body.png is
not an exact crop of the crab drawing (mean squared difference 0.004 per pixel and channel where it best
matches): the authors' setting, where even the true pose leaves the ZNCC short of 1.
Random draws use CPU generators, so a seed gives the same scene on every device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..imaging.gaussian import gaussian_filter
from ..imaging.io import resolve_data_path
from ..imaging.keys import keys_sample
from ..imaging.transforms import rotation_matrix
from .crab_data import locate_motif, read_rgba, synthetic_crab
from .scenes import beach_background, clutter_background, pixel_grid

# class -> (transformation name in transforms.py, dimension d)
POSE_CLASSES = {"translation": ("translation", 2), "euclidean": ("rigid", 3), "similarity": ("similarity", 4),
                "affine": ("affine", 6)}
SOURCES = ("synthetic", "refine_crab")


@dataclass
class PoseLaw:
    """App. A.3.1's ranges, in full-size pixels and radians."""

    shift_max: float = 5.0
    angle_max: float = math.pi / 4
    scale_min: float = 0.8
    scale_max: float = 1.25

    def sample(self, kind: str, n: int, generator: torch.Generator, pixel: float = 1.0):
        """n draws of (A (n, 2, 2), b (n, 2)) for the class `kind`, shifts in pixels of size `pixel` (2 when the
        scene is downscaled by 2); float64 on the CPU."""
        if kind not in POSE_CLASSES:
            raise UserError(f"pose class {kind!r} is not valid; allowed: {', '.join(POSE_CLASSES)}")
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64, device="cpu")  # noqa: E731
        b = torch.stack((u(-self.shift_max, self.shift_max), u(-self.shift_max, self.shift_max)), -1) / pixel
        eye = torch.eye(2, dtype=torch.float64, device="cpu").expand(n, 2, 2)
        if kind == "translation":
            return eye.clone(), b
        phi = u(-self.angle_max, self.angle_max)
        if kind == "euclidean":
            return rotation_matrix(phi), b
        if kind == "similarity":
            return u(self.scale_min, self.scale_max)[:, None, None] * rotation_matrix(phi), b
        s = torch.stack((u(self.scale_min, self.scale_max), u(self.scale_min, self.scale_max)), -1)
        theta = u(-self.angle_max, self.angle_max)
        return rotation_matrix(phi) @ torch.diag_embed(s) @ rotation_matrix(theta).transpose(-1, -2), b


def inverse_maps(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, b) of x -> A (x - c) + c + b inverted about the same centre: (A^-1, -A^-1 b)."""
    ai = torch.linalg.inv(a)
    return ai, -(ai @ b[..., None])[..., 0]


@dataclass
class MotifSource:
    """The crab drawing on black (3, H, W) with its mask, and the motif (3, h, w) with its support, whose top-left
    pixel sits at `offset` (row, col) in the drawing."""

    crab: torch.Tensor
    crab_mask: torch.Tensor
    motif: torch.Tensor
    support: torch.Tensor
    offset: tuple[int, int]
    name: str

    def downscaled(self, factor: int) -> "MotifSource":
        """Images averaged over factor x factor blocks, masks re-binarised at 1/2; the motif is re-cut from the
        downscaled drawing where its offset is not a multiple of the factor."""
        if factor == 1:
            return self
        pool = lambda t: torch.nn.functional.avg_pool2d(t[None], factor, ceil_mode=True)[0]  # noqa: E731
        h, w = self.crab_mask.shape
        full_motif = torch.zeros(3, h, w, dtype=self.crab.dtype, device="cpu")
        full_support = torch.zeros(h, w, dtype=self.crab.dtype, device="cpu")
        (i, j), (mh, mw) = self.offset, self.support.shape
        full_motif[:, i:i + mh, j:j + mw] = self.motif
        full_support[i:i + mh, j:j + mw] = self.support
        support = (pool(full_support[None])[0] > 0.5).to(self.crab.dtype)
        motif = pool(full_motif) * support
        rows = torch.nonzero(support.sum(1) > 0).flatten()
        cols = torch.nonzero(support.sum(0) > 0).flatten()
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        crab_mask = (pool(self.crab_mask[None])[0] > 0.5).to(self.crab.dtype)
        return MotifSource(pool(self.crab) * crab_mask, crab_mask, motif[:, r0:r1, c0:c1], support[r0:r1, c0:c1],
                           (r0, c0), f"{self.name}/{factor}")


def synthetic_source(seed: int = 0) -> MotifSource:
    """The synthetic crab (crab_data.synthetic_crab) with its static body (body and legs) as the motif."""
    t = synthetic_crab(seed)
    rows = torch.nonzero(t.body_mask.sum(1) > 0).flatten()
    cols = torch.nonzero(t.body_mask.sum(0) > 0).flatten()
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return MotifSource(t.image, t.mask, t.body[:, r0:r1, c0:c1], t.body_mask[r0:r1, c0:c1], (r0, c0),
                       "synthetic_body")


def refine_source(data_dir: str) -> MotifSource:
    """The authors' Fig. 1 data: crab_big_bbg_tight.png holding crab_body.png (refine_data README)."""
    root = resolve_data_path(data_dir)
    paths = [root / "crab_big_bbg_tight.png", root / "crab_body.png"]
    for p in paths:
        if not p.is_file():
            raise UserError(f"problem.data_dir={data_dir!r}: no {p.name} in {root} (it should be the refine_data "
                            "folder, e.g. ../shared/refine_data); problem.template=synthetic needs no files")
    crab, _ = read_rgba(paths[0])
    body, _ = read_rgba(paths[1])
    crab_mask = (crab.sum(0) > 0).astype(np.float64)
    support = (body.sum(0) > 0.2).astype(np.float64)
    body = body * support
    i, j = locate_motif(crab, body, support)
    return MotifSource(torch.from_numpy(crab * crab_mask), torch.from_numpy(crab_mask), torch.from_numpy(body),
                       torch.from_numpy(support), (i, j), "refine_crab_body")


def motif_source(kind: str, data_dir: str = "../shared/refine_data", seed: int = 0) -> MotifSource:
    if kind == "synthetic":
        return synthetic_source(seed)
    if kind == "refine_crab":
        return refine_source(data_dir)
    raise UserError(f"problem.template={kind!r} is not valid; allowed: {', '.join(SOURCES)}")


@dataclass
class PoseScene:
    """One observation: the scene y (3, H, W), the motif on a canvas of the same size (3, H, W) with its support
    (H, W), the centre c the maps act about, and the generating map (A, b): y(q) = s(A (q - c) + c + b)."""

    scene: torch.Tensor
    motif: torch.Tensor
    support: torch.Tensor
    centre: tuple[float, float]
    a: torch.Tensor
    b: torch.Tensor


def render_scene(source: MotifSource, background: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                 blur: float) -> PoseScene:
    """Paste the crab at the centre of the background (integer offset: no resampling), transform the whole
    composite by (A, b) about the motif's centre with Keys' cubic convolution (a = -0.5, as the authors made
    their scenes), then blur by `blur` px. CPU float64 in, CPU float64 out."""
    h, w = background.shape[-2:]
    ch, cw = source.crab_mask.shape
    if ch > h or cw > w:
        raise UserError(f"the {ch}x{cw} crab does not fit in the {h}x{w} scene; enlarge problem.size")
    r0, c0 = (h - ch) // 2, (w - cw) // 2
    m = torch.zeros(h, w, dtype=torch.float64, device="cpu")
    m[r0:r0 + ch, c0:c0 + cw] = source.crab_mask
    crab = torch.zeros(3, h, w, dtype=torch.float64, device="cpu")
    crab[:, r0:r0 + ch, c0:c0 + cw] = source.crab
    composite = background * (1 - m) + crab * m
    (i, j), (mh, mw) = source.offset, source.support.shape
    motif = torch.zeros(3, h, w, dtype=torch.float64, device="cpu")
    support = torch.zeros(h, w, dtype=torch.float64, device="cpu")
    motif[:, r0 + i:r0 + i + mh, c0 + j:c0 + j + mw] = source.motif
    support[r0 + i:r0 + i + mh, c0 + j:c0 + j + mw] = source.support
    centre = (r0 + i + (mh - 1) / 2, c0 + j + (mw - 1) / 2)
    c = torch.tensor(centre, dtype=torch.float64, device="cpu")
    q = (pixel_grid(h, w) - c) @ a.T + c + b
    scene = keys_sample(composite, q)
    if blur > 0:
        scene = gaussian_filter(scene, blur)
    return PoseScene(scene, motif, support, centre, a, b)


def make_background(kind: str, size: tuple[int, int], generator: torch.Generator, data_dir: str,
                    factor: int) -> torch.Tensor:
    """Clutter at the (downscaled) size, or a random crop of the beach photograph at full size, downscaled."""
    if kind == "synthetic":
        return clutter_background(size, generator)
    full = beach_background(data_dir, (size[0] * factor, size[1] * factor), generator=generator)
    if factor == 1:
        return full
    return torch.nn.functional.avg_pool2d(full[None], factor)[0]
