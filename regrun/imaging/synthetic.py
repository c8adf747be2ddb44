"""Synthetic registration pairs with known truth: a smooth phantom with fine texture, sampled by block
averaging of a finer grid so that no interpolation model reproduces the data exactly."""
from __future__ import annotations

import math

import torch

from ..linalg.differences import pool
from .grid import Grid
from .spline import coefficients, evaluate
from .transforms import affine, affine_about, affine_inverse


def textured_phantom(generator: torch.Generator, n_blobs: int = 7, texture: float = 0.35):
    """A random continuous image f(x) on [0, 1]^2 (points (..., 2) -> values): Gaussian blobs of different
    sizes and orientations plus an oriented fine texture under a smooth envelope. The texture is what gives
    a fine-scale registration objective its local minima."""
    rand = lambda *s: torch.rand(*s, generator=generator, dtype=torch.float64)  # noqa: E731
    centres = 0.22 + 0.56 * rand(n_blobs, 2)
    widths = 0.05 + 0.12 * rand(n_blobs, 2)
    angles = math.pi * rand(n_blobs)
    heights = 0.4 + 0.6 * rand(n_blobs)
    freq = 2 * math.pi * (10 + 4 * rand(2))

    def f(x: torch.Tensor) -> torch.Tensor:
        d = x[..., None, :] - centres
        c, s = torch.cos(angles), torch.sin(angles)
        u = (c * d[..., 0] + s * d[..., 1]) / widths[:, 0]
        v = (-s * d[..., 0] + c * d[..., 1]) / widths[:, 1]
        blobs = (heights * torch.exp(-0.5 * (u**2 + v**2))).sum(-1)
        envelope = torch.exp(-((x - 0.5) ** 2).sum(-1) / (2 * 0.22**2))
        fine = torch.sin(freq[0] * x[..., 0] + 0.6 * freq[1] * x[..., 1]) * torch.sin(freq[1] * x[..., 1])
        return blobs + texture * envelope * fine

    return f, centres


def block_sample(f, grid: Grid, supersample: int = 4, pullback=None) -> torch.Tensor:
    """Cell averages of f over the grid's cells, by `supersample`^2 points a cell. `pullback` maps the
    sample points before f is applied (to sample a warped image)."""
    fine = grid.refined(supersample)
    x = fine.centres(device="cpu")  # data are made on the CPU (CPU generator), then moved to the run's device
    if pullback is not None:
        x = pullback(x)
    values = f(x)
    m1, m2 = grid.m
    return values.reshape(m1, supersample, m2, supersample).mean(dim=(1, 3))


def spline_frames(truth: torch.Tensor, fine: Grid, w: torch.Tensor, factor: int) -> torch.Tensor:
    """Frames the super-resolution model makes itself: the exact cubic spline of `truth` (on `fine`) at the fine
    cell centres moved by each w_j (6 per frame after frame 0), pooled factor x factor; frame 0 the pooled truth.
    The paper's data (an inverse crime), and the mismatch-free control of docs/superres.md's translation study."""
    x = fine.centres(truth.dtype, truth.device)
    coef = coefficients(truth, 0.0)
    moved = [evaluate(coef, fine, affine(w[6 * j:6 * j + 6], x)) for j in range(w.numel() // 6)]
    return pool(torch.stack([truth, *moved]), factor)


def synthetic_pair(grid: Grid, w_true: torch.Tensor, generator: torch.Generator, texture: float = 0.35,
                   supersample: int = 4):
    """(template, reference, reference landmarks, template landmarks) with T(y(x; w_true)) ~ R(x).

    R(x) = f(x) and T(z) = f(y^-1(z)), each cell-averaged on the grid; the phantom lives on [0,1]^2 scaled
    to omega. Landmarks are the blob centres in R and their images under y in T."""
    lo1, hi1, lo2, hi2 = grid.omega
    scale = torch.tensor([hi1 - lo1, hi2 - lo2], dtype=torch.float64, device="cpu")
    origin = torch.tensor([lo1, lo2], dtype=torch.float64, device="cpu")
    f_unit, centres = textured_phantom(generator, texture=texture)
    f = lambda x: 100.0 * f_unit((x - origin) / scale)  # noqa: E731  (intensities of the order of FAIR's)
    template, reference = warped_pair(f, grid, w_true, supersample)
    ref_landmarks = origin + centres * scale
    tmpl_landmarks = affine(w_true, ref_landmarks)
    return template, reference, ref_landmarks, tmpl_landmarks


def image_function(image: torch.Tensor, omega: tuple[float, float, float, float]):
    """An image (m1, m2) as a continuous function on omega: its interpolating cubic spline (zero outside)."""
    grid = Grid(omega, tuple(image.shape[-2:]))
    coef = coefficients(image.to(torch.float64), 0.0)
    return lambda x: evaluate(coef, grid, x)


def radial_window(f, centre: tuple[float, float], radius: float, flat: float = 0.75, edge: float = 0.95):
    """f times a radial taper about centre: 1 inside flat * radius, a cosine down to 0 at edge * radius, so
    that rotations keep the content inside the domain ("windowed" test images)."""
    c = torch.tensor(centre, dtype=torch.float64)

    def g(x: torch.Tensor) -> torch.Tensor:
        r = (x - c).norm(dim=-1) / radius
        ramp = 0.5 + 0.5 * torch.cos(math.pi * ((r - flat) / (edge - flat)).clamp(0.0, 1.0))
        return f(x) * ramp

    return g


def warped_pair(f, grid: Grid, w_true: torch.Tensor, supersample: int = 4):
    """(template, reference) cell averages of a continuous image f with T(y(x; w_true)) ~ R(x): R = f and
    T = f o y^-1, each averaged over supersample^2 points a cell."""
    w_inv = affine_inverse(w_true)
    reference = block_sample(f, grid, supersample)
    template = block_sample(f, grid, supersample, pullback=lambda z: affine(w_inv, z))
    return template, reference


def superres_frames(size: int = 20, factor: int = 2, frames: int = 8, noise: float = 0.01, supersample: int = 10,
                    angle: float = 10.0, scale=(0.95, 1.05), shift: float = 0.05, seed: int = 0):
    """A held-out super-resolution frame set: (truth (size, size), frames (frames, size/factor, size/factor),
    w (6 (frames - 1)), omega), numpy float64 in FAIR's layout ([x1, x2]); omega in fine-pixel units.

    The textured phantom is cell-averaged with `supersample` samples per fine pixel and axis (the frames
    with supersample * factor per frame pixel), so no interpolation model reproduces the frames exactly.
    Frame 0 is the reference pose; frame j >= 1 samples the phantom at y = A_j x + b_j (random rotation in
    +-angle degrees, per-axis scale in `scale`, shift in +-shift * size, about the centre); then Gaussian
    noise of `noise` times the frames' standard deviation. superres_burst adds gains and colour."""
    truth, stack, w, omega, _ = superres_burst(size, factor, frames, noise, supersample, angle, scale, shift, seed)
    return truth, stack, w, omega


def superres_burst(size: int = 20, factor: int = 2, frames: int = 8, noise: float = 0.01, supersample: int = 10,
                   angle: float = 10.0, scale=(0.95, 1.05), shift: float = 0.05, seed: int = 0,
                   gain=(1.0, 1.0), channels: int = 1):
    """superres_frames with a burst's exposure and colour: (truth, frames, w, omega, gains (frames,)).
    gain=(lo, hi): frames 1.. are multiplied by gains uniform in [lo, hi] before the noise (frame 0's is 1);
    channels > 1: a colour scene, (channels, size, size) truth and (frames, channels, ...) frames, channel c
    being 0.6 of the shared phantom plus 0.4 of a phantom of its own (the channels share structure and differ
    in colour), noise per channel relative to that channel's standard deviation. With the defaults the draws
    and the result are superres_frames' (the extra draws come after)."""
    gen = torch.Generator().manual_seed(seed)
    omega = (0.0, float(size), 0.0, float(size))
    fine = Grid(omega, (size, size))
    coarse = Grid(omega, (size // factor, size // factor))
    f_unit, _ = textured_phantom(gen)
    f = lambda x: 100.0 * f_unit(x / size)  # noqa: E731  (phantom on [0, 1]^2 scaled to the domain)
    w = []
    for _ in range(frames - 1):
        u = torch.rand(5, generator=gen, dtype=torch.float64)
        a = angle * (2 * float(u[0]) - 1)
        sc = (scale[0] + (scale[1] - scale[0]) * float(u[1]), scale[0] + (scale[1] - scale[0]) * float(u[2]))
        sh = (shift * size * (2 * float(u[3]) - 1), shift * size * (2 * float(u[4]) - 1))
        w.append(affine_about(a, sc, sh, fine.centre))
    scenes = [f]
    if channels > 1:
        own = [textured_phantom(gen)[0] for _ in range(channels)]
        scenes = [lambda x, g=g: 100.0 * (0.6 * f_unit(x / size) + 0.4 * g(x / size)) for g in own]
    gains = torch.ones(frames, dtype=torch.float64)
    if tuple(gain) != (1.0, 1.0):
        gains[1:] = gain[0] + (gain[1] - gain[0]) * torch.rand(frames - 1, generator=gen, dtype=torch.float64)
    truths, stacks = [], []
    for fc in scenes:
        truth = block_sample(fc, fine, supersample)
        stack = [block_sample(fc, coarse, supersample * factor)]
        stack += [block_sample(fc, coarse, supersample * factor, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
        stack = torch.stack(stack)
        if tuple(gain) != (1.0, 1.0):
            stack = stack * gains[:, None, None]
        stack = stack + noise * stack.std() * torch.randn(stack.shape, generator=gen, dtype=torch.float64)
        truths.append(truth)
        stacks.append(stack)
    if channels > 1:
        truth, stack = torch.stack(truths), torch.stack(stacks, 1)
    return truth.numpy(), stack.numpy(), torch.cat(w).numpy(), omega, gains.numpy()
