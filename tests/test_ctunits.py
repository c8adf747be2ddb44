"""solver.lam_range_units=auto (opt-in; docs/ct.md, "(ctunits)"): `auto`'s weights searched in the image's units, so a scan given in
other units (line integrals per mm, a few) is searched at the same relative weights as in pixel units."""
import json
from pathlib import Path

import numpy as np
import pytest

from cli_in_process import regrun_in_process

SEED = 8033


def _scan(views: int = 16, bins: int = 30) -> np.ndarray:
    """A parallel scan (views, bins) over 180 degrees of two off-centre ellipses (values 1 and 0.5), with 0.5% noise."""
    u = np.arange(bins) - (bins - 1) / 2
    theta = np.deg2rad(np.arange(views) * 180.0 / views)[:, None]
    sino = np.zeros((views, bins))
    for value, a, b, cx, cy in ((1.0, 9, 6, 1.5, -1.0), (0.5, 3, 2, -4.0, 3.0)):
        shift = cx * np.cos(theta) + cy * np.sin(theta)
        width = np.sqrt((a * np.cos(theta)) ** 2 + (b * np.sin(theta)) ** 2)
        sino += value * 2 * a * b / width ** 2 * np.sqrt(np.clip(width ** 2 - (u - shift) ** 2, 0, None))
    return sino + 0.005 * sino.max() * np.random.default_rng(SEED).standard_normal(sino.shape)


AUTO = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fista_tv",
        "solver.iters=40", "solver.lam_solves=5", "solver.tv_grid=1", "figures=false",
        "solver.lam_range_units=auto"]


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, f"device={device.type}"], tmp_path, monkeypatch, capsys)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    folder = Path(out.split(" -> ")[-1].split()[0])
    return json.loads((folder / "metrics.json").read_text())["metrics"], np.load(folder / "reconstruction.npy"), out


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_a_scan_in_other_units_is_searched_at_the_same_relative_weights(scale, device, tmp_path, monkeypatch, capsys):
    sino = _scan()
    np.save(tmp_path / "s.npy", sino)
    pixel, x_pixel, out = _run(AUTO, tmp_path, monkeypatch, capsys, device)
    assert pixel["lam_range_scale"] == 1.0 and "searched as" not in out, out
    np.save(tmp_path / "s.npy", sino * scale)
    scaled, x_scaled, out = _run(AUTO, tmp_path, monkeypatch, capsys, device)
    assert f"searched as [{0.01 * scale:g}, {100 * scale:g}]" in out, out
    # FISTA-TV is equivariant (data c b, weight c lam: answer c x): the same relative weight, the same image
    assert scaled["lam_chosen"] == pytest.approx(scale * pixel["lam_chosen"], rel=1e-6)
    np.testing.assert_allclose(x_scaled, scale * x_pixel, rtol=1e-5, atol=1e-8 * scale)
    # the range as typed (main's search): at 0.01 the weights it may try start 100x above the pixel-unit pick's
    fixed, _, _ = _run([*AUTO, "solver.lam_range_units=fixed"], tmp_path, monkeypatch, capsys, device)
    assert "lam_range_scale" not in fixed
    if scale < 1:  # main's search stopped at the range's bottom, 0.01, above the relative weight the data ask for
        assert fixed["lam_at_range_edge"] == 1 and scaled["lam_at_range_edge"] == 0, (fixed, scaled)
        assert scaled["lam_chosen"] < 0.8 * fixed["lam_chosen"], (fixed["lam_chosen"], scaled["lam_chosen"])


def test_lam_range_units_is_checked(device, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "s.npy", _scan())
    done = regrun_in_process([*AUTO, "solver.lam_range_units=relative", f"device={device.type}"], tmp_path,
                             monkeypatch, capsys)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "solver.lam_range_units" in out and "relative" in out, out
