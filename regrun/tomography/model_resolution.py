"""The measured sinogram seen at the resolution of the pixel model: per-view detector kernels h with
A B w ~ h * P w for objects w, where P is the line integral of the object itself (a projector on a grid `factor`
times finer), B the cell average onto the reconstruction grid and A the reconstruction's projector.

Why (docs/ct.md, "Choosing lambda"): a measured line integral sees the object at its own resolution; the best a
pixel image x can do is its cell average, whose projection A B w is the line integral blurred by the pixel and by
the projector's interpolation (measured: 1.6-3.8% of the sinogram's norm at 64²-128², mostly above half the
detector's Nyquist frequency). Cross-validation over views scores a reconstruction by how well it predicts
unmeasured views; against the raw data it rewards a reconstruction that reproduces that sub-pixel detail, which is
a sharper, less regularized image than the cell average, so the weight it picks falls with the noise (at 10^5-
10^6 photons 2.2-3x below the image-optimal one, where the model error is 12-156 times the noise variance).
Against h * b, the data as the pixel model can represent it, the misfit is about the cell average's; h halves the
model error's norm on the objects measured (docs/ct.md).

The kernels come from the geometry alone (no data): `draws` random objects with the power spectrum of objects
made of regions with edges (|w^(omega)|^2 ~ |omega|^-3 in 2-D: a piecewise-constant image's), inside the
reconstruction disk, projected both ways; a symmetric kernel of 2 `taps` + 1 coefficients per view (per detector
axis in 3-D) by least squares. Calibrating with factor 4 and 8 gives the same kernels to 0.04 (the continuous-
object limit); with factor 2 (the benchmark's 2x simulation grid) they differ by up to 0.12 at the views looked
at, so the rule does not know how the benchmark's data was made (and over-corrects data that has no detail below
half a pixel).
"""
from __future__ import annotations

import torch

from .geometry import Geometry, Volume
from .xray import XRayTransform

FACTOR = {2: 4, 3: 2}  # finer grid per dimension (3-D: 8x the voxels, to bound the memory)
EXPONENT = 3.0  # power spectrum |omega|^-EXPONENT of the calibration objects (piecewise constant in 2-D)
RADIUS = 0.9  # the calibration objects lie inside this disk (normalized coordinates), inside the scan's field
TAPS = 2  # kernel half-width in detector bins
DRAWS = 2  # calibration objects


def finer(geometry: Geometry, factor: int) -> Geometry:
    """The same scan seen by a grid `factor` times finer (same detector and orbit)."""
    vol = geometry.volume
    fine = Volume(tuple(n * factor for n in vol.shape), vol.voxel / factor)
    return Geometry(geometry.kind, fine, geometry.detector, geometry.vectors, geometry.sod, geometry.odd,
                    geometry.angles)


def cell_average(x: torch.Tensor, factor: int) -> torch.Tensor:
    for k in range(x.ndim):
        x = x.unflatten(k, (x.shape[k] // factor, factor)).mean(k + 1)
    return x


def _basis(sinogram: torch.Tensor, taps: int) -> torch.Tensor:
    """(views, ..., 1 + taps * detector axes): the sinogram and the sums of its shifts by +-k bins along each
    detector axis (a symmetric kernel's basis; zero beyond the detector)."""
    out = [sinogram]
    for axis in range(1, sinogram.ndim):
        n = sinogram.shape[axis]
        pad = [0, 0] * (sinogram.ndim - 1 - axis) + [taps, taps]
        s = torch.nn.functional.pad(sinogram, pad)
        for k in range(1, taps + 1):
            out.append(s.narrow(axis, taps - k, n) + s.narrow(axis, taps + k, n))
    return torch.stack(out, -1)


def apply_kernels(sinogram: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """h * b: each view filtered by its kernel (views, 1 + taps * detector axes)."""
    shape = (kernels.shape[0],) + (1,) * (sinogram.ndim - 1) + (kernels.shape[1],)
    taps = (kernels.shape[1] - 1) // (sinogram.ndim - 1)
    return (_basis(sinogram, taps) * kernels.reshape(shape)).sum(-1)


def random_object(shape: tuple[int, ...], generator: torch.Generator, dtype, device) -> torch.Tensor:
    """White noise shaped to the power spectrum |omega|^-EXPONENT, zero outside the disk of RADIUS in the last
    two axes (drawn on the CPU so a seed gives the same object on every device)."""
    w = torch.randn(shape, generator=generator, dtype=torch.float64)
    freqs = torch.meshgrid(*[torch.fft.fftfreq(n, dtype=torch.float64) for n in shape], indexing="ij")
    radius = sum(f**2 for f in freqs).sqrt().clamp_min(1.0 / max(shape))
    w = torch.fft.ifftn(torch.fft.fftn(w) * radius ** (-EXPONENT / 2)).real
    c = [(torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1 for n in shape[-2:]]
    disk = (c[0][:, None] ** 2 + c[1][None, :] ** 2) < RADIUS**2
    return (w * disk).to(dtype=dtype, device=device)


def resolution_kernels(project, geometry: Geometry, dtype, device, seed: int = 0) -> torch.Tensor:
    """Per-view kernels h (views, 1 + TAPS * detector axes) with project(B w) ~ h * P w (module docstring):
    `project` is the reconstruction's projector A (any: regrun's or ASTRA's), P regrun's on the finer grid."""
    factor = FACTOR[geometry.volume.ndim]
    fine = XRayTransform(finer(geometry, factor), cache_mb=0)
    gen = torch.Generator().manual_seed(seed)
    shape = tuple(n * factor for n in geometry.volume.shape)
    X, Y = [], []
    for _ in range(DRAWS):
        w = random_object(shape, gen, dtype, device)
        p = fine.project(w)
        X.append(_basis(p, TAPS).flatten(1, -2))
        Y.append(project(cell_average(w, factor)).flatten(1))
    X, Y = torch.cat(X, 1), torch.cat(Y, 1)
    return torch.linalg.lstsq(X, Y.unsqueeze(-1)).solution.squeeze(-1)
