"""srscale's diagnosis (scripts/diag_sr_scale.py): the affine ladder's area scales at its end, on the seen brick
set whose ladder squeezes frames (MC's brick@350:150 20^2/12 2% s7937) and on srperiod's control brick@100:300
24^2/12 s7934 (docs/superres.md, "The affine ladder's implausible area scales (srscale)")."""
import json

import pytest
from script_module import load_script

pytest.importorskip("skimage")  # the sets are scikit-image textures (the bench extra; CI installs .[test] only)


def test_implausible_areas_are_the_frames_far_off(tmp_path, capsys):
    """Measured: s7937's end has 4 frames out of [1/2, 2] (det 0.02-10.3), 9-43 px off; the control's within
    det 0.96-1.12, 0.71 px RMS."""
    diag = load_script("diag_sr_scale")
    diag.main(["--write", str(tmp_path), "--set", "sk:brick@350:150,20,12,0.02,7937",
               "sk:brick@100:300,24,12,0.01,7934"])
    paths = capsys.readouterr().out.split()
    assert [p.split("/")[-1] for p in paths] == ["sk_brick@350_150_20_0.02_7937_12.npz",
                                                 "sk_brick@100_300_24_0.01_7934_12.npz"]
    diag.main([*paths, "--out", str(tmp_path / "s.json")])
    brick, control = json.loads((tmp_path / "s.json").read_text())
    end = brick["stages"][-1][1]
    off = [e for d, e in zip(end["det"], end["error"]) if not 0.5 <= d <= 2.0]
    assert 1 <= len(off) < len(end["det"]) and min(off) > 5.0
    assert not all(0.5 <= d <= 2.0 for d in brick["stopped"]["det"])  # the second start is squeezed too
    assert 0.9 < min(brick["truth"]["det"]) and max(brick["truth"]["det"]) < 1.1
    end = control["stages"][-1][1]
    assert all(0.5 <= d <= 2.0 for d in end["det"]) and diag.rms(end["error"]) < 1.5
    assert "end out of [1/2, 2]: 0 frames" in capsys.readouterr().out
