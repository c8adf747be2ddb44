"""Every registered problem x fitting solver pair has tiny settings in configs/ci/ and runs end to end with them.

The pairs come from the registries, so a problem or solver added later is covered without editing this file:
until its configs/ci/<problem>__<solver>.yaml exists, the test fails and names the pair.
"""
from __future__ import annotations

import math

import pytest
import torch

from regrun.config import compose, config_dir, group_options
from regrun.record import load
from regrun.registry import PROBLEMS, SOLVERS, fits
from regrun.run import run


def fitting_pairs() -> list[tuple[str, str]]:
    # Names starting with "_" are registered by tests for tests (e.g. a solver that raises on purpose).
    public = lambda names: [n for n in names if not n.startswith("_")]  # noqa: E731
    return [(p, s) for p in public(PROBLEMS.names()) for s in public(SOLVERS.names())
            if fits(PROBLEMS.get(p), SOLVERS.get(s))]


PAIRS = fitting_pairs()


def test_there_are_pairs_to_run():
    assert ("multiscale_affine", "single_scale") in PAIRS


def test_every_ci_preset_is_a_fitting_pair():
    for name in group_options("ci"):
        problem, _, solver = name.partition("__")
        assert (problem, solver) in PAIRS, f"configs/ci/{name}.yaml names no registered fitting pair"
        cfg = compose([f"+ci={name}"])
        assert (cfg.problem.name, cfg.solver.name) == (problem, solver), f"configs/ci/{name}.yaml selects " \
            f"{cfg.problem.name} x {cfg.solver.name}"


@pytest.mark.parametrize("problem,solver", PAIRS, ids=[f"{p}__{s}" for p, s in PAIRS])
def test_pair_runs_with_tiny_settings(problem, solver, tmp_path, device, device_audit):
    name = f"{problem}__{solver}"
    if not (config_dir() / "ci" / f"{name}.yaml").is_file():
        pytest.fail(f"{problem} x {solver} has no tiny CI settings: add configs/ci/{name}.yaml "
                    "(see the others there)")
    overrides = [f"+ci={name}", f"device={device.type}"]
    audit = device_audit(device, torch.float64)
    with audit:
        outcome = run(compose(overrides), tmp_path, overrides)
    assert outcome.status == "completed", f"{name}: {outcome.status}: {outcome.error}"
    assert not audit.breaches, f"{name} made tensors without naming their device:\n{audit.report()}"
    saved = load(outcome.results_path)
    assert saved["attrs"]["status"] == "completed"
    assert saved["attrs"]["problem"] == problem and saved["attrs"]["solver"] == solver
    assert saved["metrics"], f"{name} recorded no final metrics"
    assert all(math.isfinite(v) for v in saved["metrics"].values() if isinstance(v, float))
