"""Parametric transformations y(x; w)."""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch

from ..errors import check_choice

AFFINE_IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def affine(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """y = A x + b with w = (A11, A12, A21, A22, b1, b2). The leading dimensions of w (..., 6) broadcast with
    those of x (..., 2): to apply B transforms to one grid, pass w[:, None, None, :]."""
    y1 = w[..., 0] * x[..., 0] + w[..., 1] * x[..., 1] + w[..., 4]
    y2 = w[..., 2] * x[..., 0] + w[..., 3] * x[..., 1] + w[..., 5]
    return torch.stack((y1, y2), dim=-1)


def affine_identity(dtype=torch.float64, device=None) -> torch.Tensor:
    return torch.tensor(AFFINE_IDENTITY, dtype=dtype, device=device)


def affine_inverse(w: torch.Tensor) -> torch.Tensor:
    a = w[:4].reshape(2, 2)
    ainv = torch.linalg.inv(a)
    binv = -ainv @ w[4:]
    return torch.cat((ainv.reshape(4), binv))


def rotation_matrix(angle, *, degrees: bool = False, clockwise: bool = False, dtype=torch.float64,
                    device=None) -> torch.Tensor:
    """The 2x2 rotation [[c, -s], [s, c]] (counter-clockwise in (x1, x2); c = cos angle, s = sin angle), its
    transpose with clockwise=True (the detector's convention: clockwise as displayed in (row, col)). angle in
    radians, or degrees with degrees=True. A float gives one matrix in dtype on device (pass the run's, or "cpu"
    for data made on the CPU); a tensor of angles (...,) gives (..., 2, 2) in its dtype and device,
    differentiable in the angles."""
    if isinstance(angle, torch.Tensor):
        t = torch.deg2rad(angle) if degrees else angle
        c, s = torch.cos(t), torch.sin(t)
        s = -s if clockwise else s
        return torch.stack((torch.stack((c, -s), -1), torch.stack((s, c), -1)), -2)
    t = math.radians(angle) if degrees else float(angle)
    c, s = math.cos(t), math.sin(t)
    rows = [[c, s], [-s, c]] if clockwise else [[c, -s], [s, c]]
    return torch.tensor(rows, dtype=dtype, device=device)


def affine_about(angle_deg: float, scale=(1.0, 1.0), shift=(0.0, 0.0), centre=(0.0, 0.0), *,
                 dtype=torch.float64, device=None) -> torch.Tensor:
    """Parameters of x -> R(angle) diag(scale) (x - c) + c + shift, on `device` (the run's, or "cpu" for data
    generation) in `dtype`."""
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    a = torch.tensor([[c * scale[0], -s * scale[1]], [s * scale[0], c * scale[1]]], dtype=dtype, device=device)
    cen = torch.tensor(centre, dtype=dtype, device=device)
    b = cen - a @ cen + torch.tensor(shift, dtype=dtype, device=device)
    return torch.cat((a.reshape(4), b))


# ---- the transformation family (FAIR's trafo modules: translation2D, rigid2D, affine2D, plus similarity) ------
#
# Every transformation maps points x (..., 2) to y(x; w) with parameters w (..., n_params); leading dimensions of
# w and x broadcast, so B transforms of one point set take w[:, None, :] and x (N, 2). `dy_dw` is the analytic
# Jacobian (..., 2, n_params); `d2y_dw2` the second derivative (..., 2, n_params, n_params), or None where y is
# linear in w (then the exact Hessian of a pointwise objective needs only the spatial second derivatives).
# A centre c (default the origin) makes the linear part act about c: y = M(w) (x - c) + c + b, so rotations and
# scalings of a centred image do not need a large b (issue 9); with c = 0 the affine is today's y = A x + b.


class Transformation(ABC):
    """y(x; w) with an analytic dy/dw; subclasses define n_params, identity_params, points, dy_dw."""

    n_params: int
    identity_params: tuple[float, ...]
    linear_in_w = True

    def __init__(self, center=None):
        self.center = None if center is None else tuple(float(v) for v in center)

    def identity(self, dtype=torch.float64, device=None) -> torch.Tensor:
        return torch.tensor(self.identity_params, dtype=dtype, device=device)

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        if self.center is None:
            return x
        return x - torch.tensor(self.center, dtype=x.dtype, device=x.device)

    def _uncentred(self, y: torch.Tensor) -> torch.Tensor:
        if self.center is None:
            return y
        return y + torch.tensor(self.center, dtype=y.dtype, device=y.device)

    @abstractmethod
    def points(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y(x; w), shape (..., 2)."""

    @abstractmethod
    def dy_dw(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """dy/dw at x, shape (..., 2, n_params)."""

    def d2y_dw2(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def matrix_and_shift(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(M (..., 2, 2), b (..., 2)) with y = M (x - c) + c + b; only transformations linear in x have one."""
        raise TypeError(f"{type(self).__name__} is not linear in x: it has no matrix and shift")

    def __repr__(self):
        return f"{type(self).__name__}(center={self.center})"


def _broadcast_shape(w: torch.Tensor, x: torch.Tensor) -> tuple[int, ...]:
    # numpy's rule, not torch.broadcast_shapes: its first call imports torch._refs, torch.fx's symbolic
    # shapes and sympy (3-4 s), which was most of a first super-resolution solve.
    return tuple(np.broadcast_shapes(tuple(w.shape[:-1]), tuple(x.shape[:-1])))


class Translation(Transformation):
    """y = x + b, w = (b1, b2)."""

    n_params = 2
    identity_params = (0.0, 0.0)

    def points(self, w, x):
        return x + w

    def matrix_and_shift(self, w):
        eye = torch.eye(2, dtype=w.dtype, device=w.device)
        return eye.expand(*w.shape[:-1], 2, 2), w

    def dy_dw(self, w, x):
        shape = _broadcast_shape(w, x)
        eye = torch.eye(2, dtype=x.dtype, device=x.device)
        return eye.expand(*shape, 2, 2)


class Rigid(Transformation):
    """SE(2): y = R(phi) (x - c) + c + b, w = (phi, b1, b2), phi in radians (FAIR's rigid2D with a centre)."""

    n_params = 3
    identity_params = (0.0, 0.0, 0.0)
    linear_in_w = False

    def points(self, w, x):
        z = self._centred(x)
        c, s = torch.cos(w[..., 0]), torch.sin(w[..., 0])
        y1 = c * z[..., 0] - s * z[..., 1] + w[..., 1]
        y2 = s * z[..., 0] + c * z[..., 1] + w[..., 2]
        return self._uncentred(torch.stack((y1, y2), -1))

    def dy_dw(self, w, x):
        z = self._centred(x)
        c, s = torch.cos(w[..., 0]), torch.sin(w[..., 0])
        d1 = -s * z[..., 0] - c * z[..., 1]  # d y1 / d phi
        d2 = c * z[..., 0] - s * z[..., 1]
        one, zero = torch.ones_like(d1), torch.zeros_like(d1)
        return torch.stack((torch.stack((d1, one, zero), -1), torch.stack((d2, zero, one), -1)), -2)

    def matrix_and_shift(self, w):
        c, s = torch.cos(w[..., 0]), torch.sin(w[..., 0])
        return torch.stack((torch.stack((c, -s), -1), torch.stack((s, c), -1)), -2), w[..., 1:]

    def d2y_dw2(self, w, x):
        z = self._centred(x)
        c, s = torch.cos(w[..., 0]), torch.sin(w[..., 0])
        dd = torch.stack((-c * z[..., 0] + s * z[..., 1], -s * z[..., 0] - c * z[..., 1]), -1)  # d2 y / d phi2
        out = torch.zeros(*dd.shape, 3, 3, dtype=dd.dtype, device=dd.device)
        out[..., 0, 0] = dd
        return out


class Similarity(Transformation):
    """y = [[a, -b], [b, a]] (x - c) + c + t, w = (a, b, t1, t2): rotation by atan2(b, a) and scaling by
    |(a, b)|, linear in w (so Gauss-Newton needs no second derivative of y), identity (1, 0, 0, 0)."""

    n_params = 4
    identity_params = (1.0, 0.0, 0.0, 0.0)

    def points(self, w, x):
        z = self._centred(x)
        y1 = w[..., 0] * z[..., 0] - w[..., 1] * z[..., 1] + w[..., 2]
        y2 = w[..., 1] * z[..., 0] + w[..., 0] * z[..., 1] + w[..., 3]
        return self._uncentred(torch.stack((y1, y2), -1))

    def matrix_and_shift(self, w):
        a, b = w[..., 0], w[..., 1]
        return torch.stack((torch.stack((a, -b), -1), torch.stack((b, a), -1)), -2), w[..., 2:]

    def dy_dw(self, w, x):
        z = self._centred(x).expand(*_broadcast_shape(w, x), 2)
        one, zero = torch.ones_like(z[..., 0]), torch.zeros_like(z[..., 0])
        return torch.stack((torch.stack((z[..., 0], -z[..., 1], one, zero), -1),
                            torch.stack((z[..., 1], z[..., 0], zero, one), -1)), -2)


class Affine(Transformation):
    """y = A (x - c) + c + b, w = (A11, A12, A21, A22, b1, b2) from the identity (1, 0, 0, 1, 0, 0); with no
    centre this is `affine(w, x)` (seed 000's parameterization)."""

    n_params = 6
    identity_params = AFFINE_IDENTITY

    def points(self, w, x):
        if self.center is None:
            return affine(w, x)
        return self._uncentred(affine(w, self._centred(x)))

    def matrix_and_shift(self, w):
        return w[..., :4].unflatten(-1, (2, 2)), w[..., 4:]

    def dy_dw(self, w, x):
        z = self._centred(x).expand(*_broadcast_shape(w, x), 2)
        one, zero = torch.ones_like(z[..., 0]), torch.zeros_like(z[..., 0])
        return torch.stack((torch.stack((z[..., 0], z[..., 1], zero, zero, one, zero), -1),
                            torch.stack((zero, zero, z[..., 0], z[..., 1], zero, one), -1)), -2)


TRANSFORMATIONS = {"translation": Translation, "rigid": Rigid, "similarity": Similarity, "affine": Affine}


def transformation(name: str, center=None) -> Transformation:
    """A transformation by name (translation, rigid, similarity, affine), acting about `center`."""
    check_choice("transformation", name, TRANSFORMATIONS)
    return TRANSFORMATIONS[name](center)
