"""CT phantoms as functions of position, and their cell averages on a voxel grid.

Coordinates are normalised so that the volume spans [-1, 1] along x1 and x2 (x3 has the same voxel size, so it
spans [-n3/n1, n3/n1]). Values are attenuation relative to the densest material (1).

- `shepp_logan`: the modified Shepp-Logan phantom (Toft 1996; MATLAB's phantom('Modified Shepp-Logan')) in 2-D
  and its 3-D extension with the standard parameters of Schabel's phantom3d (Kak-Slaney ellipsoids).
- `metal_part`: an additively manufactured metal part, generated from a seed: a dense body with gas pores, a
  lattice of struts inside a shell, a thin-walled channel and a thin rib, the features a few-view reconstruction
  must keep (the paper scanned a Ti-6Al-4V part).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import check_choice

PHANTOMS = ("shepp_logan", "metal_part")

# A, a, b, x0, y0, phi (degrees): intensity, half-axes, centre, rotation
SHEPP_LOGAN_2D = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18.0),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18.0),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0.0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0.0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0.0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0.0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0.0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0.0),
)

# A, a, b, c, x0, y0, z0, phi, theta, psi (degrees, Euler z-x-z as in phantom3d)
SHEPP_LOGAN_3D = (
    (1.0, 0.69, 0.92, 0.81, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.874, 0.78, 0.0, -0.0184, 0.0, 0.0, 0.0, 0.0),
    (-0.2, 0.11, 0.31, 0.22, 0.22, 0.0, 0.0, -18.0, 0.0, 10.0),
    (-0.2, 0.16, 0.41, 0.28, -0.22, 0.0, 0.0, 18.0, 0.0, 10.0),
    (0.1, 0.21, 0.25, 0.41, 0.0, 0.35, -0.15, 0.0, 0.0, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, 0.1, 0.25, 0.0, 0.0, 0.0),
    (0.1, 0.046, 0.046, 0.05, 0.0, -0.1, 0.25, 0.0, 0.0, 0.0),
    (0.1, 0.046, 0.023, 0.05, -0.08, -0.605, 0.0, 0.0, 0.0, 0.0),
    (0.1, 0.023, 0.023, 0.02, 0.0, -0.606, 0.0, 0.0, 0.0, 0.0),
    (0.1, 0.023, 0.046, 0.02, 0.06, -0.605, 0.0, 0.0, 0.0, 0.0),
)


def shepp_logan(points: torch.Tensor) -> torch.Tensor:
    """Modified Shepp-Logan at points (..., 2) or (..., 3)."""
    out = torch.zeros(points.shape[:-1], dtype=points.dtype, device=points.device)
    if points.shape[-1] == 2:
        for amp, a, b, x0, y0, phi in SHEPP_LOGAN_2D:
            c, s = math.cos(math.radians(phi)), math.sin(math.radians(phi))
            x, y = points[..., 0] - x0, points[..., 1] - y0
            xr, yr = c * x + s * y, -s * x + c * y
            out = out + amp * ((xr / a) ** 2 + (yr / b) ** 2 <= 1).to(points.dtype)
        return out
    flat, out = points.reshape(-1, 3), out.reshape(-1)
    lo, hi = (flat.amin(0).tolist(), flat.amax(0).tolist()) if flat.shape[0] else ([0.0] * 3, [0.0] * 3)
    for amp, a, b, cc, x0, y0, z0, phi, theta, psi in SHEPP_LOGAN_3D:
        radius, c = max(a, b, cc), (x0, y0, z0)
        # the share of the points' bounding box inside the ball's: none (strictly apart) skips the ellipsoid
        share = 1.0
        for k in range(3):
            if c[k] - radius > hi[k] or c[k] + radius < lo[k]:
                share = 0.0
            elif hi[k] > lo[k]:
                share *= (min(hi[k], c[k] + radius) - max(lo[k], c[k] - radius)) / (hi[k] - lo[k])
        if share == 0.0 and flat.shape[0]:
            continue
        if (phi, theta, psi) == (0.0, 0.0, 0.0) and share > 0.3:
            # an axis-aligned ellipsoid over most of the points (the skull and brain over a thin slab): the test on
            # every point, column by column, costs less than selecting them, and gives the same bits (torch's
            # sum over 3 adds left to right; points outside the ball's box are outside the ellipsoid)
            q = ((flat[:, 0] - x0) / a) ** 2 + ((flat[:, 1] - y0) / b) ** 2 + ((flat[:, 2] - z0) / cc) ** 2
            out += amp * (q <= 1).to(points.dtype)
            continue
        centre = torch.tensor([x0, y0, z0], dtype=points.dtype, device=points.device)
        rot = torch.as_tensor(_euler(phi, theta, psi), dtype=points.dtype, device=points.device)
        axes = torch.tensor([a, b, cc], dtype=points.dtype, device=points.device)
        near = _near_ball(flat, centre, radius)
        p = (flat[near] - centre) @ rot.T
        out[near] += amp * (((p / axes) ** 2).sum(-1) <= 1).to(points.dtype)
    return out.reshape(points.shape[:-1])


def _near_ball(flat, centre, radius):
    """Indices of the points (N, d) inside the bounding box of a ball: the cheap test before the exact one."""
    near = torch.nonzero((flat[:, 0] - centre[0]).abs() <= radius).reshape(-1)
    return near[((flat[near, 1:] - centre[1:]).abs() <= radius).all(-1)]


def _euler(phi, theta, psi):
    """phantom3d's rotation matrix from z-x-z Euler angles in degrees."""
    f, t, p = (math.radians(v) for v in (phi, theta, psi))
    cf, sf, ct, st, cp, sp = math.cos(f), math.sin(f), math.cos(t), math.sin(t), math.cos(p), math.sin(p)
    return [[cp * cf - ct * sf * sp, cp * sf + ct * cf * sp, sp * st],
            [-sp * cf - ct * sf * cp, -sp * sf + ct * cf * cp, cp * st],
            [st * sf, -st * cf, ct]]


class MetalPart:
    """A procedurally generated additively-manufactured part; `seed` draws its pores, lattice angle, channel
    and rib positions. Callable on points (..., 2) or (..., 3); 3-D extrudes the section along x3 between end
    caps, with spherical pores and a lattice whose struts also run along x3."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.angle = float(rng.uniform(-0.25, 0.25))  # whole part rotated (radians)
        self.half = (0.78, 0.56)  # body half widths before rotation
        self.corner = 0.16
        self.shell = 0.05  # wall around the lattice
        self.lattice_box = (0.08, 0.72, -0.46, 0.46)  # x range, y range (part coordinates)
        self.cell = float(rng.uniform(0.15, 0.2))
        self.strut = 0.028
        self.lattice_angle = float(rng.uniform(0, math.pi / 2))
        self.channel = (float(rng.uniform(-0.5, -0.35)), float(rng.uniform(-0.25, 0.25)), 0.13, 0.025)
        self.rib_x = float(rng.uniform(-0.2, -0.05))  # a thin rib inside a slot
        self.slot = (self.rib_x - 0.07, self.rib_x + 0.07, 0.05, 0.42)
        self.rib = 0.018
        count = 40
        self.pores = np.column_stack((rng.uniform(-0.72, 0.0, count), rng.uniform(-0.5, 0.5, count),
                                      rng.uniform(-0.5, 0.5, count), rng.uniform(0.012, 0.035, count)))
        self.z_half = 0.7

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        dt = points.dtype
        c, s = math.cos(self.angle), math.sin(self.angle)
        x = c * points[..., 0] + s * points[..., 1]
        y = -s * points[..., 0] + c * points[..., 1]
        z = points[..., 2] if points.shape[-1] == 3 else None
        body = _rounded_box(x, y, *self.half, self.corner)
        if z is not None:
            body = body & (z.abs() <= self.z_half)
        x0, x1, y0, y1 = self.lattice_box
        inside_box = (x > x0) & (x < x1) & (y > y0) & (y < y1)
        if z is not None:
            inside_box = inside_box & (z.abs() < self.z_half - self.shell)
        ca, sa = math.cos(self.lattice_angle), math.sin(self.lattice_angle)
        u, v = ca * x + sa * y, -sa * x + ca * y
        near = [_near_line(u, self.cell, self.strut), _near_line(v, self.cell, self.strut)]
        if z is not None:
            near.append(_near_line(z, self.cell, self.strut))
            strut = (near[0] & near[1]) | (near[0] & near[2]) | (near[1] & near[2])
        else:
            strut = near[0] | near[1]
        solid = body & (~inside_box | strut)
        cx, cy, r_out, wall = self.channel
        rr = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        flat = torch.stack([x, y] + ([] if z is None else [z]), -1).reshape(-1, points.shape[-1])
        solid = solid.reshape(-1)
        for pore in self.pores:
            centre = torch.as_tensor(pore[:flat.shape[1]], dtype=dt, device=points.device)
            near = _near_ball(flat, centre, float(pore[3]))
            solid[near] &= ((flat[near] - centre) ** 2).sum(-1) > pore[3] ** 2
        solid = solid.reshape(x.shape)
        # a bore with a thin-walled tube standing free inside it, and a slot with a thin rib
        solid = (solid & ~(rr < r_out)) | (body & ((rr - 0.6 * r_out).abs() < wall / 2))
        s0, s1, t0, t1 = self.slot
        slot = (x > s0) & (x < s1) & (y > t0) & (y < t1)
        solid = (solid & ~slot) | (slot & ((x - self.rib_x).abs() < self.rib / 2))
        return solid.to(dt)


def _rounded_box(x, y, hx, hy, r):
    qx, qy = (x.abs() - (hx - r)).clamp(min=0), (y.abs() - (hy - r)).clamp(min=0)
    return (x.abs() <= hx) & (y.abs() <= hy) & (qx * qx + qy * qy <= r * r)


def _near_line(u, period, width):
    """Within width/2 of the lines u = k * period."""
    return (u - period * torch.round(u / period)).abs() < width / 2


def phantom_function(name: str, seed: int = 0):
    check_choice("problem.phantom", name, PHANTOMS)
    return shepp_logan if name == "shepp_logan" else MetalPart(seed)


def render(fn, shape, sub: int = 2, dtype=torch.float64, device=None, chunk: int = 2**18) -> torch.Tensor:
    """Cell averages of fn over a grid of `shape` spanning [-1, 1] in x1 (same spacing on every axis), from
    sub^ndim samples per cell; computed in slabs along x1 to bound memory."""
    h = 2.0 / shape[0]
    offsets = (torch.arange(sub, dtype=dtype, device=device) + 0.5) / sub - 0.5
    axes = [((torch.arange(n, dtype=dtype, device=device) - (n - 1) / 2)[:, None] + offsets[None, :]).reshape(-1)
            * h for n in shape]
    rows_per_slab = max(1, chunk // max(1, math.prod(shape[1:]) * sub ** (len(shape) - 1) * sub))
    out = []
    for i0 in range(0, shape[0], rows_per_slab):
        a0 = axes[0][i0 * sub:min(shape[0], i0 + rows_per_slab) * sub]
        pts = torch.stack(torch.meshgrid(a0, *axes[1:], indexing="ij"), -1)
        vals = fn(pts)
        for k in range(len(shape)):
            vals = vals.unflatten(k, (vals.shape[k] // sub, sub)).mean(k + 1)
        out.append(vals)
    return torch.cat(out, 0)
