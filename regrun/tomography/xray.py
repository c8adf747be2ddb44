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
fit in `cache_mb` (counted beforehand from each ray's planes inside the grid) they are kept as two CSR matrices
with int32 indices (A and its transpose) per dtype and device, which makes repeated products (FISTA, CG) cheap.
Where they do not, a 2-D scan whose views are copies of one another under the grid's symmetries keeps the
matrices of one view per orbit (regrun/tomography/symmetry.py), up to 8 times smaller, for as many orbits as fit
(the other orbits' views on the fly).
Otherwise the samples are computed on the fly, in chunks of views that bound the memory, from a plan of a few
numbers per ray kept per dtype and device: where a ray meets each plane is affine in the plane number. The
samples of a chunk are laid out plane by plane in a padded copy of the volume with the plane axis first, so
neighbouring rays read neighbouring memory; rays that miss the grid are left out, and each block of planes
takes only the rays that cross the grid there. The forward product gathers (index_select); the
back-projection scatters the same taps (scatter_add_), except for 2-D parallel beams, where each pixel gathers
from the few rays within one voxel of it, one view at a time (the same transpose to round-off, as the Joseph
weight is continuous in the ray's position). Everything follows the input tensor's device and dtype; pure
torch, so the same code runs on CUDA.

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
from .geometry import Geometry, from_vectors
from .symmetry import ViewOrbits, view_orbits


def _strides(shape) -> list[int]:
    out, s = [], 1
    for n in reversed(shape):
        out.append(s)
        s *= n
    return out[::-1]


PAD_LOW, PAD_HIGH = 1, 2  # zero layers around the volume, so every interpolation tap has a valid index
BLOCK = 2**18  # samples computed at once within a chunk of views (2^16-2^19 measured alike at 256^2-512^2)
# samples (pixels of one view, for parallel beams in 2-D) back-projected at once: at 512^2/360 the
# back-projection took 0.8-0.9x the time of 2^18 (fan) and 0.5x (parallel, by pixels), the forward product 1.15x
BACK_BLOCK = 2**16
# On an accelerator every pass over a block is one kernel launch, and CPU-sized blocks leave it waiting on the
# launches: on an H200, the cone-beam bilevel preset at 1400 x 1400 x 2 from 60 views spent 67 s of 150 in 2753
# back-projection calls of CPU-sized blocks (1.36 million index_select launches, cProfile). There, blocks and
# chunks of views hold this many samples (a block's temporaries ~10 x 8 bytes a sample: under 1 GB).
DEVICE_BLOCK = 2**23
COMPACT = 8  # blocks of planes each ray group is cut into, each with the rays that cross the grid there


def _block(cpu_block: int, device: torch.device) -> int:
    """Samples computed at once on `device`: `cpu_block` (cache-sized) on a CPU, DEVICE_BLOCK elsewhere."""
    return cpu_block if device.type == "cpu" else DEVICE_BLOCK


class Layout:
    """The padded volume with the plane axis `axis` first and the other axes after it in their order, flat: the
    layout a group of rays with that dominant axis samples. Along a plane the samples of neighbouring rays are
    neighbours in memory (the last axis is the fastest), which keeps the gathers and scatters in cache."""

    def __init__(self, shape, axis: int):
        self.axis = axis
        self.others = [a for a in range(len(shape)) if a != axis]
        self.perm = [axis, *self.others]
        self.shape = tuple(shape[a] + PAD_LOW + PAD_HIGH for a in self.perm)
        self.strides = _strides(self.shape)
        self.inner = tuple(slice(PAD_LOW, PAD_LOW + shape[a]) for a in self.perm)
        self.size = math.prod(self.shape)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Volumes x (B, *shape) -> (B, size)."""
        xp = x.new_zeros(x.shape[0], *self.shape)
        xp[(slice(None), *self.inner)] = x.permute(0, *(a + 1 for a in self.perm))
        return xp.view(x.shape[0], -1)

    def crop(self, xp: torch.Tensor) -> torch.Tensor:
        """The transpose of pad: (B, size) -> (B, *shape)."""
        inv = [self.perm.index(a) for a in range(len(self.perm))]
        return xp.view(-1, *self.shape)[(slice(None), *self.inner)].permute(0, *(a + 1 for a in inv))

    def lut(self, device) -> torch.Tensor:
        """Index of each padded entry in the volume's own flat layout, -1 in the padding."""
        shape = tuple(s - PAD_LOW - PAD_HIGH for s in self.shape)
        inv = [self.perm.index(a) for a in range(len(self.perm))]
        vol = tuple(shape[inv[a]] for a in range(len(shape)))  # the volume's own shape
        lut = torch.full(self.shape, -1, dtype=torch.int64, device=device)
        lut[self.inner] = torch.arange(math.prod(vol), device=device).reshape(vol).permute(*self.perm)
        return lut.reshape(-1)


class RayGroup:
    """The rays `sel` (indices within a chunk of views) whose dominant axis is `axis`, kept as per-ray numbers
    only: on plane p (p = 0 .. n_axis - 1) a ray's sample lies at the fractional voxel index start + slope * p
    along each other axis; `weight` (R,) is the length per plane, voxel / |d_axis|. Fan and cone rays stop at
    the source and the detector: the planes lo .. hi (R,) lie between them. `positions` expands these to the
    samples, (planes, rays), when a product needs them."""

    def __init__(self, geometry: Geometry, layout: Layout, sel, origin, direction, length, axis: int, dtype,
                 rays_per_view: int = 0):
        vol = geometry.volume
        n, h = vol.shape, vol.voxel
        compute, device = origin.dtype, origin.device
        self.sel, self.layout, self.n = sel, layout, n
        dk = direction[:, axis]
        centre0 = -(n[axis] - 1) / 2 * h  # first plane's coordinate
        self.weight = (h / dk.abs()).to(dtype)
        self.planes = torch.arange(n[axis], device=device, dtype=compute)[:, None]
        self.starts, self.slopes = [], []
        for a in layout.others:
            # the fractional voxel index along axis a is affine in the plane number p
            slope = direction[:, a] / dk
            self.starts.append(((origin[:, a] + (centre0 - origin[:, axis]) * slope) / h + (n[a] - 1) / 2)[None, :])
            self.slopes.append(slope[None, :])
        self.bounded = False
        if length is not None:
            lo, hi = _planes_between(centre0, h, n[axis], origin[:, axis], dk, length)
            if bool((lo > 0).any() | (hi < n[axis] - 1).any()):
                self.plane_index = torch.arange(n[axis], device=device)[:, None]
                self.lo, self.hi = lo, hi
                self.bounded = True
        # int32 indices where they fit: float32 -> int64 conversion is 10x slower than -> int32 on CPU
        self.index = torch.int32 if layout.size < 2**31 else torch.int64
        # first corner's flat index on each plane when every other (lifted) index is 0
        self.base = ((torch.arange(n[axis], device=device, dtype=self.index) + PAD_LOW) * layout.strides[0])[:, None]
        self.dtype = dtype
        self.views, self.view_numbers = None, None
        self._block_rays: dict[tuple[int, int], tuple | None] = {}
        if rays_per_view > 1 and len(self.starts) == 1 and length is None:
            # parallel rays in 2-D: within a view the start moves by the same `step` per detector pixel
            r, v = rays_per_view, sel.numel() // rays_per_view
            whole = v * r == sel.numel() and bool(
                (sel.view(v, r) == sel.view(v, r)[:, :1] + torch.arange(r, device=device)).all()
                & (sel.view(v, r)[:, 0] % r == 0).all())
            slope = self.slopes[0][0].view(v, r) if whole else None
            start = self.starts[0][0].view(v, r) if whole else None
            step = (start[:, -1] - start[:, 0]) / (r - 1) if whole else None
            if whole and bool((slope == slope[:, :1]).all()) and float(step.abs().min()) > 1e-6:
                self.views = (start[:, 0, None, None], step[:, None, None], slope[:, 0, None, None],
                              self.weight.view(v, r)[:, :1],
                              int(math.ceil(1 / float(step.abs().min()))) - 1)
        self.lifted = [start + PAD_LOW for start in self.starts]  # indices in the padded volume
        # rays that miss the grid (a fifth of a covering detector's, on average) are left out of the samples;
        # `view_sel` keeps every ray of the views for the pixel-by-pixel back-projection
        self.view_sel = sel
        hit = self._planes_inside(1.0) > 0
        if not bool(hit.all()):
            self.sel, self.weight = sel[hit], self.weight[hit]
            self.starts = [s[:, hit] for s in self.starts]
            self.lifted = [s[:, hit] for s in self.lifted]
            self.slopes = [s[:, hit] for s in self.slopes]
            if self.bounded:
                self.lo, self.hi = self.lo[hit], self.hi[hit]

    def blocks(self, per_plane: int, block: int | None = None):
        """Slices of planes holding about `block` (default BLOCK) samples (per_plane each): the passes over a
        block stay in cache (at 256^2 and 512^2, float32, blocks made the forward product 1.7-2x faster than
        whole chunks)."""
        step = max(1, (BLOCK if block is None else block) // max(per_plane, 1))
        return [slice(p, p + step) for p in range(0, self.planes.shape[0], step)]

    def rays_on(self, planes: slice):
        """The rays with a sample inside the grid on the planes `planes` (each ray's interval of such planes
        widened by one plane against round-off): (their indices, int32, or None for nearly all rays; whether
        one of them stops at the source or the detector within these planes). Kept per block of planes: at
        most COMPACT blocks, so 4 bytes per ray and block at most."""
        key = (planes.start, planes.stop)
        if key not in self._block_rays:
            lo, hi = self._inside(1.0)
            crosses = (hi >= planes.start) & (lo <= planes.stop - 1)
            keep = torch.nonzero(crosses).reshape(-1)
            stops = False
            if self.bounded:
                last = min(planes.stop, self.planes.shape[0]) - 1
                stops = bool((crosses & ((self.lo > planes.start) | (self.hi < last))).any())
            keep = None if keep.numel() >= 0.95 * self.sel.numel() else keep.to(torch.int32)
            self._block_rays[key] = (keep, stops)
        return self._block_rays[key]

    def sample_blocks(self, block: int):
        """(planes, rays) for blocks of about `block` samples: the planes in COMPACT slices, and within each the
        rays that cross the grid there (`rays_on`), in chunks; `rays` is (columns: a slice or int32 indices of
        this group's rays, lifted starts, slopes, (lo, hi) or None), as `positions` takes it. A ray crosses the
        grid on part of the planes only (fan and oblique rays), so a block skips the rays that miss it: at
        512^2 0.94 n^2 samples a view instead of 1.28 (parallel) and 1.0 instead of 1.35 (fan, source at 2n).
        A skipped sample lies outside the grid, where its taps weigh only the zero padding."""
        n_p = self.planes.shape[0]
        if n_p * self.sel.numel() <= block:  # one block: every plane and ray, summed as without compaction
            yield slice(0, n_p), (slice(0, self.sel.numel()), self.lifted, self.slopes,
                                  (self.lo, self.hi) if self.bounded else None)
            return
        step = -(-n_p // COMPACT)
        for p0 in range(0, n_p, step):
            planes = slice(p0, min(p0 + step, n_p))
            keep, stops = self.rays_on(planes)
            count = self.sel.numel() if keep is None else keep.numel()
            chunk = max(1, block // (planes.stop - planes.start))
            for c0 in range(0, count, chunk):
                cols = slice(c0, min(c0 + chunk, count)) if keep is None else keep[c0:c0 + chunk]
                yield planes, (cols, [_columns(t, cols) for t in self.lifted], [_columns(t, cols) for t in self.slopes],
                               (_columns(self.lo, cols), _columns(self.hi, cols)) if stops else None)

    def positions(self, planes=slice(None), rays=None):
        """Flat index of each sample's first interpolation corner (P, R) in the layout, and the fractional
        position along each other axis (P, R), on the planes `planes`, of every ray or of the `rays` (as
        `rays_on` gives them)."""
        lifted, slopes, bounds = ((self.lifted, self.slopes, (self.lo, self.hi) if self.bounded else None)
                                  if rays is None else rays[1:])
        idx, fracs = self.base[planes], []
        for k, (start, slope, stride) in enumerate(zip(lifted, slopes, self.layout.strides[1:])):
            # the index lifted by the padding is >= 0 after the clamp, so conversion rounds down, as floor
            q = torch.addcmul(start, self.planes[planes], slope)
            if k == 0 and bounds is not None:
                # past the source or the detector: a sample at index -1, which weighs only the zero padding
                p = self.plane_index[planes]
                q.masked_fill_((p < bounds[0]) | (p > bounds[1]), PAD_LOW - 1.0)
            q.clamp_(PAD_LOW - 1.0, float(self.n[self.layout.others[k]] + PAD_LOW))
            q0 = q.to(self.index)
            fracs.append(q.frac_().to(self.dtype))
            idx = idx + (q0 if stride == 1 else q0 * stride)
        return idx, fracs

    def corners(self, fracs):
        """(offset, weight (P, R)) of every interpolation corner: the taps of the samples."""
        out = []

        def walk(level, offset, w):
            if level == len(fracs):
                out.append((offset, w))
                return
            f = fracs[level]
            walk(level + 1, offset, w * (1 - f))
            walk(level + 1, offset + self.layout.strides[level + 1], w * f)

        walk(0, 0, self.weight[None, :])
        return out

    def gather(self, xp: torch.Tensor) -> torch.Tensor:
        """Line integrals (B, R) of the padded flat volumes xp (B, size) in this group's layout."""
        strides = self.layout.strides[1:]
        out = xp.new_zeros(xp.shape[0], self.sel.numel())
        for planes, rays in self.sample_blocks(_block(BLOCK, xp.device)):
            idx, fracs = self.positions(planes, rays)
            flat = idx.view(-1)
            for x, o in zip(xp, out):  # one flat volume at a time: a 1-D index_select is the fast gather

                def interp(level, offset):
                    if level == len(fracs):
                        return x[offset:].index_select(0, flat).view(idx.shape)
                    return torch.lerp(interp(level + 1, offset), interp(level + 1, offset + strides[level]),
                                      fracs[level])

                if isinstance(rays[0], slice):
                    o[rays[0]] += interp(0, 0).sum(0)
                else:
                    o.index_add_(0, rays[0], interp(0, 0).sum(0))
        return out * self.weight

    def scatter(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Adds the transpose of `gather` applied to y (B, R) into the padded flat volumes out (B, size)."""
        strides = self.layout.strides[1:]
        y = y * self.weight
        for planes, rays in self.sample_blocks(_block(BACK_BLOCK, out.device)):
            idx, fracs = self.positions(planes, rays)
            flat = idx.view(-1).long()  # scatter_add_ takes int64 indices; it costs 0.6-0.7 of index_add_ on CPU
            for o, yb in zip(out, _columns(y, rays[0])):

                def spread(level, offset, c):
                    if level == len(fracs):
                        o[offset:].scatter_add_(0, flat, c.expand(idx.shape).reshape(-1))
                        return
                    c1 = c * fracs[level]
                    spread(level + 1, offset, c - c1)
                    spread(level + 1, offset + strides[level], c1)

                spread(0, 0, yb[None, :])

    def scatter_by_pixels(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """What `scatter` adds, for parallel rays in 2-D, gathered pixel by pixel instead of scattered ray by ray.
        A ray's taps on plane p weigh each pixel i by the hat max(0, 1 - |q - i|) of its position
        q = a + step * r + slope * p, continuous in q; so pixel i gathers from the rays within 1 of it: those
        next to the detector coordinate t = (i - a - slope p) / step, at most 2 * ceil(1 / |step|) of them. The
        result differs from `scatter`'s by round-off only.

        One view at a time, with the view's numbers as Python scalars: t is then one add of a column to a
        fixed grid of pixel numbers, and each candidate ray one gather and one fused multiply-add into the
        plane block; about ten passes over the block per view where tensors of per-view numbers broadcast
        over (views, planes, pixels) took seventeen, several of them on torch's slow broadcasting path."""
        a, step, slope, weight, m = self.views
        if self.view_numbers is None:  # once per plan: on CUDA each .tolist() waits for the device
            self.view_numbers = list(zip(*(t.reshape(-1).tolist() for t in (a, step, slope))))
        v, r = weight.shape[0], y.shape[1] // weight.shape[0]
        n_i = self.n[self.layout.others[0]]
        compute = step.dtype
        pad = 2 * m + 2  # zero rays either side: every candidate of a clamped t reads a zero
        lift = m + 2  # t is lifted by this many rays so that it is >= 0 where it matters: truncation is floor
        yp = y.new_zeros(y.shape[0], v, r + 2 * pad, dtype=compute)
        yp[:, :, pad:pad + r] = y.view(-1, v, r) * weight
        top = float(r + m + lift)  # beyond it (and below 0) every candidate reads a zero ray
        for planes in self.blocks(n_i, _block(BACK_BLOCK, out.device)):
            plane = self.planes[planes]
            grid = torch.arange(n_i, device=step.device, dtype=compute).expand(plane.shape[0], n_i)
            acc = y.new_zeros(y.shape[0], plane.shape[0], n_i, dtype=compute)
            corners = [(planes.start, 0), (planes.start, n_i - 1), (planes.start + plane.shape[0] - 1, 0),
                       (planes.start + plane.shape[0] - 1, n_i - 1)]
            for k, (ak, sk, gk) in enumerate(self.view_numbers):
                inv, size = 1.0 / sk, abs(sk)
                t = torch.add((lift - ak * inv) - plane * (gk * inv), grid, alpha=inv)
                # t is affine in (plane, pixel): the clamp is needed only if a corner of the block is near the end
                ends = [(lift - ak * inv) - p * (gk * inv) + i * inv for p, i in corners]
                if min(ends) < 0.5 or max(ends) > top - 0.5:
                    t.clamp_(0.0, top)
                flat = t.to(self.index).view(-1)
                f = t.frac_()  # t >= 0: its fraction is t - r0
                # candidate j (ray r0 - lift + j) weighs 1 - size * |j - f|, at least 0
                hats = [torch.add(1.0 + size * j, f, alpha=-size) if j <= 0 else
                        torch.add(1.0 - size * j, f, alpha=size) for j in range(-m, m + 2)]
                for hat in hats:
                    hat.clamp_(min=0)
                for ab, yb in zip(acc, yp[:, k]):
                    for j, hat in zip(range(-m, m + 2), hats):
                        ab.addcmul_(hat, yb[pad + j - lift:].index_select(0, flat).view(hat.shape))
            p0 = PAD_LOW + planes.start
            for o, ab in zip(out, acc):
                o.view(*self.layout.shape)[p0:p0 + ab.shape[0], PAD_LOW:PAD_LOW + n_i] += ab.to(o.dtype)

    def _planes_inside(self, margin: float) -> torch.Tensor:
        """Per ray, how many planes hold a sample inside the grid (-1 < q < n along every other axis, and between
        source and detector), computed from the ray's numbers alone, each interval widened by `margin` planes
        against round-off."""
        lo, hi = self._inside(margin)
        return (torch.floor(hi) - torch.ceil(lo) + 1).clamp(min=0)

    def _inside(self, margin: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per ray, the interval [lo, hi] (fractional plane numbers) where its samples lie inside the grid, as
        `_planes_inside` counts them."""
        lo = torch.zeros_like(self.starts[0][0])
        hi = torch.full_like(lo, float(self.planes.shape[0] - 1))
        if self.bounded:
            lo, hi = torch.maximum(lo, self.lo.to(lo.dtype)), torch.minimum(hi, self.hi.to(hi.dtype))
        for start, slope, a in zip(self.starts, self.slopes, self.layout.others):
            s, m = start[0], slope[0]
            a0, a1 = (-1 - s) / m, (self.n[a] - s) / m
            flat = m == 0
            inside = (s > -1) & (s < self.n[a])
            lo = torch.where(flat, torch.where(inside, lo, hi + 1), torch.maximum(lo, torch.minimum(a0, a1) - margin))
            hi = torch.where(flat, hi, torch.minimum(hi, torch.maximum(a0, a1) + margin))
        return lo, hi

    def taps_per_ray(self) -> torch.Tensor:
        """Per ray, an upper bound on its nonzero taps, without expanding the samples."""
        margin = 1e-6 if self.planes.dtype == torch.float64 else 1e-3
        return self._planes_inside(margin).long() * 2 ** len(self.starts)

    def taps_bound(self) -> int:
        """An upper bound on the nonzero taps of these rays, without expanding the samples."""
        return int(self.taps_per_ray().sum())


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
    as a LinearOperator on flattened vectors. `max_samples` sets the chunk of views one group of the plan
    covers (default: `views_per_chunk`); the samples themselves are computed in blocks of about BLOCK on a CPU
    (2^18: ~10 MB in 2-D float64, ~20 MB in 3-D) and DEVICE_BLOCK elsewhere, so memory stays bounded at any
    size. `cache_mb` bounds the cached sparse matrices (0: never cache,
    always compute the samples on the fly): A and A^T when they fit, else, in 2-D, the matrices of one view per
    orbit of the grid's symmetries (`SymmetricCache`) for as many orbits as fit."""

    def __init__(self, geometry: Geometry, max_samples: int | None = None, cache_mb: float = 512.0):
        self.geometry = geometry
        self.max_samples = None if max_samples is None else int(max_samples)
        self.cache_mb = float(cache_mb)
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor] | None] = {}
        self._symmetric: dict[tuple, SymmetricCache | None] = {}
        self._plans: dict[tuple, list] = {}
        vol = geometry.volume
        self.layouts = [Layout(vol.shape, axis) for axis in range(vol.ndim)]

    # --- samples ------------------------------------------------------------------------------------------
    def _plan(self, dtype, device):
        """(first ray, number of rays, [RayGroup per dominant axis]) for each chunk of views, kept per dtype and
        device (per-ray numbers only: a few per ray). Positions are computed in float64 for float64 data and
        float32 otherwise."""
        key = (dtype, str(device))
        if key not in self._plans:
            geo = self.geometry
            compute = torch.float64 if dtype == torch.float64 else torch.float32
            rays_per_view = geo.n_rays // geo.views
            plan, per_chunk = [], self.views_per_chunk(torch.device(device) if device is not None else
                                                       torch.device("cpu"))
            for v0 in range(0, geo.views, per_chunk):
                views = slice(v0, min(v0 + per_chunk, geo.views))
                origin, direction, length = geo.rays(views, compute, device)
                dominant = direction.abs().argmax(-1)
                groups = []
                for axis in range(geo.volume.ndim):
                    sel = torch.nonzero(dominant == axis).reshape(-1)
                    if sel.numel():
                        groups.append(RayGroup(geo, self.layouts[axis], sel, origin[sel], direction[sel],
                                               None if length is None else length[sel], axis, dtype,
                                               rays_per_view if geo.kind == "parallel" else 0))
                plan.append((v0 * rays_per_view, origin.shape[0], groups))
            self._plans[key] = plan
        return self._plans[key]

    def views_per_chunk(self, device: torch.device) -> int:
        """Views one group of the plan covers: about `max_samples` samples (default 2^20 on a CPU, DEVICE_BLOCK
        x 8 on an accelerator, where each chunk costs kernel launches and host syncs while its plan is built)."""
        geo = self.geometry
        samples = self.max_samples or (2**20 if device.type == "cpu" else 8 * DEVICE_BLOCK)
        return max(1, samples // max(geo.n_rays // geo.views * max(geo.volume.shape), 1))

    def view_taps(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Per view, an upper bound on its rays' nonzero taps (int64, (views,)), counted from each ray's planes
        inside the grid without expanding the samples."""
        rays_per_view = self.geometry.n_rays // self.geometry.views
        taps = torch.zeros(self.geometry.views, dtype=torch.int64, device="cpu")  # sizes: host-side bookkeeping
        for first, _, groups in self._plan(dtype, device):
            for g in groups:
                view = (g.sel.cpu() + first) // rays_per_view
                taps.index_add_(0, view, g.taps_per_ray().cpu())
        return taps

    def cache_bytes(self, dtype=torch.float64, device=None) -> int:
        """An upper bound on the bytes of the cached A and A^T in `dtype`: CSR values and int32 indices (int64
        beyond 2^31 entries), counted from each ray's planes inside the grid."""
        return self.head_bytes(dtype, device)[-1]

    def head_bytes(self, dtype=torch.float64, device=None) -> list[int]:
        """`cache_bytes` of the first k views' A and A^T, for k = 0 .. views."""
        nnz = [0] + torch.cumsum(self.view_taps(dtype, device), 0).tolist()
        rays_per_view, n = self.geometry.n_rays // self.geometry.views, self.geometry.volume.size
        index = 4 if max(nnz[-1], self.geometry.n_rays, n) < 2**31 else 8
        return [2 * t * (index + dtype.itemsize) + index * (k * rays_per_view + n + 2) for k, t in enumerate(nnz)]

    def _matrices(self, dtype, device):
        """Cached (A, A^T) as CSR matrices, or None when they would exceed cache_mb."""
        key = (dtype, str(device))
        if key not in self._cache:
            fits = self.cache_mb > 0 and self.cache_bytes(dtype, device) <= self.cache_mb * 2**20
            self._cache[key] = self._build(dtype, device) if fits else None
        return self._cache[key]

    def _build(self, dtype, device):
        """A and A^T from the taps, sorted chunk by chunk into arrays sized by the bound (rows of A in order,
        columns within a row ascending), then by one stable sort of the columns for A^T; int32 indices where
        they fit. Resident memory peaks at about 2.7x the cache during the build (measured at 256^2, 180 views,
        float64: 1.34 GB for a 487 MB cache)."""
        m, n = self.geometry.n_rays, self.geometry.volume.size
        plan = self._plan(dtype, device)
        bound = sum(g.taps_bound() for _, _, groups in plan for g in groups)
        index = torch.int32 if max(bound, m, n) < 2**31 else torch.int64
        luts = [layout.lut(device) for layout in self.layouts]
        counts = torch.zeros(m, dtype=torch.int64, device=device)
        rows = torch.empty(bound, dtype=index, device=device)
        cols = torch.empty(bound, dtype=index, device=device)
        vals = torch.empty(bound, dtype=dtype, device=device)
        nnz = 0
        for first, count, groups in plan:
            r, c, v = [], [], []
            for g in groups:
                idx, fracs = g.positions()
                lut = luts[g.layout.axis]
                for offset, w in g.corners(fracs):
                    col = lut[offset:][idx]
                    w = w.expand(idx.shape)
                    keep = (col >= 0) & (w != 0)
                    r.append(g.sel[None, :].expand(idx.shape)[keep])
                    c.append(col[keep])
                    v.append(w[keep])
            r, c, v = torch.cat(r), torch.cat(c), torch.cat(v)
            order = torch.argsort(r * n + c)
            counts[first:first + count] = torch.bincount(r, minlength=count)
            k = r.numel()
            rows[nnz:nnz + k] = r[order] + first
            cols[nnz:nnz + k] = c[order]
            vals[nnz:nnz + k] = v[order]
            nnz += k
        rows, cols, vals = rows[:nnz], cols[:nnz], vals[:nnz]
        a = _csr(counts, cols, vals, (m, n))
        sorted_cols, order = torch.sort(cols, stable=True)  # A's rows ascending within each column
        crow = torch.searchsorted(sorted_cols, torch.arange(n + 1, device=device, dtype=sorted_cols.dtype))
        del sorted_cols
        at = _csr(crow[1:] - crow[:-1], rows[order], vals[order], (n, m))
        return a, at

    def _orbit_cache(self, dtype, device):
        """The matrices of one view per orbit of the grid's symmetries (`SymmetricCache`), where the whole
        cache does not fit cache_mb: A_R^T of as many orbits as fit (all of them where they do), then A_R of as
        many as fit in what is left; the views of the other orbits are computed on the fly. The adjoint comes
        first as on the fly it is the slower product (at 512^2, 360 views 1.0-1.4x ASTRA's time, the forward
        0.45-0.85x). None when not even one orbit fits."""
        key = (dtype, str(device))
        if key not in self._symmetric:
            self._symmetric[key] = None
            orbits = view_orbits(self.geometry) if self.cache_mb > 0 else None
            if orbits is not None:
                sub = XRayTransform(orbits.geometry, self.max_samples, cache_mb=math.inf)
                budget = self.cache_mb * 2**20
                one = [b / 2 for b in sub.head_bytes(dtype, device)]  # one matrix: half the bound on both
                n_at = max((k for k in range(len(one)) if one[k] <= budget), default=0)
                n_a = max((k for k in range(n_at + 1) if one[k] <= budget - one[n_at]), default=0)
                if n_at > 0:
                    at = _head(sub, n_at, self.max_samples)._build(dtype, device)[1]
                    a = _head(sub, n_a, self.max_samples)._build(dtype, device)[0] if n_a else None
                    self._symmetric[key] = SymmetricCache(orbits, self.geometry, a, at, n_a, n_at,
                                                          self.max_samples, device)
        return self._symmetric[key]

    def view_products(self, views: torch.Tensor, dtype, device):
        """(project, backproject) restricted to the views `views` (ascending indices): project(x) = project(x)[views],
        backproject(y) = backproject of the sinogram that is y in those views and 0 in the others, bit for bit
        (the cached A's rows of those rays, and A^T's rows without the other rays' entries, in the same order: a
        CSR product adds each row's entries in order, and the entries dropped added zeros), from the cached
        matrices; None where A and A^T are not cached whole (then the caller projects all views). Why: `auto`'s
        training runs projected all views and dropped the held-out ones (fold 8: 1/8 of the projector's work;
        docs/ct.md "(ctcost)")."""
        mats = self._matrices(dtype, device)
        if mats is None or views.numel() == 0 or bool((views[1:] <= views[:-1]).any()):
            return None
        a = mats[0]
        per_view = self.geometry.n_rays // self.geometry.views
        views = views.to(device=device, dtype=torch.int64)
        rays = (views[:, None] * per_view + torch.arange(per_view, device=device)).reshape(-1)
        crow, col, val = a.crow_indices().long(), a.col_indices(), a.values()
        counts = (crow[1:] - crow[:-1])[rays]
        first = torch.cumsum(counts, 0) - counts
        entry = torch.repeat_interleave(crow[:-1][rays] - first, counts) + torch.arange(int(counts.sum()),
                                                                                       device=device)
        cols, vals = col[entry], val[entry]
        n = self.geometry.volume.size
        sub = _csr(counts, cols, vals, (len(rays), n))
        order = torch.sort(cols, stable=True)[1]  # rows of A^T: the rays ascending, as in A^T
        row = torch.repeat_interleave(torch.arange(len(rays), device=device, dtype=cols.dtype), counts)
        sub_t = _csr(torch.bincount(cols.long(), minlength=n), row[order], vals[order], (n, len(rays)))
        out_shape = (len(views), *self.out_shape[1:])

        def project(x):
            xf, batch = self._flat(x, self.in_shape, "volume")
            with torch.no_grad():
                return (sub @ xf.T).T.reshape(*batch, *out_shape)

        def backproject(y):
            yf, batch = self._flat(y, out_shape, "sinogram")
            with torch.no_grad():
                return (sub_t @ yf.T).T.reshape(*batch, *self.in_shape)
        return project, backproject

    # --- plain products -----------------------------------------------------------------------------------
    def project(self, x: torch.Tensor) -> torch.Tensor:
        xf, batch = self._flat(x, self.in_shape, "volume")
        with torch.no_grad():
            mats = self._matrices(x.dtype, x.device)
            sym = self._orbit_cache(x.dtype, x.device) if mats is None else None
            if mats is not None:
                out = (mats[0] @ xf.T).T
            elif sym is not None and sym.a is not None:
                out = sym.project(xf)
            else:
                padded = {}
                out = xf.new_zeros(xf.shape[0], self.geometry.n_rays)
                for first, count, groups in self._plan(x.dtype, x.device):
                    part = out[:, first:first + count]
                    for g in groups:
                        axis = g.layout.axis
                        if axis not in padded:
                            padded[axis] = g.layout.pad(xf.view(-1, *self.in_shape))
                        part[:, g.sel] = g.gather(padded[axis])
        return out.reshape(*batch, *self.out_shape)

    def backproject(self, y: torch.Tensor) -> torch.Tensor:
        yf, batch = self._flat(y, self.out_shape, "sinogram")
        with torch.no_grad():
            mats = self._matrices(y.dtype, y.device)
            sym = self._orbit_cache(y.dtype, y.device) if mats is None else None
            if mats is not None:
                out = (mats[1] @ yf.T).T
            elif sym is not None:
                out = sym.backproject(yf)
            else:
                padded = {}
                for first, count, groups in self._plan(y.dtype, y.device):
                    part = yf[:, first:first + count]
                    for g in groups:
                        axis = g.layout.axis
                        if axis not in padded:
                            padded[axis] = yf.new_zeros(yf.shape[0], g.layout.size)
                        if g.views is not None:
                            g.scatter_by_pixels(padded[axis], part[:, g.view_sel])
                        else:
                            g.scatter(padded[axis], part[:, g.sel])
                out = yf.new_zeros(yf.shape[0], *self.in_shape)
                for axis, o in padded.items():
                    out += self.layouts[axis].crop(o)
                out = out.reshape(yf.shape[0], -1)
        return out.reshape(*batch, *self.in_shape)


class SymmetricCache:
    """A scan's products from the matrices of one view per orbit (regrun/tomography/symmetry.py): for element G
    the representatives' rows are the rows of the views G carries them to, with the volume read at G X. The
    forward product multiplies A_R by the S transformed copies of the volume at once (one sparse-dense product
    with S columns) and writes each column's rows to their views; the back-projection gathers each element's
    views into a column, multiplies by A_R^T and adds each column read at G^T X. A_R^T of 46 views instead of
    360 (fan, 512^2) is 171 MB in float32. A_R covers the first n_a orbits and A_R^T the first n_at (where not
    all fit cache_mb); the views of the others are projected on the fly (`_OrbitPart`)."""

    def __init__(self, orbits: ViewOrbits, geometry: Geometry, a, at, n_a: int, n_at: int, max_samples: int | None,
                 device):
        self.a, self.at, self.n_a, self.n_at, self.n_orbits = a, at, n_a, n_at, len(orbits.reps)
        self.shape = geometry.volume.shape
        self.n_sino = geometry.n_rays
        self.read = orbits.pixel_maps(self.shape, device, inverse=False)
        self.spread = orbits.pixel_maps(self.shape, device, inverse=True)
        self.fwd = _OrbitPart(orbits, geometry, n_a, max_samples, device) if a is not None else None
        self.adj = _OrbitPart(orbits, geometry, n_at, max_samples, device)

    def project(self, xf: torch.Tensor) -> torch.Tensor:
        """Volumes (B, n_voxels) -> sinograms (B, n_rays)."""
        b, s = xf.shape[0], len(self.spread)
        copies = torch.stack([xf.index_select(1, m) for m in self.spread], -1)  # (B, N, S)
        rows = self.a @ copies.permute(1, 0, 2).reshape(xf.shape[1], b * s)  # (R n_u, B S)
        out = xf.new_zeros(b, self.n_sino)
        out[:, self.fwd.flat_valid] = rows.view(-1, b, s).permute(1, 0, 2)[:, self.fwd.valid]
        if self.fwd.rest is not None:
            out[:, self.fwd.rest_rays] = self.fwd.rest.project(xf.view(b, *self.shape)).reshape(b, -1)
        return out

    def backproject(self, yf: torch.Tensor) -> torch.Tensor:
        """Sinograms (B, n_rays) -> volumes (B, n_voxels)."""
        b, s = yf.shape[0], len(self.read)
        padded = torch.cat([yf, yf.new_zeros(b, 1)], 1)  # index -1: a zero
        cols = padded[:, self.adj.index]  # (B, R n_u, S)
        z = (self.at @ cols.permute(1, 0, 2).reshape(-1, b * s)).view(-1, b, s)  # (N, B, S)
        out = yf.new_zeros(b, z.shape[0])
        for k, m in enumerate(self.read):
            out += z[:, :, k].index_select(0, m).T
        if self.adj.rest is not None:
            rest = self.adj.rest
            out += rest.backproject(yf[:, self.adj.rest_rays].view(b, *rest.out_shape)).reshape(b, -1)
        return out


class _OrbitPart:
    """The first `rows` orbits' sinogram index (`SymmetricCache`'s gather and scatter through their
    representatives' matrix), and the other orbits' views as a scan of their own (`rest`, on the fly; None when
    every orbit is cached) with their rays' flat sinogram indices (`rest_rays`)."""

    def __init__(self, orbits: ViewOrbits, geometry: Geometry, rows: int, max_samples: int | None, device):
        n_u = geometry.detector[0]
        index, valid = orbits.sinogram_index(n_u, device)
        self.index, self.valid = index[:rows * n_u], valid[:rows * n_u]
        self.flat_valid = self.index[self.valid]
        rest = orbits.views[rows:]
        rest = torch.sort(rest[rest >= 0]).values
        self.rest, self.rest_rays = None, None
        if rest.numel():
            vec = torch.tensor(geometry.vectors, dtype=torch.float64, device="cpu")[rest]
            self.rest = XRayTransform(from_vectors(geometry.kind, geometry.volume.shape, vec, geometry.detector,
                                                   geometry.volume.voxel), max_samples, cache_mb=0)
            self.rest_rays = (rest[:, None] * n_u + torch.arange(n_u, device="cpu")).reshape(-1).to(device)


def _head(sub: XRayTransform, views: int, max_samples: int | None) -> XRayTransform:
    """The transform of the first `views` views of `sub` (itself when that is all of them)."""
    geo = sub.geometry
    if views == geo.views:
        return sub
    head = from_vectors(geo.kind, geo.volume.shape, geo.vectors[:views], geo.detector, geo.volume.voxel)
    return XRayTransform(head, max_samples, cache_mb=math.inf)


def _planes_between(centre0: float, h: float, n: int, o: torch.Tensor, dk: torch.Tensor, length: torch.Tensor):
    """Per ray, the first and last plane p (int64 (R,); n and -1 when none) whose sample lies between the source
    (t = 0) and the detector (t = length), t(p) = (centre0 + h p - o) / dk. t is monotone in p (in floating
    point too), so the planes form an interval: its ends from the closed form, then each end settled by t itself
    on the planes next to it, so the interval is the one t gives plane by plane (which costs planes x rays:
    at 1400 x 1400 x 2 from 60 views, oversampled 2x, that was 60% of the simulation's projection)."""
    ends = torch.stack(((o - centre0) / h, (o + length * dk - centre0) / h))  # t = 0 and t = length
    first, last = ends.amin(0), ends.amax(0)

    def inside(p):  # p (k, R) plane numbers: the sample's t as the plane-by-plane test computes it
        t = (centre0 + h * p.to(o.dtype) - o) / dk
        return (t >= 0) & (t <= length) & (p >= 0) & (p <= n - 1)

    near = torch.arange(-1, 2, device=o.device)[:, None]  # round-off moves an end by at most a plane
    lo_try = torch.ceil(first).clamp(-1, n).long() + near
    hi_try = torch.floor(last).clamp(-1, n).long() + near
    lo = torch.where(inside(lo_try), lo_try, n).amin(0)
    hi = torch.where(inside(hi_try), hi_try, -1).amax(0)
    return lo, hi


def _columns(t: torch.Tensor, cols) -> torch.Tensor:
    """The last-axis entries `cols` (a slice, or int32 indices) of t."""
    return t[..., cols] if isinstance(cols, slice) else t.index_select(t.ndim - 1, cols)


def _csr(counts, cols, vals, shape):
    """CSR matrix from its entries in row order (columns ascending within a row) and the entries per row."""
    crow = torch.zeros(shape[0] + 1, dtype=cols.dtype, device=cols.device)
    crow[1:] = torch.cumsum(counts, 0)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the products used here are stable
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, cols, vals, shape, check_invariants=False)


class _Apply(torch.autograd.Function):
    """A (transpose=False) or A^T (transpose=True) of a projector; the derivative of each is the other."""

    @staticmethod
    def forward(ctx, t, op, transpose):
        ctx.op, ctx.transpose = op, transpose
        return op.backproject(t) if transpose else op.project(t)

    @staticmethod
    def backward(ctx, grad):
        return _Apply.apply(grad, ctx.op, not ctx.transpose), None, None
