"""The direct (Cholesky) projection of super-resolution and its exact Jacobian: the pieces (spline gradient
stencil, dA f and dA^T r, the dense normal matrix) against AD and the matrix-free operator, the projection
against a tight CG solve, the Jacobian against finite differences (Taylor test) and CG's implicit Jacobian."""
from pathlib import Path

import pytest
import torch
from superres_checks import assert_operator_derivatives_match_ad

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.grid import Grid
from regrun.imaging.interpolation import SplineCoefficients, Stencil
from regrun.linalg.cg import cg, diff_mode
from regrun.linalg.checks import taylor_test
from regrun.linalg.direct import CholeskyLSQ, normal_matrix
from regrun.linalg.dottest import dot_test
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_projection import (
    CHOLESKY_MAX_PIXELS,
    DirectProjectedResidual,
    ProjectedResidual,
    pick_linear,
)
from regrun.solvers.varpro_cg import VarProCG


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


@pytest.fixture
def case(ctx):
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01), ctx)
    gen = torch.Generator().manual_seed(3)
    w = p.w_true + ctx.tensor(0.02 * torch.randn(p.w_true.shape, generator=gen, dtype=torch.float64))
    v = ctx.tensor(torch.randn(w.shape, generator=gen, dtype=torch.float64))
    return p, w, v / v.norm()


def test_gradient_stencil(device):
    grid = Grid((0.0, 20.0, 0.0, 25.0), (10, 12))
    gen = torch.Generator().manual_seed(0)
    c = SplineCoefficients(grid, device=device).apply(torch.randn(10, 12, generator=gen, dtype=torch.float64)
                                                      .to(device))
    x = (torch.rand(3, 40, 2, generator=gen, dtype=torch.float64) * torch.tensor([24.0, 30.0]) - 2).to(device)
    st = Stencil.at(grid, x, with_gradient=True)
    grad = st.gather_gradient(c)
    for d in range(2):
        e = torch.zeros(2, dtype=torch.float64, device=device)
        e[d] = 1e-6
        fd = (Stencil.at(grid, x + e).gather(c) - Stencil.at(grid, x - e).gather(c)) / 2e-6
        assert float((fd - grad[..., d]).abs().max()) < 1e-7
    y = torch.randn(3, 40, 2, generator=gen, dtype=torch.float64).to(device)
    back = st.scatter_gradient(y, c.numel())  # per stencil batch entry
    assert abs(float((grad * y).sum() - (c * back.sum(0)).sum())) < 1e-10 * float(grad.abs().sum())


def test_operator_derivatives_match_ad(case):
    p, w, _ = case
    m = p.model
    f = torch.randn(m.n, dtype=torch.float64, device=w.device)
    r = torch.randn(m.n_data + m.n_reg, dtype=torch.float64, device=w.device)
    assert_operator_derivatives_match_ad(m, w, f, r)


def test_normal_matrix_matches_operator(case):
    p, w, _ = case
    gram = p.model.normal_matrix(w)
    ref = normal_matrix(p.model.operator(w), chunk=50)
    assert gram.device == w.device
    assert float((gram - ref).abs().max() / ref.abs().max()) < 1e-12


def test_dense_operator_matches_operator(case):
    p, w, _ = case
    op, dense = p.model.operator(w), p.model.dense_operator(w)
    assert dot_test(dense) < 1e-13
    x = torch.randn(5, p.model.n, dtype=torch.float64, device=w.device)
    y = torch.randn(5, op.shape[0], dtype=torch.float64, device=w.device)
    assert float((dense.matvec(x) - op.matvec(x)).abs().max() / op.matvec(x).abs().max()) < 1e-13
    assert float((dense.rmatvec(y) - op.rmatvec(y)).abs().max() / op.rmatvec(y).abs().max()) < 1e-13


def test_cholesky_projection_equals_tight_cg(case):
    p, w, _ = case
    m = p.model
    op = m.operator(w)
    f_direct = CholeskyLSQ(op, m.normal_matrix(w)).lstsq(m.b)
    f_cg = cg(op.normal(), op.rmatvec(m.b), m.initial_image(), iters=3000, rtol=1e-14).x
    assert float((f_direct - f_cg).norm() / f_cg.norm()) < 1e-9


def test_cholesky_jacobian_taylor_fd_and_implicit_cg(case):
    p, w, v = case
    direct = DirectProjectedResidual(p.model)
    r0, jac = direct.residual_and_jacobian(w)
    jv = jac @ v
    e0, e1 = taylor_test(direct.residual, w, v, first=jv, steps=(4e-3, 2e-3, 1e-3, 5e-4)).errors
    for a, b in zip(e0, e0[1:]):
        assert 1.7 < a / b < 2.3
    for a, b in zip(e1, e1[1:]):
        assert 3.4 < a / b < 4.6
    h = 1e-5
    fd = (direct.residual(w + h * v) - direct.residual(w - h * v)) / (2 * h)
    assert float((jv - fd).norm() / fd.norm()) < 1e-7


def test_cholesky_jacobian_equals_implicit_cg(ctx):
    p = SuperRes(config_section("problem", "superres", size=8, n_frames=3, noise=0.01), ctx)
    w = p.w_true + 0.01
    jac = DirectProjectedResidual(p.model).residual_and_jacobian(w)[1]
    _, jac_cg = ProjectedResidual(p.model, diff_mode("implicit"), 100, rtol=1e-13).residual_and_jacobian(w)
    assert float((jac - jac_cg).norm() / jac_cg.norm()) < 1e-8


def test_cholesky_none_is_partial_derivative(case):
    p, w, v = case
    none = DirectProjectedResidual(p.model, exact=False)
    _, jac = none.residual_and_jacobian(w)
    f = none.project(w)
    h = 1e-5
    fd = (p.model.residual(w + h * v, f) - p.model.residual(w - h * v, f)) / (2 * h)
    assert float((jac @ v - fd).norm() / fd.norm()) < 1e-7


def test_pick_linear():
    full, tail = diff_mode("full"), diff_mode("tail", 0.9)
    assert pick_linear("auto", CHOLESKY_MAX_PIXELS, full) == "cholesky"
    assert pick_linear("auto", CHOLESKY_MAX_PIXELS + 1, full) == "pcg"
    assert pick_linear("auto", 100, tail) == "cg"
    assert pick_linear("cg", 100, full) == "cg"
    with pytest.raises(UserError, match="solver.linear=cg"):
        pick_linear("cholesky", 100, tail)
    with pytest.raises(UserError, match="solver.linear"):
        VarProCG(config_section("solver", "varpro_cg", cg_iters=10, linear="lu"), None)


def test_cholesky_solve_lowers_objective(case, ctx):
    p, _, _ = case
    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=10, linear="cholesky", max_iter=3), ctx)
    mon = Monitor()
    res = solver.solve(p, mon)
    hist = mon.history.as_arrays()
    assert hist["J"][-1] < hist["J"][0] and res.stats["linear"] == "cholesky"
