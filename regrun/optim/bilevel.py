"""Bilevel learning of the TV weight (seed 003, Algorithm 1): the upper loss of the lower-level FISTA
reconstruction and its hypergradient in one of four modes.

    loss(lam) = 1/2 ||M x_N(lam) - M x_gt||^2 / ||M x_gt||^2

with x_N(lam) from N FISTA iterations (regrun.optim.fista) and the parameter theta = lam or theta = log lam.

Hypergradient modes (`HYPERGRADIENTS`):
- paper:        the released code's graph: projector outside autograd, aCV with the dual-variable gradient
                dropped and float16 storage, unrolled. A truncated heuristic, not the derivative of the loss
                (../shared/notes/ct_bilevel.md 1.4); offered for a faithful comparison, its error reported.
- unrolled:     exact derivative of x_N by reverse-mode AD through every FISTA and prox iteration;
- checkpointed: the same derivative, storing only segment boundaries (torch.utils.checkpoint);
- implicit:     derivative of FISTA's fixed point (the proximal-gradient map with the inexact prox) by the
                implicit function theorem, the adjoint system (I - dT/dx)^T w = g solved by GMRES to a relative
                residual (or by a fixed number of Neumann terms, which the few-view problems need thousands
                of: the spectral radius of dT/dx is near 1 on the projector's near-null space); memory O(1)
                in N. Exact for the limit, so it matches the finite differences of the loss once x_N has
                converged: with a `FixedPointStop` (tol > 0) the lower level runs until
                ||T(x) - x|| / ||x|| <= tol, `iters` being the cap, and the loss (value, line search,
                reconstruction) is that of this converged solution map. Each solve's adjoint products and
                residual, the FISTA iterations run and the fixed-point residual reached are kept in the
                Evaluation.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from ..errors import check_choice
from ..linalg.iterate import AdjointSolve, FixedPointStop, diff_mode
from .fista import Fista

HYPERGRADIENTS = ("paper", "unrolled", "checkpointed", "implicit")
PARAMETERS = ("log", "linear")


@dataclass
class Evaluation:
    theta: float
    lam: float
    loss: float
    grad: float | None  # d loss / d theta
    adjoint_iters: int | None = None         # implicit: products with dT/dx in the adjoint solve
    adjoint_residual: float | None = None    # implicit: its true relative residual ||r|| / ||g||
    fixed_point_residual: float | None = None  # implicit: ||T(x_N) - x_N|| / ||x_N||, how far x_N is from the
                                               # point implicit differentiates (one more T, no graph)
    lower_iters: int | None = None  # implicit: FISTA iterations run (below the cap when the tolerance was met)


class BilevelLoss:
    """loss(theta) and its hypergradient. `exact` is the FISTA used for every loss value and the exact modes;
    `paper` (optional) the released code's FISTA for the paper mode's gradient."""

    def __init__(self, exact: Fista, truth: torch.Tensor, iters: int, mode: str = "unrolled",
                 parameter: str = "log", mask: torch.Tensor | None = None, paper: Fista | None = None,
                 segment: int = 0, adjoint: AdjointSolve | None = None, stop: FixedPointStop | None = None):
        check_choice("solver.hypergradient", mode, HYPERGRADIENTS)
        check_choice("solver.parameter", parameter, PARAMETERS)
        if mode == "paper" and paper is None:
            raise ValueError("the paper hypergradient needs the paper's FISTA")
        self.exact, self.paper = exact, paper
        self.truth, self.mask, self.iters = truth, mask, iters
        self.mode, self.parameter = mode, parameter
        kind = "unrolled" if mode == "paper" else mode
        adjoint = replace(adjoint or AdjointSolve("gmres", 1000, 1e-8), report=self._adjoint_done)
        stop = replace(stop or FixedPointStop(), report=self._forward_done)
        self.diff = diff_mode(kind, segment=segment, adjoint=adjoint, stop=stop)
        self._adjoint: list[tuple[int, float]] = []
        self.forward: tuple[int, float] | None = None  # implicit: (FISTA iterations, residual) of the last run
        masked = truth if mask is None else truth * mask
        self.norm2 = float((masked * masked).sum())

    def _adjoint_done(self, method: str, iters: int, residual: float) -> None:
        self._adjoint.append((iters, residual))

    def _forward_done(self, steps: int, residual: float) -> None:
        self.forward = (steps, residual)

    def _solve_plain(self, lam: torch.Tensor) -> torch.Tensor:
        """x(lam) without a graph by the lower level the hypergradient differentiates: implicit's run to its
        tolerance, x_N otherwise."""
        with torch.no_grad():
            if self.mode == "implicit":
                return self.exact.solve(lam, self.iters, self.diff)
            return self.exact.solve(lam, self.iters)

    def lam(self, theta: torch.Tensor) -> torch.Tensor:
        return torch.exp(theta) if self.parameter == "log" else theta

    def lam_of(self, theta: float) -> float:
        return math.exp(theta) if self.parameter == "log" else theta

    def theta_of(self, lam: float) -> float:
        return math.log(lam) if self.parameter == "log" else lam

    def loss_of(self, x: torch.Tensor) -> torch.Tensor:
        r = x - self.truth
        if self.mask is not None:
            r = r * self.mask
        return 0.5 * (r * r).sum() / self.norm2

    def reconstruct(self, lam: float) -> torch.Tensor:
        return self._solve_plain(torch.tensor(lam, dtype=self.truth.dtype, device=self.truth.device))

    def value(self, theta: float) -> float:
        """The loss without a graph (line-search trials)."""
        with torch.no_grad():
            lam = self.lam(torch.tensor(theta, dtype=self.truth.dtype, device=self.truth.device))
            return float(self.loss_of(self._solve_plain(lam)))

    def value_and_grad(self, theta: float) -> Evaluation:
        t = torch.tensor(theta, dtype=self.truth.dtype, device=self.truth.device, requires_grad=True)
        lam = self.lam(t)
        fista = self.paper if self.mode == "paper" else self.exact
        self.forward = None
        x = fista.solve(lam, self.iters, self.diff)
        forward = self.forward if self.mode == "implicit" else None
        loss = self.loss_of(x)
        self._adjoint.clear()
        grad, = torch.autograd.grad(loss, t)
        value = float(loss.detach()) if self.mode != "paper" else self.value(theta)
        solved = self._adjoint[-1] if self._adjoint else (None, None)
        steps, fp = forward if forward is not None else (None, None)
        return Evaluation(theta, float(lam.detach()), value, float(grad), *solved, fp, steps)


@dataclass
class OuterStep:
    k: int
    theta: float
    lam: float
    loss: float
    grad: float
    step: float
    trials: list  # (gamma, theta_trial, loss_trial, accepted)


BACKTRACKS = ("halve", "quadratic")


def _next_gamma(gam: float, g: float, f0: float, f_trial: float, shrink: float, backtrack: str) -> float:
    """The next trial step after a rejected one. halve: gamma * shrink (the paper). quadratic: the minimiser
    of the parabola through loss(y), its slope -g^2 along -g and the rejected trial, kept within
    [0.1, shrink] x gamma (the usual safeguard): an overshoot far past a flat optimum is cut back in one trial
    instead of a string of halvings."""
    if backtrack == "halve":
        return gam * shrink
    curvature = f_trial - f0 + g * g * gam  # > 0 whenever the Armijo test failed (c < 1)
    if not curvature > 0:
        return gam * shrink
    best = g * g * gam * gam / (2 * curvature)
    return min(max(best, 0.1 * gam), shrink * gam)


def nesterov_armijo(fun: Callable[[float], Evaluation], value: Callable[[float], float], theta0: float,
                    gamma0: float, max_iter: int = 40, c: float = 1e-2, shrink: float = 0.5, max_tries: int = 20,
                    grow: float = 1.0, box: tuple[float, float] = (-math.inf, math.inf), step_tol: float = 1e-8,
                    theta_tol: float = 1e-6, on_step: Callable[[OuterStep], None] | None = None,
                    backtrack: str = "halve", min_move: float = 0.0):
    """Nesterov-accelerated gradient descent with Armijo backtracking on a scalar theta (seed 003,
    Algorithm 1). The gradient is taken at the extrapolated point y_k and the trial theta = y_k - gamma g is
    accepted when loss(trial) <= loss(y_k) - c gamma g^2, else gamma is cut (`backtrack`: halve by `shrink`,
    the paper, or quadratic interpolation; at most max_tries times); `grow` > 1 lets gamma grow again after an
    accepted step (the paper never does: grow = 1). Trials are clipped to `box`. Stops when |gamma g| <
    step_tol, |theta_{k+1} - theta_k| < theta_tol or after max_iter outer iterations. min_move > 0: a line
    search whose next trial would move theta by less than min_move stops there with status "converged_flat":
    at a flat optimum (in float32 the loss differences are round-off) every trial fails and the paper's
    search would spend its max_tries solves on steps too small to matter. Returns (theta, history list of
    OuterStep, status)."""
    check_choice("backtrack", backtrack, BACKTRACKS)
    theta, y, t, gamma = theta0, theta0, 1.0, gamma0
    f_theta = None  # loss(theta), known once theta was a trial (or the start, evaluated at k = 0)
    history: list[OuterStep] = []
    status = "max_iter"
    for k in range(max_iter):
        ev = fun(y)
        g = ev.grad
        if f_theta is None:
            f_theta = ev.loss
        trials = []
        accepted = None
        gam = gamma
        for _ in range(max_tries):
            trial = min(max(y - gam * g, box[0]), box[1])
            if trials and abs(trial - y) < min_move:
                break
            f_trial = value(trial)
            ok = f_trial <= ev.loss - c * gam * g * g
            trials.append((gam, trial, f_trial, bool(ok)))
            if ok:
                accepted = trial
                break
            gam = _next_gamma(gam, g, ev.loss, f_trial, shrink, backtrack)
        if accepted is None and trials and abs(min(max(y - gam * g, box[0]), box[1]) - y) < min_move:
            # flat: the extrapolated point is as good as any step the tolerance can resolve
            accepted, status = (y if ev.loss <= f_theta else theta), "converged_flat"
        elif accepted is None:  # no decrease found: stay at the extrapolated point's better neighbour
            accepted, status = (y if ev.loss <= f_theta else theta), "line_search_failed"
        else:
            f_theta = trials[-1][2]
        step = OuterStep(k, y, ev.lam, ev.loss, g, gam * abs(g), trials)
        history.append(step)
        if on_step is not None:
            on_step(step)
        if status in ("line_search_failed", "converged_flat"):
            theta = accepted
            break
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        y = accepted + ((t - 1) / t_new) * (accepted - theta)
        y = min(max(y, box[0]), box[1])
        moved = abs(accepted - theta)
        theta, t, gamma = accepted, t_new, gam * grow
        if gam * abs(g) < step_tol:
            status = "converged_step"
            break
        if moved < theta_tol:
            status = "converged_theta"
            break
    return theta, history, status
