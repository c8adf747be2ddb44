"""What every solver returns, and the statuses a run can end in."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SOLVER_STATUSES = ("converged", "max_iter", "stopped", "diverged")


@dataclass
class SolveResult:
    """One solve: the solution (named arrays or tensors), how it ended, and what happened on the way.

    `history` is filled by the run from the monitor (per-iteration rows, all columns the same length);
    `tables` holds further named tables (column -> 1-D array), e.g. one row per scale level or per timing.
    """

    solution: dict[str, Any]
    status: str
    message: str = ""
    n_iter: int = 0
    history: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    stats: dict[str, float | int | str] = field(default_factory=dict)

    def __post_init__(self):
        if self.status not in SOLVER_STATUSES:
            raise ValueError(f"solver status {self.status!r} not in {SOLVER_STATUSES}")
