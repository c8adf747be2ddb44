"""Resolved run settings handed to problems and solvers."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from .monitor import Reporter


@dataclass
class RunContext:
    device: torch.device
    dtype: torch.dtype
    seed: int
    out_dir: Path
    reporter: Reporter = field(default_factory=Reporter.silent)
    # metrics a solver has finished measuring before its run ends: written to the results file even when the run
    # is then interrupted, fails or diverges (a completed run writes its full metrics instead)
    kept_metrics: dict[str, float] = field(default_factory=dict)
    # whether the run's time_limit has passed (the run sets it to its TimeLimit's): read by work that runs outside
    # the solver's monitored iterations, as the regularization weight's search, to stop with what it has
    out_of_time: Callable[[], bool] = lambda: False
    # lines a problem says once per run, though a second look builds it again from the config (Problem.say_once):
    # a typed setting's warning was said three times before the solve's end (newuser23)
    said: set[str] = field(default_factory=set)

    def phase(self, name: str, total: int | None = None, every: float | None = None, upto: bool = False
              ) -> contextlib.AbstractContextManager:
        """`with ctx.phase("extraction"): ...` announces a step of the run (and its time) on the console and in
        regrun.log; with a total it yields a Progress whose update() shows progress inside it (plain lines at
        most every `every` seconds; `upto`: the total is a cap)."""
        return self.reporter.phase(name, total, every, upto)

    def keep(self, metrics: dict) -> None:
        """Record metrics that are final already (e.g. a memory measurement before a long solve), so that a run
        stopped later still has them in its results file."""
        self.kept_metrics.update({k: float(v) for k, v in metrics.items()})

    def tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run seed, so data are the same on every device."""
        return torch.Generator().manual_seed(self.seed + offset)
