"""The eighth new-user pass (newuser3): each mistake a user made with their own data, as a test that failed before
its fix (docs/sweeps.md, "A new user's pass (newuser3)")."""
from __future__ import annotations

import numpy as np
import pytest

from regrun.errors import UserError


def test_frames_stacked_last_are_refused_with_the_axis_to_move(tmp_path):
    # numpy.dstack of 8 frames 64x64 is (64, 64, 8): it ran as 64 frames of 64x8 pixels and completed, the
    # frames-check warning blaming "the motion or lambda_f"
    from regrun.imaging.io import read_frames

    frames = np.random.default_rng(20001).uniform(0, 1, (8, 40, 36))
    np.save(tmp_path / "last.npy", np.dstack(list(frames)))
    with pytest.raises(UserError, match=r"\(40, 36, 8\): that looks like \(rows, columns, frames\), 8 frames of "
                                        r"36x40 pixels .* numpy.moveaxis\(frames, -1, 0\)"):
        read_frames(tmp_path / "last.npy")
    np.save(tmp_path / "first.npy", frames)
    assert read_frames(tmp_path / "first.npy").shape == (8, 36, 40)  # FAIR's layout: (frames, columns, rows)
