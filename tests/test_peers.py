"""Peers' rows in regrun-report (regrun/peers.py): measured on the data stored in a run's results file with the
problems' metric functions, or a row saying why there are no numbers."""
import importlib.util
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from regrun import report
from regrun.collect import read_run
from regrun.metrics import psnr, rel_error, ssim
from regrun.peers import peer_rows
from regrun.record import ResultsFile


def fake(folder, problem, metrics, data, result=None, problem_cfg=None):
    config = {"problem": {"name": problem, **(problem_cfg or {})}, "solver": {"name": "s"}}
    res = ResultsFile(folder)
    res.begin({"problem": problem, "solver": "s", "device": "cpu", "run_id": folder.name * 8},
              OmegaConf.to_yaml(OmegaConf.create(config)), [])
    res.write("data", data)
    res.write("result", result or {})
    res.write("metrics", metrics)
    res.finish("completed", wall_time=1.0)
    return read_run(folder / "results.h5", with_history=False)


def test_superres_bicubic_is_frame_0_interpolated_and_scored_like_the_problem(tmp_path):
    from scipy.ndimage import zoom

    y, x = np.mgrid[:32, :32] / 32
    truth = np.sin(6 * x) * np.cos(4 * y) + 2
    frames = np.stack([truth.reshape(16, 2, 16, 2).mean((1, 3)), np.zeros((16, 16))])
    run = fake(tmp_path / "sr", "superres", {"rel_error": 0.01}, {"frames": frames, "reference": truth})
    (row,) = peer_rows(run)
    est = zoom(frames[0], 2, order=3, grid_mode=True, mode="grid-mirror")
    assert row.method == "bicubic (SciPy)" and row.metrics == {"rel_error": rel_error(est, truth),
                                                                "psnr": psnr(est, truth), "ssim": ssim(est, truth)}
    assert 0 < row.metrics["rel_error"] < 0.05  # a smooth image: bicubic is close, and frame 1 (zeros) unused
    no_truth = fake(tmp_path / "sr2", "superres", {}, {"frames": frames})
    assert peer_rows(no_truth)[0].metrics == {} and "no ground truth" in peer_rows(no_truth)[0].note


def _ct_run(folder, n, centre="geometric", axis=None):
    """A disk phantom seen from 24 parallel views by regrun's projector, regrun's FBP as the run's result."""
    from regrun.tomography.fbp import fbp
    from regrun.tomography.geometry import covering_detector, parallel_beam, rotation_centre, uniform_angles
    from regrun.tomography.xray import XRayTransform

    (n_det,), spacing = covering_detector((n, n), 1.0)
    geo = parallel_beam((n, n), uniform_angles(24, False), n_det, spacing, 1.0,
                        -rotation_centre((n_det,), 1.0, centre)[0], rotation_centre((n, n), 1.0, centre))
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    truth = ((yy - c - 2) ** 2 + (xx - c + 3) ** 2 < (n / 4) ** 2).astype(float)
    sino = XRayTransform(geo, cache_mb=0).project(torch.tensor(truth))
    ours = fbp(geo, sino, "ramp").numpy()
    mask = (yy - c) ** 2 + (xx - c) ** 2 < (0.95 * n / 2) ** 2
    m = {"rel_error": 0.1, "psnr_fbp": psnr((ours * mask)[mask], truth[mask]), "ssim_fbp": 0.5, "rel_error_fbp": 0.3}
    data = {"sinogram": sino.numpy(), "mask": mask, "truth": truth}
    if axis is not None:  # problem.rotation_centre=auto on a file: what the problem records (/data/rotation_axis)
        data["rotation_axis"] = axis
    return fake(folder, "ct_fewview", m, data, {"fbp": ours},
                {"geometry": "parallel", "angle_range": None, "voxel": 1.0, "detector_spacing": None,
                 "rotation_centre": centre if axis is None else "auto"})


@pytest.mark.parametrize("n, centre", [(33, "geometric"), (32, "geometric"), (32, "index")])
def test_ct_fbp_from_the_run_and_sart_at_every_size(tmp_path, n, centre):
    pytest.importorskip("skimage")
    run = _ct_run(tmp_path / "ct", n, centre)
    fbp_row, sart = peer_rows(run)
    assert fbp_row.method == "FBP (regrun)" and fbp_row.metrics == {"psnr": run.metrics["psnr_fbp"], "ssim": 0.5,
                                                                    "rel_error": 0.3}
    # the conversion check passed (even sizes too: the half pixel is placed exactly); SART's numbers are its own
    assert sart.method == "SART (scikit-image)" and "agrees with regrun's within" in sart.note, sart.note
    assert sart.metrics["psnr"] > 15


def test_ct_sart_on_an_auto_centred_run(tmp_path):
    pytest.importorskip("skimage")
    axis = {"method": "centre_of_mass_sinusoid", "offset_bins": 0.5, "convention": "index"}
    sart = peer_rows(_ct_run(tmp_path / "ct", 32, "index", axis))[1]
    assert "agrees with regrun's within" in sart.note and sart.metrics["psnr"] > 15, sart.note
    off = {"method": "centre_of_mass_sinusoid", "offset_bins": 0.3, "convention": "estimated"}
    assert "estimated off both conventions" in peer_rows(_ct_run(tmp_path / "ct2", 32, "geometric", off))[1].note


@pytest.mark.parametrize("n, n_det", [(16, 25), (24, 36), (64, 93)])
def test_ct_conversion_check_refuses_a_quarter_pixel(n, n_det):
    pytest.importorskip("skimage")
    from regrun.peers import DETUNE, SHARPNESS, SkimageFrame

    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    truth = ((yy - c - 2) ** 2 + (xx - c + 3) ** 2 < (n / 4) ** 2).astype(float)
    frame = SkimageFrame(n, n_det, 12, "geometric")

    def passes():
        worse = min(frame.forward_agreement(truth, 1.0, d) for d in (-DETUNE, DETUNE))
        return frame.forward_agreement(truth, 1.0) <= SHARPNESS * worse

    assert passes()
    right, theta = frame.shifts.copy(), np.radians(frame.theta)
    # the detector a quarter or half a bin off; the image half a pixel off (a view-dependent shift); signs swapped
    for wrong in (right + 0.25, right - 0.5, right + 0.5 * (np.sin(theta) - np.cos(theta)), -right):
        frame.shifts = wrong
        assert not passes()
    # scikit-image's own convention (rotation_centre=index) needs no shifts: the frames coincide
    assert not SkimageFrame(24, 36, 12, "index").shifts.any() and not SkimageFrame(24, 35, 12, "index").shifts.any()


def test_ct_sart_refuses_what_it_cannot_convert(tmp_path):
    run = _ct_run(tmp_path / "ct", 17)
    run.config["problem.geometry"] = "fan"
    assert "only 2-D parallel-beam" in peer_rows(run)[1].note
    if importlib.util.find_spec("skimage") is not None:  # a detector narrower than the grid: said, not a crash
        cfg = {"geometry": "parallel", "angle_range": None, "voxel": 1.0, "detector_spacing": None,
               "rotation_centre": "geometric"}
        narrow = fake(tmp_path / "narrow", "ct_fewview", {}, {"sinogram": np.ones((4, 10)), "truth": np.ones((17, 17)),
                                                               "mask": np.ones((17, 17))}, {}, cfg)
        assert peer_rows(narrow)[0].note.startswith("the detector (10 bins) is narrower than the grid (17 voxels)")


def test_page_shows_peer_rows_beside_regrun(tmp_path):
    runs = tmp_path / "rep" / "runs" / "superres_fig5"
    truth = np.add.outer(np.arange(8.0), np.arange(8.0))
    fake(runs / "a", "superres", {"rel_error": 0.02, "psnr": 30.0}, {"frames": truth[None, ::2, ::2],
                                                                     "reference": truth})
    fake(runs / "b", "multiscale_affine", {"disp_rmse": 0.01, "fit_quality": 1.0}, {})  # no images stored: said so
    fake(runs / "c", "multiscale_affine", {"J": 1.0}, {})  # no truth: nothing to compare
    preset = report.Preset("experiment", "superres_fig5")
    report.read_preset(preset, tmp_path / "rep")
    page = report.build_html([preset], "t")
    assert "<h4>Peers on the same data</h4>" in page and "<td>regrun (s)</td><td>0.02</td><td>30</td>" in page
    assert "<td>bicubic (SciPy)</td>" in page
    if importlib.util.find_spec("SimpleITK") is None:
        assert "SimpleITK is not installed" in page
    else:
        assert "the run stored no template/reference pair" in page
    assert page.count("<td>SimpleITK (affine)</td>") == 1  # run b's row; none for c
    # a timing study (ad_cost) has a disp_rmse (of the identity) but no fit verdict: nothing to compare either
    timing = fake(tmp_path / "ad", "multiscale_affine", {"disp_rmse": 1.65}, {"template": np.eye(8),
                                                                              "reference": np.eye(8)})
    assert peer_rows(timing) == []
    bicubic = [r for rows in preset.peers.values() for r in rows if r.method.startswith("bicubic")][0]
    assert math.isfinite(bicubic.metrics["psnr"]) and f"<td>{bicubic.metrics['psnr']:.4g}</td>" in page


def _registration_run(tmp_path, *extra):
    from regrun.config import compose
    from regrun.run import run

    cfg = compose(["+ci=multiscale_affine__single_scale", "figures=false", *extra])
    outcome = run(cfg, tmp_path / "reg", [])
    assert outcome.status == "completed", outcome.error
    return read_run(outcome.results_path, with_history=False)


def test_registration_simpleitk_on_the_stored_pair_scored_by_the_problem(tmp_path):
    pytest.importorskip("SimpleITK")
    from regrun.config import compose
    from regrun.context import RunContext
    from regrun.registration.sitk_peer import register_pair
    from regrun.registry import PROBLEMS

    run = _registration_run(tmp_path)
    (row,) = peer_rows(run)
    assert row.method == "SimpleITK (affine)" and set(row.metrics) == {"disp_rmse", "tre", "J_theta0"}
    # the same numbers by hand: SimpleITK (one thread: deterministic) on the stored pair, the problem's functions
    cfg = compose(["+ci=multiscale_affine__single_scale"])
    problem = PROBLEMS.get("multiscale_affine")(cfg.problem, RunContext(torch.device("cpu"), torch.float64, 0, "."))
    w_affine, *_ = register_pair(problem.template.numpy(), problem.reference.numpy(), problem.grid)
    w = problem.from_affine(torch.tensor(w_affine))
    assert row.metrics["disp_rmse"] == pytest.approx(problem.displacement_rmse(w), rel=1e-9)
    assert row.metrics["tre"] == pytest.approx(problem.tre(w), rel=1e-9)
    assert row.metrics["J_theta0"] == pytest.approx(float(problem.at_scale(0.0).objective(w)), rel=1e-9)
    assert row.metrics["disp_rmse"] < 0.5 * run.metrics["disp_rmse_initial"]  # it registered the synthetic pair
    assert row.cpu_seconds > 0 and row.wall_seconds > 0
    # a stored pair that the configuration does not rebuild: no numbers, and how far apart they are
    import h5py

    with h5py.File(run.path / "results.h5", "r+") as f:
        f["data/template"][0, 0] += 1.0
    (row,) = peer_rows(run)
    assert row.metrics == {} and row.note.startswith("not run: the rebuilt problem's images differ")


def test_registration_row_says_not_installed(tmp_path, monkeypatch):
    run = _registration_run(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "SimpleITK" else real(name, *a))
    (row,) = peer_rows(run)
    assert row.metrics == {} and row.note == "SimpleITK is not installed (pip install -e '.[bench]')"


def test_registration_simpleitk_on_a_float32_run(tmp_path):
    pytest.importorskip("SimpleITK")
    run = _registration_run(tmp_path, "dtype=float32")
    (row,) = peer_rows(run)  # the problem rebuilt in the run's dtype holds exactly its stored float32 images
    assert set(row.metrics) == {"disp_rmse", "tre", "J_theta0"} and row.metrics["disp_rmse"] < 0.5
