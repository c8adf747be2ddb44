"""The solve x(theta) of A(theta)^T A(theta) x = A(theta)^T b by CG, differentiable in theta (forward or
reverse mode) in every mode of the iteration runner (regrun.linalg.iterate):

- none / unrolled / checkpointed: as there (unrolled: exact derivative of the inexact iterate);
- truncated: the last p N CG iterations differentiated. By default the same run continues (x, r and the
  search direction carry over as constants, so the derivative of A^T b and of r_k never enters); with
  restart=True the differentiated part is a fresh CG from the current x (the residual recomputed with
  derivatives, p = r), as the paper's code did. (Continuing with the residual recomputed but the old search
  direction gave derivatives off by factors of 10^2-10^3 in our tests and is not offered.)
- implicit: the derivative of the exact solution. The fixed-point map is the Richardson step
  T(x) = x - (A^T A x - A^T b), so I - dT/dx = A^T A and the implicit solve is CG with the same matrix and
  the same iteration count and tolerance as the primal solve: A^T A dx = -dF per tangent (forward mode) or
  A^T A l = g per cotangent (reverse mode); nothing of the CG run is kept.

The CG kernel itself is regrun.linalg.krylov (re-exported here).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import torch

from .iterate import ALIASES, MODES, AdjointSolve, DiffMode, cached_by_params, iterate
from .iterate import diff_mode as _diff_mode
from .krylov import CGResult, CGState, cg, cg_start, cg_steps
from .operator import LinearOperator

__all__ = ["CGResult", "CGState", "cg", "cg_start", "cg_steps", "diff_mode", "solve_normal", "DIFF_MODES",
           "normal_residual"]

DIFF_MODES = MODES + tuple(ALIASES)

OperatorOf = Callable[[torch.Tensor], LinearOperator]


def diff_mode(kind: str, fraction: float | None = None, name: str = "mode", restart: bool = False,
              segment: int = 0) -> DiffMode:
    """A validated mode for `solve_normal` (its implicit solve is set by solve_normal itself)."""
    return _diff_mode(kind, fraction, name, restart=restart, segment=segment)


def _state(s: CGState) -> tuple:
    return (s.x, s.r, s.p, s.rr)


def solve_normal(op_of: OperatorOf, params: torch.Tensor, b: torch.Tensor, mode: DiffMode, iters: int,
                 x0: torch.Tensor | None = None, implicit_iters: int | None = None,
                 implicit_rtol: float = 0.0) -> torch.Tensor:
    """x(params) from `iters` CG iterations on A(params)^T A(params) x = A(params)^T b, differentiable in
    params the way `mode` says. `x0` is treated as a constant. Implicit mode's solves are CG with
    `implicit_iters` (default `iters`) iterations and tolerance `implicit_rtol`."""
    x0 = None if x0 is None else x0.detach()
    mode = replace(mode, adjoint=AdjointSolve("cg", implicit_iters or iters, implicit_rtol))
    op = cached_by_params(op_of)

    def start(p):
        o = op(p)
        return _state(cg_start(o.normal(), o.rmatvec(b), x0))

    def step(s, p):
        return _state(cg_steps(op(p).normal(), CGState(*s), 1)[0])

    def restart(s, p):
        o = op(p)
        return _state(cg_start(o.normal(), o.rmatvec(b), s[0].detach()))

    def richardson(x, p):
        return x - normal_residual(op(p), b, x)

    return iterate(step, start, params, iters, mode, output=lambda s: s[0], fixed_point=richardson,
                   resume=restart if mode.restart else None)


def normal_residual(op: LinearOperator, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """F(x) = A^T (A x - b); the exact solution has F = 0."""
    return op.rmatvec(op.matvec(x) - b)
