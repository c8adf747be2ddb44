"""Newton's method with the exact Hessian inside SciPy's trust-region solvers (trust-exact, trust-ncg).

The trust region is what keeps indefinite Hessians from producing non-descent steps.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..monitor import Monitor
from .result import OptimResult

SCIPY_METHODS = {"trust_exact": "trust-exact", "trust_ncg": "trust-ncg", "trust_krylov": "trust-krylov"}


class _StopRequested(Exception):
    pass


def trust_region_newton(
    value_and_grad: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    hessian: Callable[[torch.Tensor], torch.Tensor],
    w0: torch.Tensor,
    *,
    method: str = "trust_exact",
    gtol: float = 1e-7,
    max_iter: int = 200,
    monitor: Monitor | None = None,
    scales: torch.Tensor | None = None,
) -> OptimResult:
    """Minimise J with SciPy's trust-region Newton; derivatives come from torch (value_and_grad, hessian).
    The result's extra["hessian"] is the Hessian at the last accepted iterate, for reuse by a predictor.

    scales (p,): optional units of the parameters: SciPy then works in v = scales * w, so its trust region (a
    ball in v), its first radius (1) and gtol (on dJ/dv) are measured in those units. For a registration: each
    parameter's effect on the points (ITK's physical-shift scales), so that a step of radius r moves the points
    by about r whichever parameters it changes (docs/registration.md, "Capture range of mi")."""
    dtype, device = w0.dtype, w0.device
    cache: dict[bytes, tuple[float, np.ndarray]] = {}
    hess_at: dict[str, np.ndarray] = {}
    unit = np.ones(w0.shape[-1]) if scales is None else scales.detach().cpu().numpy().astype(np.float64)

    def as_tensor(x):  # v -> w
        return torch.as_tensor(np.asarray(x) / unit, dtype=dtype, device=device)

    def fun(x):
        key = np.asarray(x).tobytes()
        if key not in cache:
            v, g = value_and_grad(as_tensor(x))
            cache.clear()
            cache[key] = (float(v), g.detach().cpu().numpy().astype(np.float64) / unit)
        return cache[key]

    def hess(x):
        h = hessian(as_tensor(x)).detach().cpu().numpy().astype(np.float64) / np.outer(unit, unit)
        h = 0.5 * (h + h.T)
        hess_at["x"], hess_at["h"] = np.array(x, copy=True), h
        return h

    n_iter = 0
    last_x = {"x": None}

    def callback(intermediate_result):
        nonlocal n_iter
        n_iter += 1
        last_x["x"] = np.array(intermediate_result.x, copy=True)
        v, g = fun(intermediate_result.x)
        if monitor is not None and monitor.step(iter=n_iter, J=v, grad_norm=float(np.linalg.norm(g))):
            raise _StopRequested

    x0 = w0.detach().cpu().numpy().astype(np.float64) * unit
    v0, g0 = fun(x0)
    if monitor is not None:
        monitor.step(iter=0, J=v0, grad_norm=float(np.linalg.norm(g0)))
    stopped = False
    # imported here, not with the module: every regrun process imports every solver (the registry), and
    # scipy.optimize alone costs ~0.5 CPU-s of start-up (docs/detection.md, "Start-up")
    import scipy.optimize

    try:
        res = scipy.optimize.minimize(
            lambda x: fun(x)[0], x0, jac=lambda x: fun(x)[1], hess=hess, method=SCIPY_METHODS[method],
            callback=callback, options={"gtol": gtol, "maxiter": max_iter},
        )
        x, success, msg = res.x, res.success, str(res.message)
    except _StopRequested:
        x, success, msg, stopped = last_x["x"], False, "stopped by a callback", True
    v, g = fun(x)
    grad_norm = float(np.linalg.norm(g))  # of dJ/dv: what gtol was compared with
    if "x" not in hess_at or not np.array_equal(hess_at["x"], x):
        hess(x)
    predicted = _newton_decrease(g, hess_at["h"])
    if stopped:
        status = "stopped"
    elif success or grad_norm < gtol:
        status = "converged"
    elif predicted <= 8 * torch.finfo(dtype).eps * abs(v):
        # SciPy (1.17: "A bad approximation caused failure to predict improvement") gives up when no trial step
        # lowers J any more; where even the full Newton step predicts less than J's round-off, that is the
        # minimum to the precision J is computed in (the same test as levenberg_marquardt's)
        status = "converged"
        msg = f"{msg} (the Newton step's predicted decrease {predicted:.1e} is below round-off of J = {v:.3e})"
    elif n_iter >= max_iter:
        status = "max_iter"
    else:
        status = "stopped"
    h_w = hess_at["h"] * np.outer(unit, unit)  # back to w's units
    return OptimResult(w=as_tensor(x), J=v, grad_norm=grad_norm, n_iter=n_iter, status=status, message=msg,
                       extra={"hessian": torch.as_tensor(h_w, dtype=dtype, device=device)})


def _newton_decrease(g: np.ndarray, h: np.ndarray) -> float:
    """The quadratic model's decrease g'H^-1 g / 2 along the full Newton step; inf where H is not positive
    definite (the model then has no minimum to predict)."""
    try:
        factor = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return float("inf")
    y = np.linalg.solve(factor, g)
    return 0.5 * float(y @ y)
