"""The contract every problem fulfils."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..context import RunContext
from ..solve_result import SolveResult


class Problem(ABC):
    """Builds data from its config section and judges a solution.

    Subclasses set `offers` (capabilities solvers may need) and may set `paper` (reference values from the
    paper, name -> number) so results and summaries can show them beside the measured ones.
    """

    name: str = "?"
    offers: frozenset[str] = frozenset()

    def __init__(self, cfg: Any, ctx: RunContext):
        self.cfg = cfg
        self.ctx = ctx

    def inputs(self) -> dict[str, np.ndarray]:
        """Input arrays small enough to store in the results file (/data)."""
        return {}

    @abstractmethod
    def evaluate(self, result: SolveResult) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Final metrics (/metrics) and result arrays (/result) for a solution."""

    def figures(self, result: SolveResult, metrics: dict[str, float], fig_dir: Path) -> list[Path]:
        return []

    def answer(self, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
        """The answer to a user's own data as the run folder's answer file (regrun.imaging.answer.ANSWERS: its name
        and layout for the problem); None: the run writes none. `arrays` are evaluate's."""
        return None

    def solve_again(self, metrics: dict[str, float], result=None, solver=None) -> tuple[dict[str, Any], str] | None:
        """Where the first answer's metrics (or `result`, by the run's `solver`) show that its model left something
        out: the config changes under which the run solves the problem again from the start (and keeps that answer),
        with the reason in one line. None: the answer stands. Metrics of the decision may be added to `metrics`."""
        return None

    def keep_first(self, before: dict[str, float], after: dict[str, float]) -> tuple[dict[str, float], str | None]:
        """After solve_again's second solve: metrics of the decision to record, and the log line where the first
        answer (its metrics `before`) is kept instead of the second (`after`); None: the second stands."""
        return {}, None

    def warnings(self, metrics: dict[str, float]) -> list[str]:
        """One-line warnings about a finished run's result (e.g. a fit far from good); they join the status
        message of the results file and are printed."""
        return []
