"""Filtered back-projection (FDK for the cone beam): the one-shot reconstruction few-view methods must beat."""
from __future__ import annotations

import time

from ..errors import check_choice
from ..registry import register_solver
from ..solve_result import SolveResult
from ..tomography.fbp import FILTERS
from .base import Solver


@register_solver("fbp")
class FBP(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("solver.filter", cfg.filter, FILTERS)
        self.masked = bool(cfg.mask)

    def solve(self, problem, monitor) -> SolveResult:
        monitor.start(total=1, desc="fbp")
        t0 = time.perf_counter()
        x = problem.fbp(problem.sinogram, str(self.cfg.filter))
        if self.masked:
            x = x * problem.mask
        seconds = time.perf_counter() - t0
        monitor.step(iter=0, residual=problem.residual_norm(x))
        kind = "FDK" if problem.geometry.kind == "cone" else "FBP"
        return SolveResult(solution={"x": x, "label": "fbp"}, status="converged",
                           message=f"{kind} with the {self.cfg.filter} filter, {problem.geometry.views} views",
                           n_iter=1, stats={"seconds": seconds})
