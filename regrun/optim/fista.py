"""FISTA (Beck and Teboulle 2009) for min_x 1/2 ||A x - d||^2 + lam TV(x) + i_{x >= 0}(x), as seed 003 runs it:

    x_{k+1} = prox_{tau (lam TV + i+)}(y_k - tau M A^T (A y_k - d)),   tau = 1 / L,  L ~ ||A||^2 (power method),
    t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,   y_{k+1} = x_{k+1} + (t_k - 1) / t_{k+1} (x_{k+1} - x_k),

x_0 = y_0 = 0, t_0 = 1, M the disk mask applied to the back-projection. The prox is `inner_iters` iterations
of a regrun.optim.tv_prox method from a zero dual (the paper's), or, with warm_start, from the previous FISTA
step's dual (carried in the state after x, y, t), so that the prox error vanishes as FISTA converges. One FISTA iteration is a step function on the iteration
runner (regrun.linalg.iterate), so x_N(lam) is differentiable in lam in every mode; implicit mode uses the
proximal-gradient map T(x) = prox(x - tau grad f(x), lam tau), whose fixed point is FISTA's limit.

restart="gradient" adds O'Donoghue and Candes' (2015) adaptive restart: when the step y_k -> x_{k+1} and the
motion x_k -> x_{k+1} agree ((y_k - x_{k+1}) . (x_{k+1} - x_k) > 0: the momentum has carried the iterate uphill),
t is reset to 1 and y_{k+1} = x_{k+1}. The map T is unchanged, so is FISTA's limit (and implicit mode's
derivative); only the way there is faster: on few-view CT the momentum's oscillation is what keeps plain FISTA
from its fixed point for hundreds of iterations. The test is a select on tensors (no value read: no device
sync, vmap-safe), and x_N stays differentiable by unrolling (piecewise, like any adaptive rule).

paper=True reproduces the released code's graph: the projector sits outside autograd (the data-term gradient
is a constant: d b_k / d y_k = I instead of I - tau M A^T A).
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import UserError
from ..linalg.iterate import DiffMode, diff_mode, iterate
from .tv_prox import TVProx, pointwise_norm

Apply = Callable[[torch.Tensor], torch.Tensor]
RESTARTS = ("none", "gradient")


def power_method(normal: Apply, x0: torch.Tensor, iters: int = 20) -> float:
    """||A||^2 estimate: `iters` normalized products with A^T A from x0, then the Rayleigh quotient."""
    x = x0 / x0.norm()
    with torch.no_grad():
        for _ in range(iters):
            y = normal(x)
            x = y / y.norm()
        return float((x * normal(x)).sum() / (x * x).sum())


def _flat(dual) -> tuple:
    """The prox's state as a flat tuple of tensors (the iteration runner's states are flat)."""
    return dual if isinstance(dual, tuple) else (dual,)


def _unflat(entries: tuple):
    return entries[0] if len(entries) == 1 else entries


class Fista:
    def __init__(self, project: Apply, backproject: Apply, data: torch.Tensor, image_shape: tuple[int, ...],
                 prox: TVProx, inner_iters: int, mask: torch.Tensor | None = None, lipschitz: float | None = None,
                 power_iters: int = 20, paper: bool = False, restart: str = "none", tv_scale: float = 1.0,
                 warm_start: bool = False, weights: torch.Tensor | None = None):
        self.project, self.backproject = project, backproject
        # the data term's per-ray weights W (solver.data_weight: 1/2 (A x - d)^T W (A x - d); None: plain least
        # squares, the code path as before it, so `none` keeps every number bit for bit)
        self.weights = weights
        # TV's weight is lam * tv_scale (1 / the grid factor when the unknown lies on a grid finer than the
        # output: regrun.tomography.fista_tv.UnknownGrid), so lam keeps its units across grids
        self.tv_scale = float(tv_scale)
        self.data = data
        self.shape = tuple(image_shape)
        self.prox = prox
        self.inner_iters = inner_iters
        self.mask = mask
        self.paper = paper
        if restart not in RESTARTS:
            raise ValueError(f"restart={restart!r}: allowed {RESTARTS}")
        self.restart = restart
        self.warm_start = bool(warm_start)
        self.inner_mode = diff_mode("unrolled")
        if lipschitz is None:
            ones = torch.ones(self.shape, dtype=data.dtype, device=data.device)
            lipschitz = power_method(lambda x: self._masked(self.backproject(self._weighted(self.project(x)))), ones,
                                     power_iters)
        self.L = float(lipschitz)
        self.tau = 1.0 / self.L

    def _masked(self, x):
        return x if self.mask is None else x * self.mask

    def _weighted(self, r):
        return r if self.weights is None else r * self.weights

    def data_gradient(self, y: torch.Tensor) -> torch.Tensor:
        """M A^T W (A y - d) (W = I without weights)."""
        if self.paper:
            with torch.no_grad():
                return self._masked(self.backproject(self._weighted(self.project(y.detach()) - self.data)))
        return self._masked(self.backproject(self._weighted(self.project(y) - self.data)))

    def prox_gradient(self, y: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        """T(y) = prox(y - tau grad f(y), lam tau)."""
        return self.prox(y - self.tau * self.data_gradient(y), lam * (self.tau * self.tv_scale), self.inner_iters,
                         self.inner_mode)

    def step(self, state, lam):
        x, y, t = state[:3]
        if self.warm_start:
            x_new, dual = self.prox.warm(y - self.tau * self.data_gradient(y), lam * (self.tau * self.tv_scale),
                                         self.inner_iters, self.inner_mode, _unflat(state[3:]))
        else:
            x_new = self.prox_gradient(y, lam)
        t_new = (1 + torch.sqrt(1 + 4 * t * t)) / 2
        momentum = (t - 1) / t_new
        if self.restart == "gradient":
            with torch.no_grad():  # a decision: nothing to differentiate, nothing to save for backward
                uphill = ((y - x_new) * (x_new - x)).sum() > 0
            t_new = torch.where(uphill, torch.ones_like(t_new), t_new)
            momentum = torch.where(uphill, torch.zeros_like(momentum), momentum)
        y_new = x_new + momentum * (x_new - x)
        return (x_new, y_new, t_new, *_flat(dual)) if self.warm_start else (x_new, y_new, t_new)

    def start(self, lam: torch.Tensor):
        zero = torch.zeros(self.shape, dtype=self.data.dtype, device=self.data.device)
        one = torch.ones((), dtype=self.data.dtype, device=self.data.device)
        return (zero, zero, one, *_flat(self.prox.start(zero))) if self.warm_start else (zero, zero, one)

    def solve(self, lam: torch.Tensor, iters: int, mode: DiffMode | None = None) -> torch.Tensor:
        """x_N(lam) after `iters` FISTA iterations, differentiable in lam as `mode` says."""
        mode = mode or diff_mode("none")
        if self.warm_start and mode.kind == "implicit":
            # implicit mode differentiates the fixed point of T = the cold inner_iters prox after a gradient step,
            # which is not the warm-started iteration's limit (that one is the exact prox's)
            raise UserError("solver.prox_warm_start=true has no implicit mode (its limit is not T's fixed point): "
                            "use unrolled, truncated or checkpointed")
        return iterate(self.step, self.start(lam), lam, iters, mode,
                       output=lambda s: s[0], fixed_point=self.prox_gradient)

    def objective(self, x: torch.Tensor, lam) -> float:
        """1/2 (A x - d)^T W (A x - d) + lam tv_scale TV(x), for monitoring."""
        with torch.no_grad():
            r = self.project(x) - self.data
            tv = pointwise_norm(self.prox.grad(x), self.prox.ndim).sum()
            return float(0.5 * (r * self._weighted(r)).sum() + float(lam) * self.tv_scale * tv)


def disk_mask(shape: tuple[int, ...], radius: float = 0.95, dtype=torch.float64, device=None) -> torch.Tensor:
    """1 inside x^2 + y^2 < radius^2 in the last two axes' normalized coordinates [-1, 1], 0 outside (seed
    003's reconstruction mask); constant along any leading (slice) axis."""
    n1, n2 = shape[-2:]
    c1 = (torch.arange(n1, dtype=dtype, device=device) + 0.5) / n1 * 2 - 1
    c2 = (torch.arange(n2, dtype=dtype, device=device) + 0.5) / n2 * 2 - 1
    inside = (c1[:, None] ** 2 + c2[None, :] ** 2) < radius**2
    return inside.to(dtype).expand(shape).clone()
