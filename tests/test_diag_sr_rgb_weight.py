"""srrgbweight's diagnosis (scripts/diag_sr_rgb_weight.py): on a colour set the noise drawn per channel and on the
luminance (independent per channel: the luminance's is sqrt(sum a_c^2) of the channels'), and per weight the PSNR
of all channels, of the luminance and of each channel, and GCV on the luminance's and on each channel's frames; a
grey set is refused with one line, exit 2."""
import json
import math

import numpy as np
import pytest
from script_module import load_script

from regrun.imaging.io import TRUTH_KEY

pytest.importorskip("skimage")  # the set is a scikit-image photo (the bench extra; CI installs .[test] only)

SET = "rgb:sk:astronaut@100:100,12,4,0.01,5,translation"


def test_the_luminance_and_every_channel_per_weight(tmp_path):
    load_script("diag_sr_rgb_weight").main(["--grid", "0.05", "0.2", "3", "--out", str(tmp_path / "d"), "--set", SET])
    out = json.loads((tmp_path / "d.json").read_text())
    truth = np.moveaxis(np.load(tmp_path / "d_noisy.npz")[TRUTH_KEY], -1, 0)
    assert [round(r["lam"], 6) for r in out["rows"]] == [0.05, 0.1, 0.2]
    # the luminance carries less noise than any channel, as independent channels' Rec. 601 sum does
    assert out["sigma_luminance"] < min(out["sigma_channels"])
    assert out["sigma_luminance"] == pytest.approx(out["sigma_luminance_if_independent"], rel=0.2)
    for r in out["rows"]:
        assert len(r["psnr_ch"]) == 3 and len(r["gcv_ch"]) == 3 and all(math.isfinite(v) for v in r["gcv_ch"])
        # the PSNR of all channels is that of the channels' images scored one by one: their mean squared error
        mse = np.mean([np.ptp(t) ** 2 * 10 ** (-v / 10) for t, v in zip(truth, r["psnr_ch"])])
        assert r["psnr_rgb"] == pytest.approx(10 * math.log10(np.ptp(truth) ** 2 / mse), abs=1e-9)
    assert out["best"]["gcv_lum"] == min(out["rows"], key=lambda r: r["gcv_lum"])["lam"]
    assert set(out["best"]) >= {"psnr_rgb", "psnr_lum", "gcv_ch0", "psnr_ch2"}


def test_a_grey_set_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        load_script("diag_sr_rgb_weight").main(["--grid", "0.05", "0.2", "3", "--out", str(tmp_path / "d"),
                                                "--set", SET[4:]])
    assert stop.value.code == 2 and "is not a colour set" in capsys.readouterr().err
