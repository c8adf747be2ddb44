"""Direct solution of small linear least squares min_f ||A f - b||^2 by a Cholesky factor of the dense normal
matrix A^T A, and the exact derivative of that solution (variable projection, Golub and Pereyra 1973).

A is matrix-free (a LinearOperator); A^T A (n x n) is formed by applying A^T A to blocks of unit vectors, so
nothing of size m x n is held at once. This pays while n is small (a few thousand unknowns: n^2 memory, n^3/3
flops for the factor); beyond that, CG (regrun.linalg.cg) is the tool. Everything stays on the operator's
device and dtype.

For A = A(w), f(w) = (A^T A)^-1 A^T b and r = A f - b, the derivative in one parameter direction is

    df = -(A^T A)^-1 (dA^T r + A^T dA f),        dr = dA f + A df,

so given the two thin blocks dA f (m x p) and dA^T r (n x p) the whole Jacobian costs one matrix product with
A^T, one triangular solve pair with p columns and one product with A: no iteration, exact to round-off.
"""
from __future__ import annotations

import torch

from ..errors import UserError
from .operator import LinearOperator


def normal_matrix(op: LinearOperator, chunk: int = 512) -> torch.Tensor:
    """A^T A as a dense symmetric (n, n) tensor, applying A^T A to `chunk` unit vectors at a time."""
    n = op.shape[1]
    normal = op.normal()
    eye = torch.eye(n, dtype=op.dtype, device=op.device)
    rows = [normal(eye[start:start + chunk]) for start in range(0, n, chunk)]
    g = torch.cat(rows, 0)
    return 0.5 * (g + g.T)


class CholeskyLSQ:
    """The Cholesky factor of A^T A for one operator A; solves and the projection's exact Jacobian."""

    def __init__(self, op: LinearOperator, gram: torch.Tensor | None = None, chunk: int = 512):
        """`gram`: A^T A when the caller can form it faster than n products with A^T A (the default)."""
        self.op = op
        gram = normal_matrix(op, chunk) if gram is None else gram
        factor, info = torch.linalg.cholesky_ex(gram)
        if int(info) != 0:
            # "use problem.lambda_f > 0" was told to a run at lambda_f=1e-30 (newuser22): a weight that small
            # leaves the matrix as singular as none
            raise UserError("the normal matrix A^T A is singular (no regulariser, or one too small to count, and "
                            "too few frames?): use a larger problem.lambda_f (lambda_f=auto chooses one) or "
                            "solver.linear=cg")
        self.factor = factor

    def solve_normal(self, rhs: torch.Tensor) -> torch.Tensor:
        """(A^T A)^-1 rhs for rhs (..., n), columns in the leading dimensions."""
        flat = rhs.reshape(-1, rhs.shape[-1]).T
        return torch.cholesky_solve(flat, self.factor).T.reshape(rhs.shape)

    def lstsq(self, b: torch.Tensor) -> torch.Tensor:
        """argmin_f ||A f - b||^2."""
        return self.solve_normal(self.op.rmatvec(b))

    def projection_jacobian(self, dA_f: torch.Tensor, dAT_r: torch.Tensor,
                            AT_dA_f: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(dr/dw (m, p), df/dw (n, p)) at the exact projection, from dA f (m, p) and dA^T r (n, p);
        A^T dA f (n, p) when the caller has it cheaper than p products with A^T."""
        AT_dA_f = self.op.rmatvec(dA_f.T).T if AT_dA_f is None else AT_dA_f
        rhs = (dAT_r + AT_dA_f).T  # (p, n)
        df = -self.solve_normal(rhs)
        dr = dA_f + self.op.matvec(df).T
        return dr, df.T
