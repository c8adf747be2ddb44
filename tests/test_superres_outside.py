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
