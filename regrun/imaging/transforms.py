"""Parametric transformations y(x; w)."""
from __future__ import annotations

import math

import torch

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
