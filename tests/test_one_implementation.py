"""One implementation per idea (issue 15 §4): each merged duplicate against a frozen copy of the code it replaced.

The `_old_*` functions below are the removed implementations, copied verbatim, so that these tests keep showing
the single version computes what each old one did (bit for bit where the arithmetic is the same; to round-off
where the merge reorders a sum)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.errors import UserError


# ---- bicubic_warp (detection/background_model.py) == keys_grid_sample (imaging/keys.py) ------------------------

def _old_bicubic_warp(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    flat = points.reshape(1, 1, -1, 2)
    grid = torch.stack((flat[..., 1] * (2.0 / (w - 1)) - 1.0, flat[..., 0] * (2.0 / (h - 1)) - 1.0), -1)
    out = torch.nn.functional.grid_sample(image[None], grid, mode="bicubic", padding_mode="zeros",
                                          align_corners=True)
    return out[0, :, 0].reshape(image.shape[0], *points.shape[:-1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_keys_grid_sample_is_the_old_bicubic_warp(dtype, device):
    from regrun.imaging.keys import keys_grid_sample

    gen = torch.Generator().manual_seed(0)
    image = torch.rand(3, 23, 31, generator=gen, dtype=torch.float64).to(device, dtype)
    points = (torch.rand(5, 7, 2, generator=gen, dtype=torch.float64) * torch.tensor([26.0, 36.0]) - 2.0
              ).to(device, dtype).requires_grad_(True)
    new = keys_grid_sample(image, points)
    old = _old_bicubic_warp(image, points)
    assert new.shape == old.shape == (3, 5, 7)
    assert torch.equal(new, old)
    g_new, = torch.autograd.grad(new.square().sum(), points)
    g_old, = torch.autograd.grad(old.square().sum(), points)
    assert torch.equal(g_new, g_old)


# ---- gaussian_blur (imaging/filters.py) == gaussian_filter(boundary="replicate", tail=4) (imaging/gaussian.py) ---
# (the third smoother, metrics.ssim's window, is the same gaussian_filter at SciPy's radius: below)

def _old_gaussian_blur(image: torch.Tensor, sigma) -> torch.Tensor:
    sig = (float(sigma), float(sigma)) if isinstance(sigma, (int, float)) else tuple(float(s) for s in sigma)
    out = image
    for axis, s in zip((-2, -1), sig):
        if s <= 0:
            continue
        radius = max(1, math.ceil(4 * s))
        t = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
        kernel = torch.exp(-0.5 * (t / s) ** 2)
        kernel = kernel / kernel.sum()
        moved = out.movedim(axis, -1)
        shape = moved.shape
        flat = moved.reshape(-1, 1, shape[-1])
        flat = torch.nn.functional.pad(flat, (radius, radius), mode="replicate")
        flat = torch.nn.functional.conv1d(flat, kernel.view(1, 1, -1))
        out = flat.reshape(shape).movedim(-1, axis)
    return out


@pytest.mark.parametrize("sigma", [0.75, 2.0, (1.5, 0.0), (0.3, 3.2)])
def test_smoothing_of_users_images_is_gaussian_filter(sigma, device):
    from regrun.imaging.gaussian import USERS_IMAGES_TAIL, gaussian_filter

    def gaussian_blur(x, s):
        return gaussian_filter(x, s, tail=USERS_IMAGES_TAIL, boundary="replicate")

    gen = torch.Generator().manual_seed(1)
    image = torch.rand(2, 40, 33, generator=gen, dtype=torch.float64).to(device)
    old = _old_gaussian_blur(image, sigma)
    new = gaussian_blur(image, sigma)
    assert new.shape == old.shape and new.dtype == old.dtype and new.device == old.device
    torch.testing.assert_close(new, old, rtol=1e-14, atol=1e-15)  # the sum runs in another order
    # a constant stays constant (the replicated border), as before
    const = torch.full((1, 12, 9), 0.7, dtype=torch.float64, device=device)
    torch.testing.assert_close(gaussian_blur(const, sigma), const, rtol=1e-14, atol=0)


# ---- metrics.ssim on regrun's gaussian_filter == the SciPy gaussian_filter version it replaced ------------------

def _old_ssim(estimate: np.ndarray, truth: np.ndarray, sigma: float = 1.5) -> float:
    from scipy.ndimage import gaussian_filter

    L = float(truth.max() - truth.min()) or 1.0
    c1, c2 = (0.01 * L) ** 2, (0.03 * L) ** 2

    def blur(a):
        return gaussian_filter(a, sigma, mode="nearest", truncate=3.5)

    mx, my = blur(estimate), blur(truth)
    vx = blur(estimate * estimate) - mx * mx
    vy = blur(truth * truth) - my * my
    cxy = blur(estimate * truth) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


@pytest.mark.parametrize("sigma", [1.5, 0.7, 3.0])
def test_ssim_is_the_old_scipy_ssim(sigma, device):
    from regrun.metrics import ssim

    gen = torch.Generator().manual_seed(3)
    truth = torch.rand(37, 29, generator=gen, dtype=torch.float64) * 50
    est = truth + 4 * torch.randn(37, 29, generator=gen, dtype=torch.float64)
    old = _old_ssim(est.numpy(), truth.numpy(), sigma)
    assert abs(ssim(est.numpy(), truth.numpy(), sigma) - old) < 1e-13  # the sums run in another order
    assert abs(ssim(est.to(device), truth.to(device), sigma) - old) < 1e-13  # a tensor: on its device
    assert ssim(truth.numpy(), truth.numpy(), sigma) == pytest.approx(1.0, abs=1e-15)


# ---- the two _read_array (imaging/io.py, problems/ct_fewview.py) == imaging.io.read_array ------------------------

def _old_io_read_array(path: Path, key: str, ndim: int, what: str) -> np.ndarray:
    if path.suffix == ".npz":
        with np.load(path) as data:
            keys = list(data.files)
            arr = np.asarray(data[key], dtype=np.float64) if key in keys else None
    else:
        import h5py

        with h5py.File(path, "r") as data:
            keys = list(data.keys())
            arr = np.asarray(data[key][()], dtype=np.float64) if key in keys else None
    assert arr is not None and arr.ndim == ndim
    return arr  # the caller then flips it into FAIR's layout, as before


def _old_ct_read_array(path: Path, key: str) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        arr = np.load(path)
    else:
        import h5py

        with h5py.File(path, "r") as f:
            arr = f[key][()]
    return np.asarray(arr, dtype=np.float64)


def test_one_array_reader(tmp_path):
    import h5py

    from regrun.imaging.io import read_array

    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    np.savez(tmp_path / "f.npz", frames=a)
    np.save(tmp_path / "s.npy", a[0])
    with h5py.File(tmp_path / "f.h5", "w") as f:
        f["frames"] = a
        f["sino"] = a[1]
    for name in ("f.npz", "f.h5"):
        new = read_array(tmp_path / name, "frames", "frames", ndim=3)
        assert new.dtype == np.float64 and np.array_equal(new, _old_io_read_array(tmp_path / name, "frames", 3, "x"))
    assert np.array_equal(read_array(tmp_path / "s.npy", "ignored", "problem.sinogram"),
                          _old_ct_read_array(tmp_path / "s.npy", "ignored"))
    assert np.array_equal(read_array(tmp_path / "f.h5", "sino", "problem.sinogram"),
                          _old_ct_read_array(tmp_path / "f.h5", "sino"))
    with pytest.raises(UserError, match=r"holds no array 'truth' .*keys found: frames, sino"):
        read_array(tmp_path / "f.h5", "truth", "truth", ndim=2)
    with pytest.raises(UserError, match="must have 2 dimensions"):
        read_array(tmp_path / "f.npz", "frames", "truth", ndim=2)
    with pytest.raises(UserError, match="problem.sinogram: file not found"):
        read_array(tmp_path / "none.npy", "x", "problem.sinogram")
    (tmp_path / "a.txt").write_text("1")
    with pytest.raises(UserError, match=r"a.txt is not a \.npy, \.npz, \.h5/\.hdf5 or grey \.tif/\.png file"):
        read_array(tmp_path / "a.txt", "x", "problem.sinogram")


# ---- five rotation helpers == imaging.transforms.rotation_matrix -------------------------------------------------

def _old_moments_rotation(angle, like):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=like.dtype, device=like.device)


def _old_spike_pair_rotation(t):
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64, device="cpu")


def _old_pose_rotations(t):
    c, s = torch.cos(t), torch.sin(t)
    return torch.stack((torch.stack((c, -s), -1), torch.stack((s, c), -1)), -2)


def _old_scenes_rotation(angle_deg, dtype=torch.float64, device="cpu"):
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, s], [-s, c]], dtype=dtype, device=device)


def _old_rotation_search_inverse(angle, dt, dev):
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)
    return torch.tensor([[c, -s], [s, c]], dtype=dt, device=dev)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_rotation_matrix(dtype, device):
    from regrun.imaging.transforms import rotation_matrix

    like = torch.zeros(1, dtype=dtype, device=device)
    for a in (0.0, 0.3, -2.1, math.pi / 3, 7.5, -22.5, 180.0):
        assert torch.equal(rotation_matrix(a, dtype=dtype, device=device), _old_moments_rotation(a, like))
        assert torch.equal(rotation_matrix(a, dtype=torch.float64, device="cpu"), _old_spike_pair_rotation(a))
        assert torch.equal(rotation_matrix(a, degrees=True, clockwise=True, dtype=dtype, device=device),
                           _old_scenes_rotation(a, dtype, device))
        assert torch.equal(rotation_matrix(a, degrees=True, dtype=dtype, device=device),
                           _old_rotation_search_inverse(a, dtype, device))
    t = torch.tensor([[0.0, 0.3], [-2.1, 1.0]], dtype=dtype, device=device)
    batched = rotation_matrix(t)
    assert batched.shape == (2, 2, 2, 2) and torch.equal(batched, _old_pose_rotations(t))
    # the convention: counter-clockwise in (x1, x2) = (row, col); clockwise=True is its transpose
    r = rotation_matrix(0.25, dtype=torch.float64, device="cpu")
    assert torch.equal(rotation_matrix(0.25, clockwise=True, dtype=torch.float64, device="cpu"), r.T)
