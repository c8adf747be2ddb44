"""Two-stage baseline for super-resolution: register every frame to frame 0, then solve the linear least
squares for the image with the motion fixed (no coupling between the two)."""
from __future__ import annotations

import time

from ..errors import check_choice, check_float, check_int
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver
from .superres_common import INITS, initial_motion


@register_solver("two_stage")
class TwoStage(Solver):
    needs = frozenset({"separable"})
    problems = ("superres",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("solver.init", cfg.init, INITS)
        self.iters = check_int("solver.cg_iters", cfg.cg_iters, 1)
        self.rtol = check_float("solver.cg_tol", cfg.cg_tol, 0.0)

    def solve(self, problem, monitor) -> SolveResult:
        monitor.start(total=1, desc="two_stage")
        t0 = time.perf_counter()
        w = initial_motion(problem, self.cfg.init)
        t_reg = time.perf_counter() - t0
        sol = problem.model.solve(w, self.iters, self.rtol)
        r = problem.model.residual(w, sol.x)
        monitor.step(iter=0, J=float(r @ r), motion_error=problem.motion_error(w),
                     rel_error_cg=problem.rel_error(sol.x))
        return SolveResult(solution={"w": w.detach(), "f": sol.x.detach(), "label": "two_stage"},
                           status="converged", message=f"registered, then {sol.n_iter} CG iterations",
                           n_iter=1, stats={"register_s": t_reg, "cg_iters": sol.n_iter,
                                            "cg_rel_residual": sol.rel_residual})
