"""problem.support: a user's scan of a picture filling the square (scikit-image's radon(circle=False)) solved and
scored on the whole square; every other file and generated data on the disk, as before (docs/ct.md "(ctsquare)")."""
from pathlib import Path

import numpy as np
import pytest
import torch
from test_ct_pixel_grid import radon_circle

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError

F64 = torch.float64


def radon_square(img: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """scikit-image's radon(img, angles, circle=False), written out (bins, views): the image padded to its diagonal
    as radon pads it (pixel n // 2 kept at the padded square's centre), then radon_circle of that."""
    n = img.shape[0]
    pad = int(np.ceil(np.sqrt(2) * n - n))
    before = (n + pad) // 2 - n // 2
    return radon_circle(np.pad(img, ((before, pad - before), (before, pad - before))), angles_deg)


def picture(n: int, fill: bool) -> np.ndarray:
    """A smooth picture with edges: over the whole square (fill) or inside the disk of 0.8 of the half width."""
    r, c = np.mgrid[0:n, 0:n] / (n - 1)
    img = 0.5 + 0.3 * np.sin(5 * r + 2 * c) + 0.4 * ((r - 0.35) ** 2 + (c - 0.6) ** 2 < 0.04)
    if not fill:
        img = img * ((r - 0.5) ** 2 + (c - 0.5) ** 2 < 0.16)
    return img


def user_file(path: Path, n: int, fill: bool, views: int = 40) -> tuple[Path, np.ndarray]:
    img = picture(n, fill)
    s = radon_square(img, np.arange(views) * 180.0 / views).T
    s = s + 0.002 * s.max() * np.random.default_rng(3).standard_normal(s.shape)
    np.save(path / "s.npy", s)
    return path / "s.npy", img


def problem(device, sino: Path, n: int, **extra):
    from regrun.problems.ct_fewview import CTFewView

    ctx = RunContext(device, F64, 0, Path("."))
    return CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(sino), views=None, size=n,
                                    angle_start=90.0, **extra), ctx)


def test_the_written_out_padding_is_scikit_images():
    skt = pytest.importorskip("skimage.transform")
    for n in (20, 21):
        img = np.random.default_rng(n).random((n, n))
        angles = np.arange(12) * 15.0
        assert np.abs(radon_square(img, angles) - skt.radon(img, angles, circle=False)).max() <= 1e-12 * img.sum()


@pytest.mark.parametrize("n", [32, 33])
def test_auto_takes_the_square_only_for_a_picture_filling_it(device, tmp_path, n):
    sino, _ = user_file(tmp_path, n, fill=True)
    p = problem(device, sino, n)
    assert p.support == "square" and p.inputs()["support"] == "square"
    assert p.mask.device.type == device.type and bool(p.mask.all())
    disk = problem(device, sino, n, support="disk")
    assert disk.inputs()["support"] == "disk 0.95" and torch.equal(disk.mask, disk._disk_mask(device))
    assert not bool(disk.mask.all())
    inside, _ = user_file(tmp_path, n, fill=False)
    q = problem(device, inside, n)
    assert q.support == "disk" and torch.equal(q.mask, disk.mask)  # an object inside the disk: as before


def test_generated_data_keeps_the_disk(device):
    from regrun.problems.ct_fewview import CTFewView

    ctx = RunContext(device, F64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", size=32, views=20), ctx)
    typed = CTFewView(config_section("problem", "ct_fewview", size=32, views=20, support="disk"), ctx)
    assert p.support == "disk" and torch.equal(p.mask, typed.mask) and torch.equal(p.truth, typed.truth)


def test_a_bad_support_is_one_line(tmp_path):
    sino, _ = user_file(tmp_path, 32, fill=True)
    with pytest.raises(UserError, match=r"problem.support.*'circle'.*auto.*disk.*square"):
        problem(torch.device("cpu"), sino, 32, support="circle")


def test_the_square_reconstructs_the_corners_and_the_disk_better(device, tmp_path):
    """FISTA-TV at one weight on the square against the disk: the disk's image cannot fit the corners' mass the views
    carry, so it is worse over the disk itself; the square's PSNR is over the square and psnr_disk over the disk."""
    from regrun.metrics import psnr
    from regrun.solve_result import SolveResult
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista

    n = 32
    sino, img = user_file(tmp_path, n, fill=True)
    solver = config_section("solver", "fista_tv", iters=60)
    np.save(tmp_path / "t.npy", img)
    out = {}
    for support in ("square", "disk"):
        p = problem(device, sino, n, support=support, truth_file=str(tmp_path / "t.npy"))
        g = UnknownGrid(p, 1)
        fista = make_fista(g, solver, lipschitz(g, solver))
        x = fista.solve(torch.tensor(0.02, dtype=F64, device=device), 60) * fista.mask
        metrics, _ = p.evaluate(SolveResult(solution={"x": x}, status="max_iter"))
        disk = p._disk_mask(device).cpu().numpy()
        out[support] = (metrics, psnr(x.cpu().numpy()[disk], img[disk]))
    square, disk = out["square"], out["disk"]
    assert square[0]["psnr_disk"] == pytest.approx(square[1], abs=1e-9) and "psnr_disk" not in disk[0]
    assert disk[0]["psnr"] == pytest.approx(disk[1], abs=1e-9)  # the disk run's psnr is the disk's
    assert square[1] > disk[1] + 1.0, (square[1], disk[1])
