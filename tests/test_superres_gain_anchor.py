"""problem.gain_anchor=mean: the gains' geometric mean over all frames fixed instead of frame 0's gain, by the
regulariser's weight lam k(g) / k_ref (SuperResModel.weight_scale). Its new derivative paths against AD and by Taylor
tests (the operator's, the exact projected Jacobian by Cholesky, PCG and AD through CG, through a rigid motion model), the
image-fixed block model's rank-one part against the dense one, the weight's reference at the search's motion, the
image's scale trade it removes, and a bad value."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from superres_checks import assert_operator_derivatives_match_ad, assert_operator_forms_agree, assert_taylor_orders
from test_superres_gain import burst_problem, theta, write_burst

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.cg import diff_mode
from regrun.linalg.dottest import dot_test
from regrun.monitor import Monitor
from regrun.optim.levenberg_marquardt import DenseLinearization
from regrun.problems.superres import SuperRes
from regrun.registration.superres_projection import (
    DirectProjectedResidual,
    IterativeProjectedResidual,
    ProjectedResidual,
    parametrized,
)
from regrun.registration.superres_start import start_params
from regrun.registration.superres_weight import ImageSolve
from regrun.solvers.varpro_cg import VarProCG


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


@pytest.fixture
def anchored(ctx, tmp_path):
    p = burst_problem(ctx, write_burst(tmp_path / "burst.npz"), gain_anchor="mean")
    p.model.settle_outside(start_params(p, "truth"))
    p.model.k_ref = 0.97  # a reference other than 1: the factor k(g) / k_ref in every path
    return p


def test_mean_anchor_operator_forms_and_derivatives(anchored):
    m = anchored.model
    w = theta(anchored)
    assert m.mean_anchor and abs(float(m.weight_scale(w)) - 1.0) > 1e-3
    assert dot_test(m.operator(w)) < 1e-13 and dot_test(m.operator(w, fixed=True)) < 1e-13
    x = torch.randn(3, m.n, dtype=m.dtype, device=m.device)
    gram = assert_operator_forms_agree(m, w, x)
    normal = m.operator(w, fixed=True).normal()
    assert float((normal(x) - (gram @ x.T).T).abs().max() / (gram @ x.T).abs().max()) < 1e-12
    f = torch.randn(m.n, dtype=m.dtype, device=m.device)
    r = torch.randn(m.n_data + m.n_reg, dtype=m.dtype, device=m.device)
    # the regulariser rows' gain columns (rank one) against AD of the operator, whose weight is k(g)'s
    assert_operator_derivatives_match_ad(m, w, f, r)
    dA_f = m.operator_derivatives(w, f, r)[0]
    assert float(dA_f[m.n_data:, 6::7].abs().max()) > 0 and float(dA_f[m.n_data:, 0:6].abs().max()) == 0
    image_fixed = m.operator_derivatives(w, f, r, image_fixed=True)[0]
    assert float((image_fixed - dA_f).abs().max() / dA_f.abs().max()) < 1e-12


def test_mean_anchor_projected_jacobian_taylor_and_blocks(anchored, ctx):
    m = anchored.model
    w = theta(anchored, 1)
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(m.n_params, generator=gen, dtype=torch.float64).to(m.device)
    v = v / v.norm()
    e = torch.zeros_like(v)
    e[6::7] = 1.0 / m.q ** 0.5  # every gain up: the direction the anchor changes most
    cg = ProjectedResidual(m, diff_mode("full"), 300, 1e-10)  # forward-mode AD through CG and operator(w)
    for rfun in (DirectProjectedResidual(m), IterativeProjectedResidual(m, exact=True, rtol=1e-13), cg):
        r, jac = rfun.residual_and_jacobian(w)
        for d in (v, e):
            assert_taylor_orders(rfun.residual, w, r, jac @ d, d)
    # the image-fixed model on blocks plus its rank-one part equals the dense image-fixed Jacobian
    fixed = IterativeProjectedResidual(m, exact=False, rtol=1e-13)
    r, jac = fixed.residual_and_jacobian(w)
    lin, dense = fixed.linearize(w), DenseLinearization(r[None], jac[None])
    assert float((lin.jtr - dense.jtr[0]).norm() / dense.jtr.norm()) < 1e-12
    assert float((lin.apply(v) - jac @ v).norm() / (jac @ v).norm()) < 1e-12
    # a damped step (Sherman-Morrison over the blocks) solves the dense system with Marquardt's diagonal
    jtj = jac.T @ jac
    step = -torch.linalg.solve(jtj + 0.3 * torch.diag(torch.diagonal(jtj)), jac.T @ r)
    assert float((lin.step(0.3) - step).norm() / step.norm()) < 1e-10
    # ... and in a rigid motion model's parameters (the gain passes through)
    rigid = burst_problem(ctx, write_burst(Path(anchored.cfg.frames).parent / "rigid.npz",
                                                      scale=(1.0, 1.0)), motion_model="rigid", gain_anchor="mean")
    motion = rigid.motion
    p0 = start_params(rigid, "preregister")
    rigid.model.settle_outside(motion.to_affine(p0))
    u = torch.randn(motion.n_params, generator=gen, dtype=torch.float64).to(m.device)
    u = u / u.norm()
    par = parametrized(DirectProjectedResidual(rigid.model), motion)
    r, jac = par.residual_and_jacobian(p0)
    assert_taylor_orders(par.residual, p0, r, jac @ u, u)
    blocks = parametrized(IterativeProjectedResidual(rigid.model, exact=False, rtol=1e-13), motion)
    r, jac = blocks.residual_and_jacobian(p0)
    assert float((blocks.linearize(p0).apply(u) - jac @ u).norm() / (jac @ u).norm()) < 1e-12


def test_the_weight_is_referenced_where_it_is_searched(anchored, ctx):
    m = anchored.model
    w = theta(anchored, 3)
    ImageSolve(m, w, 50, 1e-8)
    assert abs(float(m.weight_scale(w)) - 1.0) < 1e-15
    # frame0: no reference, the weight fixed
    plain = burst_problem(ctx, Path(anchored.cfg.frames), gain_anchor="frame0")
    assert plain.model.weight_scale(w) == 1.0 and plain.model.gain_reg_columns(w, m.initial_image()) is None


def test_mean_anchor_keeps_the_gains_scale(ctx, tmp_path):
    """A large weight on a burst with gains: with frame 0 fixed the smoothing shrinks the image and every moved
    frame's gain rises by one common factor; with the mean fixed that factor stays near 1."""
    path = write_burst(tmp_path / "solve.npz", size=24, frames=5, noise=0.0)
    common = {}
    for anchor in ("frame0", "mean"):
        p = burst_problem(ctx, path, lambda_f=2.0, gain_anchor=anchor)
        res = VarProCG(config_section("solver", "varpro_cg", max_iter=6), ctx).solve(p, Monitor())
        g = p.model.gains(res.solution["w"])
        common[anchor] = float((g / p.gain_true).log().mean().exp())
    assert common["frame0"] > 1.02 and abs(common["mean"] - 1.0) < 0.5 * (common["frame0"] - 1.0)


def test_bad_gain_anchor(ctx):
    with pytest.raises(UserError, match="problem.gain_anchor='median' is not valid; allowed: frame0, mean"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=3, gain_anchor="median"), ctx)
    # the default (srgainmean's held-out: +1.90 dB summed over 13 runs, none worse by 0.01 dB)
    assert config_section("problem", "superres").gain_anchor == "mean"
    assert SuperRes(config_section("problem", "superres", size=8, n_frames=3, gain=True), ctx).model.mean_anchor
    assert not SuperRes(config_section("problem", "superres", size=8, n_frames=3), ctx).model.mean_anchor


def test_the_answers_weight_is_referenced_at_the_final_motion(anchored, ctx):
    """recheck (srgainmean2): where it reads the last search's own value (the motion moved at most
    lam_rechoose_move since), the weight's reference still moves to the final gains, as a new set-up there moves it:
    the answer, its colour channels and the frames check at lambda exactly. Its factor before is reported."""
    import numpy as np

    from regrun.registration.superres_weight import recheck

    p, w = anchored, theta(anchored, 3)
    p.weight_choice = SimpleNamespace(lam=0.1, table=lambda: {"lam": np.array([0.1]), "criterion": np.array([2.5])})
    p.weight_last_search, p.weight_moves = None, [0.0]  # not searched again: the search's value is read
    k = float(p.model.weight_scale(w))
    assert abs(k - 1.0) > 1e-3
    out = recheck(p, w, ctx)
    assert out == {"lam_gain_drift": k, "lam_criterion_final_motion": 2.5}
    assert abs(float(p.model.weight_scale(w)) - 1.0) < 1e-15
