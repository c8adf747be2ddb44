"""Affine registration at one scale: derivative Taylor tests and recovery of a known transform."""

import pytest
import torch
from omegaconf import OmegaConf
from torch.func import grad, hessian, jacfwd

from regrun.context import RunContext
from regrun.linalg.checks import taylor_test
from regrun.monitor import Monitor
from regrun.problems.multiscale_affine import MultiscaleAffine
from regrun.solvers.single_scale import SingleScale


def make_problem(tmp_path, **synthetic):
    base = OmegaConf.load("configs/problem/multiscale_affine.yaml")
    base.synthetic.size = 24
    for k, v in synthetic.items():
        base.synthetic[k] = v
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, tmp_path)
    return MultiscaleAffine(base, ctx)


@pytest.mark.parametrize("theta", [0.0, 1.0])
def test_taylor_gradient_and_hessian(tmp_path, theta):
    problem = make_problem(tmp_path)
    J = problem.at_scale(theta).objective
    w = problem.identity + torch.tensor([0.02, -0.03, 0.01, -0.02, 0.3, -0.2], dtype=torch.float64)
    v = torch.tensor([0.01, 0.02, -0.015, 0.01, 0.2, 0.3], dtype=torch.float64)
    g, H = grad(J)(w), hessian(J)(w)
    res = taylor_test(J, w, v, first=g @ v, second=v @ H @ v)  # steps 1/4 ... 1/64
    assert all(0.8 < s < 1.2 for s in res.slopes(0)), res
    assert all(1.8 < s < 2.2 for s in res.slopes(1)), res
    # the cubic spline's third derivative jumps at knots, so the second-order remainder is O(h^3) only
    # almost everywhere; require at least O(h^2.5) on average
    assert res.order(2) > 2.5, res
    assert torch.allclose(H, H.T, rtol=1e-10, atol=1e-8 * float(H.abs().max()))


def test_residual_jacobian_matches_objective_gradient(tmp_path):
    problem = make_problem(tmp_path)
    scale = problem.at_scale(0.1)
    w = problem.identity + 0.01
    r, jac = scale.residual(w), jacfwd(scale.residual)(w)
    assert torch.allclose(2 * jac.T @ r, grad(scale.objective)(w), rtol=1e-10)


def test_theta_derivative_of_gradient_taylor(tmp_path):
    problem = make_problem(tmp_path)
    w = problem.identity + 0.01
    g = lambda th: grad(problem.objective)(w, th)  # noqa: E731
    th0 = torch.tensor(0.5, dtype=torch.float64)
    dg = torch.func.jacfwd(g)(th0)
    res = taylor_test(g, th0, torch.tensor(1.0, dtype=torch.float64), first=dg, steps=[1e-2, 5e-3, 2.5e-3])
    assert all(1.8 < s < 2.2 for s in res.slopes(1)), res


@pytest.mark.parametrize("optimizer", ["trust_exact", "lm"])
def test_recovers_known_affine(tmp_path, optimizer):
    problem = make_problem(tmp_path, angle=6.0, scale=[1.04, 0.97], shift=[0.03, -0.02], texture=0.0)
    cfg = OmegaConf.create({"optimizer": optimizer, "theta": 0.0, "gtol": 1e-8, "max_iter": 200, "tau": 1e-3})
    solver = SingleScale(cfg, problem.ctx)
    result = solver.solve(problem, Monitor())
    assert result.status == "converged", result.message
    metrics, arrays = problem.evaluate(result)
    assert metrics["disp_rmse_initial"] > 1.0
    # block-averaged data: no interpolation model is exact, so allow a few hundredths of a pixel
    assert metrics["disp_rmse"] < 0.05, metrics
    assert metrics["tre"] < 0.05 * metrics["tre_initial"]


def test_rotating_the_template_moves_truth_and_landmarks(tmp_path):
    plain = make_problem(tmp_path, angle=0.0, scale=[1.0, 1.0], shift=[0.0, 0.0])
    base = OmegaConf.load("configs/problem/multiscale_affine.yaml")
    base.synthetic.size = 24
    base.synthetic.update(angle=0.0, scale=[1.0, 1.0], shift=[0.0, 0.0])
    base.rotate_template = 180
    rotated = MultiscaleAffine(base, plain.ctx)
    # a 180 degree turn of a cell-centred grid is an exact flip
    assert torch.allclose(rotated.template, plain.template.flip(0, 1), atol=1e-9)
    # the true transform is the half-turn about the centre, and it maps reference landmarks onto template ones
    assert rotated.tre(rotated.w_true) < 1e-9
    assert rotated.displacement_rmse(rotated.w_true) == 0.0


@pytest.mark.parametrize("theta,margin", [(0.0, 0), (2.0, 3)])
def test_structured_derivatives_equal_plain_autodiff(tmp_path, theta, margin):
    """The pointwise-chain-rule Jacobian and Hessian of a ScaleObjective equal torch.func's over the whole map,
    including at points that leave the domain."""
    problem = make_problem(tmp_path)
    scale = problem.at_scale(theta, margin)
    w = problem.identity + torch.tensor([0.05, -0.1, 0.08, 0.03, 2.0, -1.5], dtype=torch.float64)
    assert torch.allclose(scale.jacobian(w), jacfwd(scale.residual)(w), rtol=1e-10, atol=1e-10)
    value, g = scale.value_and_grad(w)
    assert torch.allclose(value, scale.objective(w), rtol=1e-12)
    assert torch.allclose(g, grad(scale.objective)(w), rtol=1e-10, atol=1e-10 * float(g.abs().max()))
    h_ref = hessian(scale.objective)(w)
    assert torch.allclose(scale.hessian(w), h_ref, rtol=1e-9, atol=1e-9 * float(h_ref.abs().max()))
