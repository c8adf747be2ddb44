"""problem.lam_gcv_gamma_small: GCV's trace weight on frames of 13-16 px a side (srsmallw, issue 16)."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.registration.superres_weight import SMALL_GAMMA_FRAMES, frame_weight_settings

F64 = torch.float64


def test_the_small_gamma_acts_on_its_frames_only():
    cfg = config_section("problem", "superres", lam_gcv_gamma_small=1.5)
    lo, hi = SMALL_GAMMA_FRAMES
    assert [frame_weight_settings(cfg, side).gamma for side in (lo - 1, lo, hi, hi + 1)] == [1.2, 1.5, 1.5, 1.2]
    assert frame_weight_settings(cfg).gamma == 1.2  # no frames known yet: the plain setting
    default = config_section("problem", "superres")
    assert default.lam_gcv_gamma_small is None and frame_weight_settings(default, lo).gamma == 1.2  # the YAML's: off
    off = config_section("problem", "superres", lam_gcv_gamma_small=None)
    assert frame_weight_settings(off, lo).gamma == 1.2


@pytest.mark.parametrize("value,message", [(0.5, "problem.lam_gcv_gamma_small=0.5"),
                                           (float("nan"), "problem.lam_gcv_gamma_small=nan"),
                                           ("high", "problem.lam_gcv_gamma_small='high'")])
def test_bad_small_gamma_is_one_line(value, message):
    from regrun.problems.superres import SuperRes

    ctx = RunContext(torch.device("cpu"), F64, 0, Path("."))
    with pytest.raises(UserError, match=message) as err:
        SuperRes(config_section("problem", "superres", size=8, n_frames=2, lam_gcv_gamma_small=value), ctx)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("size,gamma", [(28, "1.5"), (24, "1.2")])
def test_a_run_searches_with_the_small_gamma_on_its_frames(device, size, gamma):
    """Fine 28^2 at factor 2: 14-px frames, in the band; 24^2: 12-px frames, not. The search records its gamma."""
    from regrun.problems.superres import SuperRes
    from regrun.solvers.two_stage import TwoStage

    ctx = RunContext(device, F64, 0, Path("."))
    cfg = config_section("problem", "superres", size=size, n_frames=3, noise=0.02, lambda_f="auto", lam_solves=4,
                         final_cg_iters=50, lam_gcv_gamma_small=1.5)
    p = SuperRes(cfg, ctx)
    res = TwoStage(config_section("solver", "two_stage"), ctx).solve(p, Monitor())
    assert res.stats["lam_gcv_gamma"] == gamma == f"{p.weight_settings.gamma:g}"
