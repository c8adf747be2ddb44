"""What the optimizers in regrun.optim return."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class OptimResult:
    w: torch.Tensor
    J: float
    grad_norm: float
    n_iter: int
    status: str  # one of regrun.solve_result.SOLVER_STATUSES
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
