"""Cell-centred grids over a box domain omega = [lo1, hi1] x [lo2, hi2] (FAIR's convention)."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Grid:
    """m = (m1, m2) cells over omega = (lo1, hi1, lo2, hi2); array index [i, j] is cell (x1_i, x2_j)."""

    omega: tuple[float, float, float, float]
    m: tuple[int, int]

    @property
    def h(self) -> tuple[float, float]:
        return ((self.omega[1] - self.omega[0]) / self.m[0], (self.omega[3] - self.omega[2]) / self.m[1])

    @property
    def cell_volume(self) -> float:
        return self.h[0] * self.h[1]

    @property
    def centre(self) -> tuple[float, float]:
        return (0.5 * (self.omega[0] + self.omega[1]), 0.5 * (self.omega[2] + self.omega[3]))

    def centres(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Cell centres, shape (m1, m2, 2), on `device`: the run's (ctx.device), or "cpu" for data generation."""
        h1, h2 = self.h
        x1 = self.omega[0] + h1 * (torch.arange(self.m[0], dtype=dtype, device=device) + 0.5)
        x2 = self.omega[2] + h2 * (torch.arange(self.m[1], dtype=dtype, device=device) + 0.5)
        return torch.stack(torch.meshgrid(x1, x2, indexing="ij"), dim=-1)

    def to_index(self, x: torch.Tensor) -> torch.Tensor:
        """Domain points (..., 2) -> continuous 0-based cell indices, cell i's centre at index i."""
        h1, h2 = self.h
        return torch.stack(((x[..., 0] - self.omega[0]) / h1 - 0.5, (x[..., 1] - self.omega[2]) / h2 - 0.5), -1)

    def contains(self, x: torch.Tensor) -> torch.Tensor:
        """Whether points x (..., 2) lie in the closed domain omega (cell index within [-0.5, m - 0.5]): ITK's
        "inside the image buffer" for a cell-centred image, the points a masked objective keeps."""
        o = self.omega
        return (x[..., 0] >= o[0]) & (x[..., 0] <= o[1]) & (x[..., 1] >= o[2]) & (x[..., 1] <= o[3])

    def inside_weight(self, x: torch.Tensor, width: float = 1.0) -> torch.Tensor:
        """0 outside omega, rising linearly to 1 over `width` cells inside its edge: a mask that makes a masked
        objective continuous in the points (a hard mask makes J jump whenever a point crosses the edge, which
        stalls a Gauss-Newton method in a staircase of spurious minima)."""
        # cells from the nearest edge, > 0 inside; per coordinate on contiguous vectors (no stacked (..., 2)
        # temporaries: this runs at every trial point of a masked registration)
        depth = None
        for k in range(2):
            xi = (x[..., k] - self.omega[2 * k]) / self.h[k] - 0.5
            d = torch.minimum(xi + 0.5, (self.m[k] - 0.5) - xi)
            depth = d if depth is None else torch.minimum(depth, d)
        return (depth / width).clamp(0.0, 1.0)

    def refined(self, factor: int) -> "Grid":
        return Grid(self.omega, (self.m[0] * factor, self.m[1] * factor))
