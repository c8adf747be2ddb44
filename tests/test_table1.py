"""Table 1 timing solver and the neural-ODE transformation."""
import torch

from regrun.config import compose
from regrun.context import RunContext
from regrun.registration import neural_ode
from regrun.monitor import Monitor
from regrun.registry import PROBLEMS, SOLVERS

CTX = RunContext(torch.device("cpu"), torch.float64, 0, "/tmp")


def test_neural_ode_has_50_parameters_and_flows_constant_velocity():
    assert neural_ode.n_params() == 50
    w = torch.zeros(50, dtype=torch.float64)
    w[-2:] = torch.tensor([0.3, -0.2], dtype=torch.float64)
    x = torch.rand(7, 2, dtype=torch.float64)
    assert torch.allclose(neural_ode.flow(w, x), x + w[-2:])


def test_ad_cost_jacobian_variants_agree_and_metrics_exist():
    cfg = compose(["problem.synthetic.size=12", "solver=ad_cost", "solver.repeats=2"])
    problem = PROBLEMS.get(cfg.problem.name)(cfg.problem, CTX)
    solver = SOLVERS.get("ad_cost")(cfg.solver, CTX)
    variants, sample, _ = solver.functions(problem, "node50")
    w = sample()
    j = variants["jacobian"]
    assert torch.allclose(j["jacfwd"](w), j["vmap(grad)"](w), atol=1e-10)
    assert torch.allclose(j["jacfwd"](w), j["pointwise"](w), atol=1e-10)
    h = variants["hessian"]
    assert torch.allclose(h["jacrev(jacrev)"](w), h["jacfwd(jacrev)"](w), rtol=1e-8, atol=1e-6)
    res = solver.solve(problem, Monitor())
    m = res.metrics
    for model in ("affine", "node50"):
        for q in ("gradient", "hessian", "jacobian"):
            assert m[f"factor_{q}_{model}"] > 0
    assert len(res.tables["timing"]["quantity"]) == 20  # every method of every quantity, both models


def test_ad_cost_affine_variants_agree():
    cfg = compose(["solver=ad_cost", "problem.synthetic.size=16"])
    problem = PROBLEMS.get(cfg.problem.name)(cfg.problem, CTX)
    variants, sample, _ = SOLVERS.get("ad_cost")(cfg.solver, CTX).functions(problem, "affine")
    w = sample()
    j, h, g = variants["jacobian"], variants["hessian"], variants["gradient"]
    assert torch.allclose(g["pointwise"](w)[1], g["grad"](w), rtol=1e-9)
    assert torch.allclose(j["jacfwd"](w), j["pointwise"](w), atol=1e-10)
    h_ref = h["jacrev(jacrev)"](w)
    assert torch.allclose(h["pointwise"](w), h_ref, rtol=1e-9, atol=1e-9 * float(h_ref.abs().max()))
