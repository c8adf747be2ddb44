"""regrun's Slurm launcher: Hydra's submitit Slurm launcher, waiting on its jobs without accounting.

Submission is submitit's (the same executor and parameters as `submitit_slurm`); what changes is after it
(regrun/slurm.py): job ids and log paths printed, each job followed through `squeue` and its result file (a
job that dies is noticed within a minute, alone), Ctrl-C cancels the jobs, console output copied into each
run folder. Only defined when the [sweep] extra (hydra-submitit-launcher) is installed."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Sequence

try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # without the [sweep] extra there is no Slurm launcher; regrun says so in one line
    SlurmLauncher = None

if SlurmLauncher is not None:

    class RegrunSlurmLauncher(SlurmLauncher):
        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[Any]:
            import submitit
            from hydra.core.singleton import Singleton
            from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
            from omegaconf import OmegaConf

            from regrun import slurm

            assert self.config is not None and len(job_overrides) > 0
            # As BaseSubmititLauncher.launch builds its executor (kept in step with hydra-submitit-launcher 1.2)
            init_params = {"folder": self.params["submitit_folder"]}
            specific_init_keys = {"max_num_timeout"}
            init_params.update(**{f"{self._EXECUTOR}_{x}": y for x, y in self.params.items()
                                  if x in specific_init_keys})
            init_keys = specific_init_keys | {"submitit_folder"}
            executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
            baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
            executor.update_parameters(**{x if x in baseparams else f"{self._EXECUTOR}_{x}": y
                                          for x, y in self.params.items() if x not in init_keys})
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)

            job_params: List[Any] = []
            indices: List[int | None] = []
            for idx, overrides in enumerate(job_overrides):
                job_params.append((list(overrides), "hydra.sweep.dir", initial_job_idx + idx,
                                   f"job_id_for_{initial_job_idx + idx}", Singleton.get_state()))
                # the job's folder will be `<index>_<run id>` (regrun.sweep names it by the index)
                subdir = next((o.split("=", 1)[1] for o in overrides if o.startswith("hydra.sweep.subdir=")), "")
                index = re.match(r"(\d+)_", subdir)
                indices.append(int(index.group(1)) if index else None)
            jobs = executor.map_array(self, *zip(*job_params))
            slurm.announce(jobs)
            return slurm.wait(jobs, sweep_dir, indices)
