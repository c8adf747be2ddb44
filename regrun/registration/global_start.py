"""A global start for registering frames to frame 0: rotation scanned, translation by phase correlation.

Local registration (Gauss-Newton on a spline, smooth to sharp) only finds the minimum of the basin it starts in.
On repeating structure (lines of text, a brick wall) every shift by one period is such a basin, and smoothing
does not widen the right one: it averages the repetition away, so the smooth scales have nothing to register and
drift (scikit-image's page, 256^2 from 8 frames: 3 of 7 frames ended 5-11 px off, and varpro_cg's answer 4.8 px
RMS off and 3.4 dB under bicubic; docs/superres.md, "Repeating structure"). Phase correlation compares every shift at once, so for each trial angle
it finds the best translation globally; the angle with the highest correlation peak gives the start.
"""
from __future__ import annotations

import math

import torch

from ..imaging import spline
from ..imaging.grid import Grid

# Trial rotations of the scan (degrees): +-15 covers the random motions of the generated sets (+-10) with a margin;
# a 1.5 degree step leaves at most 0.75 degrees to the local registration (under a pixel at 64 pixels from the
# centre, inside any basin).
ANGLES = tuple(-15.0 + 1.5 * k for k in range(21))


def _hann(m: tuple[int, int], dtype, device) -> torch.Tensor:
    # the frames are not periodic: without a window their edges' jump dominates the spectrum and the peak sits at 0
    w1 = torch.hann_window(m[0], periodic=False, dtype=dtype, device=device)
    w2 = torch.hann_window(m[1], periodic=False, dtype=dtype, device=device)
    return w1[:, None] * w2[None, :]


def phase_correlation_start(frames: torch.Tensor, grid: Grid, angles=ANGLES) -> torch.Tensor:
    """Affine motions w (q, 6) (y = A x + b, the model's convention) with d_j(x) ~ d_0(y_j(x)) for frames 1..q
    of `frames` (q + 1, m1, m2) on `grid`: per frame the rotation about the grid's centre among `angles` and the
    whole-pixel translation whose phase correlation peak is highest. Frame 0 rotated by each angle is its exact
    spline sampled at the rotated cell centres (the points it does not see filled with its mean)."""
    dtype, device = frames.dtype, frames.device
    m = tuple(frames.shape[-2:])
    h = torch.tensor(grid.h, dtype=dtype, device=device)
    c = torch.tensor(grid.centre, dtype=dtype, device=device)
    window = _hann(m, dtype, device)
    x = grid.centres(dtype, device)
    template = spline.SplineImage(frames[0], grid, 0.0)
    d = frames[1:] - frames[1:].mean((-2, -1), keepdim=True)
    d_hat = torch.fft.fft2(d * window).conj()
    q = d.shape[0]
    best = torch.full((q,), -math.inf, dtype=dtype, device=device)
    w = torch.zeros(q, 6, dtype=dtype, device=device)
    half = torch.tensor(m, device=device) // 2
    for angle in angles:
        t = math.radians(angle)
        rot = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]], dtype=dtype, device=device)
        y = (x - c) @ rot.T + c
        v = template(y.reshape(-1, 2)).reshape(m)
        seen = grid.contains(y)
        mean = v[seen].mean() if bool(seen.any()) else v.mean()
        v_hat = torch.fft.fft2((torch.where(seen, v, mean) - mean) * window)
        cross = v_hat * d_hat  # d_j(x) = T(x + s) puts the inverse transform's peak at +s
        r = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12 * float(cross.abs().max()))).real
        peak, idx = r.reshape(q, -1).max(-1)
        i = torch.stack((idx // m[1], idx % m[1]), -1)
        s = torch.where(i > half, i - torch.tensor(m, device=device), i).to(dtype) * h  # (q, 2), domain units
        # d_j(x) = T(x + s) = d_0(R (x + s - c) + c): A = R, b = c - R c + R s
        b = c - rot @ c + s @ rot.T
        cand = torch.cat((rot.reshape(1, 4).expand(q, 4), b), 1)
        better = peak > best
        w = torch.where(better[:, None], cand, w)
        best = torch.where(better, peak, best)
    return w


def fit_params(transform, w: torch.Tensor, grid: Grid, iters: int = 20) -> torch.Tensor:
    """The parameters (q, n) of `transform` closest to the affine motions w (q, 6) at the grid's four corner
    cells and centre (least squares by Gauss-Newton from the identity; exact where the model holds w)."""
    corners = torch.tensor([[grid.omega[0], grid.omega[2]], [grid.omega[1], grid.omega[2]],
                            [grid.omega[0], grid.omega[3]], [grid.omega[1], grid.omega[3]], list(grid.centre)],
                           dtype=w.dtype, device=w.device)
    target = (w[:, None, :4].unflatten(-1, (2, 2)) @ corners[..., None]).squeeze(-1) + w[:, None, 4:]  # (q, 5, 2)
    p = transform.identity(w.dtype, w.device).repeat(w.shape[0], 1)
    for _ in range(iters):
        r = (transform.points(p[:, None, :], corners) - target).reshape(w.shape[0], -1)
        jac = transform.dy_dw(p[:, None, :], corners).reshape(w.shape[0], -1, p.shape[1])
        # QR without pivoting (gels; the points make jac full rank): the default driver (gelsy) gave other last
        # bits for the same 6-parameter systems at other memory offsets, so stainedglass 256^2/16 s1861's
        # pre-registration differed run to run (docs/superres.md, "Nineteenth round (srmotion2)")
        step = torch.linalg.lstsq(jac, -r[..., None], driver="gels").solution.squeeze(-1)
        p = p + step
        if float(step.abs().max()) < 1e-12:
            break
    return p
