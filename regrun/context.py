"""Resolved run settings handed to problems and solvers."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .monitor import Reporter


@dataclass
class RunContext:
    device: torch.device
    dtype: torch.dtype
    seed: int
    out_dir: Path
    reporter: Reporter = field(default_factory=Reporter.silent)

    def phase(self, name: str, total: int | None = None, every: float | None = None, upto: bool = False
              ) -> contextlib.AbstractContextManager:
        """`with ctx.phase("extraction"): ...` announces a step of the run (and its time) on the console and in
        regrun.log; with a total it yields a Progress whose update() shows progress inside it (plain lines at
        most every `every` seconds; `upto`: the total is a cap)."""
        return self.reporter.phase(name, total, every, upto)

    def tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run seed, so data are the same on every device."""
        return torch.Generator().manual_seed(self.seed + offset)
