"""The pre-registration's global start (registration/global_start.py): rotation scan and phase correlation, and
the choice between it and the smoothing ladder's end. On repeating structure (text) the ladder alone ends periods
off; the global start puts it right (docs/superres.md, "Repeating structure")."""
import math

import numpy as np
import pytest
import torch

from regrun.imaging import spline
from regrun.imaging.grid import Grid
from regrun.imaging.synthetic import block_sample
from regrun.imaging.transforms import affine, affine_about, transformation
from regrun.registration import superres_model
from regrun.registration.global_start import fit_params, phase_correlation_start
from regrun.registration.superres_model import SuperResModel


def _text_scene(size: int):
    """Lines of random letters (Pillow's default font), as a function bilinear between its pixels on [0, size]^2."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (size, size), 255)
    draw, font = ImageDraw.Draw(img), ImageFont.load_default(size=11)
    rng = np.random.default_rng(3)
    for row in range(size // 13):
        draw.text((3, 2 + 13 * row), "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz  "), 30)), fill=0, font=font)
    a = torch.as_tensor(np.asarray(img, dtype=np.float64)).flip(0).T[None, None]  # FAIR layout

    def f(x):
        g = (x / size) * 2 - 1
        pts = torch.stack((g[..., 1], g[..., 0]), -1).reshape(1, -1, 1, 2)
        v = torch.nn.functional.grid_sample(a, pts, mode="bilinear", padding_mode="border", align_corners=False)
        return v.reshape(x.shape[:-1])

    return f


MOTIONS = [(-6.0, (1.02, 0.98), (-9.0, 5.0)), (7.0, (0.97, 1.01), (8.0, -10.0))]


def _text_frames(size=128, factor=2):
    fine = Grid((0.0, float(size), 0.0, float(size)), (size, size))
    coarse = Grid(fine.omega, (size // factor, size // factor))
    f = _text_scene(size)
    w = [affine_about(a, s, t, fine.centre) for a, s, t in MOTIONS]
    frames = [block_sample(f, coarse, 2 * factor)]
    frames += [block_sample(f, coarse, 2 * factor, pullback=lambda z, wj=wj: affine(wj, z)) for wj in w]
    return fine, torch.stack(frames), torch.stack(w)


def test_phase_correlation_finds_rotation_and_shift(device):
    """Frames that are frame 0's spline rotated and shifted (no scale): the start is within the scan's half step
    of the angle (a step on 64-pixel frames, where neighbouring angles' peaks differ little) and 2.5 pixels of the
    moved points, wherever the frame lies in the periodic text."""
    grid = Grid((0.0, 64.0, 0.0, 64.0), (64, 64))
    base = block_sample(_text_scene(64), grid, 2).to(device)
    image = spline.SplineImage(base, grid, 0.0)
    x = grid.centres(torch.float64, device).reshape(-1, 2)
    true = torch.stack([affine_about(a, (1.0, 1.0), t, grid.centre, device=device)
                        for a, t in ((-9.0, (5.0, -3.0)), (4.5, (-7.0, 6.0)))])
    frames = torch.stack([base] + [image(affine(wj, x)).reshape(64, 64) for wj in true])
    start = phase_correlation_start(frames, grid)
    angle = torch.atan2(start[:, 2], start[:, 0]) * 180 / math.pi
    assert torch.allclose(angle, torch.tensor([-9.0, 4.5], dtype=torch.float64, device=device), atol=1.51)  # a step
    moved = affine(start[:, None, :], x) - affine(true[:, None, :], x)
    assert float(moved.norm(dim=-1).max()) < 2.5, moved.norm(dim=-1).max()


@pytest.mark.parametrize("name", ["translation", "rigid", "affine"])
def test_fit_params_holds_what_the_model_can(name, device):
    grid = Grid((0.0, 20.0, 0.0, 30.0), (10, 15))
    transform = transformation(name, None if name == "affine" else grid.centre)
    angle = 0.0 if name == "translation" else 7.0
    w = affine_about(angle, (1.0, 1.0), (1.5, -2.0), grid.centre, device=device)[None]
    p = fit_params(transform, w, grid)
    x = grid.centres(torch.float64, device).reshape(-1, 2)
    assert torch.allclose(transform.points(p[:, None, :], x), affine(w[:, None, :], x), atol=1e-10)


def test_fit_params_gives_the_same_bits_at_any_memory_offset(device):
    """The same motions at 8 memory offsets (as other runs place them): one answer to the bit. LAPACK's default
    least-squares driver gave 5-9 different answers here for the affine model (stainedglass 256^2/16 s1861's
    pre-registration then differed run to run, docs/superres.md "Nineteenth round (srmotion2)")."""
    grid = Grid((0.0, 128.0, 0.0, 128.0), (128, 128))
    gen = torch.Generator().manual_seed(0)
    w0 = torch.tensor([1.0, 0, 0, 1, 0, 0], dtype=torch.float64).repeat(15, 1)
    w0[:, :4] += 0.1 * torch.randn(15, 4, generator=gen, dtype=torch.float64)
    w0[:, 4:] += 5 * torch.randn(15, 2, generator=gen, dtype=torch.float64)
    for transform in (transformation("affine"), transformation("affine", grid.centre)):
        answers = []
        for offset in range(8):
            w = torch.empty(w0.numel() + offset, dtype=torch.float64, device=device)[offset:].view(15, 6)
            w.copy_(w0.to(device))
            answers.append(fit_params(transform, w, grid))
        assert all(torch.equal(a, answers[0]) for a in answers[1:])


@pytest.mark.parametrize("size", [128, 96, 64])
def test_repeating_text_is_preregistered_right(device, monkeypatch, size):
    """Text, 128^2 (frames on the pyramid), 96^2 and 64^2 (48 and 32 px frames) from 3 frames (shifts 10-13
    px, rotations 6-7 degrees): the ladder alone ends pixels off (its smooth scales average the lines away; on
    every moved frame before the smoothing's wide edge taper, SMOOTH_EDGE, on one of the two at 96^2 with it);
    with the global start every frame is right."""
    fine, frames, w_true = _text_frames(size)
    model = SuperResModel(frames.to(device), fine, 2, 0.1, outside="drop")
    true = affine(w_true.to(device)[:, None, :], model.x)

    def error(w):
        return (model.warp_points(w) - true).norm(dim=-1).pow(2).mean(-1).sqrt()

    monkeypatch.setattr(superres_model, "GLOBAL_START", False)
    thetas = (1e2, 1.0, 1e-2)  # the ladder's ends, not all six scales: a fast test
    ladder = error(model.preregister(drop_outside=True, thetas=thetas))
    monkeypatch.setattr(superres_model, "GLOBAL_START", True)
    both = error(model.preregister(drop_outside=True, thetas=thetas))
    # measured: 128^2 13.5 and 11.0 px (all six scales: 13.1, 8.1), 96^2 4.9 and 15.7; with SMOOTH_EDGE
    # 128^2 8.5 and 8.4 (after theta = 1), 96^2 0.050 and 18.0; 64^2 4.9 and 16.0
    assert float(ladder.max()) > 1.0, ladder
    # measured: 128^2 0.060 and 0.045 px, 96^2 0.055 and 0.064 (with SMOOTH_EDGE 0.050, 0.071); 64^2 0.164, 0.064
    assert float(both.max()) < (0.1 if size > 64 else 0.2), both


def test_small_frames_are_unchanged(device, monkeypatch):
    """Frames under GLOBAL_START_MIN (32 pixels a side; here 16) get no second
    start: the same motion to the last digit with it on or off (the paper's presets, the CI pairs)."""
    fine, frames, _ = _text_frames(32)
    model = SuperResModel(frames.to(device), fine, 2, 0.1, outside="drop")
    monkeypatch.setattr(superres_model, "GLOBAL_START", False)
    off = model.preregister(drop_outside=True, thetas=(1.0, 1e-2), max_iter=5)
    monkeypatch.setattr(superres_model, "GLOBAL_START", True)
    on = model.preregister(drop_outside=True, thetas=(1.0, 1e-2), max_iter=5)
    assert torch.equal(off, on)
