"""The crab presets compose, and the Fig. 4 pair (spike_pair + motif_study) registers affine spikes."""
import pytest
import torch

from regrun.config import compose, paper_values
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.problems.spike_pair import SpikePair
from regrun.solvers.motif_study import MotifStudy


@pytest.mark.parametrize("name", ["crab_fig3", "crab_eval", "crab_fig4"])
def test_crab_presets_compose(name):
    cfg = compose([f"+experiment={name}"])
    assert cfg.problem.name in ("crab_detection", "spike_pair")
    if name == "crab_fig4":
        assert paper_values(cfg) == {"objective_decades": 4.0, "ncc": 0.972}
        assert cfg.solver.iters == 30 and cfg.solver.step_factor == 0.2


def test_motif_study_registers_an_affine_spike_pair(device, tmp_path):
    cfg = compose(["problem=spike_pair", "solver=motif_study", "problem.spikes=6", "problem.size=[41,51]",
                   "solver.iters=30", "solver.step_factor=1.0"])
    ctx = RunContext(device=device, dtype=torch.float64, seed=0, out_dir=tmp_path)
    problem = SpikePair(cfg.problem, ctx)
    result = MotifStudy(cfg.solver, ctx).solve(problem, Monitor([]))
    metrics, _ = problem.evaluate(result)
    assert result.solution["A"].device.type == device.type
    assert metrics["ncc"] > 0.99
    assert metrics["objective_decades"] > 1.0
    assert metrics["A_error"] < 0.05 and metrics["b_error_px"] < 0.2
