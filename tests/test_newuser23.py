"""newuser23's pass on frames of their own (session 38): what newuser22 left and a fresh user met, each case failing
on main (docs/superres.md, "A new user's pass on frames of their own (newuser23)")."""
import numpy as np

from cli_in_process import regrun_in_process
from test_newuser22 import _run  # the CLI in process, with figures off, on the device fixture's device

SEED = 9699


def _frames(count: int = 4, side: int = 12) -> np.ndarray:
    """`count` grey frames in 0-255 of one smooth random scene, frame k moved k pixels down."""
    field = np.random.default_rng(SEED).standard_normal((side + 8, side + 8)).cumsum(0).cumsum(1)
    return np.stack([128 + field[k:k + side, 1:side + 1] / 2 for k in range(count)])


FRAMES = ["problem=superres", "problem.data=frames", "time_limit=1", "problem.motion_model=rigid",
          "problem.gain_again=false"]


def test_a_frames_key_for_a_npy_file_is_warned(device, tmp_path, monkeypatch, capsys):
    # problem.frames_key=data on a .npy (one array, no names) was ignored without a word (newuser22)
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.frames_key=data", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "problem.frames_key=data is not used" in err and "f.npy is a .npy file, one array" in err, err
    # a .npz holding the frames under that name is what the key is for: read, not warned
    np.savez(tmp_path / "f.npz", data=_frames())
    code, err = _run([*FRAMES, "problem.frames=f.npz", "problem.frames_key=data", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "frames_key=data is not used" not in err, err


def test_a_search_setting_beside_a_typed_weight_is_warned(device, tmp_path, monkeypatch, capsys):
    # problem.lam_rule=discrepancy beside problem.lambda_f=0.1 ran as if not typed (newuser22); on generated frames,
    # whose weight is 1e-2 unless typed, the rule typed alone chose nothing
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1", "problem.lam_rule=discrepancy",
                      "problem.lam_range=[0.01,1]"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert ("problem.lam_rule=discrepancy and problem.lam_range=[0.01, 1] are not used: the weight is fixed "
            "(problem.lambda_f=0.1)") in err, err
    assert err.count("are not used") == 2, err  # before the solve, and among the run's warnings
    code, err = _run(["problem=superres", "problem.lam_rule=sure", "solver.max_iter=1"], tmp_path, monkeypatch,
                     capsys, device)
    assert "problem.lam_rule=sure is not used: the weight is fixed (problem.lambda_f=0.01)" in err, err
    # a typed weight alone, or problem.lam_noise (the motion model's choice reads it at any weight): no word
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1", "problem.lam_noise=2"],
                     tmp_path, monkeypatch, capsys, device)
    assert "not used" not in err, err


def test_search_settings_with_auto_are_not_called_unused():
    from omegaconf import OmegaConf

    from regrun.config import compose
    from regrun.problems.superres import unused_search_warning

    cfg = compose(["problem=superres", "problem.lam_rule=discrepancy"]).problem
    assert unused_search_warning(cfg, None, None) == ""  # lambda_f=auto: the rule is read
    said = unused_search_warning(cfg, 0.3, "old_run")
    assert said.startswith("problem.lam_rule=discrepancy is not used: the weight is fixed (from old_run)"), said
    assert unused_search_warning(OmegaConf.merge(cfg, {"lam_rule": "gcv"}), 0.3, None) == ""


def test_a_text_list_of_frame_files_is_told_to_give_their_folder(device, tmp_path, monkeypatch, capsys):
    # a list of image files, one a line, was told it was a text table of numbers, "a table is one frame"
    from PIL import Image

    (tmp_path / "burst").mkdir()
    for k, frame in enumerate(_frames()):
        Image.fromarray(frame.clip(0, 255).astype(np.uint8)).save(tmp_path / "burst" / f"f{k}.png")
    (tmp_path / "list.txt").write_text("".join(f"burst/f{k}.png\n" for k in range(4)))
    code, err = _run([*FRAMES, "problem.frames=list.txt"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "list.txt lists the 4 image files of the folder burst" in err and "problem.frames=burst" in err, err
    assert "text table" not in err, err
    (tmp_path / "list.txt").write_text("burst/f3.png\nburst/f1.png\n")  # another order: a folder of their own
    code, err = _run([*FRAMES, "problem.frames=list.txt"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "lists 2 image files: regrun reads a folder of frames" in err, err


def test_a_rule_typed_as_the_weight_names_the_rule_setting(device, tmp_path, monkeypatch, capsys):
    # problem.lambda_f=gcv (or AUTO) got the forms of a weight alone
    np.save(tmp_path / "f.npy", _frames())
    for typed, said in (("gcv", "written problem.lam_rule=gcv beside problem.lambda_f=auto"),
                        ("AUTO", "write problem.lambda_f=auto, in lower case")):
        code, err = _run([*FRAMES, "problem.frames=f.npy", f"problem.lambda_f={typed}"], tmp_path, monkeypatch,
                         capsys, device)
        assert code == 2 and said in err, err


def test_a_truth_of_another_factor_names_the_factor_that_fits(device, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "f.npy", _frames())
    np.save(tmp_path / "truth.npy", np.ones((24, 24)) + np.arange(24))  # 2x the 12 px frames
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.truth=truth.npy", "problem.factor=3",
                      "problem.lambda_f=0.1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "the frames at problem.factor=3 give 36x36: the truth is 2 times the frames a side, problem.factor=2" in err


def test_a_nan_in_a_frame_stack_is_named_by_frame_row_and_column(device, tmp_path, monkeypatch, capsys):
    frames = _frames()
    frames[2, 5, 7] = np.nan
    np.save(tmp_path / "f.npy", frames)
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2 and "(the first nan at frame 2, row 5, column 7)" in err, err


def test_ctrl_c_in_the_second_look_keeps_the_first_answer(device, tmp_path, monkeypatch, capsys):
    # a Ctrl-C in the motion model's choice, after a complete first answer, left a results file without it
    import h5py

    from regrun.problems.superres import SuperRes

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SuperRes, "solve_again", stopped)
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.1", "hydra.run.dir=out"], tmp_path,
                     monkeypatch, capsys, device)
    assert code == 130, err
    assert "the first answer, complete before the run's second look at it, is kept" in err, err
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["first_solve/result/reconstruction"].shape == (24, 24)
        assert f["first_solve/metrics/frames_check_ratio"][()] > 0


def test_the_figure_says_the_psnr_beside_bicubic_and_the_weight(device, tmp_path, monkeypatch, capsys):
    # the reconstruction's panel said "rel. error 0.032" alone: not the PSNR a reader compares, nor the weight
    import regrun.problems.superres as superres

    titles = []

    def grid(panels, path, **kwargs):
        titles.extend(p["title"] for p in panels)
        return path

    monkeypatch.setattr(superres, "image_grid", grid)
    frames = _frames(4, 12)
    np.save(tmp_path / "f.npy", frames)
    np.save(tmp_path / "truth.npy", np.kron(frames[0], np.ones((2, 2))))
    done = regrun_in_process([*FRAMES, "problem.frames=f.npy", "problem.truth=truth.npy", "problem.lambda_f=0.1",
                              f"device={device.type}"], tmp_path, monkeypatch, capsys)
    assert done.returncode == 0, done.stderr
    shown = next(t for t in titles if t.startswith("reconstruction"))
    assert "PSNR" in shown and "dB (bicubic " in shown and shown.endswith("lambda_f 0.1 (fixed)"), shown


def test_collect_plots_auto_at_the_weight_it_chose_among_typed_weights(tmp_path, monkeypatch):
    # a sweep problem.lambda_f=auto,0.1,... was plotted by category: auto at one end, its weight nowhere on the axis
    import regrun.collect as collect

    drawn = {}

    def finish(plt, fig, axes, path, shared, **kwargs):
        drawn["x"] = sorted(float(x) for line in axes[0].get_lines() for x in line.get_xdata())
        drawn["label"] = axes[0].get_xlabel()
        plt.close(fig)
        return path

    monkeypatch.setattr(collect, "_finish", finish)
    runs = [collect.Run(tmp_path / str(k), {"status": "completed", "solver": "varpro_cg"},
                        {"problem.lambda_f": lam, "problem.name": "superres"}, [], metrics, {})
            for k, (lam, metrics) in enumerate((("auto", {"psnr": 32.6, "lam_chosen": 0.57}), (0.1, {"psnr": 27.1}),
                                                (1.0, {"psnr": 30.7})))]
    collect.plot_metrics(runs, ["problem.lambda_f"], ["psnr"], tmp_path)
    assert drawn["x"] == [0.1, 0.57, 0.57, 1.0], drawn  # the curve's three points and auto's star at 0.57
    assert drawn["label"] == "problem.lambda_f (auto at the weight it chose)", drawn
    assert collect.weight_used(runs[1], "problem.lambda_f") == 0.1


def test_the_weight_curve_table_says_what_its_columns_are():
    from regrun.record import describe

    assert describe("tables/lam_curve", "criterion", "superres").startswith("the rule's value at that weight")
    assert "influence matrix's trace" in describe("tables/lam_curve", "trace", "superres")
    assert describe("tables/other", "criterion", "superres").startswith("column 'criterion' of the table 'other'")


def test_a_matlab_stack_is_told_a_line_that_puts_its_frames_first(device, tmp_path, monkeypatch, capsys):
    # the line saved MATLAB's rows x columns x frames as it was: 10 frames of 24x24 read as 24 frames of 24x10
    import scipy.io

    frames = _frames(8, 24)
    scipy.io.savemat(tmp_path / "b.mat", {"burst": np.moveaxis(frames, 0, -1)})
    code, err = _run([*FRAMES, "problem.frames=b.mat"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    line = "numpy.moveaxis(scipy.io.loadmat('b.mat')['burst'], -1, 0)"
    assert line in err and "its 8 frames of 24x24 moved to the front" in err, err
    monkeypatch.chdir(tmp_path)
    assert np.array_equal(eval(line, {"numpy": np, "scipy": scipy}), frames)  # the line, run as printed


def test_from_a_run_whose_weight_was_typed_names_that_weight(device, tmp_path, monkeypatch, capsys):
    # problem.lambda_f=from:RUN of a run with lambda_f=0.3 typed was told "learned no weight" alone
    np.save(tmp_path / "f.npy", _frames())
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=0.3", "hydra.run.dir=typed"], tmp_path,
                     monkeypatch, capsys, device)
    assert code == 0, err
    code, err = _run([*FRAMES, "problem.frames=f.npy", "problem.lambda_f=from:typed"], tmp_path, monkeypatch, capsys,
                     device)
    assert code == 2, err
    assert "learned no weight" in err and "its weight was typed, problem.lambda_f=0.3: type it here too" in err, err
