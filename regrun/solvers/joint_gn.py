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

import math
import time

import torch

from ..errors import check_choice, check_float, check_int
from ..linalg.cg import cg
from ..linalg.operator import LinearOperator
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver
from .superres_common import INITS, initial_motion

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
            eye[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            out.append(op.matvec(eye).pow(2).sum(-1))
        return torch.cat(out)


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
        t0 = time.perf_counter()
        w = initial_motion(problem, self.cfg.init)
        if self.cfg.init_image == "project":
            # The image varpro_cg would start from, so both solvers begin at the same (w, f).
            f = model.solve(w, self.cg_iters).x.detach()
        else:
            f = model.initial_image()
        t_init = time.perf_counter() - t0
        init_motion_error = problem.motion_error(w)
        lsq = JointLSQ(model)
        p = lsq.p

        # Pixel-column norms of A change little with the motion and cost n products to form, so they are
        # computed once; the motion-column norms come free with the motion block at every accepted point.
        d_img = lsq.image_column_norms2(w).clamp_min(torch.finfo(w.dtype).tiny)

        def linearize(w, f):
            jw = lsq.motion_block(w, f)
            jac = lsq.jacobian(w, f, jw)
            d = torch.cat((jw.pow(2).sum(0).clamp_min(torch.finfo(w.dtype).tiny), d_img))
            return jac, d.rsqrt()

        r = lsq.residual(w, f)
        jac, s_inv = linearize(w, f)
        jtr = jac.rmatvec(r)
        loss = float(r @ r)
        grad_norm = 2 * float(jtr.norm())
        # Scaled J^T J has unit diagonal, so tau is the damping relative to max diag, as in lsq_lma.
        damping = self.tau
        nu = 2.0
        status, message = "max_iter", f"reached max_iter={self.max_iter}"
        inner_total = 0
        n_iter = 0
        t_lin = t_inner = 0.0

        def row(w, f):
            return {"motion_error": problem.motion_error(w), "rel_error_cg": problem.rel_error(f)}

        monitor.start(total=self.max_iter, desc="joint_gn")
        monitor.step(iter=0, J=loss, grad_norm=grad_norm, damping=damping, accepted=1.0, inner_cg_iters=0,
                     **row(w, f))
        for n_iter in range(1, self.max_iter + 1):
            if grad_norm < self.gtol:
                status, message = "converged", f"||grad J|| = {grad_norm:.3e} < gtol = {self.gtol:g}"
                n_iter -= 1
                break
            ta = time.perf_counter()
            mu = damping

            def normal(t, jac=jac, s_inv=s_inv, mu=mu):
                return s_inv * jac.rmatvec(jac.matvec(s_inv * t)) + mu * t

            inner = cg(normal, -s_inv * jtr, iters=self.inner_iters, rtol=self.inner_tol)
            step = s_inv * inner.x
            inner_total += inner.n_iter
            t_inner += time.perf_counter() - ta
            w_trial, f_trial = w + step[:p], f + step[p:]
            r_trial = lsq.residual(w_trial, f_trial)
            loss_trial = float(r_trial @ r_trial)
            # ||r||^2 - ||r + J s||^2 for the step CG actually returned (it need not solve the system).
            predicted = loss - float((r + jac.matvec(step)).pow(2).sum())
            rho = (loss - loss_trial) / predicted if predicted > 0 else -1.0
            accepted = rho > 0 and math.isfinite(loss_trial)
            if accepted:
                w, f, r, loss = w_trial, f_trial, r_trial, loss_trial
                tb = time.perf_counter()
                jac, s_inv = linearize(w, f)
                t_lin += time.perf_counter() - tb
                jtr = jac.rmatvec(r)
                grad_norm = 2 * float(jtr.norm())
                damping *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
                nu = 2.0
            else:
                damping *= nu
                nu *= 2.0
            stop = monitor.step(iter=n_iter, J=loss, grad_norm=grad_norm, damping=damping,
                                accepted=float(accepted), inner_cg_iters=inner.n_iter, **row(w, f))
            if accepted and float(step.norm()) <= self.xtol * (float(torch.cat((w, f)).norm()) + self.xtol):
                status, message = "converged", f"step {float(step.norm()):.2e} below xtol = {self.xtol:g} (relative)"
                break
            if damping > 1e16:
                status, message = "stopped", f"damping {damping:.1e} too large: no step reduces J"
                break
            if stop:
                status, message = "stopped", "stopped by a callback"
                break
        else:
            if grad_norm < self.gtol:
                status, message = "converged", f"||grad J|| = {grad_norm:.3e} < gtol = {self.gtol:g}"
        stats = {"init_s": t_init, "linearize_s": t_lin, "inner_cg_s": t_inner, "inner_cg_iters": inner_total,
                 "init_motion_error": init_motion_error}
        return SolveResult(solution={"w": w.cpu().numpy(), "f": f.cpu().numpy(), "label": self.label()},
                           status=status, message=message, n_iter=n_iter, stats=stats)
