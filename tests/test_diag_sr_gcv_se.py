"""srse's diagnosis (scripts/diag_sr_gcv_se.py): per weight the frames' and the quarter-frames' GCV terms add up to
GCV; the picks walk up from GCV's minimum within their bars (the unpaired bar wider than the paired one where the
frames differ by content); the report and the comparison of two runs read its outputs."""
import json

import numpy as np
import pytest
import torch
from script_module import load_script

pytest.importorskip("skimage")  # the set is a scikit-image photo (the bench extra; CI installs .[test] only)

SET = "sk:astronaut@100:100,12,4,0.01,5,translation"


def rows_of(gcv, frames):
    """Rows as the diagnosis writes them: GCV per weight and each frame's misfit (scale 1: GCV = their sum)."""
    return [{"lam": 0.1 * 2 ** k, "gcv": g, "scale": 1.0, "frames": f, "blocks": f, "psnr": 0.0}
            for k, (g, f) in enumerate(zip(gcv, frames))]


def test_the_picks_walk_up_within_their_bars():
    mod = load_script("diag_sr_gcv_se")
    # four frames of very different content (terms 1, 2, 3, 10), each rising by 0.1 a step: the unpaired bar (the
    # terms' own spread) takes every step, the paired one (every frame rises alike: t infinite) none
    base = np.array([1.0, 2.0, 3.0, 10.0])
    frames = [list(base + 0.1 * k) for k in range(4)]
    rows = rows_of([sum(f) for f in frames], frames)
    assert mod.pick(rows, "frames", 1.0, False) == 3
    assert mod.pick(rows, "frames", 1.0, True) == 0
    # the frames disagree on the rise (two up, two down, mean +0.1): within 0.5 paired SE, the walk goes on
    frames = [list(base + k * np.array([1.0, -1.0, 1.1, -1.0]) / 10) for k in range(4)]
    rows = rows_of([sum(f) for f in frames], frames)
    assert mod.pick(rows, "frames", 0.5, True) == 3
    # the walk starts at GCV's minimum (the third weight), not at the grid's start
    frames = [list(base + 2), list(base + 1), list(base), frames[1]]
    rows = rows_of([sum(f) for f in frames], frames)
    assert mod.pick(rows, "frames", 0.5, True) == 3 and mod.pick(rows, "frames", 0.0, True) == 2


def test_unit_misfits_add_up_per_frame_and_per_quarter():
    mod = load_script("diag_sr_gcv_se")
    r = torch.arange(2 * 4 * 6, dtype=torch.float64).reshape(2, 4, 6)
    frames, blocks = mod.unit_misfits(r)
    assert len(frames) == 2 and len(blocks) == 8
    assert frames == pytest.approx(r.pow(2).sum((1, 2)).tolist())
    assert sum(blocks[:4]) == pytest.approx(frames[0]) and sum(blocks[4:]) == pytest.approx(frames[1])


def test_a_set_its_report_and_a_comparison(tmp_path, capsys):
    mod = load_script("diag_sr_gcv_se")
    mod.main(["--grid", "0.05", "0.2", "3", "--out", str(tmp_path / "m"), "--set", SET])
    mod.main(["--grid", "0.05", "0.2", "3", "--auto-set", "lam_se_t=0.5", "--out", str(tmp_path / "v"), "--set", SET])
    (main,), (var,) = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "mv")
    assert var["settings"] == {"lam_se_t": 0.5} and main["settings"] == {}
    assert "lam_se_from" in var["run"] and "lam_se_from" not in main["run"]
    for r in main["rows"]:  # the frames' terms and the quarters' each add up to GCV
        assert r["scale"] * sum(r["frames"]) == pytest.approx(r["gcv"], rel=1e-12)
        assert r["scale"] * sum(r["blocks"]) == pytest.approx(r["gcv"], rel=1e-12)
        assert len(r["frames"]) == 4 and len(r["blocks"]) == 16
    mod.main(["--report", str(tmp_path / "m.json")])
    assert "| pair05 |" in capsys.readouterr().out
    mod.main(["--report", str(tmp_path / "m.json"), "--variant", str(tmp_path / "v.json")])
    assert "1 sets: summed" in capsys.readouterr().out
