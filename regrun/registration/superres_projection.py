"""The variable projection of super-resolution: the image f(w) for a motion w (CG on the normal equations, or a
Cholesky factor of A^T A), the projected residual r(w) = A(w) f(w) - b and its Jacobian in every differentiation
mode; shared by the varpro_cg, joint_gn and two_stage solvers."""
from __future__ import annotations

import time

import torch

from ..errors import UserError, check_choice
from ..linalg.cg import cg, solve_normal
from ..linalg.direct import CholeskyLSQ

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
