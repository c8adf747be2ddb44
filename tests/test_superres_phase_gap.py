"""The frames check's warning where a held-out frame's sub-pixel phase is sampled by no other frame (ux5, issue 19;
docs/sweeps.md "Fifth new-user pass"): its ratio measures the smoothing's interpolation, so the warning names that
cause instead of a wrong motion or weight; a frame whose phase another frame samples keeps the usual warning."""
import math

import torch

from regrun.imaging.grid import Grid
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import UNSAMPLED_PHASE_GAP, phase_gaps
from regrun.registration.superres_model import SuperResModel


def test_phase_gaps_of_whole_pixel_shifts(device):
    # tif16's layout at factor 3: frame 1 a whole coarse pixel (frame 0's phase), frame 2 at (1, 1) fine pixels
    # alone, frames 3 and 4 sharing (2, 0) ... as (2, 3)
    k, m = 3, (6, 5)
    frames = torch.rand(5, *m, dtype=torch.float64, device=device)
    model = SuperResModel(frames, Grid((0.0, 18.0, 0.0, 15.0), (18, 15)), k, 0.1)
    shifts = [(0, 3), (1, 1), (2, 0), (2, 3)]
    w = torch.tensor([v for t in shifts for v in (1.0, 0.0, 0.0, 1.0, *t)], dtype=torch.float64, device=device)
    gaps = phase_gaps(model, w, [1, 2, 3])
    assert gaps[0] < 1e-12 and gaps[2] < 1e-12
    assert abs(gaps[1] - math.sqrt(2.0)) < 1e-12 and gaps[1] >= UNSAMPLED_PHASE_GAP


def test_warning_names_an_unsampled_phase():
    # userpass3's tif16 run: frame 2's ratio 1.46 under a sum of 0.653, frame 1's 6e-5
    metrics = {"frames_check_ratio": 0.653, "frames_check_ratio_1": 6e-5, "frames_check_ratio_2": 1.46,
               "frames_check_gap_1": 0.0, "frames_check_gap_2": 1.41, "data_rel_residual": 1.1e-4}
    (text,) = SuperRes.frames_check_warnings(metrics)
    assert "no other frame samples frame 2's sub-pixel phase" in text
    assert "is likely wrong" not in text
    # the same ratio from a frame whose phase another frame samples: the usual warning
    (text,) = SuperRes.frames_check_warnings({**metrics, "frames_check_gap_2": 0.1})
    assert "is likely wrong" in text and "sub-pixel phase" not in text
    # the sum at 1 or above (an outlier swamping it), or noisy frames fitted to their noise: the usual warning
    (text,) = SuperRes.frames_check_warnings({**metrics, "frames_check_ratio": 1.2})
    assert "is likely wrong" in text
    (text,) = SuperRes.frames_check_warnings({**metrics, "data_rel_residual": 0.072})
    assert "is likely wrong" in text
