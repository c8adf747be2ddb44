"""The CT solvers (fista_tv, grid_search, bilevel) on a small stand-in for a `ct` problem: a dense random
operator with the interface regrun.problems.ct_fewview offers (A, sinogram, truth, mask, shape)."""
import math
from pathlib import Path

import pytest
import torch
from fake_ct import FakeCT

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.optim.bilevel import BilevelLoss
from regrun.solvers.bilevel import Bilevel, inner_iteration_bytes
from regrun.solvers.fista_tv import FistaTV
from regrun.solvers.grid_search import GridSearch
from regrun.tomography.fista_tv import lipschitz, make_fista

F64 = torch.float64


def _ctx(device):
    return RunContext(device, F64, 0, Path("."))


def test_fista_tv_records_history(device):
    cfg = config_section("solver", "fista_tv", lam=0.05, iters=30)
    monitor = Monitor()
    res = FistaTV(cfg, _ctx(device)).solve(FakeCT(device), monitor)
    hist = monitor.history.as_arrays()
    assert res.n_iter == 30 and hist["objective"][-1] < hist["objective"][0] and hist["loss"][-1] < 0.5
    assert res.solution["label"].startswith("FISTA-TV (prox cv), lam=0.05")  # the figure's title: the prox named


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
    """Implicit mode: each outer step's FISTA iterations, fixed-point residual reached (at the configured
    tolerance: implicit differentiates the fixed point) and adjoint products and true residual in the history,
    the line-search trials' iterations and residuals in its table."""
    cfg = config_section("solver", "bilevel", hypergradient="implicit", lam0=0.01, gamma0=50.0, max_outer=2,
                         adjoint_rtol=1e-9, **{"memory.measure": False, "grid.points": 2, "grid.refine": 0,
                                               "grid.lam_min": 0.005, "grid.lam_max": 0.02})
    monitor = Monitor()
    problem = FakeCT(device)
    res = Bilevel(cfg, _ctx(device)).solve(problem, monitor)
    hist = monitor.history.as_arrays()
    assert len(hist["adjoint_iters"]) == len(hist["lam"]) >= 1
    assert (hist["adjoint_iters"] > 0).all() and (hist["adjoint_residual"] <= 1e-9).all()
    assert len(hist["fixed_point_residual"]) == len(hist["lam"]) == len(hist["lower_iters"])
    assert ((hist["fixed_point_residual"] > 0) & (hist["fixed_point_residual"] <= cfg.fixed_point_tol)).all()
    assert ((hist["lower_iters"] > 0) & (hist["lower_iters"] < cfg.fixed_point_max_iters)).all()
    trials = res.tables["line_search"]
    assert (trials["fixed_point_residual"] <= cfg.fixed_point_tol).all() and len(trials["lower_iters"]) >= 1
    assert res.stats["fixed_point_unconverged_steps"] == 0 and "WARNING" not in res.message
    # the paper's hypergradient beside it is the released graph at `iters` FISTA iterations, not at implicit's cap
    L = lipschitz(problem, cfg)
    paper = BilevelLoss(make_fista(problem, cfg, L), problem.truth, int(cfg.iters), "paper", "log", problem.mask,
                        make_fista(problem, cfg, L, paper=True))
    assert res.metrics["hypergradient_at_grid_paper"] == paper.value_and_grad(math.log(res.metrics["lam_grid"])).grad


def test_bilevel_implicit_warns_when_the_lower_level_is_not_converged(device, capsys):
    """A cap the tolerance cannot reach (30 FISTA iterations): the run goes on, but says on stderr, in its
    message and stats that the implicit hypergradient is not exact there; fixed_point_tol=0 runs exactly
    solver.iters and warns the same way."""
    for over in ({"fixed_point_max_iters": 30}, {"fixed_point_tol": 0.0, "iters": 30}):
        cfg = config_section("solver", "bilevel", hypergradient="implicit", lam0=0.01, gamma0=50.0,
                             max_outer=2, **over, **{"memory.measure": False})
        monitor = Monitor()
        res = Bilevel(cfg, _ctx(device)).solve(FakeCT(device), monitor)
        hist = monitor.history.as_arrays()
        assert (hist["lower_iters"] == 30).all() and (hist["fixed_point_residual"] > 1e-6).all()
        assert res.stats["fixed_point_unconverged_steps"] == res.n_iter
        assert res.stats["fixed_point_residual_max"] == hist["fixed_point_residual"].max()
        assert "WARNING" in res.message and "not exact" in res.message
        err = capsys.readouterr().err
        assert err.count("WARNING") == 1 and "implicit differentiates FISTA's fixed point" in err
        assert "unrolled or checkpointed" in err


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
    with pytest.raises(UserError, match="solver.fixed_point_tol"):
        Bilevel(config_section("solver", "bilevel", fixed_point_tol=-1e-10), _ctx(device))
    with pytest.raises(UserError, match="solver.fixed_point_max_iters"):
        Bilevel(config_section("solver", "bilevel", fixed_point_max_iters=0), _ctx(device))


def test_inner_iteration_memory_ordering(device):
    """Claim C4/C5 in miniature: saved bytes per inner iteration GP > CV > aCV, float16 storage less still."""
    b = inner_iteration_bytes((20, 20, 2), torch.float32, device)
    assert b["gp"] > b["cv"] > b["acv"] > b["acv_fp16"] > 0
