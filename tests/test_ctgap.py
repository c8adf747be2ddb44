"""ctgap: a view missing from a parallel scan saved without angles is named (docs/ct.md, "A view missing from a
scan without angles (ctgap)"). On main the 59 views left of 60 were spread evenly over 180 degrees without a word."""

import numpy as np

from cli_in_process import regrun_in_process
from regrun.tomography.gaps import find_gap

SEED = 8031


def _scan(views: int, centre: tuple[float, float], noise: float, rng, bins: int = 48) -> np.ndarray:
    """A parallel scan (views, bins) over 180 degrees of an ellipse (semi-axes 9 and 5) centred at `centre` (bins
    from the axis, which sits at the detector's centre), Gaussian noise of `noise` times the largest value."""
    u = np.arange(bins) - (bins - 1) / 2
    theta = np.deg2rad(np.arange(views) * 180.0 / views)[:, None]
    shift = centre[0] * np.cos(theta) + centre[1] * np.sin(theta)
    width = np.sqrt((9 * np.cos(theta)) ** 2 + (5 * np.sin(theta)) ** 2)
    clean = 2 * 9 * 5 / width ** 2 * np.sqrt(np.clip(width ** 2 - (u - shift) ** 2, 0, None))
    return clean + rng.normal(0, noise * clean.max(), clean.shape)


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


FBP = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=32", "solver=fbp",
       "problem.rotation_centre=geometric", "problem.missing_views=true"]


def test_a_view_left_out_of_a_file_without_angles_is_named(device, tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(SEED)
    full = _scan(61, (8.0, -5.0), 0.003, rng)
    np.save(tmp_path / "s.npy", np.delete(full, 23, 0))
    code, out = _run(FBP, tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert "WARNING: problem.sinogram=s.npy: its 60 views were spread evenly over 180 degrees" in out, out
    assert "a view missing after view 22 (counted from 0), 61 views in all" in out, out
    assert "angles=numpy.delete(numpy.arange(61) * 180 / 61, [23])" in out, out
    # the same views with the angles it names: no word
    angles = np.delete(np.arange(61) * 180 / 61, [23])
    np.savez(tmp_path / "s.npz", sinogram=np.delete(full, 23, 0), angles=angles)
    code, out = _run([*FBP, "problem.sinogram=s.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "views were spread evenly" not in out, out
    # the whole scan, and an object centred on the axis less a view: nothing can be told, nothing said
    np.save(tmp_path / "s.npy", full)
    code, out = _run(FBP, tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "missing after" not in out, out
    np.save(tmp_path / "s.npy", np.delete(_scan(61, (0.0, 0.0), 0.003, rng), 23, 0))
    code, out = _run(FBP, tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "missing after" not in out, out
    # off by default (held-out: a view 3 off named on 1 of 31 files)
    np.save(tmp_path / "s.npy", np.delete(full, 23, 0))
    code, out = _run(FBP[:-1], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "missing after" not in out, out


def test_two_views_apart_and_views_in_reverse_order(device):
    rng = np.random.default_rng(SEED)
    full = _scan(92, (14.0, 6.0), 0.0005, rng)
    gap, _ = find_gap(np.delete(full, [20, 61], 0), 180.0)
    assert gap is not None and gap.after == (19, 59) and gap.total == 92, gap
    gap, _ = find_gap(full[::-1].copy(), 180.0)  # reversed: a mirrored object's scan, still a sinusoid
    assert gap is None
    gap, _ = find_gap(np.delete(full, 40, 0)[::-1].copy(), 180.0)  # reversed less a view: found, counted as read
    assert gap is not None and gap.after == (50,), gap
