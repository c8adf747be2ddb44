"""newuser24's pass on scans of their own (session 38): what newuser22 left and a fresh user met, each case failing
on main (docs/ct.md, "A new user's pass on scans of their own (newuser24)")."""
from pathlib import Path

import numpy as np

from cli_in_process import regrun_in_process
from test_newuser22 import _sinogram  # an off-centre ellipse's parallel scan, (views, bins)

SEED = 9670


def _run(args, tmp_path, monkeypatch, capsys, device, figures=False):
    done = regrun_in_process([*args, f"figures={str(figures).lower()}", f"device={device.type}"], tmp_path,
                             monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def _out(console: str) -> Path:
    return Path(console.split(" -> ")[-1].split()[0])


CT = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fista_tv",
      "solver.iters=4"]


def test_a_weight_auto_chose_is_carried_from_that_run_on_the_grid_it_was_chosen_on(device, tmp_path, monkeypatch,
                                                                                   capsys):
    # solver.lam=from:RUN of a CT auto run was refused ("learned no weight"), though super-resolution's reads
    # lam_chosen; carried, it is solved on the grid auto kept (here the pixel grid), so the answer is auto's
    np.save(tmp_path / "s.npy", _sinogram())
    code, err = _run([*CT, "solver.lam_solves=3"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "gives this answer with solver.tv_grid=1" in err, err
    auto_dir = _out(err)
    auto = np.load(auto_dir / "reconstruction.npy")
    code, out = _run([*CT, f"solver.lam=from:{auto_dir}"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    assert "(that run's /metrics/lam_chosen, chosen there by cv; solved on the output's pixel grid, as there " \
           "(solver.tv_grid=1" in out, out
    carried = np.load(_out(out) / "reconstruction.npy")
    assert np.allclose(carried, auto, rtol=1e-4, atol=1e-6 * np.abs(auto).max())
    # a typed tv_grid is the user's: the 2x grid gives another answer
    code, out = _run([*CT, f"solver.lam=from:{auto_dir}", "solver.tv_grid=2"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "solved on" not in out, out
    assert not np.allclose(np.load(_out(out) / "reconstruction.npy"), auto, rtol=1e-4,
                           atol=1e-6 * np.abs(auto).max())


def test_the_ct_answer_is_also_an_image_file_a_viewer_opens(device, tmp_path, monkeypatch, capsys):
    # CT wrote reconstruction.npy alone: no image of the reconstruction a user opens beside it (newuser22)
    from PIL import Image

    np.save(tmp_path / "s.npy", _sinogram())
    code, out = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20",
                      "solver=fbp"], tmp_path, monkeypatch, capsys, device, figures=True)
    assert code == 0, out
    run = _out(out)
    answer = np.load(run / "reconstruction.npy")
    tif = np.asarray(Image.open(run / "reconstruction.tif"))
    assert tif.dtype == np.float32 and tif.shape == answer.shape
    assert np.allclose(tif, answer, rtol=1e-6, atol=1e-6 * np.abs(answer).max())
    png = Image.open(run / "figures" / "reconstruction.png")
    pixels = np.asarray(png).astype(float)
    assert png.size == answer.shape[::-1] and pixels.max() > 255  # 16 bits, row 0 at the top as stored
    inside = answer > 0.2 * answer.max()
    assert np.corrcoef(pixels[inside], answer[inside])[0, 1] > 0.999
    assert "`reconstruction.tif` holds the same array" in (run / "summary.md").read_text()


def test_angles_or_a_flat_field_in_a_file_of_their_own_are_told_how_regrun_reads_them(device, tmp_path, monkeypatch,
                                                                                        capsys):
    # problem.angles=angles.txt was told "did you mean problem.angles_key or problem.angle_start?", which read as
    # if either took the file; a flat field typed beside counts likewise
    np.save(tmp_path / "s.npy", _sinogram())
    np.savetxt(tmp_path / "angles.txt", np.arange(16) * 180.0 / 16)
    base = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fbp"]
    # (the file typed named in the line since newuser28, which also reads the angles file typed)
    for typed, said in (("problem.angles=angles.txt", "numpy.savez('scan.npz', sinogram=numpy.load('s.npy'), "
                                                       "angles=numpy.loadtxt('angles.txt'))"),
                        ("problem.flat_field=flat.tif", "numpy.save('scan.npy', -numpy.log(counts / flat))")):
        code, err = _run([*base, typed], tmp_path, monkeypatch, capsys, device)
        assert code == 2 and said in err and "did you mean" not in err, err
        assert len(err.strip().splitlines()) == 1, err
    # problem.flat is a key since ctflats (docs/ct.md "(ctflats)"): the flats' file is read, a missing one named
    code, err = _run([*base, "problem.flat=flat.tif"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "regrun: error: problem.flat: file not found: flat.tif" in err, err


def test_a_matlab_radon_file_is_told_to_save_its_transpose(device, tmp_path, monkeypatch, capsys):
    # MATLAB's radon and fanbeam write R as (n_u, views); the .mat hint saved it as it stood, and that file was then
    # refused as "30 angles but 95 views" with no word of the transpose
    import scipy.io

    sino = _sinogram()  # (16, 30): (views, n_u)
    scipy.io.savemat(tmp_path / "scan.mat", {"R": sino.T, "theta": np.arange(16) * 180.0 / 16})
    base = ["problem=ct_fewview", "problem.data=file", "solver=fbp"]
    code, err = _run([*base, "problem.sinogram=scan.mat"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "sinogram=scipy.io.loadmat('scan.mat')['R'].T, angles=" in err, err
    np.savez(tmp_path / "as_it_stood.npz", sinogram=sino.T, angles=np.arange(16) * 180.0 / 16)
    code, err = _run([*base, "problem.sinogram=as_it_stood.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "its second axis holds 16" in err and "save sinogram.T" in err, err
    mat = scipy.io.loadmat(tmp_path / "scan.mat")  # the line the hint gives, run: the file reads
    np.savez(tmp_path / "scan.npz", sinogram=mat["R"].T, angles=mat["theta"].ravel())
    code, err = _run([*base, "problem.sinogram=scan.npz", "problem.size=20"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err


def test_a_learned_weight_solved_on_the_finer_grid_says_where_it_was_learned(device, tmp_path, monkeypatch, capsys):
    # grid_search learns on the output's pixel grid; fista_tv on a file solves on tv_grid=auto's 2x grid, without a
    # word (newuser24's file: 28.91 dB there, 31.11 on the pixel grid)
    import h5py

    run = tmp_path / "learn"
    run.mkdir()
    with h5py.File(run / "results.h5", "w") as f:  # a grid_search run's results as learned_lam reads them
        f.attrs.update(schema_version=1, status="completed", problem="ct_fewview", solver="grid_search")
        f["metrics/lam_learned"] = 0.7
    np.save(tmp_path / "s.npy", _sinogram())
    code, out = _run([*CT, f"solver.lam=from:{run}"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "(that run's /metrics/lam_learned; learned on the output's pixel grid, solved here on the " \
                         "2x grid of solver.tv_grid=auto: solver.tv_grid=1 solves it where it was learned)" in out, out
    code, out = _run([*CT, f"solver.lam=from:{run}", "solver.tv_grid=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "(that run's /metrics/lam_learned);" in out, out


def test_a_voxel_size_that_puts_the_answer_in_other_units_than_the_truth_is_named(device, tmp_path, monkeypatch,
                                                                                  capsys):
    # problem.voxel=0.5 (a pixel size in mm) on a per-pixel scan and truth: PSNR 7.3 dB against 24.1 at voxel 1,
    # without a word (the answer is 2x the truth, at the edge of truth_scale's [1/2, 2])
    np.save(tmp_path / "s.npy", _sinogram())
    base = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fbp"]
    code, out = _run(base, tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    answer = np.load(_out(out) / "reconstruction.npy")  # the answer at voxel 1, a little off, as the truth
    np.save(tmp_path / "truth.npy", answer + 0.01 * answer.max() * np.random.default_rng(SEED).random(answer.shape))
    code, out = _run([*base, "problem.voxel=0.5", "problem.truth_file=truth.npy"], tmp_path, monkeypatch, capsys,
                     device)
    assert code == 0 and "about 1/problem.voxel: problem.voxel=0.5 reads the line integrals as per unit of length" \
        in out, out
    np.save(tmp_path / "truth_mm.npy", np.load(tmp_path / "truth.npy") / 0.5)  # the truth in the voxel's units
    code, out = _run([*base, "problem.voxel=0.5", "problem.truth_file=truth_mm.npy"], tmp_path, monkeypatch, capsys,
                     device)
    assert code == 0 and "WARNING" not in out, out


def test_counts_are_told_the_numpy_line_and_the_level_the_detector_ends_give(device, tmp_path, monkeypatch, capsys):
    # 16-bit counts with a flat field were told "-log(counts / counts_without_object)" in words alone
    counts = np.round(20000 * np.exp(-0.05 * _sinogram())).astype(np.uint16)
    np.save(tmp_path / "counts.npy", counts)
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=counts.npy", "solver=fbp"],
                     tmp_path, monkeypatch, capsys, device)
    (line,) = [ln for ln in err.splitlines() if ln.startswith("regrun: error:")]
    assert code == 2 and "numpy.save('scan.npy', -numpy.log(counts / flat))" in line, err
    assert "the unobstructed ends' level, 2e+04 here" in line, err


def test_a_weight_carried_from_a_scan_in_other_units_is_warned(device, tmp_path, monkeypatch, capsys):
    # a weight from a scan in pixel units carried to the same object's scan from counts (-log(counts / flat), 33x
    # smaller): 20.47 dB, under FBP's 25.16, without a word
    import h5py

    np.save(tmp_path / "s.npy", _sinogram())
    for name, factor, warned in (("far", 30.0, True), ("near", 2.0, False)):
        run = tmp_path / name
        run.mkdir()
        with h5py.File(run / "results.h5", "w") as f:
            f.attrs.update(schema_version=1, status="completed", problem="ct_fewview", solver="fista_tv")
            f["metrics/lam_chosen"] = 0.7
            f["data/sinogram"] = factor * _sinogram()
        code, out = _run([*CT, f"solver.lam=from:{run}"], tmp_path, monkeypatch, capsys, device)
        assert code == 0, out
        assert ("regrun: WARNING: the weight carried from" in out and "0.0333 times" in out
                and "solver.lam=0.02333 (scaled)" in out) == warned, out


def test_a_detector_of_matlabs_radon_width_names_the_grid_matlab_projected(device, tmp_path, monkeypatch, capsys):
    # MATLAB's radon of a 64^2 image writes 95 bins, which read as radon(circle=False) of 67^2 without a word
    from regrun.problems.ct_fewview import matlab_radon_grid

    assert [matlab_radon_grid(w) for w in (95, 185, 367, 729)] == [64, 128, 256, 512]
    sino = np.pad(_sinogram(16, 30), ((0, 0), (13, 12)))  # 55 bins: MATLAB's for a 36^2 image, radon's for 38^2
    np.save(tmp_path / "m.npy", sino)
    code, out = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=m.npy", "solver=fbp"], tmp_path,
                     monkeypatch, capsys, device)
    assert code == 0 and "55 bins is also MATLAB's radon of a 36x36 image: type problem.size=36 for a file from " \
                         "MATLAB" in out, out


def test_a_cone_answer_is_one_tiff_page_a_slice(device, tmp_path):
    from PIL import Image

    from regrun.imaging.answer import write_answer

    volume = np.random.default_rng(SEED).random((6, 5, 3))  # [..., k] slice k along the axis, as the answer
    write_answer(tmp_path, "ct_fewview", volume)
    with Image.open(tmp_path / "reconstruction.tif") as tif:
        pages = []
        for k in range(tif.n_frames):
            tif.seek(k)
            pages.append(np.asarray(tif, dtype=np.float64))
    assert np.allclose(np.stack(pages, -1), volume, rtol=1e-6)
    write_answer(tmp_path, "superres", volume[..., 0])  # no copy for a problem whose picture is written elsewhere
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reconstruction.npy", "reconstruction.tif"]


def test_an_answer_equal_to_its_truth_is_completed_not_diverged(device, tmp_path, monkeypatch, capsys):
    # a run given its own earlier answer as the truth has PSNR +inf (no error at all) and ended "diverged"
    import h5py

    np.save(tmp_path / "s.npy", _sinogram())
    fbp = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fbp"]
    code, out = _run(fbp, tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    first = _out(out) / "reconstruction.npy"
    code, out = _run([*fbp, f"problem.truth_file={first}"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, out
    with h5py.File(_out(out) / "results.h5") as f:
        assert f.attrs["status"] == "completed", dict(f.attrs)
        assert f["metrics/psnr"][()] == np.inf


def test_a_rule_typed_as_the_ct_weight_names_the_rule_setting(device, tmp_path, monkeypatch, capsys):
    # solver.lam=cv was told only the forms a weight takes, not that cv is written solver.lam_rule=cv (newuser23)
    np.save(tmp_path / "s.npy", _sinogram())
    code, out = _run([*CT, "solver.lam=cv"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "cv is a rule that chooses the weight, written solver.lam_rule=cv beside solver.lam=auto" \
        in out, out
