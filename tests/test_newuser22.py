"""newuser22's pass on data of their own (session 37): what newuser21 left and a fresh user met, each case failing
on main (docs/superres.md, "A new user's pass on data of their own (newuser22)")."""
import numpy as np

from cli_in_process import regrun_in_process

SEED = 9675


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def _sinogram(views: int = 16, bins: int = 30) -> np.ndarray:
    """A parallel scan of an off-centre ellipse (line integrals, (views, bins)) over 180 degrees, zero past it."""
    u = np.arange(bins) - (bins - 1) / 2
    theta = np.deg2rad(np.arange(views) * 180.0 / views)[:, None]
    shift = 3 * np.cos(theta)
    width = np.sqrt((8 * np.cos(theta)) ** 2 + (5 * np.sin(theta)) ** 2)
    return 2 * 8 * 5 / width ** 2 * np.sqrt(np.clip(width ** 2 - (u - shift) ** 2, 0, None))  # area 40 pi each


def test_a_text_table_is_told_the_numpy_line_that_saves_it(device, tmp_path, monkeypatch, capsys):
    # a CSV as frames or as the sinogram was told the forms regrun reads, not that numpy reads a table in one call
    np.savetxt(tmp_path / "scan.csv", _sinogram(), delimiter=",")
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=scan.csv", "solver=fbp"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "numpy.save('scan.npy', numpy.loadtxt('scan.csv', delimiter=','))" in err, err
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=scan.csv", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "a text table, which regrun does not read (a table is one frame)" in err and "numpy.stack([" in err, err


def _frames(count: int = 4, side: int = 12) -> np.ndarray:
    """`count` grey frames of a smooth random scene, each moved by a pixel, in 0-255."""
    rng = np.random.default_rng(SEED)
    scene = 128 + 10 * np.cumsum(np.cumsum(rng.standard_normal((side + 8, side + 8)), 0), 1) / 20
    return np.stack([scene[k:k + side, 1:side + 1] for k in range(count)])


def test_two_channel_frames_are_refused_not_solved_as_colour(device, tmp_path, monkeypatch, capsys):
    # grey beside a constant channel (an LA export's alpha kept as data) ran as a 2-channel colour burst
    frames = _frames()
    np.save(tmp_path / "la.npy", np.stack([frames, np.full_like(frames, 255.0)], -1))
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=la.npy", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "2 channels a pixel, which is neither grey nor colour" in err and "frames[..., 0]" in err, err


def test_a_pair_of_one_image_twice_is_warned_before_the_solve(device, tmp_path, monkeypatch, capsys):
    # one file given as template and reference (or two copies) registered for 30 s to the identity without a word
    from PIL import Image

    image = Image.fromarray(np.clip(_frames(1, 24)[0], 0, 255).astype(np.uint8))
    image.save(tmp_path / "a.png")
    image.save(tmp_path / "b.png")
    for pair, said in ((("a.png", "a.png"), "are the same file"), (("a.png", "b.png"), "are identical pixels")):
        code, err = _run(["problem.data=files", f"problem.template={pair[0]}", f"problem.reference={pair[1]}",
                          "solver.max_iter=2", "problem.init=identity"], tmp_path, monkeypatch, capsys, device)
        assert code == 0, err
        assert said in err and "gives the identity, with nothing measured" in err, err
        assert err.count("gives the identity") == 2, err  # before the solve, and among the run's warnings
    # one image turned by problem.rotate_template is a pair to register: no word
    code, err = _run(["problem.data=files", "problem.template=a.png", "problem.reference=a.png",
                      "problem.rotate_template=10", "solver.max_iter=2", "problem.init=identity"], tmp_path, monkeypatch,
                     capsys, device)
    assert "gives the identity" not in err, err


def test_a_typed_weight_far_below_the_searched_range_is_warned(device, tmp_path, monkeypatch, capsys):
    # lambda_f=1e-30 ran without a word, where auto's search at its range's bottom warns
    from regrun.problems.superres import tiny_weight_warning

    np.save(tmp_path / "f.npy", _frames())
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=f.npy", "problem.lambda_f=1e-30",
                      "time_limit=1"], tmp_path, monkeypatch, capsys, device)
    assert "problem.lambda_f=1e-30 is under 0.001 of problem.lam_range's bottom (0.001" in err, err
    # 4 frames at factor 2 cannot determine the image: the advice was "use problem.lambda_f > 0", typed as 1e-30
    assert "one too small to count" in err and "use a larger problem.lambda_f" in err, err
    assert tiny_weight_warning(1e-2, 1e-3) == tiny_weight_warning(0.0, 1e-3) == tiny_weight_warning(None, 1e-3) == ""
    assert tiny_weight_warning(9e-7, 1e-3)


def test_metrics_against_a_truth_in_other_units_are_marked_where_printed(device, tmp_path, monkeypatch, capsys):
    # a 16-bit truth of 8-bit frames printed "psnr = -43.9" bare, above the warning that names the scale
    frames = _frames(6)
    np.save(tmp_path / "f.npy", frames)
    np.save(tmp_path / "truth.npy", 257 * np.kron(frames[0], np.ones((2, 2))))
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=f.npy", "problem.lambda_f=0.1",
                      "problem.truth=truth.npy", "problem.factor=2", "problem.motion_model=translation",
                      "problem.frames_check=false", "solver.max_iter=3"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    lines = {line.split("=")[0].strip(): line for line in err.splitlines() if line.startswith("  ")}
    for key in ("psnr", "ssim", "rel_error", "psnr_bicubic"):
        assert lines[key].endswith("(against a truth in other units: see the WARNING below)"), lines[key]
    assert "against a truth" not in lines["data_rel_residual"] and "truth_scale" in lines, err
    assert "times problem.truth" in err, err


def test_views_over_two_turns_and_two_views_at_one_angle_are_warned(device, tmp_path, monkeypatch, capsys):
    # angle_range=720 on a half-turn file and an angle list with one angle twice both ran without a word
    from regrun.problems.ct_fewview import repeated_angles_warning

    sino = _sinogram()
    np.save(tmp_path / "s.npy", sino)
    angles = np.arange(16) * 180.0 / 16
    angles[5] = angles[4]
    np.savez(tmp_path / "dup.npz", sinogram=sino, angles=angles)
    base = ["problem=ct_fewview", "problem.data=file", "solver=fbp", "problem.size=20"]
    code, err = _run([*base, "problem.sinogram=s.npy", "problem.angle_range=720"], tmp_path, monkeypatch, capsys,
                     device)
    assert code == 0, err
    assert "spreads the 16 views of problem.sinogram=s.npy (no angles in it) over 2 turns: view k and view k + 8 " \
        "stand at one angle" in err, err
    code, err = _run([*base, "problem.sinogram=dup.npz"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "views 4 and 5 are both at 45 degrees (its 'angles')" in err, err
    code, err = _run([*base, "problem.sinogram=s.npy"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and " turns" not in err and "degrees (its" not in err, err  # the file as it is: no word
    assert repeated_angles_warning(np.arange(37) * 10.0, "f", "angles").startswith(
        "problem.sinogram=f: views 0 and 36 are both at 0 degrees (its 'angles', a turn apart counted as one)")
    assert repeated_angles_warning(np.arange(36) * 10.0, "f", "angles") == ""


def test_the_ct_error_panel_says_where_the_error_is_scored(device):
    # a file solved and scored on the whole square (problem.support=auto) had its error panel titled "inside the mask"
    import types

    from regrun.problems.ct_fewview import CTFewView

    assert CTFewView.error_title(types.SimpleNamespace(support="square", mask_radius=0.95)) == "error (the whole square)"
    assert CTFewView.error_title(types.SimpleNamespace(support="disk", mask_radius=0.95)) == \
        "error (inside the disk of 0.95 of the half width)"


def test_the_end_line_says_the_iteration_count_and_the_progress_counts_weights(device, tmp_path, monkeypatch,
                                                                                capsys):
    # "solver max_iter: lam=1 as given; 140 FISTA iterations x 5 cv iterations" read as a failure (and "cv" as the
    # cross-validation); lam=auto's progress counted 9, then 18, of something, the results 19 solves
    np.save(tmp_path / "s.npy", _sinogram())
    base = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fista_tv",
            "solver.iters=4", "solver.inner_iters=2", "progress=true"]
    code, err = _run([*base, "solver.lam=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert ("regrun: solver stopped at its iteration count (max_iter): lam=1 as given; 4 FISTA iterations x 2 "
            "TV-prox iterations (prox cv)") in err, err
    code, err = _run([*base, "solver.lam=auto", "solver.lam_solves=3", "solver.tv_grid=1"], tmp_path, monkeypatch,
                     capsys, device)
    assert code == 0, err
    assert "weights tried (the progress line's count; a solve is one FISTA run of 4 iterations)" in err, err


def test_an_rgba_array_reads_as_its_rgb_and_a_registration_array_is_told_how_to_save_it(tmp_path, device,
                                                                                       monkeypatch, capsys):
    # an RGBA .npy's opaque alpha ran as a fourth colour channel (a quarter of the luminance, a plane of the
    # answer); a .npy given as a registration image was Pillow's "cannot identify image file"
    from regrun.imaging.io import read_frames

    grey = _frames()
    rgb = np.stack([grey, 0.9 * grey, 0.8 * grey], -1)
    np.save(tmp_path / "rgba.npy", np.concatenate([rgb, np.full_like(grey, 255.0)[..., None]], -1))
    np.save(tmp_path / "rgb.npy", rgb)
    assert np.array_equal(read_frames(tmp_path / "rgba.npy", colour=True), read_frames(tmp_path / "rgb.npy",
                                                                                      colour=True))
    np.save(tmp_path / "a.npy", grey[0])
    code, err = _run(["problem.data=files", "problem.template=a.npy", "problem.reference=a.npy"], tmp_path,
                     monkeypatch, capsys, device)
    assert code == 2 and "an array file, where an image file is read here" in err, err
    assert "PIL.Image.fromarray(numpy.load('a.npy').astype('float32')).save('a.tif')" in err, err


def test_angles_typed_in_radians_are_named(device, tmp_path, monkeypatch, capsys):
    # angle_range=3.14159 spread 16 views over 3.1 degrees and ran; angle_start=1.5708 turned the scan 1.6 degrees
    np.save(tmp_path / "s.npy", _sinogram())
    base = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fbp", "problem.size=20"]
    code, err = _run([*base, "problem.angle_range=3.14159"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "spreads 16 views over 3.14159 degrees, which reads as radians" in err, err
    code, err = _run([*base, "problem.angle_start=1.5708"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "problem.angle_start=1.5708 is pi/2 in radians, but regrun takes degrees" in err, err
    assert "type problem.angle_start=90" in err, err
    code, err = _run([*base, "problem.angle_start=90"], tmp_path, monkeypatch, capsys, device)
    assert code == 0 and "in radians" not in err, err


def test_a_key_without_its_group_or_in_another_problems_name_is_pointed_home(device, tmp_path, monkeypatch,
                                                                             capsys):
    # `--explain lambda_f` was told that `regrun --explain lambda_f` lists a group's keys; superres's
    # problem.truth_file (CT's name) was told "add problem=ct_fewview"
    code, err = _run(["--explain", "lambda_f"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "it is problem.lambda_f of problem=superres: `regrun --explain problem.lambda_f " \
        "problem=superres`" in err, err
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=f.npy", "problem.truth_file=t.png"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "superres (this run's problem) calls it problem.truth;" in err, err
    assert "add problem=ct_fewview" not in err, err


def test_another_fields_names_are_offered_regruns_own(device, tmp_path, capsys):
    # motion_model=similarity was listed the models; lam_rule=lcurve told "did you mean 'sure'?"; regrun-collect of
    # a results.h5 was "is not a folder" without the folder
    import pytest

    from regrun import collect
    from regrun.errors import UserError, check_choice

    with pytest.raises(UserError, match=r"did you mean 'affine'\? \(regrun has no similarity model"):
        check_choice("problem.motion_model", "similarity", ("translation", "rigid", "affine", "auto"))
    with pytest.raises(UserError, match=r"did you mean 'gcv'\? \(regrun has no L-curve rule"):
        check_choice("problem.lam_rule", "lcurve", ("discrepancy", "gcv", "sure"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "results.h5").write_bytes(b"")
    with pytest.raises(SystemExit):
        collect.main([str(tmp_path / "run" / "results.h5")])
    assert f"is not a folder: give its folder, regrun-collect {tmp_path / 'run'}" in capsys.readouterr().err


def test_auto_says_how_to_type_its_weight_for_its_answer_on_the_pixel_grid(device, tmp_path, monkeypatch, capsys):
    # the weight lam=auto chose, typed, solved on the 2x grid tv_grid=auto gives, where auto's pixel-grid check had
    # kept the pixel grid: 31.12 dB against auto's 33.54 on newuser22's 64^2 file, without a word
    import re
    from pathlib import Path

    np.save(tmp_path / "s.npy", _sinogram())
    base = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=20", "solver=fista_tv",
            "solver.iters=4"]
    code, err = _run([*base, "solver.lam_solves=3"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    said = re.search(r"the weight typed, solver\.lam=([0-9.e+-]+), gives this answer with solver\.tv_grid=1 "
                     r"\(tv_grid=auto solves it on the 2x grid\)", err)
    assert said, err
    answers = []
    for extra in ([], ["solver.tv_grid=1"]):
        code, out = _run([*base, f"solver.lam={said.group(1)}", *extra], tmp_path, monkeypatch, capsys, device)
        assert code == 0, out
        answers.append(np.load(Path(out.split(" -> ")[-1].split()[0]) / "reconstruction.npy"))
    auto = np.load(Path(err.split(" -> ")[-1].split()[0]) / "reconstruction.npy")
    assert np.allclose(answers[1], auto, rtol=1e-4, atol=1e-6 * np.abs(auto).max())
    assert not np.allclose(answers[0], auto, rtol=1e-4, atol=1e-6 * np.abs(auto).max())
