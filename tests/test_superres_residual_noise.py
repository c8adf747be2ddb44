"""The frames' noise from the fit's residual frames (superres_weight.residual_noise, recorded as
/stats/noise_std_residual, and the smaller of it and the filter's as /stats/noise_std_frames; deciding nothing). On
a white-noise texture no 3x3 patch of the frames is flat, so the filter reads the texture (over 10x the drawn
noise); the residual of the model's own frames is the noise, read within 25% (docs/superres.md, "(srnoise)"). The
patches are kept to the data pixels: a residual's zeros where frames see outside the reference read as flat."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import regrun.registration.superres_weight as sw
from regrun.config import config_section
from regrun.context import RunContext
from regrun.optim.parameter_choice import noise_std_images
from regrun.problems.superres import SuperRes


def test_patches_kept_to_the_data_pixels(device):
    x = torch.randn(8, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(device)
    valid = torch.ones_like(x, dtype=torch.bool)
    valid[:, :4, :] = False  # a third of each frame no data, its residual 0
    y = x * valid
    assert noise_std_images(y) < 0.85  # the zeros read as quiet patches
    assert noise_std_images(y, valid) == pytest.approx(1.0, rel=0.1)


def test_the_residual_reads_the_noise_the_filter_cannot(tmp_path, device):
    path = tmp_path / "texture.png"
    Image.fromarray((np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)).save(path)
    ctx = RunContext(device, torch.float64, 0, Path("."))

    def problem(noise):
        return SuperRes(config_section("problem", "superres", data=str(path), size=16, n_frames=8, noise=noise,
                                       lambda_f="auto"), ctx)

    p, clean = problem(0.01), problem(0.0)
    drawn = float((p.model.frames - clean.model.frames).pow(2).mean().sqrt())
    choice = sw.choose_superres_weight(p, p.w_true, p.weight_settings, torch.Generator().manual_seed(0))
    assert choice.sigma > 10 * drawn  # the filter reads the texture
    residual = float(choice.details["noise_std_residual"])
    assert residual == pytest.approx(drawn, rel=0.25)
    assert float(choice.details["noise_std_frames"]) == pytest.approx(min(residual, choice.sigma), rel=1e-5)
