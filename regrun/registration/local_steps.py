"""One local minimisation of a registration objective at a fixed scale, by the configured optimizer.

Shared by every registration solver (single scale here; multiscale and predictor-corrector call it per level).
"""
from __future__ import annotations

import torch

from ..errors import check_choice, check_float, check_int
from ..monitor import Monitor
from ..optim.levenberg_marquardt import levenberg_marquardt
from ..optim.result import OptimResult
from ..optim.trust_region import SCIPY_METHODS, trust_region_newton

OPTIMIZERS = (*SCIPY_METHODS, "lm")


def validate_local_options(cfg, prefix: str = "solver") -> None:
    check_choice(f"{prefix}.optimizer", cfg.optimizer, OPTIMIZERS)
    check_float(f"{prefix}.gtol", cfg.gtol, 0.0, strict=True)
    check_int(f"{prefix}.max_iter", cfg.max_iter, 0)
    if cfg.optimizer == "lm":
        check_float(f"{prefix}.tau", cfg.tau, 0.0, strict=True)


def minimise_at_scale(scale, w0: torch.Tensor, cfg, monitor: Monitor | None, gtol=None, max_iter=None,
                      extra_row=None) -> OptimResult:
    """Minimise a ScaleObjective (residual, residual_and_jacobian, value_and_grad, hessian) from w0. An
    objective that is not a sum of squares (`least_squares` False: mutual information) has no residual for LM:
    optimizer=lm then runs trust_exact, Newton's method with its exact Hessian. A scale's `parameter_scales`
    (mutual information's) are the units of the trust region's steps."""
    gtol = cfg.gtol if gtol is None else gtol
    max_iter = cfg.max_iter if max_iter is None else max_iter
    method = cfg.optimizer
    if method == "lm" and not getattr(scale, "least_squares", True):
        method = "trust_exact"
    if method == "lm":
        return levenberg_marquardt(scale.residual_and_jacobian, w0, max_iter=max_iter,
                                   gtol=gtol, tau=cfg.tau, monitor=monitor, residual=getattr(scale, "trial_residual", scale.residual),
                                   extra_row=extra_row)
    return trust_region_newton(scale.value_and_grad, scale.hessian, w0, method=method, gtol=gtol,
                               max_iter=max_iter, monitor=monitor, scales=getattr(scale, "parameter_scales", None))
