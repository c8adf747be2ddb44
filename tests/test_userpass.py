"""Second new-user pass (issue 19, userpass): each problem a user met with their own data, as a test that failed
before its fix (docs/sweeps.md, "Second new-user pass")."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.io import read_frames


def _png(path: Path, width: int, height: int) -> None:
    rng = np.random.default_rng(width * 100 + height)
    Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8)).save(path)


def test_mismatched_frame_sizes_are_named_width_by_height(tmp_path):
    # a frame saved as 62 wide by 60 tall was called "60x62 pixels (width x height)"
    _png(tmp_path / "f00.png", 64, 64)
    _png(tmp_path / "f01.png", 62, 60)
    with pytest.raises(UserError, match=r"f01.png is 62x60 pixels \(width x height\), frame f00.png 64x64"):
        read_frames(tmp_path)


def test_a_truth_of_the_wrong_size_is_named_width_by_height(tmp_path, device):
    from regrun.problems.superres import SuperRes

    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(3):
        _png(frames / f"f{k}.png", 8, 6)  # 8 wide, 6 tall: at factor 2 the result is 16x12
    _png(tmp_path / "truth.png", 16, 10)
    cfg = config_section("problem", "superres", data="frames", frames=str(frames), factor=2,
                         truth=str(tmp_path / "truth.png"))
    with pytest.raises(UserError, match=r"truth is 16x10 pixels \(width x height\); .* give 16x12"):
        SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))
