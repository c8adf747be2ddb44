"""sriter's table of `auto` under several solver settings: the changes against the baseline, the sets that lose
more than the tolerance, and the summed CPU ratio (the numbers the dev rule is judged on)."""
import json

import pytest
from script_module import load_script


def _row(seed, psnr, cpu):
    return {"image": "sk:moon@0:0", "size": 24, "seed": seed, "frames": 8, "noise": 0.01, "motion": "affine",
            "channels": 1, "psnr_bicubic": 30.0, "psnr_regrun_best": 33.0, "regrun_best_lam": 0.2,
            "auto_gcv": {"lam": 0.1, "psnr": psnr, "motion_error": 0.1, "cpu_s": cpu}}


def test_losses_gains_and_cpu_against_the_first_run(tmp_path, capsys):
    runs = {"main": [_row(1, 30.0, 1.0), _row(2, 31.0, 3.0)], "new": [_row(2, 30.5, 3.0), _row(1, 38.0, 3.0)]}
    for name, rows in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"rows": rows}))
    load_script("report_sr_auto_variants").main([str(tmp_path / "main.json"), str(tmp_path / "new.json")])
    out = capsys.readouterr().out
    assert "| +8.00 |" in out and "| -0.50 |" in out  # matched by set, not by row order
    assert "new: worst -0.50 dB, best +8.00, summed +7.50; 1 sets lose > 0.1 dB, 1 gain > 0.1; CPU-s 6.0 = 1.50x main" \
        in out


def test_names_must_match_the_runs(tmp_path, capsys):
    (tmp_path / "a.json").write_text(json.dumps({"rows": [_row(1, 30.0, 1.0)]}))
    with pytest.raises(SystemExit) as stop:
        load_script("report_sr_auto_variants").main([str(tmp_path / "a.json"), "--names", "x", "y"])
    assert stop.value.code == 2 and "one name per run" in capsys.readouterr().err


def test_a_loss_back_to_the_floor_is_counted_apart(tmp_path, capsys):
    # srextend's gate: a set worse than the default is excused only where at or above the zero extension's number.
    runs = {"main": [_row(1, 35.0, 1.0), _row(2, 31.0, 1.0), _row(3, 30.0, 1.0)],
            "new": [_row(1, 33.0, 1.0), _row(2, 30.0, 1.0), _row(3, 30.5, 1.0)],
            "zero": [_row(1, 32.0, 1.0), _row(2, 30.5, 1.0), _row(3, 29.0, 1.0)]}
    for name, rows in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({"rows": rows}))
    load_script("report_sr_auto_variants").main([str(tmp_path / "main.json"), str(tmp_path / "new.json"),
                                                 "--floor", str(tmp_path / "zero.json")])
    out = capsys.readouterr().out
    assert "| 32.00 |" in out  # the floor's column
    assert "new: worst -2.00 dB, best +0.50, summed -2.50; 2 sets lose > 0.1 dB (1 below the floor), 1 gain > 0.1" \
        in out
