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

from .grid import Grid
from .spline import (
    PAD,
    STENCIL_OFFSETS,
    bspline_kernel,
    bspline_kernel_derivative,
    coefficient_operator,
)


class SplineCoefficients:
    """f (..., m1, m2) -> padded coefficients (..., (m1+8)(m2+8)) and its adjoint, for exact interpolation."""

    def __init__(self, grid: Grid, dtype=torch.float64, device=None):
        self.grid = grid
        m1, m2 = grid.m
        self.s1 = coefficient_operator(m1, 0.0, dtype, device)
        self.s2 = coefficient_operator(m2, 0.0, dtype, device)
        self.padded = (m1 + 2 * PAD, m2 + 2 * PAD)

    def apply(self, f: torch.Tensor) -> torch.Tensor:
        c = self.s1 @ f @ self.s2.T
        return torch.nn.functional.pad(c, (PAD, PAD, PAD, PAD)).flatten(-2)

    def gram(self, inner: torch.Tensor) -> torch.Tensor:
        """C^T G C for a Gram matrix G (n, n) over the interior coefficients (C f = s1 f s2^T, flattened; the
        padding is zero so it never enters): four contractions with s1, s2 instead of n^2 x n products."""
        m1, m2 = self.grid.m
        g = inner.reshape(m1, m2, m1, m2)
        g = torch.einsum("ai,abcd->ibcd", self.s1, g)
        g = torch.einsum("bj,ibcd->ijcd", self.s2, g)
        g = torch.einsum("ck,ijcd->ijkd", self.s1, g)
        g = torch.einsum("dl,ijkd->ijkl", self.s2, g)
        return g.reshape(m1 * m2, m1 * m2)

    def adjoint(self, cflat: torch.Tensor) -> torch.Tensor:
        m1, m2 = self.grid.m
        c = cflat.unflatten(-1, self.padded)[..., PAD:PAD + m1, PAD:PAD + m2]
        return self.s1.T @ c @ self.s2


# Largest block of gathered stencil values (columns x stencil entries) Stencil.gather forms at once (8 MB in
# float64); larger blocks go column by column, so memory grows with the problem, not with problem x columns.
GATHER_BLOCK = 1 << 20


@dataclass
class Stencil:
    index: torch.Tensor   # (..., npts * 16) flat indices into the padded coefficient array
    weight: torch.Tensor  # (..., npts, 16)
    dweight: torch.Tensor | None = None  # (..., npts, 16, 2): d weight / d x_d (with_gradient=True)

    @classmethod
    def at(cls, grid: Grid, x: torch.Tensor, with_gradient: bool = False) -> "Stencil":
        """Stencil of the spline on `grid` at domain points x (..., npts, 2); zero far outside the domain.
        with_gradient=True also keeps the weights' derivatives in x, so the spline's spatial gradient at the
        points is a gather too (`gather_gradient`, adjoint `scatter_gradient`)."""
        m1, m2 = grid.m
        xi = grid.to_index(x)
        xi1 = xi[..., 0].clamp(-2.0, m1 + 1.0)
        xi2 = xi[..., 1].clamp(-2.0, m2 + 1.0)
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
            # Where a coordinate is clamped the spline is zero around the point, so its derivative is too.
            in1 = ((xi[..., 0] > -2.0) & (xi[..., 0] < m1 + 1.0)).to(x.dtype)[..., None] / grid.h[0]
            in2 = ((xi[..., 1] > -2.0) & (xi[..., 1] < m2 + 1.0)).to(x.dtype)[..., None] / grid.h[1]
            d1 = torch.stack([bspline_kernel_derivative(f1 - k) for k in STENCIL_OFFSETS], -1) * in1
            d2 = torch.stack([bspline_kernel_derivative(f2 - k) for k in STENCIL_OFFSETS], -1) * in2
            dweight = torch.stack(((d1[..., :, None] * w2[..., None, :]).flatten(-2),
                                   (w1[..., :, None] * d2[..., None, :]).flatten(-2)), -1)
        return cls(index.flatten(-2), weight, dweight)

    def masked(self, keep: torch.Tensor) -> "Stencil":
        """The stencil with the points where keep (..., npts) is 0 weighing nothing (their values, gradients and
        adjoints all 0): points that are no data."""
        dweight = None if self.dweight is None else self.dweight * keep[..., None, None]
        return Stencil(self.index, self.weight * keep[..., None], dweight)

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

    def _pooled_entries(self, grid: Grid, k: int):
        """Flat interior-coefficient indices and weights of the pooled rows, (..., coarse points, 16 k^2):
        the stencil holds one image's worth of points in the grid's order (npts = m1 m2) and K is k x k
        average pooling of those points; entries in the zero padding get weight 0."""
        m1, m2 = grid.m
        p2 = m2 + 2 * PAD
        a, b = self.index.div(p2, rounding_mode="floor") - PAD, self.index % p2 - PAD
        inside = (a >= 0) & (a < m1) & (b >= 0) & (b < m2)  # padding coefficients are zero
        flat = torch.where(inside, a * m2 + b, torch.zeros_like(a))
        weight = self.weight.flatten(-2) * inside.to(self.weight.dtype) / (k * k)
        lead = weight.shape[:-1]

        def by_block(t):  # (..., npts * 16) -> (..., coarse points, 16 k^2)
            t = t.reshape(*lead, m1 // k, k, m2 // k, k, 16).movedim(-4, -3)
            return t.reshape(*lead, (m1 // k) * (m2 // k), k * k * 16)

        return by_block(flat), by_block(weight)

    def pooled_matrix(self, grid: Grid, k: int) -> torch.Tensor:
        """K S as a dense matrix (..., coarse points, n) on the interior spline coefficients (n = m1 m2)."""
        flat, weight = self._pooled_entries(grid, k)
        out = torch.zeros(*weight.shape[:-1], grid.m[0] * grid.m[1], dtype=weight.dtype, device=weight.device)
        return out.scatter_add(-1, flat, weight)

    def pooled_gram(self, grid: Grid, k: int) -> torch.Tensor:
        """sum over the stencil's leading batch of (K S)^T (K S) (n, n), in interior coefficient space (see
        pooled_matrix). Each pooled row has 16 k^2 (index, weight) entries, so the Gram matrix is an
        index_add of their outer products, batch entry by batch entry (memory n^2 + (npts / k^2) (16 k^2)^2):
        fewer operations than the dense product once n exceeds a few hundred."""
        flat, weight = self._pooled_entries(grid, k)
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
