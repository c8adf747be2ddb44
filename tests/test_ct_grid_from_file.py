"""The reconstruction grid a user's parallel sinogram file implies when no problem.size is typed (docs/ct.md "The grid
a sinogram file implies (ctsize)"): scikit-image's radon (circle=False and True), a 1.5 N detector as ASTRA's examples
use, regrun's own files, a small object in a wide field (on the file's grid too, ctsmallobj), a typed size, and the
fan beam's line. scikit-image's files are made by `radon` below, its layout without the package (CI installs no
`bench` extra)."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Reporter
from regrun.problems.ct_fewview import (CTFewView, detector_readings, fan_half_width, fan_readings,
                                        fan_square_widths, file_grid, roundest)
from regrun.tomography.geometry import covering_detector


def read(device, path, **over):
    """ct_fewview on a file as the README's command reads it (no size, no truth); returns it and its console."""
    out = io.StringIO()
    ctx = RunContext(device, torch.float64, 0, Path("."), reporter=Reporter(stream=out, progress=False))
    cfg = config_section("problem", "ct_fewview", **{"data": "file", "sinogram": str(path), "size": None,
                                                      "views": None, **over})
    return CTFewView(cfg, ctx), out.getvalue()


def radon(image: np.ndarray, theta, circle: bool) -> np.ndarray:
    """scikit-image's `radon` layout (bins, views): circle=False pads the image to ceil(sqrt(2) N) about N // 2 as it
    does, circle=True keeps N bins; each view the bilinearly rotated image summed over rows."""
    n = image.shape[0]
    if not circle:
        d = math.ceil(math.sqrt(2) * n)
        before = d // 2 - n // 2
        image = np.pad(image, ((before, d - n - before),) * 2)
    return np.stack([ndimage.rotate(image, -t, reshape=False, order=1).sum(0) for t in theta], axis=1)


def disk_object(n: int) -> np.ndarray:
    """Random ellipses in a body filling 0.9 of an n x n grid's width (radon(circle=True) needs 0 outside the disk)."""
    c = np.arange(n) - (n - 1) / 2
    r2 = (c[:, None] ** 2 + c[None, :] ** 2) / (0.45 * n) ** 2
    rng = np.random.default_rng(9362)
    img = 0.3 * (r2 < 1)
    for _ in range(6):
        cx, cy = rng.uniform(-0.25, 0.25, 2) * n
        img = img + 0.4 * (((c[:, None] - cx) ** 2 + (c[None, :] - cy) ** 2) < (rng.uniform(0.04, 0.12) * n) ** 2)
    return img


def radon_file(tmp_path, n: int, circle: bool, views: int = 8, pad: int = 0) -> Path:
    sino = radon(disk_object(n), np.arange(views) * 180.0 / views, circle=circle).T
    path = tmp_path / f"radon_{n}_{circle}_{pad}.npy"
    np.save(path, np.pad(sino, ((0, 0), (pad, pad))))
    return path


@pytest.mark.parametrize("circle", [False, True])
def test_a_scikit_image_radon_file_runs_on_its_own_grid(device, tmp_path, circle):
    """radon(circle=False) of a 160^2 image (227 bins) and radon(circle=True) (160 bins) ran on the default 128
    grid, a crop of the 144-pixel object with no word (main: the object stays inside the 128 grid's 185-bin
    shadow, so the ctissue rule did not fire); they now run on 160 x 160 and say so in one line."""
    p, said = read(device, radon_file(tmp_path, 160, circle), angle_start=90.0)
    assert p.shape == (160, 160) and p.warnings({}) == []
    assert p.inputs()["grid_from"].startswith(f"the file's {227 if not circle else 160}-pixel detector")
    assert "regrun: problem.size=160: the grid" in said and "(problem.size=N sets it)" in said


def test_a_detector_one_and_a_half_times_the_grid_reads_as_astra_examples(device, tmp_path):
    """A 192^2 object on 288 bins (ASTRA's examples' 1.5 N) ran on the default 128 grid (a crop); regrun's covering
    rule reads 202 (its covering detector has 288 bins), scikit-image's 203: 192, the roundest."""
    p, said = read(device, radon_file(tmp_path, 192, True, pad=48), angle_start=90.0)
    assert p.shape == (192, 192) and "ASTRA's 1.5 N bins" in p.inputs()["grid_from"]


def test_a_detector_narrower_than_the_default_grid_gives_its_grid(device, tmp_path):
    """A 48^2 radon(circle=False) file (68 bins) was refused at the default size 128 ("68 detector pixels ... cover
    less than the 128-voxel grid's width"); it now reconstructs on 48 x 48."""
    p, said = read(device, radon_file(tmp_path, 48, False), angle_start=90.0)
    assert p.shape == (48, 48) and "scikit-image's radon(circle=False)" in said


def test_regrun_files_keep_their_grid_and_a_typed_size_is_untouched(device, tmp_path):
    """A regrun 160^2 file (229 bins) whose phantom (147 px across) stays inside the 128 grid's shadow ran on 128
    (a crop); it now runs on 160, as typed: the same geometry and data. A typed size is taken as typed (no line
    from the detector) even where the detector implies another."""
    ref = CTFewView(config_section("problem", "ct_fewview", size=160, views=8, oversample=1),
                    RunContext(device, torch.float64, 0, Path(".")))
    np.save(tmp_path / "own.npy", ref.sinogram.cpu().numpy())
    grown, said = read(device, tmp_path / "own.npy")
    typed, said_typed = read(device, tmp_path / "own.npy", size=160)
    assert grown.shape == (160, 160) and "regrun's covering detector" in grown.inputs()["grid_from"]
    assert grown.geometry.detector == typed.geometry.detector and grown.geometry.vectors == typed.geometry.vectors
    assert torch.equal(grown.sinogram, typed.sinogram) and typed.inputs()["grid_from"] == "problem.size"
    other, said_other = read(device, tmp_path / "own.npy", size=200)
    assert other.shape == (200, 200) and "detector implies" not in said_typed + said_other


def test_a_small_object_in_a_wide_field_runs_on_the_files_grid(device, tmp_path):
    """A 48-pixel object centred on a 363-bin detector (radon(circle=False) of 256^2) lies inside the default grid,
    which kept 128; it now runs on the file's 256, as typed (same geometry and data), said in one line. On 128 the
    grid sat half a pixel off the object's (the radon axis at pixel n // 2 is read only where the grid is the
    file's: 4.8% misfit of the truth against 0.7%, dev 9181) and took the 2x unknown (docs/ct.md "(ctsmallobj)")."""
    small = np.zeros((256, 256))
    small[104:152, 104:152] = disk_object(48)
    path = tmp_path / "small.npy"
    np.save(path, radon(small, np.arange(8) * 22.5, circle=False).T)
    p, said = read(device, path, angle_start=90.0)
    typed, _ = read(device, path, angle_start=90.0, size=256)
    assert p.shape == (256, 256) and p.inputs()["grid_from"].startswith("the file's 363-pixel detector")
    assert "regrun: problem.size=256: the grid small.npy's 363-pixel detector implies" in said
    assert "the object also lies inside the default 128-voxel grid" in said
    assert p.geometry == typed.geometry and torch.equal(p.sinogram, typed.sinogram)
    assert p.axis["convention"] == "index" and read(device, path, angle_start=90.0, size=128)[0].axis[
        "convention"] != "index"


@pytest.mark.parametrize("body, grid", [(144, 160), (140, 160), (126, 160)])
def test_an_object_past_the_disk_the_solvers_keep_grows_the_grid(device, tmp_path, body, grid):
    """FISTA-TV keeps the disk of problem.mask_radius (0.95) of the grid's half width: an object 126 px across on the
    128 grid, inside its square and its shadow, ran 11 dB below its own 192 grid (held-out 9370: 17.59 against
    28.69), and one 130 px across 19 dB (9355). Both now grow the grid (here to the 160 the radon field was made on);
    one 113 px across lies in the disk and takes the file's 160 too (ctsmallobj)."""
    img = np.zeros((160, 160))
    a = (160 - body) // 2
    img[a:a + body, a:a + body] = disk_object(body)
    path = tmp_path / f"border_{body}.npy"
    np.save(path, radon(img, np.arange(8) * 22.5, circle=False).T)
    p, said = read(device, path, angle_start=90.0)
    assert p.shape == (grid, grid)


def test_readings_give_back_every_multiple_of_8_of_the_three_conventions():
    """Counted in file_grid's docstring: every N = 32-1024 that is a multiple of 8 comes back from regrun's covering
    detector, radon(circle=False)'s and the as-wide one, for an object filling 0.9 of the grid (views at 0 and 45
    degrees), but radon(circle=False)'s 152: its 215 bins are regrun's 150's too, and 150 (a multiple of 50) wins."""
    angles = np.radians([0.0, 45.0])
    missed = []
    for n in range(32, 1025, 8):
        widths = np.array([0.9 * n, 0.9 * n])
        for n_u in (covering_detector((n, n), 1.0)[0][0], math.ceil(math.sqrt(2) * n), n):
            if file_grid(n_u, widths, angles)[0] != n:
                missed.append((n, n_u, detector_readings(n_u)))
    assert [m[:2] for m in missed] == [(152, 215)], missed


def own_scan(device, tmp_path, geometry: str, size: int, **over) -> Path:
    """A regrun fan or cone file: ct_fewview's own simulation (few views, no oversampling) saved as a user would."""
    ref = CTFewView(config_section("problem", "ct_fewview", size=size, views=12, geometry=geometry, oversample=1,
                                   **over), RunContext(device, torch.float64, 0, Path(".")))
    path = tmp_path / f"{geometry}_{size}.npy"
    np.save(path, ref.sinogram.cpu().numpy())
    return path


@pytest.mark.parametrize("size, over", [(160, {}), (200, {"source_origin": 3.0, "origin_detector": 0.5}),
                                        (128, {})])
def test_a_fan_file_runs_on_the_grid_its_detector_implies_at_the_typed_distances(device, tmp_path, size, over):
    """A fan beam's distances count in grid widths, so a fan file run on another grid runs another scan: a 200^2
    fan file with no size ran on 128 (held-out 9358: 6.49 dB against 27.44). With no size typed the grid is now
    read from the detector at the typed distances (regrun's covering detector: 244 bins for 160^2, 294 for 200^2
    at 3 and 0.5 widths), bit for bit the run with the size typed; a 128^2 file keeps 128, said as the file's."""
    path = own_scan(device, tmp_path, "fan", size, **over)
    grown, said = read(device, path, geometry="fan", **over)
    typed, said_typed = read(device, path, geometry="fan", size=size, **over)
    assert grown.shape == (size, size) and "regrun's covering detector" in grown.inputs()["grid_from"]
    assert grown.geometry.detector == typed.geometry.detector and grown.geometry.vectors == typed.geometry.vectors
    assert torch.equal(grown.sinogram, typed.sinogram) and "detector implies" not in said_typed
    assert f"regrun: problem.size={size}: " in said and (": the default, the grid" in said) == (size == 128)


def test_a_fan_detector_covering_the_objects_disk_reads_as_its_grid(device, tmp_path):
    """An ASTRA fanflat scan whose det_count covers the object's disk (the grid's inscribed disk: 100 bins of the
    magnified voxel for 96^2 at 2 and 1 widths) ran on 128 with no word; it now runs on 96."""
    path = own_scan(device, tmp_path, "fan", 96, detector=100)
    p, said = read(device, path, geometry="fan")
    assert p.shape == (96, 96) and "the object's disk" in p.inputs()["grid_from"]
    assert "regrun: problem.size=96: the grid fan_96.npy's 100-pixel detector implies" in said


def test_a_cone_file_runs_on_the_grid_and_slices_its_detector_implies(device, tmp_path):
    """A regrun cone file of 40 x 40 x 16 voxels (61 x 27 detector pixels) ran on the default 64^3 grid; its grid
    and slices are now read from the detector's columns and rows, the typed run's geometry bit for bit."""
    path = own_scan(device, tmp_path, "cone", 40, slices=16)
    p, said = read(device, path, geometry="cone")
    typed, _ = read(device, path, geometry="cone", size=40, slices=16)
    assert p.shape == (40, 40, 16) and p.geometry.vectors == typed.geometry.vectors
    assert p.geometry.detector == typed.geometry.detector and "problem.size=40 problem.slices=16" in said


def test_fan_readings_give_back_every_multiple_of_8():
    """Counted (docs/ct.md "(ctfangrid)"): every multiple of 8 from 16 to 512 of regrun's covering fan detector
    reads back as its N at source and detector 2 and 1, 3 and 0.5, 1.5 and 1 grid widths, for an object filling 0.9
    of the grid; of a detector covering the object's disk all but three, read as regrun's covering detector of a
    grid 2/3 as wide (the fan's near corners widen a square's shadow, so it holds the object)."""
    angles = np.radians(np.arange(0.0, 360.0, 30.0))
    missed = []
    for s, o in ((2.0, 1.0), (3.0, 0.5), (1.5, 1.0)):
        for n in range(16, 513, 8):
            mag = (s + o) / s
            for n_u in (covering_detector((n, n), 1.0, s * n, o * n)[0][0],
                        math.ceil(2 * fan_half_width(n / 2, s * n, o * n) / mag)):
                widths = np.full(len(angles), min(2 * fan_half_width(0.45 * n, s * n, o * n) / mag, n_u))
                readings = [r for r in fan_readings(n_u, s, o, None, 1.0)
                            if np.all(widths <= fan_square_widths(r[0], angles, s, o, None, 1.0) + 4)]
                exact = sum(r[1] == "regrun's covering detector" for r in readings)
                got = roundest(readings, [True] * len(readings), exact)[0]
                if got != n:
                    missed.append((s, o, n, n_u, got))
    assert missed == [(2.0, 1.0, 72, 75, 48), (2.0, 1.0, 160, 166, 108), (1.5, 1.0, 56, 60, 36)], missed


def rocket_file(tmp_path, body: int, n: int = 144) -> Path:
    """radon(circle=True) of an n^2 field holding an object `body` px across (its disk of 0.9 of a square body/0.9
    px wide, centred): 144 bins are also regrun's covering detector of 100^2 and ASTRA's 1.5 N of 96^2."""
    img = np.zeros((n, n))
    m = round(body / 0.9)
    a = (n - m) // 2
    img[a:a + m, a:a + m] = disk_object(m)
    path = tmp_path / f"rocket_{body}.npy"
    np.save(path, radon(img, np.arange(8) * 22.5, circle=True).T)
    return path


def test_a_reading_whose_disk_the_object_passes_gives_way_with_size_reading_disk(device, tmp_path):
    """A 100-px object on a 144-bin radon(circle=True) file read as regrun's covering 100 (its square holds the
    object, its disk of 0.95 x 50 px, the part FISTA-TV and the metrics keep, does not): held-out 9433 ran 9.92 dB
    below its typed 144 (docs/ct.md "(ctsmallobj)"). problem.size_reading=disk, the default, keeps the readings
    whose disk holds the object first and reads 144, as typed; square (the default before) reads 100."""
    path = rocket_file(tmp_path, 100)
    square, _ = read(device, path, angle_start=90.0, size_reading="square")
    disk, said = read(device, path, angle_start=90.0)
    typed, _ = read(device, path, angle_start=90.0, size=144)
    assert square.shape == (100, 100) and disk.shape == (144, 144)
    assert "regrun: problem.size=144: the grid rocket_100.npy's 144-pixel detector implies" in said
    assert disk.geometry == typed.geometry and torch.equal(disk.sinogram, typed.sinogram)


def test_size_reading_disk_reads_as_square_where_every_held_reading_holds_the_disk(device, tmp_path):
    """Where the object lies in the disk of every reading whose square holds it (an 88-px object: regrun's 100's
    disk holds it), and where it passes every reading's disk (the squares decide: an object filling regrun's
    square on 48-1024), disk reads as square: bit for bit the same problem."""
    for body in (88,):
        path = rocket_file(tmp_path, body)
        square, _ = read(device, path, angle_start=90.0, size_reading="square")
        disk, _ = read(device, path, angle_start=90.0)
        assert square.shape == disk.shape == (100, 100) and square.geometry == disk.geometry
        assert torch.equal(square.sinogram, disk.sinogram)
    angles = np.radians([0.0, 45.0])
    moved = []
    for n in range(32, 1025, 8):  # an object filling regrun's square (n and n sqrt 2 wide) passes every disk...
        n_u = covering_detector((n, n), 1.0)[0][0]
        widths = np.array([n, math.ceil(math.sqrt(2) * n)])
        first = (n_u - widths) // 2
        last = first + widths - 1
        if file_grid(n_u, widths, angles, (first, last, 0.95)) != file_grid(n_u, widths, angles):
            moved.append((n, file_grid(n_u, widths, angles, (first, last, 0.95))[0]))
    # ...but on the smallest grids, whose as-wide reading's disk (0.95 of ceil(sqrt 2 N) + 2 bins) reaches the
    # corners within its half-bin tolerance: the whole object is then inside the grid FISTA-TV keeps
    assert moved == [(32, 48), (40, 59)], moved


def test_readings_with_the_disk_give_back_every_multiple_of_8():
    """file_grid's count (every multiple of 8 from regrun's covering detector, radon(circle=False)'s and the as-wide
    one, for an object 0.9 of the grid across, but 152's 215 bins) holds with the disk test too: 0.9 N lies in the
    0.95 N disk."""
    angles = np.radians([0.0, 45.0])
    missed = []
    for n in range(32, 1025, 8):
        for n_u in (covering_detector((n, n), 1.0)[0][0], math.ceil(math.sqrt(2) * n), n):
            half = 0.45 * n
            first = np.full(2, math.floor((n_u - 1) / 2 - half + 0.5))
            last = np.full(2, math.ceil((n_u - 1) / 2 + half - 0.5))
            if file_grid(n_u, last - first + 1, angles, (first, last, 0.95))[0] != n:
                missed.append((n, n_u))
    assert missed == [(152, 215)], missed


def test_a_size_reading_not_allowed_is_one_line(device, tmp_path):
    from regrun.errors import UserError

    with pytest.raises(UserError, match=r"problem.size_reading='circle' is not valid; allowed: square, disk"):
        read(device, rocket_file(tmp_path, 100), angle_start=90.0, size_reading="circle")
