"""The acceptance batch's table (scripts/report_sr_acceptance.py): the three targets per set and their counts, and
another run's `auto` matched by set (not by row order), its targets judged against the first run's grid and peer."""
import json

import pytest
import torch
from script_module import load_script


def _row(seed, psnr, motion_error=0.1, chosen=None):
    auto = {"lam": 0.1, "psnr": psnr, "motion_error": motion_error, "cpu_s": 1.0, "check_ratio": 0.05}
    if chosen is not None:  # a run with --motion-model auto: the affine answer's PSNR, and the model where chosen
        auto.update({"affine_psnr": psnr} if chosen == "none" else {"affine_psnr": psnr, "motion_model_chosen": chosen})
    return {"image": "sk:moon@0:0", "size": 24, "seed": seed, "frames": 8, "noise": 0.01, "motion": "translation",
            "channels": 1, "psnr_bicubic": 30.0, "psnr_regrun_best": 33.0, "regrun_best_lam": 0.2,
            "psnr_peer_best": 32.0, "peer_best_lam": 0.2, "peer_motion_error": 0.2, "auto_gcv": auto}


def test_targets_counted_per_set(tmp_path, capsys):
    # 32.5: all three; 32.0: within the peer's 0.5 but 1 dB from the best; 29.0: under bicubic, all missed
    rows = [_row(1, 32.5, chosen=0), _row(2, 32.0, chosen="none"), _row(3, 29.0)]
    (tmp_path / "a.json").write_text(json.dumps({"rows": rows}))
    load_script("report_sr_acceptance").main([str(tmp_path / "a.json")])
    out = capsys.readouterr().out
    assert "| translation | 30.00 |" in out and "| affine, not chosen | 30.00 |" in out and "| affine | 30.00 |" in out and "| ✓✓✓ |" in out and "| ✓✗✓ |" in out and "| ✗✗✗ |" in out
    assert "- auto (3 sets): above bicubic 2, within 0.75 dB of regrun's best 1, within 0.5 dB of the peer 2, " \
           "all three 1; worst gap to regrun's best -4.00, to the peer -3.00" in out


def test_another_run_matched_by_set(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"rows": [_row(1, 32.5), _row(2, 32.0)]}))
    (tmp_path / "b.json").write_text(json.dumps({"rows": [_row(2, 29.0), _row(1, 32.55)]}))
    load_script("report_sr_acceptance").main([str(tmp_path / "a.json"), "--against", str(tmp_path / "b.json"),
                                              "--name", "affine"])
    out = capsys.readouterr().out
    assert "| -0.05 |" in out and "| +3.00 |" in out and "| ✗✗✗ → ✓✗✓ |" in out
    assert "- auto − affine: summed +2.95 dB, worst -0.05, best +3.00; 0 sets lose > 0.1 dB, 1 gain > 0.1" in out
    (tmp_path / "c.json").write_text(json.dumps({"rows": [_row(1, 32.6)]}))
    with pytest.raises(SystemExit, match="lacks 1 set"):
        load_script("report_sr_acceptance").main([str(tmp_path / "a.json"), "--against", str(tmp_path / "c.json")])


def test_a_choice_whose_answer_was_discarded_says_so():
    # keep_first kept the affine answer over the rigid one chosen (docs/superres.md, "srmodelcheck")
    chosen = load_script("report_sr_acceptance").chosen
    assert chosen({"affine_psnr": 30.0, "motion_model_chosen": 1.0, "motion_model_kept_affine": 1.0}) \
        == "rigid, affine kept"
    assert chosen({"affine_psnr": 30.0, "motion_model_chosen": 1.0, "motion_model_check_rise": 1.2}) == "rigid"


def test_a_row_solved_again_with_gains_says_so():
    # srbenchuser's rows carry the user's second solve with gains; older rows recorded the first answer there
    chosen = load_script("report_sr_acceptance").chosen
    assert chosen({"affine_psnr": 21.2, "gains_solved": 1.0}) == "affine, gains solved"
    assert chosen({"affine_psnr": 16.1, "gain_again": 1.0}) == "affine, gains next"


def test_bench_auto_is_the_users_answer_where_gains_are_solved_again(tmp_path, monkeypatch, device):
    # frames with unmodelled exposure gains (0.8-1.2) declared gain-free: the exposure check fires, the run solves
    # again with problem.gain=true; the bench's `auto` row recorded the first answer (docs/superres.md, "srperiod")
    from types import SimpleNamespace

    from regrun.config import compose
    from regrun.context import RunContext
    from regrun.run import run

    bench = load_script("bench_lambda_sr")
    made = bench.frame_set

    def unmodelled_gains(*a, **kw):
        return made(*a, **{**kw, "gain": (0.8, 1.2)})

    monkeypatch.setattr(bench, "frame_set", unmodelled_gains)
    args = SimpleNamespace(supersample=4, offset=False, outside="drop", motion_model="auto", frames_level=True,
                           extension="zero", auto_set={}, solver_set={"max_iter": 3}, prereg_as_given=False,
                           rules=["gcv"], split=None, reuse=tmp_path / "earlier.json")
    spec = {"kind": "phantom", "size": 16, "frames": 5, "noise": 0.005, "seed": 3}
    ctx = RunContext(device, torch.float64, 0, tmp_path)
    row = bench.run_set(ctx, tmp_path, spec, args, reuse={})
    auto = row["auto_gcv"]
    path = bench.frame_file(tmp_path, "phantom", 16, 0.005, 3, 5, "affine", False)
    files = [f"problem.{k}={path}" for k in ("frames", "truth", "true_motion")]
    cfg = compose(["problem=superres", "solver=varpro_cg", "problem.data=frames", "solver.max_iter=3", f"device={device.type}",
                   "progress=false", "figures=false", *files])
    user = run(cfg, tmp_path / "user", []).metrics
    assert auto["psnr"] == pytest.approx(user["psnr"], abs=1e-9) and auto["lam"] == pytest.approx(user["lam_chosen"],
                                                                                                   rel=1e-9)
    assert user["solved_again"] == 1.0 and "gain_error" not in user and auto["gains_solved"] == 1.0
    assert auto["affine_psnr"] == user["first_solve_psnr"] and user["psnr"] > user["first_solve_psnr"] + 1
