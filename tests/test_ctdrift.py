"""A beam whose intensity drifts between projections, read from raw counts (docs/ct.md, "A drifting beam in raw
counts (ctdrift)"): problem.counts_air_correction=true scales each view so that the detector columns beside the object
read transmission 1. Before, the setting was unknown and each view kept its drift's offset."""
import numpy as np
import pytest

from test_ctcounts import ROWS, SIZE, VIEWS, _exchange, _recorded, _run
from script_module import load_script

SEED = 8029
DRIFT = 0.03


@pytest.fixture(scope="module")
def drifting():
    """A 24^2 stack of counts whose gain rises by DRIFT over the scan (flats half before, half after)."""
    return load_script("ct_counts_files").scan(SIZE, VIEWS, 1e4, ROWS, SEED, DRIFT, factor=2)[:4]


def test_each_view_is_scaled_by_its_air_columns_and_the_drift_is_removed(drifting, device, tmp_path, monkeypatch,
                                                                         capsys):
    counts, flats, darks, deg = drifting
    _exchange(tmp_path / "scan.h5", counts, flats, darks, deg)
    code, out, run = _run(["problem.sinogram=scan.h5", "problem.counts_air_correction=true"], tmp_path, monkeypatch,
                          capsys, device)
    assert code == 0, out
    assert "air columns read transmission 1" in out
    sino, info = _recorded(run)
    left, right = int(info["air_columns_left"]), int(info["air_columns_right"])
    assert info["air_corrected"] and left >= 3 and right >= 3
    air = np.r_[np.arange(left), np.arange(sino.shape[1] - right, sino.shape[1])]
    assert np.abs(sino[:, air].mean(axis=1)).max() < 1e-12
    # the offset removed is the drift: the views' gain against the flats' mean (1 + DRIFT / 2), to the air's noise
    hand = load_script("ct_counts_files").by_hand(counts, flats, darks, ROWS // 2)
    gain = 1 + DRIFT * np.arange(VIEWS) / (VIEWS - 1)
    drift_offset = -np.log(gain / (1 + DRIFT / 2))
    assert np.abs((hand - sino).mean(axis=1) - drift_offset).max() < 0.006
    assert info["view_offset_span"] == pytest.approx(DRIFT, abs=0.008)


def test_without_free_air_columns_nothing_is_changed_and_it_says_so(drifting, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks, deg = drifting
    n = counts.shape[2]
    cut = slice(n // 2 - 7, n)  # the object's disk (radius 0.72-0.82 of the half width, 9-10 pixels) reaches the left end
    np.savez(tmp_path / "scan.npz", data=counts[..., cut], flat=flats[..., cut], dark=darks[..., cut], angles=deg)
    code, out, run = _run(["problem.sinogram=scan.npz", "problem.counts_air_correction=true"], tmp_path, monkeypatch,
                          capsys, device)
    assert code == 0, out
    assert "the views are not corrected" in out
    sino, info = _recorded(run)
    hand = load_script("ct_counts_files").by_hand(counts[..., cut], flats[..., cut], darks[..., cut], ROWS // 2)
    assert np.allclose(sino, hand, rtol=0, atol=1e-12) and not info["air_corrected"]


def test_off_by_default_and_a_bad_value_is_one_line(drifting, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks, deg = drifting
    _exchange(tmp_path / "scan.h5", counts, flats, darks, deg)
    code, out, run = _run(["problem.sinogram=scan.h5"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "air columns" not in out
    sino, info = _recorded(run)
    assert "air_correction" not in info
    assert np.allclose(sino, load_script("ct_counts_files").by_hand(counts, flats, darks, ROWS // 2), rtol=0,
                       atol=1e-12)
    code, err, _ = _run(["problem.sinogram=scan.h5", "problem.counts_air_correction=maybe"], tmp_path, monkeypatch,
                        capsys, device)
    assert code == 2 and "problem.counts_air_correction" in err and len(err.strip().splitlines()) == 1
