"""Seventh new-user pass (ux7): what a newcomer met with their own data, as tests that failed before the fix
(docs/sweeps.md, "Seventh new-user pass")."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.problems.superres import SuperRes


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def _burst(tmp_path, count=5, size=6):
    rng = np.random.default_rng(7)
    frames = rng.uniform(10, 200, (count, size, size))
    w = np.tile([1.0, 0.0, 0.0, 1.0, 0.3, -0.2], count - 1)
    np.savez(tmp_path / "burst.npz", frames=frames, w=w)
    return frames, str(tmp_path / "burst.npz")


def test_n_frames_beside_your_frames_takes_the_first_n(ctx, tmp_path):
    # ux6: problem.n_frames=4 with problem.data=frames was ignored without a word (all 10 frames used)
    frames, path = _burst(tmp_path)
    every = SuperRes(config_section("problem", "superres", data="frames", frames=path), ctx)
    assert every.n_frames == 5
    p = SuperRes(config_section("problem", "superres", data="frames", frames=path, true_motion=path, n_frames=3),
                 ctx)
    assert p.n_frames == 3 and p.model.q == 2 and p.w_true.numel() == 12  # the file's motion cut to the frames
    with pytest.raises(UserError, match=r"problem.n_frames=9 but burst.npz holds only 5 frames: give at most 5"):
        SuperRes(config_section("problem", "superres", data="frames", frames=path, n_frames=9), ctx)
    with pytest.raises(UserError, match=r"problem.n_frames=1 must be >= 2"):
        SuperRes(config_section("problem", "superres", data="frames", frames=path, n_frames=1), ctx)
    # generated data keeps its count (the presets' and CI pairs' run ids)
    assert config_section("problem", "superres").n_frames == 4


def test_the_frames_noise_estimate_reads_the_noise_not_the_texture(device):
    # ux6: textured 16-bit frames read 1.6x their noise (the median response over every pixel counts texture as
    # noise) and integer frames' median response lies on a lattice (1.12x at 0.6 levels)
    from regrun.optim.parameter_choice import noise_std_images

    g = torch.Generator().manual_seed(3)
    r, c = torch.meshgrid(torch.arange(48.0), torch.arange(48.0), indexing="ij")
    texture = 40 * torch.sin(2.3 * r + 0.4 * c) * torch.cos(1.9 * c) * (c < 24)  # near Nyquist, on half
    frames = (1000 + texture + 2.0 * torch.randn(6, 48, 48, generator=g, dtype=torch.float64)).to(device)
    assert noise_std_images(frames) == pytest.approx(2.0, rel=0.15)  # main: 6.07
    levels = torch.round(100 + 0.6 * torch.randn(6, 48, 48, generator=g, dtype=torch.float64))
    assert noise_std_images(levels.to(device)) == pytest.approx(float((levels - 100).std()), rel=0.05)  # main: 1.11x
