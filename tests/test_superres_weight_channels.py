"""problem.lam_channels_saturated (srwheel): with lambda_f=auto on colour frames whose chroma share is at or above
problem.lam_chroma_share_max, the weight's rule reads the three channels' misfit together instead of the
luminance's; off, below the bar or with a typed weight nothing changes."""
import pytest
import torch
from test_superres_chroma_weight import rgb, saturated  # noqa: F401 (the fixtures)
from test_superres_frames_level import _problem

from regrun.config import config_section
from regrun.errors import UserError
from regrun.imaging.io import luminance_weights
from regrun.monitor import Monitor
from regrun.registration import superres_weight as sw
from regrun.solvers.varpro_cg import VarProCG

LAM = 0.3


def test_the_channels_only_above_the_bar(device, rgb, saturated):  # noqa: F811
    """Off by default; on, the channels' frames only for auto above the bar, and their luminance is the frames the
    luminance's rule reads (frame_data: the level off, the data mask on)."""
    assert _problem(device, saturated, lambda_f="auto").weight_channels() is None
    assert _problem(device, rgb, lambda_f="auto", lam_channels_saturated=True).weight_channels() is None
    assert _problem(device, saturated, lambda_f=LAM, lam_channels_saturated=True).weight_channels() is None
    p = _problem(device, saturated, lambda_f="auto", lam_channels_saturated=True)
    joint = p.weight_channels()
    d, _ = sw.frame_data(p.model)
    assert joint.shape == (3, d.numel())
    lum = sum(a * c for a, c in zip(luminance_weights(3), joint))
    assert torch.allclose(lum, d, rtol=0, atol=1e-12 * float(d.abs().max()))


@pytest.mark.parametrize("cholesky", [True, False])
def test_the_channels_misfit(device, saturated, monkeypatch, cholesky):  # noqa: F811
    """The rule's misfit is the mean of each channel's own (its frames in the model), the trace the luminance's, the
    image the luminance's; on the Cholesky path and on PCG's."""
    if not cholesky:
        monkeypatch.setattr(sw, "WEIGHT_CHOLESKY_MAX_PIXELS", 0)
    p = _problem(device, saturated, lambda_f="auto", lam_channels_saturated=True)
    probes = sw.rademacher(2, p.model.frames.reshape(-1).shape, torch.Generator(device).manual_seed(0),
                           torch.float64, device)
    solve = sw.ImageSolve(p.model, p.w_true, 2000, 1e-12)
    assert solve.cholesky == cholesky
    joint = p.weight_channels()
    fit = sw.evaluate_at(p.model, solve, probes, LAM, joint=joint)
    lum = sw.evaluate_at(p.model, solve, probes, LAM)
    frames = p.model.frames
    each = []
    for c in range(3):
        p.model.frames = p.colour[:, c] - p.level
        each.append(sw.evaluate_at(p.model, solve, probes, LAM))
    p.model.frames = frames
    want = sum(f.rss for f in each) / 3
    assert fit.rss == pytest.approx(want, rel=1e-7) and abs(fit.rss - lum.rss) > 1e-3 * want
    assert fit.energy == pytest.approx(sum(f.energy for f in each) / 3, rel=1e-7)
    assert fit.trace == pytest.approx(lum.trace, rel=1e-7)
    assert torch.allclose(fit.state, lum.state, rtol=0, atol=1e-9 * float(lum.state.abs().max()))


def _auto(device, path, **settings):
    p = _problem(device, path, lambda_f="auto", **settings)
    res = VarProCG(config_section("solver", "varpro_cg"), p.ctx).solve(p, Monitor())
    return p, res


def test_below_the_bar_bit_identical_and_above_it_the_channels_rule(device, rgb, saturated):  # noqa: F811
    """Below the bar the setting changes nothing (weight and image bit for bit); above it the search's first
    weight is valued by another misfit (the channels')."""
    off, res_off = _auto(device, rgb)
    on, res_on = _auto(device, rgb, lam_channels_saturated=True)
    assert res_on.metrics["lam_chosen"] == res_off.metrics["lam_chosen"]
    assert torch.equal(res_on.solution["f"], res_off.solution["f"])
    tables = [_auto(device, saturated, lam_channels_saturated=on)[0].weight_searches[0].table()
              for on in (False, True)]
    lam = max(set(tables[0]["lam"]) & set(tables[1]["lam"]))  # a weight of the grid both searches valued
    off_value, on_value = (float(t["criterion"][t["lam"] == lam][0]) for t in tables)
    assert abs(on_value - off_value) > 1e-3 * abs(off_value)


def test_the_search_again_on_saturated_frames(device, rgb, saturated):  # noqa: F811
    """problem.lam_rechoose_move_saturated: null keeps lam_rechoose_move; a number replaces it only for auto on
    colour frames at or above the chroma share's bar; a negative one is refused with one line."""
    default = _problem(device, saturated, lambda_f="auto").rechoose
    assert _problem(device, saturated, lambda_f="auto", lam_rechoose_move_saturated=0.0).rechoose.move == 0.0
    for path, lam in ((rgb, "auto"), (saturated, LAM)):
        assert _problem(device, path, lambda_f=lam, lam_rechoose_move_saturated=0.0).rechoose == default
    with pytest.raises(UserError, match=r"problem.lam_rechoose_move_saturated=-1.0 must be >= 0"):
        _problem(device, saturated, lambda_f="auto", lam_rechoose_move_saturated=-1.0)
