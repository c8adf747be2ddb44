"""The pre-registration's edge taper as wide as each scale's smoothing reaches (superres_model.SMOOTH_EDGE): near a
frame's edge its smoothed spline is the boundary's extrapolation, so without it the smooth scales' minima lie
pixels off the true motion on content whose smooth part is faint (a dot screen; docs/superres.md, "Eleventh
round")."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from regrun.imaging.grid import Grid
from regrun.imaging.synthetic import block_sample
from regrun.imaging.transforms import affine, affine_about
from regrun.registration import superres_model, superres_start
from regrun.registration.superres_motion import MotionModel
from regrun.registration.superres_model import SuperResModel
from regrun.registration.superres_start import start_distance


def _halftone(x):
    """A dot screen of period 6 at 15 degrees whose dot size follows a smooth field (bench_lambda_sr's halftone)."""
    t = math.radians(15.0)
    a = math.cos(t) * x[..., 0] + math.sin(t) * x[..., 1]
    b = -math.sin(t) * x[..., 0] + math.cos(t) * x[..., 1]
    field = 0.5 + 0.45 * torch.sin(2 * math.pi * (0.3 + x[..., 0] / 70.0)) * torch.cos(
        2 * math.pi * (0.1 + x[..., 1] / 90.0))
    da, db = torch.remainder(a, 6.0) - 3.0, torch.remainder(b, 6.0) - 3.0
    return 255 * torch.sigmoid(((da**2 + db**2).sqrt() - 3.2 * field.sqrt()) / 0.5)


def _frames(size, device):
    fine = Grid((0.0, float(size), 0.0, float(size)), (size, size))
    coarse = Grid(fine.omega, (size // 2, size // 2))
    w = [affine_about(a, (1.0, 1.0), t, fine.centre) for a, t in ((6.0, (5.0, -4.0)), (-7.0, (-4.0, 6.0)))]
    frames = [block_sample(_halftone, coarse, 4)]
    frames += [block_sample(_halftone, coarse, 4, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
    return fine, torch.stack(frames).to(device), torch.stack(w).to(device)


@pytest.mark.parametrize("global_start", [False, True])
def test_dot_screen_is_preregistered_right(device, monkeypatch, global_start):
    """Halftone 96^2 from 3 frames (48 px, rotations 6-7 degrees): with the narrow taper the second frame ends
    a period off (measured 3.4 px with the ladder alone, 6.0 with the global start); with the wide one both are
    right (0.009 and 0.007 px), with or without the global start."""
    fine, frames, w_true = _frames(96, device)
    model = SuperResModel(frames, fine, 2, 0.1, outside="drop")
    true = affine(w_true[:, None, :], model.x)
    monkeypatch.setattr(superres_model, "GLOBAL_START", global_start)

    def error():
        w = model.preregister(drop_outside=True, thetas=(1e2, 1.0, 1e-2))  # the ladder's ends: a fast test
        return (model.warp_points(w) - true).norm(dim=-1).pow(2).mean(-1).sqrt()

    monkeypatch.setattr(superres_model, "SMOOTH_EDGE", 0.0)
    narrow = error()
    monkeypatch.setattr(superres_model, "SMOOTH_EDGE", 3.0)
    wide = error()
    assert float(narrow.max()) > 1.0, narrow
    assert float(wide.max()) < 0.05, wide


def test_small_frames_keep_the_narrow_taper(device, monkeypatch):
    """Frames of PYRAMID_MIN pixels a side or less (here 16): the same motion to the last digit with the wide
    taper on or off (the paper's presets, the CI pairs)."""
    fine, frames, _ = _frames(32, device)
    model = SuperResModel(frames, fine, 2, 0.1, outside="drop")
    monkeypatch.setattr(superres_model, "SMOOTH_EDGE", 0.0)
    off = model.preregister(drop_outside=True, thetas=(1.0, 1e-2), max_iter=5)
    monkeypatch.setattr(superres_model, "SMOOTH_EDGE", 3.0)
    on = model.preregister(drop_outside=True, thetas=(1.0, 1e-2), max_iter=5)
    assert torch.equal(off, on)


def _small_text(x, size=64):
    """16 lines of random letters, Pillow's default font at 13 px on a 256^2 page shown on [0, size]^2 (letters of
    3 fine px, lines 3.9 fine px apart: bench_lambda_sr's rendered_text, where the frames see the lines aliased)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (256, 256), 255)
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=13)
    rng = np.random.default_rng(5)
    for row in range(16):
        draw.text((6, 4 + 15.5 * row), "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz     "), 40)), fill=0,
                  font=font)
    a = torch.as_tensor(np.asarray(img, dtype=np.float64)).flip(0).T[None, None]  # FAIR layout
    g = (x / size) * 2 - 1
    pts = torch.stack((g[..., 1], g[..., 0]), -1).reshape(1, -1, 1, 2).to(a)
    v = torch.nn.functional.grid_sample(a, pts, mode="bilinear", padding_mode="border", align_corners=False)
    return v.reshape(x.shape[:-1]).to(x)


def test_small_text_on_32px_frames_needs_the_wide_taper(device, monkeypatch):
    """Text at 64^2 (32-px frames, affine motions of 8-9 degrees and 3-4% scale): with the narrow taper (the
    ladder's on 32-px frames) the smooth scales stay at the identity (the frames' edges) and a frame ends in a basin
    pixels off; with the wide taper (preregister's wide_edge) both frames end within 0.4 px, and
    superres_start.wide_edge_start takes it where the two ends lie WIDE_EDGE_MOVE apart (docs/superres.md, "Sharp
    drawings: the pre-registration's basin (srtext)")."""
    size = 64
    fine = Grid((0.0, float(size), 0.0, float(size)), (size, size))
    coarse = Grid(fine.omega, (size // 2, size // 2))
    w = [affine_about(a, s, t, fine.centre) for a, s, t in ((8.5, (1.04, 0.97), (2.5, -3.0)),
                                                               (-9.0, (0.96, 1.03), (-3.0, 2.0)))]
    frames = [block_sample(_small_text, coarse, 4)]
    frames += [block_sample(_small_text, coarse, 4, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
    model = SuperResModel(torch.stack(frames).to(device), fine, 2, 0.1, outside="drop")
    true = affine(torch.stack(w).to(device)[:, None, :], model.x)

    def error(v):
        return (model.warp_points(v) - true).norm(dim=-1).pow(2).mean(-1).sqrt()

    narrow = model.preregister(drop_outside=True)
    wide = model.preregister(drop_outside=True, wide_edge=True)
    assert float(error(narrow).max()) > 1.0, error(narrow)
    assert float(error(wide).max()) < 0.4, error(wide)
    # the gate: the wide end where it lies WIDE_EDGE_MOVE or more from the narrow one, else the narrow one as it was
    p = SimpleNamespace(model=model, outside="drop", motion=MotionModel("affine", fine.centre, model.q))
    assert start_distance(p, narrow, wide) >= superres_start.WIDE_EDGE_MOVE
    assert torch.equal(superres_start.wide_edge_start(p, None, narrow), wide)
    monkeypatch.setattr(superres_start, "WIDE_EDGE_MOVE", 1.01 * start_distance(p, narrow, wide))
    assert superres_start.wide_edge_start(p, None, narrow) is narrow
    monkeypatch.setattr(superres_start, "WIDE_EDGE_MOVE", 0.0)
    assert superres_start.wide_edge_start(SimpleNamespace(**{**vars(p), "outside": "keep"}), None, narrow) is narrow
    monkeypatch.setattr(superres_start, "WIDE_EDGE_MIN", 33)  # 32-px frames outside its sizes
    assert superres_start.wide_edge_start(p, None, narrow) is narrow


def test_rigid_second_start_on_24px_frames(device, monkeypatch):
    """24-px frames (48^2) of text, affine model, outside=drop: superres_start.rigid_start gives the ladder again with
    a rigid motion (as affine w: an orthogonal 2x2 part) as the solver's second start where it lies RIGID_START_MOVE
    or more from the affine ladder's end, None otherwise, with another motion model, with gains, with
    outside=keep and outside its frame sizes (docs/superres.md, "Sharp drawings through 24-px frames (srtext2)")."""
    size = 48
    fine = Grid((0.0, float(size), 0.0, float(size)), (size, size))
    coarse = Grid(fine.omega, (size // 2, size // 2))
    w = [affine_about(7.0, (1.03, 0.98), (2.0, -2.5), fine.centre)]
    frames = [block_sample(lambda x: _small_text(x, size), coarse, 4)]
    frames += [block_sample(lambda x: _small_text(x, size), coarse, 4, pullback=lambda z, wj=wj: affine(wj, z))
               for wj in w]
    model = SuperResModel(torch.stack(frames).to(device), fine, 2, 0.1, outside="drop")
    motion = MotionModel("affine", fine.centre, model.q)
    p = SimpleNamespace(model=model, outside="drop", motion=motion, fine=fine)
    first = model.preregister(drop_outside=True)
    monkeypatch.setattr(superres_start, "RIGID_START_MOVE", 0.0)
    alt = superres_start.second_start(p, None, first)  # frames over PREREG_SMALL_MAX: the rigid ladder
    a = alt.reshape(-1, 6)[:, :4].reshape(-1, 2, 2)
    assert torch.allclose(a @ a.transpose(1, 2), torch.eye(2, dtype=a.dtype, device=a.device).expand_as(a))
    assert alt.device == first.device and alt.dtype == first.dtype
    monkeypatch.setattr(superres_start, "RIGID_START_MOVE", 1.01 * start_distance(p, first, alt))
    assert superres_start.rigid_start(p, None, first) is None
    monkeypatch.setattr(superres_start, "RIGID_START_MOVE", 0.0)
    rigid = MotionModel("rigid", fine.centre, model.q)
    assert superres_start.rigid_start(p, rigid.transform, first) is None
    assert superres_start.rigid_start(SimpleNamespace(**{**vars(p), "motion": MotionModel(
        "affine", fine.centre, model.q, gain=True)}), None, first) is None
    assert superres_start.second_start(SimpleNamespace(**{**vars(p), "outside": "keep"}), None, first) is None
    monkeypatch.setattr(superres_start, "RIGID_START_MIN", 25)  # 24-px frames outside its sizes
    assert superres_start.rigid_start(p, None, first) is None
