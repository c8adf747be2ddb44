"""A detector's counts with their flat and dark fields, and one slice of a parallel beam's stack (docs/ct.md, "Raw
counts, flat and dark fields, a slice of a stack (ctcounts)"): before, such a file was refused ("regrun reads line
integrals, not counts", or a 3-D array read as a cone beam's)."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from cli_in_process import ct_file_fbp
from script_module import load_script

SEED = 8022
SIZE, VIEWS, ROWS = 24, 16, 5


@pytest.fixture(scope="module")
def scan():
    """A small stack of counts from scripts/ct_counts_files.py: (counts, flats, darks, angles in degrees, truths)."""
    return load_script("ct_counts_files").scan(SIZE, VIEWS, 1e4, ROWS, SEED, 0.03, factor=2)[:5]


def _run(args, tmp_path, monkeypatch, capsys, device):
    return ct_file_fbp(args, SIZE, tmp_path, monkeypatch, capsys, device)


def _exchange(path, counts, flats, darks, deg):
    with h5py.File(path, "w") as f:
        f["exchange/data"], f["exchange/data_white"], f["exchange/data_dark"] = counts, flats, darks
        f["exchange/theta"] = deg


def _recorded(run: Path):
    with h5py.File(run / "results.h5", "r") as f:
        return f["data/sinogram"][()], {k: v[()] for k, v in f["data/counts"].items()}


def test_a_data_exchange_file_reads_its_middle_row_normalised_as_tomopy_does(scan, device, tmp_path, monkeypatch,
                                                                              capsys):
    counts, flats, darks, deg, truths = scan
    _exchange(tmp_path / "scan.h5", counts, flats, darks, deg)
    code, out, run = _run(["problem.sinogram=scan.h5"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert f"row {ROWS // 2} of its {ROWS} detector rows (the middle row; problem.slice=ROW for another)" in out
    assert "the mean of its 10 flats and 10 darks" in out and "('exchange/theta', 0 to" in out
    sino, info = _recorded(run)
    hand = load_script("ct_counts_files").by_hand(counts, flats, darks, ROWS // 2)
    assert np.allclose(sino, hand, rtol=0, atol=1e-12)
    assert info["slice"] == ROWS // 2 and info["rows"] == ROWS and info["flats"] == 10 and info["clipped"] == 0
    incident = flats[:, ROWS // 2].astype(float).mean(0) - darks[:, ROWS // 2].astype(float).mean(0)
    assert info["incident_counts_mean"] == pytest.approx(incident.mean())
    # Poisson flats with a 3 % drift between frames: one count of variance per count, the dose in photons
    assert 0.7 < info["flat_variance_per_count"] < 1.3
    assert info["incident_photons_estimate"] == pytest.approx(incident.mean() / info["flat_variance_per_count"])
    rec = np.load(run / "reconstruction.npy")
    assert np.corrcoef(rec.ravel(), truths[ROWS // 2].ravel())[0, 1] > 0.8


def test_an_npz_of_data_flat_dark_reads_the_row_typed_and_a_single_flat_frame(scan, device, tmp_path, monkeypatch,
                                                                             capsys):
    counts, flats, darks, deg, _ = scan
    np.savez(tmp_path / "scan.npz", data=counts, flat=flats.mean(0), dark=darks, angles=deg)
    code, out, run = _run(["problem.sinogram=scan.npz", "problem.slice=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert "row 1 of its 5 detector rows (problem.slice=1)" in out and "the mean of its 1 flat and 10 darks" in out
    sino, info = _recorded(run)
    assert np.allclose(sino, load_script("ct_counts_files").by_hand(counts, flats, darks, 1), rtol=0, atol=1e-12)
    assert "flat_variance_per_count" not in info  # one frame holds no scatter


def test_counts_at_or_below_the_dark_are_clipped_and_counted(scan, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks, deg, _ = scan
    low = counts.copy()
    low[3, 2, 10:13] = 0  # three readings of the middle row below the dark's 100
    np.savez(tmp_path / "scan.npz", data=low, flat=flats, dark=darks, angles=deg)
    code, out, run = _run(["problem.sinogram=scan.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert f"3 of {VIEWS * counts.shape[2]} counts" in out and "at or below the dark field: clipped" in out
    sino, info = _recorded(run)
    assert info["clipped"] == 3 and np.isfinite(sino).all()
    dark, flat = darks[:, 2].astype(float).mean(0), flats[:, 2].astype(float).mean(0)
    above = counts[:, 2].astype(float) - dark
    floor = above[above > 0].min()  # the smallest count above the dark: the largest attenuation measured
    assert np.allclose(sino[3, 10:13], -np.log(floor / (flat - dark)[10:13]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("typed, said", [
    ("flat", "its flat field 'exchange/data_white' has shape (10, 5, 35), its projections (5, 36) each"),
    ("slice", "problem.slice=7 is outside the stack's 5 detector rows"),
    ("theta", "its 'exchange/theta' holds 15 angles (shape (15,)) but its 'exchange/data' 16 views"),
    ("cone", "scan.h5's counts are a stack (16, 5, 36) (views, rows, columns): regrun reconstructs one slice"),
])
def test_a_bad_counts_file_is_one_line_exit_2(scan, typed, said, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks, deg, _ = scan
    args = ["problem.sinogram=scan.h5"]
    if typed == "flat":
        flats = flats[:, :, :-1]
    if typed == "slice":
        args.append("problem.slice=7")
    if typed == "theta":
        deg = deg[:-1]
    if typed == "cone":
        args.append("problem.geometry=cone")
    _exchange(tmp_path / "scan.h5", counts, flats, darks, deg)
    code, out, _ = _run(args, tmp_path, monkeypatch, capsys, device)
    assert code == 2 and said in out, out
    assert len(out.strip().splitlines()) == 1, out


def test_a_stack_of_line_integrals_reads_the_row_typed_and_is_refused_without(scan, device, tmp_path, monkeypatch,
                                                                              capsys):
    counts, flats, darks, _, _ = scan
    stack = np.stack([load_script("ct_counts_files").by_hand(counts, flats, darks, r) for r in range(ROWS)], axis=1)
    np.save(tmp_path / "stack.npy", stack)
    code, out, _ = _run(["problem.sinogram=stack.npy"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "problem.slice=ROW reads row ROW" in out, out
    code, out, run = _run(["problem.sinogram=stack.npy", "problem.slice=3"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "row 3 of its 5-row stack" in out, out
    with h5py.File(run / "results.h5", "r") as f:
        assert np.array_equal(f["data/sinogram"][()], stack[:, 3])


def test_line_integrals_saved_beside_their_flat_read_as_before_and_as_their_counts_read(scan, device, tmp_path, monkeypatch, capsys):
    # a file holding problem.sinogram_key stays line integrals whatever lies beside it; a Data Exchange file without
    # flats too (its /exchange/data then read as the key names it)
    counts, flats, darks, deg, _ = scan
    sino = load_script("ct_counts_files").by_hand(counts, flats, darks, 2)
    np.savez(tmp_path / "plain.npz", sinogram=sino, angles=deg)
    np.savez(tmp_path / "beside.npz", sinogram=sino, angles=deg, flat=flats[:, 2], dark=darks[:, 2])
    with h5py.File(tmp_path / "normalised.h5", "w") as f:
        f["exchange/data"], f["exchange/theta"] = sino, deg
    read = []
    for name in ("plain.npz", "beside.npz", "normalised.h5"):
        key = ["problem.sinogram_key=exchange/data", "problem.angles_key=exchange/theta"] if name.endswith("h5") else []
        code, out, run = _run([f"problem.sinogram={name}", *key], tmp_path, monkeypatch, capsys, device)
        assert code == 0 and "(/data/counts)" not in out, out
        read.append(np.load(run / "reconstruction.npy"))
    assert np.array_equal(read[0], read[1]) and np.array_equal(read[0], read[2])
    np.savez(tmp_path / "counts.npz", data=counts, flat=flats, dark=darks, angles=deg)  # and the counts they came from
    code, out, run = _run(["problem.sinogram=counts.npz", "problem.slice=2"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "(/data/counts)" in out, out
    assert np.allclose(np.load(run / "reconstruction.npy"), read[0], rtol=0, atol=1e-9 * np.abs(read[0]).max())


def test_a_saturated_detector_is_warned(device, tmp_path, monkeypatch, capsys):
    # a 16-bit detector at 1e5 counts: every flat reads 65535, and rays through little of the object read no
    # attenuation (ctcounts' held-out 144^2 scan, 22.3 dB where the others gave 34-39), which ran without a word
    counts, flats, darks, deg, _ = load_script("ct_counts_files").scan(SIZE, VIEWS, 1e5, 3, SEED, 0.03, factor=2)[:5]
    assert (flats == 65535).all()
    np.savez(tmp_path / "scan.npz", data=counts, flat=flats, dark=darks, angles=deg)
    code, out, _ = _run(["problem.sinogram=scan.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "the detector saturated: 100.0% of the mean flat's pixels" in out, out
    assert "the ceiling of 16 bits" in out
