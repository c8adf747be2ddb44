"""newuser28's pass from a fresh clone (session 40): data kinds the earlier passes had not tried; each case fails on
main (docs/ct.md, "A new user's pass (newuser28)")."""
import numpy as np
import pytest
import torch
from PIL import Image

SEED = 9800


def _fine(side: int = 24) -> np.ndarray:
    """A smooth random scene in 40-200 (8-bit units), side x side."""
    from scipy import ndimage

    field = ndimage.gaussian_filter(np.random.default_rng(SEED).standard_normal((side, side)), 2.0, mode="wrap")
    return 40 + 160 * (field - field.min()) / np.ptp(field)


def _superres(device, tmp_path, frames: str, truth: str):
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    cfg = config_section("problem", "superres", data="frames", frames=str(tmp_path / frames),
                         truth=str(tmp_path / truth))
    return SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))


@pytest.mark.parametrize("bits, truth_kind, factor", [(16, "tif", 65535.0), (8, "png16", 1 / 257), (8, "other", None),
                                                       (8, "png8", None)])
def test_a_truth_file_of_another_depth_is_read_at_the_frames_scale(bits, truth_kind, factor, device, tmp_path):
    # 16-bit PNG frames beside a float32 TIFF truth in [0, 1] printed psnr -97.16, 8-bit frames beside a 16-bit PNG
    # truth -0.80, each under the "other units" warning; read at the frames' scale: 37.46 dB, as a truth saved at the
    # frames' depth (newuser28)
    fine = _fine()
    (tmp_path / "f").mkdir()
    top = 65535 if bits == 16 else 255
    for k in range(4):
        frame = np.roll(fine, k, axis=1).reshape(12, 2, 12, 2).mean((1, 3)) / 255
        Image.fromarray(np.round(frame * top).astype(np.uint16 if bits == 16 else np.uint8)).save(
            tmp_path / "f" / f"f{k}.png")
    unit = fine / 255
    if truth_kind == "tif":
        Image.fromarray(unit.astype(np.float32)).save(tmp_path / "truth.tif")  # a float32 TIFF (mode F)
    elif truth_kind == "other":  # another picture in [0, 1]: no ratio of depths fits it, so the warning stays
        Image.fromarray(np.random.default_rng(SEED).uniform(0, 1, unit.shape).astype(np.float32)).save(
            tmp_path / "truth.tif")
    elif truth_kind == "png16":
        Image.fromarray(np.round(unit * 65535).astype(np.uint16)).save(tmp_path / "truth.png")
    else:  # the frames' own depth: nothing to do
        Image.fromarray(np.round(unit * 255).astype(np.uint8)).save(tmp_path / "truth.png")
    p = _superres(device, tmp_path, "f", "truth.tif" if truth_kind in ("tif", "other") else "truth.png")
    assert p.truth_rescaled == (None if factor is None else pytest.approx(factor))
    if factor is not None:
        # the truth now in the frames' units: its top near the frames' own top
        assert abs(float(p.truth.max()) / (fine.max() / 255 * top) - 1) < 0.01


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_a_matlab_file_line_saves_its_largest_array_as_the_sinogram(version, device, tmp_path):
    # an ASTRA-MATLAB user's workspace (angles (1, 60) in radians, sino (60, 256)) was told to save `angles` as the
    # sinogram, the first array by name, and its radians as they stood (newuser28)
    import h5py
    import scipy.io

    from regrun.imaging.io import matlab_hint

    sino = np.random.default_rng(SEED).uniform(0, 1, (60, 32))
    angles = np.linspace(0, np.pi, 60, endpoint=False)[None, :]
    path = tmp_path / "scan.mat"
    if version == "v5":
        scipy.io.savemat(path, {"angles": angles, "sino": sino})
        load = "scipy.io.loadmat('scan.mat')['{}']"
    else:
        with h5py.File(path, "w") as f:  # MATLAB's -v7.3: HDF5, each array stored transposed
            f["angles"], f["sino"] = angles.T, sino.T
        load = "numpy.asarray(h5py.File('scan.mat')['{}']).T"
    said = matlab_hint(path, "sinogram", angles=True)
    assert "(its arrays: angles (1, 60), sino (60, 32))" in said, said
    assert (f"numpy.savez('scan.npz', sinogram={load.format('sino')}, angles=numpy.degrees({load.format('angles')}"
            f".ravel())) (its angles read as radians: regrun takes degrees)") in said, said


def _blobs(angles_deg: np.ndarray, n_u: int = 36, noise: float = 0.0) -> np.ndarray:
    """A parallel scan (views, n_u) of two Gaussian blobs off the axis, exact line integrals, bins 1 px apart."""
    u = np.arange(n_u) - (n_u - 1) / 2
    th = np.radians(angles_deg)[:, None]
    p = sum(a * np.exp(-(u - (x * np.cos(th) + y * np.sin(th))) ** 2 / (2 * s * s))
            for a, x, y, s in ((3.0, 5.0, 2.0, 2.5), (2.0, -4.0, -6.0, 1.5), (1.0, 0.0, 0.0, 7.0)))
    return p + noise * p.max() * np.random.default_rng(SEED).standard_normal(p.shape)


@pytest.mark.parametrize("incl, noise", [(True, 0.0), (True, 0.01), (False, 0.01)])
def test_a_turn_measured_at_both_ends_is_named(incl, noise, device, tmp_path, monkeypatch, capsys):
    # 121 views 0 to 360 degrees inclusive without angles (numpy.linspace(0, 360, 121)): read over 180, FBP 7.23 dB
    # without a word, 17.46-18.07 read over the turn (newuser28); the same turn without its endpoint is not named
    from cli_in_process import regrun_in_process

    from regrun.tomography.axis import REPEATED_END_RATIO, repeated_end

    sino = _blobs(np.linspace(0, 360, 41, endpoint=incl), noise=noise)
    got = repeated_end(sino)  # judged either way, not left None
    assert (got < REPEATED_END_RATIO) if incl else (got > 0.9), got
    np.save(tmp_path / "s.npy", sino)
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=24",
                             f"device={device.type}", "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 0, got.stderr
    said = "view 40 repeats view 0" in got.stderr
    assert said == incl, got.stderr
    if incl:
        assert ("a turn measured at both ends, as numpy.linspace(0, 360, 41) or tomopy.angles(41, 0, 360) give, whose "
                "views stand 9 degrees apart? Leave the last view out of the file (a[:-1]) and type "
                "problem.angle_range=360") in got.stderr, got.stderr


@pytest.mark.parametrize("text, line, said", [
    ("angle_deg\n0.0\n4.0\n8.0\n12.0\n", "numpy.loadtxt('a.csv', skiprows=1)", "(its 4 values, 0 to 12 degrees"),
    ("# theta\n0;6;12;18\n", "numpy.loadtxt('a.csv', delimiter=';', skiprows=1)", "(its 4 values, 0 to 18 degrees"),
    ("\n".join(f"{a:.6f}" for a in np.linspace(0, np.pi, 12, endpoint=False)), "numpy.degrees(numpy.loadtxt('a.csv'))",
     "(its 12 values, 0 to 2.87979: radians, so numpy.degrees")])
def test_an_angles_file_typed_gets_the_line_that_reads_it(text, line, said, device, tmp_path, monkeypatch, capsys):
    # problem.angles=angles.csv was told numpy.loadtxt('angles.txt'), which fails on a CSV whose first line names
    # its column (ValueError: could not convert string 'angle_deg'), and numpy.load of the TIFF sinogram typed
    from cli_in_process import regrun_in_process

    (tmp_path / "a.csv").write_text(text)
    Image.fromarray(_blobs(np.arange(4) * 6.0).astype(np.float32)).save(tmp_path / "s.tif")
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.tif",
                             "problem.angles=a.csv", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stderr
    assert (f"numpy.savez('scan.npz', sinogram=numpy.asarray(PIL.Image.open('s.tif')), angles={line}) {said}"
            in got.stderr), got.stderr


@pytest.mark.parametrize("n_u, object_bins, finer", [(96, 80, True), (96, 30, None), (84, 64, False)])
def test_a_detector_finer_than_the_grid_is_named_beside_the_larger_grid(n_u, object_bins, finer, device):
    # a 1024-bin detector of half-voxel bins round a 512 grid (the truth's) was told "problem.size=722" alone, which
    # a truth of 512 refuses; problem.detector_spacing=0.5 reads it (FISTA-TV 37.84 dB, newuser28)
    from regrun.problems.ct_fewview import beyond_grid

    u = np.arange(n_u) - (n_u - 1) / 2
    sino = np.tile(np.sqrt(np.clip((object_bins / 2) ** 2 - u ** 2, 0, None)), (6, 1))  # a disk's views
    said = beyond_grid(sino, 34.0, 24, float(n_u), "s.npy")  # a 24 grid's shadow: 34 bins
    if finer is None:
        assert said == ""  # the object within the shadow: nothing to say
        return
    assert "reach past the 24-voxel grid's shadow" in said, said
    # 84 bins are no whole multiple of 24
    assert ("1/4 of a voxel (a detector finer than the grid: 96 bins across 24 voxels), problem.detector_spacing=0.25 "
            "reads them so" in said) == finer, said
