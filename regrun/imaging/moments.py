"""Image moments, and the affine starting guesses they give for registration (centre of mass, principal axes).

An image is treated as a mass density: intensities above the image's own background level (its minimum) are
the mass. The transformation maps reference points to template points (y(x) = A x + b, T(y(x)) ~ R(x)), so a
guess sends the reference's centre of mass to the template's and, with principal axes, the reference's axes
onto the template's. Principal axes are defined up to sign, so a rotation guess comes with its 180-degree twin,
and the axes of a nearly isotropic image are arbitrary: `affine_candidates` returns every plausible start and
the caller keeps the one with the lowest objective (a few evaluations on a coarse level).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .grid import Grid
from .transforms import rotation_matrix


@dataclass(frozen=True)
class Moments:
    mass: torch.Tensor      # total mass (0-d)
    centre: torch.Tensor    # centre of mass (2,)
    cov: torch.Tensor       # second central moments (2, 2), mass-normalised


def image_moments(image: torch.Tensor, grid: Grid) -> Moments:
    """Mass, centre of mass and covariance of image (m1, m2) on grid, in domain coordinates."""
    mass = (image - image.min()).clamp_min(0)
    x = grid.centres(image.dtype, image.device)
    total = mass.sum()
    if not bool(total > 0):  # a constant image: the domain's centre and an isotropic spread
        mass = torch.ones_like(image)
        total = mass.sum()
    c = torch.einsum("ij,ijk->k", mass, x) / total
    d = x - c
    cov = torch.einsum("ij,ijk,ijl->kl", mass, d, d) / total
    return Moments(total, c, cov)


def _axis_angle(cov: torch.Tensor) -> float:
    """Angle of the principal (largest-variance) axis."""
    _, vec = torch.linalg.eigh(cov)
    v = vec[:, -1]
    return math.atan2(float(v[1]), float(v[0]))


def anisotropy(cov: torch.Tensor) -> float:
    """1 - lambda_min / lambda_max of a covariance: 0 for an isotropic spread (axes undefined)."""
    lam = torch.linalg.eigvalsh(cov)
    return float(1 - lam[0] / lam[-1]) if float(lam[-1]) > 0 else 0.0


def affine_candidates(template: torch.Tensor, reference: torch.Tensor, grid: Grid,
                      principal_axes: bool = True, quarter_turns: bool = True,
                      turn_step: float = 90.0) -> list[torch.Tensor]:
    """Starting parameters w = (A11, A12, A21, A22, b1, b2) of y = A x + b (domain coordinates), each a rotation
    about the reference's centre of mass followed by the shift onto the template's centre of mass:

    - the pure centre-of-mass shift (A = I);
    - with `principal_axes`, the rotation taking the reference's principal axis onto the template's, and the
      same plus 180 degrees (the axes have no sign);
    - with `quarter_turns`, rotations by every multiple of `turn_step` degrees (90: the quarter turns; a nearly
      isotropic image has no reliable axes, and scans are often off by quarter turns). A coarse level's capture
      range in rotation can be under 45 degrees: gravel 128x256 at 32 degrees and hubble 96x160 at 155 degrees
      were missed from the quarter turns and found from the 30-degree ring (docs/registration.md, "Whole-circle
      starts").
    Duplicates (angles within 1 degree) are dropped."""
    mt, mr = image_moments(template, grid), image_moments(reference, grid)
    angles = [0.0]
    if principal_axes:
        phi = _axis_angle(mt.cov) - _axis_angle(mr.cov)
        angles += [phi, phi + math.pi]
    if quarter_turns:
        n = round(360.0 / turn_step)
        if n < 2 or abs(n * turn_step - 360.0) > 1e-9:
            raise ValueError(f"turn_step={turn_step!r} must divide 360 degrees into 2 or more turns")
        angles += [2 * math.pi * k / n for k in range(1, n)]
    kept: list[float] = []
    for a in angles:
        a = math.remainder(a, 2 * math.pi)
        if all(abs(math.remainder(a - k, 2 * math.pi)) > math.radians(1.0) for k in kept):
            kept.append(a)
    out = []
    for a in kept:
        rot = rotation_matrix(a, dtype=template.dtype, device=template.device)
        b = mt.centre - rot @ mr.centre
        out.append(torch.cat((rot.reshape(4), b)))
    return out
