"""Separable sampled-gaussian filters, batched over any leading dimensions, direct or by FFT.

The kernel is the gaussian sampled at integers, L1-normalised, with 2*ceil(tail*sigma)+1 taps: tail = 3 is the
paper's "6 sigma rounded up to the next odd integer" (textured motifs), tail = 2 the authors' spike filters.
Boundary: zero outside the image, output the same size as the input ("same" linear convolution). With a
symmetric kernel that operator is a symmetric matrix, so the filter is its own adjoint (tested by a dot test).

Precision (measured in tests/test_keys_gaussian.py): textured filtering is fine in float32 (relative error
< 1e-6). Spike levels are not: a unit spike blurred with sigma = 20 peaks at ~4e-4, and the cost of a nearly
registered spike is a difference of near-equal values whose float32 relative error grows as the match tightens
(3e-4 at 0.01 px misalignment, 2% at 1e-4 px, where the float64 cost is still exactly quadratic). Spike maps,
their costs and the thresholds on them therefore run in float64, as the authors found.
"""
from __future__ import annotations

import math

import torch

# From this many taps the FFT path is used by default. Measured on this 2-core machine, one thread, float64:
# 3x384x512 scene, direct (shifted slices) vs FFT 0.030 vs 0.050 s at 11 taps, 0.060 vs 0.046 s at 31, 0.14 vs
# 0.04 s at 61; a 400x3x60x70 stride batch, 1.05 vs 0.34 s at 11 taps. The crossover is 11-31 taps.
FFT_MIN_TAPS = 25
BOUNDARIES = ("zero", "replicate")
# Users' images are smoothed (problem.smooth) with the kernel cut at 4 sigma and the border replicated.
USERS_IMAGES_TAIL = 4.0


def gaussian_radius(sigma: float, tail: float = 3.0) -> int:
    return int(math.ceil(tail * sigma)) if sigma > 0 else 0


def gaussian_kernel1d(sigma: float, tail: float = 3.0, dtype=torch.float64, device=None) -> torch.Tensor:
    """The sampled, L1-normalised gaussian with 2*ceil(tail*sigma)+1 taps (a single 1 for sigma = 0)."""
    r = gaussian_radius(sigma, tail)
    if r == 0:
        return torch.ones(1, dtype=dtype, device=device)
    x = torch.arange(-r, r + 1, dtype=torch.float64, device=device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def _filter_axis_direct(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    # A sum of shifted slices: on CPU several times faster than conv1d over a (rows, 1, n) batch.
    r = (k.numel() - 1) // 2
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - (dim % x.dim())) + [r, r]
    xp = torch.nn.functional.pad(x, pad)
    out = k[0] * xp.narrow(dim, 0, n)
    for i in range(1, k.numel()):
        out = out + k[i] * xp.narrow(dim, i, n)
    return out


def _filter_axis_fft(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    r = (k.numel() - 1) // 2
    n = x.shape[dim]
    size = n + 2 * r  # long enough that the circular convolution equals the linear one on the kept part
    xf = torch.fft.rfft(x, n=size, dim=dim)
    kf = torch.fft.rfft(k, n=size)
    shape = [1] * x.dim()
    shape[dim] = kf.numel()
    y = torch.fft.irfft(xf * kf.view(shape), n=size, dim=dim)
    return y.narrow(dim, r, n)


def _replicate(x: torch.Tensor, r: int, dim: int) -> torch.Tensor:
    """x extended by r copies of its first and last slice along dim."""
    n = x.shape[dim]
    edge = [r if d == dim % x.dim() else -1 for d in range(x.dim())]
    return torch.cat((x.narrow(dim, 0, 1).expand(*edge), x, x.narrow(dim, n - 1, 1).expand(*edge)), dim)


def gaussian_filter(x: torch.Tensor, sigma, tail: float = 3.0, method: str = "auto",
                    boundary: str = "zero") -> torch.Tensor:
    """Filter the last two dimensions of x (..., H, W) with a separable gaussian, same size.

    sigma: a number or (sigma_rows, sigma_cols); 0 leaves that axis alone. method: "direct" (shifted slices),
    "fft", or "auto" (FFT when the kernel has at least FFT_MIN_TAPS taps). boundary: "zero" (outside the image is
    0: the detector's filters) or "replicate" (the border pixel repeated, so a constant image stays constant: the
    smoothing of users' images before registration, with tail USERS_IMAGES_TAIL)."""
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"method={method!r}; allowed: auto, direct, fft")
    if boundary not in BOUNDARIES:
        raise ValueError(f"boundary={boundary!r}; allowed: {', '.join(BOUNDARIES)}")
    sigmas = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)
    for dim, s in zip((-2, -1), sigmas):
        k = gaussian_kernel1d(float(s), tail, x.dtype, x.device)
        if k.numel() == 1:
            continue
        use_fft = method == "fft" or (method == "auto" and k.numel() >= FFT_MIN_TAPS)
        r = (k.numel() - 1) // 2
        src = _replicate(x, r, dim) if boundary == "replicate" else x
        out = _filter_axis_fft(src, k, dim) if use_fft else _filter_axis_direct(src, k, dim)
        x = out.narrow(dim, r, x.shape[dim]) if boundary == "replicate" else out
    return x
