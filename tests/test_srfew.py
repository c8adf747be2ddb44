"""Frames of a few grey values made the super-resolution solve very slow (newuser9's leftover, srfew): a frame's
motion left any plausible range (zoomed 11-21x, moved 700 px: a nearly constant frame fits the frames' level
beyond the fine grid), and every product at such a motion built patches of 35 x 30 coefficients. Each case failed
before its fix (docs/sweeps.md, "Frames of a few grey values: the motion leaves any plausible range (srfew)")."""
from __future__ import annotations

import math

import pytest
import torch


def _model(device, q=3, m=8, factor=2):
    from regrun.imaging.grid import Grid
    from regrun.registration.superres_model import SuperResModel

    frames = torch.rand(q + 1, m, m, dtype=torch.float64, device=device)
    return SuperResModel(frames, Grid((0.0, float(m), 0.0, 2.0 * m), (factor * m, factor * m)), factor, 0.1)


def _frames(model, rows):
    """Affine w (6q,) of the model's frames: the identity but for the rows {frame index: (A11, A12, A21, A22,
    b1, b2)}."""
    w = model.identity.clone().reshape(model.q, 6)
    for j, row in rows.items():
        w[j] = torch.tensor(row, dtype=w.dtype, device=w.device)
    return w.reshape(-1)


def test_a_motion_out_of_the_plausible_range_is_measured(device):
    from regrun.registration.superres_motion import MOTION_SHIFT_MAX, MOTION_ZOOM_MAX, motion_excess

    model = _model(device)
    c1, c2 = model.fine.centre
    turn = (-1.0, 0.0, 0.0, -1.0, 2 * c1, 2 * c2)  # half a turn about the centre: the centre stays
    side = MOTION_SHIFT_MAX * max(model.fine.m) * model.fine.h[0]
    rows = {0: turn, 1: (2.5 * MOTION_ZOOM_MAX / 2, 0.0, 0.0, 1.0, 0.0, 0.0),
            2: (1.0, 0.0, 0.0, 1.0, 1.5 * side, 0.0)}
    got = motion_excess(model, _frames(model, rows))
    assert got.device.type == device.type
    assert got[0].item() == pytest.approx(1 / MOTION_ZOOM_MAX)  # no shift, zoom 1
    assert got[1].item() > 1.0  # zoom 2.5 x the bound's half
    assert got[2].item() == pytest.approx(1.5)  # one and a half sides away
    # the axes' cells differ (h = 0.5 and 1): the shear in pixels, not domain units, is what the stencil sees
    shear = (1.0, 0.5, 0.0, 1.0, -0.5 * c2, 0.0)  # x1 += x2 / 2 in domain units: x1 += x2 in pixels
    golden = (1 + 5 ** 0.5) / 2  # the singular values of [[1, 1], [0, 1]]: golden and 1 / golden
    assert motion_excess(model, _frames(model, {0: shear}))[0].item() == pytest.approx(golden / MOTION_ZOOM_MAX)


def test_the_guard_refuses_steps_leaving_the_range_and_builds_nothing(device):
    from regrun.registration.superres_motion import MOTION_ZOOM_MAX, MotionGuard, motion_excess

    model = _model(device)
    motion = type("Affine", (), {"to_affine": staticmethod(lambda p: p)})()
    built = []

    def residual(p):
        built.append(p)
        return torch.zeros(4, dtype=p.dtype, device=p.device)

    z = MOTION_ZOOM_MAX
    start = _frames(model, {1: (1.5 * z, 0.0, 0.0, 1.0, 0.0, 0.0)})  # frame 1 already out (excess 1.5)
    guard = MotionGuard(model, motion, residual, start)
    assert torch.isfinite(guard(start)).all()  # the start itself is allowed
    inward = _frames(model, {1: (1.25 * z, 0.0, 0.0, 1.0, 0.0, 0.0)})
    assert torch.isfinite(guard(inward)).all()
    further = _frames(model, {1: (1.6 * z, 0.0, 0.0, 1.0, 0.0, 0.0)})
    assert not torch.isfinite(guard(further)).any()
    leaving = _frames(model, {1: (1.5 * z, 0.0, 0.0, 1.0, 0.0, 0.0), 2: (1.0, 0.0, 0.0, 1.0, 700.0, 0.0)})
    assert not torch.isfinite(guard(leaving)).any()
    assert len(built) == 2 and guard.refused == 2
    assert guard.worst == pytest.approx(float(motion_excess(model, leaving).max()))


def test_lm_rejects_a_refused_step_as_a_rise():
    # LM takes the refused (not finite) trial as a failed step: it raises the damping and tries a shorter one;
    # on a quadratic whose minimum lies outside the allowed box it ends at the box, not at the minimum
    from regrun.optim.levenberg_marquardt import levenberg_marquardt

    target = torch.tensor([5.0, 0.0], dtype=torch.float64)

    def rj(w):
        return w - target, torch.eye(2, dtype=torch.float64)

    def guarded(w):
        return torch.full((1,), math.inf, dtype=w.dtype) if w[0] > 1.0 else w - target

    res = levenberg_marquardt(rj, torch.zeros(2, dtype=torch.float64), max_iter=30, residual=guarded)
    assert 0.5 < res.w[0].item() <= 1.0


def test_a_second_start_out_of_the_range_is_not_run(device):
    from regrun.registration.superres_motion import MotionModel
    from regrun.registration.superres_start import plausible_second_start

    model = _model(device)
    problem = type("P", (), {})()
    problem.model, problem.motion = model, MotionModel("affine", model.fine.centre, model.q)
    first = _frames(model, {0: (1.02, 0.0, 0.0, 0.98, 0.3, -0.2)})
    near = _frames(model, {0: (1.0, 0.05, -0.05, 1.0, 1.0, 1.0)})
    assert plausible_second_start(problem, near, first) is near and problem.second_start_refused == 0.0
    wild = _frames(model, {2: (21.0, 15.0, -12.0, 14.0, 700.0, 590.0)})  # newuser9's camera at 2 values
    assert plausible_second_start(problem, wild, first) is None
    assert problem.second_start_refused > 10
    assert plausible_second_start(problem, None, first) is None


def test_the_motion_model_choice_on_frames_with_no_noise_keeps_affine(device):
    # 2-valued frames read a noise estimate of 0, and the choice divided by it: ZeroDivisionError, after two more
    # varpro_cg runs, once the solve itself no longer ran for minutes
    from types import SimpleNamespace

    from regrun.registration.superres_model_choice import choice_line, choose_motion_model

    frames = torch.zeros(4, 12, 12, dtype=torch.float64, device=device)
    frames[:, :, 6:] = 1.0  # one edge, two values: no weak-texture patch reads noise
    problem = SimpleNamespace(cfg={"lam_noise": None}, model=SimpleNamespace(frames=frames, lam=0.1),
                              weight_choice=None, motion_noise="images")
    asked = []
    chosen, metrics = choose_motion_model(problem, None, None, lambda changes: asked.append(changes), 2.0)
    assert chosen == "affine" and not asked and metrics["motion_model_sigma"] == 0.0
    assert "noise estimate is 0" in choice_line(chosen, metrics, 2.0)


def test_the_record_and_the_warning_name_what_the_guard_did(device):
    from regrun.registration.superres_motion import MotionGuard, motion_range, motion_range_warning

    model = _model(device)
    w = model.identity.clone()
    assert motion_range(model, w, []) == {} and motion_range_warning({}) == []  # normal frames: nothing new
    guard = MotionGuard(model, type("A", (), {"to_affine": staticmethod(lambda p: p)})(), lambda p: p, w)
    guard(_frames(model, {1: (50.0, 0.0, 0.0, 1.0, 0.0, 0.0)}))
    got = motion_range(model, _frames(model, {2: (1.0, 0.0, 0.0, 1.0, 900.0, 0.0)}), [guard])
    assert got["motion_steps_refused"] == 1.0 and got["motion_excess"] > 1 and got["motion_excess_frame"] == 3.0
    line = motion_range_warning({**got, "second_start_refused": 7.06})
    assert len(line) == 1
    assert "frame 3's motion in the answer lies" in line[0] and "1 solver steps" in line[0]
    assert "a second start 7.06x out was not run" in line[0]


def test_the_camera_at_two_values_is_refused_before_any_start(tmp_path, device):
    # newuser9's dev camera rounded to 2 values (seed 25911, newuser8's burst: 8 frames of 24^2) once ran a pairwise
    # second start at zooms of ~20 for 6.5 min and more (plausible_second_start's case above); since newuser21 such a
    # two-value burst is refused before any start, with the values named (the 3-value rounding of the same burst,
    # x10, runs and its second start stays in range)
    pytest.importorskip("skimage", reason="the camera scene is scikit-image's (pip install -e .[bench])")
    import sys
    from pathlib import Path

    import numpy as np

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.errors import UserError
    from regrun.problems.superres import SuperRes

    scripts = str(Path(__file__).resolve().parents[1] / "scripts")
    sys.path.insert(0, scripts)
    try:
        from newuser8_heldout import _burst, _scene
    finally:
        sys.path.remove(scripts)
    rng = np.random.default_rng([25911, 0])  # newuser9_levels.py's first scene of seed 25911
    scene = _scene("camera", rng)
    np.save(tmp_path / "k7.npy", (_burst(scene, rng) * 7).round())
    cfg = config_section("problem", "superres", data="frames", frames=str(tmp_path / "k7.npy"))
    with pytest.raises(UserError, match="only the values 4 and 5"):
        SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))
