"""problem.lam_split_stay_climb (srcell, opt-in): quasi-optimality's climb after a frame-split walk that stayed, on
frames of 17-32 px a side (docs/superres.md, "The weight on clean, smooth frames (srcell)")."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import regrun.registration.superres_cv as cv
from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.optim.parameter_choice import Choice, quasi_optimal_above
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import QUASI_OPTIMAL_MIN_FRAME, weight_evaluator


def _problem(device, **overrides):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    settings = {"size": 12, "n_frames": 3, "noise": 0.02, "outside": "drop", "lambda_f": "auto", **overrides}
    p = SuperRes(config_section("problem", "superres", **settings), ctx)
    return p, p.w_true.clone()


def test_the_climb_after_a_stay_only_where_set_and_on_frames_up_to_the_climbs_limit():
    for on, qo, side, expected in ((True, True, 17, True), (True, True, QUASI_OPTIMAL_MIN_FRAME, True),
                                   (True, True, QUASI_OPTIMAL_MIN_FRAME + 1, False),  # climbed before the walk
                                   (False, True, 24, False), (True, False, 24, False)):
        prob = SimpleNamespace(weight_stay_climb=on, weight_quasi_optimal=qo,
                               model=SimpleNamespace(coarse=SimpleNamespace(m=(side, side + 8))))
        assert cv.stay_climb_on(prob) is expected
    assert cv.stay_climb_on(SimpleNamespace(weight_quasi_optimal=True)) is False  # a namespace without the setting


def test_the_setting_is_off_by_default_and_a_bad_value_is_one_line(device):
    p, _ = _problem(device)
    assert p.weight_stay_climb is False
    assert _problem(device, lam_split_stay_climb=True)[0].weight_stay_climb is True
    with pytest.raises(UserError, match="problem.lam_split_stay_climb"):
        _problem(device, lam_split_stay_climb="yes")


def test_the_climb_from_a_low_weight_reaches_quasi_optimalitys_minimum(device):
    """From a weight well under the image's best (the image's change per log weight falls), stay_climb goes up to
    quasi_optimal_above's first minimum on the same evaluator, records it, and leaves the gate's reading unset on
    frames of 16 px and less (the gate acts on larger frames only)."""
    # 8 frames at 0.5%: the image's change per log weight falls from 85 at 1e-3 to 18 at 1e-2, then rises
    p, w = _problem(device, lam_split_stay_climb=True, size=16, n_frames=8, noise=0.005)
    p.model.settle_outside(w)
    start = 1e-3
    choice = Choice(lam=start, rule="gcv", sigma=1.0, noise_source="given", solves=1, at_edge=False, curve={},
                    state=None, details={})
    out = {}
    lam = cv.stay_climb(p, w, choice, out)
    ev, _, _ = weight_evaluator(p, w, p.weight_settings, torch.Generator().manual_seed(0))
    expected = quasi_optimal_above(ev.change, ev.image, start, p.weight_settings.hi)
    assert lam > start and lam == pytest.approx(expected, rel=1e-12)
    assert set(out) == {"lam_split_stay_climb", "lam_split_stay_fall"} and out["lam_split_stay_climb"] == lam
    assert out["lam_split_stay_fall"] == pytest.approx(1 - ev.change(lam) / ev.change(start), rel=1e-9)
    assert 0 < out["lam_split_stay_fall"] < 1


def test_a_climb_whose_change_fell_less_than_the_bar_keeps_the_walks_weight(device, monkeypatch):
    """A climb that moved but whose image change fell by less than STAY_CLIMB_MIN_FALL returns the walk's weight,
    its readings recorded all the same (FG's camera: 0.004 over one step, -0.29 dB where kept)."""
    p, w = _problem(device, lam_split_stay_climb=True, size=16, n_frames=8, noise=0.005)
    p.model.settle_outside(w)
    choice = Choice(lam=1e-3, rule="gcv", sigma=1.0, noise_source="given", solves=1, at_edge=False)
    kept = {}
    assert cv.stay_climb(p, w, choice, kept) > 1e-3
    monkeypatch.setattr(cv, "STAY_CLIMB_MIN_FALL", kept["lam_split_stay_fall"] + 1e-6)
    out = {}
    assert cv.stay_climb(p, w, choice, out) == 1e-3
    assert out["lam_split_stay_climb"] == kept["lam_split_stay_climb"] > 1e-3
