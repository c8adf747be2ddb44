"""problem.motion_model_noise (superres_model_choice.choice_noise): the noise sigma motion_model=auto's z is scaled
by. On a texture no 3x3 patch is flat, so the frames' weak-texture estimate reads the texture: 50x the drawn noise
on 8 frames of 8 px of a white-noise scene; the fit's Wahba estimate at the chosen weight reads the noise (1.02x)
where the model holds (frames made by the model itself), so `smaller` is within 1.5x and `images` (the default:
z's bar rests on it) is not (docs/superres.md, "The frames' noise estimate where no patch is free of texture
(srnoise2)")."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import regrun.registration.superres_weight as sw
from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.optim.parameter_choice import noise_std_images
from regrun.problems.superres import SuperRes
from regrun.registration.superres_model_choice import choice_noise


@pytest.fixture
def texture(tmp_path):
    path = tmp_path / "texture.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(path)
    return path


def frames(path, ctx, noise, mode):
    return SuperRes(config_section("problem", "superres", data=str(path), size=16, n_frames=8, noise=noise,
                                   lambda_f="auto", motion_model_noise=mode), ctx)


def test_smaller_reads_the_noise_on_a_texture_the_filter_cannot(texture, device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p, clean = frames(texture, ctx, 0.01, "smaller"), frames(texture, ctx, 0.0, "smaller")
    drawn = float((p.model.frames - clean.model.frames).pow(2).mean().sqrt())
    p.weight_choice = sw.choose_superres_weight(p, p.w_true, p.weight_settings, torch.Generator().manual_seed(0))
    images = noise_std_images(p.model.frames)
    assert images > 10 * drawn  # the filter reads the texture
    assert choice_noise(p) == pytest.approx(drawn, rel=0.5)
    assert choice_noise(p) == float(p.weight_choice.details["noise_std_fit"])
    # images (the default) keeps the filter's; fit takes the fit's alone, larger the filter's here
    p.motion_noise = "images"
    assert choice_noise(p) == images
    p.motion_noise = "fit"
    assert choice_noise(p) == float(p.weight_choice.details["noise_std_fit"])
    p.motion_noise = "larger"
    assert choice_noise(p) == images
    # no fit recorded (a fixed weight: no search, no trace): the filter's
    p.motion_noise, p.weight_choice = "smaller", None
    assert choice_noise(p) == images


def test_a_bad_value_is_one_line(texture, device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    with pytest.raises(UserError, match="motion_model_noise"):
        frames(texture, ctx, 0.01, "least")
