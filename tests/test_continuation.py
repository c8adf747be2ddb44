"""Multiscale and predictor-corrector registration: the scale-ODE predictor, mixed derivatives, options."""

import pytest
import torch
from torch.func import grad

from regrun.config import compose
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.checks import taylor_test
from regrun.monitor import Monitor
from regrun.registry import PROBLEMS, SOLVERS
from regrun.registration.continuation import modified_newton_solve, parse_thetas
from regrun.registration.local_steps import minimise_at_scale

CTX = RunContext(torch.device("cpu"), torch.float64, 0, "/tmp")


def make(overrides):
    cfg = compose(overrides)
    return PROBLEMS.get(cfg.problem.name)(cfg.problem, CTX), cfg


@pytest.fixture(scope="module")
def small():
    problem, cfg = make(["problem.synthetic.size=16", "problem.synthetic.angle=6", "problem.synthetic.texture=0.1"])
    return problem


def test_mixed_derivative_taylor(small):
    """||g(theta + e) - g(theta) - e b|| must fall like e^2 (second-order Taylor remainder)."""
    w = small.identity + torch.tensor([0.02, -0.01, 0.01, 0.03, 0.2, -0.1], dtype=torch.float64)
    theta = 0.7
    b = small.mixed_derivative(w, theta)
    assert torch.allclose(b, small.mixed_derivative(w, theta, mode="fwd"), rtol=1e-9)
    gw = grad(small.objective, argnums=0)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    errs = taylor_test(lambda th: gw(w, th), t(theta), t(1.0), first=b, steps=(1e-1, 5e-2, 2.5e-2)).errors[1]
    assert errs[0] / errs[1] > 3.5 and errs[1] / errs[2] > 3.5, errs


def _w_star(problem, theta, w0):
    cfg = compose(["solver.optimizer=trust_exact"]).solver
    return minimise_at_scale(problem.at_scale(theta), w0, cfg, None, gtol=1e-11, max_iter=200).w


def test_predictor_direction_matches_finite_differences_of_w_star(small):
    """-H^-1 d/dtheta grad J at w*(theta) is dw*/dtheta; compare with central differences of converged w*."""
    theta, d = 1.0, 1e-3
    w = _w_star(small, theta, small.identity.clone())
    scale = small.at_scale(theta)
    v, lam_min = modified_newton_solve(scale.hessian(w), -small.mixed_derivative(w, theta))
    assert lam_min > 0  # at a minimiser the exact Hessian is positive definite: no modification happened
    fd = (_w_star(small, theta + d, w) - _w_star(small, theta - d, w)) / (2 * d)
    assert float((v - fd).norm() / fd.norm()) < 1e-3, (v, fd)


def test_modified_newton_flips_negative_curvature():
    h = torch.diag(torch.tensor([2.0, -4.0], dtype=torch.float64))
    b = torch.tensor([2.0, 4.0], dtype=torch.float64)
    x, lam_min = modified_newton_solve(h, b)
    assert lam_min == -4.0 and torch.allclose(x, torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_predictor_corrector_reduces_start_error(small):
    cfg = compose(["solver=predictor_corrector", "solver.thetas=[10.0, 3.0, 1.0]", "solver.gtol=1e-8"]).solver
    res = SOLVERS.get("predictor_corrector")(cfg, CTX).solve(small, Monitor())
    lv = res.tables["levels"]
    assert (lv["grad_pred"][1:] < lv["grad_unpred"][1:]).all()
    assert lv["used_prediction"][1:].all() and not lv["used_prediction"][0]


@pytest.mark.parametrize("step_in", ["theta", "log_theta"])
def test_multiscale_recovers_where_single_scale_fails(step_in):
    """A 45-degree rotation on 24x24: the continuation reaches the truth, single scale at theta=1e-3 does not."""
    problem, cfg = make(["problem.synthetic.size=24", "problem.synthetic.angle=45", "solver=predictor_corrector",
                         "solver.logspace=[2, -3, 6]", "solver.gtol=1e-6", f"solver.step_in={step_in}",
                         "solver.baselines=[multiscale, single_scale]"])
    res = SOLVERS.get("predictor_corrector")(cfg.solver, CTX).solve(problem, Monitor())
    m = res.metrics
    assert m["disp_rmse_multiscale"] < 0.05 and m["disp_rmse_predictor_corrector"] < 0.05
    assert m["disp_rmse_single_scale"] > 1.0
    assert m["single_scale_fails"] == 1.0


@pytest.mark.parametrize("override, match", [
    ("solver.step_in=sqrt", "step_in"),
    ("solver.hessian=bfgs", "hessian"),
    ("solver.thetas=[1, 10]", "decreasing"),
    ("solver.logspace=[1, -1]", "logspace"),
    ("solver.thetas=[]", "empty"),
    ("solver.thetas=3", "list"),
    ("solver.gtol=-1", "gtol"),
    ("solver.baselines=[newton]", "baselines"),
])
def test_bad_options_are_user_errors(override, match):
    cfg = compose(["solver=predictor_corrector", override])
    with pytest.raises(UserError, match=match):
        SOLVERS.get("predictor_corrector")(cfg.solver, CTX)


def test_log_theta_needs_positive_thetas():
    cfg = compose(["solver=multiscale", "solver.thetas=[1.0, 0.0]", "solver.step_in=log_theta"])
    with pytest.raises(UserError, match="log"):
        SOLVERS.get("multiscale")(cfg.solver, CTX)


def test_parse_thetas_logspace():
    assert parse_thetas("t", {"start": 3, "stop": -3, "num": 7}) == pytest.approx([1e3, 1e2, 10, 1, 0.1, 1e-2, 1e-3])


@pytest.mark.parametrize("name", ["registration_fig2", "registration_fig3", "registration_table1"])
def test_presets_compose(name, device):
    cfg = compose([f"+experiment={name}", f"device={device.type}"])
    assert cfg.solver.name in SOLVERS.names() and cfg.device.name == device.type
    assert len(cfg.paper) > 0
    SOLVERS.get(cfg.solver.name)(cfg.solver, RunContext(device, torch.float64, 0, "/tmp"))  # options validate
