"""Second new-user pass (issue 19, userpass): each problem a user met with their own data, as a test that failed
before its fix (docs/sweeps.md, "Second new-user pass")."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.io import read_frames


def _png(path: Path, width: int, height: int, salt: int = 0) -> None:
    rng = np.random.default_rng(width * 100 + height + 10007 * salt)
    Image.fromarray(rng.integers(0, 255, (height, width), dtype=np.uint8)).save(path)


def test_mismatched_frame_sizes_are_named_width_by_height(tmp_path):
    # a frame saved as 62 wide by 60 tall was called "60x62 pixels (width x height)"
    _png(tmp_path / "f00.png", 64, 64)
    _png(tmp_path / "f01.png", 62, 60)
    with pytest.raises(UserError, match=r"f01.png is 62x60 pixels \(width x height\), frame f00.png 64x64"):
        read_frames(tmp_path)


def test_a_truth_of_the_wrong_size_is_named_width_by_height(tmp_path, device):
    from regrun.problems.superres import SuperRes

    frames = tmp_path / "frames"
    frames.mkdir()
    for k in range(3):
        # 8 wide, 6 tall: at factor 2 the result is 16x12; each frame its own pixels (copies of one frame are
        # refused since newuser13)
        _png(frames / f"f{k}.png", 8, 6, salt=k)
    _png(tmp_path / "truth.png", 16, 10)
    cfg = config_section("problem", "superres", data="frames", frames=str(frames), factor=2,
                         truth=str(tmp_path / "truth.png"))
    with pytest.raises(UserError, match=r"truth is 16x10 pixels \(width x height\); .* give 16x12"):
        SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_command_starts_is_one_line_and_a_recorded_interruption(tmp_path, monkeypatch, capsys,
                                                                                    signal_name):
    # Ctrl-C 7 s into a start on a loaded machine (inside `import torch`) printed a traceback and left
    # results.h5.partial saying `running` with no config; SIGTERM there killed the process the same way
    import os
    import signal

    import regrun.record as rr
    from regrun import cli
    from tests.cli_in_process import regrun_in_process

    def starting(*args, **kwargs):
        if signal_name == "SIGINT":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # the handler the command installed raises here
        raise AssertionError("SIGTERM was not turned into an interruption")

    monkeypatch.setattr(cli, "_app", starting)

    def half_imported_torch():  # a Ctrl-C inside `import torch`: importing it again crashed the process
        raise SystemError("bad call flags")

    monkeypatch.setattr(rr, "library_versions", half_imported_torch)
    before = signal.getsignal(signal.SIGTERM)
    out = regrun_in_process(["+ci=multiscale_affine__single_scale", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path,
                            monkeypatch, capsys)
    assert out.returncode == 130
    assert signal.getsignal(signal.SIGTERM) == before
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regrun: interrupted: ") and "before the run began" in lines[0]
    assert not (tmp_path / "run" / "results.h5.partial").exists()
    res = rr.load(tmp_path / "run")
    assert res["attrs"]["status"] == "interrupted" and len(res["attrs"]["run_id"]) == 64
    assert res["attrs"]["problem"] == "multiscale_affine" and "problem:" in res["config"]["resolved"]
    assert ("SIGTERM" if signal_name == "SIGTERM" else "Ctrl-C") in res["attrs"]["error"]
    assert "interrupted" in (tmp_path / "run" / "summary.md").read_text()


def test_a_ctrl_c_that_a_finaliser_swallows_still_stops_the_run_as_interrupted(tmp_path, monkeypatch, capsys):
    # newuser5: 2 of 13 Ctrl-Cs landed in a garbage-collection callback, where Python prints the KeyboardInterrupt
    # and drops it; the run went on and ended `completed` with exit 0
    import signal

    import regrun.record as rr
    from regrun import monitor as mon
    from tests.cli_in_process import regrun_in_process

    class PressesCtrlCWhileFinalised:
        def __del__(self):
            signal.raise_signal(signal.SIGINT)

    calls = []
    step = mon.ProgressBar.step

    def step_then_finalise(self, row):
        calls.append(1)
        if len(calls) == 2:
            PressesCtrlCWhileFinalised()  # dropped at once: its __del__ runs here and swallows the exception
        return step(self, row)

    monkeypatch.setattr(mon.ProgressBar, "step", step_then_finalise)
    before = signal.getsignal(signal.SIGINT)
    out = regrun_in_process(["+ci=multiscale_affine__single_scale", f"hydra.run.dir={tmp_path / 'run'}"], tmp_path,
                            monkeypatch, capsys)
    assert len(calls) == 2, "the run went on after the swallowed Ctrl-C"
    assert out.returncode == 130
    assert signal.getsignal(signal.SIGINT) == before
    res = rr.load(tmp_path / "run")
    assert res["attrs"]["status"] == "interrupted" and "Ctrl-C" in res["attrs"]["error"]


def test_sigterm_to_a_sweep_stops_it_with_its_summary_and_says_how_many_run_at_once(tmp_path, capsys):
    # `kill` of a joblib sweep's process: it died silently (exit -15, no summary) and its orphaned workers went on
    # running jobs; its first line said "4 at a time" for hydra.launcher.n_jobs=2
    import os
    import signal

    from regrun import sweep

    class Launcher:
        def launch(self, overrides, initial_job_idx):
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not stop the sweep")

    jobs = [sweep.Job(i, [f"seed={i}"], run_id=f"{i:064d}") for i in range(4)]
    report = sweep.SweepReport(tmp_path, jobs)
    before = signal.getsignal(signal.SIGTERM)
    sweep._launch(Launcher(), jobs, tmp_path, 4, False, report, width=2)
    assert "4 to run, 2 at a time" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) == before
    assert report.interrupted and report.exit_code() == 130
    assert [j.state for j in jobs] == ["not_run"] * 4
    assert "interrupted by SIGTERM: run the same command again" in sweep.format_report(report)


def test_summary_and_metrics_json_show_a_result_of_a_few_numbers(tmp_path):
    # a user's own pair registered, and the answer (w_affine: y = A x + b) was in neither summary.md nor
    # metrics.json: only Python could read it
    import json

    from regrun.summary import write_run_summary

    w = np.array([0.9063, -0.4226, 0.4226, 0.9063, 12.5, -3.25])
    write_run_summary(tmp_path, status="completed", message="", error="", facts={"problem": "p", "solver": "s"},
                      metrics={"J": 1.0}, paper={}, claims={}, wall_time=1.0,
                      result={"w_affine": w, "registered": np.zeros((8, 8)), "step": torch.tensor([1.0, 2.0])})
    text = (tmp_path / "summary.md").read_text()
    assert "## Result" in text and "`w_affine` = [0.9063, -0.4226, 0.4226, 0.9063, 12.5, -3.25]" in text
    assert "registered" not in text  # an image stays in results.h5 and the figures
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["result"] == {"w_affine": w.tolist(), "step": [1.0, 2.0]}


def test_explain_takes_the_solver_the_run_would_take_and_names_the_options_that_have_a_key(tmp_path, monkeypatch,
                                                                                           capsys):
    # `regrun --explain solver.registrar problem=crab_detection` said "unknown config key" (the README's key of
    # the solver that `regrun problem=crab_detection` runs); a key of another solver was "unknown" as well
    from tests.cli_in_process import regrun_in_process

    out = regrun_in_process(["--explain", "solver.registrar", "problem=crab_detection"], tmp_path, monkeypatch, capsys)
    assert out.returncode == 0 and out.stdout.startswith("solver.registrar = 'descent'")
    out = regrun_in_process(["--explain", "solver.lam", "problem=ct_fewview"], tmp_path, monkeypatch, capsys)
    assert out.returncode == 2
    assert out.stderr.strip() == ("regrun: error: solver.lam is not a key of solver=fbp; it is one of "
                                  "solver=fista_tv (add that to the command)")


def test_a_bad_lambda_f_names_every_kind_of_value_it_takes():
    # problem.lambda_f=bad was told "a number >= 0 or 'auto'", leaving out from:RUN, which it also takes
    from regrun.optim.parameter_choice import check_weight

    for bad in ("bad", "nan"):
        with pytest.raises(UserError, match=r"'auto' \(chosen from the data\) or from:RUN"):
            check_weight("problem.lambda_f", bad)


def test_help_into_a_pipe_closed_early_is_quiet(tmp_path):
    # `regrun --help | head` printed a BrokenPipeError traceback
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "from regrun.cli import main; main()", "--help"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader leaves before the help is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_run_goes_on_when_the_consoles_reader_leaves(tmp_path, monkeypatch):
    # `regrun ... | head -2`: the third line raised BrokenPipeError and the run ended `failed`
    import sys

    from regrun.monitor import Reporter

    class Pipe:  # a pipe whose reader has left: every write raises, as sys.stdout does then
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    reporter = Reporter(tmp_path / "regrun.log", stream=Pipe(), progress=False)
    with reporter.phase("data"):
        pass
    monkeypatch.setattr(sys, "stdout", Pipe())
    with reporter.capture():  # a solver's or library's own print goes through the same pipe
        print("a library's line")
    reporter.line("  J = 1")
    reporter.close()
    log = (tmp_path / "regrun.log").read_text()
    assert "regrun: data done in" in log and "a library's line" in log and "J = 1" in log


def test_a_sweeps_console_outlives_its_reader():
    # `regrun -m hydra/launcher=joblib ... | head -1`: the jobs completed, then the sweep's process ended in a
    # BrokenPipeError traceback (exit 1) without its summary; the CLI now wraps a sweep's stdout in PipeSafe
    from regrun.monitor import PipeSafe

    class Pipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    out = PipeSafe(Pipe())
    print("regrun: sweep: 1/3 jobs run", file=out, flush=True)
    assert out.write("x") == 1


def test_frames_messages_name_every_form_and_a_npy_has_no_key(tmp_path, device):
    # userpass3: `problem.data=frames` without problem.frames named a folder or .npz/.h5 but not .npy (read since
    # newuser); a 2-D .npy was called "frames2d.npy:frames", a key a .npy file does not have
    from regrun.problems.superres import SuperRes

    cfg = config_section("problem", "superres", data="frames")
    with pytest.raises(UserError, match=r"problem.frames=PATH \(a folder of PNG/TIFF frames, a .npy file or a "
                                        r".npz/.h5 file with key 'frames'\)"):
        SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))
    np.save(tmp_path / "f2.npy", np.zeros((20, 30)))
    with pytest.raises(UserError, match=r"f2.npy has shape \(20, 30\); the frames must have 3 dimensions"):
        read_frames(tmp_path / "f2.npy")


def test_a_mistyped_data_word_is_named_with_the_nearest(tmp_path, device, monkeypatch):
    # userpass3: `regrun problem=superres problem.data=frame` said "image file not found: frame"
    from regrun.problems.superres import SuperRes

    monkeypatch.chdir(tmp_path)
    cfg = config_section("problem", "superres", data="frame")
    with pytest.raises(UserError, match=r"problem.data='frame': image file not found, and it is none of the words "
                                        r"synthetic, hands, frames; did you mean problem.data=frames\?"):
        SuperRes(cfg, RunContext(device, torch.float64, 0, tmp_path))


def test_the_output_folder_keys_the_readme_names_are_explained():
    # userpass3: `regrun --explain hydra.run.dir` (README: "hydra.run.dir=PATH puts a run where you like") said
    # "(no description in the YAML: please add one)"
    from regrun.config import config_dir
    from regrun.explain import explain, undocumented

    missing = undocumented(config_dir() / "config.yaml")
    assert not {"hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir"} & set(missing), missing
    assert "where you like" in explain("hydra.run.dir", [])


@pytest.mark.parametrize("name, value, allowed, hint", [
    ("problem.data", "file", ["synthetic", "fair", "files"], "; did you mean 'files'?"),  # CT's word, registration's
    ("solver.optimizer", "LM", ["trust_exact", "trust_ncg", "trust_krylov", "lm"], "; did you mean 'lm'?"),
    ("solver.optimizer", "bfgs", ["trust_exact", "trust_ncg", "trust_krylov", "lm"], ""),  # nothing near: no guess
])
def test_a_choice_spelled_nearly_right_is_named(name, value, allowed, hint):
    # userpass3: `problem.data=file` for a registration pair (CT's spelling) and `solver.optimizer=LM` listed the
    # choices without saying which one was meant
    from regrun.errors import check_choice

    with pytest.raises(UserError) as err:
        check_choice(name, value, allowed)
    assert str(err.value) == f"{name}={value!r} is not valid; allowed: {', '.join(allowed)}{hint}"


def test_colour_frames_saved_channels_first_are_refused(tmp_path):
    # userpass3: a (6, 3, 16, 20) .npy (torch's channels-first) completed as six 3x16 frames of 20 channels
    np.save(tmp_path / "burst.npy", np.random.default_rng(1).random((6, 3, 16, 20)))
    with pytest.raises(UserError, match=r"looks like \(frames, channels, rows, columns\).*numpy.moveaxis\(frames, 1, -1\)"):
        read_frames(tmp_path / "burst.npy", colour=True)
    np.save(tmp_path / "ok.npy", np.random.default_rng(1).random((6, 16, 20, 3)))
    assert read_frames(tmp_path / "ok.npy", colour=True).shape == (6, 3, 20, 16)


def test_a_grey_frame_in_a_colour_burst_is_named_grey(tmp_path):
    # userpass3: the message named the colour frame's channels only, and both sizes were equal
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(tmp_path / "0.png")
    Image.fromarray(rng.integers(0, 255, (16, 20), dtype=np.uint8)).save(tmp_path / "1.png")
    with pytest.raises(UserError, match=r"frame 1.png is 20x16 pixels, grey \(width x height\), frame 0.png 20x16 "
                                        r"pixels, 3 channels"):
        read_frames(tmp_path, colour=True)


def test_explain_of_a_mistyped_key_names_the_nearest():
    # userpass3: `regrun --explain solver.max_iters` said "unknown config key" without the nearest key, which a run
    # with `solver.max_iters=5` names
    from regrun.explain import explain

    with pytest.raises(UserError, match=r"unknown config key 'solver.max_iters'; did you mean `solver.max_iter`"):
        explain("solver.max_iters", [])
