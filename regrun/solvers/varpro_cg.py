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

import torch

from ..errors import UserError, check_choice, check_float, check_int
from ..linalg.cg import cg, diff_mode, solve_normal
from ..linalg.direct import CholeskyLSQ
from ..optim.levenberg_marquardt import levenberg_marquardt
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver
from ..registration.superres_start import INITS, initial_motion


LINEAR = ("auto", "cholesky", "cg")
# Largest image (fine pixels) for which linear=auto factors A^T A: measured by scripts/bench_superres_frames.py
# --linear-sweep (docs/superres.md, "Direct or CG").
CHOLESKY_MAX_PIXELS = 4096
CG_ONLY_MODES = ("truncated", "checkpointed")  # they differentiate CG's iterations: meaningless for a factor


def pick_linear(choice: str, n_pixels: int, mode) -> str:
    """The linear solver `choice` resolves to for an image of n_pixels and a Jacobian mode."""
    check_choice("solver.linear", choice, LINEAR)
    if choice == "cholesky" and mode.kind in CG_ONLY_MODES:
        raise UserError(f"solver.jacobian={mode.name} differentiates CG iterations; it needs solver.linear=cg")
    if choice == "auto":
        return "cholesky" if n_pixels <= CHOLESKY_MAX_PIXELS and mode.kind not in CG_ONLY_MODES else "cg"
    return choice


class DirectProjectedResidual:
    """r(w) with the exact projection f(w) by a Cholesky factor, and its exact Jacobian (or, for
    jacobian=none, dA f alone). The factor of the last w is kept: LM asks for the Jacobian at the point whose
    residual it has just accepted."""

    def __init__(self, model, exact: bool = True):
        self.model = model
        self.exact = exact
        self.last_f = None
        self._cached = (None, None)
        self.timing = {"residual_s": 0.0, "residual_n": 0, "jacobian_s": 0.0, "jacobian_n": 0}

    def factor(self, w: torch.Tensor) -> CholeskyLSQ:
        key, chol = self._cached
        if key is None or not torch.equal(key, w):
            chol = CholeskyLSQ(self.model.dense_operator(w), self.model.normal_matrix(w))
            self._cached = (w.clone(), chol)
        return chol

    def project(self, w: torch.Tensor) -> torch.Tensor:
        return self.factor(w.detach()).lstsq(self.model.b)

    def _project(self, w: torch.Tensor):
        chol = self.factor(w)
        f = chol.lstsq(self.model.b)
        self.last_f = f
        return chol, f, chol.op.matvec(f) - self.model.b

    def residual(self, w: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        _, _, r = self._project(w.detach())
        self.timing["residual_s"] += time.perf_counter() - t0
        self.timing["residual_n"] += 1
        return r

    def residual_and_jacobian(self, w: torch.Tensor):
        t0 = time.perf_counter()
        w = w.detach()
        chol, f, r = self._project(w)
        dA_f, dAT_r, AT_dA_f = self.model.operator_derivatives(w, f, r)
        jac = chol.projection_jacobian(dA_f, dAT_r, AT_dA_f)[0] if self.exact else dA_f
        self.timing["jacobian_s"] += time.perf_counter() - t0
        self.timing["jacobian_n"] += 1
        return r, jac


class ProjectedResidual:
    """r(w) and its Jacobian for one differentiation mode, with timing of each kind of evaluation."""

    def __init__(self, model, mode, iters: int, rtol: float = 0.0):
        self.model = model
        self.mode = mode
        self.iters = iters
        self.rtol = rtol
        self.x0 = model.initial_image()
        self.last_f = None
        self.last_cg_iters = iters
        self.timing = {"residual_s": 0.0, "residual_n": 0, "jacobian_s": 0.0, "jacobian_n": 0}

    def _count(self, w: torch.Tensor) -> int:
        """With a relative tolerance, the iteration count of a plain solve (used as a fixed count when
        differentiating, so the differentiated iterate is the one the residual used)."""
        if self.rtol <= 0:
            return self.iters
        op = self.model.operator(w.detach())
        return cg(op.normal(), op.rmatvec(self.model.b), self.x0, self.iters, self.rtol).n_iter

    def project(self, w: torch.Tensor) -> torch.Tensor:
        op = self.model.operator(w.detach())
        return cg(op.normal(), op.rmatvec(self.model.b), self.x0, self.iters, self.rtol).x

    def residual(self, w: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        f = self.project(w)
        r = self.model.residual(w.detach(), f)
        self.timing["residual_s"] += time.perf_counter() - t0
        self.timing["residual_n"] += 1
        self.last_f = f
        return r

    def _tracked(self, w: torch.Tensor, iters: int):
        f = solve_normal(self.model.operator, w, self.model.b, self.mode, iters, self.x0,
                         implicit_iters=self.iters, implicit_rtol=self.rtol)
        r = self.model.operator(w).matvec(f) - self.model.b
        return r, (r, f)

    def residual_and_jacobian(self, w: torch.Tensor):
        t0 = time.perf_counter()
        w = w.detach()
        iters = self._count(w)
        jac, (r, f) = torch.func.jacfwd(lambda u: self._tracked(u, iters), has_aux=True)(w)
        self.timing["jacobian_s"] += time.perf_counter() - t0
        self.timing["jacobian_n"] += 1
        self.last_f = f.detach()
        return r.detach(), jac.detach()


@register_solver("varpro_cg")
class VarProCG(Solver):
    needs = frozenset({"separable"})
    problems = ("superres",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        restart = cfg.get("tail_restart", False)
        check_choice("solver.tail_restart", restart, (True, False))
        self.iters = check_int("solver.cg_iters", cfg.cg_iters, 1)
        self.rtol = check_float("solver.cg_tol", cfg.cg_tol, 0.0)
        self.mode = diff_mode(cfg.jacobian, cfg.get("diff_fraction"), name="solver.jacobian", restart=restart)
        self.max_iter = check_int("solver.max_iter", cfg.max_iter, 0)
        self.gtol = check_float("solver.gtol", cfg.gtol, 0.0)
        self.tau = check_float("solver.tau", cfg.tau, 0.0, strict=True)
        check_choice("solver.init", cfg.init, INITS)
        self.linear = cfg.get("linear", "cg")
        pick_linear(self.linear, 1, self.mode)  # validates the choice now; the size is known at solve time

    def label(self) -> str:
        extra = ""
        if self.mode.kind == "truncated":
            extra = f" last {self.mode.fraction:.0%}{' (restarted)' if self.mode.restart else ''}"
        return f"varpro_cg jacobian={self.mode.name}{extra}, {self.iters} CG iterations"

    def residual_function(self, model):
        """The projected residual for this configuration: direct (Cholesky) or CG."""
        if pick_linear(self.linear, model.n, self.mode) == "cholesky":
            return DirectProjectedResidual(model, exact=self.mode.kind != "none")
        return ProjectedResidual(model, self.mode, self.iters, self.rtol)

    def solve(self, problem, monitor) -> SolveResult:
        t0 = time.perf_counter()
        w0 = initial_motion(problem, self.cfg.init)
        t_init = time.perf_counter() - t0
        rfun = self.residual_function(problem.model)
        linear = "cholesky" if isinstance(rfun, DirectProjectedResidual) else "cg"

        def extra_row(w):
            row = {"motion_error": problem.motion_error(w)}
            if rfun.last_f is not None:
                row["rel_error_cg"] = problem.rel_error(rfun.last_f)
            return row

        monitor.start(total=self.max_iter, desc="varpro_cg")
        res = levenberg_marquardt(rfun.residual_and_jacobian, w0, max_iter=self.max_iter, gtol=self.gtol,
                                  tau=self.tau, monitor=monitor, residual=rfun.residual, extra_row=extra_row)
        t = rfun.timing
        per_res = t["residual_s"] / max(t["residual_n"], 1)
        per_jac = t["jacobian_s"] / max(t["jacobian_n"], 1)
        stats = {"init_s": t_init, "residual_mean_s": per_res, "jacobian_mean_s": per_jac,
                 "jacobian_over_residual": per_jac / per_res if per_res > 0 else float("nan"),
                 "n_residual": t["residual_n"], "n_jacobian": t["jacobian_n"],
                 "init_motion_error": problem.motion_error(w0), "linear": linear}
        f = rfun.project(res.w)
        label = self.label() if linear == "cg" else f"varpro_cg jacobian={self.mode.name}, Cholesky projection"
        return SolveResult(solution={"w": res.w.detach(), "f": f.detach(), "label": label},
                           status=res.status, message=res.message, n_iter=res.n_iter, stats=stats)
