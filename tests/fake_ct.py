"""A small CT problem with a dense random system matrix, for solver tests that need no projector."""
from __future__ import annotations

import torch

F64 = torch.float64


class DenseA:
    """A dense stand-in for the X-ray transform: A(x) and adjoint(y) differentiable, project/backproject plain."""

    def __init__(self, a, shape):
        self.a, self.shape = a, shape

    def __call__(self, x):
        return self.a @ x.reshape(-1)

    def adjoint(self, y):
        return (self.a.T @ y).reshape(self.shape)

    project, backproject = __call__, adjoint


class FakeCT:
    """n x n piecewise-constant truth (a block, and with `inner` a brighter block inside it) in a disk mask, `rows`
    noisy measurements (sigma 0.05)."""

    def __init__(self, device, n=12, rows=70, inner=True):
        g = torch.Generator().manual_seed(0)
        self.shape = (n, n)
        self.A = DenseA((torch.randn(rows, n * n, generator=g, dtype=F64) / n).to(device), self.shape)
        truth = torch.zeros(n, n, dtype=F64)
        truth[3:9, 4:9] = 1
        if inner:
            truth[5:7, 5:7] = 2
        c = (torch.arange(n, dtype=F64) + 0.5) / n * 2 - 1
        self.mask = ((c[:, None] ** 2 + c[None, :] ** 2) < 0.95**2).to(device)
        self.truth = truth.to(device) * self.mask
        self.sinogram = self.A(self.truth) + 0.05 * torch.randn(rows, generator=g, dtype=F64).to(device)
