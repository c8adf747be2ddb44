"""Resolved run settings handed to problems and solvers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass
class RunContext:
    device: torch.device
    dtype: torch.dtype
    seed: int
    out_dir: Path

    def tensor(self, x) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU generator seeded from the run seed, so data are the same on every device."""
        return torch.Generator().manual_seed(self.seed + offset)
