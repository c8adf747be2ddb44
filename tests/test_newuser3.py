"""The eighth new-user pass (newuser3): each mistake a user made with their own data, as a test that failed before
its fix (docs/sweeps.md, "A new user's pass (newuser3)")."""
from __future__ import annotations

import numpy as np
import pytest

from regrun.errors import UserError
from tests.cli_in_process import regrun_in_process


def test_frames_stacked_last_are_refused_with_the_axis_to_move(tmp_path):
    # numpy.dstack of 8 frames 64x64 is (64, 64, 8): it ran as 64 frames of 64x8 pixels and completed, the
    # frames-check warning blaming "the motion or lambda_f"
    from regrun.imaging.io import read_frames

    frames = np.random.default_rng(20001).uniform(0, 1, (8, 40, 36))
    np.save(tmp_path / "last.npy", np.dstack(list(frames)))
    with pytest.raises(UserError, match=r"\(40, 36, 8\): that looks like \(rows, columns, frames\), 8 frames of "
                                        r"36x40 pixels .* numpy.moveaxis\(frames, -1, 0\)"):
        read_frames(tmp_path / "last.npy")
    np.save(tmp_path / "first.npy", frames)
    assert read_frames(tmp_path / "first.npy").shape == (8, 36, 40)  # FAIR's layout: (frames, columns, rows)


@pytest.mark.parametrize("args, said", [
    # a key typed without its group: "did you mean `figures`?"
    (["problem=superres", "frames=burst"], "unknown config key 'frames' in 'frames=burst'; did you mean "
                                           "`problem.frames`? (`regrun --cfg job` lists the keys)"),
    # a path with a space the shell split: Hydra's four lines ("missing EQUAL at '<EOF>'") and exit 1
    (["problem=superres", "problem.frames=my", "frames"],
     "'frames' is not key=value: if it belongs to 'problem.frames=my', the shell split a value with a space; "
     "quote it whole: \"problem.frames=my frames\""),
    (["oops"], "'oops' is not key=value: regrun takes overrides key=value"),
    # the shell leaves ~ after key= as it is: "LexerNoViableAltException"
    (["problem=superres", "problem.frames=~/burst"],
     "cannot parse 'problem.frames=~/burst': the shell does not expand ~ after key=, and unquoted it is not a "
     "value regrun takes: write problem.frames=$HOME/burst or quote it, \"problem.frames='~/burst'\""),
])
def test_a_users_first_typing_mistakes_are_one_line_saying_what_to_write(args, said, tmp_path, monkeypatch, capsys):
    result = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"regrun: error: {said}"), result.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_macs_hidden_files_beside_the_frames_are_not_frames(tmp_path):
    # a folder copied from a Mac holds `._f00.png` (metadata) beside each frame: "cannot identify image file"
    from PIL import Image

    from regrun.imaging.io import read_frames

    for k in range(3):
        Image.fromarray(np.full((6, 5), 40 * k + 10, np.uint8)).save(tmp_path / f"f{k}.png")
        (tmp_path / f"._f{k}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    frames = read_frames(tmp_path)
    assert frames.shape == (3, 5, 6) and frames[:, 0, 0].tolist() == [10, 50, 90]


def test_a_pattern_for_the_frames_names_the_folder_to_give(tmp_path):
    from regrun.imaging.io import read_frames

    (tmp_path / "burst").mkdir()
    with pytest.raises(UserError, match=r"burst/\*.png is a pattern, and regrun reads every frame of a folder: "
                                        r"give the folder, problem.frames=.*burst \("):
        read_frames(tmp_path / "burst" / "*.png")


def test_the_console_says_the_answer_and_what_the_solver_did(tmp_path):
    # a user's own pair ended on metric names: w_affine and the solver's message ("score 1.000, 1 detected",
    # "lambda_f: ... by gcv") were in summary.md only
    from omegaconf import OmegaConf

    from regrun.cli import _report_outcome
    from regrun.run import RunOutcome
    from regrun.summary import write_run_summary

    w = np.array([0.9702, -0.2429, 0.2422, 0.97, 19.71, 0.9136])
    write_run_summary(tmp_path, status="completed", message="solver converged: 4 levels; WARNING: poor fit",
                      error="", facts={"problem": "p", "solver": "s"}, metrics={"fit_quality": 0.4}, paper={},
                      claims={}, wall_time=1.0, result={"w_affine": w, "registered": np.zeros((8, 8))})
    lines = []

    class Reporter:
        def line(self, text, err=False, console=True):
            lines.append(text)

    outcome = RunOutcome("completed", tmp_path, tmp_path / "results.h5", {"fit_quality": 0.4}, wall_time=1.0,
                         warnings=["poor fit"])
    _report_outcome(OmegaConf.create({"paper": None}), outcome, Reporter())
    assert lines == ["  fit_quality = 0.4", "  w_affine = [0.9702, -0.2429, 0.2422, 0.97, 19.71, 0.9136]",
                     "regrun: solver converged: 4 levels", "regrun: WARNING: poor fit",
                     f"regrun: completed in 1.0 s -> {tmp_path}"]


@pytest.mark.parametrize("collect", [[], ["--collect"]])
def test_regrun_report_of_a_users_run_folder_says_where_that_run_is_shown(collect, tmp_path, capsys):
    # `regrun-report outputs/...` of a run of one's own started every paper preset into it (hours); with
    # --collect it said "run `regrun-report OUT` first"
    from regrun.report import main

    run = tmp_path / "outputs" / "2026-12-05" / "21-30-56_superres_varpro_cg_1a2b3c4d"
    run.mkdir(parents=True)
    (run / "results.h5").write_bytes(b"")
    for out in (run, tmp_path / "outputs"):
        with pytest.raises(SystemExit) as exc:
            main([*collect, str(out)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"regrun-report: error: {out} holds 1 run of regrun (")
        assert "a run of your own is shown by its summary.md" in err[0] and f"`regrun-collect {out}`" in err[0]
    assert sorted(p.name for p in run.iterdir()) == ["results.h5"]  # nothing written into it


def test_a_motion_file_without_w_says_what_w_is(tmp_path):
    # a user's own shifts ({"shifts_rc_fine_px": ...}) were told "holds no motion 'w'; keys found: ..." only
    import json

    from regrun.imaging.io import read_motion

    (tmp_path / "shifts.json").write_text(json.dumps({"shifts_rc_fine_px": [[0, 0], [0.5, -1]]}))
    with pytest.raises(UserError, match=r"keys found: shifts_rc_fine_px; 'w' is 6 numbers per frame after frame 0, "
                                        r"regrun's affine \(A11, A12, A21, A22, b1, b2\)"):
        read_motion(tmp_path / "shifts.json")


def test_frames_of_two_depths_are_refused(tmp_path):
    # 2 of 8 frames saved 8-bit among 16-bit ones completed without a warning (read 257x darker)
    from PIL import Image

    from regrun.imaging.io import read_frames

    for k in range(3):
        Image.fromarray(np.full((6, 5), 30000 + 1000 * k, np.uint16)).save(tmp_path / f"f{k}.png")
    Image.fromarray(np.full((6, 5), 120, np.uint8)).save(tmp_path / "f1.png")
    with pytest.raises(UserError, match=r"frame f1.png has 8 bits per sample, frame f0.png more than 8 bits "
                                        r"\(16-bit or float\): .* save every frame at one depth"):
        read_frames(tmp_path)
    Image.fromarray(np.full((6, 5), 31000, np.uint16)).save(tmp_path / "f1.png")
    assert read_frames(tmp_path)[:, 0, 0].tolist() == [30000, 31000, 32000]


def test_a_missing_frames_folder_names_the_one_it_nearly_spells(tmp_path):
    from regrun.imaging.io import read_frames

    (tmp_path / "sr_png").mkdir()
    with pytest.raises(UserError, match=r"frames not found: .*sr_pgn; did you mean .*sr_png\? \(a folder"):
        read_frames(tmp_path / "sr_pgn")
    with pytest.raises(UserError, match=r"frames not found: .*elsewhere \(a folder"):
        read_frames(tmp_path / "elsewhere")
