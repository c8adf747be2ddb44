"""Flat and dark fields as a beamline gives them (docs/ct.md, "Flat and dark fields as a beamline gives them
(ctflats)"): flats and darks in files or TIFF folders of their own (problem.flat, problem.dark), projections as a
folder of TIFFs or a multi-page TIFF, and flats taken before and after the projections interpolated linearly over
the projection index (problem.flat_positions). Before, problem.flat was no key ("regrun reads counts with their flat
and dark fields from the one file that holds them") and the flats were always averaged."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from cli_in_process import ct_file_fbp
from script_module import load_script

SEED = 8039
SIZE, VIEWS, ROWS, DRIFT = 24, 16, 5, 0.06


@pytest.fixture(scope="module")
def scan():
    """A small stack of counts, its gain drifting by DRIFT from the flats before to the flats after:
    (counts, flats, darks, angles in degrees, truths, kappa, noise-free line integrals)."""
    return load_script("ct_counts_files").scan(SIZE, VIEWS, 1e4, ROWS, SEED, DRIFT, factor=2)


def _run(args, tmp_path, monkeypatch, capsys, device):
    return ct_file_fbp(args, SIZE, tmp_path, monkeypatch, capsys, device)


def _recorded(run: Path):
    with h5py.File(run / "results.h5", "r") as f:
        return f["data/sinogram"][()], {k: v[()] for k, v in f["data/counts"].items()}


def _beamline(tmp_path, scan):
    """The scan as one .npz and as a beamline's files (ct_counts_files.py's LAYOUT files)."""
    counts, flats, darks = scan[:3]
    return load_script("ct_counts_files").write_files(tmp_path, "scan", counts, flats, darks)


def _typed(problem: dict) -> list[str]:
    return [f"problem.{k}=" + (f"[{','.join(v)}]" if isinstance(v, list) else str(v)) for k, v in problem.items()]


def test_separate_tiff_files_read_as_the_one_file_bit_for_bit(scan, device, tmp_path, monkeypatch, capsys):
    cases = _beamline(tmp_path, scan)
    code, out, run = _run(["problem.sinogram=scan.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    one, _ = _recorded(run)
    counts_file, problem = cases["files_counts"]
    code, out, run = _run([f"problem.sinogram={counts_file}", *_typed(problem)], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert ("counts (projections: a folder of 16 image files, 16 frames) read as -log((data - dark) / (flat - dark)), "
            "the mean of its 10 flats (problem.flat: flats_before.tif: 5 pages; flats_after.tif: 5 pages); the mean "
            "of its 10 darks (problem.dark: darks: a folder of 10 image files, 10 frames)") in out
    files, info = _recorded(run)
    assert np.array_equal(files, one)
    assert info["layout"] == b"files" or info["layout"] == "files"
    assert info["flats"] == 10 and info["darks"] == 10 and "flat_positions" not in info
    # a multi-page TIFF of the projections and an .npy of the darks read the same
    from PIL import Image
    pages = [Image.fromarray(c) for c in scan[0]]
    pages[0].save(tmp_path / "proj.tif", save_all=True, append_images=pages[1:])
    np.save(tmp_path / "darks.npy", scan[2])
    code, out, run = _run(["problem.sinogram=proj.tif", f"problem.flat=[{','.join(problem['flat'])}]",
                           "problem.dark=darks.npy"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "projections: 16 pages" in out and "(problem.dark: darks.npy: its array)" in out, out
    assert np.array_equal(_recorded(run)[0], one)


def test_flats_before_and_after_are_interpolated_over_the_projection_index(scan, device, tmp_path, monkeypatch,
                                                                            capsys):
    counts, flats, darks, _, _, _, lines = scan
    cases = _beamline(tmp_path, scan)
    runs = {}
    for case in ("counts", "ends_counts", "files_ends_counts"):
        counts_file, problem = cases[case]
        code, out, runs[case] = _run([f"problem.sinogram={counts_file}", *_typed(problem)], tmp_path, monkeypatch,
                                     capsys, device)
        assert code == 0, out
    assert (f"flats_after.tif: 5 pages) taken at projections 0 (5 frames) and {VIEWS - 1} (5 frames) interpolated "
            f"linearly over the projection index (problem.flat_positions; their level changes by +") in out
    mean, _ = _recorded(runs["counts"])
    ends, info = _recorded(runs["ends_counts"])
    assert np.array_equal(_recorded(runs["files_ends_counts"])[0], ends)
    row = ROWS // 2
    dark = darks[:, row].astype(float).mean(0)
    before, after = (flats[:5, row].astype(float).mean(0) - dark), (flats[5:, row].astype(float).mean(0) - dark)
    t = np.arange(VIEWS)[:, None] / (VIEWS - 1)
    hand = -np.log((counts[:, row].astype(float) - dark) / ((1 - t) * before + t * after))
    assert np.allclose(ends, hand, rtol=0, atol=1e-12)
    assert list(info["flat_positions"]) == [0, VIEWS - 1] and abs(info["flat_level_change"] - DRIFT) < 0.01
    # the mean flat leaves each view offset by the drift's distance from its midpoint; interpolated, noise alone
    band = {k: np.std((s - lines[:, row]).mean(axis=1)) for k, s in (("mean", mean), ("ends", ends))}
    assert band["mean"] > 0.015 > 0.005 > band["ends"], band
    # one position per file gives the same; flats all at one position are their mean
    counts_file, problem = cases["files_counts"]
    code, out, run = _run([f"problem.sinogram={counts_file}", *_typed(problem), f"problem.flat_positions=[0,{VIEWS - 1}]"],
                          tmp_path, monkeypatch, capsys, device)
    assert code == 0 and np.array_equal(_recorded(run)[0], ends), out
    code, out, run = _run(["problem.sinogram=scan.npz", "problem.flat_positions=[3,3,3,3,3,3,3,3,3,3]"], tmp_path,
                          monkeypatch, capsys, device)
    assert code == 0 and np.allclose(_recorded(run)[0], mean, rtol=0, atol=1e-12), out


@pytest.mark.parametrize("typed, said", [
    (["problem.flat=flat_cut.npy"], "problem.flat=flat_cut.npy: its flat field has shape (10, 5, 35), its "
                                    "projections (5, 36) each"),
    (["problem.flat=empty"], "problem.flat=empty is a folder without an image file"),
    (["problem.flat=scan_tiffs/darks", "problem.dark=scan_tiffs/flats_before.tif"],
     "its dark field reads above its flat field at 100% of the detector's pixels"),
    (["problem.flat_positions=ends", "problem.flat=flat_odd.npy"], "problem.flat_positions=ends splits the flats"),
    (["problem.flat_positions=[0,40]", "problem.flat=[scan_tiffs/flats_before.tif,scan_tiffs/flats_after.tif]"],
     "problem.flat_positions=[0, 40]: a position outside the scan's 16 projections"),
    (["problem.flat_positions=[0,1,2]"], "problem.flat_positions holds 3 position(s), the flat fields 10 frames"),
    (["problem.flat_positions=middle"], "problem.flat_positions=middle: give null (the mean of every flat), ends"),
])
def test_bad_flats_are_one_line_exit_2(scan, typed, said, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks = scan[:3]
    _beamline(tmp_path, scan)
    np.save(tmp_path / "flat_cut.npy", flats[:, :, :-1])
    np.save(tmp_path / "flat_odd.npy", flats[:9])
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no frames here")
    code, out, _ = _run(["problem.sinogram=scan.npz", *typed], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and said in out, out
    assert len(out.strip().splitlines()) == 1, out


def test_a_dark_without_flats_for_line_integrals_is_one_line(scan, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks = scan[:3]
    np.save(tmp_path / "line.npy", load_script("ct_counts_files").by_hand(counts, flats, darks, 2))
    np.save(tmp_path / "darks.npy", darks[:, 2])
    code, out, _ = _run(["problem.sinogram=line.npy", "problem.dark=darks.npy"], tmp_path, monkeypatch, capsys,
                        device)
    assert code == 2 and "problem.dark=darks.npy applies to counts, and line.npy holds no flat fields" in out, out


def test_a_typed_flat_replaces_a_data_exchange_files_own(scan, device, tmp_path, monkeypatch, capsys):
    counts, flats, darks, deg = scan[:4]
    _beamline(tmp_path, scan)
    with h5py.File(tmp_path / "scan.h5", "w") as f:
        f["exchange/data"], f["exchange/data_white"], f["exchange/data_dark"] = counts, flats, darks
        f["exchange/theta"] = deg
    code, out, run = _run(["problem.sinogram=scan.h5", "problem.flat=scan_tiffs/flats_before.tif"], tmp_path,
                          monkeypatch, capsys, device)
    assert code == 0 and "counts (Data Exchange) read as" in out and "(problem.flat: flats_before.tif: 5 pages)" in out
    sino, info = _recorded(run)
    assert np.allclose(sino, load_script("ct_counts_files").by_hand(counts, flats[:5], darks, ROWS // 2), rtol=0,
                       atol=1e-12)
    assert info["flats"] == 5 and info["darks"] == 10, out
