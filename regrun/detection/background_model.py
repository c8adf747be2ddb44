"""Textured-motif registration with a background model (seed 002, formulation (4)), the masked ZNCC that
judges it; both warp with imaging/keys.py's keys_grid_sample.

    min_{tau, beta}  1/2 || P_{Omega~} [ g_sigma * ( y o tau - x_o - P_{Omega^c} [ g_{C sigma} * beta ] ) ] ||^2

x_o: the motif on black (C, h, w), Omega its support, Omega~ the support dilated by 2 sigma (App. A.3.1), beta the
background model, kept on the support dilated by 5 sigma ("the background model covers the region up to 5 sigma
away from the motif"); C = 5 as in the authors' numpy code (its smoothing filter h has 5 sigma). Everything is
computed on a window of the motif's canvas (the motif's box padded by `pad`), which the transformation maps into
the scene. Gradients (w.r.t. the transformation's parameters and beta) come from autograd through torch's
bicubic grid_sample (keys_grid_sample): it is Keys' cubic convolution with a = -0.75, ~25x faster than keys_sample
on a CPU for values and gradients together, so the optimisation and the covering both warp with it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..imaging.gaussian import gaussian_filter
from ..imaging.keys import keys_grid_sample
from ..imaging.transforms import Similarity, Transformation
from .scenes import pixel_grid

# gaussian_filter(mask, s) > this is the mask dilated by ~2 s (a straight edge's blur drops to Phi(-2) at 2 s)
_PHI_MINUS_2 = 0.02275


def dilate(mask: torch.Tensor, distance: float) -> torch.Tensor:
    """The mask grown by about `distance` pixels (a threshold of its gaussian blur with sigma = distance / 2)."""
    if distance <= 0:
        return mask
    return (gaussian_filter(mask, distance / 2) > _PHI_MINUS_2).to(mask.dtype)


def masked_zncc(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ZNCC of App. A.3 over the pixels where mask is 1: channel-wise means removed over the mask, then the
    normalised inner product over the mask and all channels. x, y (..., C, P) (P pixels, already restricted to
    the mask) or (..., C, H, W) with mask (H, W); returns (...)."""
    if mask is not None:
        keep = mask.reshape(-1) > 0.5
        x, y = x.flatten(-2)[..., keep], y.flatten(-2)[..., keep]
    xc = x - x.mean(-1, keepdim=True)
    yc = y - y.mean(-1, keepdim=True)
    num = (xc * yc).sum((-2, -1))
    den = xc.pow(2).sum((-2, -1)).sqrt() * yc.pow(2).sum((-2, -1)).sqrt()
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


@dataclass
class MotifWindow:
    """The motif x_o (C, h, w) and its support (h, w) on a window of the canvas whose top-left pixel is at
    `origin` (row, col) of the canvas the scene's transformation is expressed in."""

    motif: torch.Tensor
    support: torch.Tensor
    origin: tuple[int, int]

    @classmethod
    def around(cls, motif: torch.Tensor, support: torch.Tensor, pad: int) -> "MotifWindow":
        """The motif canvas (C, H, W) cropped to its support's box padded by `pad` (zero beyond the canvas)."""
        rows = torch.nonzero(support.sum(1) > 0).flatten()
        cols = torch.nonzero(support.sum(0) > 0).flatten()
        r0, r1 = int(rows[0]) - pad, int(rows[-1]) + 1 + pad
        c0, c1 = int(cols[0]) - pad, int(cols[-1]) + 1 + pad
        h, w = support.shape
        fill = (max(-c0, 0), max(c1 - w, 0), max(-r0, 0), max(r1 - h, 0))
        m = torch.nn.functional.pad(motif, fill)
        s = torch.nn.functional.pad(support, fill)
        rr, cc = r0 + fill[2], c0 + fill[0]
        return cls(m[:, rr:rr + r1 - r0, cc:cc + c1 - c0], s[rr:rr + r1 - r0, cc:cc + c1 - c0], (r0, c0))

    def points(self) -> torch.Tensor:
        h, w = self.support.shape
        g = pixel_grid(h, w, self.motif.dtype, self.motif.device)
        return g + torch.tensor(self.origin, dtype=g.dtype, device=g.device)


class BackgroundModelCost:
    """Formulation (4) at one smoothing scale sigma, on a MotifWindow of the motif, for a scene y (C, H, W).

    `value(w, beta0)` is the cost (autograd gives its gradients); beta = g_{C sigma} * beta0, with beta0 kept
    on the background region (the support dilated by 5 sigma, outside the support), as the authors' code
    (beta0 the variable, beta its smoothing)."""

    def __init__(self, scene: torch.Tensor, window: MotifWindow, transform: Transformation, sigma: float,
                 background_scale: float = 5.0, dilation: float = 2.0, background_reach: float = 5.0):
        self.scene, self.window, self.transform = scene, window, transform
        self.sigma, self.background_sigma = float(sigma), float(background_scale) * float(sigma)
        self.points = window.points()
        self.support = window.support
        self.cost_mask = dilate(self.support, dilation * self.sigma)           # Omega~
        self.background = dilate(self.support, background_reach * self.sigma)

    def warped(self, w: torch.Tensor) -> torch.Tensor:
        """y o tau on the window, (C, h, w)."""
        return keys_grid_sample(self.scene, self.transform.points(w, self.points))

    def initial_background(self, w: torch.Tensor) -> torch.Tensor:
        """beta0 = g_{C sigma} * (y o tau - x_o) on the background region (App. A.3.1)."""
        with torch.no_grad():
            return gaussian_filter(self.warped(w) - self.window.motif, self.background_sigma) * self.background

    def residual(self, w: torch.Tensor, beta0: torch.Tensor, warped: torch.Tensor | None = None) -> torch.Tensor:
        yw = self.warped(w) if warped is None else warped
        beta = gaussian_filter(beta0 * self.background, self.background_sigma)
        model = self.window.motif + (1 - self.support) * beta
        return self.cost_mask * gaussian_filter(yw - model, self.sigma)

    def value(self, w: torch.Tensor, beta0: torch.Tensor, warped: torch.Tensor | None = None) -> torch.Tensor:
        return 0.5 * self.residual(w, beta0, warped).pow(2).sum()

    def zncc(self, warped: torch.Tensor) -> torch.Tensor:
        return masked_zncc(self.window.motif, warped, self.support)


def sigma_schedule(sigma0: float, rounds: int, halve: bool = True) -> list[float]:
    """sigma for each round of iterations: sigma0 halved every round (the paper's text) or constant (what the
    authors' released notebook actually runs)."""
    return [sigma0 * (0.5**k if halve else 1.0) for k in range(rounds)]


def window_pad(sigma_max: float) -> int:
    """Pixels around the motif's box that formulation (4) reads at the largest sigma: the cost mask reaches
    2 sigma, its gaussian 3 sigma more."""
    return int(math.ceil(5 * sigma_max)) + 2


def preconditioner(transform: Transformation, linear_scale: float, dtype, device) -> torch.Tensor:
    """Per-parameter step factors: the parameters that multiply coordinates (all but the last two, the shift)
    get `linear_scale`; the authors divide the linear part's gradient by 100 at full size."""
    p = torch.ones(transform.n_params, dtype=dtype, device=device)
    p[:-2] = linear_scale
    return p


@dataclass
class PoseFit:
    w: torch.Tensor            # the final parameters
    zncc: torch.Tensor         # ZNCC over the support at every evaluated pose (1-D, on the run's device)
    loss: torch.Tensor         # the cost at every evaluated pose (its sigma changes between rounds)
    iterations: int            # gradient steps taken to reach the threshold (max(k, 1)), or all if never
    success: bool


def optimize_pose(scene: torch.Tensor, window: MotifWindow, transform: Transformation, sigmas: list[float],
                  iters_per_round: int, step: float, linear_scale: float, threshold: float,
                  background_only: int = 5, beta_step: float = 25.0, adapt_step: bool = True,
                  background_scale: float = 5.0, scale_step: float = 1.0) -> PoseFit:
    """Gradient descent on formulation (4) from the identity, round by round over `sigmas` (App. A.3.1).

    Each round builds the cost at its sigma, initialises beta0 from the current pose and takes
    iters_per_round steps of size step * sigma (the parameters' steps scaled by `preconditioner`, beta0's by
    beta_step more, as the authors' code); its first `background_only` steps move beta0 alone. With
    adapt_step the step halves after a rise of the cost and grows by 1 % otherwise (the authors' code). It
    stops at the first pose whose ZNCC over the support reaches `threshold`: `iterations` is the number of
    steps taken to get there (at least 1, as the authors count). For a Similarity, the step along its scale
    (the radial direction of (a, b)) is multiplied by `scale_step`: the authors damp it by 0.1; undamped, the
    scale drifts towards zooming in on the background (measured: a 5 deg, x1.11 scene ended at scale 0.6)."""
    dt, dev = scene.dtype, scene.device
    w = transform.identity(dt, dev)
    scale = preconditioner(transform, linear_scale, dt, dev)
    znccs, losses = [], []
    k = 0
    for sigma in sigmas:
        cost = BackgroundModelCost(scene, window, transform, sigma, background_scale)
        beta0 = cost.initial_background(w)
        lr, previous = step * sigma, math.inf
        for i in range(iters_per_round):
            wv = w.detach().requires_grad_(i >= background_only)
            bv = beta0.detach().requires_grad_(True)
            warped = cost.warped(wv)
            loss = cost.value(wv, bv, warped)
            with torch.no_grad():
                z = cost.zncc(warped)
            znccs.append(z)
            losses.append(loss.detach())
            if float(z) >= threshold:
                return PoseFit(w.detach(), torch.stack(znccs), torch.stack(losses), max(k, 1), True)
            loss.backward()
            value = float(loss.detach())
            if adapt_step:
                lr = lr / 2 if value > previous else lr * 1.01
            previous = value
            with torch.no_grad():
                if wv.grad is not None:
                    grad = wv.grad
                    if isinstance(transform, Similarity) and scale_step != 1.0:
                        u = w[:2] / w[:2].norm()
                        radial = (grad[:2] * u).sum() * u
                        grad = torch.cat((grad[:2] - (1 - scale_step) * radial, grad[2:]))
                    w = w - lr * scale * grad
                beta0 = beta0 - beta_step * lr * bv.grad * cost.background
            k += 1
    return PoseFit(w.detach(), torch.stack(znccs), torch.stack(losses), k, False)
