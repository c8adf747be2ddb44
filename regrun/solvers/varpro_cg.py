"""Variable-projection Gauss-Newton for super-resolution (seed 000 section 4).

Minimise ||A(w) f(w) - b||^2 over the motion w, with f(w) from CG on the normal equations. The Jacobian of the
projected residual r(w) = A(w) f(w) - b is dA f + A df/dw; `jacobian` chooses how df/dw is had:

- none:         df/dw = 0 (Chung, Haber and Nagy 2006);
- full:         (= unrolled) forward-mode AD (torch.func.jacfwd) through every CG iteration;
- tail:         (= truncated) forward-mode AD through the last `diff_fraction` of the iterations of the
                same CG run;
- checkpointed: as full (forward mode stores no tape, so checkpointing changes nothing here);
- implicit:     the implicit-function derivative of the exact projection, one CG per parameter with the
                projection's own settings; no CG history is kept.
All modes are one code path: torch.func.jacfwd of r(w) through regrun.linalg.cg.solve_normal, whose
differentiation the iteration runner (regrun.linalg.iterate) does.

`linear` chooses how the projection itself is solved: `cg` (the paper's setting, with the modes above),
`cholesky` (regrun.linalg.direct: a Cholesky factor of the dense A^T A, the exact projection, and its exact
derivative df/dw = -(A^T A)^-1 (dA^T r + A^T dA f) from the same factor; `jacobian=none` drops df/dw, every
other exact mode gives the same exact derivative), or `auto` (cholesky while the image has at most
CHOLESKY_MAX_PIXELS pixels and the Jacobian mode is not a study of CG iterations, else cg).

The residual includes the regulariser rows (the paper's equation 4.2; the authors' code left them out).
"""
from __future__ import annotations

import time
from dataclasses import replace

from ..errors import check_choice, check_float, check_int
from ..linalg.cg import diff_mode
from ..optim.levenberg_marquardt import levenberg_marquardt, lm_loop
from ..registration.superres_anchor import common_from_start, reanchor
from ..registration.superres_motion import MotionGuard, motion_range
from ..registration.superres_outside import edge_rounds
from ..registration.superres_projection import (
    LINEAR_LABEL,
    check_ftol,
    lm_ftol,
    parametrized,
    pick_linear,
    projected_residual,
)
from ..registration.superres_start import INITS, start_params
from ..registration.superres_weight import (
    recheck,
    settle_weight,
    solve_rounds,
    weight_outputs,
)
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


@register_solver("varpro_cg")
class VarProCG(Solver):
    needs = frozenset({"separable"})
    problems = ("superres",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        restart = cfg.tail_restart
        check_choice("solver.tail_restart", restart, (True, False))
        self.iters = check_int("solver.cg_iters", cfg.cg_iters, 1)
        self.rtol = check_float("solver.cg_tol", cfg.cg_tol, 0.0)
        self.jac_rtol = check_float("solver.jacobian_rtol", cfg.jacobian_rtol, 0.0, strict=True)
        self.exact_pcg = False  # linear=auto beyond Cholesky's sizes: the exact Jacobian (set per solve)
        self.mode = diff_mode(cfg.jacobian, cfg.get("diff_fraction"), name="solver.jacobian", restart=restart)
        self.max_iter = check_int("solver.max_iter", cfg.max_iter, 0)
        self.gtol = check_float("solver.gtol", cfg.gtol, 0.0)
        self.ftol = check_ftol(cfg.ftol)
        self.tau = check_float("solver.tau", cfg.tau, 0.0, strict=True)
        check_choice("solver.init", cfg.init, INITS)
        self.linear = cfg.linear
        pick_linear(self.linear, 1, self.mode)  # validates the choice now; the size is known at solve time

    def label(self) -> str:
        extra = ""
        if self.mode.kind == "truncated":
            extra = f" last {self.mode.fraction:.0%}{' (restarted)' if self.mode.restart else ''}"
        return f"varpro_cg jacobian={self.mode.name}{extra}, {self.iters} CG iterations"

    def residual_function(self, model, start=None):
        """The projected residual for this configuration: direct (Cholesky), preconditioned CG (from the image
        `start`, when given), or CG."""
        return projected_residual(self.linear, model, self.mode, self.iters, self.rtol, exact_pcg=self.exact_pcg,
                                  jac_rtol=self.jac_rtol, start=start)

    def solve(self, problem, monitor) -> SolveResult:
        t0 = time.perf_counter()
        motion = problem.motion  # problem.motion_model: LM runs on its parameters p, the model on w(p)
        # below weight 1 the image follows the frames more, and the image-fixed model, which does not see that,
        # takes steps too short along the frames' common motion (docs/superres.md, "Motion models")
        self.exact_pcg = problem.motion_weight != 1.0
        with self.ctx.phase("pre-registration"):
            p0 = start_params(problem, self.cfg.init)
        w0 = motion.to_affine(p0)
        t_init = time.perf_counter() - t0
        problem.model.settle_outside(w0)  # outside=drop: pixels that saw beyond the field of view left out
        choice = settle_weight(problem, w0, self.ctx)  # lambda_f=auto: chosen at the pre-registered motion
        t_choice = time.perf_counter() - t0 - t_init
        timing = {"residual_s": 0.0, "residual_n": 0, "jacobian_s": 0.0, "jacobian_n": 0}
        # PCG's first image: the weight search's answer at w0 (Choice.state), then each LM run's last (the next
        # run starts at its motion); from the initial image the first projection took 47 PCG iterations at 256x256
        # from 16 frames (docs/superres.md, "Eleventh round (srspeed)")
        image = [getattr(choice, "state", None)]  # None: a typed or carried weight
        guards = []  # each LM run's MotionGuard: the trial steps it refused for leaving the plausible range
        edge_log = []  # pixels each decision of the edge mask after an LM run dropped (outside=drop)
        # LM records the start and each step (max_iter + 1 rows: the paper's 10 points for 9 steps)
        monitor.start(total=self.max_iter + 1, desc="varpro_cg", upto=True)

        def lm(p_start, mon):
            """LM from p_start at problem.motion_weight times the model's weight, and its edge mask (a new
            projection: its cached factor holds both)."""
            lam = problem.model.lam
            if problem.motion_weight == 1.0:
                return lm_at_weight(p_start, mon)
            problem.model.set_weight(problem.motion_weight * lam)
            try:
                return lm_at_weight(p_start, mon)
            finally:
                problem.model.set_weight(lam)

        def lm_at_weight(p_start, mon):
            ftol = lm_ftol(self.ftol, problem.model, motion.n_params)  # the kept data rows of this mask
            rfun = parametrized(self.residual_function(problem.model, start=image[0]), motion)
            guard = MotionGuard(problem.model, motion, rfun.residual, p_start)

            def extra_row(p):
                row = {"motion_error": problem.motion_error(motion.to_affine(p))}
                if rfun.last_f is not None:
                    row["rel_error_cg"] = problem.rel_error(rfun.last_f)
                return row

            if rfun.linear == "pcg" and rfun.jacobian_used == "none":
                # the image-fixed Jacobian is block diagonal (one block per frame): LM on its blocks
                res = lm_loop(rfun.linearize, guard, p_start, max_iter=self.max_iter, gtol=self.gtol,
                              tau=self.tau, ftol=ftol, monitor=mon, extra_row=lambda p, lin: extra_row(p))
            else:
                res = levenberg_marquardt(rfun.residual_and_jacobian, p_start, max_iter=self.max_iter,
                                          gtol=self.gtol, tau=self.tau, ftol=ftol, monitor=mon,
                                          residual=guard, extra_row=extra_row)
            guards.append(guard)
            for key in timing:
                timing[key] += rfun.timing[key]
            image[0] = rfun.last_f
            return res, rfun

        def run(p_start, mon):
            """LM, and with outside=drop LM again while the edge mask decided at its final motion drops more."""
            (res, rfun), n_iter = edge_rounds(problem.model, problem.outside_rounds, p_start, mon, lm,
                                              motion=lambda out: motion.to_affine(out[0].w),
                                              restart=lambda out: out[0].w, n_iter=lambda out: out[0].n_iter,
                                              edge_log=edge_log)
            return replace(res, n_iter=n_iter), rfun

        def objective(out):
            """The projected objective ||A(w) f(w) - b||^2 (regulariser rows included) at the model's weight and
            edge mask now: two runs' ends compared on the same terms (solve_rounds' two starts)."""
            r = parametrized(self.residual_function(problem.model), motion).residual(out[0].w)
            return float((r * r).sum())

        # lambda_f=auto: searched again at the final motion, and LM again from there (and from the
        # pre-registration, the lower objective kept) if it moved
        rounds = solve_rounds(problem, self.ctx, p0, monitor, run, motion=lambda out: motion.to_affine(out[0].w),
                              n_iter=lambda out: out[0].n_iter, restart=lambda out: out[0].w, objective=objective)
        res, rfun = rounds.last
        anchor_stats = {}
        if problem.reanchor and motion.is_affine and problem.motion_weight == 1.0:
            # the frames' common motion, which the image-fixed LM hardly moves: one step (superres_anchor.py)
            w_anchor, anchor_stats = reanchor(problem.model, rfun, res.w)
            if problem.common_from_start:  # the pre-registration's common motion where frame 0 agrees better
                w_anchor, common_stats = common_from_start(problem.model, rfun, w_anchor, w0)
                anchor_stats.update(common_stats)
            res = replace(res, w=w_anchor)
        linear = rfun.linear
        t = timing
        per_res = t["residual_s"] / max(t["residual_n"], 1)
        per_jac = t["jacobian_s"] / max(t["jacobian_n"], 1)
        stats = {"init_s": t_init, "residual_mean_s": per_res, "jacobian_mean_s": per_jac,
                 "jacobian_over_residual": per_jac / per_res if per_res > 0 else float("nan"),
                 "n_residual": t["residual_n"], "n_jacobian": t["jacobian_n"],
                 "init_motion_error": problem.motion_error(w0), "linear": linear,
                 "ftol": lm_ftol(self.ftol, problem.model, motion.n_params),
                 "edge_rounds": len(edge_log), "edge_dropped": sum(edge_log),
                 "jacobian_used": rfun.jacobian_used, **anchor_stats}
        w = motion.to_affine(res.w)
        if problem.motion_weight != 1.0:  # rfun's image is at the motion's weight; the solution's at lambda_f
            rfun = parametrized(self.residual_function(problem.model), motion)
        f = rfun.project(res.w)
        label = self.label() if linear == "cg" else f"varpro_cg jacobian={self.mode.name}, {LINEAR_LABEL[linear]}"
        if not motion.is_affine:
            label += f", {motion.name} motion"
        metrics, wstats, tables, note = weight_outputs(choice, problem)
        metrics.update(motion_range(problem.model, w, guards))
        if choice is not None:
            metrics.update(recheck(problem, w, self.ctx))
            wstats["lam_choice_s"] = t_choice
        return SolveResult(solution={"w": w.detach(), "f": f.detach(), "label": label},
                           status=res.status, message=res.message + note, n_iter=rounds.n_iter,
                           stats={**stats, **wstats}, metrics=metrics, tables=tables)
