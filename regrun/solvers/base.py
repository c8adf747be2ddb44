"""The contract every solver fulfils."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..context import RunContext
from ..monitor import Monitor
from ..solve_result import SolveResult


class Solver(ABC):
    """Validates its config section on construction (so bad values fail before anything is computed) and
    solves a problem, reporting each iteration to the monitor.

    `needs`: capabilities the problem must offer. `problems`: if set, the only problems it serves.
    """

    name: str = "?"
    needs: frozenset[str] = frozenset()
    problems: tuple[str, ...] | None = None

    def __init__(self, cfg: Any, ctx: RunContext):
        self.cfg = cfg
        self.ctx = ctx

    @abstractmethod
    def solve(self, problem, monitor: Monitor) -> SolveResult:
        """Solve the problem, calling monitor.step once per iteration; return a SolveResult."""
