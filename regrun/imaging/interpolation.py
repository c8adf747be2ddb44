"""Exact cubic-spline interpolation of an image at many points, as a sparse gather with an exact adjoint.

For FAIR's cubic B-spline (regrun.imaging.spline, theta = 0) the value at a point is a 4 x 4 stencil of
spline coefficients times tensor-product kernel weights, and the coefficients are S1 f S2^T with S = B^-1.
`Stencil` holds the flat indices and weights for a fixed set of points: applying it is a gather, its adjoint
a scatter-add. Weights are differentiable in the points (hence in motion parameters); indices are piecewise
constant and carry no derivative, and the weights are C^2 across knots, so nothing jumps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..linalg.operator import untracked_cpu
from .grid import Grid
from .spline import (
    PAD,
    STENCIL_OFFSETS,
    _stencil,
    bspline_kernel,
    bspline_kernel_derivative,
    coefficient_operator,
    mirror_index,
)


class SplineCoefficients:
    """f (..., m1, m2) -> padded coefficients (..., (m1+8)(m2+8)) and its adjoint, for exact interpolation.
    edge: the edge extension (regrun.imaging.spline.collocation_matrix): the padding mirrors the interior
    coefficients instead of being zero (its adjoint folds the padding back onto them)."""

    def __init__(self, grid: Grid, dtype=torch.float64, device=None, edge: bool = False):
        self.grid = grid
        m1, m2 = grid.m
        self.edge = edge
        self.s1 = coefficient_operator(m1, 0.0, dtype, device, edge)
        self.s2 = coefficient_operator(m2, 0.0, dtype, device, edge)
        self.padded = (m1 + 2 * PAD, m2 + 2 * PAD)
        self.mirror = (mirror_index(m1, device), mirror_index(m2, device)) if edge else None

    def _pad(self, c: torch.Tensor) -> torch.Tensor:
        if self.mirror is None:
            return torch.nn.functional.pad(c, (PAD, PAD, PAD, PAD))
        return c.index_select(-2, self.mirror[0]).index_select(-1, self.mirror[1])

    def _unpad(self, c: torch.Tensor) -> torch.Tensor:
        """The adjoint of _pad: (..., padded m1, padded m2) -> (..., m1, m2)."""
        m1, m2 = self.grid.m
        if self.mirror is None:
            return c[..., PAD:PAD + m1, PAD:PAD + m2]
        c = torch.zeros(*c.shape[:-2], m1, c.shape[-1], dtype=c.dtype, device=c.device).index_add(-2, self.mirror[0], c)
        return torch.zeros(*c.shape[:-1], m2, dtype=c.dtype, device=c.device).index_add(-1, self.mirror[1], c)

    def apply(self, f: torch.Tensor, banded: bool = False) -> torch.Tensor:
        """banded: on the CPU by the matrices' blocks within their band (_band_blocks; the same to round-off)."""
        blocks = self._banded() if banded else None
        if blocks is None:
            c = self.s1 @ f @ self.s2.T
        else:
            c = _times_transpose(_times(blocks[0], f), blocks[1])
        return self._pad(c).flatten(-2)

    def _banded(self):
        """(s1, s2, s1^T, s2^T) as row blocks within their band, built once; None where a block would not save
        (a short axis) or on a GPU (there the products are launch-bound: the dense ones are one kernel each)."""
        if not hasattr(self, "_blocks"):
            mats = (self.s1, self.s2, self.s1.T, self.s2.T)
            blocks = [_band_blocks(m) for m in mats] if self.s1.device.type == "cpu" else [None]
            self._blocks = None if any(b is None for b in blocks) else blocks
        return self._blocks

    def gram(self, inner: torch.Tensor) -> torch.Tensor:
        """C^T G C for a Gram matrix G (n, n) over the interior coefficients (C f = s1 f s2^T, flattened; the
        padding is zero or, edge, folded onto them by the stencil: Stencil._pooled_entries): four contractions with s1, s2 instead of n^2 x n products."""
        m1, m2 = self.grid.m
        g = inner.reshape(m1, m2, m1, m2)
        g = torch.einsum("ai,abcd->ibcd", self.s1, g)
        g = torch.einsum("bj,ibcd->ijcd", self.s2, g)
        g = torch.einsum("ck,ijcd->ijkd", self.s1, g)
        g = torch.einsum("dl,ijkd->ijkl", self.s2, g)
        return g.reshape(m1 * m2, m1 * m2)

    def adjoint(self, cflat: torch.Tensor, banded: bool = False) -> torch.Tensor:
        c = self._unpad(cflat.unflatten(-1, self.padded))
        blocks = self._banded() if banded else None
        if blocks is None:
            return self.s1.T @ c @ self.s2
        return _times_transpose(_times(blocks[2], c), blocks[3])


# The coefficient matrices (inverses of the B-spline's banded collocation matrices) are dense, but their entries
# fall by about 0.27 per step off the diagonal: beyond ~29 steps they are under BAND_TOL of the largest, less than
# the round-off of any sum they enter. On the CPU their products by blocks of COEF_BLOCK rows, each over the columns
# within that band, skip the rest: at 256 a side 6.5 -> 2.9 ms for three images, 1.5 -> 1.0 ms for one (one
# thread; docs/superres.md, "Twelfth round (srspeed2)"); the super-resolution normal product uses them.
BAND_TOL = 1e-17
COEF_BLOCK = 64


def _band_blocks(mat: torch.Tensor):
    """[(a0, a1, mat[rows, a0:a1])] for consecutive blocks of COEF_BLOCK rows, a0:a1 the columns within mat's
    band (entries over BAND_TOL of the largest); None when a block would span every column anyway."""
    n = mat.shape[0]
    i = torch.arange(n, device=mat.device)
    off = (i[:, None] - i[None, :]).abs()
    big = mat.abs() > BAND_TOL * float(mat.abs().max())
    band = int(off[big].max())
    if 2 * band + COEF_BLOCK >= n:
        return None
    out = []
    for lo in range(0, n, COEF_BLOCK):
        a0, a1 = max(0, lo - band), min(n, lo + COEF_BLOCK + band)
        out.append((a0, a1, mat[lo:lo + COEF_BLOCK, a0:a1].contiguous()))
    return out


def _times(blocks, x: torch.Tensor) -> torch.Tensor:
    """mat @ x along x's second-last axis, mat given by _band_blocks."""
    return torch.cat([m @ x[..., a0:a1, :] for a0, a1, m in blocks], -2)


def _times_transpose(x: torch.Tensor, blocks) -> torch.Tensor:
    """x @ mat^T along x's last axis, mat given by _band_blocks."""
    return torch.cat([x[..., a0:a1] @ m.T for a0, a1, m in blocks], -1)


# Largest block of gathered stencil values (columns x stencil entries) Stencil.gather forms at once (8 MB in
# float64); larger blocks go column by column, so memory grows with the problem, not with problem x columns.
GATHER_BLOCK = 1 << 20


@dataclass
class Stencil:
    index: torch.Tensor   # (..., npts * 16) flat indices into the padded coefficient array
    weight: torch.Tensor  # (..., npts, 16)
    dweight: torch.Tensor | None = None  # (..., npts, 16, 2): d weight / d x_d (with_gradient=True)
    edge: bool = False  # the edge extension: the padding mirrors the interior (SplineCoefficients' edge)

    @classmethod
    def at(cls, grid: Grid, x: torch.Tensor, with_gradient: bool = False, edge: bool = False) -> "Stencil":
        """Stencil of the spline on `grid` at domain points x (..., npts, 2); zero far outside the domain, or,
        edge, the points clamped to the outermost pixel centres (the spline held at its value there).
        with_gradient=True also keeps the weights' derivatives in x, so the spline's spatial gradient at the
        points is a gather too (`gather_gradient`, adjoint `scatter_gradient`)."""
        m1, m2 = grid.m
        xi = grid.to_index(x)
        lo, hi1, hi2 = (0.0, m1 - 1.0, m2 - 1.0) if edge else (-2.0, m1 + 1.0, m2 + 1.0)
        xi1 = xi[..., 0].clamp(lo, hi1)
        xi2 = xi[..., 1].clamp(lo, hi2)
        p1 = torch.floor(xi1).detach()
        p2 = torch.floor(xi2).detach()
        f1, f2 = xi1 - p1, xi2 - p2
        w1 = torch.stack([bspline_kernel(f1 - k) for k in STENCIL_OFFSETS], -1)
        w2 = torch.stack([bspline_kernel(f2 - k) for k in STENCIL_OFFSETS], -1)
        weight = (w1[..., :, None] * w2[..., None, :]).flatten(-2)
        off = torch.tensor(STENCIL_OFFSETS, device=x.device)
        i1 = p1.long()[..., None] + PAD + off
        i2 = p2.long()[..., None] + PAD + off
        index = (i1[..., :, None] * (m2 + 2 * PAD) + i2[..., None, :]).flatten(-2)
        dweight = None
        if with_gradient:
            # Where a coordinate is clamped the spline is constant along it (zero, or edge: held), so its
            # derivative is zero.
            in1 = ((xi[..., 0] > lo) & (xi[..., 0] < hi1)).to(x.dtype)[..., None] / grid.h[0]
            in2 = ((xi[..., 1] > lo) & (xi[..., 1] < hi2)).to(x.dtype)[..., None] / grid.h[1]
            d1 = torch.stack([bspline_kernel_derivative(f1 - k) for k in STENCIL_OFFSETS], -1) * in1
            d2 = torch.stack([bspline_kernel_derivative(f2 - k) for k in STENCIL_OFFSETS], -1) * in2
            dweight = torch.stack(((d1[..., :, None] * w2[..., None, :]).flatten(-2),
                                   (w1[..., :, None] * d2[..., None, :]).flatten(-2)), -1)
        return cls(index.flatten(-2), weight, dweight, edge)

    def gather(self, cflat: torch.Tensor) -> torch.Tensor:
        """cflat (..., P) -> values (..., *stencil batch, npts)."""
        lead = cflat.shape[:-1]
        cols = lead.numel() if len(lead) else 1
        if cols >= 8 and cols * self.index.numel() <= GATHER_BLOCK:
            # A few small columns: gather whole rows of the transposed block (contiguous), 2-3x faster than
            # gathering along the last dimension of every column.
            rows = cflat.reshape(-1, cflat.shape[-1]).T.contiguous().index_select(0, self.index.flatten())
            vals = (rows.unflatten(0, self.weight.shape) * self.weight[..., None]).sum(-2)
            return vals.movedim(-1, 0).reshape(*lead, *self.weight.shape[:-1])
        if cols > 1 and cols * self.index.numel() > GATHER_BLOCK:
            # Larger blocks column by column: 3-4x faster than the row gather from 32x32 on (measured), and
            # the memory is one column's stencil values, not columns x stencil entries (2.8 GB for 90 columns
            # at 128x128 with 15 moved frames).
            flat = cflat.reshape(-1, cflat.shape[-1])
            return torch.stack([self.gather(c) for c in flat]).reshape(*lead, *self.weight.shape[:-1])
        if self.index.numel() > GATHER_BLOCK:
            # Many points: in pieces, so no temporary exceeds GATHER_BLOCK values. One 60 MB temporary per
            # product (256x256, 7 moved frames) went back to the system each time: more system than user time.
            idx, wt = self.index.flatten(), self.weight.reshape(-1, 16)
            step = GATHER_BLOCK // 16
            parts = [(cflat.index_select(-1, idx[16 * a:16 * (a + step)]).unflatten(-1, (-1, 16))
                      * wt[a:a + step]).sum(-1) for a in range(0, wt.shape[0], step)]
            return torch.cat(parts, -1).unflatten(-1, self.weight.shape[:-1])
        vals = cflat.index_select(-1, self.index.flatten()).unflatten(-1, self.weight.shape[:-1] + (16,))
        return (vals * self.weight).sum(-1)

    def _pooled_entries(self, grid: Grid, k: int, keep: torch.Tensor | None = None):
        """Flat interior-coefficient indices and weights of the pooled rows, (..., coarse points, 16 k^2):
        the stencil holds one image's worth of points in the grid's order (npts = m1 m2) and K is k x k
        average pooling of those points; entries in the zero padding get weight 0, or, edge, go to the interior
        coefficient they mirror."""
        m1, m2 = grid.m
        p2 = m2 + 2 * PAD
        a, b = self.index.div(p2, rounding_mode="floor"), self.index % p2
        if self.edge:
            a, b = mirror_index(m1, a.device)[a], mirror_index(m2, b.device)[b]
            flat, weight = a * m2 + b, self.weight.flatten(-2) / (k * k)
        else:
            a, b = a - PAD, b - PAD
            inside = (a >= 0) & (a < m1) & (b >= 0) & (b < m2)  # padding coefficients are zero
            flat = torch.where(inside, a * m2 + b, torch.zeros_like(a))
            weight = self.weight.flatten(-2) * inside.to(self.weight.dtype) / (k * k)
        lead = weight.shape[:-1]

        def by_block(t):  # (..., npts * 16) -> (..., coarse points, 16 k^2)
            t = t.reshape(*lead, m1 // k, k, m2 // k, k, 16).movedim(-4, -3)
            return t.reshape(*lead, (m1 // k) * (m2 // k), k * k * 16)

        weight = by_block(weight)
        if keep is not None:  # 0/1 per pooled row (..., coarse points): dropped rows have no entries
            weight = weight * keep[..., None]
        return by_block(flat), weight

    def pooled_matrix(self, grid: Grid, k: int) -> torch.Tensor:
        """K S as a dense matrix (..., coarse points, n) on the interior spline coefficients (n = m1 m2)."""
        flat, weight = self._pooled_entries(grid, k)
        out = torch.zeros(*weight.shape[:-1], grid.m[0] * grid.m[1], dtype=weight.dtype, device=weight.device)
        return out.scatter_add(-1, flat, weight)

    def pooled_gram(self, grid: Grid, k: int, keep: torch.Tensor | None = None) -> torch.Tensor:
        """sum over the stencil's leading batch of (K S)^T (K S) (n, n), in interior coefficient space (see
        pooled_matrix). Each pooled row has 16 k^2 (index, weight) entries, so the Gram matrix is an
        index_add of their outer products, batch entry by batch entry (memory n^2 + (npts / k^2) (16 k^2)^2):
        fewer operations than the dense product once n exceeds a few hundred. keep: optional 0/1 weights of
        the pooled rows (..., coarse points), rows with 0 left out."""
        flat, weight = self._pooled_entries(grid, k, keep)
        n = grid.m[0] * grid.m[1]
        out = torch.zeros(n * n, dtype=weight.dtype, device=weight.device)
        for f, w in zip(flat.reshape(-1, *flat.shape[-2:]), weight.reshape(-1, *weight.shape[-2:])):
            pairs = (f[:, :, None] * n + f[:, None, :]).flatten()
            out = out.index_add(0, pairs, (w[:, :, None] * w[:, None, :]).flatten())
        return out.reshape(n, n)

    def gather_gradient(self, cflat: torch.Tensor) -> torch.Tensor:
        """The spline's spatial gradient at the points: cflat (..., P) -> (..., *stencil batch, npts, 2)."""
        vals = cflat.index_select(-1, self.index.flatten()).unflatten(-1, self.weight.shape[:-1] + (16,))
        return (vals[..., None] * self.dweight).sum(-2)

    def scatter_gradient(self, g: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather_gradient, keeping the stencil's batch apart: g (..., *batch, npts, 2) ->
        (..., *batch, P), each batch entry (e.g. each frame) scattered into its own coefficient array."""
        return self._scatter_each((g[..., None, :] * self.dweight).sum(-1), size)

    def scatter_each(self, y: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather keeping the stencil's batch apart: y (..., *batch, npts) -> (..., *batch, P)."""
        return self._scatter_each(y[..., None] * self.weight, size)

    def _scatter_each(self, v: torch.Tensor, size: int) -> torch.Tensor:
        """v (..., *batch, npts, 16) weighted stencil values -> (..., *batch, P) by one index_add."""
        batch = self.weight.shape[:-2]
        nb = len(batch)
        nbatch = 1
        for b in batch:
            nbatch *= b
        offset = (torch.arange(nbatch, device=v.device) * size).reshape(*batch, 1)
        idx = (self.index + offset).flatten()
        out = torch.zeros(*v.shape[:-nb - 2], nbatch * size, dtype=v.dtype, device=v.device)
        out = out.index_add(-1, idx, v.flatten(-nb - 2))
        return out.unflatten(-1, (*batch, size))

    def scatter(self, y: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather: y (..., *stencil batch, npts) -> (..., P)."""
        nb = self.index.dim()
        idx = self.index.flatten()
        if idx.numel() > GATHER_BLOCK:  # in pieces, as gather
            yf, wt = y.flatten(-nb), self.weight.reshape(-1, 16)
            out = torch.zeros(*yf.shape[:-1], size, dtype=y.dtype, device=y.device)
            step = GATHER_BLOCK // 16
            for a in range(0, wt.shape[0], step):
                v = (yf[..., a:a + step, None] * wt[a:a + step]).flatten(-2)
                out = out.index_add(-1, idx[16 * a:16 * (a + step)], v)
            return out
        v = (y[..., None] * self.weight).flatten(-nb - 1)
        out = torch.zeros(*v.shape[:-1], size, dtype=v.dtype, device=v.device)
        return out.index_add(-1, idx, v)


@dataclass
class SeparableStencil:
    """The same interpolation as Stencil, held as one corner index per point and 4 weights per axis ("structure
    of arrays", regrun.imaging.spline._stencil): no (points, 16) index or weight array is formed. Building it
    costs a few passes over the points instead of two 16-wide arrays (at 256x256 with 15 moved frames: 0.4 s
    and 0.25 GB per build, most of it page faults, against a few hundredths); the gather is 16 index_selects of
    one value per point from shifted views of the coefficients, the scatter 16 index_adds into them.
    Differentiable in the points through the weights, as Stencil."""

    corner: torch.Tensor  # (K,) flat index of each stencil's (-1, -1) corner in the padded coefficients
    w1: torch.Tensor      # (4, K) weights along dimension 1
    w2: torch.Tensor      # (4, K) weights along dimension 2
    batch: tuple          # the points' leading shape (K = its product)
    padded_m2: int
    d1: torch.Tensor | None = None  # (4, K) d w1 / d x1 in domain units (with_gradient=True)
    d2: torch.Tensor | None = None

    @classmethod
    def at(cls, grid: Grid, x: torch.Tensor, with_gradient: bool = False, edge: bool = False) -> "SeparableStencil":
        """edge: the points clamped to the outermost pixel centres (Stencil.at's edge)."""
        corner, weights = _stencil(grid.m, grid, x, 1 if with_gradient else 0, edge)
        d1 = d2 = None
        if with_gradient:
            d1, d2 = weights[4:8, 0] / grid.h[0], weights[4:8, 1] / grid.h[1]
        return cls(corner, weights[0:4, 0], weights[0:4, 1], tuple(x.shape[:-1]), grid.m[1] + 2 * PAD, d1, d2)

    def _rows(self, cflat: torch.Tensor, along2):
        """u[a] = sum_b c[corner + a P2 + b] v[b] for each weight set v (4, K) along dimension 2."""
        out = [[None] * 4 for _ in along2]
        for a in range(4):
            for b in range(4):
                c = cflat[..., a * self.padded_m2 + b:].index_select(-1, self.corner)
                for u, v in zip(out, along2):
                    u[a] = c * v[b] if b == 0 else torch.addcmul(u[a], c, v[b])
        return out

    @staticmethod
    def _dot4(a, b) -> torch.Tensor:
        out = a[0] * b[0]
        for k in range(1, 4):
            out = torch.addcmul(out, a[k], b[k])
        return out

    def gather(self, cflat: torch.Tensor) -> torch.Tensor:
        """cflat (..., P) -> values (..., *batch)."""
        (u,) = self._rows(cflat, [self.w2])
        return self._dot4(self.w1, u).unflatten(-1, self.batch)

    def gather_gradient(self, cflat: torch.Tensor) -> torch.Tensor:
        """The spline's spatial gradient at the points: cflat (..., P) -> (..., *batch, 2)."""
        u, du = self._rows(cflat, [self.w2, self.d2])
        g = torch.stack((self._dot4(self.d1, u), self._dot4(self.w1, du)), -1)
        return g.unflatten(-2, self.batch)

    def scatter(self, y: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather: y (..., *batch) -> (..., size). Each of the 16 taps is an index_add at the corner
        index, shifted into place afterwards (out of place throughout, so forward-mode AD runs through it)."""
        y = y.flatten(-len(self.batch)) if self.batch else y
        zeros = torch.zeros(*y.shape[:-1], size, dtype=y.dtype, device=y.device)
        out = zeros
        for a in range(4):
            ya = y * self.w1[a]
            for b in range(4):
                shift = a * self.padded_m2 + b
                tap = zeros.index_add(-1, self.corner, ya * self.w2[b])
                out = out + torch.nn.functional.pad(tap[..., :size - shift], (shift, 0))
        return out


@dataclass
class PooledStencil:
    """k x k block sums of a SeparableStencil's interpolation at one fixed set of points: each block of k x k
    points (the fine points of one pooled pixel) becomes one patch of W1 x W2 coefficients (W = 4 + the largest
    spread of the block's corners along that axis, 5-6 for near-rigid motions at k = 2) with merged weights.
    A product then touches W1 W2 coefficients per block (25-36 at k = 2) instead of 16 k^2 (64) per block, and no
    pooling pass follows: the super-resolution products at a fixed motion (PCG's) cost about half. Not
    differentiable in the points (build it for a fixed motion; SeparableStencil is the differentiable one)."""

    corner: torch.Tensor  # (B,) flat index of each patch's corner in the padded coefficients
    weight: torch.Tensor  # (W1 W2, B) the merged weights (concat's on the CPU: the transpose of a (B, W1 W2) array)
    width: tuple          # (W1, W2)
    batch: tuple          # the blocks' leading shape (B = its product)
    padded_m2: int

    @classmethod
    def pool(cls, stencil: SeparableStencil, k: int) -> "PooledStencil":
        """Sum the stencil's points over k x k blocks of its last two batch dimensions (n1, n2)."""
        *lead, n1, n2 = stencil.batch
        p2 = stencil.padded_m2
        nl = len(lead)

        def blocks(t):  # (..., K) -> (..., k * k, B): the points of each block along one axis, blocks last
            t = t.reshape(*t.shape[:-1], *lead, n1 // k, k, n2 // k, k)
            d = t.dim()
            t = t.permute(*range(d - nl - 4), d - 3, d - 1, *range(d - nl - 4, d - 3), d - 2)
            return t.reshape(*t.shape[:-(nl + 4)], k * k, -1)

        c1, c2 = blocks(stencil.corner // p2), blocks(stencil.corner % p2)
        lo1, lo2 = c1.min(0).values, c2.min(0).values
        o1, o2 = c1 - lo1, c2 - lo2
        widths = (4 + int(o1.max()), 4 + int(o2.max()))

        def spread(w, o, width):  # (4, K) weights at offsets o -> (width, k*k, B)
            w = blocks(w)
            out = torch.zeros(width, *w.shape[1:], dtype=w.dtype, device=w.device)
            for a in range(4):
                out.scatter_add_(0, (o + a).unsqueeze(0), w[a].unsqueeze(0))
            return out

        v1, v2 = spread(stencil.w1.detach(), o1, widths[0]), spread(stencil.w2.detach(), o2, widths[1])
        # every tap pair at once, summed over the block's k^2 points by one multiply-add each (k^2 kernels, not two
        # per tap: 72 a frame on a GPU); a broadcast product and a sum made a (W1, W2, k^2, B) temporary: 5.8 -> 1.5
        # ms a frame at 256x256 on one thread, ~0.7 CPU-s of a 256x256/16 auto run (docs/superres.md, "srspeed")
        merged = v1[:, None, 0] * v2[None, :, 0]
        for p in range(1, v1.shape[1]):
            merged.addcmul_(v1[:, None, p], v2[None, :, p])
        merged = merged.reshape(widths[0] * widths[1], v1.shape[-1])
        return cls(lo1 * p2 + lo2, merged, widths, (*lead, n1 // k, n2 // k), p2)

    def spare(self) -> dict:
        """This stencil's large CPU buffers for the next build to write into (the caller holds the only reference
        to it and lets it go): {"weight": its merged weights' storage, flat, "index": its CSR's column indices, None
        before a product built them}. A fresh CPU buffer over 32 MB (glibc's largest mmap threshold) is mapped anew
        and faulted in page by page: at 256^2 from 16 frames the weights (70 MB) and the index (35 MB) cost ~40 ms
        of system time a build, ~13 builds a run (docs/superres.md, "Colour 256^2 with a margin (srspeed3)").
        The stencil is unusable after (its weights None)."""
        rows = getattr(self, "_rows", None)
        out = {"weight": self.weight.T.reshape(-1), "index": None if rows is None else torch.from_numpy(rows.indices)}
        self.weight, self._rows = None, None
        return out

    @classmethod
    def concat(cls, parts, total: int, spare: dict | None = None) -> PooledStencil:
        """The parts' blocks (an iterable of PooledStencils, `total` blocks in all) one after the other along
        their first batch dimension, all at the widest patch (a narrower part's extra taps weigh 0): a stack of
        frames pooled one by one (their temporaries one frame's size) is the stack pooled at once. Each part is
        copied in as it comes, so only one is held beside the result (a list of all of them doubled the
        merged weights' memory: 0.28 GB more at 512x512 from 16 frames)."""
        weight = corner = None
        at, lead = 0, 0
        for q in parts:
            nb = q.corner.shape[0]
            if weight is None:
                need = total * q.width[0] * q.width[1]
                if spare is not None and spare["weight"].numel() >= need and spare["weight"].dtype == q.weight.dtype:
                    weight = spare["weight"][:need].view(total, *q.width).zero_()  # the last build's storage
                else:
                    weight = q.weight.new_zeros(total, *q.width)
                corner = q.corner.new_empty(total)
                rest, m2 = q.batch[1:], q.padded_m2
            elif q.width[0] > weight.shape[1] or q.width[1] > weight.shape[2]:  # a wider patch: grow
                grown = weight.new_zeros(total, max(q.width[0], weight.shape[1]), max(q.width[1], weight.shape[2]))
                grown[:, :weight.shape[1], :weight.shape[2]] = weight
                weight = grown
            weight[at:at + nb, :q.width[0], :q.width[1]] = q.weight.reshape(*q.width, nb).permute(2, 0, 1)
            corner[at:at + nb] = q.corner
            at += nb
            lead += q.batch[0]
        w1, w2 = weight.shape[1:]
        # held block by block (each block's taps together) on the CPU, where the products go by the block rows
        # (_rows_matrix: its data array as it is); tap by tap on a GPU, where the taps' loop runs
        weight = weight.reshape(total, w1 * w2).T
        out = cls(corner, weight if weight.device.type == "cpu" else weight.contiguous(), (w1, w2), (lead, *rest), m2)
        out._spare_index = None if spare is None else spare["index"]  # for _rows_matrix's index array
        return out

    def _shifts(self):
        return [a * self.padded_m2 + b for a in range(self.width[0]) for b in range(self.width[1])]

    def _extra(self) -> int:
        # a block's patch may reach W - 4 past its own points' stencils (its weights there are 0): pad for it
        return (self.width[0] - 4) * self.padded_m2 + self.width[1] - 4

    def _rows_matrix(self, x: torch.Tensor, columns: int):
        """The merged weights as a sparse matrix (blocks x padded coefficients with the patches' reach; scipy's
        CSR, built at the first product and kept), for a product with x on the CPU; None where the taps' loop
        runs instead: on a GPU, or for an x that autograd or torch.func tracks (the CSR product is not
        differentiable). One compiled pass over each block's W1 W2 taps instead of one pass over all blocks per
        tap: at 256x256 from 16 frames, one thread, a gather 12 -> 6.7 ms and a scatter 18 -> 7.5 ms for a build of
        ~16 ms (the index array; the data array is the weights as concat holds them on the CPU; docs/superres.md,
        "Speed margin at 256^2 (srspeed2)")."""
        if self.weight.device.type != "cpu" or x.dtype != self.weight.dtype or not untracked_cpu(x):
            return None
        rows = getattr(self, "_rows", None)
        if rows is None or rows.shape[1] != columns:
            from scipy.sparse import csr_array

            nb, taps = self.corner.shape[0], self.weight.shape[0]
            shifts = torch.tensor(self._shifts(), dtype=torch.int32)
            spare, self._spare_index = getattr(self, "_spare_index", None), None
            if spare is not None and spare.numel() >= nb * taps:  # the last stencil's index storage (spare())
                index = torch.add(self.corner.to(torch.int32)[:, None], shifts,
                                  out=spare[:nb * taps].view(nb, taps)).reshape(-1)
            else:
                index = (self.corner.to(torch.int32)[:, None] + shifts).reshape(-1)
            data = self.weight.T.contiguous().reshape(-1)
            start = torch.arange(0, nb * taps + 1, taps, dtype=torch.int32)
            rows = self._rows = csr_array((data.numpy(), index.numpy(), start.numpy()), shape=(nb, columns))
        return rows

    def gather(self, cflat: torch.Tensor) -> torch.Tensor:
        """cflat (..., P) -> block sums (..., *batch). Each tap reads a shifted view at the corner index (no
        shifted index array per tap and product); on the CPU by the block rows (_rows_matrix)."""
        c = torch.nn.functional.pad(cflat, (0, self._extra()))
        rows = self._rows_matrix(c, c.shape[-1])
        if rows is not None:
            x = c.reshape(-1, c.shape[-1]).numpy()
            out = rows @ x[0] if x.shape[0] == 1 else (rows @ x.T).T
            return torch.from_numpy(out).reshape(*cflat.shape[:-1], *self.batch)
        out = None
        for t, s in enumerate(self._shifts()):
            v = c[..., s:].index_select(-1, self.corner)
            out = v * self.weight[t] if out is None else out.addcmul_(v, self.weight[t])
        return out.unflatten(-1, self.batch)

    def scatter(self, y: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather: y (..., *batch) -> (..., size). One reused buffer for the weighted values, each tap
        added into a shifted view at the corner index."""
        y = y.flatten(-len(self.batch))
        rows = self._rows_matrix(y, size + self._extra())
        if rows is not None:
            x = y.reshape(-1, y.shape[-1]).numpy()
            out = rows.T @ x[0] if x.shape[0] == 1 else (rows.T @ x.T).T
            return torch.from_numpy(out)[..., :size].reshape(*y.shape[:-1], size)
        out = torch.zeros(*y.shape[:-1], size + self._extra(), dtype=y.dtype, device=y.device)
        buf = None if y.requires_grad else torch.empty_like(y)  # out= takes no part in autograd
        for t, s in enumerate(self._shifts()):
            v = y * self.weight[t] if buf is None else torch.mul(y, self.weight[t], out=buf)
            out[..., s:].index_add_(-1, self.corner, v)
        return out[..., :size]

    def gram(self, rows: torch.Tensor, size: int) -> BandedGram:
        """sum over the blocks b of rows_b^2 p_b p_b^T, (size, size): the normal matrix of the block sums with
        row weights `rows` (*batch), p_b the block's patch (its merged weights at its coefficients). Two
        coefficients meet only inside one patch, so the matrix is banded in the flat padded index (offsets
        da P2 + db, |da| < W1, |db| < W2) and held by those diagonals (BandedGram). Built by one index_add per
        pair of taps (the symmetric half), into shifted views of the diagonals: about the cost of 10 products
        gather + scatter, after which every product is contiguous work independent of the number of frames
        (256x256 from 16 frames, one thread: about 8 ms against 45 ms by gather and scatter)."""
        w1, w2 = self.width
        p2 = self.padded_m2
        length = size + self._extra()
        weight = self.weight.contiguous()  # tap by tap (concat holds it block by block on the CPU)
        diags = torch.zeros(w1, 2 * w2 - 1, length, dtype=weight.dtype, device=weight.device)
        r2 = rows.reshape(-1).square()
        wt, buf = torch.empty_like(r2), torch.empty_like(r2)
        for a in range(w1):
            for b in range(w2):
                torch.mul(weight[a * w2 + b], r2, out=wt)
                for a2 in range(a, w1):
                    for b2 in range(b if a2 == a else 0, w2):
                        # G[i, i + d], d = (a2 - a) P2 + b2 - b, at i = corner + a P2 + b
                        row = diags[a2 - a, b2 - b + w2 - 1, a * p2 + b:]
                        row.index_add_(0, self.corner, torch.mul(wt, weight[a2 * w2 + b2], out=buf))
        return BandedGram(diags, p2, size)


# BandedGram.apply skips the diagonals whose entries together stay under this share of the matrix's largest entry
# (a bound on the skipped part's infinity norm, both triangles, against ||G|| >= max |G_ij|). 0: exact zeros only (a
# patch narrower than W: translations), the same product to the bit. 1e-10 skipped 11 of 60 diagonals at 256^2/16
# with rotations (their entries 1e-30 to 1e-10 of the main diagonal's), the product 4.8 -> 4.1 ms, but A^T A then
# differs from the two products by ~1e-10 and the 1e-13 / 1e-14 exactness tests failed (docs/superres.md,
# "Sixteenth round (srfast)").
GRAM_SKIP_TOL = 0.0


@dataclass
class BandedGram:
    """A symmetric (size, size) matrix G with G[i, i + d] nonzero only at d = da P2 + db, 0 <= da < W1,
    |db| < W2 (and their negatives), held by its diagonals: diags[da, db + W2 - 1, i] = G[i, i + d] for d >= 0
    (the rows da = 0, db < 0 are unused), i over size + the patches' reach. A product is two multiply-adds per
    diagonal on shifted views of the vector: contiguous, no index."""

    diags: torch.Tensor  # (W1, 2 W2 - 1, L)
    padded_m2: int
    size: int
    skip_tol: float = GRAM_SKIP_TOL

    def __post_init__(self):
        # (offset d > 0, its diagonal) of the diagonals applied: the smallest skipped while their entries' sum of
        # largest values (twice: G is symmetric) stays within skip_tol of the largest entry
        w1, span, length = self.diags.shape
        w2 = (span + 1) // 2
        offsets = [(da * self.padded_m2 + db, da, db + w2 - 1) for da in range(w1) for db in range(-(w2 - 1), w2)
                   if da * self.padded_m2 + db > 0]
        peak = self.diags.abs().amax(-1)
        top = float(peak.max())
        budget, kept = self.skip_tol * top, []
        for (d, a, b), v in sorted(zip(offsets, (2 * float(peak[a, b]) for _, a, b in offsets)), key=lambda t: t[1]):
            if v <= budget:
                budget -= v
            else:
                kept.append((d, a, b))
        self.kept = sorted(kept)

    def apply(self, c: torch.Tensor) -> torch.Tensor:
        """G c for c (..., size), batched over leading dimensions."""
        w1, span, length = self.diags.shape
        w2 = (span + 1) // 2
        c = torch.nn.functional.pad(c, (0, length - c.shape[-1]))
        out = c * self.diags[0, w2 - 1]
        for d, a, b in self.kept:
            diag = self.diags[a, b, :length - d]
            out[..., :length - d].addcmul_(diag, c[..., d:])
            out[..., d:].addcmul_(diag, c[..., :length - d])
        return out[..., :self.size]
