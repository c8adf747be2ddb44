"""newuser27's pass on scans from ASTRA, TomoPy and scikit-image at real sizes (session 39): each case failed on
main (docs/ct.md, "Scans from ASTRA, TomoPy and scikit-image at real sizes (newuser27)")."""
from pathlib import Path

import numpy as np

from cli_in_process import regrun_in_process

SEED = 8025


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def _out(console: str) -> Path:
    return Path(console.split(" -> ")[-1].split()[0])


def _ellipse_scan(axis_bin: float, views: int = 24, bins: int = 36) -> np.ndarray:
    """A parallel scan (views, bins) over 180 degrees of an off-centre ellipse (semi-axes 7 and 4, centre 2 from the
    axis), the rotation axis at detector bin `axis_bin` counted from 0 (TomoPy's center)."""
    u = np.arange(bins) - axis_bin
    theta = np.deg2rad(np.arange(views) * 180.0 / views)[:, None]
    shift = 2 * np.cos(theta)
    width = np.sqrt((7 * np.cos(theta)) ** 2 + (4 * np.sin(theta)) ** 2)
    return 2 * 7 * 4 / width ** 2 * np.sqrt(np.clip(width ** 2 - (u - shift) ** 2, 0, None))


FBP = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=24", "solver=fbp"]


def test_a_rotation_centre_typed_as_a_detector_bin_is_the_axis_there(device, tmp_path, monkeypatch, capsys):
    # a TomoPy user knows the scan's axis as a number (`center`, a detector bin): main refused it ("not valid;
    # allowed: geometric, index, matlab, auto"); typed, the off-centre scan reconstructs as the centred one does
    np.save(tmp_path / "s.npy", _ellipse_scan(14.5))
    code, out = _run([*FBP, "problem.rotation_centre=14.5"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert "the rotation axis at detector bin 14.5 counted from 0 (TomoPy's center), -3 bins from the " \
           "detector's centre (17.5)" in out, out
    typed = np.load(_out(out) / "reconstruction.npy")
    np.save(tmp_path / "s.npy", _ellipse_scan(17.5))  # the same object, the axis at the detector's centre
    code, out = _run([*FBP, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    centred = np.load(_out(out) / "reconstruction.npy")
    np.save(tmp_path / "s.npy", _ellipse_scan(14.5))
    code, out = _run([*FBP, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    misplaced = np.load(_out(out) / "reconstruction.npy")
    t = np.arange(24) - 11.5
    disk = np.hypot(*np.meshgrid(t, t)) < 11  # the grid's corners see past the shifted detector's end

    def error(x):
        return np.linalg.norm((x - centred)[disk]) / np.linalg.norm(centred[disk])
    assert error(typed) < 0.01 and error(misplaced) > 0.3, (error(typed), error(misplaced))
    # off the detector: one line naming the bins allowed
    code, out = _run([*FBP, "problem.rotation_centre=36"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "problem.rotation_centre=36 is off the detector: a number is the rotation axis's detector " \
                         "bin counted from 0, so 0 to 35 for 36 bins" in out, out


def test_dead_detector_bins_are_filled_from_their_neighbours(device, tmp_path, monkeypatch, capsys):
    # a bin at 0 and a bin NaN in every view: main warned of the first (FBP drew rings: a 257-bin radon scan 28.41
    # -> 7.09 dB) and refused the second; filled along the detector, the answer is the clean scan's
    rng = np.random.default_rng(SEED)
    clean = _ellipse_scan(17.5) + rng.normal(0, 0.01, (24, 36))
    np.save(tmp_path / "s.npy", clean)
    code, out = _run([*FBP, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    reference = np.load(_out(out) / "reconstruction.npy")
    dead = clean.copy()
    dead[:, 15] = 0.0
    dead[:, 20] = np.nan
    np.save(tmp_path / "s.npy", dead)
    code, out = _run([*FBP, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert "s.npy: detector bins 15, 20 (of 36) read 0, NaN in every view while bins on both sides vary (dead or " \
           "stuck detector pixels, which draw rings): each view's value there interpolated from the nearest live " \
           "bins along the detector (problem.dead_bins=fill" in out, out
    filled = np.load(_out(out) / "reconstruction.npy")
    assert np.linalg.norm(filled - reference) < 0.1 * np.linalg.norm(reference)
    # keep: read as they are, as main did: the NaN bin refused, the bin at 0 warned with the setting that fills it
    code, out = _run([*FBP, "problem.rotation_centre=geometric", "problem.dead_bins=keep"], tmp_path, monkeypatch,
                     capsys, device)
    assert code == 2 and "detector bin 20 in every view: dead detector pixels?" in out, out
    dead[:, 20] = clean[:, 20]
    np.save(tmp_path / "s.npy", dead)
    code, out = _run([*FBP, "problem.rotation_centre=geometric", "problem.dead_bins=keep"], tmp_path, monkeypatch,
                     capsys, device)
    assert code == 0 and "problem.dead_bins=fill interpolates them from their neighbours" in out, out
    kept = np.load(_out(out) / "reconstruction.npy")
    assert np.linalg.norm(kept - reference) > 0.3 * np.linalg.norm(reference)


def test_a_truncated_scan_is_named(device, tmp_path, monkeypatch, capsys):
    # an object wider than the detector's field (an interior scan): the axis estimate refused it and sent the user
    # to a typed centre, which ran to FBP 1.83 dB (a 256^2 scan) without a word
    np.save(tmp_path / "s.npy", _ellipse_scan(4.5, bins=10))
    small = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=7", "solver=fbp"]
    code, out = _run([*small, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    said = "s.npy: both ends of the detector read the object in 24 of 24 views"
    assert code == 0 and f"WARNING: problem.sinogram={said}" in out and "a truncated (interior) scan" in out, out
    code, out = _run(small, tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "the object is cut off by the detector" in out and said in out, out
    np.save(tmp_path / "s.npy", _ellipse_scan(17.5))  # the whole object in the field: not named
    code, out = _run([*FBP, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "both ends of the detector" not in out, out


def test_auto_at_the_ranges_bottom_on_an_answer_in_small_units_is_warned(device):
    # an ASTRA scan in mm (attenuation 0.02 per mm): auto's cv stopped at lam_range's bottom, 0.01, without a word
    # (33.43 dB); the range 100x lower gave 0.026 (34.78): the weight scales with the image's units
    from types import SimpleNamespace

    import torch

    from regrun.solve_result import SolveResult
    from regrun.solvers.fista_tv import bottom_in_small_units

    mask = torch.ones(4, 4, dtype=torch.bool, device=device)
    problem = SimpleNamespace(mask=mask)

    def result(lam, top):
        return SolveResult(solution={"x": torch.full((4, 4), top, dtype=torch.float64, device=device)},
                           status="max_iter", metrics={"lam_chosen": lam})
    said = bottom_in_small_units(result(0.01, 0.05), problem, 0.01, 100.0)
    assert "lam=auto chose 0.01, solver.lam_range's bottom end ([0.01, 100]), on an answer whose values reach only " \
           "0.05" in said and "solver.lam_range=[0.0001,100]" in said, said
    assert bottom_in_small_units(result(0.02, 0.05), problem, 0.01, 100.0) == ""  # inside the range
    assert bottom_in_small_units(result(0.01, 1.5), problem, 0.01, 100.0) == ""  # an image of values about 1


def test_a_detector_spacing_in_mm_with_the_voxel_left_at_1_names_problem_voxel(device, tmp_path, monkeypatch,
                                                                                capsys):
    # ASTRA's det_width (0.4 mm) typed alone was told "problem.size=80 reconstructs on the grid this detector
    # covers" for a 256-voxel scan of 0.25 mm voxels: the spacing counts in problem.voxel's unit
    np.save(tmp_path / "s.npy", _ellipse_scan(17.5))
    code, out = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=24",
                      "problem.detector_spacing=0.4", "solver=fbp"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "if problem.detector_spacing=0.4 is in a physical unit (ASTRA's det_width in its volume " \
                         "geometry's unit, e.g. mm), give the voxel's edge in that unit too, problem.voxel=" in out, out
    code, out = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=24",
                      "problem.detector_spacing=0.4", "problem.voxel=0.4", "solver=fbp"], tmp_path, monkeypatch,
                     capsys, device)
    assert code == 0, out
