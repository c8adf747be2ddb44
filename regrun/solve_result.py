"""What every solver returns, and the statuses a run can end in."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SOLVER_STATUSES = ("converged", "max_iter", "stopped", "diverged")
# how the end line says a status: "solver max_iter: lam=1 as given; 140 FISTA iterations" read as a failure or as
# a setting's name to a user (the lead, newuser21); a fixed-count solver such as FISTA-TV always ends so
STATUS_WORDS = {"max_iter": "stopped at its iteration count (max_iter)"}


def status_words(status: str) -> str:
    """A solver status as the end line and the run's message say it."""
    return STATUS_WORDS.get(status, status)


@dataclass
class SolveResult:
    """One solve: the solution, how it ended, and what happened on the way.

    `solution` holds tensors on the run's device in its dtype (plus plain Python values: a theta, a label,
    dicts of tensors); the record layer converts what it stores to NumPy. Handing back NumPy arrays would put
    the next computation on the CPU (issue 8).

    `stop`: why the solve ended early on a failure, in the solver's words (one line: which step, what was
    reached; bilevel's line search that found no decrease); recorded as the results file's `solver_stop` (the run
    adds the time limit's) and named beside every verdict of the run (regrun/summary.py). Empty: no failure, even
    with status "stopped" from an optimizer stalled in round-off at its answer.

    `history` is filled by the run from the monitor (per-iteration rows, all columns the same length);
    `tables` holds further named tables (column -> 1-D array), e.g. one row per scale level or per timing.
    `metrics` are final scalars only the solver knows (method comparisons, timing factors); they join the
    problem's metrics. `figures(problem, result, metrics, fig_dir) -> [paths]` draws the solver's own figures
    after the problem's.
    """

    solution: dict[str, Any]
    status: str
    message: str = ""
    n_iter: int = 0
    history: dict[str, np.ndarray] = field(default_factory=dict)
    tables: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    stats: dict[str, float | int | str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    figures: Callable | None = None
    stop: str = ""

    def __post_init__(self):
        if self.status not in SOLVER_STATUSES:
            raise ValueError(f"solver status {self.status!r} not in {SOLVER_STATUSES}")
