"""CT's weight search (solver.lam=auto) under the run's time_limit (docs/ct.md "Twelfth round"): once the limit has
passed no new weight is solved, the answer is the best weight solved so far, and the run says so; as
super-resolution's search does (tests/test_parameter_choice.py)."""
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_in_process import regrun_in_process

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.problems.ct_fewview import CTFewView
from regrun.record import load
from regrun.solvers.fista_tv import FistaTV

F64 = torch.float64


def _problem(ctx):
    cfg = config_section("problem", "ct_fewview", phantom="shepp_logan", size=16, views=16, noise="gaussian",
                         noise_level=0.01)
    return CTFewView(cfg, ctx)


def _solve(device, rule, allowed):
    """lam=auto with a fake clock: out of time once `allowed` weights are solved (stop() is asked before each new
    weight once one is solved; None: never out of time)."""
    asked = [0]

    def out_of_time():
        asked[0] += 1
        return allowed is not None and asked[0] >= allowed

    ctx = RunContext(device, F64, 0, Path("."))
    ctx.out_of_time = out_of_time
    cfg = config_section("solver", "fista_tv", lam="auto", lam_rule=rule, iters=15, lam_solves=6, lam_cv_grid=3)
    return FistaTV(cfg, ctx).solve(_problem(ctx), Monitor())


@pytest.mark.parametrize("allowed", [1, 2, 4])
def test_cv_search_stops_at_the_time_limit_with_the_best_weight_so_far(device, allowed):
    free = _solve(device, "cv", None)
    cut = _solve(device, "cv", allowed)
    assert free.metrics["lam_fista_runs"] == 7 and "lam_search_stopped" not in free.stats  # 6 training runs + 1
    assert cut.metrics["lam_fista_runs"] == allowed + 1  # the weights solved and the run on all views
    assert cut.stats["lam_search_stopped"] == f"time limit, after {allowed} weight{'s' if allowed > 1 else ''}"
    assert "cut short by time_limit" in cut.message and "cut short" not in free.message
    assert cut.status == "stopped" and free.status == "max_iter"
    curve = cut.tables["lam_curve"]
    assert len(curve["lam"]) == min(allowed, 3)  # the grid's 3; the 4th weight is the guard's (other views)
    best = float(curve["lam"][np.argmin(curve["criterion"])])
    assert float(cut.stats["lam_cv_pick"]) == pytest.approx(best, rel=1e-5)  # the best held-out misfit solved
    x = cut.solution["x"]
    assert x.shape == (16, 16) and x.device.type == device.type and x.dtype == F64 and torch.isfinite(x).all()


def test_the_data_space_rules_stop_too(device):
    cut = _solve(device, "discrepancy", 2)
    assert cut.stats["lam_search_stopped"] == "time limit, after 2 weights" and cut.metrics["lam_solves"] == 2


def test_a_ct_run_past_its_time_limit_does_not_search_on(tmp_path, monkeypatch, capsys):
    """The CLI end to end: time_limit=1e-9 with lam=auto solves one weight, then the run on all views. In process
    (regrun.cli.main with sys.argv: the same command without two interpreter start-ups)."""
    args = ["problem=ct_fewview", "problem.size=16", "problem.views=16", "solver=fista_tv", "solver.lam=auto",
            "solver.iters=15", "figures=false"]
    runs = {}
    for name, extra in (("free", []), ("cut", ["time_limit=1e-9"])):
        out = tmp_path / name
        done = regrun_in_process(args + extra + [f"hydra.run.dir={out}"], tmp_path, monkeypatch, capsys)
        assert done.returncode == 0, done.stderr
        runs[name] = load(out)
    free, cut = runs["free"], runs["cut"]
    assert free["metrics"]["lam_fista_runs"] > 2 and "lam_search_stopped" not in free["stats"]
    assert cut["metrics"]["lam_fista_runs"] == 2
    assert cut["stats"]["lam_search_stopped"] == "time limit, after 1 weight"
    assert "cut short by time_limit" in cut["attrs"]["message"]
    assert cut["attrs"]["solver_stop"].startswith("time_limit=1e-09 s reached") and not free["attrs"]["solver_stop"]
    assert cut["attrs"]["status"] == "completed"
