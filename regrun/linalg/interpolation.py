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

from ..imaging.grid import Grid
from ..imaging.spline import bspline_kernel, coefficient_operator

_PAD = 4  # as in regrun.imaging.spline: every stencil of a clamped point lies inside the padding
_OFFSETS = (-1, 0, 1, 2)


class SplineCoefficients:
    """f (..., m1, m2) -> padded coefficients (..., (m1+8)(m2+8)) and its adjoint, for exact interpolation."""

    def __init__(self, grid: Grid, dtype=torch.float64, device=None):
        self.grid = grid
        m1, m2 = grid.m
        self.s1 = coefficient_operator(m1, 0.0, dtype, device)
        self.s2 = coefficient_operator(m2, 0.0, dtype, device)
        self.padded = (m1 + 2 * _PAD, m2 + 2 * _PAD)

    def apply(self, f: torch.Tensor) -> torch.Tensor:
        c = self.s1 @ f @ self.s2.T
        return torch.nn.functional.pad(c, (_PAD, _PAD, _PAD, _PAD)).flatten(-2)

    def adjoint(self, cflat: torch.Tensor) -> torch.Tensor:
        m1, m2 = self.grid.m
        c = cflat.unflatten(-1, self.padded)[..., _PAD:_PAD + m1, _PAD:_PAD + m2]
        return self.s1.T @ c @ self.s2


@dataclass
class Stencil:
    index: torch.Tensor   # (..., npts * 16) flat indices into the padded coefficient array
    weight: torch.Tensor  # (..., npts, 16)

    @classmethod
    def at(cls, grid: Grid, x: torch.Tensor) -> "Stencil":
        """Stencil of the spline on `grid` at domain points x (..., npts, 2); zero far outside the domain."""
        m1, m2 = grid.m
        xi = grid.to_index(x)
        xi1 = xi[..., 0].clamp(-2.0, m1 + 1.0)
        xi2 = xi[..., 1].clamp(-2.0, m2 + 1.0)
        p1 = torch.floor(xi1).detach()
        p2 = torch.floor(xi2).detach()
        f1, f2 = xi1 - p1, xi2 - p2
        w1 = torch.stack([bspline_kernel(f1 - k) for k in _OFFSETS], -1)
        w2 = torch.stack([bspline_kernel(f2 - k) for k in _OFFSETS], -1)
        weight = (w1[..., :, None] * w2[..., None, :]).flatten(-2)
        off = torch.tensor(_OFFSETS, device=x.device)
        i1 = p1.long()[..., None] + _PAD + off
        i2 = p2.long()[..., None] + _PAD + off
        index = (i1[..., :, None] * (m2 + 2 * _PAD) + i2[..., None, :]).flatten(-2)
        return cls(index.flatten(-2), weight)

    def gather(self, cflat: torch.Tensor) -> torch.Tensor:
        """cflat (..., P) -> values (..., *stencil batch, npts)."""
        vals = cflat.index_select(-1, self.index.flatten()).unflatten(-1, self.weight.shape[:-1] + (16,))
        return (vals * self.weight).sum(-1)

    def scatter(self, y: torch.Tensor, size: int) -> torch.Tensor:
        """Adjoint of gather: y (..., *stencil batch, npts) -> (..., P)."""
        nb = self.index.dim()
        v = (y[..., None] * self.weight).flatten(-nb - 1)
        idx = self.index.flatten()
        out = torch.zeros(*v.shape[:-1], size, dtype=v.dtype, device=v.device)
        return out.index_add(-1, idx, v)
