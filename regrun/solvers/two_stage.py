"""Two-stage baseline for super-resolution: register every frame to frame 0, then solve the linear least
squares for the image with the motion fixed (no coupling between the two). The image solve is CG (the
paper's, to cg_tol) or, with `linear` cholesky/auto, the exact direct solve of regrun.linalg.direct (as
varpro_cg's `linear`)."""
from __future__ import annotations

import time

from ..errors import check_choice, check_float, check_int
from ..linalg.cg import diff_mode
from ..linalg.direct import CholeskyLSQ
from ..registration.superres_projection import LINEAR, pick_linear
from ..registration.superres_start import INITS, initial_motion
from ..registration.superres_weight import settle_weight, weight_outputs
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


@register_solver("two_stage")
class TwoStage(Solver):
    needs = frozenset({"separable"})
    problems = ("superres",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("solver.init", cfg.init, INITS)
        self.iters = check_int("solver.cg_iters", cfg.cg_iters, 1)
        self.rtol = check_float("solver.cg_tol", cfg.cg_tol, 0.0)
        self.linear = cfg.linear
        check_choice("solver.linear", self.linear, LINEAR)

    def solve(self, problem, monitor) -> SolveResult:
        monitor.start(total=1, desc="two_stage")
        t0 = time.perf_counter()
        with self.ctx.phase("pre-registration"):
            w = initial_motion(problem, self.cfg.init)
        t_reg = time.perf_counter() - t0
        problem.model.settle_outside(w)  # outside=drop: pixels that saw beyond the field of view left out
        choice = settle_weight(problem, w, self.ctx)  # lambda_f=auto: chosen at the registered motion
        model = problem.model
        linear = pick_linear(self.linear, model.n, diff_mode("none"))
        if linear == "cholesky":
            f = CholeskyLSQ(model.dense_operator(w), model.normal_matrix(w)).lstsq(model.b)
            message, stats = "registered, then the exact least squares (Cholesky)", {"linear": "cholesky"}
        else:
            # pcg: the preconditioned solve (from the same start, to the same bar)
            sol = model.solve(w, self.iters, self.rtol, x0=model.initial_image() if linear == "pcg" else None)
            f = sol.x
            message = f"registered, then {sol.n_iter} {'preconditioned ' if linear == 'pcg' else ''}CG iterations"
            stats = {"linear": linear, "cg_iters": sol.n_iter, "cg_rel_residual": sol.rel_residual}
        r = model.residual(w, f)
        monitor.step(iter=0, J=float(r @ r), motion_error=problem.motion_error(w), rel_error_cg=problem.rel_error(f))
        metrics, wstats, tables, note = weight_outputs(choice)
        return SolveResult(solution={"w": w.detach(), "f": f.detach(), "label": "two_stage"},
                           status="converged", message=message + note, n_iter=1, metrics=metrics, tables=tables,
                           stats={"register_s": t_reg, "solve_s": time.perf_counter() - t0 - t_reg, **stats,
                                  **wstats})
