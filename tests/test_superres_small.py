"""The frames check on small frames (registration/superres_small.py): every moved frame held out, the same terms as
the shipped check's (superres_check), skipped on frames over SMALL_FRAME_MAX pixels, and the caution's threshold."""
import math

import pytest

import regrun.registration.superres_check as check
from regrun.registration.superres_check import held_out_frames
from regrun.registration.superres_small import CAUTION_RATIO, all_frames_check
from test_superres_check import problem


def test_every_moved_frame_held_out_sums_the_checks_terms(device):
    """With every moved frame held out the ratio is the shipped check's terms summed over frames 1..q (its own
    frames 1 and 2 among them), the dense closed form; the weight search's factor gives the same."""
    p = problem(device, size=16, n_frames=4, lambda_f=0.05)  # frames of 8 px
    m, w = p.model, p.w_true
    out = all_frames_check(m, w)
    assert out["frames_check_all_frames"] == m.q == 3
    per = held_out_frames(m, w)
    answer = sum(check.held_out_residuals(m, w, [1, 2, 3]))
    bicubic = sum(check.bicubic_residuals(m, w, [1, 2, 3]))
    assert out["frames_check_all_ratio"] == pytest.approx(answer / bicubic, rel=1e-12)
    two = sum(check.held_out_residuals(m, w, [1, 2])) / sum(check.bicubic_residuals(m, w, [1, 2]))
    assert per["frames_check_ratio"] == pytest.approx(two, rel=1e-9)


def test_skipped_above_the_small_frame_size_and_the_caution(device, monkeypatch):
    import regrun.registration.superres_small as small

    p = problem(device, size=16, n_frames=3, lambda_f=0.05)
    monkeypatch.setattr(small, "SMALL_FRAME_MAX", 7)  # these frames are 8 px
    assert small.all_frames_check(p.model, p.w_true) == {}
    assert p.warnings({"frames_check_ratio": 0.1, "frames_check_all_ratio": 0.9 * CAUTION_RATIO}) == []
    (line,) = p.warnings({"frames_check_ratio": 0.1, "frames_check_all_ratio": CAUTION_RATIO})
    assert "no detail beyond bicubic" in line and "frames_check_all_ratio 0.15" in line
    assert len(p.warnings({"frames_check_ratio": 0.1, "frames_check_all_ratio": math.nan})) == 1
    # where the shipped check warns (the answer worse than bicubic on held-out frames) it alone speaks
    (line,) = p.warnings({"frames_check_ratio": 1.2, "frames_check_all_ratio": 1.1})
    assert "no better than bicubic upsampling" in line


def test_both_checks_share_one_factor_with_the_same_bits(device, monkeypatch):
    """frames_checks without a factor (a typed weight) forms and factors the normal matrix once for the two checks
    on small frames, where each check formed it again; the metrics are those of the two checks run apart, bit for
    bit. Above SMALL_FRAME_MAX only the shipped check runs, with its own factor as before."""
    import regrun.registration.superres_small as small
    from regrun.registration.superres_model import SuperResModel

    p = problem(device, size=16, n_frames=4, lambda_f=0.05)  # frames of 8 px
    m, w = p.model, p.w_true
    apart = {**held_out_frames(m, w), **all_frames_check(m, w)}
    calls = []
    gram = SuperResModel.normal_matrix
    monkeypatch.setattr(SuperResModel, "normal_matrix", lambda self, v: calls.append(1) or gram(self, v))
    together = small.frames_checks(m, w)
    assert len(calls) == 1
    assert together.keys() == apart.keys() and all(together[k] == apart[k] for k in apart)
    calls.clear()
    monkeypatch.setattr(small, "SMALL_FRAME_MAX", 7)
    alone = small.frames_checks(m, w)
    assert len(calls) == 1 and "frames_check_all_ratio" not in alone
    assert all(alone[k] == apart[k] for k in alone)
