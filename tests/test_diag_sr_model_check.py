"""srfinal5's reading of the frames check against a wrong motion-model choice (scripts/diag_sr_model_check.py): only
sets answered with a smaller model are listed, matched by set with the affine run, and the affine answer is kept
in the reading only where the chosen answer's check rose over the ratio."""
import json

import pytest
from script_module import load_script


def _row(seed, psnr, check, chosen=None, affine_psnr=None):
    auto = {"psnr": psnr, "check_ratio": check}
    if chosen is not None:  # a run with --motion-model auto
        auto.update(affine_psnr=affine_psnr, motion_model_chosen=chosen)
    return {"image": "sk:moon@0:0", "size": 24, "seed": seed, "frames": 8, "noise": 0.01, "motion": "affine",
            "auto_gcv": auto}


def test_the_affine_answer_kept_where_the_check_rose(tmp_path, capsys):
    # seed 1: rigid chosen, its check 4x the affine's and 0.85 dB worse; seed 2: translation, check 1.1x, +0.4 dB;
    # seed 3: affine kept by the choice (not listed)
    model = [_row(1, 32.98, 0.30, 1.0, 33.83), _row(2, 30.4, 0.11, 0.0, 30.0), _row(3, 30.0, 0.1, 2.0, 30.0)]
    affine = [_row(2, 30.0, 0.10), _row(1, 33.83, 0.075), _row(3, 30.0, 0.1)]
    (tmp_path / "m.json").write_text(json.dumps({"rows": model}))
    (tmp_path / "a.json").write_text(json.dumps({"rows": affine}))
    load_script("diag_sr_model_check").main(["--pair", "X", str(tmp_path / "m.json"), "vs", str(tmp_path / "a.json"),
                                             "--ratio", "1.05", "2"])
    out = capsys.readouterr().out
    assert "| 0.075 → 0.300 (4.00) | 33.83 → 32.98 | -0.85 |" in out and "(1.10)" in out and "s3" not in out
    assert "2 sets answered with a smaller model (2 with the same affine answer" in out
    assert "rose over 1.05x: 2 sets, summed +0.45 dB (1 gain > 0.1 dB, 1 lose > 0.1 dB, worst -0.40)" in out
    assert "rose over 2x: 1 sets, summed +0.85 dB (1 gain > 0.1 dB, 0 lose > 0.1 dB, worst +0.85)" in out


def test_a_pair_needs_its_separator(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        load_script("diag_sr_model_check").main(["--pair", "X", str(tmp_path / "m.json")])
    assert stop.value.code == 2 and "MODEL.json ... vs AFFINE.json" in capsys.readouterr().err
