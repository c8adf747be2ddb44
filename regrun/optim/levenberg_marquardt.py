"""Gauss-Newton with Levenberg-Marquardt damping for J(w) = ||r(w)||^2 (Nielsen's damping update).

Every attempted step counts as an iteration, accepted or not, as in the paper's `lsq_lma`.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..monitor import Monitor
from .result import OptimResult

ResidualJacobian = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _damped_step(jac: torch.Tensor, jtr: torch.Tensor, damping: float) -> torch.Tensor:
    jtj = jac.T @ jac
    lhs = jtj + damping * torch.eye(jtj.shape[0], dtype=jtj.dtype, device=jtj.device)
    try:
        return -torch.linalg.solve(lhs, jtr)
    except torch.linalg.LinAlgError:
        return -torch.linalg.lstsq(lhs, jtr.unsqueeze(-1)).solution.squeeze(-1)


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
    """Minimise ||r(w)||^2. `residual_and_jacobian(w)` -> (r (n,), J (n, p)); `residual(w)` evaluates r alone
    for trial points (defaults to the first output of residual_and_jacobian). Stops when ||grad J|| =
    2 ||J^T r|| < gtol or an accepted step is shorter than xtol (||w|| + xtol), after max_iter attempted
    steps, when the monitor asks, or when damping blows up (no step reduces J any more)."""
    residual = residual or (lambda w: residual_and_jacobian(w)[0])
    w = w0.clone()
    r, jac = residual_and_jacobian(w)
    jtr = jac.T @ r
    loss = float(r @ r)
    damping = tau * float(torch.diagonal(jac.T @ jac).max())
    nu = 2.0
    status, message = "max_iter", f"reached max_iter={max_iter}"
    grad_norm = 2 * float(jtr.norm())
    n_iter = 0
    if monitor is not None:
        monitor.step(iter=0, J=loss, grad_norm=grad_norm, damping=damping, accepted=1.0,
                     **(extra_row(w) if extra_row else {}))
    for n_iter in range(1, max_iter + 1):
        if grad_norm < gtol:
            status, message = "converged", f"||grad J|| = {grad_norm:.3e} < gtol = {gtol:g}"
            n_iter -= 1
            break
        step = _damped_step(jac, jtr, damping)
        w_trial = w + step
        r_trial = residual(w_trial)
        loss_trial = float(r_trial @ r_trial)
        predicted = float(-2 * step @ jtr - (jac @ step) @ (jac @ step))
        rho = (loss - loss_trial) / predicted if predicted > 0 else -1.0
        accepted = rho > 0 and loss_trial == loss_trial
        if accepted:
            w = w_trial
            r, jac = residual_and_jacobian(w)
            jtr = jac.T @ r
            loss = float(r @ r)
            grad_norm = 2 * float(jtr.norm())
            damping *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            nu = 2.0
        else:
            damping *= nu
            nu *= 2.0
        stop = False
        if monitor is not None:
            stop = monitor.step(iter=n_iter, J=loss, grad_norm=grad_norm, damping=damping,
                                accepted=float(accepted), **(extra_row(w) if extra_row else {}))
        if accepted and float(step.norm()) <= xtol * (float(w.norm()) + xtol):
            status, message = "converged", f"step {float(step.norm()):.2e} below xtol = {xtol:g} (relative)"
            break
        if damping > 1e16:
            status, message = "stopped", f"damping {damping:.1e} too large: no step reduces J"
            break
        if stop:
            status, message = "stopped", "stopped by a callback"
            break
    else:
        if grad_norm < gtol:
            status, message = "converged", f"||grad J|| = {grad_norm:.3e} < gtol = {gtol:g}"
    return OptimResult(w=w, J=loss, grad_norm=grad_norm, n_iter=n_iter, status=status, message=message,
                       extra={"jacobian": jac, "residual": r})
