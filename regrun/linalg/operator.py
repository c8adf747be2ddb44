"""A small matrix-free linear operator: shape, forward product and adjoint product.

Vectors are the last dimension of a tensor; leading dimensions are a batch (so a block of right-hand sides
(k, n) is applied in one call). When no adjoint is given it is derived by reverse-mode AD: for a linear map
x -> A x, the vector-Jacobian product at any point is y -> A^T y (we linearise at zero).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

Apply = Callable[[torch.Tensor], torch.Tensor]


def untracked_cpu(x: torch.Tensor) -> bool:
    """x may go through NumPy/SciPy (its bits read, the answer wrapped back): a CPU tensor that neither autograd
    nor torch.func (vmap, jvp, grad) nor forward-mode AD tracks. The fast CPU paths that leave torch (the fixed
    operator's sparse rows, the preconditioner's cosine transforms) check it and keep torch's own path otherwise."""
    return (x.device.type == "cpu" and not x.requires_grad and not torch._C._functorch.is_functorch_wrapped_tensor(x)
            and torch.autograd.forward_ad.unpack_dual(x).tangent is None)


class LinearOperator:
    def __init__(self, shape: tuple[int, int], matvec: Apply, rmatvec: Apply | None = None,
                 dtype: torch.dtype = torch.float64, device=None, normal: Apply | None = None):
        self.shape = (int(shape[0]), int(shape[1]))
        self._matvec = matvec
        self._rmatvec = rmatvec
        self._normal = normal  # a cheaper x -> A^T A x than the two products, where the operator has one
        self.dtype = dtype
        self.device = device

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        return self._matvec(x)

    def rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self._rmatvec is not None:
            return self._rmatvec(y)
        zero = torch.zeros(*y.shape[:-1], self.shape[1], dtype=y.dtype, device=y.device)
        _, vjp = torch.func.vjp(self._matvec, zero)
        return vjp(y)[0]

    def __matmul__(self, other):
        if isinstance(other, LinearOperator):
            return compose(self, other)
        return self.matvec(other)

    @property
    def T(self) -> "LinearOperator":
        return LinearOperator((self.shape[1], self.shape[0]), self.rmatvec, self.matvec, self.dtype, self.device)

    def scaled(self, c: float) -> "LinearOperator":
        return LinearOperator(self.shape, lambda x: c * self.matvec(x), lambda y: c * self.rmatvec(y),
                              self.dtype, self.device)

    def normal(self) -> Apply:
        """x -> A^T A x, the matrix of the normal equations."""
        if self._normal is not None:
            return self._normal
        return lambda x: self.rmatvec(self.matvec(x))


def compose(a: LinearOperator, b: LinearOperator) -> LinearOperator:
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot compose shapes {a.shape} and {b.shape}")
    return LinearOperator((a.shape[0], b.shape[1]), lambda x: a.matvec(b.matvec(x)),
                          lambda y: b.rmatvec(a.rmatvec(y)), a.dtype, a.device)


def vstack(ops: Sequence[LinearOperator]) -> LinearOperator:
    """[A1; A2; ...]: outputs concatenated, adjoint the sum of the blocks' adjoints."""
    n = ops[0].shape[1]
    if any(op.shape[1] != n for op in ops):
        raise ValueError("stacked operators must have the same number of columns")
    sizes = [op.shape[0] for op in ops]

    def matvec(x):
        return torch.cat([op.matvec(x) for op in ops], dim=-1)

    def rmatvec(y):
        parts = torch.split(y, sizes, dim=-1)
        out = ops[0].rmatvec(parts[0])
        for op, part in zip(ops[1:], parts[1:]):
            out = out + op.rmatvec(part)
        return out

    return LinearOperator((sum(sizes), n), matvec, rmatvec, ops[0].dtype, ops[0].device)
