"""Registration at one spline scale theta: Newton with the exact AD Hessian in a trust region, or
Gauss-Newton / Levenberg-Marquardt with the AD Jacobian."""
from __future__ import annotations

from ..errors import check_float
from ..registration.local_steps import minimise_at_scale, validate_local_options
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


@register_solver("single_scale")
class SingleScale(Solver):
    needs = frozenset({"registration"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        validate_local_options(cfg)
        self.theta = check_float("solver.theta", cfg.theta, 0.0)

    def solve(self, problem, monitor):
        scale = problem.at_scale(self.theta)
        monitor.start(total=self.cfg.max_iter, desc=f"{self.cfg.optimizer} theta={self.theta:g}", upto=True)
        # the identity, or (problem.init=moments) the image-moment start with the lowest J at this theta
        out = minimise_at_scale(scale, problem.best_start(scale).clone(), self.cfg, monitor)
        return SolveResult(
            solution={"w": out.w.detach(), "theta": self.theta}, status=out.status, message=out.message,
            n_iter=out.n_iter, stats={"J": out.J, "grad_norm": out.grad_norm, "n_iter": out.n_iter},
        )
