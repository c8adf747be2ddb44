"""Motif registration at many strides of a scene at once (seed 002 §3-5, issue 11 §2), as unrolled iterations.

Coordinates are pixel indices (row, col), pixel [i, j] at (i, j) (the paper's and keys.py's convention). A stride
is an anchor lambda (the scene position of the motif window's top-left); a window point q (motif coordinates)
lands at lambda + tau(q) in the scene, tau an SE(2) (or affine) map acting about a centre c in the window
(App. A.1's centring: c the window centre for textured motifs, the spikes' centre of mass for occurrence maps).

Textured leaves, eq. 12 (cost-smoothed), in closed form. With Y(q) = (g_in * y)(lambda + tau(q)) the warped,
input-smoothed scene, Omega the motif mask and g = g_{sigma^2} (App. A.2: the sum over shifts is a correlation):

    phi = 1/2 sum_q (Omega * g)(q) |Y(q)|^2 - sum_q <(Omega x) * g (q), Y(q)> + 1/2 ||Omega x||^2
        = 1/2 sum_q A(q) |Y(q) - B(q) / A(q)|^2 + const,   A = Omega * g, B = (Omega x) * g,

over the window padded by the filter radius: a weighted pointwise objective, so the registration kernel
(regrun.registration.objective) gives it, its gradient (and Gauss-Newton matrix) by the pointwise chain rule. Two
rounds (the paper's multiscale): sigma^2 = 9 with input blur sigma_in = 1.5, then sigma^2 = 1e-2 with no blur,
started from the first round's result.

Spike maps, eq. 10 (complementary smoothing) with the inverse parameterization (15): for (M, b) and centre c,

    phi = 1/(2C) || P_Omega [ det^-1/2(M M^T) g_{sigma^2 I - sigma0^2 M M^T} * Y - g_{sigma^2} * x ] ||^2,
    Y(q) = (g_{sigma0^2} * y)(lambda + M^-1 (q - c - b) + c),

which for SE(2) (M M^T = I) is eq. 13: one isotropic filter of variance sigma^2 - sigma0^2. The filter depends
on M, so this cost is not pointwise: it runs on whole windows, its gradient by autograd (App. A.2, Prop. A.2 is
the closed form of the same derivative). Theorem 5.1 gives sigma (eq. 16) and the step sizes (eq. 17) for
gradient descent on (M, b); `spike_schedule` computes them from the motif's spikes.

Both run as `unrolled_descent` (regrun.optim.unrolled): fixed steps, batched over strides, each stride stopping on
its own; with the scene (or any setting) requiring grad, the final losses and poses are differentiable end to end.
float64 throughout: the authors found single-pixel spikes fail in float32 (see gaussian.py for measurements).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import check_int
from ..imaging.gaussian import gaussian_filter, gaussian_radius
from ..imaging.keys import GRID_SAMPLE_A, keys_grid_sample, keys_sample
from ..imaging.transforms import Affine, Rigid, Transformation
from ..optim.levenberg_marquardt import DenseLinearization, lm_batched
from ..optim.unrolled import unrolled_descent
from ..registration.image_model import pointwise_derivatives
from ..registration.objective import PointwiseObjective


# ---- the scene as an image model -------------------------------------------------------------------------------
class SceneWindows:
    """Keys interpolant of a scene (C, H, W) seen through B windows: window b's point q is the scene point
    anchors[b] + q. An image model for PointwiseObjective with channels: values (B, N, C), analytic gradients
    (B, N, C, 2) that autograd can differentiate (with respect to the points and the scene)."""

    def __init__(self, scene: torch.Tensor, anchors: torch.Tensor, a: float = -0.5, boundary: str = "zero"):
        self.scene, self.anchors, self.a, self.boundary = scene, anchors, a, boundary

    def select(self, items: torch.Tensor) -> "SceneWindows":
        return SceneWindows(self.scene, self.anchors[items], self.a, self.boundary)

    def _scene_points(self, y: torch.Tensor) -> torch.Tensor:
        return y + self.anchors[:, None, :]

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return keys_sample(self.scene, self._scene_points(y), self.a, self.boundary).permute(1, 2, 0)

    def derivatives(self, y: torch.Tensor, order: int = 1):
        if order == 2:  # Keys' kernel is C^1: its second derivative exists almost everywhere, by autograd
            parts = [pointwise_derivatives(lambda z, k=k: self(z)[..., k], y, 2) for k in range(self.scene.shape[0])]
            return tuple(torch.stack(p, 2) for p in zip(*parts))
        v, g = keys_sample(self.scene, self._scene_points(y), self.a, self.boundary, gradient=True)
        return v.permute(1, 2, 0), g.permute(1, 2, 0, 3), None


def window_points(m: int, n: int, pad: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """Pixel coordinates (row, col) of an m x n window padded by `pad` on every side, ((m+2p)(n+2p), 2)."""
    r = torch.arange(-pad, m + pad, dtype=dtype, device=device)
    c = torch.arange(-pad, n + pad, dtype=dtype, device=device)
    return torch.stack(torch.meshgrid(r, c, indexing="ij"), -1).reshape(-1, 2)


# ---- textured leaves: eq. 12 in closed form ----------------------------------------------------------------------
@dataclass(frozen=True)
class LeafRound:
    sigma: float  # cost smoothing (the sum over shifts)
    sigma_in: float  # input blur of the scene
    iters: int
    keep: int = 0  # stride search (unrolled_registrar.py): strides carried into the next round (0: all)
    one_start: bool = False  # stride search: carry only each stride's best start into the next round


def quadrature_step(sigma_in: float, ratio: float = 0.75) -> int:
    """Window-point step for a round whose scene is blurred by sigma_in: the largest h with sigma_in / h >= ratio
    (ratio 0: 1). A gaussian-blurred image sampled at step h aliases by about exp(-2 pi^2 (sigma_in / h)^2):
    1.5e-5 at 0.75 (measured on a textured motif at sigma_in = 1.5, h = 2: phi within 1%, its gradient within
    1.8%), 6% at 0.375, enough for a round whose only job is to bring poses into the next round's basin."""
    return max(1, int(sigma_in / ratio)) if ratio > 0 else 1


# The paper's two rounds (sigma^2 = 9, sigma_in^2 = 9/4; then sigma^2 = 1e-2, no input blur); iteration counts of
# the paper / the authors' v1 code (HEAD uses 64 + 64).
PAPER_LEAF_ROUNDS = (LeafRound(3.0, 1.5, 1024), LeafRound(0.1, 0.0, 256))


class LeafCost:
    """phi of eq. 12 for one motif (C, m, n) with mask (m, n) at the strides `anchors` (S, 2) of a scene that is
    already input-smoothed, SE(2) about the window centre: phi(w, items) -> (S,), w = (angle, b_row, b_col)."""

    def __init__(self, scene: torch.Tensor, motif: torch.Tensor, mask: torch.Tensor, anchors: torch.Tensor,
                 sigma: float, a: float = -0.5, transform: Transformation | None = None, point_step: int = 1):
        c, m, n = motif.shape
        pad = gaussian_radius(sigma)
        mask = mask.to(motif.dtype)
        padded = lambda t: torch.nn.functional.pad(t, (pad, pad, pad, pad))  # noqa: E731
        weight = gaussian_filter(padded(mask), sigma)  # A = Omega * g on the padded window
        target = gaussian_filter(padded(mask * motif), sigma)  # B = (Omega x) * g, (C, ...)
        tiny = torch.finfo(weight.dtype).tiny
        inside = weight > tiny
        reference = torch.where(inside, target / torch.where(inside, weight, torch.ones_like(weight)), 0.0)
        self.constant = 0.5 * (mask * motif * motif).sum() - 0.5 * (reference * target).sum()
        self.transform = transform or Rigid(((m - 1) / 2, (n - 1) / 2))
        self.windows = SceneWindows(scene, anchors, a)
        points = window_points(m, n, pad, motif.dtype, motif.device).unflatten(0, weight.shape)
        # A coarser quadrature of the same sum: every point_step-th window point, each standing for point_step^2
        # pixels. Exact up to aliasing when the warped scene and A, B are smooth at that step (smoothed rounds).
        h = check_int("point_step", point_step, 1)
        self.points = points[::h, ::h].reshape(-1, 2)
        self.reference = reference[:, ::h, ::h].reshape(c, -1).T  # (N, C)
        self.weight = weight[::h, ::h].reshape(-1) * h * h
        self.point_step = h
        self.channels = c
        self.size = (m, n)
        self.fast = a == GRID_SAMPLE_A and self.windows.boundary == "zero"
        if self.fast and type(self.transform) is Rigid and self.transform.center is not None:
            # the window points as (z_row, z_col, 1) about the rotation centre: Rigid's map and grid_sample's
            # normalisation are then one (k, 3, 2) matrix per item (_rigid_grid)
            z = self.points - torch.tensor(self.transform.center, dtype=self.points.dtype, device=self.points.device)
            self._homogeneous = torch.cat((z, torch.ones_like(z[:, :1])), 1)
        else:
            self._homogeneous = None

    def objective(self, items: torch.Tensor) -> PointwiseObjective:
        return PointwiseObjective(self.windows.select(items), self.transform, self.points, self.reference,
                                  weights=self.weight, scale=0.5, channels=self.channels)

    def value_and_grad(self, w: torch.Tensor, items: torch.Tensor):
        """phi (k,) and its gradient (k, 3) at the iterates w (k, 3) of strides `items`; differentiable (they keep
        their graph) when w or the scene requires grad."""
        keep = w.requires_grad or self.windows.scene.requires_grad
        if self.fast and not keep:
            return self._sampled_value_and_grad(w, items)
        value, grad = self.objective(items).value_and_grad(w, create_graph=keep)
        return value + self.constant, grad

    def _sampled_value_and_grad(self, w: torch.Tensor, items: torch.Tensor):
        """The same phi and gradient (a = -0.75) by grid_sample and one reverse sweep: the backward of the
        interpolation gives sum_c s d_c grad T_c at every point, the transformation's graph contracts it onto w.
        Not differentiable (values and gradients come back detached)."""
        with torch.enable_grad():
            wv = w.detach().requires_grad_(True)
            if self._homogeneous is not None:
                d = self._rigid_grid_sample(wv, items) - self.reference  # (k, N, C)
            else:
                y = self.transform.points(wv[:, None, :], self.points) + self.windows.anchors[items][:, None, :]
                d = keys_grid_sample(self.windows.scene, y).permute(1, 2, 0) - self.reference  # (k, N, C)
            value = 0.5 * (self.weight[:, None] * d * d).sum((-2, -1))
            (grad,) = torch.autograd.grad(value.sum(), wv)
        return value.detach() + self.constant, grad

    def _rigid_grid_sample(self, w: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """keys_grid_sample of the scene at Rigid's points for w (k, 3) -> (k, N, C): y = R(phi) z + c + b + anchor
        and grid_sample's (col, row) scaled to [-1, 1] are one affine map of z, so the grid is one batched matmul
        (and its backward one more) instead of ~10 elementwise passes over (k, N, 2) each way: ~15-25% of a
        descent's time (docs/detection.md, crabfast). The same values as transform.points then keys_grid_sample, to
        round-off."""
        scene = self.windows.scene
        _, h, wd = scene.shape
        sr, sc = 2.0 / max(h - 1, 1), 2.0 / max(wd - 1, 1)
        co, si = torch.cos(w[:, 0]), torch.sin(w[:, 0])
        shift = self.windows.anchors[items] + torch.tensor(self.transform.center, dtype=w.dtype, device=w.device)
        # grid x (col) = (s z_r + c z_c + b_c + shift_c) sc - 1, grid y (row) = (c z_r - s z_c + b_r + shift_r) sr - 1
        m = torch.stack((torch.stack((si * sc, co * sr), -1),
                         torch.stack((co * sc, -si * sr), -1),
                         torch.stack(((w[:, 2] + shift[:, 1]) * sc - 1.0, (w[:, 1] + shift[:, 0]) * sr - 1.0), -1)),
                        1)  # (k, 3, 2)
        grid = torch.matmul(self._homogeneous.to(w.dtype), m)  # (k, N, 2)
        out = torch.nn.functional.grid_sample(scene[None], grid.reshape(1, -1, 1, 2), mode="bicubic",
                                              padding_mode="zeros", align_corners=True)  # (1, C, k N, 1)
        return out.reshape(scene.shape[0], *grid.shape[:2]).permute(1, 2, 0)

    def value(self, w: torch.Tensor) -> torch.Tensor:
        items = torch.arange(w.shape[0], device=w.device)
        return self.objective(items).value(w) + self.constant

    def correlation(self, w: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(k,): the normalised correlation of the warped window with the motif at the iterates w of strides
        `items`, over the points where the cost's weight A is at least half its peak (the mask, all channels),
        each point counted once. Unlike phi it does not rank a flat window that matches the motif's mean colour
        above a thin part one pixel off (UnrolledRegistrar's ranking of starts and strides between rounds)."""
        with torch.no_grad():
            return self._correlation(w, items)

    def correlation_value_and_grad(self, w: torch.Tensor, items: torch.Tensor):
        """-correlation (k,) and its gradient (k, 3), detached: a descent objective that, unlike the blurred
        phi, is not pulled off a thin part by the brightness of the clutter beside it (UnrolledRegistrar's
        leaf_objective)."""
        with torch.enable_grad():
            wv = w.detach().requires_grad_(True)
            value = -self._correlation(wv, items)
            (grad,) = torch.autograd.grad(value.sum(), wv)
        return value.detach(), grad

    def correlation_step_scale(self) -> float:
        """curvature_steps' steps (for phi) times this are the steps for -correlation: near the optimum phi's
        Gauss-Newton matrix is sum A J^T J over every pixel, -correlation's sum_on J^T J / sum_on |r - mean r|^2
        over the points it uses, each standing for h^2 pixels."""
        on = self.weight >= 0.5 * self.weight.max()
        r = self.reference[on]
        return self.point_step ** 2 * float(((r - r.mean(0, keepdim=True)) ** 2).sum())

    def _correlation(self, w: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self._homogeneous is not None:
            v = self._rigid_grid_sample(w, items)
        elif self.fast:
            pts = self.transform.points(w[:, None, :], self.points)
            v = keys_grid_sample(self.windows.scene, pts + self.windows.anchors[items][:, None, :]).permute(1, 2, 0)
        else:
            v = self.windows.select(items)(self.transform.points(w[:, None, :], self.points))  # (k, N, C)
        on = self.weight >= 0.5 * self.weight.max()
        v, r = v[:, on], self.reference[on]
        v = v - v.mean(1, keepdim=True)  # per channel
        r = r - r.mean(0, keepdim=True)
        den = (v * v).sum((1, 2)).sqrt() * (r * r).sum().sqrt()
        return torch.where(den > 0, (v * r).sum((1, 2)) / den.clamp_min(torch.finfo(den.dtype).tiny),
                           torch.zeros_like(den))


def leaf_steps(size: tuple[int, int], sigma: float, nu: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """Step sizes of the authors' code (HEAD) for (angle, b): nu 8 pi max(sigma, 1)^4 / r^2 for the angle and
    nu 8 pi max(sigma, 1)^4 for b, r = max(m, n) / 2 (a point at radius r moves r dphi when the angle moves)."""
    t = nu * 8 * math.pi * max(sigma, 1.0) ** 4
    r = max(size) / 2
    return torch.tensor([t / r**2, t, t], dtype=dtype, device=device)


def curvature_steps(motif: torch.Tensor, mask: torch.Tensor, sigma: float, sigma_in: float, nu: float) -> torch.Tensor:
    """Step sizes from the motif's own curvature (angle, b): nu / H_ii, H the Gauss-Newton matrix of eq. 12 at
    the true pose, sum_q A(q) J(q)^T J(q) with J = grad Y dy/dw and Y approximated inside the window by the motif
    blurred like the scene (sigma_in). Fixed before any scene is seen, like the authors' rule (leaf_steps), but
    scaled by what sets the convergence rate of gradient descent: the motif's contrast, size and texture
    (the authors' nu 8 pi sigma^4 ignores them; measured: a thin, low-contrast eye moved < 1 px in 32 steps)."""
    c, m, n = motif.shape
    pad = gaussian_radius(sigma)
    maskf = mask.to(motif.dtype)
    padded = lambda t: torch.nn.functional.pad(t, (pad, pad, pad, pad))  # noqa: E731
    weight = gaussian_filter(padded(maskf), sigma) if sigma > 0 else padded(maskf)
    y = padded(maskf * motif)
    y = gaussian_filter(y, sigma_in) if sigma_in > 0 else y
    g_r, g_c = torch.gradient(y, dim=(-2, -1))
    grad = torch.stack((g_r, g_c), -1).reshape(c, -1, 2)  # (C, N, 2)
    transform = Rigid(((m - 1) / 2 + pad, (n - 1) / 2 + pad))
    pts = window_points(m + 2 * pad, n + 2 * pad, 0, motif.dtype, motif.device)
    dy = transform.dy_dw(transform.identity(motif.dtype, motif.device), pts)  # (N, 2, 3)
    jac = torch.einsum("cnk,nkp->cnp", grad, dy)
    h = torch.einsum("n,cnp,cnp->p", weight.reshape(-1), jac, jac)
    return nu / h.clamp_min(torch.finfo(h.dtype).tiny)


@dataclass
class StrideRegistration:
    """Per stride: parameters w (S, p), final loss (S,), iterations (S,); per round the loss history."""

    w: torch.Tensor
    loss: torch.Tensor
    n_iter: torch.Tensor
    rounds: list  # per round: UnrolledResult (unrolled) or BatchedResult (gauss_newton)


LEAF_SOLVERS = ("unrolled", "gauss_newton")


def register_leaf(scene: torch.Tensor, motif: torch.Tensor, mask: torch.Tensor, anchors: torch.Tensor, *,
                  rounds=PAPER_LEAF_ROUNDS, nu: float = 1e-4, rtol: float = 0.0, a: float = -0.5,
                  w0: torch.Tensor | None = None, solver: str = "unrolled", gtol: float = 1e-6
                  ) -> StrideRegistration:
    """Register a textured motif at every stride: eq. 12, SE(2), the rounds in turn (each from the last one's
    result, with its own smoothing and input blur). Returns the final round's loss (the paper's loss(v, lambda))
    and poses (angle in radians, b in pixels).

    solver="unrolled" (the paper's network): gradient descent with the authors' step rule (nu), `rounds[i].iters`
    iterations, a stride stopping once an iteration lowers its loss by <= rtol relative; differentiable end to end.
    solver="gauss_newton": eq. 12 is a weighted least-squares cost, so the batched Levenberg-Marquardt of the
    kernel applies (per-stride damping and convergence: ||grad|| below gtol times its value at the round's start,
    at most `rounds[i].iters` steps); not differentiated through, but far fewer iterations
    (docs/motif_registration.md)."""
    if solver not in LEAF_SOLVERS:
        raise ValueError(f"solver={solver!r}; allowed: {', '.join(LEAF_SOLVERS)}")
    n = anchors.shape[0]
    w = w0 if w0 is not None else torch.zeros(n, 3, dtype=scene.dtype, device=scene.device)
    out, total = [], torch.zeros(n, dtype=torch.long, device=scene.device)
    for rnd in rounds:
        blurred = gaussian_filter(scene, rnd.sigma_in) if rnd.sigma_in > 0 else scene
        cost = LeafCost(blurred, motif, mask, anchors, rnd.sigma, a)
        if solver == "unrolled":
            res = unrolled_descent(cost.value_and_grad, w, leaf_steps(motif.shape[-2:], rnd.sigma, nu, scene.dtype,
                                                                      scene.device), rnd.iters, rtol=rtol)
            w, loss, n_iter = res.w, res.loss, res.n_iter
        else:
            obj = cost.objective(torch.arange(n, device=scene.device))
            start = obj.value_and_grad(w)[1].norm(dim=-1)
            res = lm_batched(lambda v: DenseLinearization(*obj.residual_and_jacobian(v)), obj.residual, w,
                             max_iter=rnd.iters, gtol=gtol * start.to(torch.float64))
            w, n_iter = res.w, res.n_iter
            loss = res.J.to(scene.dtype) + cost.constant  # J = ||r||^2 = phi - const
        total = total + n_iter
        out.append(res)
    return StrideRegistration(w=w, loss=loss, n_iter=total, rounds=out)


# ---- spike maps: eq. 10 / 13 with complementary smoothing and the inverse parameterization -------------------------
def det_2x2(m: torch.Tensor) -> torch.Tensor:
    """Determinants of 2 x 2 matrices (..., 2, 2) in closed form. torch.linalg.det's backward (an LU solve) makes
    its factors in the default dtype, so a float32 cost under a float64 default fails (or mixes dtypes) in backward;
    the closed form stays in the input's dtype and device, and is cheaper for 2 x 2."""
    return m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]


def inverse_2x2(m: torch.Tensor) -> torch.Tensor:
    """Inverses of 2 x 2 matrices (..., 2, 2) by the adjugate (same reason as det_2x2)."""
    adj = torch.stack((torch.stack((m[..., 1, 1], -m[..., 0, 1]), -1),
                       torch.stack((-m[..., 1, 0], m[..., 0, 0]), -1)), -2)
    return adj / det_2x2(m)[..., None, None]


def gaussian_kernels(cov: torch.Tensor, radius: int) -> torch.Tensor:
    """Sampled gaussians with covariances cov (k, 2, 2) on a (2r+1)^2 grid, each of unit sum; differentiable in cov."""
    u = torch.arange(-radius, radius + 1, dtype=cov.dtype, device=cov.device)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1)  # (K, K, 2)
    prec = inverse_2x2(cov)
    e = torch.exp(-0.5 * torch.einsum("ijk,bkl,ijl->bij", grid, prec, grid))
    return e / e.sum((-2, -1), keepdim=True)


def fft_filter(images: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per item 'same' linear convolution (zero boundary) of images (k, C, H, W) with kernels (k, K, K) by FFT."""
    from scipy.fft import (
        next_fast_len,  # here, not at the top: keeps this change inside the spike section
    )

    h, w = images.shape[-2:]
    r = (kernels.shape[-1] - 1) // 2
    # any length >= h + 2r keeps the kept part free of wrap-around; a 5-smooth one is 2-3x faster than e.g.
    # 301 = 7 * 43 (measured on crab_fig4's windows)
    size = (next_fast_len(h + 2 * r, real=True), next_fast_len(w + 2 * r, real=True))
    f = torch.fft.rfft2(images, s=size) * torch.fft.rfft2(kernels, s=size)[:, None]
    return torch.fft.irfft2(f, s=size)[..., r:r + h, r:r + w]


@dataclass(frozen=True)
class SpikeSchedule:
    """Theorem 5.1 for the motif's spikes U (centred): sigma from eq. 16 for motions up to ||M - I||_F <= a_dev
    and ||b|| <= b_max, and eq. 17's steps t_M = 8 pi C sigma^4 / s_max(U)^2, t_b = 8 pi sigma^4, both times
    `factor` (the paper's Fig. 4 uses 0.2 of eq. 17; the continuum theorem's steps are at the edge of stability
    once interpolation and the sampled filters perturb the landscape)."""

    sigma: float
    t_matrix: float
    t_shift: float
    kappa: float


def spike_positions(motif: torch.Tensor) -> torch.Tensor:
    """Centre of mass of each channel of a spike map (C, m, n) -> (C, 2)."""
    m, n = motif.shape[-2:]
    r = torch.arange(m, dtype=motif.dtype, device=motif.device)
    c = torch.arange(n, dtype=motif.dtype, device=motif.device)
    mass = motif.sum((-2, -1)).clamp_min(torch.finfo(motif.dtype).tiny)
    return torch.stack(((motif.sum(-1) * r).sum(-1), (motif.sum(-2) * c).sum(-1)), -1) / mass[:, None]


def spike_schedule(motif: torch.Tensor, a_dev: float, b_max: float, factor: float = 0.2,
                   sigma_min: float = 0.0) -> SpikeSchedule:
    """eq. 16-17 from the motif's channel centres (the scene's U are unknown before registration; for the true
    motion they have the same span, and the bound is what sets the scale)."""
    u = spike_positions(motif)
    u = (u - u.mean(0)).T  # (2, C), centred: U 1 = 0
    s = torch.linalg.svdvals(u)
    s_max, s_min = float(s[0]), float(s[-1])
    if s_min <= 0:
        raise ValueError("the motif's spikes are collinear (rank(U) < 2): Theorem 5.1 does not apply")
    c = u.shape[1]
    r2 = float((u * u).sum(0).max())
    sigma2 = 2 * r2 / s_min**2 * (s_max**2 * a_dev**2 + c * b_max**2)
    sigma = max(math.sqrt(sigma2), sigma_min)
    return SpikeSchedule(sigma=sigma, t_matrix=factor * 8 * math.pi * c * sigma**4 / s_max**2,
                         t_shift=factor * 8 * math.pi * sigma**4, kappa=s_max**2 / s_min**2)


class SpikeCost:
    """phi of eq. 10 (inverse parameterization, complementary smoothing) for a spike motif (C, m, n) at strides
    `anchors` (S, 2) of a spike scene (C, H, W). transform: Affine (eq. 10) or Rigid (eq. 13), about the motif's
    centre of mass. `mask_pad` dilates the window box P_Omega.

    Pixel spikes (presmoothed=False): the scene is blurred by g_{sigma0^2} here and the motif by g_{sigma^2}.
    presmoothed=True (App. A.3.2): scene and motif are already sigma0 gaussian densities sampled on the grid (spikes
    at non-integer positions), so the scene is used as it is and the motif gets the remaining g_{sigma^2 - sigma0^2}.
    `tail`: every filter is cut at tail standard deviations; the cut (g_{sigma^2 - sigma0^2} * g_{sigma0^2} is not
    exactly g_{sigma^2} once both are cut, and the anisotropic kernel is cut differently from the target's) puts
    a floor under the objective on exact data; a gaussian at the cut is exp(-tail^2 / 2) of its peak, 1e-2 / 3e-4 /
    4e-6 at tail 3 / 4 / 5 (measured floors, crab_fig4: docs/motif_registration.md)."""

    def __init__(self, scene: torch.Tensor, motif: torch.Tensor, anchors: torch.Tensor, sigma: float, sigma0: float,
                 *, transform: str = "affine", tail: float = 3.0, a: float = -0.5, mask_pad: int | None = None,
                 presmoothed: bool = False):
        if not sigma > sigma0 > 0:
            raise ValueError(f"complementary smoothing needs sigma > sigma0 > 0 (got {sigma}, {sigma0})")
        c, m, n = motif.shape
        self.c, self.sigma, self.sigma0 = c, sigma, sigma0
        self.pad = gaussian_radius(sigma, tail) if mask_pad is None else mask_pad
        self.radius = gaussian_radius(math.sqrt(sigma**2 - sigma0**2), tail) + 2
        mass = spike_positions(motif) * motif.sum((-2, -1))[:, None]
        self.centre = tuple(float(v) for v in mass.sum(0) / motif.sum().clamp_min(torch.finfo(motif.dtype).tiny))
        centre = (self.centre[0] + self.pad, self.centre[1] + self.pad)  # in padded-window coordinates
        self.transform = Affine(centre) if transform == "affine" else Rigid(centre)
        self.windows = SceneWindows(scene if presmoothed else gaussian_filter(scene, sigma0, tail),
                                    anchors - self.pad, a)
        target_sigma = math.sqrt(sigma**2 - sigma0**2) if presmoothed else sigma
        self.target = gaussian_filter(torch.nn.functional.pad(motif, (self.pad,) * 4), target_sigma, tail)
        self.shape = self.target.shape[-2:]
        self.points = window_points(*self.shape, 0, motif.dtype, motif.device)

    def filtered_window(self, w: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """det^-1/2(M M^T) g_{sigma^2 I - sigma0^2 M M^T} * (scene blurred by sigma0, sampled at the inverse map),
        (k, C, h, w): what eq. 10 compares with the smoothed motif."""
        mat, shift = self.transform.matrix_and_shift(w)
        inv = inverse_2x2(mat)
        c = torch.tensor(self.transform.center, dtype=w.dtype, device=w.device)
        pts = torch.einsum("bkl,bnl->bnk", inv, self.points - c - shift[:, None, :]) + c
        y = self.windows.select(items)(pts)  # (k, N, C)
        y = y.permute(0, 2, 1).unflatten(-1, self.shape)
        mm = mat @ mat.transpose(-1, -2)
        eye = torch.eye(2, dtype=w.dtype, device=w.device)
        cov = self.sigma**2 * eye - self.sigma0**2 * mm
        amp = det_2x2(mat).abs().reciprocal()  # det^-1/2(M M^T)
        return amp[:, None, None, None] * fft_filter(y, gaussian_kernels(cov, self.radius))

    def value(self, w: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        d = self.filtered_window(w, items) - self.target
        return (d * d).sum((-3, -2, -1)) / (2 * self.c)

    def value_and_grad(self, w: torch.Tensor, items: torch.Tensor):
        """phi (k,) and its gradient (k, p) by autograd; they keep their graph (for differentiating through the
        iterations) when w or the scene requires grad, and are plain values otherwise."""
        keep = w.requires_grad or self.windows.scene.requires_grad
        with torch.enable_grad():
            w = w if w.requires_grad else w.detach().requires_grad_(True)
            v = self.value(w, items)
            (g,) = torch.autograd.grad(v.sum(), w, create_graph=keep)
        return (v, g) if keep else (v.detach(), g)

    def steps(self, schedule: SpikeSchedule) -> torch.Tensor:
        """eq. 17 in this transform's parameters. For SE(2) the angle moves M along the circle R(phi), whose
        tangent has squared norm 2: the angle step that reproduces t_M's motion of M is t_M / 2."""
        t_m, t_b = schedule.t_matrix, schedule.t_shift
        steps = [t_m] * 4 + [t_b] * 2 if isinstance(self.transform, Affine) else [t_m / 2, t_b, t_b]
        return torch.tensor(steps, dtype=self.target.dtype, device=self.target.device)

    def identity(self, n: int) -> torch.Tensor:
        return self.transform.identity(self.target.dtype, self.target.device).repeat(n, 1)


def register_spikes(scene: torch.Tensor, motif: torch.Tensor, anchors: torch.Tensor, schedule: SpikeSchedule, *,
                    sigma0: float = 3.0, iters: int = 30, transform: str = "affine", rtol: float = 0.0,
                    a: float = -0.5, tail: float = 3.0, presmoothed: bool = False, iterates: list | None = None
                    ) -> tuple[StrideRegistration, SpikeCost]:
    """Register a spike motif at every stride by unrolled gradient descent on eq. 10 (or 13 with
    transform="rigid") with Theorem 5.1's smoothing and steps; w0 the identity (A.1). `tail` and `presmoothed`:
    see SpikeCost. `iterates`: a list that receives every evaluated iterate (items still running, detached), for
    parameter-error curves such as eq. 18."""
    cost = SpikeCost(scene, motif, anchors, schedule.sigma, sigma0, transform=transform, a=a, tail=tail,
                     presmoothed=presmoothed)

    def value_and_grad(w, items):
        if iterates is not None:
            iterates.append(w.detach())
        return cost.value_and_grad(w, items)

    res = unrolled_descent(value_and_grad, cost.identity(anchors.shape[0]), cost.steps(schedule), iters, rtol=rtol)
    return StrideRegistration(w=res.w, loss=res.loss, n_iter=res.n_iter, rounds=[res]), cost
