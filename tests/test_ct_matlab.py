"""A MATLAB user's `save scan.mat R xp theta` after `[R, xp] = radon(I, theta)` read as MATLAB wrote it (docs/ct.md,
"A MATLAB user's radon file (ctmatlab)"): each reading failed (refused, or needed a transpose, a size and a
centre typed) before."""
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_in_process import regrun_in_process
from script_module import load_script

SEED = 9741
N = 24  # MATLAB writes 37 bins for 24^2 (and for 25^2: the grid read is the rounder 24)


def _image() -> np.ndarray:
    return load_script("matlab_radon").phantom(N, np.random.default_rng(SEED))


def _scan():
    theta = np.arange(24) * 180.0 / 24
    r, xp = load_script("matlab_radon").matlab_radon(_image(), theta)
    return r, xp, theta[None, :]  # MATLAB's shapes: (bins, views), (bins, 1), (1, views)


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process(["problem=ct_fewview", "problem.data=file", "solver=fbp", "figures=false",
                              f"device={device.type}", *args], tmp_path, monkeypatch, capsys)
    out = done.stdout + done.stderr
    return done.returncode, out, (Path(out.split(" -> ")[-1].split()[0]) if done.returncode == 0 else None)


def _psnr(rec: np.ndarray) -> float:
    truth = _image()
    return float(10 * np.log10(truth.max() ** 2 / np.mean((rec - truth) ** 2)))


def test_the_emulator_is_octaves_radon_and_matlabs_documented_geometry():
    mod = load_script("matlab_radon")
    r, xp = mod.matlab_radon(np.ones((2, 2)), [30])  # Octave image package radon.m's own test value
    assert np.allclose(r[:, 0], [0, 0, 0.608253175473055, 2.103325780167649, 1.236538105676658, 0.051882938682637, 0],
                       atol=1e-12)
    dot = np.zeros((64, 64))
    dot[10, 50] = 1.0  # row 11, column 51 counted from 1; MATLAB's centre pixel (32, 32)
    t = np.arange(0, 180, 15)
    r, xp = mod.matlab_radon(dot, t)
    assert len(xp) == mod.matlab_width((64, 64)) == 95 and xp[0, 0] == -47
    centre = (r * xp).sum(0) / r.sum(0)  # x' counterclockwise from the columns' axis, up against the rows
    assert np.allclose(centre, 19 * np.cos(np.radians(t)) + 21 * np.sin(np.radians(t)), atol=1e-12)


def test_matlabs_centre_is_half_a_pixel_below_the_grids_on_even_sides():
    from regrun.tomography.geometry import rotation_centre

    assert rotation_centre((64, 65), 2.0, "matlab") == (-1.0, 0.0)  # pixel 31 of 0-63, 32 of 0-64, voxel 2


def test_the_projector_about_matlabs_centre_keeps_its_exact_adjoint(device):
    from regrun.linalg.dottest import dot_test
    from regrun.tomography.geometry import parallel_beam, rotation_centre, uniform_angles
    from regrun.tomography.xray import XRayTransform

    shape = (12, 12)
    geo = parallel_beam(shape, uniform_angles(7, False), 19, 1.0, 1.0, 0.0, rotation_centre(shape, 1.0, "matlab"))
    op = XRayTransform(geo).operator(torch.float64, device)
    assert dot_test(op, torch.Generator().manual_seed(SEED)) <= 1e-10


@pytest.mark.parametrize("form", ["mat", "mat73", "npz"])
def test_a_matlab_radon_file_reads_as_matlab_wrote_it(form, device, tmp_path, monkeypatch, capsys):
    # a .mat was refused ("not a .npy, .npz ..."), an .npz of R, xp, theta "holds no array 'sinogram'"
    r, xp, theta = _scan()
    name = "scan.npz" if form == "npz" else "scan.mat"
    if form == "npz":
        np.savez(tmp_path / name, R=r, xp=xp, theta=theta)
    elif form == "mat73":  # MATLAB's -v7.3: HDF5, each array's axes reversed
        import h5py

        with h5py.File(tmp_path / name, "w") as f:
            f["R"], f["xp"], f["theta"] = r.T, xp.T, theta.T
    else:
        import scipy.io

        scipy.io.savemat(tmp_path / name, {"R": r, "xp": xp, "theta": theta})
    code, out, run = _run([f"problem.sinogram={name}"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert (f"{name} read as MATLAB's [R, xp] = radon(I, theta) wrote it: R (37, 24) turned to 24 views of 37 bins, "
            "each view at theta + 90 degrees") in out and "the grid 24x24, whose radon MATLAB writes on 37 bins" in out
    assert "25x25 too: problem.size=25 for that" in out and "(11 counted from 0; problem.rotation_centre=matlab)" in out
    import h5py

    with h5py.File(run / "results.h5") as f:
        assert f["data/matlab_radon/centre"][()] in (b"matlab", "matlab")
        assert list(f["data/matlab_radon/grid"][()]) == [24, 24]
        assert np.allclose(f["data/angles_deg"][()], theta.ravel() + 90)
    rec = np.load(run / "reconstruction.npy")
    # the same settings typed by hand on the transposed scan give the same answer, bit for bit
    np.savez(tmp_path / "plain.npz", sinogram=r.T, angles=theta.ravel())
    typed = ["problem.sinogram=plain.npz", "problem.size=24", "problem.angle_start=90"]
    code, out, by_hand = _run([*typed, "problem.rotation_centre=matlab"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and np.array_equal(np.load(by_hand / "reconstruction.npy"), rec), out
    # and it is the right reading: the geometric centre (the best regrun could be told before) fits the image worse
    code, out, geo = _run([*typed, "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and _psnr(rec) > _psnr(np.load(geo / "reconstruction.npy")) + 1.0, (_psnr(rec), out)


def test_a_typed_centre_and_a_sinogram_beside_r_keep_their_readings(device, tmp_path, monkeypatch, capsys):
    import scipy.io

    r, xp, theta = _scan()
    scipy.io.savemat(tmp_path / "scan.mat", {"R": r, "xp": xp, "theta": theta})
    code, out, run = _run(["problem.sinogram=scan.mat", "problem.rotation_centre=geometric"], tmp_path, monkeypatch,
                          capsys, device)
    assert code == 0 and "the rotation axis of problem.rotation_centre=geometric" in out, out
    # a file that holds the array regrun reads (problem.sinogram_key) is read as before, R and xp beside it unused
    np.savez(tmp_path / "both.npz", sinogram=r.T, angles=theta.ravel(), R=r, xp=xp, theta=theta)
    code, out, run = _run(["problem.sinogram=both.npz", "problem.size=24"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "MATLAB's [R, xp]" not in out and "('angles', 0 to 172.5 degrees)" in out, out


def test_a_matlab_file_whose_xp_is_not_unit_bins_is_one_line(device, tmp_path, monkeypatch, capsys):
    r, xp, theta = _scan()
    np.savez(tmp_path / "scan.npz", R=r, xp=xp * 0.5, theta=theta)
    code, out, _ = _run(["problem.sinogram=scan.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "its xp (-9 to 9, 37 values) is not MATLAB radon's unit bins -b..b" in out, out
    np.savez(tmp_path / "short.npz", R=r, xp=xp, theta=theta[:, :5])
    code, out, _ = _run(["problem.sinogram=short.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "R (37, 24) needs one row per xp value (37) and one column per theta (5)" in out, out
