"""The affine ladder's area guard (superres_model.PREREG_AREA_MAX, srscale): a frame whose ladder end squeezes or
stretches its area past the range takes the rigid ladder's end; the other frames, and sets where no frame leaves the
range, keep the ladder's end to the bit (docs/superres.md, "The affine ladder's implausible area scales (srscale)")."""
from pathlib import Path

import numpy as np
import pytest
import torch
from script_module import load_script

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.problems.superres import SuperRes
from regrun.registration import superres_model
from regrun.registration.superres_motion import MotionModel

pytest.importorskip("skimage")  # the sets are scikit-image textures (the bench extra; CI installs .[test] only)


def frames_file(tmp_path_factory, kind: str, size: int, seed: int) -> Path:
    truth, stack, w, _ = load_script("bench_lambda_sr").frame_set(kind, size, 12, 0.02, seed, supersample=8)
    path = tmp_path_factory.mktemp("set") / "set.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    return path


@pytest.fixture(scope="module")
def brick(tmp_path_factory):
    """MC's brick@350:150 20^2/12 2% s7937: the ladder less the level ends with det A 0.02-10.3 on 4 frames."""
    return frames_file(tmp_path_factory, "sk:brick@350:150", 20, 7937)


@pytest.fixture(scope="module")
def control(tmp_path_factory):
    """srperiod's control brick@100:300 24^2/12 s7934 (2% here): every frame's end within det 0.9-1.2."""
    return frames_file(tmp_path_factory, "sk:brick@100:300", 24, 7934)


def ladder(path: Path, device, guard: bool, monkeypatch):
    """The user's affine ladder (frames less their level, outside=drop) with the guard on or off."""
    monkeypatch.setattr(superres_model, "PREREG_AREA_MAX", superres_model.PREREG_AREA_MAX if guard else 0.0)
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                true_motion=str(path), motion_model="affine"),
                 RunContext(device, torch.float64, 0, Path(".")))
    return p, p.model.preregister(drop_outside=True).reshape(p.model.q, 6)


def det(w):
    return torch.linalg.det(w[:, :4].reshape(-1, 2, 2))


def test_frames_out_of_range_take_the_rigid_ladders_end(brick, device, monkeypatch):
    p, off = ladder(brick, device, False, monkeypatch)
    out = (det(off) > superres_model.PREREG_AREA_MAX) | (det(off) < 1 / superres_model.PREREG_AREA_MAX)
    assert 1 <= int(out.sum()) < p.model.q  # measured: 4 of 11 frames
    p, on = ladder(brick, device, True, monkeypatch)
    assert on.device.type == device.type and on.dtype == torch.float64
    assert p.model.area_refused == int(out.sum())
    assert torch.equal(on[~out], off[~out])  # the frames in range: the ladder's end, to the bit
    rigid = MotionModel("rigid", p.model.fine.centre, p.model.q)
    r = rigid.to_affine(p.model.preregister(drop_outside=True, transform=rigid.transform)).reshape(p.model.q, 6)
    assert torch.equal(on[out], r[out])
    assert bool(((det(on) > 0.5) & (det(on) < 2.0)).all())


def test_a_set_in_range_is_unchanged(control, device, monkeypatch):
    _, off = ladder(control, device, False, monkeypatch)
    p, on = ladder(control, device, True, monkeypatch)
    assert p.model.area_refused == 0 and torch.equal(on, off)
