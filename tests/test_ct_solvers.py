"""The CT solvers (fista_tv, grid_search, bilevel) on a small stand-in for a `ct` problem: a dense random
operator with the interface regrun.problems.ct_fewview offers (A, sinogram, truth, mask, shape)."""
from pathlib import Path

import pytest
import torch

from fake_ct import FakeCT

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.solvers.bilevel import Bilevel, inner_iteration_bytes
from regrun.solvers.fista_tv import FistaTV
from regrun.solvers.grid_search import GridSearch

F64 = torch.float64


def _ctx(device):
    return RunContext(device, F64, 0, Path("."))


def test_fista_tv_records_history(device):
    cfg = config_section("solver", "fista_tv", lam=0.05, iters=30)
    monitor = Monitor()
    res = FistaTV(cfg, _ctx(device)).solve(FakeCT(device), monitor)
    hist = monitor.history.as_arrays()
    assert res.n_iter == 30 and hist["objective"][-1] < hist["objective"][0] and hist["loss"][-1] < 0.5


def test_grid_search_and_bilevel_agree(device):
    problem = FakeCT(device)
    grid = config_section("solver", "grid_search", iters=40, lam_min=0.004, lam_max=0.016, points=11)
    gres = GridSearch(grid, _ctx(device)).solve(problem, Monitor())
    cfg = config_section("solver", "bilevel", hypergradient="unrolled", iters=40, lam0=0.01, gamma0=50.0, grow=2.0,
                         max_outer=10, **{"memory.measure": False})
    monitor = Monitor()
    res = Bilevel(cfg, _ctx(device)).solve(problem, monitor)
    assert abs(res.metrics["lam"] / gres.metrics["lam"] - 1) < 0.1
    assert res.metrics["loss"] <= gres.metrics["loss"] * 1.01
    tables = res.tables
    assert "line_search" in tables and any(k.startswith("inner_") for k in tables)
    hist = monitor.history.as_arrays()
    assert len(hist["lam"]) == res.n_iter and "hypergradient" in hist
    # the learned weight where solver.lam=from:RUN reads it (regrun.record.learned_lam)
    assert res.metrics["lam_learned"] == res.metrics["lam"] and gres.metrics["lam_learned"] == gres.metrics["lam"]


def test_bilevel_implicit_records_its_adjoint_solves(device):
    """Implicit mode: each outer step's adjoint products and true residual in the history, the residual at the
    configured tolerance."""
    cfg = config_section("solver", "bilevel", hypergradient="implicit", iters=60, lam0=0.01, gamma0=50.0,
                         max_outer=2, adjoint_rtol=1e-9, **{"memory.measure": False})
    monitor = Monitor()
    Bilevel(cfg, _ctx(device)).solve(FakeCT(device), monitor)
    hist = monitor.history.as_arrays()
    assert len(hist["adjoint_iters"]) == len(hist["lam"]) >= 1
    assert (hist["adjoint_iters"] > 0).all() and (hist["adjoint_residual"] <= 1e-9).all()
    # how far x_N is from the fixed point implicit differentiates, per outer step
    assert len(hist["fixed_point_residual"]) == len(hist["lam"])
    assert ((hist["fixed_point_residual"] > 0) & (hist["fixed_point_residual"] < 1)).all()


def test_bilevel_needs_truth_and_valid_mode(device):
    problem = FakeCT(device)
    problem.truth = None
    with pytest.raises(UserError, match="ground truth"):
        Bilevel(config_section("solver", "bilevel"), _ctx(device)).solve(problem, Monitor())
    with pytest.raises(UserError, match="paper, unrolled, checkpointed, implicit"):
        Bilevel(config_section("solver", "bilevel", hypergradient="exact"), _ctx(device))
    with pytest.raises(UserError, match="solver.adjoint.*neumann, cg, gmres"):
        Bilevel(config_section("solver", "bilevel", adjoint="lu"), _ctx(device))
    with pytest.raises(UserError, match="solver.adjoint_rtol"):
        Bilevel(config_section("solver", "bilevel", adjoint_rtol=-1.0), _ctx(device))
    with pytest.raises(UserError, match="solver.restart.*auto, none, gradient"):
        Bilevel(config_section("solver", "bilevel", restart="function"), _ctx(device))
    with pytest.raises(UserError, match="solver.backtrack.*halve, quadratic"):
        Bilevel(config_section("solver", "bilevel", backtrack="cubic"), _ctx(device))


def test_inner_iteration_memory_ordering(device):
    """Claim C4/C5 in miniature: saved bytes per inner iteration GP > CV > aCV, float16 storage less still."""
    b = inner_iteration_bytes((20, 20, 2), torch.float32, device)
    assert b["gp"] > b["cv"] > b["acv"] > b["acv_fp16"] > 0
