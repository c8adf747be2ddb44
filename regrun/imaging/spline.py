"""Tensor-product cubic B-spline images with FAIR's scale parameter theta.

Per dimension the coefficients solve (B^T B + theta P) c = B^T t, with B = tridiag(1, 4, 1) the collocation
matrix of FAIR's unnormalised cubic B-spline (b(0) = 4, b(+-1) = 1) and P FAIR's "moments" matrix (96 on the
diagonal, -54 on the +-1 diagonals, 6 on the +-3 diagonals). theta = 0 interpolates exactly; larger theta
smooths. Everything is differentiable in torch: with respect to the evaluation points, the image and theta.
Outside the coefficient support the spline is zero, so images vanish smoothly outside omega (the zero extension).
The edge extension (`edge=True`, problem.extension=edge of super-resolution) instead mirrors the coefficients about
the outermost pixel centres and holds the spline at its value there beyond them: see collocation_matrix.
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


def bspline_kernel_derivative(t: torch.Tensor) -> torch.Tensor:
    """d/dt of bspline_kernel (continuous, C^1 across the knots)."""
    a = t.abs()
    inner = -12 * t + 9 * t * a
    outer = -3 * torch.sign(t) * (2 - a).clamp(min=0) ** 2
    return torch.where(a < 1, inner, outer)


def collocation_matrix(m: int, dtype=torch.float64, device=None, edge: bool = False) -> torch.Tensor:
    """B: pixel values from coefficients. edge: the coefficients beyond the grid mirror those inside (c_-1 = c_1,
    c_m = c_m-2), so the first and last rows read their neighbour twice: then a constant image has constant
    coefficients and its spline is that constant everywhere (with zero coefficients beyond the grid it ripples by
    up to 7% of the level between the outermost pixel centres: docs/superres.md, "srsky"), and the spline is even
    about the outermost centres, its derivative there zero, so holding it constant beyond them is C^1."""
    b = (
        4 * torch.eye(m, dtype=dtype, device=device)
        + torch.diag(torch.ones(m - 1, dtype=dtype, device=device), 1)
        + torch.diag(torch.ones(m - 1, dtype=dtype, device=device), -1)
    )
    if edge and m > 1:
        b[0, 1] = b[-1, -2] = 2.0
    return b


def moments_matrix(m: int, dtype=torch.float64, device=None) -> torch.Tensor:
    p = 96 * torch.eye(m, dtype=dtype, device=device)
    for k, v in ((1, -54.0), (3, 6.0)):
        if m > k:
            off = torch.full((m - k,), v, dtype=dtype, device=device)
            p = p + torch.diag(off, k) + torch.diag(off, -k)
    return p


def coefficient_operator(m: int, theta, dtype=torch.float64, device=None, edge: bool = False) -> torch.Tensor:
    """S(theta) = (B^T B + theta P)^-1 B^T, so that the coefficients along one dimension are S @ t (edge: B's
    mirrored ends, collocation_matrix)."""
    b = collocation_matrix(m, dtype, device, edge)
    lhs = b.T @ b + theta * moments_matrix(m, dtype, device)
    return torch.linalg.solve(lhs, b.T)


def coefficients(image: torch.Tensor, theta=0.0) -> torch.Tensor:
    """Spline coefficients of an image (..., m1, m2) at scale theta (a float or a 0-d tensor)."""
    m1, m2 = image.shape[-2:]
    s1 = coefficient_operator(m1, theta, image.dtype, image.device)
    s2 = s1 if m2 == m1 else coefficient_operator(m2, theta, image.dtype, image.device)
    return s1 @ image @ s2.T


PAD = 4  # coefficient padding: the 4x4 stencil of any clamped point lies inside the padded array
EXTENSIONS = ("zero", "edge")  # the spline beyond the grid (problem.extension: configs/problem/superres.yaml)


def mirror_index(m: int, device=None) -> torch.Tensor:
    """For each position of a padded axis (m + 2 PAD), the interior coefficient it mirrors (edge extension):
    c_-k = c_k and c_m-1+k = c_m-1-k, reflected again where PAD exceeds the axis."""
    t = torch.arange(-PAD, m + PAD, device=device)
    if m == 1:
        return torch.zeros_like(t)
    t = t.remainder(2 * (m - 1))
    return torch.where(t > m - 1, 2 * (m - 1) - t, t)
STENCIL_OFFSETS = (-1, 0, 1, 2)  # the knots of a point's 4-tap stencil, relative to the cell it lies in

# FAIR's kernel b and its derivatives at f + 1, f, f - 1, f - 2 (the stencil offsets -1..2 seen from a point at
# fractional position f in [0, 1)) are cubics in f: row k of _WEIGHT_POLYNOMIALS holds the coefficients of
# (f, f^2, f^3) and _WEIGHT_CONSTANTS the constant term, rows 0-3 the values (1-f)^3, 3f^3 - 6f^2 + 4,
# -3f^3 + 3f^2 + 3f + 1, f^3, rows 4-7 their f-derivatives, rows 8-11 the second derivatives.
_WEIGHT_POLYNOMIALS = (
    (-3, 3, -1), (0, -6, 3), (3, 3, -3), (0, 0, 1),
    (6, -3, 0), (-12, 9, 0), (6, -9, 0), (0, 3, 0),
    (-6, 0, 0), (18, 0, 0), (-18, 0, 0), (6, 0, 0),
)
_WEIGHT_CONSTANTS = (1, 4, 1, 0, -3, 0, 3, 0, 6, -12, 6, 0)


def _stencil(m: tuple[int, int], grid: Grid, x: torch.Tensor, order: int, edge: bool = False):
    """Where the 4x4 stencil of every point starts and its weights along each dimension, point index last
    ("structure of arrays": every operation below runs on contiguous vectors of the K points of x (..., 2)).
    Returns the flat index (K,) of each stencil's (-1, -1) corner in the zero-padded coefficient array of shape
    m and the weights (4 * (order + 1), 2, K): rows 0-3 the values, 4-7 the first and 8-11 the second
    derivatives in index units, for dimension 1 and 2. edge: points clamped to the outermost pixel centres (the
    spline held at its value there beyond them), their derivatives along a clamped axis zero."""
    m1, m2 = m
    h1, h2 = grid.h
    x = x.reshape(-1, 2)
    lo = x.new_tensor((grid.omega[0], grid.omega[2]))[:, None]
    h = x.new_tensor((h1, h2))[:, None]
    # The spline vanishes for index coordinates outside (-2, m + 1); clamping there changes no value and keeps
    # every stencil inside the padding.
    hi = x.new_tensor((m1 + 1.0, m2 + 1.0))[:, None]
    raw = (x.T - lo) / h - 0.5
    if edge:
        hi = x.new_tensor((m1 - 1.0, m2 - 1.0))[:, None]
        inside = ((raw > 0) & (raw < hi)).to(x.dtype)
    xi = torch.minimum(raw.clamp(min=0.0 if edge else -2.0), hi)
    p = torch.floor(xi).detach()
    f = xi - p
    padded_m2 = m2 + 2 * PAD
    corner = (p[0] * padded_m2 + p[1]).long() + ((PAD - 1) * padded_m2 + PAD - 1)  # exact in floating point
    rows = 4 * (order + 1)
    poly = x.new_tensor(_WEIGHT_POLYNOMIALS[:rows])
    const = x.new_tensor(_WEIGHT_CONSTANTS[:rows])[:, None]
    f2 = f * f
    powers = torch.stack((f, f2, f2 * f)).reshape(3, -1)
    weights = torch.addmm(const, poly, powers).reshape(rows, 2, -1)
    if edge and order > 0:
        weights = torch.cat((weights[:4], weights[4:] * inside), 0)
    return corner, weights


def _pad_flat(coef: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.pad(coef, (PAD, PAD, PAD, PAD)).reshape(-1)


def _rows(cflat: torch.Tensor, padded_m2: int, corner: torch.Tensor, along2: list[torch.Tensor]):
    """For each weight set v (4, K) along x2, the stencil rows contracted with it: u[a] = sum_b c[a, b] v[b],
    as a list of 4 (K,) vectors per set. Each coefficient c[a, b] of every stencil is gathered with the one
    corner index from a shifted view of the flat array: no (16, K) index or stencil is formed (on a CPU each
    large temporary costs its page faults, which dominated the evaluation when they were)."""
    out = [[None] * 4 for _ in along2]
    for a in range(4):
        for b in range(4):
            c = cflat[a * padded_m2 + b:].index_select(0, corner)
            for u, v in zip(out, along2):
                u[a] = c * v[b] if b == 0 else torch.addcmul(u[a], c, v[b])
    return out


def _dot4(a, b) -> torch.Tensor:
    """sum_k a[k] b[k] over four (K,) vectors."""
    out = a[0] * b[0]
    for k in range(1, 4):
        out = torch.addcmul(out, a[k], b[k])
    return out


# Points per piece in _spline_values and _spline_derivatives: a piece's stencil weights (8-24 values a point,
# at most 25 MB) stay under the allocator's largest reused block (glibc: 32 MB), so they come from its heap; all
# points at once (a pre-registration scale at 512x512 from 16 frames: a million points, 0.13 GB of weights)
# are a fresh mapping every call, page-faulted in and handed back. Smaller sets (the paper's, the CI pairs')
# are one piece, as before.
POINT_CHUNK = 1 << 17


def _pieces(x: torch.Tensor):
    """x (..., 2) as consecutive pieces of at most POINT_CHUNK points (the flattened leading dimensions)."""
    flat = x.reshape(-1, 2)
    return [flat[a:a + POINT_CHUNK] for a in range(0, flat.shape[0], POINT_CHUNK)]


def _spline_values(cflat: torch.Tensor, m, grid: Grid, x: torch.Tensor) -> torch.Tensor:
    if x[..., 0].numel() > POINT_CHUNK:
        return torch.cat([_spline_values(cflat, m, grid, piece) for piece in _pieces(x)]).reshape(x.shape[:-1])
    corner, weights = _stencil(m, grid, x, 0)
    (u,) = _rows(cflat, m[1] + 2 * PAD, corner, [weights[0:4, 1]])
    return _dot4(weights[0:4, 0], u).reshape(x.shape[:-1])


def evaluate(coef: torch.Tensor, grid: Grid, x: torch.Tensor) -> torch.Tensor:
    """The spline with coefficients coef (m1, m2) on grid, at domain points x (..., 2). Zero far outside.
    Differentiable (torch autograd and torch.func) in x and coef."""
    return _spline_values(_pad_flat(coef), coef.shape[-2:], grid, x)


def _spline_derivatives(cflat: torch.Tensor, m, grid: Grid, x: torch.Tensor, order: int):
    if x[..., 0].numel() > POINT_CHUNK:
        parts = [_spline_derivatives(cflat, m, grid, piece, order) for piece in _pieces(x)]
        shape = x.shape[:-1]
        return (torch.cat([q[0] for q in parts]).reshape(shape), torch.cat([q[1] for q in parts]).reshape(*shape, 2),
                None if order == 1 else torch.cat([q[2] for q in parts]).reshape(*shape, 2, 2))
    h1, h2 = grid.h
    corner, weights = _stencil(m, grid, x, order)
    w1, d1 = weights[0:4, 0], weights[4:8, 0]
    # contracted along x2 with the values, the x2-derivative and (order 2) the second x2-derivative
    rows = _rows(cflat, m[1] + 2 * PAD, corner, [weights[4 * k:4 * k + 4, 1] for k in range(order + 1)])
    u, du = rows[0], rows[1]
    value = _dot4(w1, u)
    grad = torch.stack((_dot4(d1, u) / h1, _dot4(w1, du) / h2), dim=-1)
    hess = None
    if order == 2:
        dd1, ddu = weights[8:12, 0], rows[2]
        h11 = _dot4(dd1, u) / (h1 * h1)
        h12 = _dot4(d1, du) / (h1 * h2)
        h22 = _dot4(w1, ddu) / (h2 * h2)
        hess = torch.stack((torch.stack((h11, h12), -1), torch.stack((h12, h22), -1)), -2)
    shape = x.shape[:-1]
    return value.reshape(shape), grad.reshape(*shape, 2), None if hess is None else hess.reshape(*shape, 2, 2)


def evaluate_derivatives(coef: torch.Tensor, grid: Grid, x: torch.Tensor, order: int = 1):
    """Values (...), spatial gradients (..., 2) and, for order 2, Hessians (..., 2, 2) of the spline at domain
    points x, from one gather of the 4x4 stencil and the kernel's own derivatives: no autograd graph. The same
    numbers as a reverse sweep through `evaluate` (tested) at a fraction of its cost (a reverse sweep scatters
    back through the gather). The results do not carry gradients."""
    if order not in (1, 2):
        raise ValueError(f"order={order} must be 1 or 2")
    with torch.no_grad():
        return _spline_derivatives(_pad_flat(coef), coef.shape[-2:], grid, x.detach(), order)


class SplineImage:
    """An image as a callable spline at a fixed theta: coefficients are solved once, evaluated many times."""

    def __init__(self, data: torch.Tensor, grid: Grid, theta=0.0):
        self.data = data
        self.grid = grid
        self.theta = theta
        self.coef = coefficients(data, theta)
        self._cflat = None

    @classmethod
    def from_coefficients(cls, coef: torch.Tensor, grid: Grid) -> "SplineImage":
        self = cls.__new__(cls)
        self.data, self.grid, self.theta, self.coef, self._cflat = None, grid, None, coef, None
        return self

    @property
    def padded(self) -> torch.Tensor:
        """The zero-padded coefficients, flattened, formed once."""
        if self._cflat is None:
            self._cflat = _pad_flat(self.coef)
        return self._cflat

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _spline_values(self.padded, self.coef.shape[-2:], self.grid, x)

    def derivatives(self, y: torch.Tensor, order: int = 1):
        """Values, spatial gradients (..., 2) and, for order 2, Hessians (..., 2, 2) at points y (an image
        model for regrun.registration.objective), by the spline's own stencil (evaluate_derivatives)."""
        if order not in (1, 2):
            raise ValueError(f"order={order} must be 1 or 2")
        with torch.no_grad():
            return _spline_derivatives(self.padded.detach(), self.coef.shape[-2:], self.grid, y.detach(), order)
