"""The held-out frames check without the truth (registration/superres_check.py, problem.frames_check): the closed
form of each held-out frame's prediction against refitting without that frame (dense, and by the matrix-free PCG
refit used beyond the dense limit), and the warning where the answer predicts unseen frames worse than bicubic of
frame 0 does."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import HELD_OUT_FRAMES, bicubic_image, held_out_frames
from regrun.registration.superres_model import SuperResModel

F64 = torch.float64


def problem(device, **cfg):
    ctx = RunContext(device, F64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", **{"size": 16, "n_frames": 8, "noise": 0.01,
                                                          "outside": "drop", **cfg}), ctx)
    p.model.settle_outside(p.w_true)
    return p


def test_held_out_prediction_is_the_refit_without_the_frame(device):
    """(I - H_kk)^-1 r_k is frame k's residual of the image solved from the other frames (the dense refit), and
    bicubic's term is frame 0 upsampled and moved by w_k, summed over the first HELD_OUT_FRAMES moved frames."""
    p = problem(device, lambda_f=0.05)
    m, w = p.model, p.w_true
    out = held_out_frames(m, w)
    gram, rhs = m.normal_matrix(w), m.dense_operator(w).rmatvec(m.b)
    frames = list(range(1, HELD_OUT_FRAMES + 1))
    rows, hd = m.moved_rows(w, frames), m.coarse.cell_volume
    data = (m.frames * m.data_mask())[frames].reshape(len(frames), -1)
    answer = bicubic = 0.0
    for p_k, d_k in zip(rows, data):
        f_k = torch.linalg.solve(gram - hd * p_k.T @ p_k, rhs - hd * p_k.T @ d_k)
        answer += float((d_k - p_k @ f_k).pow(2).sum())
        bicubic += float((p_k @ bicubic_image(m) - d_k).pow(2).sum())
    assert out["frames_check_frames"] == HELD_OUT_FRAMES
    assert out["frames_check_answer"] == pytest.approx(answer, rel=1e-9)
    assert out["frames_check_bicubic"] == pytest.approx(bicubic, rel=1e-12)
    assert out["frames_check_ratio"] == pytest.approx(answer / bicubic, rel=1e-9)
    # the rows are A's rows of those frames (frame units, dropped pixels zero)
    f = torch.randn(m.n, dtype=F64, generator=torch.Generator().manual_seed(1)).to(device)
    pred = (m.dense_operator(w).matvec(f)[: m.n_data] / m.sqrt_hd).reshape(m.q + 1, -1)
    assert torch.allclose(rows @ f, (pred * m.data_mask().reshape(m.q + 1, -1))[frames], rtol=0, atol=1e-12)


def test_the_check_warns_where_the_answer_predicts_worse_than_bicubic(device):
    """An over-smoothed answer (lambda_f 0.3 here: its error against the truth 5x bicubic's) predicts the held-out
    frames worse than bicubic and warns; at 0.03 (error under bicubic's) it is silent."""
    bad, good = problem(device, lambda_f=0.3), problem(device, lambda_f=0.03)
    for p in (bad, good):
        f = torch.linalg.solve(p.model.normal_matrix(p.w_true), p.model.dense_operator(p.w_true).rmatvec(p.model.b))
        p.err, p.err_bic = float((f - p.truth.reshape(-1)).norm()), float((bicubic_image(p.model)
                                                                            - p.truth.reshape(-1)).norm())
    assert bad.err > bad.err_bic and good.err < good.err_bic
    m_bad, m_good = held_out_frames(bad.model, bad.w_true), held_out_frames(good.model, good.w_true)
    assert m_bad["frames_check_ratio"] > 1 > m_good["frames_check_ratio"]
    assert len(bad.warnings(m_bad)) == 1 and "no better than bicubic" in bad.warnings(m_bad)[0]
    assert good.warnings(m_good) == [] and good.warnings({}) == []


def test_frames_check_is_on_for_a_users_frames_only():
    assert config_section("problem", "superres", data="frames").frames_check is True
    assert config_section("problem", "superres").frames_check is False
    with pytest.raises(UserError, match="problem.frames_check"):
        SuperRes(config_section("problem", "superres", size=8, n_frames=2, frames_check="yes"),
                 RunContext(torch.device("cpu"), F64, 0, Path(".")))


def test_the_weight_searchs_factor_gives_the_same_check(device):
    """recheck hands the search's factor at the final motion and weight to the check (no second Gram matrix):
    the same ratio as the check's own factor."""
    from regrun.registration.superres_weight import ImageSolve

    p = problem(device, lambda_f=0.05)
    solve = ImageSolve(p.model, p.w_true, 100, 1e-10)
    p.model.set_weight(0.05)  # ImageSolve leaves the model at weight 0
    own, reused = held_out_frames(p.model, p.w_true), held_out_frames(p.model, p.w_true, solve.factor_at(0.05))
    assert reused["frames_check_ratio"] == pytest.approx(own["frames_check_ratio"], rel=1e-9)


@pytest.mark.parametrize("gain", [False, True])
def test_the_pcg_refit_beyond_the_dense_limit_is_the_closed_form(device, monkeypatch, gain):
    """Beyond WEIGHT_CHOLESKY_MAX_PIXELS the check refits without each held-out frame by PCG (matrix-free, from the
    answer): the same ratio, per-frame ratios and terms as the closed form, with dropped pixels and gains."""
    import regrun.registration.superres_check as check

    p = problem(device, lambda_f=0.05)
    model, w = p.model, p.w_true
    if gain:  # frames 1 and 2 at gains 0.8 and 1.3 (w holds 7 per frame: the affine motion, then the gain)
        model = SuperResModel(model.frames, p.fine, p.factor, 0.05, outside="drop", gain=True)
        g = torch.ones(model.q, 1, dtype=F64, device=w.device)
        g[:2, 0] = torch.tensor([0.8, 1.3], dtype=F64)
        w = torch.cat((w.reshape(model.q, 6), g), 1).reshape(-1)
        model.settle_outside(w)
    dense = held_out_frames(model, w)
    monkeypatch.setattr(check, "WEIGHT_CHOLESKY_MAX_PIXELS", 0)
    refit = held_out_frames(model, w)
    assert set(refit) == set(dense)
    for key in dense:
        assert refit[key] == pytest.approx(dense[key], rel=1e-5), key
    assert dense["frames_check_ratio_1"] != pytest.approx(dense["frames_check_ratio_2"], rel=1e-3)


def test_one_held_out_frame_predicted_worse_than_bicubic_warns_and_is_named(device):
    """The sum hides a frame the answer predicts worse than bicubic when the other held-out frame is one neither
    predicts (another scene's: srcheck's outlier, 0.99 and 1.68 under a sum of 0.99): any one at 1 warns, named."""
    p = problem(device, size=8, n_frames=3, lambda_f=0.05)
    quiet = {"frames_check_ratio": 0.5, "frames_check_ratio_1": 0.4, "frames_check_ratio_2": 0.9}
    hidden = {"frames_check_ratio": 0.99, "frames_check_ratio_1": 0.99, "frames_check_ratio_2": 1.68}
    assert p.warnings(quiet) == []
    (line,) = p.warnings(hidden)
    assert "no better than bicubic" in line and "frame 2's 1.68" in line
    assert len(p.warnings({"frames_check_ratio": float("nan")})) == 1
