"""The `regrun` sweeper: Hydra's basic sweeper (cartesian product of comma lists) plus resume by config hash,
dry runs, fail-fast batches and a summary; see regrun/sweep.py and docs/sweeps.md."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


# Its config is configs/hydra/sweeper/regrun.yaml, selected by configs/config.yaml.
class RegrunSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None) -> None:
        super().__init__()
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from regrun.sweep import run_sweep

        assert self.config is not None and self.hydra_context is not None and self.launcher is not None
        params = [f"{k}={v}" for k, v in self.params.items()]
        return run_sweep(self.config, self.hydra_context.config_loader, self.launcher, params + list(arguments),
                         self.max_batch_size)
