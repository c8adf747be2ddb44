"""Continuation in the spline scale theta: the level loop of classical multiscale and of the paper's
predictor-corrector, shared by the multiscale, predictor_corrector and predictor_study solvers.

Both walk theta_0 > theta_1 > ... and minimise at each level from the previous optimum; the predictor-corrector
first takes one forward-Euler step of the scale ODE (seed 000 eq. 3.2)

    dw*/dtheta = -H^-1 d/dtheta grad_w J(w*; theta),

with the mixed derivative by AD through the spline coefficient solves and H the Hessian the optimizer accepted at
its last iterate (exact, or Gauss-Newton 2 J_r^T J_r, consistent with J = ||r||^2). Stepping in s = log theta
(dw*/ds = theta dw*/dtheta) is offered because the paper's logspace schedule makes the first theta-steps huge.

An indefinite H would turn the Euler step into an ascent direction along negative curvature, so the predictor
uses a modified Newton matrix: H's eigenvalues are replaced by max(|lambda|, delta lambda_max) (same eigenvectors).
The correction itself runs in a trust region (or LM), which copes with indefiniteness on its own.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig
from torch.func import grad_and_value

from ..errors import UserError, check_choice, check_float, check_int
from .local_steps import minimise_at_scale, validate_local_options

STEP_IN = ("theta", "log_theta")
HESSIANS = ("exact", "gauss_newton")
MIXED_MODES = ("rev", "fwd")


def thetas_from_cfg(cfg, prefix: str = "solver") -> list[float]:
    """`thetas` (an explicit list) when set, else `logspace: [start, stop, num]` (numpy.logspace). Two keys,
    because Hydra cannot override a mapping with a list on the command line."""
    if cfg.thetas is not None:
        return parse_thetas(f"{prefix}.thetas", cfg.thetas)
    spec = cfg.logspace
    if not isinstance(spec, (list, tuple, ListConfig)) or len(spec) != 3:
        raise UserError(f"{prefix}.logspace={spec!r} must be [start, stop, num] (exponents and a count), or set "
                        f"{prefix}.thetas to an explicit list")
    return parse_thetas(f"{prefix}.logspace", {"start": spec[0], "stop": spec[1], "num": spec[2]})


def parse_thetas(name: str, spec) -> list[float]:
    """A list of scales, or {start, stop, num} meaning numpy.logspace(start, stop, num). Strictly decreasing,
    non-negative."""
    if isinstance(spec, (dict, DictConfig)):
        unknown = set(spec) - {"start", "stop", "num"}
        if unknown or not {"start", "stop", "num"} <= set(spec):
            raise UserError(f"{name} as a mapping needs exactly start, stop, num (logspace exponents); got "
                            f"{sorted(spec)}")
        num = check_int(f"{name}.num", spec["num"], 1)
        start = check_float(f"{name}.start", spec["start"])
        stop = check_float(f"{name}.stop", spec["stop"])
        thetas = [float(t) for t in np.logspace(start, stop, num)]
    elif isinstance(spec, (list, tuple, ListConfig)):
        if len(spec) == 0:
            raise UserError(f"{name} is empty; give at least one scale")
        thetas = [check_float(f"{name}[{i}]", t, 0.0) for i, t in enumerate(spec)]
    else:
        raise UserError(f"{name}={spec!r} must be a list of scales or {{start: 3, stop: -3, num: 30}} (logspace)")
    if any(b >= a for a, b in zip(thetas, thetas[1:])):
        raise UserError(f"{name} must be strictly decreasing (coarse to fine); got {thetas}")
    return thetas


def modified_newton_solve(h: torch.Tensor, b: torch.Tensor, delta: float = 1e-8) -> tuple[torch.Tensor, float]:
    """x = |H|_delta^-1 b with |H|_delta = V max(|Lambda|, delta max|Lambda|) V^T; also returns H's smallest
    eigenvalue (negative means H was indefinite and got modified)."""
    h = 0.5 * (h + h.T)
    lam, vec = torch.linalg.eigh(h)
    floor = delta * float(lam.abs().max()) if lam.numel() else 0.0
    lam_mod = lam.abs().clamp(min=max(floor, torch.finfo(h.dtype).tiny))
    return vec @ ((vec.T @ b) / lam_mod), float(lam.min())


class LevelMonitor:
    """Adds the level and its theta to every row an optimizer records."""

    def __init__(self, monitor, level: int, theta: float):
        self.monitor, self.level, self.theta = monitor, level, theta

    def start(self, total=None, desc="", upto=False):
        self.monitor.start(total, desc, upto=upto)

    def step(self, **row):
        return self.monitor.step(level=self.level, theta=self.theta, **row)


@dataclass
class PathResult:
    w: torch.Tensor
    status: str
    message: str
    n_iter: int
    levels: dict[str, list] = field(default_factory=dict)
    time: float = 0.0


class ScalePath:
    """The level loop: minimise at each theta from the previous optimum, with (predict=True) or without the
    Euler predictor. Validates its config section (a solver's, or a branch of predictor_study's) on construction."""

    # Multiplies the Euler step. Only the Fig. 3 study changes it (to 2), to replay the original code's
    # Gauss-Newton predictor, which paired H = J_r^T J_r with the mixed derivative of ||r||^2.
    step_factor = 1.0

    def __init__(self, cfg, predict: bool = False):
        self.cfg, self.predict = cfg, predict
        validate_local_options(cfg)
        self.thetas = thetas_from_cfg(cfg)
        check_choice("solver.step_in", cfg.step_in, STEP_IN)
        check_choice("solver.hessian", cfg.hessian, HESSIANS)
        check_choice("solver.mixed_derivative", cfg.mixed_derivative, MIXED_MODES)
        if cfg.step_in == "log_theta" and min(self.thetas) <= 0:
            raise UserError("solver.step_in=log_theta needs every theta > 0 (log 0 is undefined); use "
                            "step_in=theta or drop the 0 from solver.thetas")
        self.gtol_first = check_float("solver.gtol_first", cfg.gtol if cfg.gtol_first is None
                                      else cfg.gtol_first, 0.0, strict=True)
        check_float("solver.eig_floor", cfg.eig_floor, 0.0, strict=True)
        self.safeguard = bool(cfg.safeguard)
        self.margin = check_int("solver.margin", cfg.margin, 0)
        for b in cfg.baselines or []:
            check_choice("solver.baselines[]", b, ("single_scale", "multiscale", "predictor_corrector"))
        if cfg.baselines:
            check_float("solver.single_scale_gtol", cfg.single_scale_gtol, 0.0, strict=True)

    # ---- the predictor ---------------------------------------------------------------------------------------

    def predictor_hessian(self, scale, out) -> torch.Tensor:
        """H at the last accepted iterate: reused from the optimizer when it has the right kind."""
        kind = self.cfg.hessian
        if kind == "exact":
            if "hessian" in out.extra:
                return out.extra["hessian"]
            return scale.hessian(out.w.detach())
        jac = out.extra.get("jacobian")
        if jac is None:
            jac = scale.jacobian(out.w.detach())
        return 2.0 * jac.T @ jac  # J = ||r||^2, so the Gauss-Newton Hessian carries the factor 2

    def euler_step(self, problem, scale, out, theta_from: float, theta_to: float):
        h = self.predictor_hessian(scale, out)
        b = problem.mixed_derivative(out.w, theta_from, self.cfg.mixed_derivative)
        v, lam_min = modified_newton_solve(h, -b, float(self.cfg.eig_floor))  # dw*/dtheta
        if self.cfg.step_in == "log_theta":
            step = (math.log(theta_to) - math.log(theta_from)) * theta_from * v
        else:
            step = (theta_to - theta_from) * v
        return out.w.detach() + self.step_factor * step, lam_min

    # ---- the level loop ----------------------------------------------------------------------------------
    def run_path(self, problem, monitor, predict: bool, w0: torch.Tensor | None = None,
                 level_offset: int = 0) -> PathResult:
        cfg = self.cfg
        t_start = time.perf_counter()
        cols = ("level", "theta", "J_unpred", "grad_unpred", "J_pred", "grad_pred", "J_start", "grad_start",
                "J", "grad_norm", "n_iter", "time", "time_predict", "lambda_min", "used_prediction",
                "J_pred_old_theta", "grad_pred_old_theta")
        levels: dict[str, list] = {c: [] for c in cols}
        if w0 is None:  # the identity, or (problem.init=moments) the best image-moment start at the first level
            w0 = problem.best_start(problem.at_scale(self.thetas[0], self.margin)) \
                if hasattr(problem, "best_start") else problem.identity
        w = w0.clone()
        prev_out, prev_theta = None, None
        n_iter_total, status, message = 0, "converged", ""
        unconverged: list[str] = []
        prev_scale = None
        for k, theta in enumerate(self.thetas):
            t0 = time.perf_counter()
            scale = problem.at_scale(theta, self.margin)
            row = dict(level=level_offset + k, theta=theta)
            J_u, g_u = value_and_grad_norm(scale, w)
            row.update(J_unpred=J_u, grad_unpred=g_u)
            w_start, used = w, 0.0
            row.update(J_pred=math.nan, grad_pred=math.nan, lambda_min=math.nan, J_pred_old_theta=math.nan,
                       grad_pred_old_theta=math.nan)
            t_pred = 0.0
            if predict and prev_out is not None:
                tp = time.perf_counter()
                w_pred, lam_min = self.euler_step(problem, prev_scale, prev_out, prev_theta,
                                                  theta)
                t_pred = time.perf_counter() - tp
                J_p, g_p = value_and_grad_norm(scale, w_pred)
                row.update(J_pred=J_p, grad_pred=g_p, lambda_min=lam_min)
                # The original Fig. 3 code evaluated some quantities at the previous theta; kept to replay it.
                row["J_pred_old_theta"], row["grad_pred_old_theta"] = value_and_grad_norm(prev_scale, w_pred)
                if math.isfinite(J_p) and (not self.safeguard or J_p <= J_u):
                    w_start, used = w_pred, 1.0
            row.update(time_predict=t_pred, used_prediction=used)
            J_s, g_s = (row["J_pred"], row["grad_pred"]) if used else (J_u, g_u)
            row.update(J_start=J_s, grad_start=g_s)
            gtol = self.gtol_first if k == 0 else cfg.gtol
            monitor.start(total=cfg.max_iter, desc=f"level {k + 1}/{len(self.thetas)} theta={theta:.3g}", upto=True)
            out = minimise_at_scale(scale, w_start, cfg, LevelMonitor(monitor, level_offset + k, theta), gtol=gtol)
            w = out.w.detach()
            n_iter_total += out.n_iter
            row.update(J=out.J, grad_norm=out.grad_norm, n_iter=out.n_iter, time=time.perf_counter() - t0)
            for c in cols:
                levels[c].append(float(row[c]))
            prev_out, prev_theta, prev_scale = out, theta, scale
            if out.message == "stopped by a callback":  # time limit or Ctrl-C, not an optimizer verdict
                status, message = "stopped", f"stopped at level {k} (theta={theta:g})"
                break
            if out.status != "converged":
                # e.g. SciPy's "bad approximation" when ||grad|| stalls just above gtol in round-off: as the
                # paper's code does, the path goes on from the best point found.
                unconverged.append(f"{k} ({out.message})")
        if status != "stopped" and prev_out is not None and prev_out.status != "converged":
            status = "max_iter" if prev_out.status == "max_iter" else "stopped"
        if not message:
            message = f"{len(levels['level'])} levels, {n_iter_total} iterations"
            if unconverged:
                message += (f"; {len(unconverged)} level(s) ended above gtol: "
                            f"{'; '.join(unconverged[:3])}{' ...' if len(unconverged) > 3 else ''}")
        return PathResult(w=w, status=status, message=message, n_iter=n_iter_total, levels=levels,
                          time=time.perf_counter() - t_start)

    def single_scale(self, problem, monitor, level: int) -> PathResult:
        """The paper's failing baseline: one minimisation at the finest theta from the identity."""
        t0 = time.perf_counter()
        theta = self.thetas[-1]
        scale = problem.at_scale(theta, self.margin)
        monitor.start(total=self.cfg.max_iter, desc=f"single scale theta={theta:g}", upto=True)
        gtol = float(self.cfg.single_scale_gtol)
        out = minimise_at_scale(scale, problem.identity.clone(), self.cfg, LevelMonitor(monitor, level, theta), gtol=gtol)
        return PathResult(w=out.w.detach(), status=out.status, message=out.message, n_iter=out.n_iter,
                          levels={"J": [out.J], "grad_norm": [out.grad_norm], "n_iter": [out.n_iter]},
                          time=time.perf_counter() - t0)


def value_and_grad_norm(scale, w: torch.Tensor) -> tuple[float, float]:
    g, v = grad_and_value(scale.objective)(w.detach())
    return float(v), float(g.norm())


