"""Peers' rows in regrun-report (regrun/peers.py): measured on the data stored in a run's results file with the
problems' metric functions, or a row saying why there are no numbers."""
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


def _ct_run(folder, n):
    """A disk phantom seen from 24 parallel views by regrun's projector, regrun's FBP as the run's result."""
    from regrun.tomography.fbp import fbp
    from regrun.tomography.geometry import covering_detector, parallel_beam, uniform_angles
    from regrun.tomography.xray import XRayTransform

    (n_det,), spacing = covering_detector((n, n), 1.0)
    geo = parallel_beam((n, n), uniform_angles(24, False), n_det, spacing, 1.0)
    c = (n - 1) / 2
    yy, xx = np.mgrid[:n, :n]
    truth = ((yy - c - 2) ** 2 + (xx - c + 3) ** 2 < (n / 4) ** 2).astype(float)
    sino = XRayTransform(geo, cache_mb=0).project(torch.tensor(truth))
    ours = fbp(geo, sino, "ramp").numpy()
    mask = (yy - c) ** 2 + (xx - c) ** 2 < (0.95 * n / 2) ** 2
    m = {"rel_error": 0.1, "psnr_fbp": psnr((ours * mask)[mask], truth[mask]), "ssim_fbp": 0.5, "rel_error_fbp": 0.3}
    return fake(folder, "ct_fewview", m, {"sinogram": sino.numpy(), "mask": mask, "truth": truth}, {"fbp": ours},
                {"geometry": "parallel", "angle_range": None, "voxel": 1.0, "detector_spacing": None})


@pytest.mark.parametrize("n", [33, 32])
def test_ct_fbp_from_the_run_and_sart_after_checking_the_conversion(tmp_path, n):
    pytest.importorskip("skimage")
    run = _ct_run(tmp_path / "ct", n)
    fbp_row, sart = peer_rows(run)
    assert fbp_row.method == "FBP (regrun)" and fbp_row.metrics == {"psnr": run.metrics["psnr_fbp"], "ssim": 0.5,
                                                                    "rel_error": 0.3}
    assert sart.method == "SART (scikit-image)"
    if sart.metrics:  # the check passed: SART on the same data, scored inside the mask
        assert "agrees with regrun's within" in sart.note and sart.metrics["psnr"] > 10
    else:             # it did not: no numbers, and the page says by how much the check failed
        assert sart.note.startswith("not shown: scikit-image's FBP of the handed-over sinogram differs")
    if n % 2:  # odd sizes: both programs put the rotation centre on the same pixel (scripts/bench_fbp_iradon.py)
        assert sart.metrics


def test_ct_sart_refuses_what_it_cannot_convert(tmp_path):
    run = _ct_run(tmp_path / "ct", 17)
    run.config["problem.geometry"] = "fan"
    assert "only 2-D parallel-beam" in peer_rows(run)[1].note


def test_page_shows_peer_rows_beside_regrun(tmp_path):
    runs = tmp_path / "rep" / "runs" / "superres_fig5"
    truth = np.add.outer(np.arange(8.0), np.arange(8.0))
    fake(runs / "a", "superres", {"rel_error": 0.02, "psnr": 30.0}, {"frames": truth[None, ::2, ::2],
                                                                     "reference": truth})
    fake(runs / "b", "multiscale_affine", {"disp_rmse": 0.01}, {})
    fake(runs / "c", "multiscale_affine", {"J": 1.0}, {})  # a timing study (ad_cost): nothing to compare
    preset = report.Preset("experiment", "superres_fig5")
    report.read_preset(preset, tmp_path / "rep")
    page = report.build_html([preset], "t")
    assert "<h4>Peers on the same data</h4>" in page and "<td>regrun (s)</td><td>0.02</td><td>30</td>" in page
    assert "<td>bicubic (SciPy)</td>" in page and page.count("scripts/bench_simpleitk.py") == 1
    bicubic = [r for rows in preset.peers.values() for r in rows if r.method.startswith("bicubic")][0]
    assert math.isfinite(bicubic.metrics["psnr"]) and f"<td>{bicubic.metrics['psnr']:.4g}</td>" in page
