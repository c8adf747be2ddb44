"""Tensor-product cubic B-spline images with FAIR's scale parameter theta.

Per dimension the coefficients solve (B^T B + theta P) c = B^T t, with B = tridiag(1, 4, 1) the collocation
matrix of FAIR's unnormalised cubic B-spline (b(0) = 4, b(+-1) = 1) and P FAIR's "moments" matrix (96 on the
diagonal, -54 on the +-1 diagonals, 6 on the +-3 diagonals). theta = 0 interpolates exactly; larger theta
smooths. Everything is differentiable in torch: with respect to the evaluation points, the image and theta.
Outside the coefficient support the spline is zero, so images vanish smoothly outside omega.
"""
from __future__ import annotations

import torch

from .grid import Grid


def bspline_kernel(t: torch.Tensor) -> torch.Tensor:
    """FAIR's cubic B-spline, 6 times the normalised one: b(0) = 4, b(+-1) = 1, support (-2, 2)."""
    a = t.abs()
    inner = 4 - 6 * a**2 + 3 * a**3
    outer = (2 - a).clamp(min=0) ** 3
    return torch.where(a < 1, inner, outer)


def collocation_matrix(m: int, dtype=torch.float64, device=None) -> torch.Tensor:
    return (
        4 * torch.eye(m, dtype=dtype, device=device)
        + torch.diag(torch.ones(m - 1, dtype=dtype, device=device), 1)
        + torch.diag(torch.ones(m - 1, dtype=dtype, device=device), -1)
    )


def moments_matrix(m: int, dtype=torch.float64, device=None) -> torch.Tensor:
    p = 96 * torch.eye(m, dtype=dtype, device=device)
    for k, v in ((1, -54.0), (3, 6.0)):
        if m > k:
            off = torch.full((m - k,), v, dtype=dtype, device=device)
            p = p + torch.diag(off, k) + torch.diag(off, -k)
    return p


def coefficient_operator(m: int, theta, dtype=torch.float64, device=None) -> torch.Tensor:
    """S(theta) = (B^T B + theta P)^-1 B^T, so that the coefficients along one dimension are S @ t."""
    b = collocation_matrix(m, dtype, device)
    lhs = b.T @ b + theta * moments_matrix(m, dtype, device)
    return torch.linalg.solve(lhs, b.T)


def coefficients(image: torch.Tensor, theta=0.0) -> torch.Tensor:
    """Spline coefficients of an image (..., m1, m2) at scale theta (a float or a 0-d tensor)."""
    m1, m2 = image.shape[-2:]
    s1 = coefficient_operator(m1, theta, image.dtype, image.device)
    s2 = s1 if m2 == m1 else coefficient_operator(m2, theta, image.dtype, image.device)
    return s1 @ image @ s2.T


_PAD = 4  # coefficient padding: the 4x4 stencil of any clamped point lies inside the padded array
_OFFSETS = (-1, 0, 1, 2)


def evaluate(coef: torch.Tensor, grid: Grid, x: torch.Tensor) -> torch.Tensor:
    """The spline with coefficients coef (m1, m2) on grid, at domain points x (..., 2). Zero far outside.

    The 4x4 stencil is gathered at once and contracted with the separable weights: on 32x32 images this made
    the exact Hessian of J about 6x faster than 16 separate gathers."""
    m1, m2 = coef.shape[-2:]
    c = torch.nn.functional.pad(coef, (_PAD, _PAD, _PAD, _PAD))
    xi = grid.to_index(x)
    # The spline vanishes for index coordinates outside (-2, m + 1); clamping there changes no value and keeps
    # every stencil inside the padding.
    xi1 = xi[..., 0].clamp(-2.0, m1 + 1.0)
    xi2 = xi[..., 1].clamp(-2.0, m2 + 1.0)
    p1 = torch.floor(xi1).detach()
    p2 = torch.floor(xi2).detach()
    off = torch.tensor(_OFFSETS, dtype=x.dtype, device=x.device)
    w1 = bspline_kernel((xi1 - p1)[..., None] - off)
    w2 = bspline_kernel((xi2 - p2)[..., None] - off)
    i1 = p1.long()[..., None] + _PAD + off.long()
    i2 = p2.long()[..., None] + _PAD + off.long()
    stencil = c[i1[..., :, None], i2[..., None, :]]
    return torch.einsum("...a,...ab,...b->...", w1, stencil, w2)


def _stencil_weights(f: torch.Tensor, order: int):
    """FAIR's kernel b and its derivatives at f + 1, f, f - 1, f - 2 (the stencil offsets -1..2 seen from a
    point at fractional position f in [0, 1)), as cubic polynomials in f: (..., 4) each."""
    g = 1 - f
    f2, f3 = f * f, f * f * f
    w = torch.stack((g * g * g, 3 * f3 - 6 * f2 + 4, -3 * f3 + 3 * f2 + 3 * f + 1, f3), -1)
    # d/dxi of b(xi - k) = b'(f - offset)
    d = torch.stack((-3 * g * g, 9 * f2 - 12 * f, -9 * f2 + 6 * f + 3, 3 * f2), -1)
    dd = torch.stack((6 * g, 18 * f - 12, -18 * f + 6, 6 * f), -1) if order == 2 else None
    return w, d, dd


def evaluate_derivatives(coef: torch.Tensor, grid: Grid, x: torch.Tensor, order: int = 1):
    """Values (...), spatial gradients (..., 2) and, for order 2, Hessians (..., 2, 2) of the spline at domain
    points x, from one gather of the 4x4 stencil and the kernel's own derivatives: no autograd graph. The same
    numbers as a reverse sweep through `evaluate` (tested) at a fraction of its cost (a reverse sweep scatters
    back through the gather). The results do not carry gradients."""
    if order not in (1, 2):
        raise ValueError(f"order={order} must be 1 or 2")
    x = x.detach()
    m1, m2 = coef.shape[-2:]
    c = torch.nn.functional.pad(coef.detach(), (_PAD, _PAD, _PAD, _PAD))
    xi = grid.to_index(x)
    xi1 = xi[..., 0].clamp(-2.0, m1 + 1.0)
    xi2 = xi[..., 1].clamp(-2.0, m2 + 1.0)
    p1, p2 = torch.floor(xi1), torch.floor(xi2)
    w1, d1, dd1 = _stencil_weights(xi1 - p1, order)
    w2, d2, dd2 = _stencil_weights(xi2 - p2, order)
    # one flat gather of the 16 stencil coefficients
    n2 = m2 + 2 * _PAD
    off = torch.arange(-1, 3, device=x.device)
    base = (p1.long() + _PAD) * n2 + (p2.long() + _PAD)
    idx = base[..., None, None] + off[:, None] * n2 + off[None, :]
    stencil = c.reshape(-1)[idx]  # (..., 4, 4)
    h1, h2 = grid.h
    u = (stencil @ w2[..., None])[..., 0]    # contracted along x2 with the values
    du = (stencil @ d2[..., None])[..., 0]   # ... with the x2-derivative
    value = (w1 * u).sum(-1)
    grad = torch.stack(((d1 * u).sum(-1) / h1, (w1 * du).sum(-1) / h2), dim=-1)
    if order == 1:
        return value, grad, None
    ddu = (stencil @ dd2[..., None])[..., 0]
    h11 = (dd1 * u).sum(-1) / (h1 * h1)
    h12 = (d1 * du).sum(-1) / (h1 * h2)
    h22 = (w1 * ddu).sum(-1) / (h2 * h2)
    hess = torch.stack((torch.stack((h11, h12), -1), torch.stack((h12, h22), -1)), -2)
    return value, grad, hess


class SplineImage:
    """An image as a callable spline at a fixed theta: coefficients are solved once, evaluated many times."""

    def __init__(self, data: torch.Tensor, grid: Grid, theta=0.0):
        self.data = data
        self.grid = grid
        self.theta = theta
        self.coef = coefficients(data, theta)

    @classmethod
    def from_coefficients(cls, coef: torch.Tensor, grid: Grid) -> "SplineImage":
        self = cls.__new__(cls)
        self.data, self.grid, self.theta, self.coef = None, grid, None, coef
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return evaluate(self.coef, self.grid, x)

    def derivatives(self, y: torch.Tensor, order: int = 1):
        """Values, spatial gradients (..., 2) and, for order 2, Hessians (..., 2, 2) at points y (an image
        model for regrun.imaging.registration), by the spline's own stencil (evaluate_derivatives)."""
        return evaluate_derivatives(self.coef, self.grid, y, order)
