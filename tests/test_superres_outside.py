"""problem.outside=drop: moved frames' pixels that see past the reference domain are no data. The masked model
is one consistent operator (adjoint, dense form, Gram matrix, motion derivatives), the mask is what it says,
and the default differs between a user's frames (drop) and generated data (keep: the presets' numbers)."""
from pathlib import Path

import pytest
import torch

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.direct import normal_matrix
from regrun.linalg.dottest import dot_test
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import frame_data
from regrun.solvers.two_stage import TwoStage


@pytest.fixture
def case(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01), ctx)
    gen = torch.Generator().manual_seed(3)
    w = p.w_true + ctx.tensor(0.02 * torch.randn(p.w_true.shape, generator=gen, dtype=torch.float64))
    keep = p.model.inside_mask(w)
    p.model.set_data_mask(keep)
    return p, w, keep


def test_mask_marks_the_pixels_that_see_outside(case):
    p, w, keep = case
    m = p.model
    assert keep.shape == (m.q, *m.coarse.m) and keep.device == w.device
    assert 0 < float(keep.sum()) < keep.numel()  # random motions of a 12^2 domain: some pixels leave it
    y = m.warp_points(w).unflatten(1, tuple(m.fine.m))  # (q, n1, n2, 2)
    k = m.factor
    blocks = y.unflatten(1, (m.coarse.m[0], k)).unflatten(3, (m.coarse.m[1], k))  # (q, c1, k, c2, k, 2)
    lo = torch.tensor([m.fine.omega[0], m.fine.omega[2]], dtype=y.dtype, device=y.device) + 0.5 * torch.tensor(
        m.fine.h, dtype=y.dtype, device=y.device)
    hi = torch.tensor([m.fine.omega[1], m.fine.omega[3]], dtype=y.dtype, device=y.device) - 0.5 * torch.tensor(
        m.fine.h, dtype=y.dtype, device=y.device)
    inside = ((blocks >= lo) & (blocks <= hi)).all(-1).all(2).all(-1)
    assert torch.equal(inside.to(keep.dtype), keep)


def test_masked_rows_are_zero_and_b_matches(case):
    p, w, keep = case
    m = p.model
    f = torch.randn(m.n, dtype=torch.float64, device=w.device)
    data = m.operator(w).matvec(f)[: m.n_data].reshape(m.frames.shape)
    assert float(data[1:][keep == 0].abs().max()) == 0.0
    assert float(data[1:][keep == 1].abs().min()) > 0.0
    b = m.b[: m.n_data].reshape(m.frames.shape)
    assert float(b[1:][keep == 0].abs().max()) == 0.0
    assert torch.equal(b[0], m.sqrt_hd * m.frames[0])  # frame 0 is always data
    d, count = frame_data(m)
    assert count == m.frames[0].numel() + int(keep.sum())
    assert torch.allclose(d, m.b[: m.n_data] / m.sqrt_hd, rtol=1e-15, atol=0)


def test_masked_operator_is_consistent(case):
    p, w, _ = case
    m = p.model
    op, dense = m.operator(w), m.dense_operator(w)
    assert dot_test(op) < 1e-13 and dot_test(dense) < 1e-13
    x = torch.randn(4, m.n, dtype=torch.float64, device=w.device)
    assert float((dense.matvec(x) - op.matvec(x)).abs().max() / op.matvec(x).abs().max()) < 1e-13
    ref = normal_matrix(op, chunk=50)
    assert float((m.normal_matrix(w) - ref).abs().max() / ref.abs().max()) < 1e-12


def test_masked_operator_derivatives_match_ad(case):
    p, w, _ = case
    m = p.model
    f = torch.randn(m.n, dtype=torch.float64, device=w.device)
    r = torch.randn(m.n_data + m.n_reg, dtype=torch.float64, device=w.device)
    dA_f, dAT_r, AT_dA_f = m.operator_derivatives(w, f, r)
    ref_f = torch.func.jacfwd(lambda u: m.operator(u).matvec(f))(w)
    ref_r = torch.func.jacfwd(lambda u: m.operator(u).rmatvec(r))(w)
    assert float((dA_f - ref_f).abs().max() / ref_f.abs().max()) < 1e-12
    assert float((dAT_r - ref_r).abs().max() / ref_r.abs().max()) < 1e-12
    ref_at = m.operator(w).rmatvec(ref_f.T).T
    assert float((AT_dA_f - ref_at).abs().max() / ref_at.abs().max()) < 1e-12


def test_default_drops_for_users_frames_only():
    assert compose(["problem=superres"]).problem.outside == "keep"
    assert compose(["problem=superres", "problem.data=frames", "problem.frames=x"]).problem.outside == "drop"


def test_solver_start_sets_the_mask(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    cfg = config_section("problem", "superres", size=12, n_frames=3, noise=0.01, outside="drop")
    p = SuperRes(cfg, ctx)
    TwoStage(config_section("solver", "two_stage", init="truth"), ctx).solve(p, Monitor())
    assert p.model.keep is not None and torch.equal(p.model.keep, p.model.inside_mask(p.w_true))
    kept = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01), ctx)
    TwoStage(config_section("solver", "two_stage", init="truth"), ctx).solve(kept, Monitor())
    assert kept.model.keep is None


def test_bad_outside_is_one_line(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    with pytest.raises(UserError, match="problem.outside='crop'.*drop, keep"):
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, outside="crop"), ctx)


def test_preregistration_leaves_out_what_the_frames_see_past_the_edge(device):
    """Frames whose pixels past frame 0's edge show something the model does not hold (here: noise of 30% of
    the frames' range): dropping those points keeps the pre-registration on the true motion."""
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=3), ctx)
    m = p.model
    keep = m.inside_mask(p.w_true)
    gen = torch.Generator().manual_seed(1)
    junk = 0.3 * float(m.frames.max() - m.frames.min()) * torch.randn(keep.shape, generator=gen, dtype=torch.float64)
    m.frames[1:] += ctx.tensor(junk) * (1 - keep)
    plain = p.motion_error(m.preregister())
    dropped = p.motion_error(m.preregister(drop_outside=True))
    assert dropped < 0.7 * plain, (dropped, plain)  # measured: 0.0075 against 0.0126
