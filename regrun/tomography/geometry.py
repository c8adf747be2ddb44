"""Scan geometries of the X-ray transform: a voxel grid centred at the origin and one vector row per view.

Conventions (docs/ct.md, "Geometry and projector"):

- Volume: array index k runs along coordinate x_{k+1} (regrun's [i, j] = (x1_i, x2_j) layout, as in the plots),
  voxel centres at (i - (n - 1) / 2) * voxel, so the grid is centred at the origin. Units are whatever `voxel`
  is in (default 1: pixel units, as ASTRA and scikit-image); line integrals come out in the same unit.
- Rotation about the x3 axis (3-D) or the origin (2-D), counter-clockwise from x1 towards x2. At angle theta
  the rays travel along d = (-sin theta, cos theta) and the detector's u axis is (cos theta, sin theta), so
  the parallel-beam sinogram is the Radon transform R f(theta, s) = int f(s u + t d) dt of the textbooks.
- Fan and cone: the source sits at -SOD * d, the detector centre at +ODD * d (flat detector, perpendicular to
  the central ray); cone rows run along +x3.
- Vectors (ASTRA's *_vec layouts): parallel (ray direction, detector centre, u); fan (source, detector centre,
  u); cone (source, detector centre, u, v); u and v are the vectors between neighbouring detector pixels, so
  they carry the pixel spacing.
- Sinogram shape: (views, n_u) in 2-D and (views, n_u, n_v) in 3-D (u then v, the [i, j] = (x1, x2) layout
  again), detector pixel centres at (k - (n - 1) / 2) along u (and v) from the detector centre.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import UserError

KINDS = ("parallel", "fan", "cone")


@dataclass(frozen=True)
class Volume:
    shape: tuple[int, ...]  # (n1, n2) or (n1, n2, n3)
    voxel: float = 1.0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def centres(self, axis: int, dtype=torch.float64, device=None) -> torch.Tensor:
        n = self.shape[axis]
        return (torch.arange(n, dtype=dtype, device=device) - (n - 1) / 2) * self.voxel

    def points(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Voxel centres, shape (*shape, ndim)."""
        axes = [self.centres(k, dtype, device) for k in range(self.ndim)]
        return torch.stack(torch.meshgrid(*axes, indexing="ij"), -1)


@dataclass(frozen=True)
class Geometry:
    """A scan: `kind`, the volume, the detector's pixel counts and one row of `vectors` per view (plain floats:
    a geometry is a description, tied to no device; `parts` makes tensors on the data's device and dtype). `sod`/`odd` record the circular orbit a constructor built
    (0 for parallel and for user vectors): FBP and FDK need them."""

    kind: str
    volume: Volume
    detector: tuple[int, ...]  # (n_u,) or (n_u, n_v)
    vectors: tuple[tuple[float, ...], ...]
    sod: float = 0.0
    odd: float = 0.0
    angles: tuple[float, ...] = ()

    def __post_init__(self):
        ndim = self.volume.ndim
        if self.kind not in KINDS:
            raise UserError(f"geometry {self.kind!r} is not valid; allowed: {', '.join(KINDS)}")
        if (self.kind == "cone") != (ndim == 3) or ndim not in (2, 3):
            raise UserError(f"a {self.kind} beam needs a {'3' if self.kind == 'cone' else '2'}-D volume, "
                            f"got shape {self.volume.shape}")
        if len(self.detector) != ndim - 1 or any(len(row) != ndim * (ndim + 1) for row in self.vectors):
            raise ValueError(f"detector {self.detector} / vectors of {len(self.vectors[0])} entries do not fit "
                             f"a {ndim}-D {self.kind} geometry")

    @property
    def views(self) -> int:
        return len(self.vectors)

    @property
    def sinogram_shape(self) -> tuple[int, ...]:
        return (self.views, *self.detector)

    @property
    def n_rays(self) -> int:
        return math.prod(self.sinogram_shape)

    @property
    def divergent(self) -> bool:
        return self.kind != "parallel"

    def parts(self, views: slice, dtype, device):
        """The vector rows of `views` split into (point, centre, u[, v]) tensors of shape (V, ndim)."""
        d = self.volume.ndim
        vec = torch.tensor(self.vectors[views], dtype=dtype, device=device).reshape(-1, d * (d + 1))
        return [vec[:, k * d:(k + 1) * d] for k in range(d + 1)]

    def detector_points(self, views: slice, dtype, device) -> torch.Tensor:
        """Detector pixel centres, shape (V, n_u[, n_v], ndim)."""
        parts = self.parts(views, dtype, device)
        centre, axes = parts[1], parts[2:]
        pts = centre.reshape(-1, *([1] * len(axes)), centre.shape[-1])
        for k, (n, ax) in enumerate(zip(self.detector, axes)):
            shape = [1] * (len(axes) + 2)
            shape[k + 1] = n
            steps = (torch.arange(n, dtype=dtype, device=device) - (n - 1) / 2).reshape(*shape[:-1], 1)
            pts = pts + steps * ax.reshape(-1, *([1] * len(axes)), ax.shape[-1])
        return pts

    def rays(self, views: slice, dtype, device):
        """Rays of `views`, flattened in sinogram order: origin (R, ndim), unit direction (R, ndim) and the
        length from the origin to the detector pixel (R,), or None for parallel rays (the whole line counts)."""
        d = self.volume.ndim
        pts = self.detector_points(views, dtype, device)
        first = self.parts(views, dtype, device)[0]
        if self.kind == "parallel":
            direction = first / first.norm(dim=-1, keepdim=True)
            direction = direction.reshape(-1, *([1] * (d - 1)), d).expand(pts.shape)
            return pts.reshape(-1, d), direction.reshape(-1, d), None
        source = first.reshape(-1, *([1] * (d - 1)), d)
        delta = (pts - source).reshape(-1, d)
        length = delta.norm(dim=-1)
        origin = source.expand(pts.shape).reshape(-1, d)
        return origin, delta / length[:, None], length


def _orbit(angles, ndim: int):
    """Angles (V,), the central ray direction d and the detector axis u per view (module docstring)."""
    a = torch.as_tensor(angles, dtype=torch.float64, device="cpu").reshape(-1)  # geometry bookkeeping
    d = torch.stack((-torch.sin(a), torch.cos(a)), -1)
    u = torch.stack((torch.cos(a), torch.sin(a)), -1)
    if ndim == 3:
        zero = torch.zeros_like(a)[:, None]
        d, u = torch.cat((d, zero), -1), torch.cat((u, zero), -1)
    return a, d, u


def uniform_angles(views: int, full_circle: bool) -> torch.Tensor:
    span = 2 * math.pi if full_circle else math.pi
    return torch.arange(views, dtype=torch.float64, device="cpu") * (span / views)


CENTRES = ("geometric", "index", "matlab")


def rotation_centre(shape, voxel: float, convention: str) -> tuple[float, ...]:
    """Where the rotation axis sits relative to the grid's geometric centre, per axis: `geometric` at the
    centre ((n - 1) / 2 in pixels, as ASTRA: 0), `index` at pixel n // 2 (scikit-image's radon/iradon: half a
    voxel up along each even axis), `matlab` at pixel (n + 1) // 2 - 1 (MATLAB's and Octave's radon, their
    floor((n + 1) / 2) counted from 1: half a voxel down along each even axis, docs/ct.md "(ctmatlab)"). Data made
    in one convention and reconstructed in another lose 3-10 dB on even grids (docs/ct.md, "FBP")."""
    if convention not in CENTRES:
        raise UserError(f"rotation centre {convention!r} is not valid; allowed: {', '.join(CENTRES)}")
    if convention == "geometric":
        return tuple(0.0 for _ in shape)
    if convention == "matlab":
        return tuple(((n + 1) // 2 - 1 - (n - 1) / 2) * voxel for n in shape)
    return tuple((n // 2 - (n - 1) / 2) * voxel for n in shape)


def parallel_beam(shape, angles, n_det: int, det_spacing: float = 1.0, voxel: float = 1.0,
                  det_offset: float = 0.0, centre=(0.0, 0.0)) -> Geometry:
    """2-D parallel beam; `det_offset` shifts the detector along u (a centre-of-rotation error); `centre`:
    the rotation axis relative to the grid's centre (rotation_centre), the whole scan moved with it."""
    a, d, u = _orbit(angles, 2)
    c = d.new_tensor(centre)  # on the orbit's device and dtype
    vectors = torch.cat((d, c + det_offset * u, det_spacing * u), -1)
    return Geometry("parallel", Volume(tuple(shape), voxel), (int(n_det),), _rows(vectors),
                    angles=tuple(a.tolist()))


def fan_beam(shape, angles, n_det: int, det_spacing: float, sod: float, odd: float, voxel: float = 1.0,
             det_offset: float = 0.0, centre=(0.0, 0.0)) -> Geometry:
    """2-D fan beam with a flat detector; source to rotation centre `sod`, rotation centre to detector `odd`;
    `centre` as parallel_beam's."""
    if sod <= 0 or odd < -sod:
        raise UserError(f"fan beam needs source_origin > 0 and origin_detector > -source_origin, got {sod}, {odd}")
    a, d, u = _orbit(angles, 2)
    c = d.new_tensor(centre)  # on the orbit's device and dtype
    vectors = torch.cat((c - sod * d, c + odd * d + det_offset * u, det_spacing * u), -1)
    return Geometry("fan", Volume(tuple(shape), voxel), (int(n_det),), _rows(vectors), sod, odd,
                    tuple(a.tolist()))


def cone_beam(shape, angles, det_shape, det_spacing, sod: float, odd: float, voxel: float = 1.0) -> Geometry:
    """3-D circular cone beam with a flat detector (n_u, n_v) of pixel size (du, dv); rotation about x3."""
    if sod <= 0 or odd < -sod:
        raise UserError(f"cone beam needs source_origin > 0 and origin_detector > -source_origin, got {sod}, {odd}")
    du, dv = (float(det_spacing),) * 2 if isinstance(det_spacing, (int, float)) else map(float, det_spacing)
    a, d, u = _orbit(angles, 3)
    v = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64, device="cpu").expand(len(a), 3)
    vectors = torch.cat((-sod * d, odd * d, du * u, dv * v), -1)
    return Geometry("cone", Volume(tuple(shape), voxel), tuple(int(n) for n in det_shape), _rows(vectors), sod, odd,
                    tuple(a.tolist()))


def from_vectors(kind: str, shape, vectors, detector, voxel: float = 1.0) -> Geometry:
    """A geometry from ASTRA-style vector rows (see the module docstring for the layout)."""
    return Geometry(kind, Volume(tuple(shape), voxel), tuple(int(n) for n in detector),
                    _rows(torch.as_tensor(vectors, dtype=torch.float64, device="cpu").reshape(
                        -1, len(shape) * (len(shape) + 1))))


def _rows(vectors: torch.Tensor) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(row) for row in vectors.tolist())


def covering_detector(shape, voxel: float, sod: float = 0.0, odd: float = 0.0) -> tuple[tuple[int, ...], float]:
    """Detector pixel count (per axis) and spacing that see the whole volume from every angle: the disk
    circumscribing the x1-x2 square (and, in 3-D, the slab's height seen at the nearest point), at the
    magnification of the central ray (spacing = voxel * (sod + odd) / sod; voxel for parallel)."""
    radius = voxel * math.hypot(shape[0], shape[1]) / 2
    if sod <= 0:
        return (int(math.ceil(2 * radius / voxel)) + 2,), voxel
    if sod <= radius:
        raise UserError(f"source_origin={sod} lies inside the volume's circumscribed radius {radius:.4g}")
    sdd = sod + odd
    spacing = voxel * sdd / sod
    half_u = sdd * radius / math.sqrt(sod**2 - radius**2)
    counts = [int(math.ceil(2 * half_u / spacing)) + 2]
    if len(shape) == 3:
        half_v = sdd * (voxel * shape[2] / 2) / (sod - radius)
        counts.append(int(math.ceil(2 * half_v / spacing)) + 2)
    return tuple(counts), spacing
