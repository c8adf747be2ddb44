"""The X-ray transform in torch: a ray-driven Joseph projector with its exact transpose.

Each ray is sampled where it crosses the planes of voxel centres along its dominant axis (the axis its direction
is most aligned with), and the volume is interpolated linearly (2-D) or bilinearly (3-D) within each plane;
every sample weighs voxel / |d_k|, the ray's length between two planes (Joseph 1982). This is the projector
ASTRA calls `linear`: exact for volumes that are piecewise linear along the planes, one sample per voxel
crossed, and no step size to tune (a fixed step of half a voxel, the alternative, samples twice as often and
is no more accurate). Fan and cone rays stop at the source and the detector; parallel rays count the whole line.
The volume is zero outside its grid, reached linearly over the half voxel beyond the outer centres.

The taps (flat voxel index, weight) of every sample form a sparse matrix; the forward projection multiplies by
it and the back-projection by its transpose, so the adjoint is exact to round-off in any dtype. When the taps
fit in `cache_mb` they are kept as two CSR matrices (A and its transpose) per dtype and device, which makes
repeated products (FISTA, CG) cheap; otherwise they are recomputed in chunks of views that bound the memory
(3-D cone beam). Everything follows the input tensor's device and dtype.

`XRayTransform(geometry)(x)` is differentiable: a torch.autograd.Function whose backward is the back-projection
(and whose back-projection's backward is the projection), so reverse-mode AD through a reconstruction costs one
back-projection per projection, and higher derivatives work too.
"""
from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod

import torch

from ..linalg.operator import LinearOperator
from .geometry import Geometry


def _strides(shape) -> list[int]:
    out, s = [], 1
    for n in reversed(shape):
        out.append(s)
        s *= n
    return out[::-1]


PAD_LOW, PAD_HIGH = 1, 2  # zero layers around the volume, so every interpolation tap has a valid index


class RayGroup:
    """Joseph samples of the rays (`sel`, indices within a chunk) whose dominant axis is `axis`, in the padded
    volume's flat layout: `base` (R, P) is the index of each sample's first interpolation corner, `fracs` the
    fractional position along each other axis (R, P), `strides` those axes' padded strides, `weight` (R,) the
    length per plane h / |d_k| and `mask` (R, P) (fan/cone: 0 behind the source or past the detector)."""

    def __init__(self, geometry: Geometry, sel, origin, direction, length, axis: int, index_dtype):
        vol = geometry.volume
        n, h = vol.shape, vol.voxel
        padded = [m + PAD_LOW + PAD_HIGH for m in n]
        pstrides = _strides(padded)
        dtype, device = origin.dtype, origin.device
        p = torch.arange(n[axis], device=device, dtype=dtype)
        dk = direction[:, axis]
        centre0 = -(n[axis] - 1) / 2 * h  # first plane's coordinate
        self.sel, self.weight = sel, h / dk.abs()
        self.mask = None
        if length is not None:
            t = (centre0 + h * p[None, :] - origin[:, axis, None]) / dk[:, None]
            self.mask = ((t >= 0) & (t <= length[:, None])).to(dtype)
        base = (torch.arange(n[axis], device=device, dtype=index_dtype) + PAD_LOW) * pstrides[axis]
        base = base[None, :]
        self.fracs, self.strides = [], []
        for a in (a for a in range(vol.ndim) if a != axis):
            # the fractional voxel index along axis a is affine in the plane number p
            slope = direction[:, a] / dk
            start = (origin[:, a] + (centre0 - origin[:, axis]) * slope) / h + (n[a] - 1) / 2
            q = torch.clamp(start[:, None] + slope[:, None] * p[None, :], -1.0, float(n[a]))
            q0 = torch.floor(q)
            self.fracs.append(q - q0)
            base = base + (q0.to(index_dtype) + PAD_LOW) * pstrides[a]
            self.strides.append(pstrides[a])
        self.base = base

    def cast(self, dtype):
        self.weight = self.weight.to(dtype)
        self.fracs = [f.to(dtype) for f in self.fracs]
        self.mask = None if self.mask is None else self.mask.to(dtype)
        return self

    def gather(self, xp: torch.Tensor) -> torch.Tensor:
        """Line integrals (B, R) of the padded flat volumes xp (B, N_pad)."""
        def interp(level, offset):
            if level == len(self.fracs):
                return xp.index_select(1, (self.base + offset).reshape(-1)).view(xp.shape[0], *self.base.shape)
            return torch.lerp(interp(level + 1, offset), interp(level + 1, offset + self.strides[level]),
                              self.fracs[level])

        vals = interp(0, 0)
        if self.mask is not None:
            vals = vals * self.mask
        return vals.sum(-1) * self.weight

    def scatter(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Adds the transpose of `gather` applied to y (B, R) into the padded flat volumes out (B, N_pad)."""
        c = (y * self.weight)[:, :, None].expand(-1, -1, self.base.shape[1])
        if self.mask is not None:
            c = c * self.mask

        def spread(level, offset, c):
            if level == len(self.fracs):
                out.index_add_(1, (self.base + offset).reshape(-1), c.reshape(out.shape[0], -1))
                return
            f = self.fracs[level]
            spread(level + 1, offset, c * (1 - f))
            spread(level + 1, offset + self.strides[level], c * f)

        spread(0, 0, c)

    def taps(self):
        """Every (padded index, weight) pair, each (C, R, P), for building the sparse matrix."""
        idx, wts = [], []

        def walk(level, offset, w):
            if level == len(self.fracs):
                idx.append(self.base + offset)
                wts.append(w)
                return
            f = self.fracs[level]
            walk(level + 1, offset, w * (1 - f))
            walk(level + 1, offset + self.strides[level], w * f)

        w0 = self.weight[:, None].expand_as(self.fracs[0])
        walk(0, 0, w0 if self.mask is None else w0 * self.mask)
        return torch.stack(idx), torch.stack(wts)


class Projector(ABC):
    """What every projector backend shares: shapes from the geometry, differentiable products built on the
    subclass's plain `project` / `backproject`, and the LinearOperator view."""

    geometry: Geometry

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.geometry.volume.shape

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.geometry.sinogram_shape

    @abstractmethod
    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Volumes (..., *in_shape) -> sinograms (..., *out_shape), no autograd graph."""

    @abstractmethod
    def backproject(self, y: torch.Tensor) -> torch.Tensor:
        """The transpose: sinograms (..., *out_shape) -> volumes (..., *in_shape), no autograd graph."""

    def _flat(self, t: torch.Tensor, shape: tuple[int, ...], what: str):
        """t (..., *shape) as (batch, prod(shape)), and the batch shape."""
        if tuple(t.shape[t.ndim - len(shape):]) != shape:
            raise ValueError(f"{what} of shape {tuple(t.shape)} does not end in {shape}")
        batch = t.shape[:t.ndim - len(shape)]
        return t.reshape(-1, math.prod(shape)), batch

    # --- differentiable products --------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Apply.apply(x, self, False)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return _Apply.apply(y, self, True)

    __call__ = forward

    def operator(self, dtype=torch.float64, device=None) -> LinearOperator:
        """The transform on flattened vectors (..., n_voxels) -> (..., n_rays), differentiable both ways."""
        nv, nr = self.geometry.volume.size, self.geometry.n_rays

        def matvec(x):
            return self.forward(x.unflatten(-1, self.in_shape)).flatten(-len(self.out_shape))

        def rmatvec(y):
            return self.adjoint(y.unflatten(-1, self.out_shape)).flatten(-len(self.in_shape))

        return LinearOperator((nr, nv), matvec, rmatvec, dtype, device)


class XRayTransform(Projector):
    """The X-ray transform of `geometry`: volume (..., *volume.shape) -> sinogram (..., *sinogram_shape).

    `project` / `backproject` are the plain products (no autograd graph); calling the transform, `forward` and
    `adjoint` are differentiable (each one's derivative is the other). `operator(dtype, device)` is the same map
    as a LinearOperator on flattened vectors. `max_samples` bounds the samples computed at once (a chunk of
    views; we measured ~100 extra bytes per sample in 3-D float32, so ~100 MB per chunk by default); `cache_mb`
    bounds the cached sparse matrices (0: never cache, always compute the samples on the fly)."""

    def __init__(self, geometry: Geometry, max_samples: int = 2**20, cache_mb: float = 512.0):
        self.geometry = geometry
        self.max_samples = int(max_samples)
        self.cache_mb = float(cache_mb)
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor] | None] = {}
        vol = geometry.volume
        rays_per_view = geometry.n_rays // geometry.views
        self.views_per_chunk = max(1, self.max_samples // max(rays_per_view * max(vol.shape), 1))
        self.padded_shape = tuple(m + PAD_LOW + PAD_HIGH for m in vol.shape)
        self.index_dtype = torch.int64  # index_add_ with int32 indices takes a slow path on CPU (40x)
        corners = 2 ** (vol.ndim - 1)
        # Upper bound on the cached taps: values and column indices of A and of its transpose.
        self.cache_bytes_bound = geometry.n_rays * max(vol.shape) * corners * 2 * (8 + 8)

    # --- samples ------------------------------------------------------------------------------------------
    def _chunks(self, dtype, device):
        """(first ray, number of rays, [RayGroup per dominant axis]) for each chunk of views. Positions are
        computed in float64 for float64 data and float32 otherwise."""
        geo = self.geometry
        compute = torch.float64 if dtype == torch.float64 else torch.float32
        rays_per_view = geo.n_rays // geo.views
        for v0 in range(0, geo.views, self.views_per_chunk):
            views = slice(v0, min(v0 + self.views_per_chunk, geo.views))
            origin, direction, length = geo.rays(views, compute, device)
            dominant = direction.abs().argmax(-1)
            groups = []
            for axis in range(geo.volume.ndim):
                sel = torch.nonzero(dominant == axis).reshape(-1)
                if sel.numel():
                    groups.append(RayGroup(geo, sel, origin[sel], direction[sel],
                                           None if length is None else length[sel], axis,
                                           self.index_dtype).cast(dtype))
            yield v0 * rays_per_view, origin.shape[0], groups

    def _matrices(self, dtype, device):
        """Cached (A, A^T) as CSR matrices, or None when they would exceed cache_mb."""
        key = (dtype, str(device))
        if key not in self._cache:
            self._cache[key] = None if self.cache_bytes_bound > self.cache_mb * 2**20 else self._build(dtype, device)
        return self._cache[key]

    def _build(self, dtype, device):
        vol = self.geometry.volume
        lut = torch.full(self.padded_shape, -1, dtype=torch.int64, device=device)
        lut[tuple(slice(PAD_LOW, PAD_LOW + m) for m in vol.shape)] = torch.arange(
            vol.size, device=device).reshape(vol.shape)
        lut = lut.reshape(-1)
        rows, cols, vals = [], [], []
        for first, _, groups in self._chunks(dtype, device):
            for g in groups:
                idx, wt = g.taps()
                col = lut[idx.long()]
                keep = (col >= 0) & (wt != 0)
                rows.append((first + g.sel)[None, :, None].expand_as(idx)[keep])
                cols.append(col[keep])
                vals.append(wt[keep])
        m, n = self.geometry.n_rays, vol.size
        rows, cols, vals = torch.cat(rows), torch.cat(cols), torch.cat(vals)
        return _csr(rows, cols, vals, (m, n)), _csr(cols, rows, vals, (n, m))

    def _pad(self, xf: torch.Tensor) -> torch.Tensor:
        vol = self.geometry.volume
        xp = xf.new_zeros(xf.shape[0], *self.padded_shape)
        xp[(slice(None), *(slice(PAD_LOW, PAD_LOW + m) for m in vol.shape))] = xf.view(-1, *vol.shape)
        return xp.view(xf.shape[0], -1)

    def _crop(self, xp: torch.Tensor) -> torch.Tensor:
        vol = self.geometry.volume
        xp = xp.view(-1, *self.padded_shape)
        return xp[(slice(None), *(slice(PAD_LOW, PAD_LOW + m) for m in vol.shape))].reshape(xp.shape[0], -1)

    # --- plain products -----------------------------------------------------------------------------------
    def project(self, x: torch.Tensor) -> torch.Tensor:
        xf, batch = self._flat(x, self.in_shape, "volume")
        with torch.no_grad():
            mats = self._matrices(x.dtype, x.device)
            if mats is not None:
                out = (mats[0] @ xf.T).T
            else:
                xp = self._pad(xf)
                out = xf.new_zeros(xf.shape[0], self.geometry.n_rays)
                for first, count, groups in self._chunks(x.dtype, x.device):
                    part = out[:, first:first + count]
                    for g in groups:
                        part[:, g.sel] = g.gather(xp)
        return out.reshape(*batch, *self.out_shape)

    def backproject(self, y: torch.Tensor) -> torch.Tensor:
        yf, batch = self._flat(y, self.out_shape, "sinogram")
        with torch.no_grad():
            mats = self._matrices(y.dtype, y.device)
            if mats is not None:
                out = (mats[1] @ yf.T).T
            else:
                out = yf.new_zeros(yf.shape[0], math.prod(self.padded_shape))
                for first, count, groups in self._chunks(y.dtype, y.device):
                    part = yf[:, first:first + count]
                    for g in groups:
                        g.scatter(out, part[:, g.sel])
                out = self._crop(out)
        return out.reshape(*batch, *self.in_shape)


def _csr(rows, cols, vals, shape):
    """CSR matrix from unique (row, col, value) triples, by one sort (cheaper than coalescing a COO tensor)."""
    order = torch.argsort(rows * shape[1] + cols)
    counts = torch.bincount(rows, minlength=shape[0])
    crow = torch.zeros(shape[0] + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(counts, 0)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols[order], vals[order], shape, check_invariants=False)


class _Apply(torch.autograd.Function):
    """A (transpose=False) or A^T (transpose=True) of a projector; the derivative of each is the other."""

    @staticmethod
    def forward(ctx, t, op, transpose):
        ctx.op, ctx.transpose = op, transpose
        return op.backproject(t) if transpose else op.project(t)

    @staticmethod
    def backward(ctx, grad):
        return _Apply.apply(grad, ctx.op, not ctx.transpose), None, None
