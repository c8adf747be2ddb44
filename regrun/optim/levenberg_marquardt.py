"""Gauss-Newton with Levenberg-Marquardt damping for J(x) = ||r(x)||^2 (Nielsen's damping update).

Every attempted step counts as an iteration, accepted or not, as in the paper's `lsq_lma`. The loop is one
piece of code for every least-squares solver; what differs is how a linearization solves the damped normal
equations: densely (`DenseLinearization`, small parameter counts) or matrix-free (joint super-resolution).
"""
from __future__ import annotations

import math
from typing import Callable, Protocol

import torch

from ..monitor import Monitor
from .result import OptimResult

ResidualJacobian = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Linearization(Protocol):
    """The model r + J s of the residual at one point."""

    r: torch.Tensor
    jtr: torch.Tensor  # J^T r

    def initial_damping(self, tau: float) -> float: ...

    def step(self, damping: float) -> torch.Tensor:
        """A solution (exact or approximate) of (J^T J + damping D) s = -J^T r."""

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        """J s."""


class DenseLinearization:
    """A dense Jacobian; D = I, so the damping starts at tau * max diag(J^T J)."""

    def __init__(self, r: torch.Tensor, jac: torch.Tensor):
        self.r, self.jac = r, jac
        self.jtr = jac.T @ r
        self.jtj = jac.T @ jac

    def initial_damping(self, tau: float) -> float:
        return tau * float(torch.diagonal(self.jtj).max())

    def step(self, damping: float) -> torch.Tensor:
        lhs = self.jtj + damping * torch.eye(self.jtj.shape[0], dtype=self.jtj.dtype, device=self.jtj.device)
        try:
            return -torch.linalg.solve(lhs, self.jtr)
        except torch.linalg.LinAlgError:
            return -torch.linalg.lstsq(lhs, self.jtr.unsqueeze(-1)).solution.squeeze(-1)

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        return self.jac @ s


def lm_loop(
    linearize: Callable[[torch.Tensor], Linearization],
    residual: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    max_iter: int = 100,
    gtol: float = 1e-5,
    xtol: float = 1e-10,
    tau: float = 1e-3,
    monitor: Monitor | None = None,
    extra_row: Callable[[torch.Tensor, Linearization], dict] | None = None,
) -> OptimResult:
    """Minimise ||r(x)||^2 from x0. Converged when ||grad J|| = 2 ||J^T r|| < gtol, when an accepted step is
    shorter than xtol (||x|| + xtol), or when a rejected step's predicted decrease is below the round-off of J;
    otherwise it ends at max_iter attempted steps, when the monitor asks, or when the damping blows up."""
    x = x0.clone()
    roundoff = 8 * torch.finfo(x0.dtype).eps  # of J, in the run's dtype (float32 rounds 2^29 times coarser)
    lin = linearize(x)
    loss = float(lin.r @ lin.r)
    grad_norm = 2 * float(lin.jtr.norm())
    damping = lin.initial_damping(tau)
    nu = 2.0
    status, message = "max_iter", f"reached max_iter={max_iter}"

    def report(n, accepted):
        if monitor is None:
            return False
        return monitor.step(iter=n, J=loss, grad_norm=grad_norm, damping=damping, accepted=float(accepted),
                            **(extra_row(x, lin) if extra_row else {}))

    report(0, True)
    n_iter = 0
    for n_iter in range(1, max_iter + 2):
        if grad_norm < gtol:
            status, message = "converged", f"||grad J|| = {grad_norm:.3e} < gtol = {gtol:g}"
            n_iter -= 1
            break
        if n_iter > max_iter:
            n_iter = max_iter
            break
        step = lin.step(damping)
        r_trial = residual(x + step)
        loss_trial = float(r_trial @ r_trial)
        # ||r||^2 - ||r + J s||^2 for the step actually returned (an iterative solve need not be exact)
        predicted = loss - float((lin.r + lin.apply(step)).pow(2).sum())
        rho = (loss - loss_trial) / predicted if predicted > 0 else -1.0
        accepted = rho > 0 and math.isfinite(loss_trial)
        if accepted:
            x = x + step
            lin = linearize(x)
            loss = float(lin.r @ lin.r)
            grad_norm = 2 * float(lin.jtr.norm())
            damping *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
        else:
            damping *= nu
            nu *= 2.0
        stop = report(n_iter, accepted)
        if accepted and float(step.norm()) <= xtol * (float(x.norm()) + xtol):
            status, message = "converged", f"step {float(step.norm()):.2e} below xtol = {xtol:g} (relative)"
            break
        if not accepted and 0 <= predicted <= roundoff * loss:
            # the linear model promises less than J's own rounding error: nothing is left to gain
            status, message = "converged", f"predicted decrease {predicted:.1e} is below round-off of J = {loss:.3e}"
            break
        if damping > 1e16:
            status, message = "stopped", f"damping {damping:.1e} too large: no step reduces J"
            break
        if stop:
            status, message = "stopped", "stopped by a callback"
            break
    return OptimResult(w=x, J=loss, grad_norm=grad_norm, n_iter=n_iter, status=status, message=message,
                       extra={"linearization": lin})


def levenberg_marquardt(
    residual_and_jacobian: ResidualJacobian,
    w0: torch.Tensor,
    *,
    max_iter: int = 100,
    gtol: float = 1e-5,
    xtol: float = 1e-10,
    tau: float = 1e-3,
    monitor: Monitor | None = None,
    residual: Callable[[torch.Tensor], torch.Tensor] | None = None,
    extra_row: Callable[[torch.Tensor], dict] | None = None,
) -> OptimResult:
    """lm_loop with a dense Jacobian: `residual_and_jacobian(w)` -> (r (n,), J (n, p)); `residual(w)` evaluates
    r alone for trial points (defaults to the first output of residual_and_jacobian). The result's extra holds
    the last "jacobian" and "residual"."""
    residual = residual or (lambda w: residual_and_jacobian(w)[0])
    out = lm_loop(lambda w: DenseLinearization(*residual_and_jacobian(w)), residual, w0, max_iter=max_iter,
                  gtol=gtol, xtol=xtol, tau=tau, monitor=monitor,
                  extra_row=(lambda w, lin: extra_row(w)) if extra_row else None)
    lin = out.extra.pop("linearization")
    out.extra.update(jacobian=lin.jac, residual=lin.r)
    return out
