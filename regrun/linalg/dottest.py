"""The adjoint (dot) test: <A x, y> must equal <x, A^T y> for random x, y."""
from __future__ import annotations

import torch

from .operator import LinearOperator


def dot_test(op: LinearOperator, generator: torch.Generator | None = None, trials: int = 3) -> float:
    """Largest relative mismatch |<Ax, y> - <x, A^T y>| / (||Ax|| ||y|| + ||x|| ||A^T y||) over `trials`
    random pairs; round-off level (~1e-15 in float64) means the adjoint is exact."""
    worst = 0.0
    for _ in range(trials):
        x = torch.randn(op.shape[1], generator=generator, dtype=torch.float64).to(op.dtype)
        y = torch.randn(op.shape[0], generator=generator, dtype=torch.float64).to(op.dtype)
        if op.device is not None:
            x, y = x.to(op.device), y.to(op.device)
        ax, aty = op.matvec(x), op.rmatvec(y)
        lhs, rhs = float(ax @ y), float(x @ aty)
        scale = float(ax.norm() * y.norm() + x.norm() * aty.norm())
        worst = max(worst, abs(lhs - rhs) / scale if scale > 0 else 0.0)
    return worst
