"""A new user's first day from a fresh clone, on data of their own (newuser13): each case failed before its fix
(docs/sweeps.md, "A new user's first day from a fresh clone (newuser13)")."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.io

from cli_in_process import regrun_in_process
from test_newuser12 import _scan

SEED = 9303


def _ct(args, tmp_path, monkeypatch, capsys, device):
    return regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.size=24", f"device={device.type}",
                              "figures=false", "hydra.run.dir=run", *args], tmp_path, monkeypatch, capsys)


def _sr(args, tmp_path, monkeypatch, capsys, device, run="run"):
    return regrun_in_process(["problem=superres", "problem.data=frames", f"device={device.type}", "figures=false",
                              "progress=false", f"hydra.run.dir={run}", *args], tmp_path, monkeypatch, capsys)


def _burst(n: int = 4, seed: int = SEED) -> np.ndarray:
    """n 8-bit frames of 16x14 of one random smooth scene, each shifted by a whole pixel."""
    rng = np.random.default_rng(seed)
    scene = rng.uniform(20, 220, (20, 20))
    return np.stack([scene[k % 3:k % 3 + 14, k // 3:k // 3 + 16] for k in range(n)]).astype(np.uint8)


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_a_matlab_sinogram_says_how_to_convert_it(version, device, tmp_path, monkeypatch, capsys):
    # "scan.mat is not a .npy, .npz, .h5/.hdf5 or grey .tif/.png file": nothing of what is in it or how to save it
    sino, angles = _scan()
    if version == "v5":
        scipy.io.savemat(tmp_path / "scan.mat", {"proj": sino, "theta": angles})
    else:  # MATLAB's -v7.3: HDF5, each array stored transposed
        with h5py.File(tmp_path / "scan.mat", "w") as f:
            f["proj"] = sino.T
    got = _ct(["problem.sinogram=scan.mat"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    load = ("scipy.io.loadmat('scan.mat')['proj']" if version == "v5" else
            "numpy.asarray(h5py.File('scan.mat')['proj']).T")
    assert ("scan.mat is a MATLAB file, which regrun does not read (its arrays: proj (24, 34)"
            in got.stderr), got.stderr
    # v5 holds the angles too, which the line keeps (newuser15: it saved the sinogram alone)
    angles_too = ", angles=scipy.io.loadmat('scan.mat')['theta'].ravel())" if version == "v5" else ")"
    assert f"convert it in Python, e.g. numpy.savez('scan.npz', sinogram={load}{angles_too}" in got.stderr, got.stderr


def test_matlab_frames_say_how_to_convert_them(device, tmp_path, monkeypatch, capsys):
    scipy.io.savemat(tmp_path / "burst.mat", {"burst": np.moveaxis(_burst(), 0, -1)})
    got = _sr(["problem.frames=burst.mat"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert ("burst.mat is a MATLAB file, which regrun does not read (its arrays: burst (14, 16, 4)): convert it in "
            "Python, e.g. numpy.save('burst.npy', numpy.moveaxis(scipy.io.loadmat('burst.mat')['burst'], -1, 0)) "
            "(frames first: its 4 frames of 16x14 moved to the front)") in got.stderr, got.stderr  # newuser23


def test_problem_noise_on_your_own_frames_is_refused(device, tmp_path, monkeypatch, capsys):
    # problem.noise=2 (meant as 2%) added noise of twice the frames' spread to a user's frames without a word
    np.save(tmp_path / "burst.npy", _burst())
    got = _sr(["problem.frames=burst.npy", "problem.noise=2"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert got.stderr.startswith("regrun: error: problem.noise=2 would add simulated Gaussian noise, 2 times the "
                                 "frames' standard deviation, to your frames (it is for generated ones); your "
                                 "frames' noise is estimated from them, or give its level as "
                                 "problem.lam_noise=SIGMA"), got.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        assert f.attrs["status"] == "failed" and "problem.noise=2" in f.attrs["error"]


def test_cts_reconstruction_is_described_as_ct_s_not_as_super_resolution(device, tmp_path, monkeypatch, capsys):
    # h5py's /result/reconstruction of a CT run read "the super-resolved image (...; reconstruction.npy beside the
    # file is it as stored)"; CT's reconstruction.npy (newuser17) is the array as held, as its description says
    sino, angles = _scan()
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    got = _ct(["problem.sinogram=s.npz"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        text = f["result/reconstruction"].attrs["description"]
        held = f["result/reconstruction"][()]
    assert text.startswith("the reconstructed image (2-D: [i, j] = (x1_i, x2_j)") and "super-resolved" not in text
    assert "reconstruction.npy beside this file, the same array" in text
    assert np.array_equal(np.load(tmp_path / "run" / "reconstruction.npy"), held)


def test_a_360_degree_scan_without_angles_is_named_in_a_warning(device, tmp_path, monkeypatch, capsys):
    # 90 parallel views over 360 degrees saved without angles were spread over 180: FBP 15.6 dB against 33.7 with
    # problem.angle_range=360, without a word
    sino, _ = _scan(views=48, span=360.0)
    np.save(tmp_path / "turn.npy", sino)
    got = _ct(["problem.sinogram=turn.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr
    assert ("regrun: WARNING: problem.sinogram=turn.npy holds no angles, so its 48 views were spread over 180 "
            "degrees; but view k and view k + 24 mirror each other as a parallel beam's views 180 degrees apart do"
            in got.stderr), got.stderr
    assert "a scan over 360 degrees? problem.angle_range=360 reads it so" in got.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        assert f["data/full_turn/ratio"][()] < 0.5


@pytest.mark.parametrize("case", ["half_turn", "range_given", "symmetric"])
def test_a_scan_that_is_no_360_degree_one_read_over_180_is_not_warned(case, device, tmp_path, monkeypatch,
                                                                        capsys):
    from regrun.tomography.axis import full_turn

    sino, _ = _scan(views=48, span=360.0 if case == "range_given" else 180.0)
    if case == "symmetric":  # a disc on the axis mirrors itself under any reading: not named
        sino = np.tile(sino.mean(axis=0), (48, 1)) + np.random.default_rng(SEED).normal(0, 0.01, sino.shape)
        assert not full_turn(sino).likely
        return
    np.save(tmp_path / "s.npy", sino)
    extra = ["problem.angle_range=360"] if case == "range_given" else []
    got = _ct(["problem.sinogram=s.npy", *extra], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0 and "a scan over 360 degrees?" not in got.stderr, got.stderr


@pytest.mark.parametrize("where", ["bin", "view", "one"])
def test_nan_in_a_sinogram_names_the_bin_or_view(where, device, tmp_path, monkeypatch, capsys):
    # "60 value(s) are NaN or infinite (the first nan at index (0, 40))": which of the two is the detector bin was
    # left to the user (newuser12's open item)
    sino, angles = _scan()
    if where == "bin":
        sino[:, 20] = np.nan
    elif where == "view":
        sino[7] = np.inf
    else:
        sino[7, 12] = np.nan
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    # problem.dead_bins=keep: a NaN bin refused as before (the default, fill, interpolates it: test_newuser27)
    got = _ct(["problem.sinogram=s.npz", "problem.dead_bins=keep"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    said = {"bin": "24 value(s) are NaN or infinite (detector bin 20 in every view: dead detector pixels? "
                   "problem.dead_bins=fill interpolates them from their neighbours along the detector (or do so in "
                   "the file))",
            "view": "34 value(s) are NaN or infinite (view 7 in every detector bin: a view the detector missed? leave "
                    "it out of the file with its angle)",
            "one": "1 value(s) are NaN or infinite (the first nan at view 7, detector bin 12)"}[where]
    assert said in got.stderr, got.stderr


@pytest.mark.parametrize("copies", [2, 5])
def test_frames_that_are_all_one_picture_are_refused(copies, device, tmp_path, monkeypatch, capsys):
    # two (or eight) copies of one frame ran (19 s, 42 s) to an answer at lam_range's edge, with only the repeated
    # frames' warning: one picture, nothing to super-resolve, as one frame alone (refused)
    from PIL import Image

    (tmp_path / "frames").mkdir()
    for k in range(copies):
        Image.fromarray(_burst(1)[0]).save(tmp_path / "frames" / f"f{k}.png")
    got = _sr(["problem.frames=frames"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert (f"regrun: error: all {copies} frames hold the same pixels (f0.png = f1.png" in got.stderr
            and "one picture of the scene; super-resolution needs at least 2 frames that see it from different "
                "sub-pixel positions" in got.stderr), got.stderr


def test_a_sweeps_folder_given_to_from_names_its_runs_with_a_weight(device, tmp_path, monkeypatch, capsys):
    # lambda_f=from:SWEEP was "the folder holds no results.h5 (give a run folder of regrun)": which run, not said
    for name, status, weight in (("0_aaaa", "completed", True), ("1_bbbb", "failed", False),
                                 ("2_cccc", "completed", True)):
        (tmp_path / "sw" / name).mkdir(parents=True)
        with h5py.File(tmp_path / "sw" / name / "results.h5", "w") as f:
            f.attrs.update(schema_version=1, status=status, problem="superres")
            if weight:
                f["metrics/lam_chosen"] = 0.2
    np.save(tmp_path / "burst.npy", _burst())
    got = _sr(["problem.frames=burst.npy", "problem.lambda_f=from:sw"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert ("problem.lambda_f=from:sw: the folder holds no results.h5 (give a run folder of regrun); it is a sweep's "
            "folder of 3 runs, 2 of them completed with a weight (0_aaaa, 2_cccc): give one, e.g. "
            "problem.lambda_f=from:sw/0_aaaa") in got.stderr, got.stderr


def test_the_ct_figures_sinogram_is_drawn_as_its_title_says(device, tmp_path, monkeypatch, capsys):
    # "sinogram (u up, views right)" drew the views up and u to the right: show_image draws image.T from the bottom
    from regrun import plots
    from regrun.problems import ct_fewview

    seen = []
    monkeypatch.setattr(ct_fewview, "image_grid", lambda panels, *a, **k: seen.extend(panels) or plots.image_grid(
        panels, *a, **k))
    sino, angles = _scan()  # 24 views of 34 bins
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.size=24", f"device={device.type}",
                             "problem.sinogram=s.npz", "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    panel = next(p for p in seen if p["title"].startswith("sinogram (u up, views right)"))
    drawn = np.asarray(panel["image"]).T  # what show_image hands imshow, row 0 at the bottom
    assert drawn.shape == (34, 24)  # rows: the detector's u (up), columns: the views (right)


@pytest.mark.parametrize("noise", ["2", "0.02"])
def test_generated_frames_noise_typed_as_a_percentage_is_warned(noise, device, tmp_path, monkeypatch, capsys):
    # problem=superres problem.noise=2 (meant as 2%) ran with noise twice the scene's spread, without a word
    got = regrun_in_process(["problem=superres", "problem.size=16", "problem.n_frames=3", f"problem.noise={noise}",
                             "solver.max_iter=1", f"device={device.type}", "figures=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    warned = ("regrun: WARNING: problem.noise=2 is the noise's standard deviation relative to the frames' (0.02 is "
              "2%): the frames' noise is 2 times the scene's spread")
    assert (warned in got.stderr) == (noise == "2"), got.stderr


def test_negative_values_wrapped_by_a_16_bit_save_are_named(device, tmp_path, monkeypatch, capsys):
    # line integrals x 1000 with their noise about 0 saved as a 16-bit PNG: the negatives wrapped to ~65500 and the
    # file was "raw detector counts; give -log(counts / counts_without_object)", advice wrong for it
    from PIL import Image

    sino, _ = _scan()
    sino[:, :2] = np.random.default_rng(SEED).normal(0, 0.05, (24, 2))  # rays that miss the object: noise about 0
    Image.fromarray((np.round(sino * 1000) % 65536).astype(np.uint16)).save(tmp_path / "s16.png")
    got = _ct(["problem.sinogram=s16.png"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert ("nothing between: negative values (noise about 0) saved as unsigned 16-bit integers wrap to 65536 - |v|"
            in got.stderr and "raw detector counts" not in got.stderr), got.stderr


@pytest.mark.parametrize("kind", ["clipped", "saturated_counts"])
def test_a_16_bit_sinogram_without_wrapped_values_is_not_called_wrapped(kind):
    from regrun.problems.ct_fewview import wrapped_negatives

    sino, _ = _scan()
    if kind == "clipped":
        arr = np.round(np.clip(sino, 0, None) * 1000)
    else:  # raw counts, the unattenuated beam saturated at 65535: the raw-counts check's case, not this one
        arr = np.minimum(np.round(70000 * np.exp(-sino / 4)), 65535)
    assert wrapped_negatives(arr) == ""


def test_wrapped_negatives_of_two_percent_noise_are_named_and_dense_raw_counts_are_not():
    # newuser19: 2% noise wraps values down to -6% of the largest line integral, past the 5% the check allowed;
    # raw counts of a dense object whose unattenuated beam sits at 60000-65000 must still go to the raw-counts check
    from regrun.problems.ct_fewview import wrapped_negatives

    sino, _ = _scan()
    noisy = sino + 0.02 * sino.max() * np.random.default_rng(SEED).standard_normal(sino.shape)
    assert (noisy * 1000 < -0.05 * sino.max() * 1000).any()  # the case the 5% bound missed
    assert "wrap to 65536 - |v|" in wrapped_negatives(np.round(noisy * 1000) % 65536)
    # a steel can: the unattenuated beam at 64800 +- 300 beside the can's shadow under 31000, nothing between
    rng = np.random.default_rng(SEED)
    u = np.abs(np.arange(sino.shape[1]) - sino.shape[1] / 2)
    counts = np.where(u > 0.3 * sino.shape[1], 64800.0, 30000 * np.exp(-sino / sino.max()))
    counts = np.clip(np.round(counts + 300 * rng.standard_normal(sino.shape)), 0, 65535)
    assert wrapped_negatives(counts) == ""
