"""Conjugate gradients on the normal equations A^T A x = A^T b, and the ways to differentiate through it.

A solve x(theta) of A(theta)^T A(theta) x = A(theta)^T b can be differentiated in theta in several ways
(`DiffMode`):

- none:     x is treated as a constant (no derivative flows through the solve);
- full:     AD through every CG iteration (unrolled; exact derivative of the inexact iterate);
- tail:     the first (1 - p) N iterations run without derivatives, the last p N with them. By default the
            same run continues (x, r and the search direction carry over as constants, so the derivative
            of A^T b and of r_k never enters); with restart=True the differentiated part is a fresh CG from
            the current x (the residual recomputed with derivatives, p = r), as the paper's code did.
            (A third variant, continuing with the residual recomputed but the old search direction, gave
            derivatives off by factors of 10^2-10^3 in our tests and is not offered.)
- implicit: the derivative of the exact solution by the implicit function theorem, one more solve with the
            same matrix per tangent direction (`implicit_jvp`) or one per cotangent (`implicit_vjp`);
            nothing of the CG run is kept, so memory does not depend on the iteration count.

Iterations run either a fixed count (rtol = 0) or until ||r_k|| <= rtol ||r_0|| for every column. A fixed
count keeps x(theta) smooth in theta; an absolute early stop makes it piecewise (seed 000 notes 6.4). The
tolerance check reads tensor values, so it cannot run inside torch.func.vmap: decide the count in a plain
pass first (`cg(...).n_iter`) and pass it as a fixed count to the differentiated pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UserError, check_choice, check_float
from .operator import Apply, LinearOperator

DIFF_MODES = ("none", "full", "tail", "implicit")


@dataclass(frozen=True)
class DiffMode:
    kind: str
    fraction: float = 1.0  # tail: the share of the iterations that are differentiated
    restart: bool = False  # tail: restart CG for the differentiated part instead of continuing the run

    def split(self, iters: int) -> tuple[int, int]:
        """(iterations without derivatives, iterations with derivatives) out of `iters`."""
        if self.kind == "none" or self.kind == "implicit":
            return iters, 0
        if self.kind == "full":
            return 0, iters
        tracked = int(round(self.fraction * iters))
        return iters - tracked, tracked


def diff_mode(kind: str, fraction: float | None = None, name: str = "mode",
              allowed: tuple[str, ...] = DIFF_MODES, restart: bool = False) -> DiffMode:
    """Validated differentiation mode; a bad value is a UserError naming what is allowed."""
    check_choice(name, kind, allowed)
    if fraction is not None:  # checked whatever the mode, so a bad value is never silently ignored
        key = f"{name.rpartition('.')[0]}.diff_fraction".lstrip(".")  # solver.jacobian -> solver.diff_fraction
        fraction = check_float(key, fraction, 0.0, strict=True)
        if fraction > 1:
            raise UserError(f"{key}={fraction:g} must be in (0, 1]")
    if kind == "tail":
        if fraction is None:
            raise UserError(f"{name}=tail needs a differentiated fraction in (0, 1]")
        return DiffMode(kind, fraction, bool(restart))
    return DiffMode(kind)


@dataclass
class CGState:
    x: torch.Tensor
    r: torch.Tensor
    p: torch.Tensor
    rr: torch.Tensor  # (..., 1): r.r per column


@dataclass
class CGResult:
    x: torch.Tensor
    n_iter: int
    rel_residual: float  # max over columns of ||r_k|| / ||r_0|| (recursive residual)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1, keepdim=True)


def cg_start(normal: Apply, rhs: torch.Tensor, x0: torch.Tensor | None = None,
             search: torch.Tensor | None = None) -> CGState:
    """Initial state; `search` keeps a given search direction (to continue a run) instead of p = r."""
    x = torch.zeros_like(rhs) if x0 is None else x0.expand_as(rhs)
    r = rhs - normal(x) if x0 is not None else rhs
    p = r if search is None else search
    return CGState(x, r, p, _dot(r, r))


def cg_steps(normal: Apply, state: CGState, iters: int, rtol: float = 0.0) -> tuple[CGState, int]:
    """`iters` CG iterations (fewer if rtol > 0 and every column has converged). Division by zero is avoided
    with a select, so an exactly converged column stays put and its derivatives stay finite."""
    x, r, p, rr = state.x, state.r, state.p, state.rr
    stop2 = (rtol**2) * rr.detach().max() if rtol > 0 else None
    done = 0
    for _ in range(iters):
        if stop2 is not None and float(rr.detach().max()) <= float(stop2):
            break
        q = normal(p)
        pq = _dot(p, q)
        ok = pq > 0
        alpha = torch.where(ok, rr / torch.where(ok, pq, torch.ones_like(pq)), torch.zeros_like(pq))
        x = x + alpha * p
        r = r - alpha * q
        rr_new = _dot(r, r)
        okr = rr > 0
        beta = torch.where(okr, rr_new / torch.where(okr, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = r + beta * p
        rr = rr_new
        done += 1
    return CGState(x, r, p, rr), done


def cg(normal: Apply, rhs: torch.Tensor, x0: torch.Tensor | None = None, iters: int = 50,
       rtol: float = 0.0) -> CGResult:
    """Solve normal(x) = rhs (symmetric positive (semi)definite), columns in the leading dimensions."""
    state = cg_start(normal, rhs, x0)
    r0 = state.rr.detach().clamp_min(torch.finfo(rhs.dtype).tiny)
    state, n = cg_steps(normal, state, iters, rtol)
    rel = float((state.rr.detach() / r0).max().sqrt())
    return CGResult(state.x, n, rel)


OperatorOf = Callable[[torch.Tensor], LinearOperator]


def _detached(params):
    return params.detach()


def solve_normal(op_of: OperatorOf, params: torch.Tensor, b: torch.Tensor, mode: DiffMode, iters: int,
                 x0: torch.Tensor | None = None) -> torch.Tensor:
    """x(params) from `iters` CG iterations on A(params)^T A(params) x = A(params)^T b, differentiable in
    params (forward or reverse mode) the way `mode` says. For `implicit` this returns the undifferentiated
    iterate; its derivatives come from implicit_jvp / implicit_vjp. `x0` is treated as a constant."""
    x0 = None if x0 is None else x0.detach()
    n_plain, n_tracked = mode.split(iters)
    state = None
    if n_plain > 0 or mode.kind in ("none", "implicit"):
        op = op_of(_detached(params))
        state, _ = cg_steps(op.normal(), cg_start(op.normal(), op.rmatvec(b), x0), n_plain)
        if mode.kind in ("none", "implicit"):
            return state.x.detach()
    op = op_of(params)
    if state is None:
        state = cg_start(op.normal(), op.rmatvec(b), x0)
    elif mode.restart:
        state = cg_start(op.normal(), op.rmatvec(b), state.x.detach())
    else:
        state = CGState(state.x.detach(), state.r.detach(), state.p.detach(), state.rr.detach())
    state, _ = cg_steps(op.normal(), state, n_tracked)
    return state.x


def normal_residual(op_of: OperatorOf, params: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """F(x, params) = A^T (A x - b); the exact solution has F = 0."""
    op = op_of(params)
    return op.rmatvec(op.matvec(x) - b)


def implicit_jvp(op_of: OperatorOf, params: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                 tangents: torch.Tensor, iters: int, rtol: float = 0.0) -> tuple[torch.Tensor, CGResult]:
    """dx for each tangent direction (rows of `tangents`, shape (k, *params.shape)): the solution of
    A^T A dx = -dF, dF = d/dparams A^T (A x - b) [tangent] at fixed x; all k solves share one block CG."""
    params = params.detach()
    x = x.detach()

    def F(p):
        return normal_residual(op_of, p, b, x)

    dF = torch.func.vmap(lambda t: torch.func.jvp(F, (params,), (t,))[1])(tangents)
    op = op_of(params)
    result = cg(op.normal(), -dF, iters=iters, rtol=rtol)
    return result.x, result


def implicit_vjp(op_of: OperatorOf, params: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                 cotangent: torch.Tensor, iters: int, rtol: float = 0.0) -> tuple[torch.Tensor, CGResult]:
    """g^T dx/dparams for a cotangent g on x (the adjoint form, for a scalar outer loss): solve A^T A l = g,
    then -l^T dF/dparams by one reverse pass. Cost: one solve, whatever the number of parameters."""
    params = params.detach()
    x = x.detach()
    op = op_of(params)
    lam = cg(op.normal(), cotangent.detach(), iters=iters, rtol=rtol)
    _, pullback = torch.func.vjp(lambda p: normal_residual(op_of, p, b, x), params)
    return -pullback(lam.x)[0], lam
