"""problem.frames_level: a user's frames less their mean for the solve, the answer given it back. The moved frames
are read from the image's cubic spline, zero beyond the fine grid, so on a bright, nearly flat crop (a sky) the
kept edge pixels carry a model error of a few percent of the level, larger than the scene: `auto` fell to the
range's bottom (docs/superres.md, "srsky")."""
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.grid import Grid
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import block_sample
from regrun.imaging.transforms import affine, affine_about
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.varpro_cg import VarProCG

SIZE, FRAMES = 20, 16


def _sky(x):
    """A bright sky: a ramp of ~12 levels across the crop at level ~206 and a faint cloud (spread ~3)."""
    d = (x - torch.tensor([7.0, 12.0], dtype=x.dtype)).pow(2).sum(-1)
    return 200.0 + 0.6 * x[..., 1] + 1.5 * torch.exp(-d / 20.0)


@pytest.fixture(scope="module")
def sky(tmp_path_factory):
    return write_sky(tmp_path_factory.mktemp("sky") / "sky.npz")


def write_sky(path: Path) -> Path:
    """16 frames of 10^2 moved by shifts of up to 1 fine pixel, 0.5% noise (the issue's sky crop's kind)."""
    gen = torch.Generator().manual_seed(4661)
    fine = Grid((0.0, float(SIZE), 0.0, float(SIZE)), (SIZE, SIZE))
    coarse = Grid(fine.omega, (SIZE // 2, SIZE // 2))
    shifts = (2 * torch.rand(FRAMES - 1, 2, generator=gen, dtype=torch.float64) - 1).tolist()  # +-1 fine px
    w = [affine_about(0.0, (1.0, 1.0), tuple(t), fine.centre) for t in shifts]
    truth = block_sample(_sky, fine, 8)
    stack = torch.stack([block_sample(_sky, coarse, 16)]
                        + [block_sample(_sky, coarse, 16, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w])
    stack = stack + 0.005 * stack.std() * torch.randn(stack.shape, generator=gen, dtype=torch.float64)
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack.numpy()), TRUTH_KEY: from_fair_layout(truth.numpy()),
                      "w": torch.cat(w).numpy()})
    return path


def _problem(device, path, **over):
    """problem.frames_level=true unless `over` says otherwise."""
    ctx = RunContext(device, torch.float64, 0, Path("."))
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), **{"frames_level": True, **over})
    return SuperRes(cfg, ctx)


def test_level_taken_off_and_given_back(device, sky):
    p = _problem(device, sky, lambda_f=0.3)
    given = _problem(device, sky, lambda_f=0.3, frames_level=False)
    assert given.level == 0.0 and p.level > 190
    assert abs(float(p.model.frames.mean())) < 1e-9 * p.level
    assert torch.allclose(p.frames(), given.model.frames, rtol=0, atol=1e-12 * p.level)
    assert np.allclose(p.inputs()["frames"], given.inputs()["frames"], rtol=0, atol=1e-12 * p.level)
    assert _problem(device, sky, lambda_f=0.3, gain=True).level == 0.0  # a gain would scale the level
    assert _problem(device, sky, lambda_f=0.3, outside="keep").level == 0.0  # beyond the view: the zero extension
    ctx = RunContext(device, torch.float64, 0, Path("."))
    default = SuperRes(config_section("problem", "superres", data="frames", frames=str(sky), lambda_f=0.3), ctx)
    assert default.level == p.level != 0.0  # on by default for your frames
    with pytest.raises(UserError, match="problem.frames_level"):
        _problem(device, sky, lambda_f=0.3, frames_level="yes")


def test_flat_crop_fits_at_the_true_motion(device, sky):
    """At the true motion and a fixed weight: with the level taken off the answer beats the zero extension's by
    more than 5 dB (measured 32.5 against 22.6), and the kept pixels' misfit falls over 10x (the edge error)."""
    out = {}
    for on in (True, False):
        p = _problem(device, sky, lambda_f=0.3, frames_level=on)
        p.model.settle_outside(p.w_true)
        x = p.model.solve(p.w_true, 2000, 1e-12).x
        r = p.model.residual(p.w_true, x)[: p.model.n_data]
        img = (x.reshape(p.fine.m) + p.level).cpu().numpy()
        out[on] = (psnr(img, p.truth.cpu().numpy()), float(r @ r), p.rel_error(x))
    assert out[True][0] > out[False][0] + 5.0, out
    assert out[True][1] < out[False][1] / 10, out
    assert out[True][2] < out[False][2]


def test_auto_weight_on_a_flat_crop(device, sky):
    """lambda_f=auto as the user runs it: inside the range (not its bottom) and above frame 0's bicubic."""
    p = _problem(device, sky, lambda_f="auto")
    res = VarProCG(config_section("solver", "varpro_cg"), p.ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    f0 = p.frames()[0][None, None]
    bicubic = torch.nn.functional.interpolate(f0, size=p.fine.m, mode="bicubic", align_corners=False)[0, 0]
    assert res.metrics["lam_chosen"] > 0.01, res.metrics["lam_chosen"]
    assert metrics["psnr"] > psnr(bicubic.cpu().numpy(), p.truth.cpu().numpy()), metrics["psnr"]
    assert abs(float(arrays["reconstruction"].mean()) - p.level) < 0.05 * p.level  # the user's units
    assert metrics["frames_level"] == p.level  # the results file says which level was taken off


def test_colour_channels_in_the_users_units(device, tmp_path):
    """Colour frames: every channel less the luminance's level, and the level back on each (the luminance weights
    sum to 1): the channels' answer at the true motion and a fixed weight lies in the user's units (each channel's
    mean within 1% of its truth's, the channels 30, 60 and 90 apart) and beats the zero extension's."""
    grey = write_sky(tmp_path / "grey.npz")
    data = np.load(grey)
    offsets = np.array([-30.0, 0.0, 30.0])
    frames = data[FRAMES_KEY][..., None] + offsets  # (frames, rows, columns, channels)
    truth = data[TRUTH_KEY][..., None] + offsets
    path = tmp_path / "rgb.npz"
    np.savez(path, **{FRAMES_KEY: frames, TRUTH_KEY: truth, "w": data["w"]})
    out = {}
    for on in (True, False):
        p = _problem(device, path, lambda_f=0.3, frames_level=on)
        p.model.settle_outside(p.w_true)
        x = p.model.solve(p.w_true, 2000, 1e-12).x
        est = p.solve_channels(p.w_true, x, 1e-12).reshape(-1, *p.fine.m).cpu().numpy()
        tru = p.truth_colour.cpu().numpy()
        out[on] = psnr(est, tru)
        if on:
            assert np.allclose(est.mean((1, 2)), tru.mean((1, 2)), rtol=0.01)
    assert out[True] > out[False] + 3.0, out


def test_as_given_ladder_second_start_on_a_bright_crop(device, tmp_path):
    """srprereg's B (superres_start.as_given_start): a moon crop at the sky's level (bench_lambda_sr's
    moon@280:340 24^2/16 0.5% s7326, level 112), where the ladder on the frames less the level lands 4.7 fine px
    off. Neither the stopped ladder's nor the pairwise second start is taken, the as-given ladder (1.0 px off) is,
    and the solve keeps its run: 0.14 px, 33.91 dB at lambda_f 0.126 (main: 4.94 px, 32.81 dB)."""
    pytest.importorskip("skimage", reason="the moon crop is scikit-image's (pip install -e .[bench])")
    from script_module import load_script

    from regrun.registration.superres_start import start_distance, start_params

    truth, stack, w, _ = load_script("bench_lambda_sr").frame_set("sk:moon@280:340", 24, 16, 0.005, 7326,
                                                                  supersample=8)
    path = tmp_path / "moon.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    p = _problem(device, path, lambda_f=0.126)
    first = start_params(p, "preregister")
    assert p.start_taken.get("start_stopped_ladder_taken") == 0.0
    assert p.start_taken.get("start_as_given_taken") == 1.0
    assert start_distance(p, first, p.w_true) > 4.0 and start_distance(p, p.second_start, p.w_true) < 1.5
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), p.ctx).solve(p, Monitor())
    metrics, _ = p.evaluate(res)
    assert metrics["second_start_kept"] == 1.0
    assert metrics["motion_error"] < 0.5 and metrics["psnr"] > 33.5
