"""Per-iteration callbacks: history recording, progress bar, divergence guard, time limit.

Solvers call `monitor.step(iter=..., J=..., ...)` once per iteration and stop when it returns True.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .errors import Diverged


class Callback:
    def start(self, total: int | None, desc: str) -> None: ...

    def step(self, row: dict) -> bool:
        """Return True to ask the solver to stop."""
        return False

    def close(self) -> None: ...


class HistoryRecorder(Callback):
    """Keeps every row; columns that a row lacks are NaN so all columns stay in lockstep."""

    def __init__(self):
        self.columns: dict[str, list] = {}
        self.n_rows = 0

    def step(self, row):
        for key in row:
            if key not in self.columns:
                self.columns[key] = [math.nan] * self.n_rows
        for key, col in self.columns.items():
            col.append(float(row.get(key, math.nan)))
        self.n_rows += 1
        return False

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.columns.items()}


class ProgressBar(Callback):
    """A tqdm bar showing the latest values of a few columns."""

    def __init__(self, show: tuple[str, ...] = ("J", "grad_norm"), enabled: bool = True):
        self.show = show
        self.enabled = enabled
        self.bar = None

    def start(self, total, desc):
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        if self.bar is not None:
            self.bar.close()
        self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def step(self, row):
        if self.bar is not None:
            self.bar.update(1)
            shown = {k: f"{row[k]:.3e}" for k in self.show if k in row}
            if shown:
                self.bar.set_postfix(shown, refresh=False)
        return False

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class DivergenceGuard(Callback):
    """Raises Diverged as soon as a recorded value is NaN or infinite."""

    def __init__(self, watch: tuple[str, ...] = ("J", "grad_norm", "loss", "residual")):
        self.watch = watch

    def step(self, row):
        for key in self.watch:
            if key in row and not math.isfinite(float(row[key])):
                raise Diverged(f"{key} became {row[key]} at iteration {row.get('iter', '?')}")
        return False


class TimeLimit(Callback):
    """Asks the solver to stop once `seconds` have passed (0 disables it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.t0 = time.perf_counter()

    def step(self, row):
        return self.seconds > 0 and time.perf_counter() - self.t0 > self.seconds


class Monitor:
    def __init__(self, callbacks: list[Callback] | None = None):
        self.history = HistoryRecorder()
        self.callbacks = [self.history, *(callbacks or [])]
        self.t0 = time.perf_counter()

    def start(self, total: int | None = None, desc: str = "") -> None:
        for cb in self.callbacks:
            cb.start(total, desc)

    def step(self, **row) -> bool:
        row.setdefault("time", time.perf_counter() - self.t0)
        stop = False
        for cb in self.callbacks:
            stop = cb.step(row) or stop
        return stop

    def close(self) -> None:
        for cb in self.callbacks:
            cb.close()
