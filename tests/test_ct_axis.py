"""problem.rotation_centre=auto: the rotation axis's detector offset estimated from a parallel-beam sinogram
(regrun.tomography.axis), the default for problem.data=file only."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.problems.ct_fewview import CTFewView
from regrun.tomography.axis import estimate_axis
from regrun.tomography.fbp import fbp
from regrun.tomography.geometry import parallel_beam
from regrun.tomography.phantoms import phantom_function, render
from regrun.tomography.xray import XRayTransform

N, VIEWS = 32, 40
N_DET = math.ceil(math.sqrt(2) * N) + 2
ANGLES = torch.arange(VIEWS, dtype=torch.float64) * (math.pi / VIEWS)


def _phantom():
    return render(phantom_function("shepp_logan", 0), (N, N), sub=2, device=torch.device("cpu"))


def _sinogram(axis_bins: float, noise: bool = False) -> torch.Tensor:
    """regrun's projector with the axis projecting `axis_bins` from the detector's centre."""
    geo = parallel_beam((N, N), ANGLES, N_DET, 1.0, 1.0, -axis_bins)
    sino = XRayTransform(geo, cache_mb=0).project(_phantom())
    if noise:  # Poisson, 1e4 photons, 5% through the thickest part (the problem's noise=poisson)
        kappa = -math.log(0.05) / float(sino.max())
        counts = torch.poisson(1e4 * torch.exp(-kappa * sino), generator=torch.Generator().manual_seed(0))
        sino = -torch.log(counts.clamp(min=1.0) / 1e4) / kappa
    return sino


@pytest.mark.parametrize("axis_bins", [0.0, 0.37, -1.8, 3.25])
@pytest.mark.parametrize("noise", [False, True])
def test_estimate_at_known_offsets(axis_bins, noise):
    est = estimate_axis(_sinogram(axis_bins, noise), ANGLES)
    assert abs(est.offset_bins - axis_bins) <= 0.05


@pytest.mark.parametrize("n, circle", [(32, True), (32, False), (33, False)])
def test_estimate_on_scikit_image_radon(n, circle):
    skimage = pytest.importorskip("skimage.transform")
    theta = np.arange(VIEWS) * 180.0 / VIEWS
    img = _phantom().numpy() if n == N else np.pad(_phantom().numpy(), ((0, 1), (0, 1)))
    sino = skimage.radon(img, theta=-theta, circle=circle).T  # its axis: bin n_u // 2
    n_u = sino.shape[1]
    est = estimate_axis(torch.tensor(sino), ANGLES)
    assert abs(est.offset_bins - (n_u // 2 - (n_u - 1) / 2)) <= 0.05


def test_unusable_sinograms():
    with pytest.raises(UserError, match="without positive attenuation"):
        estimate_axis(torch.zeros(VIEWS, N_DET, dtype=torch.float64), ANGLES)
    with pytest.raises(UserError, match="3 or more"):
        estimate_axis(_sinogram(0.0)[:2], ANGLES[:2])
    cut = _sinogram(0.0)[:, 12:-12]  # the detector sees only the middle of the object
    with pytest.raises(UserError, match="varies by"):
        estimate_axis(cut, ANGLES)


def test_default_by_data():
    assert compose(["problem=ct_fewview"]).problem.rotation_centre == "geometric"
    assert compose(["problem=ct_fewview", "problem.data=file"]).problem.rotation_centre == "auto"


def _problem(tmp_path, sino, **kw):
    path = tmp_path / "sino.npy"
    np.save(path, sino.numpy())
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=N, views=None,
                         truth="none", rotation_centre="auto", **kw)
    return CTFewView(cfg, ctx)


def test_problem_auto_applies_and_records_the_estimate(tmp_path):
    p = _problem(tmp_path, _sinogram(1.3))
    axis = p.inputs()["rotation_axis"]
    assert axis["convention"] == "estimated" and abs(axis["offset_bins"] - 1.3) <= 0.05
    exact = fbp(parallel_beam((N, N), ANGLES, N_DET, 1.0, 1.0, -1.3), p.sinogram, "ramp")
    plain = fbp(parallel_beam((N, N), ANGLES, N_DET, 1.0, 1.0), p.sinogram, "ramp")
    err, off = (float((p.fbp() - exact).norm() / exact.norm()), float((plain - exact).norm() / exact.norm()))
    assert err < 0.1 * off  # the estimate's FBP is the true axis's, not the detector centre's
    # an estimate next to a convention is that convention, exactly
    q = _problem(tmp_path, _sinogram(0.0))
    assert q.inputs()["rotation_axis"]["convention"] == "geometric"
    assert q.geometry.vectors == parallel_beam((N, N), ANGLES, N_DET, 1.0, 1.0).vectors
    assert q.warnings({}) == []


def test_problem_auto_errors_and_fallback(tmp_path):
    # an all-zero file is named as such before the axis is tried (newuser20: "no view without positive attenuation"
    # proposed rotation_centre=geometric, which ran on nothing); one view of zeros is the axis's to name
    with pytest.raises(UserError, match="every value is 0: no object was scanned"):
        _problem(tmp_path, torch.zeros(VIEWS, N_DET, dtype=torch.float64))
    dead = torch.sin(math.pi * (torch.arange(N_DET, dtype=torch.float64) + 0.5) / N_DET).repeat(VIEWS, 1)
    dead[3] = 0.0
    with pytest.raises(UserError, match="view 3 .*without positive attenuation"):
        _problem(tmp_path, dead)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    with pytest.raises(UserError, match="problem.data=file"):
        CTFewView(config_section("problem", "ct_fewview", size=16, views=8, rotation_centre="auto"), ctx)
    # a fan beam is not estimated: geometric, recorded in the results (said in a plain line, tests/test_newuser9.py)
    bump = torch.sin(math.pi * (torch.arange(80, dtype=torch.float64) + 0.5) / 80).expand(VIEWS, 80)
    fan = _problem(tmp_path, bump.clone(), geometry="fan")
    assert fan.inputs()["rotation_axis"] == {"method": "none", "convention": "geometric"}


def test_problem_auto_on_scikit_image_radon_equals_iradon(tmp_path):
    """An even grid with an odd detector: its centre is both conventions' axis; the ceil(sqrt(2) n) bins
    scikit-image's radon writes put the grid's axis at pixel n // 2 (index), so auto's FBP is iradon's."""
    skimage = pytest.importorskip("skimage.transform")
    n = 34
    theta = np.arange(VIEWS) * 180.0 / VIEWS
    img = np.pad(_phantom().numpy(), 1)
    sino = skimage.radon(img.T, theta=-theta, circle=False).T
    assert sino.shape[1] == math.ceil(math.sqrt(2) * n) and sino.shape[1] % 2 == 1
    path = tmp_path / "sk.npy"
    np.save(path, sino)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=n, views=None,
                                 truth="none", rotation_centre="auto"), ctx)
    assert p.inputs()["rotation_axis"]["convention"] == "index"
    peer = skimage.iradon(np.ascontiguousarray(sino.T), theta=-theta, filter_name="ramp", circle=False,
                          output_size=n).T
    yy, xx = np.mgrid[:n, :n] - n // 2
    disk = yy**2 + xx**2 <= (n // 2) ** 2  # the grid's corners reach the detector's last bin: interpolated apart
    assert np.abs(p.fbp().numpy() - peer)[disk].max() < 1e-12 * np.abs(peer).max()
    # regrun's own covering detector (ceil(sqrt(2) n) + 2 bins) on the same grid stays geometric
    geo = parallel_beam((n, n), ANGLES, sino.shape[1] + 2, 1.0, 1.0)
    np.save(path, XRayTransform(geo, cache_mb=0).project(torch.tensor(img)).numpy())
    q = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(path), size=n, views=None,
                                 truth="none", rotation_centre="auto"), ctx)
    assert q.inputs()["rotation_axis"]["convention"] == "geometric" and q.geometry.vectors == geo.vectors


def test_uncertain_axis_takes_geometric_and_says_so(tmp_path):
    """A limited angular range at few counts (ctuser: a 120-degree scan, 1e2 photons here, 1e3 at 128^2) leaves
    the axis's estimate uncertain by more than the 0.5 bins between the conventions: the estimate's standard
    error covers its error, the problem keeps geometric (regrun's) instead of a noisy offset, and says why."""
    angles = torch.arange(30, dtype=torch.float64) * (math.radians(120) / 30)
    clean = XRayTransform(parallel_beam((N, N), angles, N_DET, 1.0, 1.0), cache_mb=0).project(_phantom())
    kappa = -math.log(0.05) / float(clean.max())
    counts = torch.poisson(1e2 * torch.exp(-kappa * clean), generator=torch.Generator().manual_seed(11))
    sino = -torch.log(counts.clamp(min=1.0) / 1e2) / kappa
    est = estimate_axis(sino, angles)
    assert 0.2 < abs(est.offset_bins) < 3 * est.standard_error  # off by a third of a bin, within its error
    assert estimate_axis(_sinogram(0.0, True), ANGLES).standard_error < 0.02  # 180 degrees, 1e4: certain
    p = _problem(tmp_path, sino, angle_range=120.0)
    assert p.inputs()["rotation_axis"]["convention"] == "geometric"
    own = torch.tensor(p.geometry.angles, dtype=torch.float64)  # the problem's 120 degrees, to the last bit
    assert p.geometry.vectors == parallel_beam((N, N), own, N_DET, 1.0, 1.0).vectors
    assert "cannot tell" in p.warnings({})[0] and "problem.rotation_centre=index" in p.warnings({})[0]
