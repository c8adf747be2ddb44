"""Joint Gauss-Newton baseline for super-resolution: Levenberg-Marquardt on (w, f) together.

The residual is the same as varpro_cg's, r(w, f) = A(w) f - b (data and regulariser rows), but f is an
unknown of the outer iteration instead of being projected out. Its Jacobian

    J = [ d(A(w) f)/dw ,  A(w) ]        (rows: data + regulariser; columns: 6q motion + n pixels)

is applied matrix-free: the motion block is thin (6q columns) and is formed once per accepted point by
forward-mode AD; the image block is the operator A(w) itself. The damped normal equations are solved by CG
on the Jacobi-scaled system

    (D^-1/2 J^T J D^-1/2 + mu I) t = -D^-1/2 J^T r,   step s = D^-1/2 t,   D = diag(J^T J),

which is Marquardt's scaled damping (J^T J + mu D) and, for CG, Jacobi preconditioning. The scaling matters:
a motion column (image gradient times coordinates) is orders of magnitude longer than a pixel column, and
unscaled CG would spend its iterations on the motion block only.
"""
from __future__ import annotations

import time

import torch

from ..errors import UserError, check_choice, check_float, check_int
from ..linalg.cg import cg
from ..linalg.operator import LinearOperator
from ..optim.levenberg_marquardt import lm_loop
from ..registration.superres_start import INITS, initial_motion
from ..registration.superres_weight import recheck, settle_weight, solve_rounds, weight_outputs
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver

INIT_IMAGES = ("project", "frame0")


class JointLSQ:
    """r(w, f) and its Jacobian as a LinearOperator on the stacked vector z = [w; f]."""

    def __init__(self, model, chunk: int = 256):
        self.model = model
        self.p = model.n_params
        self.n = model.n
        self.m = model.n_data + model.n_reg
        self.chunk = chunk

    def split(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return z[..., : self.p], z[..., self.p:]

    def residual(self, w: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        return self.model.residual(w.detach(), f.detach())

    def motion_block(self, w: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """d(A(w) f)/dw, dense (m, 6q): 6q forward-mode tangents through the stencil weights."""
        f = f.detach()
        return torch.func.jacfwd(lambda u: self.model.operator(u).matvec(f))(w.detach())

    def jacobian(self, w: torch.Tensor, f: torch.Tensor, jw: torch.Tensor | None = None) -> LinearOperator:
        op = self.model.operator(w.detach())
        jw = self.motion_block(w, f) if jw is None else jw

        def matvec(z):
            dw, df = self.split(z)
            return dw @ jw.T + op.matvec(df)

        def rmatvec(u):
            return torch.cat((u @ jw, op.rmatvec(u)), -1)

        return LinearOperator((self.m, self.p + self.n), matvec, rmatvec, self.model.dtype, self.model.device)

    def image_column_norms2(self, w: torch.Tensor) -> torch.Tensor:
        """||A(w) e_i||^2 for every pixel i, exactly, applying A to blocks of `chunk` unit vectors (memory
        chunk x m, not n x m)."""
        op = self.model.operator(w.detach())
        out = []
        for start in range(0, self.n, self.chunk):
            stop = min(start + self.chunk, self.n)
            eye = torch.zeros(stop - start, self.n, dtype=self.model.dtype, device=self.model.device)
            rows = torch.arange(stop - start, device=self.model.device)
            eye[rows, rows + start] = 1.0
            out.append(op.matvec(eye).pow(2).sum(-1))
        return torch.cat(out)


class ScaledCGLinearization:
    """The matrix-free model of r at (w, f): steps by CG on the Jacobi-scaled damped normal equations
    (Marquardt's scaled damping, D = diag(J^T J)); since the scaled J^T J has a unit diagonal, the damping
    starts at tau itself, as tau * max diag does for the dense case."""

    def __init__(self, r, jac: LinearOperator, s_inv: torch.Tensor, inner_iters: int, inner_tol: float, timers):
        self.r, self.jac, self.s_inv = r, jac, s_inv
        self.jtr = jac.rmatvec(r)
        self.inner_iters, self.inner_tol, self.timers = inner_iters, inner_tol, timers
        self.last_inner_iters = 0

    def initial_damping(self, tau: float) -> float:
        return tau

    def step(self, damping: float) -> torch.Tensor:
        ta = time.perf_counter()
        s_inv, jac = self.s_inv, self.jac

        def normal(t):
            return s_inv * jac.rmatvec(jac.matvec(s_inv * t)) + damping * t

        inner = cg(normal, -s_inv * self.jtr, iters=self.inner_iters, rtol=self.inner_tol)
        self.last_inner_iters = inner.n_iter
        self.timers["inner_cg_iters"] += inner.n_iter
        self.timers["inner_cg_s"] += time.perf_counter() - ta
        return s_inv * inner.x

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        return self.jac.matvec(s)


@register_solver("joint_gn")
class JointGN(Solver):
    needs = frozenset({"separable"})
    problems = ("superres",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("solver.init", cfg.init, INITS)
        check_choice("solver.init_image", cfg.init_image, INIT_IMAGES)
        self.max_iter = check_int("solver.max_iter", cfg.max_iter, 0)
        self.cg_iters = check_int("solver.cg_iters", cfg.cg_iters, 1)
        self.inner_iters = check_int("solver.inner_iters", cfg.inner_iters, 1)
        self.inner_tol = check_float("solver.inner_tol", cfg.inner_tol, 0.0)
        self.gtol = check_float("solver.gtol", cfg.gtol, 0.0)
        self.xtol = check_float("solver.xtol", cfg.xtol, 0.0)
        self.tau = check_float("solver.tau", cfg.tau, 0.0, strict=True)

    def label(self) -> str:
        return f"joint_gn, {self.inner_iters} inner CG iterations per step"

    def solve(self, problem, monitor) -> SolveResult:
        model = problem.model
        if not problem.motion.is_affine:  # its joint (w, f) step is in the affine parameters
            raise UserError(f"problem.motion_model={problem.motion.name} is not supported by solver=joint_gn "
                            "(affine only); use solver=varpro_cg or solver=two_stage")
        if problem.motion_weight != 1.0:  # one joint objective in (w, f): no separate weight for the motion
            raise UserError(f"problem.motion_weight={problem.motion_weight:g} is a varpro_cg setting; solver=joint_gn "
                            "solves image and motion at lambda_f together (leave it at 1)")
        t0 = time.perf_counter()
        with self.ctx.phase("pre-registration"):
            w = initial_motion(problem, self.cfg.init)
        problem.model.settle_outside(w)  # outside=drop: pixels that saw beyond the field of view left out
        choice = settle_weight(problem, w, self.ctx)  # lambda_f=auto: chosen at the pre-registered motion
        if self.cfg.init_image == "project":
            # The image varpro_cg would start from, so both solvers begin at the same (w, f).
            f = model.solve(w, self.cg_iters).x.detach()
        else:
            f = model.initial_image()
        t_init = time.perf_counter() - t0
        init_motion_error = problem.motion_error(w)
        lsq = JointLSQ(model)
        timers = {"linearize_s": 0.0, "inner_cg_s": 0.0, "inner_cg_iters": 0}

        def row(z, lin):
            w, f = lsq.split(z)
            return {"motion_error": problem.motion_error(w), "rel_error_cg": problem.rel_error(f),
                    "inner_cg_iters": lin.last_inner_iters}

        def run(z0, mon):
            """LM on (w, f) from z0 at the model's weight."""
            # Pixel-column norms of A change little with the motion and cost n products to form, so they are
            # computed once per weight (the regulariser rows hold it); the motion-column norms come free with
            # the motion block at every accepted point.
            d_img = lsq.image_column_norms2(lsq.split(z0)[0]).clamp_min(torch.finfo(z0.dtype).tiny)

            def linearize(z):
                tb = time.perf_counter()
                w, f = lsq.split(z)
                jw = lsq.motion_block(w, f)
                d = torch.cat((jw.pow(2).sum(0).clamp_min(torch.finfo(w.dtype).tiny), d_img))
                lin = ScaledCGLinearization(lsq.residual(w, f), lsq.jacobian(w, f, jw), d.rsqrt(),
                                            self.inner_iters, self.inner_tol, timers)
                timers["linearize_s"] += time.perf_counter() - tb
                return lin

            return lm_loop(linearize, lambda z: lsq.residual(*lsq.split(z)), z0, max_iter=self.max_iter,
                           gtol=self.gtol, xtol=self.xtol, tau=self.tau, monitor=mon, extra_row=row)

        monitor.start(total=self.max_iter + 1, desc="joint_gn", upto=True)  # LM's rows: the start and each step
        # lambda_f=auto: searched again at the final motion, and LM again from there (w and f) if it moved
        rounds = solve_rounds(problem, self.ctx, torch.cat((w, f)), monitor, run,
                              motion=lambda out: lsq.split(out.w)[0], n_iter=lambda out: out.n_iter,
                              restart=lambda out: out.w)
        out = rounds.last
        w, f = lsq.split(out.w)
        status, message, n_iter = out.status, out.message, rounds.n_iter
        stats = {"init_s": t_init, **timers, "init_motion_error": init_motion_error}
        metrics, wstats, tables, note = weight_outputs(choice, problem)
        if choice is not None:
            metrics.update(recheck(problem, w, self.ctx))
        return SolveResult(solution={"w": w.detach(), "f": f.detach(), "label": self.label()},
                           status=status, message=message + note, n_iter=n_iter, stats={**stats, **wstats},
                           metrics=metrics, tables=tables)
