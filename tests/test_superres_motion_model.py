"""problem.motion_model (translation | rigid | affine): the map from a model's parameters to the affine motions the
forward model uses, the chain rule through every projection (Taylor test of the exact Jacobian, the image-fixed
block model against the dense one), the pre-registration with the restricted model, a solve, and the errors."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.transforms import affine
from regrun.monitor import Monitor
from regrun.optim.levenberg_marquardt import DenseLinearization
from regrun.problems.superres import SuperRes
from regrun.registration.superres_motion import MotionModel
from regrun.registration.superres_projection import (
    DirectProjectedResidual,
    IterativeProjectedResidual,
    parametrized,
)
from regrun.registration.superres_start import start_params
from regrun.solvers.joint_gn import JointGN
from regrun.solvers.varpro_cg import VarProCG
from superres_checks import assert_taylor_orders


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def rigid_problem(ctx, model, **kw):
    """Frames moved by rotations about the centre and shifts only (scale 1), so every model can hold them."""
    cfg = dict(size=12, n_frames=3, noise=0.01, lambda_f=0.1, motion_model=model, **{"motion.scale": [1.0, 1.0]})
    cfg.update(kw)
    return SuperRes(config_section("problem", "superres", **cfg), ctx)


@pytest.mark.parametrize("name", ["translation", "rigid", "affine"])
def test_to_affine_moves_points_as_the_transformation(name, device):
    motion = MotionModel(name, (6.0, 7.5), 2)
    gen = torch.Generator().manual_seed(0)
    p = motion.identity(device=device) + 0.1 * torch.randn(motion.n_params, generator=gen,
                                                           dtype=torch.float64).to(device)
    x = (torch.rand(30, 2, generator=gen, dtype=torch.float64) * 12).to(device)
    w = motion.to_affine(p)
    assert w.shape == (12,) and w.device == p.device
    for j in range(2):
        want = motion.transform.points(p[motion.d * j:motion.d * (j + 1)], x)
        assert float((affine(w[6 * j:6 * j + 6], x) - want).abs().max()) < 1e-13
    # the block Jacobian against central differences
    blocks, v = motion.blocks(p), torch.randn(motion.n_params, generator=gen, dtype=torch.float64).to(device)
    fd = (motion.to_affine(p + 1e-6 * v) - motion.to_affine(p - 1e-6 * v)) / 2e-6
    assert float((motion.dense_jacobian(p) @ v - fd).abs().max()) < 1e-8
    assert blocks.shape == (2, 6, motion.d)


@pytest.mark.parametrize("name", ["translation", "rigid"])
def test_parametrized_exact_jacobian_taylor_and_blocks(name, ctx):
    p = rigid_problem(ctx, name)
    motion = p.motion
    gen = torch.Generator().manual_seed(1)
    p0 = motion.identity(p.model.dtype, p.model.device) + ctx.tensor(
        0.02 * torch.randn(motion.n_params, generator=gen, dtype=torch.float64))
    v = ctx.tensor(torch.randn(motion.n_params, generator=gen, dtype=torch.float64))
    v = v / v.norm()
    for rfun in (IterativeProjectedResidual(p.model, exact=True, rtol=1e-13), DirectProjectedResidual(p.model)):
        par = parametrized(rfun, motion)
        r, jac = par.residual_and_jacobian(p0)
        assert jac.shape == (r.shape[0], motion.n_params)
        jv = jac @ v
        assert_taylor_orders(par.residual, p0, r, jv, v)
    # the image-fixed model on blocks, chained, equals the dense image-fixed Jacobian chained
    fixed = parametrized(IterativeProjectedResidual(p.model, exact=False, rtol=1e-13), motion)
    r, jac = fixed.residual_and_jacobian(p0)
    lin, dense = fixed.linearize(p0), DenseLinearization(r[None], jac[None])
    assert float((lin.jtr - dense.jtr[0]).norm() / dense.jtr.norm()) < 1e-12
    assert float((lin.apply(v) - jac @ v).norm() / (jac @ v).norm()) < 1e-12
    jtj = jac.T @ jac
    s_d = -torch.linalg.solve(jtj + 0.1 * torch.diag(torch.diagonal(jtj)), jac.T @ r)
    assert float((lin.step(0.1) - s_d).norm() / s_d.norm()) < 1e-10


def test_rigid_preregistration_and_solve(ctx):
    p = rigid_problem(ctx, "rigid", size=24, n_frames=4, noise=0.0)
    p0 = start_params(p, "preregister")
    assert p0.shape == (9,) and p.motion_error(p.motion.to_affine(p0)) < 0.05
    for linear in ("cholesky", "pcg"):
        res = VarProCG(config_section("solver", "varpro_cg", linear=linear, max_iter=3), ctx).solve(p, Monitor())
        w = res.solution["w"]
        assert w.shape == (18,) and "rigid motion" in res.solution["label"]
        # a rigid motion: each frame's linear part is a rotation
        mats = w.reshape(3, 6)[:, :4].reshape(3, 2, 2)
        eye = torch.eye(2, dtype=w.dtype, device=w.device)
        assert float((mats @ mats.transpose(-1, -2) - eye).abs().max()) < 1e-12
        assert p.motion_error(w) < 0.05


def test_bad_motion_model_and_unsupported_solver(ctx):
    with pytest.raises(UserError, match="problem.motion_model='shear' is not valid; allowed: translation"):
        rigid_problem(ctx, "shear")
    p = rigid_problem(ctx, "translation")
    with pytest.raises(UserError, match="motion_model=translation is not supported by solver=joint_gn"):
        JointGN(config_section("solver", "joint_gn", max_iter=1), ctx).solve(p, Monitor())
    with pytest.raises(UserError, match="solver.init=truth starts from the true affine motion"):
        start_params(p, "truth")


def test_motion_weight_estimates_motion_at_a_share_of_lambda(ctx):
    """problem.motion_weight < 1: LM runs at that share of lambda_f (another motion), the solution's image and the
    model's weight are lambda_f's again."""
    runs = {}
    for share in (1.0, 0.3):
        p = rigid_problem(ctx, "translation", size=24, n_frames=4, motion_weight=share)
        res = VarProCG(config_section("solver", "varpro_cg", linear="cholesky", max_iter=3), ctx).solve(p, Monitor())
        assert p.model.lam == 0.1
        w, f = res.solution["w"], res.solution["f"]
        exact = p.model.solve(w, 500, 1e-13).x
        assert float((f - exact).norm() / exact.norm()) < 1e-8
        runs[share] = w
    assert float((runs[0.3] - runs[1.0]).abs().max()) > 1e-6  # another objective, another motion
    with pytest.raises(UserError, match="problem.motion_weight=0.0 must be > 0"):
        rigid_problem(ctx, "translation", motion_weight=0.0)
    with pytest.raises(UserError, match="problem.motion_weight=0.3 is a varpro_cg setting"):
        JointGN(config_section("solver", "joint_gn", max_iter=1), ctx).solve(
            rigid_problem(ctx, "affine", motion_weight=0.3), Monitor())
