"""problem.outside=drop: moved frames' pixels that see past the reference domain are no data. The masked model
is consistent in tests/test_superres_outside_model.py; here the settings: the pre-registration drops them too,
the solvers fix the mask at their starting motion, and the default differs between a user's frames (drop) and generated data (keep: the presets' numbers)."""
from pathlib import Path

import pytest
import torch

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import frame_data
from regrun.solvers.two_stage import TwoStage
from regrun.solvers.varpro_cg import VarProCG


def test_frame_data_counts_only_the_kept_pixels(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01, outside="drop",
                                motion={"shift": 0.15}), ctx)
    m = p.model
    m.settle_outside(p.w_true)
    keep = m.keep
    assert 0 < int((keep[1:] == 0).sum()) < keep[1:].numel()
    d, count = frame_data(m)
    assert count == int(keep.sum())
    assert float(d.reshape(m.frames.shape)[keep == 0].abs().max()) == 0.0
    assert torch.allclose(d, m.b[: m.n_data] / m.sqrt_hd, rtol=1e-15, atol=0)


def test_default_drops_for_users_frames_only():
    assert compose(["problem=superres"]).problem.outside == "keep"
    assert compose(["problem=superres", "problem.data=frames", "problem.frames=x"]).problem.outside == "drop"


def test_solver_start_sets_the_mask(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    cfg = config_section("problem", "superres", size=12, n_frames=3, noise=0.01, outside="drop")
    p = SuperRes(cfg, ctx)
    TwoStage(config_section("solver", "two_stage", init="truth"), ctx).solve(p, Monitor())
    settled = SuperRes(cfg, ctx).model
    settled.settle_outside(p.w_true)
    assert p.model.keep is not None and torch.equal(p.model.keep, settled.keep)
    kept = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01), ctx)
    TwoStage(config_section("solver", "two_stage", init="truth"), ctx).solve(kept, Monitor())
    assert kept.model.keep is None


def test_bad_outside_is_one_line(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    with pytest.raises(UserError, match="problem.outside='crop'.*keep, drop"):
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, outside="crop"), ctx)


def test_preregistration_leaves_out_what_the_frames_see_past_the_edge(device):
    """Frames whose pixels past frame 0's edge show something the model does not hold (here: noise of 30% of
    the frames' range): dropping those points keeps the pre-registration on the true motion."""
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=3), ctx)
    m = p.model
    m.outside = "drop"
    m.settle_outside(p.w_true)
    keep = m.keep[1:]
    m.keep, m.outside = None, "keep"  # the junk below stays in the data; only the pre-registration is tested
    gen = torch.Generator().manual_seed(1)
    junk = 0.3 * float(m.frames.max() - m.frames.min()) * torch.randn(keep.shape, generator=gen, dtype=torch.float64)
    m.frames[1:] += ctx.tensor(junk) * (1 - keep)
    plain = p.motion_error(m.preregister())
    dropped = p.motion_error(m.preregister(drop_outside=True))
    assert dropped < 0.7 * plain, (dropped, plain)  # measured: 0.0075 against 0.0126


def test_mask_decided_again_only_shrinks(device):
    """settle_outside(accumulate=True): pixels dropped before stay dropped; it returns how many it dropped that
    were data, 0 when decided again at the same motion."""
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.01, outside="drop",
                                motion={"shift": 0.15}), ctx)
    m = p.model
    first = m.settle_outside(p.w_true)
    keep = m.keep.clone()
    assert first == int((keep == 0).sum()) > 0
    assert m.settle_outside(p.w_true, accumulate=True) == 0 and torch.equal(m.keep, keep)
    moved = p.w_true.clone()
    moved[4::6] += 0.6  # every frame shifted: other pixels see past the edge
    dropped = m.settle_outside(moved, accumulate=True)
    assert dropped > 0 and bool((m.keep <= keep).all()) and int((keep - m.keep).sum()) == dropped
    b = m.b[: m.n_data].reshape(m.frames.shape)
    assert float(b[m.keep == 0].abs().max()) == 0.0


def edge_run(ctx, rounds, offset):
    """varpro_cg, outside=drop, from the true motion shifted by `offset` in both axes (a poor start; domain
    [0, 1]: 0.05 is 0.8 fine pixels at 16^2), on frames whose pixels past frame 0's edge at the true motion show
    noise of 30% of the frames' range (what the model cannot hold)."""
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=3, noise=0.01, lambda_f=0.1,
                                outside="drop", outside_rounds=rounds, motion={"shift": 0.12}), ctx)
    m = p.model
    m.settle_outside(p.w_true)
    seen_past = 1 - m.keep
    m.keep = None
    gen = torch.Generator().manual_seed(1)
    junk = 0.3 * float(m.frames.max() - m.frames.min()) * torch.randn(seen_past.shape, generator=gen,
                                                                       dtype=torch.float64)
    m.frames += ctx.tensor(junk) * seen_past
    m.b = m.rhs(m.frames)
    start = p.w_true.clone()
    start[4::6] += offset
    start[5::6] += offset
    m.preregister = lambda **_: start.clone()
    from regrun.monitor import HistoryRecorder

    rec = HistoryRecorder()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor([rec]))
    return p, res, rec


def test_edge_rounds_follow_the_motion(device):
    """outside_rounds: after LM the mask is decided again at its final motion and LM runs again while that drops
    pixels; the history numbers the rounds' iterations on (column edge_round); the final mask is the start's
    with the pixels dropped at each round's end. 0 rounds: the mask of the start, one LM run, as before."""
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p0, res0, rec0 = edge_run(ctx, 0, -0.05)
    p3, res3, rec3 = edge_run(ctx, 3, -0.05)
    assert res0.stats["edge_rounds"] == 0 and "edge_round" not in rec0.columns
    assert res3.stats["edge_rounds"] >= 1 and res3.stats["edge_dropped"] > 0
    iters, rounds = rec3.columns["iter"], rec3.columns["edge_round"]
    assert iters == sorted(iters) and len(set(iters)) == len(iters) and max(rounds) >= 1
    assert int((p3.model.keep == 0).sum()) == int((p0.model.keep == 0).sum()) + res3.stats["edge_dropped"]
    assert res3.n_iter > res0.n_iter
    e0, e3 = p0.motion_error(res0.solution["w"]), p3.motion_error(res3.solution["w"])
    assert e3 < 0.5 * e0, (e3, e0)  # measured: 0.020 against 0.068


def test_bad_outside_rounds_is_one_line(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    with pytest.raises(UserError, match="problem.outside_rounds"):
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, outside_rounds=-1), ctx)
