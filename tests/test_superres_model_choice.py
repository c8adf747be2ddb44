"""problem.motion_model=auto (registration/superres_model_choice.py): the model chosen from the frames after the
affine answer, by the misfit each larger model's extra parameters take off, in units of the frames' noise estimate."""
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_model_choice import (
    choice_line,
    end_gaps,
    gap_dropped,
    misfit_z,
    pick,
)
from regrun.registration.superres_motion import MOTION_MODELS, area_scales
from regrun.run import run
from regrun.solvers.varpro_cg import VarProCG


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def test_z_per_extra_parameter_and_read_from_the_top():
    # q = 4 frames, sigma^2 h = 2: rigid's 1 extra parameter a frame over translation, affine's 3 over rigid
    z = misfit_z({"translation": 100.0, "rigid": 92.0, "affine": 68.0}, sigma=2.0, cell=0.5, q=4)
    assert z == pytest.approx({"translation_rigid": 8.0 / (2 * 4 * 1), "rigid_affine": 24.0 / (2 * 4 * 3)})
    assert pick({"translation_rigid": 0.5, "rigid_affine": 0.5}, 4.0) == "translation"
    assert pick({"translation_rigid": 50.0, "rigid_affine": 0.5}, 4.0) == "rigid"
    # affine needed: the translation-rigid pair is not read
    assert pick({"translation_rigid": 0.5, "rigid_affine": 5.0}, 4.0) == "affine"
    # a locked affine answer left out (srlock2): only the pair given is scored, and affine is never read
    two = misfit_z({"translation": 100.0, "rigid": 92.0}, sigma=2.0, cell=0.5, q=4)
    assert two == pytest.approx({"translation_rigid": 1.0})
    assert pick(two, 4.0) == "translation" and pick(two, 0.5) == "rigid"


def test_the_ratio_drops_affine_whose_gain_is_small_beside_the_rotation():
    # rocket s9110 (rigid drawn, docs/superres.md "srmotionsel"): z 62035 / 126, ratio 493: rigid with a ratio bar
    rocket = {"translation_rigid": 62035.0, "rigid_affine": 126.0}
    assert pick(rocket, 2.0) == "affine" and pick(rocket, 2.0, None) == "affine"
    assert pick(rocket, 2.0, 100.0) == "rigid" and pick(rocket, 2.0, 1000.0) == "affine"
    # an affine draw (coins s5790: 1966 / 170, ratio 11.6) keeps affine at the same bar
    assert pick({"translation_rigid": 1966.0, "rigid_affine": 170.0}, 2.0, 100.0) == "affine"
    # under the bar nothing changes: z alone already left affine out
    assert pick({"translation_rigid": 500.0, "rigid_affine": 1.0}, 2.0, 100.0) == "rigid"
    assert pick({"translation_rigid": 1.0, "rigid_affine": 0.5}, 2.0, 100.0) == "translation"
    # a locked affine answer (no rigid_affine score): the ratio has nothing to read
    assert pick({"translation_rigid": 50.0}, 2.0, 100.0) == "rigid"
    # the run's log line says why affine was left out
    scores = {"motion_model_z_translation_rigid": 62035.0, "motion_model_z_rigid_affine": 126.0,
              "motion_model_ratio_dropped": 1.0, "motion_model_sigma": 0.146}
    assert "under 1/100 of what rigid's rotation takes off" in choice_line("rigid", scores, 2.0, 100.0)


def test_the_shift_ratio_drops_larger_models_whose_gain_is_small_beside_the_shifts():
    # HNSP-T s5776 (translation drawn; docs/superres.md "srtrans"): z alone and the rotation's ratio keep affine
    hnsp = {"translation_rigid": 7.98, "rigid_affine": 5.34, "none_translation": 57779.0}
    assert pick(hnsp, 2.0, 100.0) == "affine" and pick(hnsp, 2.0, 100.0, None) == "affine"
    assert pick(hnsp, 2.0, 100.0, 1000.0) == "translation" and pick(hnsp, 2.0, 100.0, 8000.0) == "affine"
    # an affine draw (clock s9462): its affine step is 254x under the shifts', its rotation's 14.5x: affine kept
    clock = {"translation_rigid": 5452.7, "rigid_affine": 311.9, "none_translation": 79225.8}
    assert pick(clock, 2.0, 100.0, 40.0) == "affine" and pick(clock, 2.0, 100.0, 10.0) == "translation"
    # without the shifts' gain scored (z alone picked translation, so it is not computed) nothing changes
    assert pick({"translation_rigid": 7.98, "rigid_affine": 5.34}, 2.0, 100.0, 1000.0) == "affine"
    # where the shifts' gain is not large beside the rotation's the rotation's ratio decides as before (rocket s9110)
    rocket = {"translation_rigid": 62035.0, "rigid_affine": 126.0, "none_translation": 100.0}
    assert pick(rocket, 2.0, 100.0, 1000.0) == "rigid" and pick(rocket, 2.0, None, 1000.0) == "affine"
    scores = {"motion_model_z_translation_rigid": 7.98, "motion_model_z_rigid_affine": 5.34,
              "motion_model_z_none_translation": 57779.0, "motion_model_shift_dropped": 1.0,
              "motion_model_sigma": 0.7}
    line = choice_line("translation", scores, 2.0, 100.0, 1000.0)
    assert "under 1/1000 of what the shifts take off" in line and "no motion -> translation 5.78e+04" in line


@pytest.mark.parametrize("shift_ratio", [None, 100.0])
def test_a_shift_drawn_burst_keeps_translation_where_noise_passes_the_bar(shift_ratio, ctx):
    # frames moved by shifts alone, the bar so low (1e-6) that noise passes it: z alone keeps a larger model; the
    # shifts' gain (~1e3-1e4 a parameter here) over 100 lifts the bar over what noise takes off
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, noise=0.01, lambda_f=0.1,
                                motion_model="auto", motion_model_z=1e-6, motion_model_shift_ratio=shift_ratio,
                                **{"motion.angle": 0.0, "motion.scale": [1.0, 1.0]}), ctx)
    solver = VarProCG(config_section("solver", "varpro_cg"), ctx)
    metrics = {}
    again = p.solve_again(metrics, solver.solve(p, Monitor()), solver)
    if shift_ratio is None:  # main's choice: the shifts' gain is not scored
        assert metrics["motion_model_chosen"] > 0 and "motion_model_z_none_translation" not in metrics
        return
    assert metrics["motion_model_chosen"] == MOTION_MODELS.index("translation")
    assert metrics["motion_model_shift_dropped"] == 1.0 and again[0] == {"motion_model": "translation"}
    assert metrics["motion_model_z_none_translation"] > 100 * max(metrics["motion_model_z_translation_rigid"],
                                                                  metrics["motion_model_z_rigid_affine"])


def test_the_gap_ratio_keeps_translation_where_the_rotation_takes_none_of_the_affine_move():
    # page s9715 (translation drawn, affine kept; docs/superres.md "srtext"): the rigid end as far from the affine
    # answer as the translation end, the shifts' gain 426x affine's; a rigid draw turned +-0.2 deg (hubble s9220,
    # affine kept): the rotation takes a third of the move; an affine draw turned +-0.5 deg (astronaut s5771): no
    # rotation, but its scales take off 1/27 of the shifts' gain a parameter
    page = ({"translation_rigid": 2.05, "rigid_affine": 10.5, "none_translation": 4470.0},
            {"motion_model_end_gap_translation": 0.174, "motion_model_end_gap_rigid": 0.175})
    turned = ({"translation_rigid": 80.6, "rigid_affine": 2.14, "none_translation": 66500.0},
              {"motion_model_end_gap_translation": 0.057, "motion_model_end_gap_rigid": 0.038})
    scaled = ({"translation_rigid": 5.15, "rigid_affine": 4.48, "none_translation": 140.0},
              {"motion_model_end_gap_translation": 0.329, "motion_model_end_gap_rigid": 0.396})
    assert gap_dropped(*page, 0.85, 100.0) and not gap_dropped(*page, None, 100.0)
    assert not gap_dropped(*page, 1.1, 100.0) and not gap_dropped(*page, 0.85, 1000.0)
    assert not gap_dropped(*page, 0.85, None)  # no scale for the extra parameters' gain: off
    assert not gap_dropped(*turned, 0.85, 100.0) and gap_dropped(*turned, 0.6, 100.0)
    assert not gap_dropped(*scaled, 0.85, 100.0) and gap_dropped(*scaled, 0.85, 20.0)
    # the shifts' gain not scored, or no gaps: nothing to read
    assert not gap_dropped({k: v for k, v in page[0].items() if k != "none_translation"}, page[1], 0.85, 100.0)
    assert not gap_dropped(page[0], {}, 0.85, 100.0)
    assert not gap_dropped(page[0], {**page[1], "motion_model_end_gap_translation": 0.0}, 0.85, 100.0)
    scores = {"motion_model_z_translation_rigid": 2.05, "motion_model_z_rigid_affine": 10.5, "motion_model_sigma": 0.2,
              "motion_model_z_none_translation": 4470.0, "motion_model_gap_dropped": 1.0,
              "motion_model_end_gap_ratio": 1.006}
    line = choice_line("translation", scores, 2.0, 100.0, 1300.0, 0.85)
    assert "motion model translation" in line and "1.01x as far" in line and "motion_model_gap_ratio" in line
    assert "under 1/100 of what the shifts take off" in line


@pytest.mark.parametrize("drawn,gap_ratio", [("translation", None), ("translation", 0.85), ("rigid", 0.85)])
def test_a_burst_keeps_translation_where_the_rigid_end_is_no_nearer_the_affine_answer(drawn, gap_ratio, ctx):
    # the bar so low (1e-6) that noise passes it: z alone keeps a larger model on frames moved by shifts alone; the
    # ends' gaps then read about 1 (the rotation takes none of the affine answer's move) where a rigid draw's read
    # far under it, and the shifts' gain (~1e3-1e4 a parameter) is over motion_model_ratio (100) times the noise's;
    # the shifts' own ratio is off so that the gaps decide
    moves = {"motion.scale": [1.0, 1.0], **({"motion.angle": 0.0} if drawn == "translation" else {})}
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, noise=0.01, lambda_f=0.1,
                                motion_model="auto", motion_model_z=1e-6, motion_model_shift_ratio=None,
                                motion_model_gap_ratio=gap_ratio, **moves), ctx)
    solver = VarProCG(config_section("solver", "varpro_cg"), ctx)
    metrics = {}
    again = p.solve_again(metrics, solver.solve(p, Monitor()), solver)
    if gap_ratio is None:  # main's choice: a larger model kept, no gap ratio recorded, the shifts' gain not scored
        assert metrics["motion_model_chosen"] > 0 and "motion_model_end_gap_ratio" not in metrics
        assert "motion_model_z_none_translation" not in metrics
        return
    ratio = metrics["motion_model_end_gap_rigid"] / metrics["motion_model_end_gap_translation"]
    assert metrics["motion_model_end_gap_ratio"] == pytest.approx(ratio)
    if drawn == "rigid":
        assert ratio < 0.5 and metrics["motion_model_chosen"] > 0 and "motion_model_gap_dropped" not in metrics
        return
    assert ratio >= 0.85 and metrics["motion_model_chosen"] == MOTION_MODELS.index("translation")
    assert metrics["motion_model_gap_dropped"] == 1.0 and again[0] == {"motion_model": "translation"}
    assert "motion_model_shift_dropped" not in metrics


@pytest.mark.parametrize("drawn", ["translation", "affine"])
def test_auto_chooses_the_model_the_frames_were_moved_by(drawn, ctx):
    # affine: scales of +-15% (at +-5% on 8-px frames from 4 moved ones the rigid model fits as well: z 1.9)
    moves = ({"motion.angle": 0.0, "motion.scale": [1.0, 1.0]} if drawn == "translation"
             else {"motion.scale": [0.85, 1.15]})
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, noise=0.01, lambda_f=0.1,
                                motion_model="auto", **moves), ctx)
    assert p.motion.name == "affine"  # the first answer is the affine model's
    solver = VarProCG(config_section("solver", "varpro_cg"), ctx)
    res = solver.solve(p, Monitor())
    metrics = {}
    again = p.solve_again(metrics, res, solver)
    assert metrics["motion_model_chosen"] == MOTION_MODELS.index(drawn)
    z = metrics["motion_model_z_rigid_affine"]
    assert (z < p.motion_z) if drawn == "translation" else (z > 4 * p.motion_z)
    assert again is None if drawn == "affine" else again[0] == {"motion_model": "translation"}
    # the smaller models' ends lie nearer the affine answer where they hold the motion (a translation draw: 0.16-0.17
    # fine px here, the affine answer's own spread on 8-px frames) than where they cannot (0.54-0.81 on the affine
    # draw): srflat's motion_model_end_gap_*
    gaps = (metrics["motion_model_end_gap_translation"], metrics["motion_model_end_gap_rigid"])
    assert max(gaps) < 0.25 if drawn == "translation" else min(gaps) > 0.4
    # what it is solved again with: the same frames under the chosen model
    if again is not None:
        q = p.with_changes(again[0])
        assert q.motion.name == "translation" and torch.equal(q.model.frames, p.model.frames)


def test_the_end_gaps_are_the_moved_points_rms_distance_in_fine_pixels(ctx):
    p = SuperRes(config_section("problem", "superres", size=16, n_frames=5, lambda_f=0.1), ctx)
    w = p.w_true.reshape(p.model.q, 6)
    h = p.model.fine.h
    shifted = w.clone()
    shifted[:, 4] += 0.5 * h[0]  # every moved frame's points half a fine pixel along the first axis
    half = shifted.clone()
    half[: p.model.q // 2, 5] += 1.0 * h[1]  # and half of the frames one more along the second
    gaps = end_gaps(p.model, {"affine": w.reshape(-1), "translation": shifted.reshape(-1), "rigid": half.reshape(-1)})
    assert gaps == pytest.approx({"motion_model_end_gap_translation": 0.5,
                                  "motion_model_end_gap_rigid": (0.25 + (p.model.q // 2) / p.model.q) ** 0.5})


def test_a_named_model_is_not_chosen_and_bad_values_are_one_line(ctx):
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, lambda_f=0.1), ctx)
    solver = VarProCG(config_section("solver", "varpro_cg"), ctx)
    metrics = {}
    assert p.solve_again(metrics, solver.solve(p, Monitor()), solver) is None and metrics == {}
    # auto on frames over its size limit: the affine answer stands, no candidate run, no score
    big = SuperRes(config_section("problem", "superres", size=12, n_frames=3, lambda_f=0.1, motion_model="auto",
                                  motion_model_auto_max=4), ctx)
    assert big.solve_again(metrics, solver.solve(big, Monitor()), solver) is None and metrics == {}
    with pytest.raises(UserError, match="motion_model"):
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="similarity"), ctx)
    with pytest.raises(UserError, match="motion_model_z"):
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto",
                                motion_model_z=0), ctx)
    with pytest.raises(UserError, match="motion_model_ratio"):  # at or under 1 affine would need to beat the rotation
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto",
                                motion_model_ratio=1), ctx)
    with pytest.raises(UserError, match="motion_model_shift_ratio"):  # at or under 1: rigid must beat the shifts
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto",
                                motion_model_shift_ratio=0.5), ctx)
    with pytest.raises(UserError, match="motion_model_gap_ratio"):  # at or under 0: every larger model dropped
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto",
                                motion_model_gap_ratio=0), ctx)
    with pytest.raises(UserError, match="motion_model_check_factor"):  # under 1: a better answer discarded
        SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto",
                                motion_model_check_factor=0.5), ctx)
    # keep_first reads the frames check of a smaller model's answer only: none chosen, or no check, nothing
    auto = SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto"), ctx)
    rigid, affine = float(MOTION_MODELS.index("rigid")), float(MOTION_MODELS.index("affine"))
    assert auto.keep_first({"motion_model_chosen": affine, "frames_check_ratio": 0.1},
                           {"frames_check_ratio": 0.9}) == ({}, None)
    assert auto.keep_first({"motion_model_chosen": rigid}, {"frames_check_ratio": 0.9}) == ({}, None)
    record, kept = auto.keep_first({"motion_model_chosen": rigid, "frames_check_ratio": 0.1},
                                   {"frames_check_ratio": 0.2})
    assert record == {"motion_model_check_rise": pytest.approx(2.0)} and kept is None


def test_a_run_records_the_choice_and_solves_again_with_it(tmp_path, device):
    # frames moved by shifts alone: translation chosen, the run solved again with it and the scores kept
    cfg = compose(["problem=superres", "solver=varpro_cg", "problem.size=16", "problem.n_frames=5", "problem.noise=0.01",
                   "problem.lambda_f=0.1", "problem.motion_model=auto", "problem.motion.angle=0",
                   "problem.motion.scale=[1.0,1.0]", f"device={device.type}", "progress=false", "figures=false"])
    outcome = run(cfg, tmp_path / "out", [])
    m = outcome.metrics
    assert outcome.status == "completed" and m["solved_again"] == 1.0
    assert m["motion_model_chosen"] == MOTION_MODELS.index("translation") and m["motion_model_z_rigid_affine"] < 2
    with h5py.File(outcome.results_path) as f:
        assert "motion model translation, chosen from the frames" in f.attrs["message"]
        assert f["result/w"].shape == (24,)  # the answer's affine motions, 6 a moved frame


def test_the_model_is_chosen_by_default_for_your_frames_only():
    """Since session 25 problem.motion_model is auto for a user's frames (docs/superres.md, "motion_model=auto for
    your frames"); generated data keep the paper's affine model, so the presets and the CI pairs do not move."""
    assert compose(["problem=superres"]).problem.motion_model == "affine"
    assert compose(["problem=superres", "problem.data=frames"]).problem.motion_model == "auto"
    assert compose(["problem=superres", "problem.data=frames", "problem.motion_model=affine"]).problem.motion_model \
        == "affine"


@pytest.mark.parametrize("factor", ["2.5", "null"])
def test_the_affine_answer_is_kept_where_the_smaller_one_predicts_held_out_frames_much_worse(tmp_path, device,
                                                                                            factor):
    # a wrong choice on purpose: frames moved by +-15% scales, the bar so high that translation is chosen; its answer
    # predicts the held-out frames ~11x worse than the affine one at the weight chosen (keep_first; docs/superres.md,
    # "srmodelcheck")
    cfg = compose(["problem=superres", "solver=varpro_cg", "problem.size=16", "problem.n_frames=5", "problem.noise=0.01",
                   "problem.lambda_f=auto", "problem.motion_model=auto", "problem.motion_model_z=1e6",
                   "problem.motion.scale=[0.85,1.15]", "problem.frames_check=true",
                   f"problem.motion_model_check_factor={factor}", f"device={device.type}", "progress=false",
                   "figures=false"])
    outcome = run(cfg, tmp_path / "out", [])
    m = outcome.metrics
    assert outcome.status == "completed" and m["solved_again"] == 1.0
    assert m["motion_model_chosen"] == MOTION_MODELS.index("translation") and m["motion_model_check_rise"] > 2.5
    with h5py.File(outcome.results_path) as f:
        first = {k: f[f"first_solve/result/{k}"][()] for k in ("reconstruction", "w")}
        first_psnr = float(f["first_solve/metrics/psnr"][()])
        answer = {k: f[f"result/{k}"][()] for k in ("reconstruction", "w")}
        kept = "the affine answer kept" in f.attrs["message"]
    if factor == "null":  # off: the translation answer stands, worse than the affine one
        assert "motion_model_kept_affine" not in m and not kept
        assert m["psnr"] < first_psnr - 1.0
        return
    # the first answer as it was, bit for bit: nothing of the discarded run left in it
    assert m["motion_model_kept_affine"] == 1.0 and kept
    assert all(np.array_equal(first[k], answer[k]) for k in first)
    assert m["psnr"] == first_psnr


def test_the_answers_area_scales_and_an_implausible_affine_answer_is_not_kept(ctx):
    # det A per moved frame in fine pixels (H^-1 A H): frame 1 stretched 3x along x, frame 2 squeezed to 0.4 in y
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, motion_model="auto"), ctx)
    w = p.motion.to_affine(p.motion.identity(device=ctx.device)).reshape(p.model.q, 6).clone()
    w[0, 0], w[1, 3] = 3.0, 0.4
    assert area_scales(p.model, w.reshape(-1)) == pytest.approx({"motion_area_min": 0.4, "motion_area_max": 3.0})
    # keep_first: a rise over the factor keeps the affine answer only where its areas lie in [1/2, 2]
    rigid = float(MOTION_MODELS.index("rigid"))
    before = {"motion_model_chosen": rigid, "frames_check_ratio": 0.025}
    after = {"frames_check_ratio": 0.123}  # s8408's rise, 4.95 ("srlock")
    record, kept = p.keep_first({**before, "motion_area_min": 0.71, "motion_area_max": 1.9}, after)
    assert record["motion_model_kept_affine"] == 1.0 and "the affine answer kept" in kept
    for low, high in ((0.71, 3.13), (0.45, 1.2)):  # s8408's first answer; a frame squeezed under 1/2
        record, kept = p.keep_first({**before, "motion_area_min": low, "motion_area_max": high}, after)
        assert kept is None and record == {"motion_model_check_rise": pytest.approx(4.92, abs=0.01),
                                           "motion_model_affine_implausible": 1.0}


def test_a_run_with_an_implausible_affine_answer_keeps_the_smaller_models(tmp_path, device, monkeypatch):
    # the set-up of the test above that keeps the affine answer (+-15% scales, translation forced, rise > 2.5), with
    # the plausible range narrowed to [1/1.05, 1.05] so that this affine answer (areas ~0.75-1.3) reads as locked:
    # the run records its areas, and the translation answer stands
    monkeypatch.setattr("regrun.problems.superres.AREA_PLAUSIBLE", 1.05)
    cfg = compose(["problem=superres", "solver=varpro_cg", "problem.size=16", "problem.n_frames=5", "problem.noise=0.01",
                   "problem.lambda_f=auto", "problem.motion_model=auto", "problem.motion_model_z=1e6",
                   "problem.motion.scale=[0.85,1.15]", "problem.frames_check=true", f"device={device.type}",
                   "progress=false", "figures=false"])
    outcome = run(cfg, tmp_path / "out", [])
    m = outcome.metrics
    assert outcome.status == "completed" and m["solved_again"] == 1.0 and m["motion_model_check_rise"] > 2.5
    assert m["motion_model_affine_implausible"] == 1.0 and "motion_model_kept_affine" not in m
    with h5py.File(outcome.results_path) as f:
        first_w = f["first_solve/result/w"][()]
        assert "the affine answer kept" not in f.attrs["message"] and f["result/w"][()].shape == first_w.shape
        assert not np.array_equal(first_w, f["result/w"][()])  # the translation answer, not the first
    det = np.linalg.det(first_w.reshape(-1, 6)[:, :4].reshape(-1, 2, 2))  # the fine grid's cells are square here
    assert not 1 / 1.05 <= det.min() <= det.max() <= 1.05


# frames moved by +-15% scales, weight and model chosen, the frames check on: srmodelcheck's set
SCALED_AUTO = ("problem=superres", "solver=varpro_cg", "problem.size=16", "problem.n_frames=5", "problem.noise=0.01",
               "problem.lambda_f=auto", "problem.motion_model=auto", "problem.motion.scale=[0.85,1.15]",
               "problem.frames_check=true", "progress=false", "figures=false")


def test_a_locked_affine_answer_is_not_among_the_models_scored(tmp_path, device, monkeypatch):
    # +-15% scales at the default bar: auto chooses affine (z rigid -> affine far over 2). With the plausible range
    # narrowed to [1/1.05, 1.05] this affine answer reads as locked: it is left out of the choice, a smaller model is
    # chosen from the two smaller ends alone and solved again, and it stands ("srlock2")
    monkeypatch.setattr("regrun.problems.superres.AREA_PLAUSIBLE", 1.05)
    outcome = run(compose([*SCALED_AUTO, f"device={device.type}"]), tmp_path / "out", [])
    m = outcome.metrics
    assert outcome.status == "completed" and m["solved_again"] == 1.0
    assert m["motion_model_affine_dropped"] == 1.0 and "motion_model_z_rigid_affine" not in m
    assert "motion_model_rss_affine" not in m and m["motion_model_chosen"] != MOTION_MODELS.index("affine")
    assert "motion_model_kept_affine" not in m
    with h5py.File(outcome.results_path) as f:
        assert "its area scales leave the plausible range" in f.attrs["message"]
        assert not np.array_equal(f["first_solve/result/w"][()], f["result/w"][()])
