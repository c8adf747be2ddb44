"""Drawing primitives for procedural templates (textured regions, ellipses, thick segments), shared by the
synthetic crab (crab_data.py) and the example template drawn by scripts/make_example_template.py (draw_robot).

Everything is CPU float64 and deterministic for a given torch.Generator, so a seed gives the same drawing on every
machine; (rr, cc) are the row/col index grids of the canvas.
"""
from __future__ import annotations

import math

import torch

from ..imaging.gaussian import gaussian_filter


def texture(gen: torch.Generator, shape, base, contrast: float, sigma: float) -> torch.Tensor:
    """Coloured smooth noise: base colour (3,) plus contrast x band-passed noise, one pattern for all channels
    scaled per channel so that colour and luminance both vary."""
    noise = torch.randn(1, *shape, generator=gen, dtype=torch.float64, device="cpu")
    noise = gaussian_filter(noise, sigma) - gaussian_filter(noise, 3 * sigma)
    noise = noise / noise.std()
    tint = 0.6 + 0.8 * torch.rand(3, 1, 1, generator=gen, dtype=torch.float64, device="cpu")
    return (torch.tensor(base, dtype=torch.float64, device="cpu")[:, None, None] + contrast * tint * noise).clamp(0.02, 1.0)


def ellipse(rr, cc, c, axes, angle=0.0):
    ca, sa = math.cos(angle), math.sin(angle)
    u = ((rr - c[0]) * ca + (cc - c[1]) * sa) / axes[0]
    v = (-(rr - c[0]) * sa + (cc - c[1]) * ca) / axes[1]
    return u * u + v * v <= 1


def segment(rr, cc, p, q, width):
    p, q = torch.tensor(p, dtype=rr.dtype, device="cpu"), torch.tensor(q, dtype=rr.dtype, device="cpu")
    d = q - p
    t = (((rr - p[0]) * d[0] + (cc - p[1]) * d[1]) / (d @ d)).clamp(0, 1)
    return (rr - p[0] - t * d[0]) ** 2 + (cc - p[1] - t * d[1]) ** 2 <= (width / 2) ** 2
