"""problem.lam_chroma_factor (srcolour): with lambda_f=auto on colour frames, the chroma (each channel less the
luminance) solved at that factor times the luminance's weight, the luminance's image kept as chosen."""
import numpy as np
import pytest
import torch
from test_superres_frames_level import _problem, write_sky

from regrun.errors import UserError
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, luminance_weights
from regrun.solve_result import SolveResult

LAM = 0.3


@pytest.fixture(scope="module")
def rgb(tmp_path_factory):
    """The sky's frames in three channels with a chroma of their own (a ramp across the rows in red, against it in
    blue), so the chroma's weight has something to smooth: a wash over the sky, its chroma share 0.12 (under
    problem.lam_chroma_share_max; 4x the ramps read 2.1)."""
    path = tmp_path_factory.mktemp("rgb")
    data = np.load(write_sky(path / "grey.npz"))
    rows = np.linspace(-1.0, 1.0, data[FRAMES_KEY].shape[-2])[:, None]
    fine = np.linspace(-1.0, 1.0, data[TRUTH_KEY].shape[-2])[:, None]
    tilt = np.array([1.0, 0.0, -1.5])
    np.savez(path / "rgb.npz", **{FRAMES_KEY: data[FRAMES_KEY][..., None] + rows[..., None] * tilt,
                                  TRUTH_KEY: data[TRUTH_KEY][..., None] + fine[..., None] * tilt, "w": data["w"]})
    return path / "rgb.npz"


@pytest.fixture(scope="module")
def saturated(tmp_path_factory):
    """The sky's frames scaled differently in each channel (3, 0, -1): the colour carries the picture's detail, its
    chroma 14x the luminance's gradient energy (a colour wheel's 2.8, FC s9576)."""
    path = tmp_path_factory.mktemp("saturated")
    data = np.load(write_sky(path / "grey.npz"))
    scale = np.array([3.0, 0.0, -1.0])
    np.savez(path / "rgb.npz", **{FRAMES_KEY: data[FRAMES_KEY][..., None] * scale,
                                  TRUTH_KEY: data[TRUTH_KEY][..., None] * scale, "w": data["w"]})
    return path / "rgb.npz"


def _channels(device, path, factor, lam_f="auto", **settings):
    """(the channels' images (3, n) at the true motion and weight LAM, the luminance's image, the problem)."""
    p = _problem(device, path, lambda_f=lam_f, lam_chroma_factor=factor, **settings)
    p.model.set_weight(LAM)  # auto's weight, as the solver leaves it set
    p.model.settle_outside(p.w_true)
    x = p.model.solve(p.w_true, 2000, 1e-12).x
    return p.solve_channels(p.w_true, x, 1e-12), x, p


def _direct(p, lam):
    """Each channel's image at lam and the luminance's, by CG from the fixed start: no colour transform."""
    p.model.set_weight(lam)
    frames = [p.colour[:, c] - p.level for c in range(3)]
    lum = sum(a * f for a, f in zip(luminance_weights(3), frames))
    out = [p.model.solve(p.w_true, 2000, 1e-12, b=p.model.rhs(d)).x for d in (*frames, lum)]
    p.model.set_weight(LAM)
    return torch.stack(out[:3]) + p.level, out[3]


def test_the_chroma_at_its_own_weight(device, rgb):
    est, f_lum, p = _channels(device, rgb, 2.0)
    assert p.model.lam == LAM  # the luminance's weight set back for what follows
    # the answer's luminance is the luminance's image as chosen (the last channel follows from it)
    a = luminance_weights(3)
    assert torch.allclose(sum(ac * e for ac, e in zip(a, est)), f_lum + p.level, rtol=0, atol=1e-9)
    # each channel: the luminance's image at LAM plus (channel less luminance) at 2 LAM, from direct solves
    low, lum_low = _direct(p, LAM)
    high, lum_high = _direct(p, 2 * LAM)
    want = lum_low + (high - lum_high[None])
    assert torch.allclose(est, want, rtol=0, atol=1e-6 * float(want.abs().max()))
    # and not main's answer: the chroma moved (the ramps are smoothed more)
    assert float((est - low).abs().max()) > 1e-3


def test_the_default_and_its_record(device, rgb):
    """auto on colour frames: the default factor is 2 behind the share's gate at 1 (configs/problem/superres.yaml:
    srcolour2), recorded as the chroma's weight with the share; factor 1 records nothing for the chroma."""
    p = _problem(device, rgb, lambda_f="auto", lam_chroma_factor=1.0)
    p.model.set_weight(LAM)
    metrics, _ = p.evaluate(SolveResult(solution={"w": p.w_true}, status="converged"))
    assert "lam_chroma" not in metrics and "chroma_share" not in metrics
    p = _problem(device, rgb, lambda_f="auto")
    assert p.lam_chroma_factor == 2.0 and p.lam_chroma_share_max == 1.0
    p.model.set_weight(LAM)
    metrics, arrays = p.evaluate(SolveResult(solution={"w": p.w_true}, status="converged"))
    assert metrics["lam_chroma"] == pytest.approx(2 * LAM) and arrays["reconstruction"].shape[0] == 3


def test_factor_one_and_a_typed_weight_are_mains(device, rgb):
    one, _, p = _channels(device, rgb, 1.0)
    low, _ = _direct(p, LAM)
    assert torch.allclose(one, low, rtol=0, atol=1e-6 * float(low.abs().max()))
    typed, _, _ = _channels(device, rgb, 2.0, lam_f=LAM)  # a typed weight is the user's for every channel
    assert torch.equal(typed, one)


def test_a_factor_below_one_is_refused(device, rgb):
    with pytest.raises(UserError, match=r"problem.lam_chroma_factor=0.5 must be >= 1"):
        _problem(device, rgb, lambda_f="auto", lam_chroma_factor=0.5)


def test_the_chroma_share(device, rgb, saturated):
    """The frames' chroma over their luminance in squared neighbour differences: the ramps' chroma is a wash (the
    factor applies), the scaled sky's is its content: (3 - Y)^2 + Y^2 + (1 + Y)^2 over Y^2, Y = 3 a_R - a_B."""
    p = _problem(device, rgb, lambda_f="auto", lam_chroma_factor=2.0)
    assert p.chroma_share() < 0.5 and p.chroma_factor() == 2.0
    y = 3 * luminance_weights(3)[0] - luminance_weights(3)[2]
    p = _problem(device, saturated, lambda_f="auto", lam_chroma_factor=2.0)
    assert p.chroma_share() == pytest.approx(((3 - y) ** 2 + y ** 2 + (1 + y) ** 2) / y ** 2, rel=1e-9)
    assert p.chroma_factor() == 1.0


def test_a_saturated_chroma_keeps_the_luminance_weight(device, saturated):
    """At or above problem.lam_chroma_share_max the chroma is solved at the luminance's weight: factor 2 gives
    factor 1's channels bit for bit and records the weight used and the share; .inf turns the gate off."""
    one, _, _ = _channels(device, saturated, 1.0)
    gated, _, p = _channels(device, saturated, 2.0)
    assert torch.equal(gated, one)
    p.model.set_weight(LAM)
    metrics, _ = p.evaluate(SolveResult(solution={"w": p.w_true}, status="converged"))
    assert metrics["lam_chroma"] == pytest.approx(LAM) and metrics["chroma_share"] > 10
    free, _, _ = _channels(device, saturated, 2.0, lam_chroma_share_max=float("inf"))
    assert float((free - one).abs().max()) > 1e-3


def test_a_negative_share_bar_is_refused(device, rgb):
    with pytest.raises(UserError, match=r"problem.lam_chroma_share_max=-1.0 must be >= 0"):
        _problem(device, rgb, lambda_f="auto", lam_chroma_share_max=-1.0)
