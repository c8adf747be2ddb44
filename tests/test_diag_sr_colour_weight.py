"""srcolour's diagnosis (scripts/diag_sr_colour_weight.py): the colour image split into the luminance at `auto`'s
weight and the chroma on a grid; with --factors, `auto` again at problem.lam_chroma_factor: the same luminance and
weight, only the chroma moved."""
import json
import math

import pytest
from script_module import load_script

pytest.importorskip("skimage")  # the set is a scikit-image photo (the bench extra; CI installs .[test] only)

SET = "rgb:sk:astronaut@100:100,12,4,0.01,5,translation"


def test_grid_and_a_factor(tmp_path):
    load_script("diag_sr_colour_weight").main(["--grid", "0.05", "0.2", "3", "--factors", "1", "--out",
                                               str(tmp_path / "d"), "--set", SET])
    out = json.loads((tmp_path / "d.json").read_text())
    assert [round(r["lam"], 6) for r in out["rows"]] == [0.05, 0.1, 0.2]
    for r in out["rows"]:
        assert len(r["gcv"]) == 2 and len(r["gml"]) == 2 and all(math.isfinite(v) for v in r["gcv"] + r["gml"])
    assert out["best"]["psnr_split"] == max(out["rows"], key=lambda r: r["psnr_split"])["lam"]
    one = out["factors"]["1.0"]  # every channel at the luminance's weight, against the default's chroma at 2x
    assert one["lam_chosen"] == out["run"]["lam_chosen"]  # the luminance's search is untouched
    assert math.isfinite(one["psnr"]) and one["psnr"] != out["run"]["psnr"]
