"""problem.gain: each moved frame's intensity gain g_j estimated with its motion (d_j = g_j K I_j(w) f). The gained
operator against its adjoint (dot test) and its dense forms, its derivatives in (w, g) against AD, Taylor tests of
the exact projected Jacobian (Cholesky, PCG, and chained through a rigid motion model), the image-fixed block
model against the dense one, the pre-registration's gains, a solve that recovers them and records them, and the
default (no gain) unchanged."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from superres_checks import assert_operator_derivatives_match_ad, assert_operator_forms_agree, assert_taylor_orders

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.io import from_fair_layout
from regrun.imaging.synthetic import superres_burst
from regrun.linalg.dottest import dot_test
from regrun.monitor import Monitor
from regrun.optim.levenberg_marquardt import DenseLinearization
from regrun.problems.superres import EXPOSURE_MOVED, EXPOSURE_STD, SuperRes
from regrun.registration.superres_model import GRAM_AFTER
from regrun.registration.superres_motion import MotionModel
from regrun.registration.superres_projection import (
    DirectProjectedResidual,
    IterativeProjectedResidual,
    parametrized,
)
from regrun.registration.superres_start import start_params
from regrun.run import run
from regrun.solvers.varpro_cg import VarProCG


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def write_burst(path: Path, size=16, frames=4, noise=0.01, seed=0, angle=10.0, scale=(0.95, 1.05)):
    truth, stack, w, _, g = superres_burst(size=size, frames=frames, noise=noise, supersample=4, seed=seed,
                                           gain=(0.8, 1.2), angle=angle, scale=scale)
    np.savez(path, frames=from_fair_layout(stack), truth=from_fair_layout(truth), w=w, gain=g)
    return path


def burst_problem(ctx, path, **kw):
    # frame 0's gain fixed: the gain's columns exactly linear (gain_anchor=mean: tests/test_superres_gain_anchor.py)
    cfg = dict(data="frames", frames=str(path), truth=str(path), true_motion=str(path), lambda_f=0.1,
               outside="drop", gain=True, gain_anchor="frame0")
    cfg.update(kw)
    return SuperRes(config_section("problem", "superres", **cfg), ctx)


@pytest.fixture
def gained(ctx, tmp_path):
    p = burst_problem(ctx, write_burst(tmp_path / "burst.npz"))
    p.model.settle_outside(start_params(p, "truth"))
    return p


def theta(p, seed=0):
    """The true motion and gains, perturbed (gains away from 1, so a missed factor g shows)."""
    gen = torch.Generator().manual_seed(seed)
    t = start_params(p, "truth")
    return t + 0.01 * torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.device)


def test_gained_operator_adjoint_dense_forms_and_derivatives(gained):
    m = gained.model
    assert m.stride == 7 and m.n_params == 7 * m.q
    w = theta(gained)
    assert dot_test(m.operator(w)) < 1e-13
    assert dot_test(m.operator(w, fixed=True)) < 1e-13
    f = torch.randn(m.n, dtype=m.dtype, device=m.device)
    r = torch.randn(m.n_data + m.n_reg, dtype=m.dtype, device=m.device)
    assert_operator_derivatives_match_ad(m, w, f, r)
    # the gain's own column: K S_j f in frame j's rows, exactly (linear in g)
    dA_f = m.operator_derivatives(w, f, r)[0]
    up = w.clone()
    up[6] += 1.0
    col = m.operator(up).matvec(f) - m.operator(w).matvec(f)
    assert float((dA_f[:, 6] - col).abs().max() / col.abs().max()) < 1e-12
    x = torch.randn(3, m.n, dtype=m.dtype, device=m.device)
    gram = assert_operator_forms_agree(m, w, x)
    # the fixed operator's A^T A by the moved frames' banded Gram matrix (built past GRAM_AFTER columns): g_j^2
    normal = m.operator(w, fixed=True).normal()
    normal(torch.randn(GRAM_AFTER + 1, m.n, dtype=m.dtype, device=m.device))
    assert float((normal(x) - (gram @ x.T).T).abs().max() / (gram @ x.T).abs().max()) < 1e-12
    # the image-fixed blocks, built frame by frame, equal those from one stencil of all frames
    from regrun.imaging.interpolation import Stencil
    whole = m.motion_blocks(w, f, Stencil.at(m.fine, m.warp_points(w), with_gradient=True))
    assert float((m.motion_blocks(w, f) - whole).abs().max() / whole.abs().max()) < 1e-12


def test_gain_exact_jacobian_taylor_and_blocks(gained):
    m = gained.model
    w = theta(gained, 1)
    gen = torch.Generator().manual_seed(2)
    v = torch.randn(m.n_params, generator=gen, dtype=torch.float64).to(m.device)
    v = v / v.norm()
    for rfun in (DirectProjectedResidual(m), IterativeProjectedResidual(m, exact=True, rtol=1e-13)):
        r, jac = rfun.residual_and_jacobian(w)
        assert jac.shape == (r.shape[0], m.n_params)
        assert_taylor_orders(rfun.residual, w, r, jac @ v, v)
    # the gain direction alone (the derivative a missed factor would break first)
    e = torch.zeros_like(v)
    e[6::7] = 1.0 / m.q ** 0.5
    rfun = DirectProjectedResidual(m)
    r, jac = rfun.residual_and_jacobian(w)
    assert_taylor_orders(rfun.residual, w, r, jac @ e, e)
    # the image-fixed model on blocks equals the dense image-fixed Jacobian
    fixed = IterativeProjectedResidual(m, exact=False, rtol=1e-13)
    r, jac = fixed.residual_and_jacobian(w)
    iters = fixed.cg_iters
    lin, dense = fixed.linearize(w), DenseLinearization(r[None], jac[None])
    assert fixed.cg_iters == iters and torch.equal(lin.r, r)  # the projection just made at w, reused
    assert float((lin.jtr - dense.jtr[0]).norm() / dense.jtr.norm()) < 1e-12
    assert float((lin.apply(v) - jac @ v).norm() / (jac @ v).norm()) < 1e-12
    fixed.residual(w + 1e-3 * v)  # another w between: projected again at w, to the same residual
    assert float((fixed.linearize(w).r - r).norm() / r.norm()) < 1e-10


def test_gain_through_a_rigid_motion_model(ctx, tmp_path, device):
    p = burst_problem(ctx, write_burst(tmp_path / "rigid.npz", scale=(1.0, 1.0)), motion_model="rigid")
    motion = p.motion
    assert motion.d == 4 and motion.n_params == 4 * motion.q
    # dw/dp against central differences: the gain passes through
    gen = torch.Generator().manual_seed(3)
    q0 = start_params(p, "preregister")
    v = torch.randn(motion.n_params, generator=gen, dtype=torch.float64).to(q0.device)
    fd = (motion.to_affine(q0 + 1e-6 * v) - motion.to_affine(q0 - 1e-6 * v)) / 2e-6
    assert float((motion.dense_jacobian(q0) @ v - fd).abs().max()) < 1e-8
    assert torch.equal(motion.to_affine(q0).reshape(motion.q, 7)[:, 6], q0.reshape(motion.q, 4)[:, 3])
    p.model.settle_outside(motion.to_affine(q0))
    v = v / v.norm()
    par = parametrized(DirectProjectedResidual(p.model), motion)
    r, jac = par.residual_and_jacobian(q0)
    assert_taylor_orders(par.residual, q0, r, jac @ v, v)


def test_motion_model_gain_identity_and_blocks(device):
    motion = MotionModel("translation", (8.0, 8.0), 3, gain=True)
    ident = motion.identity(device=device)
    assert torch.equal(ident, torch.tensor([0.0, 0.0, 1.0] * 3, dtype=torch.float64, device=device))
    w = motion.to_affine(ident)
    assert torch.equal(w, torch.tensor([1.0, 0, 0, 1, 0, 0, 1] * 3, dtype=torch.float64, device=device))
    assert motion.blocks(ident).shape == (3, 7, 3)


def test_preregistration_and_solve_recover_the_gains(ctx, tmp_path):
    path = write_burst(tmp_path / "solve.npz", size=24, frames=5, noise=0.0)
    p = burst_problem(ctx, path)
    t0 = start_params(p, "preregister")
    g_true = p.gain_true
    assert float((p.model.gains(t0) - g_true).abs().max()) < 0.01
    res = VarProCG(config_section("solver", "varpro_cg", max_iter=5), ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    assert arrays["gain"].shape == (5,) and arrays["gain"][0] == 1.0 and arrays["w"].shape == (24,)
    assert metrics["gain_error"] < 0.005 and metrics["motion_error"] < 0.05
    # without the gain the same frames are not explained: the motion and the image suffer
    plain = burst_problem(ctx, path, gain=False)
    res0 = VarProCG(config_section("solver", "varpro_cg", max_iter=5), ctx).solve(plain, Monitor())
    m0, a0 = plain.evaluate(res0)
    assert "gain" not in a0 and "gain_error" not in m0
    assert metrics["psnr"] > m0["psnr"] + 3
    # the unmodelled gains show in the first answer: the run solves again with gains (problem.gain_again)
    assert m0["exposure_std"] >= EXPOSURE_STD
    changes, why = plain.solve_again(m0)
    assert changes == {"gain": True} and "problem.gain=true" in why
    assert p.solve_again(metrics) is None  # gains on: nothing left out
    assert burst_problem(ctx, path, gain=False, gain_again=False).solve_again(m0) is None
    small = {**m0, "exposure_std": 0.5 * EXPOSURE_STD, "exposure_moved_range": 0.5 * EXPOSURE_MOVED}
    assert plain.solve_again({**small, "exposure_spread": 0.05}) is None  # frame 0's brightness alone: not acted on
    # gains that the frames' means do not show (the motion's scale took them up): the moved frames' do (srgain2)
    changes, why = plain.solve_again({**small, "exposure_moved_range": EXPOSURE_MOVED})
    assert changes == {"gain": True} and "exposure_moved_range" in why


def test_a_run_solves_unmodelled_gains_again_and_records_both(tmp_path, device):
    path = write_burst(tmp_path / "run.npz", size=24, frames=5, noise=0.0)
    files = [f"problem.{k}={path}" for k in ("frames", "truth", "true_motion")]
    cfg = compose(["problem=superres", "solver=varpro_cg", "problem.data=frames", "problem.lambda_f=0.1",
                   "solver.max_iter=4", f"device={device.type}", "progress=false", "figures=false", *files])
    outcome = run(cfg, tmp_path / "out", [])
    assert outcome.status == "completed" and outcome.metrics["solved_again"] == 1.0
    assert outcome.metrics["first_solve_exposure_std"] >= EXPOSURE_STD
    assert outcome.metrics["psnr"] > outcome.metrics["first_solve_psnr"] + 3 and "gain_error" in outcome.metrics
    with h5py.File(outcome.results_path) as f:
        assert f["result/gain"].shape == (5,) and "solved again with problem.gain=true" in f.attrs["message"]
        first = f["first_solve/metrics/psnr"][()]
        assert first == outcome.metrics["first_solve_psnr"] and "gain" not in f["first_solve/result"]
        assert "first answer" in f["first_solve"].attrs["description"]


def test_default_has_no_gain_and_bad_values(ctx):
    p = SuperRes(config_section("problem", "superres", size=8, n_frames=3), ctx)
    assert p.model.stride == 6 and not p.motion.gain
    # a user's frames too: gain=true lost up to 0.85 dB on gain-free sets (docs/superres.md, "(srgain)")
    assert config_section("problem", "superres", data="frames").gain is False
    with pytest.raises(UserError, match="problem.gain='yes' is not valid"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=3, gain="yes"), ctx)
    with pytest.raises(UserError, match="problem.gain_again='no' is not valid"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=3, gain_again="no"), ctx)
    with pytest.raises(UserError, match="problem.channels='rgb' is not valid; allowed: auto, luminance"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=3, channels="rgb"), ctx)
