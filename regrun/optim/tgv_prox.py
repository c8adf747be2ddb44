"""The prox of a one-weight regulariser other than TV, for FISTA (regrun.optim.fista) in place of
regrun.optim.tv_prox.TVProx (docs/ct.md "(cttgv)"):

    prox(b, mu) = argmin_{u >= 0, w}  1/2 ||u - b||^2 + mu R(u, w),

- tgv: second-order total generalized variation (Bredies, Kunisch and Pock 2010) with the fixed ratio
       alpha0 = ratio alpha1 (one weight):  R = ||grad u - w||_{2,1} + (ratio / scale) ||E w||_{F,1},
       E w the symmetrized backward-difference gradient of the vector field w (`symmetrized_gradient`): where
       the image is piecewise affine, w takes its slope and a ramp costs the first term nothing (TV's
       staircase);
- tv2: the mean of the isotropic TV on the pixel axes and on the two diagonals (`diagonal_differences`, each
       over its length sqrt 2): R = 1/2 ||grad u||_{2,1} + 1/(2 sqrt 2) ||D u||_{2,1}, a less anisotropic TV.

FISTA passes mu = lam tau scale, scale = 1/k with the unknown on a grid k times finer (UnknownGrid.tv_scale):
the first-order terms are weighted by 1/k, E's by 1 (its differences of differences are k^2 smaller on k^2
more pixels), so lam and the ratio keep their units per output pixel across grids.

The prox is `iters` Chambolle-Pock (2011) iterations on (u, w) with K = [[grad, -I], [0, E]] (tgv) or
[grad; D] (tv2), steps tau and sigma = 0.99 / (tau ||K||^2) (the bound of `K_NORM2`), from the state of the
previous call (FISTA's solver.prox_warm_start: b moves little between FISTA steps, so a few iterations per
step keep up) or from zero. tau 0.5: on a seen scan (chelsea 128^2/15, 140 FISTA steps) 20 iterations per step
come within 0.04 dB of 100 at tau 1, where 30 at tau 1 stay 0.09 short (docs/ct.md "(cttgv)").
"""
from __future__ import annotations

import math

import torch

from ..errors import UserError, check_choice
from ..linalg.differences import divergence, forward_difference_adjoint, gradient
from ..linalg.iterate import DiffMode, diff_mode, iterate
from .tv_prox import pointwise_norm, positive, project_ball

REGULARIZERS = ("tgv", "tv2")
# ||K||^2 bounds: tgv ||grad u - w||^2 + ||E w||^2 <= 2 * 8 ||u||^2 + (2 + 8) ||w||^2; tv2 8 + 8
K_NORM2 = {"tgv": 16.0, "tv2": 16.0}


def _backward_difference(u: torch.Tensor, dim: int) -> torch.Tensor:
    """-(the Neumann forward difference along dim)^T u: u_i - u_{i-1}, with u_{-1} = 0 and u_{n-1} unread
    (the per-axis term of regrun.linalg.differences.divergence)."""
    n = u.shape[dim]
    return -forward_difference_adjoint(u.narrow(dim, 0, n - 1), dim)


def _forward_neumann(u: torch.Tensor, dim: int) -> torch.Tensor:
    n = u.shape[dim]
    d = u.narrow(dim, 1, n - 1) - u.narrow(dim, 0, n - 1)
    return torch.cat((d, torch.zeros_like(u.narrow(dim, 0, 1))), dim)


def symmetrized_gradient(w: torch.Tensor) -> torch.Tensor:
    """E w for a 2-D vector field w (2, n1, n2) -> (3, n1, n2): (d1 w1, d2 w2, (d2 w1 + d1 w2) / sqrt 2),
    d the backward differences, so that the plain 2-norm over the 3 entries is E's Frobenius norm (the
    off-diagonal entry counted twice)."""
    d = _backward_difference
    return torch.stack((d(w[0], -2), d(w[1], -1), (d(w[0], -1) + d(w[1], -2)) / math.sqrt(2)))


def symmetrized_gradient_adjoint(e: torch.Tensor) -> torch.Tensor:
    """E^T: (3, n1, n2) -> (2, n1, n2) (the backward difference's adjoint is minus the Neumann forward one)."""
    f = _forward_neumann
    c = e[2] / math.sqrt(2)
    return -torch.stack((f(e[0], -2) + f(c, -1), f(e[1], -1) + f(c, -2)))


def diagonal_differences(x: torch.Tensor) -> torch.Tensor:
    """The two diagonal differences of a 2-D image at each cell's centre, (n1, n2) -> (2, n1, n2): x[i+1, j+1]
    - x[i, j] and x[i+1, j] - x[i, j+1], 0 on the last row and column (Neumann)."""
    zero = x.new_zeros(x.shape[0] - 1, 1)
    pad = lambda d: torch.cat((torch.cat((d, zero), 1), x.new_zeros(1, x.shape[1])), 0)
    return torch.stack((pad(x[1:, 1:] - x[:-1, :-1]), pad(x[1:, :-1] - x[:-1, 1:])))


def diagonal_differences_adjoint(p: torch.Tensor) -> torch.Tensor:
    a, b = p[0, :-1, :-1], p[1, :-1, :-1]
    pad = torch.nn.functional.pad  # (left, right, top, bottom) on the last two axes
    return pad(a, (1, 0, 1, 0)) - pad(a, (0, 1, 0, 1)) + pad(b, (0, 1, 1, 0)) - pad(b, (1, 0, 0, 1))


class TGVProx:
    """The step functions of the prox for 2-D images, TVProx's interface (start, step, output, warm, grad,
    ndim), so that regrun.optim.fista.Fista runs it unchanged. State: (u, w, u_bar, w_bar, p, r) for tgv,
    (u, u_bar, p, r) for tv2."""

    ndim = 2

    def __init__(self, regularizer: str = "tgv", ratio: float = 2.0, scale: float = 1.0, tau: float = 0.5):
        check_choice("solver.regularizer", regularizer, REGULARIZERS)
        self.reg, self.ratio, self.scale = regularizer, float(ratio), float(scale)
        self.tau, self.sigma = float(tau), 0.99 / (float(tau) * K_NORM2[regularizer])

    def grad(self, u):
        return gradient(u, 2)

    def _radii(self, mu):
        if self.reg == "tgv":
            return mu, mu * (self.ratio / self.scale)
        return mu / 2, mu / (2 * math.sqrt(2))

    def start(self, b: torch.Tensor):
        if b.dim() != 2:
            raise UserError(f"solver.regularizer={self.reg} is 2-D only: this image has {b.dim()} axes")
        z2 = b.new_zeros((2,) + b.shape)
        if self.reg == "tgv":
            return b.new_zeros(b.shape), z2, b.new_zeros(b.shape), z2, z2, b.new_zeros((3,) + b.shape)
        return b.new_zeros(b.shape), b.new_zeros(b.shape), z2, z2

    def step(self, state, params):
        b, mu = params
        ra, rb = self._radii(mu)
        tau, sigma = self.tau, self.sigma
        if self.reg == "tgv":
            u, w, ub, wb, p, r = state
            p = project_ball(p + sigma * (gradient(ub, 2) - wb), ra, 2)
            r = project_ball(r + sigma * symmetrized_gradient(wb), rb, 2)
            u_new = positive((u + tau * divergence(p, 2) + tau * b) / (1 + tau))
            w_new = w - tau * (symmetrized_gradient_adjoint(r) - p)
            return u_new, w_new, 2 * u_new - u, 2 * w_new - w, p, r
        u, ub, p, r = state
        p = project_ball(p + sigma * gradient(ub, 2), ra, 2)
        r = project_ball(r + sigma * diagonal_differences(ub), rb, 2)
        u_new = positive((u + tau * (divergence(p, 2) - diagonal_differences_adjoint(r)) + tau * b) / (1 + tau))
        return u_new, 2 * u_new - u, p, r

    def output(self, state, b, mu) -> torch.Tensor:
        return state[0]

    def __call__(self, b: torch.Tensor, mu: torch.Tensor, iters: int, mode: DiffMode | None = None):
        return self.warm(b, mu, iters, mode)[0]

    def warm(self, b: torch.Tensor, mu: torch.Tensor, iters: int, mode: DiffMode | None = None, state=None):
        """(the prox's u, the state) after `iters` iterations from `state` (None: from zero)."""
        state = iterate(self.step, self.start(b) if state is None else state, (b, mu), iters,
                        mode or diff_mode("unrolled"))
        return self.output(state, b, mu), state

    def value(self, u: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """R(u, w) at mu = 1 (tgv: at the given w, an upper bound of TGV(u))."""
        if self.reg == "tgv":
            a, c = self._radii(1.0)
            return a * pointwise_norm(gradient(u, 2) - w, 2).sum() + c * pointwise_norm(symmetrized_gradient(w),
                                                                                         2).sum()
        a, c = self._radii(1.0)
        return a * pointwise_norm(gradient(u, 2), 2).sum() + c * pointwise_norm(diagonal_differences(u), 2).sum()

    def objective(self, u: torch.Tensor, b: torch.Tensor, mu, w: torch.Tensor | None = None) -> torch.Tensor:
        """1/2 ||u - b||^2 + mu R(u, w) (u feasible)."""
        return 0.5 * ((u - b) ** 2).sum() + mu * self.value(u, w)
