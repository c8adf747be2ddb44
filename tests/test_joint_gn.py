"""joint_gn: the matrix-free Jacobian of r(w, f) = A(w) f - b against finite differences and its own adjoint,
a Taylor test, a tiny solve that lowers the objective, and config errors."""
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from regrun.config import PACKAGE_DIR, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.joint_gn import JointGN, JointLSQ

CONFIGS = PACKAGE_DIR.parent / "configs"
CTX = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))


def problem(**over):
    base = dict(size=12, frames=3, noise=0.01)
    return SuperRes(config_section("problem", "superres", **{**base, **over}), CTX)


def solver_cfg(**over):
    return config_section("solver", "joint_gn", **{"cg_iters": 20, **over})


@pytest.fixture(scope="module")
def point():
    p = problem()
    g = torch.Generator().manual_seed(5)
    w = p.w_true + 0.02 * torch.randn(p.w_true.shape, generator=g, dtype=torch.float64)
    f = p.truth.reshape(-1) + torch.randn(p.model.n, generator=g, dtype=torch.float64)
    lsq = JointLSQ(p.model, chunk=50)
    v = torch.randn(lsq.p + lsq.n, generator=g, dtype=torch.float64)
    # Scale the motion part like the image part's effect, so neither block hides the other's error.
    v[: lsq.p] *= 0.05
    return p, lsq, w, f, v


def test_jacobian_matches_finite_differences(point):
    _, lsq, w, f, v = point
    jac = lsq.jacobian(w, f)
    h = 1e-6
    dw, df = lsq.split(v)
    fd = (lsq.residual(w + h * dw, f + h * df) - lsq.residual(w - h * dw, f - h * df)) / (2 * h)
    assert float((jac.matvec(v) - fd).norm() / fd.norm()) < 1e-7


def test_jacobian_taylor(point):
    _, lsq, w, f, v = point
    jac = lsq.jacobian(w, f)
    r0, jv = lsq.residual(w, f), jac.matvec(v)
    dw, df = lsq.split(v)
    hs = (4e-2, 2e-2, 1e-2, 5e-3)
    e1 = [float((lsq.residual(w + h * dw, f + h * df) - r0 - h * jv).norm()) for h in hs]
    for a, b in zip(e1, e1[1:]):
        assert 3.4 < a / b < 4.6


def test_jacobian_adjoint_and_column_norms(point):
    p, lsq, w, f, v = point
    jac = lsq.jacobian(w, f)
    u = torch.randn(lsq.m, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    lhs, rhs = float(jac.matvec(v) @ u), float(v @ jac.rmatvec(u))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    norms = lsq.image_column_norms2(w)
    i = 17
    e = torch.zeros(lsq.n, dtype=torch.float64)
    e[i] = 1.0
    assert torch.isclose(norms[i], p.model.operator(w).matvec(e).pow(2).sum())


def test_reduces_objective():
    p = problem()
    mon = Monitor()
    res = JointGN(solver_cfg(max_iter=4, inner_iters=30), CTX).solve(p, mon)
    hist = mon.history.as_arrays()
    assert hist["J"][-1] < hist["J"][0]
    assert all(a >= b for a, b in zip(hist["J"], hist["J"][1:]))
    metrics, _ = p.evaluate(res)
    assert metrics["psnr"] > 10 and metrics["rel_error_solver_f"] < 0.5


@pytest.mark.parametrize("over,match", [
    ({"inner_iters": 0}, "inner_iters"),
    ({"inner_tol": -1.0}, "inner_tol"),
    ({"tau": 0.0}, "tau"),
    ({"init": "magic"}, "solver.init"),
    ({"init_image": "zeros"}, "init_image"),
    ({"max_iter": 2.5}, "max_iter"),
])
def test_bad_options(over, match):
    with pytest.raises(UserError, match=match):
        JointGN(solver_cfg(**over), CTX)


def test_same_minimiser_as_varpro():
    """joint_gn and varpro_cg minimise the same ||A(w) f - b||^2; on a tiny noisy case both reach the same
    objective and motion (a cross-check of both solvers, independent of either's Jacobian)."""
    from regrun.solvers.varpro_cg import VarProCG

    p = problem()
    jg = JointGN(solver_cfg(max_iter=12, inner_iters=100, cg_iters=100), CTX).solve(p, Monitor())
    vcfg = OmegaConf.load(CONFIGS / "solver" / "varpro_cg.yaml")
    vcfg.cg_iters, vcfg.jacobian, vcfg.max_iter = 100, "implicit", 8
    vp = VarProCG(vcfg, CTX).solve(p, Monitor())
    m_jg, m_vp = p.evaluate(jg)[0], p.evaluate(vp)[0]
    assert abs(m_jg["objective"] - m_vp["objective"]) <= 1e-6 * m_vp["objective"]
    assert abs(m_jg["motion_error"] - m_vp["motion_error"]) <= 1e-3 * m_vp["motion_error"]
