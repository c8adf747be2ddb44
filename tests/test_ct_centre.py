"""problem.rotation_centre / geometry `centre`: the rotation axis at the grid's geometric centre (default, as
ASTRA) or at pixel n // 2 and bin n_u // 2 (scikit-image's convention), so a sinogram made by scikit-image's
radon is reconstructed in its own convention on even grids too."""
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.dottest import dot_test
from regrun.problems.ct_fewview import CTFewView
from regrun.tomography.fbp import fbp
from regrun.tomography.geometry import fan_beam, parallel_beam, rotation_centre
from regrun.tomography.xray import XRayTransform


def test_rotation_centre_values():
    assert rotation_centre((16, 15), 1.0, "geometric") == (0.0, 0.0)
    assert rotation_centre((16, 15), 2.0, "index") == (1.0, 0.0)  # half a voxel up along the even axis
    with pytest.raises(UserError, match="allowed: geometric, index"):
        rotation_centre((16, 16), 1.0, "middle")


@pytest.mark.parametrize("n, n_det", [(16, 25), (16, 24), (15, 24)])
def test_index_centre_fbp_equals_iradon(n, n_det):
    skimage = pytest.importorskip("skimage.transform")
    views = 12
    theta = np.arange(views) * 180.0 / views
    angles = torch.tensor(np.radians(theta), dtype=torch.float64)
    sino = torch.rand(views, n_det, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    peer = skimage.iradon(np.ascontiguousarray(sino.numpy().T), theta=-theta, filter_name="ramp", circle=False,
                          output_size=n).T
    offset = -rotation_centre((n_det,), 1.0, "index")[0]
    geo = parallel_beam((n, n), angles, n_det, 1.0, 1.0, offset, rotation_centre((n, n), 1.0, "index"))
    ours = fbp(geo, sino, "ramp").numpy()
    assert np.abs(ours - peer).max() < 1e-12 * np.abs(peer).max()
    if n % 2 == 0:  # the default (geometric) centre is half a pixel away on even grids
        plain = fbp(parallel_beam((n, n), angles, n_det, 1.0, 1.0), sino, "ramp").numpy()
        assert np.abs(plain - peer).max() > 0.1 * np.abs(peer).max()


def test_moved_centre_keeps_the_exact_adjoint():
    angles = torch.linspace(0, 3, 7, dtype=torch.float64)
    for geo in (parallel_beam((10, 10), angles, 15, 1.0, 1.0, 0.0, (0.5, 0.5)),
                fan_beam((10, 10), angles, 19, 1.5, 20.0, 10.0, 1.0, 0.0, (0.5, 0.5))):
        assert dot_test(XRayTransform(geo, cache_mb=0).operator(torch.float64, torch.device("cpu"))) < 1e-12


def test_problem_option(tmp_path):
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    base = dict(size=16, views=8, noise="none")
    p = CTFewView(config_section("problem", "ct_fewview", rotation_centre="index", **base), ctx)
    assert p.geometry.vectors[0][2:4] == pytest.approx((0.5, 0.5))  # parallel: the detector centre moved
    q = CTFewView(config_section("problem", "ct_fewview", **base), ctx)
    assert q.geometry.vectors[0][2:4] == pytest.approx((0.0, 0.0))
    with pytest.raises(UserError, match="problem.rotation_centre"):
        CTFewView(config_section("problem", "ct_fewview", rotation_centre="middle", **base), ctx)
    with pytest.raises(UserError, match="2-D scans"):
        CTFewView(config_section("problem", "ct_fewview", geometry="cone", rotation_centre="index", size=8,
                                 views=4, noise="none"), ctx)
