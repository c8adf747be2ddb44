"""The optional ASTRA backend (skipped without astra-toolbox): same sinogram as ours for parallel beams, an
adjoint exact to float32 round-off, and a clear error for cone beams (ASTRA's 3-D code needs CUDA)."""
from __future__ import annotations

import pytest
import torch

from regrun.errors import UserError
from regrun.tomography.phantoms import render, shepp_logan
from regrun.tomography.xray import XRayTransform
from regrun.tomography.geometry import cone_beam, fan_beam, parallel_beam, uniform_angles

pytest.importorskip("astra")
from regrun.tomography.astra import AstraTransform  # noqa: E402

GEOMETRIES = {
    "parallel": lambda: parallel_beam((40, 46), uniform_angles(15, False) + 0.1, 70, 0.9, voxel=1.0,
                                      det_offset=0.7),
    "fan": lambda: fan_beam((40, 46), uniform_angles(15, True) + 0.1, 90, 1.3, 120.0, 50.0),
}


@pytest.mark.parametrize("kind", sorted(GEOMETRIES))
def test_astra_matches_ours_and_is_adjoint(kind, device):
    geo = GEOMETRIES[kind]()
    astra_op, ours = AstraTransform(geo), XRayTransform(geo)
    x = render(shepp_logan, geo.volume.shape, device=device)
    diff = float((astra_op.project(x) - ours.project(x)).norm() / ours.project(x).norm())
    # parallel: the same Joseph model; fan: ASTRA's CPU line model, a different discretisation
    assert diff <= (1e-4 if kind == "parallel" else 0.05)
    gen = torch.Generator().manual_seed(0)
    xr = torch.randn(geo.volume.shape, generator=gen, dtype=torch.float64).to(device)
    y = torch.randn(geo.sinogram_shape, generator=gen, dtype=torch.float64).to(device)
    ax, aty = astra_op.project(xr), astra_op.backproject(y)
    assert float(((ax * y).sum() - (xr * aty).sum()).abs() / (ax.norm() * y.norm())) <= 1e-5
    xg = xr.clone().requires_grad_(True)
    (g,) = torch.autograd.grad((astra_op(xg) * y).sum(), xg)
    torch.testing.assert_close(g, aty)


def test_astra_refuses_cone_beams():
    geo = cone_beam((8, 8, 8), uniform_angles(4, True), (12, 12), 1.5, 30.0, 15.0)
    with pytest.raises(UserError, match="2-D scans only"):
        AstraTransform(geo)


def test_problem_with_the_astra_projector(device):
    from pathlib import Path

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    cfg = config_section("problem", "ct_fewview", size=32, views=16, projector="astra")
    p = CTFewView(cfg, RunContext(device, torch.float64, 0, Path(".")))
    assert isinstance(p.A, AstraTransform)
    r = p.A.project(p.truth) - p.sinogram
    assert float(r.norm() / p.sinogram.norm()) < 0.1
