"""problem.reanchor: frame 0 registered to the image after LM and every frame's motion moved by the inverse (one
step of the frames' common motion, registration/superres_anchor.py)."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.transforms import affine
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.linalg.differences import pool
from regrun.registration.superres_anchor import common_from_start, compose_inverse, frame0_affine, reanchor
from regrun.registration.superres_check import frame0_residual
from regrun.registration.superres_projection import DirectProjectedResidual
from regrun.solvers.varpro_cg import VarProCG


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def common_shift(p, shift):
    """The true motion with every moved frame shifted by `shift` (domain units): the common motion frame 0 pins."""
    w = p.w_true.clone().reshape(p.model.q, 6)
    w[:, 4:] += torch.tensor(shift, dtype=w.dtype, device=w.device)
    return w.reshape(-1)


def test_compose_inverse_moves_points_by_the_inverse(ctx):
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.0, lambda_f=0.1), ctx)
    v = torch.tensor([1.01, 0.02, -0.01, 0.99, 0.05, -0.03], dtype=torch.float64, device=ctx.device)
    w1 = compose_inverse(p.model, v, p.w_true)
    x = p.model.x
    for j in range(p.model.q):
        back = affine(v, affine(w1[6 * j:6 * j + 6], x))  # V (V^-1 T_j) x = T_j x
        assert float((back - affine(p.w_true[6 * j:6 * j + 6], x)).abs().max()) < 1e-12


def test_reanchor_undoes_a_common_shift_and_lowers_the_objective(ctx):
    """Noise-free frames, every moved frame 0.08 fine px off in one direction: the step lowers the projected
    objective, brings the motion most of the way back (the image holds frame 0's rows too, so not all of it) and
    is kept."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=6, noise=0.0, lambda_f=0.01), ctx)
    w = common_shift(p, (0.005, -0.003))  # domain units: 1/16 a fine pixel
    rfun = DirectProjectedResidual(p.model)
    before = p.motion_error(w)
    w1, stats = reanchor(p.model, rfun, w)
    assert stats["reanchor_kept"] == 1.0 and stats["reanchor_rel_change"] < 0
    assert p.motion_error(w1) < 0.5 * before
    assert w1.device == w.device
    # at the true motion frame 0 sits about at the identity of the image: V moves it (RMS) by under a fifth of the above (the
    # rest is the regulariser's pull at this weight)
    v = frame0_affine(p.model, rfun.project(p.w_true))
    assert float((affine(v, p.model.x) - p.model.x).pow(2).sum(-1).mean().sqrt()) < 0.2 * stats["reanchor_move"]


def test_varpro_cg_records_the_step_only_when_asked(ctx):
    runs = {}
    for on in (False, True):
        p = SuperRes(config_section("problem", "superres", size=12, n_frames=4, noise=0.01, lambda_f=0.1,
                                    reanchor=on), ctx)
        res = VarProCG(config_section("solver", "varpro_cg", linear="cholesky", max_iter=3), ctx).solve(p, Monitor())
        runs[on] = res
    assert "reanchor_kept" not in runs[False].stats and "reanchor_kept" in runs[True].stats
    if runs[True].stats["reanchor_kept"] == 0.0:  # not kept: the same motion as without it
        assert torch.equal(runs[True].solution["w"], runs[False].solution["w"])


def test_frame0_residual_is_the_closed_form_leave_frame0_out(ctx):
    """The refit (PCG without frame 0's rows) against the closed form through the dense normal matrix: frame 0's
    rows are k x k pooling at the identity, H_00 = h_d P_0 C^-1 P_0^T, held-out residual (I - H_00)^-1 r_0."""
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=4, noise=0.02, lambda_f=0.1), ctx)
    m, w = p.model, p.w_true
    n1, n2 = m.fine.m
    eye = torch.eye(m.n, dtype=m.dtype, device=m.device)
    p0 = pool(eye.reshape(m.n, n1, n2), m.factor).reshape(m.n, -1).T  # (coarse pixels, n)
    c = m.normal_matrix(w)
    f = torch.linalg.solve(c, m.operator(w, fixed=True).rmatvec(m.b))
    r0 = m.frames[0].flatten() - p0 @ f
    hat = m.coarse.cell_volume * p0 @ torch.linalg.solve(c, p0.T)
    want = float(torch.linalg.solve(torch.eye(hat.shape[0], dtype=m.dtype, device=m.device) - hat, r0).pow(2).sum())
    assert frame0_residual(m, w, f) == pytest.approx(want, rel=1e-5)



def test_common_from_start_takes_the_start_where_they_disagree_in_common(ctx):
    """The joint motion drifted by a common shift, the start at the truth: the start's common motion is taken (and
    the relative motions kept: the truth back); with a per-frame disagreement larger than the common one it is not."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=8, noise=0.0, lambda_f=0.01), ctx)
    drifted = common_shift(p, (0.006, -0.004))
    rfun = DirectProjectedResidual(p.model)
    w1, stats = common_from_start(p.model, rfun, drifted, p.w_true)
    assert stats["common_start_kept"] == 1.0 and stats["common_start_rest"] < 1e-12
    assert p.motion_error(w1) < 1e-9 and w1.device == drifted.device
    scattered = p.w_true.clone().reshape(p.model.q, 6)
    scattered[:, 4] += 0.01 * torch.tensor([1.0, -1.0, 1.0, -1.0, 1.5, -1.0, 1.0], dtype=scattered.dtype,
                                           device=scattered.device)
    w2, stats = common_from_start(p.model, rfun, p.w_true, scattered.reshape(-1))
    assert stats["common_start_kept"] == 0.0 and torch.equal(w2, p.w_true)
    few = SuperRes(config_section("problem", "superres", size=16, n_frames=6, noise=0.0, lambda_f=0.01), ctx)
    _, stats = common_from_start(few.model, DirectProjectedResidual(few.model), common_shift(few, (0.006, -0.004)),
                                 few.w_true)
    assert stats["common_start_kept"] == 0.0  # 5 moved frames: under COMMON_MIN_MOVED


def test_varpro_cg_takes_the_start_common_motion_only_when_asked(ctx):
    runs = {}
    for on in (False, True):
        p = SuperRes(config_section("problem", "superres", size=12, n_frames=4, noise=0.01, lambda_f=0.1,
                                    reanchor=True, common_from_start=on), ctx)
        runs[on] = VarProCG(config_section("solver", "varpro_cg", linear="cholesky", max_iter=3), ctx).solve(
            p, Monitor())
    assert "common_start_kept" not in runs[False].stats and "common_start_kept" in runs[True].stats
    if runs[True].stats["common_start_kept"] == 0.0:  # not taken: the same motion as without it
        assert torch.equal(runs[True].solution["w"], runs[False].solution["w"])
