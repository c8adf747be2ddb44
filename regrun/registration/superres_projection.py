"""The variable projection of super-resolution: the image f(w) for a motion w (CG on the normal equations, or a
Cholesky factor of A^T A), the projected residual r(w) = A(w) f(w) - b and its Jacobian in every differentiation
mode; shared by the varpro_cg, joint_gn and two_stage solvers."""
from __future__ import annotations

import time

import torch

from ..errors import UserError, check_choice, check_float
from ..linalg.cg import cg, solve_normal
from ..linalg.direct import CholeskyLSQ
from ..linalg.krylov import pcg

LINEAR = ("auto", "cholesky", "cg", "pcg")
LINEAR_LABEL = {"cholesky": "Cholesky projection", "pcg": "preconditioned CG projection"}


# Largest image (fine pixels) for which linear=auto factors A^T A; beyond it, preconditioned CG with the
# image-fixed Jacobian: at 48x48 from 16 frames 21 s against 3.7 s CPU for 0.01 dB less PSNR (docs/superres.md,
# "Direct or CG"); 32x32 keeps the factor so the default synthetic run is unchanged.
CHOLESKY_MAX_PIXELS = 1024


NOISE_FTOL = "noise"  # solver.ftol: stop once a step lowers J by less than the residual's variance per row


def check_ftol(value):
    """solver.ftol: `noise` or a number >= 0 (0: never stop on J's decrease)."""
    if value == NOISE_FTOL:
        return value
    if isinstance(value, str):
        raise UserError(f"solver.ftol={value!r} is not valid; allowed: {NOISE_FTOL} or a number >= 0")
    return check_float("solver.ftol", value, 0.0, maximum=1.0)


def lm_ftol(value, model, n_params: int | None = None) -> float:
    """The relative decrease of J below which LM stops. `noise`: 1 / (kept data rows - pixels - motion
    parameters), so a step stops LM when it lowers J by less than J / dof, the estimate of the noise variance
    per data row: for a least-squares fit J(w) - J(w*) = (w - w*)^T J^T J (w - w*), and a change of J smaller
    than one noise variance moves the motion by less than its own standard error in every direction. With no
    more data rows than unknowns (the paper's 4 frames at factor 2, the CI pairs) there is no such estimate,
    and 0 (never) is returned."""
    if value != NOISE_FTOL:
        return float(value)
    dof = int(model.data_mask().sum()) - model.n - (model.n_params if n_params is None else n_params)
    return 1.0 / dof if dof > 0 else 0.0


CG_ONLY_MODES = ("truncated", "checkpointed")  # they differentiate CG's iterations: meaningless for a factor


def pick_linear(choice: str, n_pixels: int, mode) -> str:
    """The linear solver `choice` resolves to for an image of n_pixels and a Jacobian mode."""
    check_choice("solver.linear", choice, LINEAR)
    if choice in ("cholesky", "pcg") and mode.kind in CG_ONLY_MODES:
        raise UserError(f"solver.jacobian={mode.name} differentiates CG iterations; it needs solver.linear=cg")
    if choice == "auto":
        if mode.kind in CG_ONLY_MODES:
            return "cg"
        return "cholesky" if n_pixels <= CHOLESKY_MAX_PIXELS else "pcg"
    return choice


def projected_residual(choice: str, model, mode, iters: int, rtol: float, exact_pcg: bool = False,
                       jac_rtol: float | None = None, start: torch.Tensor | None = None):
    """The projected residual r(w) for solver.linear=`choice` and a Jacobian mode; its `linear` attribute is
    the resolved choice. linear=auto beyond CHOLESKY_MAX_PIXELS is preconditioned CG with the image-fixed
    Jacobian dA f unless `exact_pcg` (the exact one costs 6q more solves per Gauss-Newton step, measured in
    docs/superres.md; the image-fixed one stalls below motion_weight 1), while the gradient J^T r is exact
    either way (A^T r = 0 at the projection). linear=pcg keeps the mode. `jac_rtol`: the exact Jacobian's
    block PCG tolerance (the curvature model only; None: the projection's). `start`: PCG's first warm start (an
    image solved before at about this motion; None: the model's initial image); the other paths ignore it."""
    linear = pick_linear(choice, model.n, mode)
    exact = mode.kind != "none"
    if linear == "cholesky":
        rfun = DirectProjectedResidual(model, exact=exact)
    elif linear == "pcg":
        rfun = IterativeProjectedResidual(model, exact=exact and (choice == "pcg" or exact_pcg), jac_rtol=jac_rtol,
                                          start=start)
    else:
        rfun = ProjectedResidual(model, mode, iters, rtol)
    rfun.linear = linear
    rfun.jacobian_used = mode.name if exact == getattr(rfun, "exact", exact) else "none"
    return rfun


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


class IterativeProjectedResidual:
    """r(w) with f(w) by preconditioned CG (the model's cosine-basis preconditioner), warm-started from the last
    image, to a relative residual `rtol` of the normal equations; nothing of size n x n is formed, so memory
    and time grow with the problem (pixels x frames). The Jacobian: `exact` = Golub-Pereyra's
    dr = dA f + A df, df = -(A^T A)^-1 (dA^T r + A^T dA f), its 6q columns by one block PCG warm-started from
    the last step's df (the motion moves little between Gauss-Newton steps) to `jac_rtol` (df shapes only the
    curvature model, not the gradient: 1e-2 took the same steps as 1e-6 at a third of the CPU, docs/superres.md,
    "Motion models"); not exact = dA f alone
    (jacobian=none: the image held fixed, Chung-Haber-Nagy). At the exact projection A^T r = 0, so J^T r is
    the exact gradient either way; only the curvature model differs."""

    def __init__(self, model, exact: bool = True, iters: int = 500, rtol: float = 1e-6, jac_rtol: float | None = None,
                 start: torch.Tensor | None = None):
        self.model = model
        self.exact = exact
        self.iters = iters
        self.rtol = rtol
        self.jac_rtol = rtol if jac_rtol is None else jac_rtol
        self.precond = model.preconditioner()
        self.f = model.initial_image() if start is None else start.detach()
        self.df = None
        self._op = (None, None)
        self._projected = (None, None, None)  # (operator, f, r) of the last _project
        self.last_f = None
        self.cg_iters = 0  # PCG iterations spent so far (projections and Jacobian blocks)
        self.timing = {"residual_s": 0.0, "residual_n": 0, "jacobian_s": 0.0, "jacobian_n": 0}

    def operator(self, w: torch.Tensor):
        """A(w), kept for the last w (its stencil is most of the cost of building it; LM asks for the
        projection, the residual and the Jacobian at the same point). The fixed-motion form (merged pooled
        stencils): PCG needs no derivative in w through it, and its products cost half."""
        key, op = self._op
        if key is None or not torch.equal(key, w):
            # the last w's operator let go first: its merged stencil and Gram matrix (0.4 GB at 512x512 from 16
            # frames) are not held beside the new one's
            self._op = (None, None)
            self._projected = (None, None, None)
            op = None
            op = self.model.operator(w, fixed=True)
            self._op = (w.clone(), op)
        return op

    def project(self, w: torch.Tensor) -> torch.Tensor:
        op = self.operator(w.detach())
        res = pcg(op.normal(), op.rmatvec(self.model.b), self.precond, self.f, self.iters, self.rtol)
        self.cg_iters += res.n_iter
        return res.x

    def _project(self, w: torch.Tensor):
        # LM linearizes at the point it has just accepted, whose projection residual() has just solved: the same
        # operator and image again, (f, r) as they were (PCG from its own answer took 0-2 iterations there, but
        # each call paid A^T b, the start's normal product and A f: ~40 ms at 256x256 from 16 frames, ~10 a run)
        op = self.operator(w)
        if self._projected[0] is op:
            return self._projected[1], self._projected[2]
        f = self.project(w)
        self.f = f  # warm start of the next projection
        self.last_f = f
        r = op.matvec(f) - self.model.b
        self._projected = (op, f, r)
        return f, r

    def residual(self, w: torch.Tensor) -> torch.Tensor:
        t0 = time.perf_counter()
        _, r = self._project(w.detach())
        self.timing["residual_s"] += time.perf_counter() - t0
        self.timing["residual_n"] += 1
        return r

    def linearize(self, w: torch.Tensor) -> "BlockLinearization":
        """The image-fixed Gauss-Newton model at w for lm_loop, block diagonal (BlockLinearization); the
        exact Jacobian is dense (residual_and_jacobian)."""
        if self.exact:
            raise ValueError("the exact Jacobian is dense: use residual_and_jacobian")
        t0 = time.perf_counter()
        w = w.detach()
        f, r = self._project(w)
        columns = self.model.gain_reg_columns(w, f)
        lin = BlockLinearization(r, self.model.motion_blocks(w, f), self.model.coarse.m[0] * self.model.coarse.m[1],
                                 None if columns is None else columns[:2])
        self.timing["jacobian_s"] += time.perf_counter() - t0
        self.timing["jacobian_n"] += 1
        return lin

    def residual_and_jacobian(self, w: torch.Tensor, dw_dp: torch.Tensor | None = None):
        """r and the Jacobian in w, or with dw_dp (6q, d) in a motion model's d parameters: df is linear in
        the direction, so its block PCG solves d columns, not 6q (translation: a third)."""
        t0 = time.perf_counter()
        w = w.detach()
        f, r = self._project(w)
        dA_f, dAT_r, AT_dA_f = self.model.operator_derivatives(w, f, r, image_fixed=not self.exact)
        rhs = dAT_r + AT_dA_f if self.exact else None
        if dw_dp is not None:
            dA_f = dA_f @ dw_dp
            rhs = None if rhs is None else rhs @ dw_dp
        jac = dA_f
        if self.exact:
            op = self.operator(w)
            rhs = -rhs.T  # (parameters, n): one column per motion parameter
            res = pcg(op.normal(), rhs, self.precond, self.df, self.iters, self.jac_rtol)
            self.cg_iters += res.n_iter
            self.df = res.x
            jac = dA_f + op.matvec(res.x).T
        self.timing["jacobian_s"] += time.perf_counter() - t0
        self.timing["jacobian_n"] += 1
        return r, jac


class BlockLinearization:
    """The image-fixed Gauss-Newton model r + J s of super-resolution for lm_loop, with J = dA f held as its q
    blocks (frame j's data rows x its own 6 parameters; every other entry is zero): J^T J is block diagonal,
    so each damped step is q solves of 6 x 6, and nothing of size rows x 6q is formed (0.28 GB and most of an
    LM step's dense work at 256x256 from 16 frames). The damping is Marquardt's, relative to diag(J^T J):
    the linear parameters' columns scale with the coordinates (up to 256 at 256x256) and the shifts' do not, so
    a damping relative to the largest diagonal entry (the dense model's) held the shifts nearly still and LM
    crept along the rotation-shift valley for all its steps (256x256, 16 frames: the motion error still
    falling after 9 steps); scaled, the first steps are Gauss-Newton's.

    `rank_one` (problem.gain_anchor=mean: SuperResModel.gain_reg_columns): (x, v), the regulariser rows' part of J,
    x v^T (every gain moves the regulariser's weight). J^T J gains (x.x) v v^T, coupling the frames' gains; a step
    is then the block solves and Sherman-Morrison's correction (two block solves instead of one)."""

    def __init__(self, r: torch.Tensor, blocks: torch.Tensor, nc: int, rank_one=None):
        self.r = r
        self.blocks = blocks.transpose(-1, -2)  # (q, coarse points, parameters per frame: 6 for affine w)
        self.nc = nc
        q = blocks.shape[0]
        data = r[nc:(q + 1) * nc].reshape(q, nc, 1)  # the moved frames' data rows (frame 0's come first)
        self.jtr = (self.blocks.transpose(-1, -2) @ data).reshape(-1)
        self.jtj = self.blocks.transpose(-1, -2) @ self.blocks  # (q, 6, 6)
        self.rank_one = rank_one
        if rank_one is not None:
            x, v = rank_one
            self.xx = x @ x
            self.jtr = self.jtr + v * (x @ r[r.shape[0] - x.shape[0]:])

    def initial_damping(self, tau: float) -> float:
        return tau  # relative to each parameter's own curvature (step)

    def step(self, damping: float) -> torch.Tensor:
        diag = torch.diagonal(self.jtj, dim1=-2, dim2=-1)
        if self.rank_one is None:
            scaled = diag.clamp_min(torch.finfo(diag.dtype).tiny) * damping
            rhs = self.jtr.reshape(*self.jtj.shape[:2], 1)  # (q, d, 1)
            return -torch.linalg.solve(self.jtj + torch.diag_embed(scaled), rhs).reshape(-1)
        v = self.rank_one[1].reshape(*self.jtj.shape[:2])
        scaled = (diag + self.xx * v * v).clamp_min(torch.finfo(diag.dtype).tiny) * damping
        both = torch.stack((self.jtr.reshape(v.shape), v), -1)  # (q, d, 2): the gradient and v
        y, z = torch.linalg.solve(self.jtj + torch.diag_embed(scaled), both).unbind(-1)
        y, z, v = y.reshape(-1), z.reshape(-1), v.reshape(-1)
        return -(y - z * (self.xx * (v @ y)) / (1 + self.xx * (v @ z)))

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        q, _, d = self.blocks.shape
        out = torch.zeros_like(self.r)
        out[self.nc:(q + 1) * self.nc] = (self.blocks @ s.reshape(q, d, 1)).reshape(-1)
        if self.rank_one is not None:
            x, v = self.rank_one
            out[out.shape[0] - x.shape[0]:] = x * (v @ s)
        return out

    def chained(self, dw_dp: torch.Tensor) -> "BlockLinearization":
        """The same model in a motion model's parameters p: each block times dw_j/dp_j (q, 6, d)."""
        rank_one = None
        if self.rank_one is not None:
            x, v = self.rank_one
            rank_one = (x, (v.reshape(dw_dp.shape[0], 1, -1) @ dw_dp).reshape(-1))
        return BlockLinearization(self.r, (self.blocks @ dw_dp).transpose(-1, -2), self.nc, rank_one)


def parametrized(rfun, motion):
    """rfun (a projected residual of affine motions) seen in problem.motion_model's parameters; rfun itself for
    the affine model."""
    return rfun if motion.is_affine else ParametrizedResidual(rfun, motion)


class ParametrizedResidual:
    """A projected residual r(w) of the affine motions w as a function of a motion model's parameters p,
    r(w(p)), with the chain rule J_p = J_w dw/dp (block diagonal); the image-fixed block model chains block by
    block. Everything else (timing, the last image, the resolved linear solver) is the wrapped one's."""

    def __init__(self, rfun, motion):
        self.rfun = rfun
        self.motion = motion

    def __getattr__(self, name):  # linear, jacobian_used, last_f, timing, ... of the wrapped residual
        return getattr(self.rfun, name)

    def project(self, p: torch.Tensor) -> torch.Tensor:
        return self.rfun.project(self.motion.to_affine(p))

    def residual(self, p: torch.Tensor) -> torch.Tensor:
        return self.rfun.residual(self.motion.to_affine(p))

    def residual_and_jacobian(self, p: torch.Tensor):
        if isinstance(self.rfun, IterativeProjectedResidual):  # its exact df solved in p's directions only
            return self.rfun.residual_and_jacobian(self.motion.to_affine(p), self.motion.dense_jacobian(p))
        r, jac = self.rfun.residual_and_jacobian(self.motion.to_affine(p))
        return r, jac @ self.motion.dense_jacobian(p)

    def linearize(self, p: torch.Tensor) -> BlockLinearization:
        return self.rfun.linearize(self.motion.to_affine(p)).chained(self.motion.blocks(p))

