"""A new user's afternoon from a fresh clone (newuser7): a Ctrl-C while the commands load, regrun-collect and
regrun-report stopped mid-work, a sinogram of raw counts with negative values; each case failed before its fix
(docs/sweeps.md, "A new user's afternoon from a fresh clone (newuser7)")."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cli_in_process import regrun_in_process

ROOT = Path(__file__).resolve().parents[1]

# The console script as pip writes it (`from MODULE import FUNC; sys.exit(FUNC())`, read from pyproject.toml), with
# a SIGINT delivered when the command first imports `yaml` (hydra's, collect's and report's imports all reach it):
# a terminal's Ctrl-C while Python loads the command, at a fixed point instead of a timed one.
CONSOLE = r"""
import importlib, importlib.abc, os, re, signal, sys
PROG, WHEN = sys.argv[1], sys.argv[2]
scripts = open(sys.argv[3]).read().split("[project.scripts]")[1]
module, func = re.search(rf'^{re.escape(PROG)} = "([\w.]+):(\w+)"', scripts, re.M).groups()

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "yaml":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

if WHEN == "import":
    sys.meta_path.insert(0, CtrlC())
elif WHEN == "as is":
    pass
else:  # mid-work: the command's own work interrupted (regrun-collect reading its runs)
    import regrun.collect
    regrun.collect.collect = lambda *a, **k: os.kill(os.getpid(), signal.SIGINT) or __import__("time").sleep(5)
sys.argv = [PROG, *sys.argv[4:]]
sys.exit(getattr(importlib.import_module(module), func)())
"""


def _console(prog: str, when: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CONSOLE, prog, when, str(ROOT / "pyproject.toml"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("prog", ["regrun", "regrun-collect", "regrun-report"])
def test_ctrl_c_while_the_command_loads_is_one_line(prog, tmp_path):
    # within the first 0.3-1 s (Python importing hydra, torch, h5py) a Ctrl-C was the traceback of whatever was
    # being imported, killed by SIGINT: the console scripts' module (regrun.cli) was the heavy one
    got = _console(prog, "import", "--help", cwd=tmp_path)
    assert got.returncode == 130, got.stderr
    assert got.stderr == f"{prog}: interrupted: Ctrl-C while reading the command, before anything ran; nothing " \
                         "was written\n"


def test_a_command_that_ignores_ctrl_c_keeps_ignoring_it_while_it_loads(tmp_path):
    # a background job of a script starts with SIGINT ignored, which Python's start-up keeps: so does the entry
    import signal

    got = subprocess.run([sys.executable, "-c", CONSOLE, "regrun", "import", str(ROOT / "pyproject.toml"), "--help"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert got.returncode == 0 and got.stdout.startswith("regrun: run, reproduce"), got.stderr


def test_ctrl_c_while_collecting_is_one_line(tmp_path):
    # regrun-collect had no Ctrl-C handling at all: a traceback at any time
    got = _console("regrun-collect", "work", str(tmp_path), cwd=tmp_path)
    assert got.returncode == 130, got.stderr
    assert got.stderr.startswith("regrun-collect: interrupted: Ctrl-C; the tables and plots being written may be "
                                 "incomplete: run the same command again") and got.stderr.count("\n") == 1


def test_ctrl_c_in_a_report_waits_for_its_sweep_and_says_what_is_kept(tmp_path, monkeypatch, capsys):
    # the page's sweep gets the terminal's Ctrl-C too and records its job interrupted; subprocess.run killed it
    # at once (SIGKILL: a `.partial` left `running`) and regrun-report ended in a traceback
    from regrun import report

    calls = []

    class Sweep:
        def __init__(self, cmd, **kwargs):
            calls.append("start")

        def wait(self, timeout=None):
            calls.append(f"wait {timeout}")
            if len(calls) == 2:
                raise KeyboardInterrupt  # the Ctrl-C, while the report waits for its sweep
            return 130

        def poll(self):
            return 130

        def kill(self):
            calls.append("kill")

    monkeypatch.setattr(report.subprocess, "Popen", Sweep)
    with pytest.raises(SystemExit) as exc:
        report.main([str(tmp_path / "rep"), "--quick", "--preset", "crab_fig4"])
    assert exc.value.code == 130
    assert calls == ["start", "wait None", "wait 60"]  # waited for the sweep's own end, never killed it
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"regrun-report: interrupted: Ctrl-C in crab_fig4; the runs finished are kept in "
                   f"{tmp_path / 'rep' / 'runs'}: run the same command again to go on (finished jobs are skipped); "
                   f"no {tmp_path / 'rep' / 'report.html'} was written: `regrun-report --collect --quick --preset "
                   f"crab_fig4 {tmp_path / 'rep'}` writes the page of the runs finished")


def _disc_line_integrals(views: int = 24, n_u: int = 24) -> np.ndarray:
    u = np.arange(n_u) - (n_u - 1) / 2
    return np.tile(0.4 * 2 * np.sqrt(np.clip(7.0**2 - u**2, 0, None)), (views, 1))  # a centred disc of radius 7


def _refused_sinogram(sino: np.ndarray, tmp_path, monkeypatch, capsys) -> str:
    """The one stderr line of `regrun` refusing a 24-pixel parallel sinogram (exit 2)."""
    np.save(tmp_path / "counts.npy", sino)
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=counts.npy",
                             "problem.size=24", "solver=fbp"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    return got.stderr.strip()


def test_raw_counts_with_negative_values_say_to_clip_them(tmp_path, monkeypatch, capsys):
    # dark-subtracted counts through a dense object fall below 0; the message said "give -log(counts / ...)",
    # which is undefined there, without naming them
    counts = 1e4 * np.exp(-_disc_line_integrals() * 2) - 200.0
    assert (counts < 0).sum() > 0
    line = _refused_sinogram(counts, tmp_path, monkeypatch, capsys)
    assert "\n" not in line and "these look like raw detector counts" in line
    assert re.search(rf"its {(counts <= 0).sum()} counts <= 0 \(down to -\d+\.?\d*\) clipped to a small positive "
                     r"floor first \(-log is undefined there\)", line), line


def test_negative_values_through_the_object_are_named_where_the_axis_cannot_be_placed(tmp_path, monkeypatch,
                                                                                     capsys):
    # newuser6's case: counts of no clear object with a dark offset's negatives were refused for their total
    # attenuation varying between views, the negatives not named
    rng = np.random.default_rng(23079)
    counts = rng.poisson(2000.0 * np.exp(-rng.uniform(0, 2, (24, 24)))).astype(float) - 30.0
    counts[3, 12] = counts[9, 10] = -12.0  # in the detector's middle half
    line = _refused_sinogram(counts, tmp_path, monkeypatch, capsys)
    assert "\n" not in line and "the total attenuation varies by" in line
    assert "it holds 2 negative values (down to -12; 2 in the detector's middle half" in line, line
    assert "raw counts after a dark subtraction?" in line


def test_noise_below_zero_at_the_detectors_ends_is_not_named():
    # true line integrals dip below 0 by their noise where rays miss the object: no note there
    from regrun.problems.ct_fewview import negative_values

    sino = _disc_line_integrals() + np.random.default_rng(23078).normal(0, 0.05, (24, 24))
    assert (sino < 0).sum() > 0
    assert negative_values(sino) == ""
    sino[5, 12] = -0.5
    assert negative_values(sino).startswith("; it holds")


def test_an_h5_file_suggests_its_2d_array_as_the_sinogram_not_its_angles(tmp_path):
    # `angles` beside `entry/data` in one .h5: "name it with problem.sinogram_key=NAME, e.g. ...=angles"
    import h5py

    from regrun.errors import UserError
    from regrun.imaging.io import read_array

    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["angles"] = np.arange(4.0)
        f["entry/data"] = np.ones((4, 8))
    with pytest.raises(UserError, match=r"e\.g\. problem\.sinogram_key=entry/data$"):
        read_array(tmp_path / "s.h5", "sinogram", "problem.sinogram")
    with pytest.raises(UserError, match=r"e\.g\. problem\.angles_key=angles$"):
        read_array(tmp_path / "s.h5", "theta", "problem.angles_key")


@pytest.mark.parametrize("args, said", [
    # a problem's key without the problem: "did you mean `problem.name` or `problem.resize`?"
    (["problem.data=frames", "problem.frames=DIR"],
     "it is a key of problem superres, not of multiscale_affine (this run's problem); add problem=superres"),
    # CT's fista_tv weight on CT's default solver (fbp): "did you mean `solver.name` or `solver.tau`?"
    (["problem=ct_fewview", "solver.lam=1"],
     "it is a key of solver fista_tv, not of fbp (this run's solver); add solver=fista_tv"),
    # a key of a block the solver's YAML includes (common/lam_grid@grid)
    (["problem=ct_fewview", "solver.grid.points=3"],
     "it is a key of solver bilevel, not of fbp (this run's solver); add solver=bilevel"),
    # the solvers that hold it do not fit the problem: said so, with their problem
    (["problem=superres", "solver.lam=1"],
     "it is a key of solver fista_tv (problem ct_fewview), not of varpro_cg, this run's solver for problem "
     "superres; `regrun --explain solver problem=superres` lists varpro_cg's keys"),
])
def test_a_key_of_another_problem_or_solver_says_whose_it_is(args, said, tmp_path, monkeypatch, capsys):
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr.strip().endswith(said), got.stderr
    assert got.stderr.count("\n") == 1


def test_a_typo_still_gets_the_nearest_key(tmp_path, monkeypatch, capsys):
    got = regrun_in_process(["problem=superres", "problem.frmes=2"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and "did you mean `problem.frames`" in got.stderr


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_sweep_records_the_interruption_of_a_job_whose_worker_was_killed(tmp_path):
    # Ctrl-C in a joblib sweep: joblib ends its workers with SIGKILL as it aborts, often before the run records its
    # Ctrl-C; the job's results.h5.partial still said `running` (regrun-collect: killed), the sweep said interrupted
    import h5py

    from regrun.record import ResultsFile
    from regrun.sweep import end_killed_worker

    results = ResultsFile(tmp_path / "0_job")
    results.begin({"problem": "superres", "solver": "varpro_cg", "run_id": "7" * 64}, "seed: 0\n", [])
    with h5py.File(results.partial, "a") as f:
        f.attrs["pid"] = os.getpid()  # its writer still alive: left alone
    end_killed_worker(tmp_path / "0_job", "interrupted by Ctrl-C", wait_s=0.2)
    assert results.partial.is_file() and not results.path.exists()
    with h5py.File(results.partial, "a") as f:
        f.attrs["pid"] = _dead_pid()
    end_killed_worker(tmp_path / "0_job", "interrupted by Ctrl-C")
    assert not results.partial.exists()
    with h5py.File(results.path, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f.attrs["error"] == ("interrupted by Ctrl-C: the sweep's worker process was stopped before the run "
                                    "could record it")
        assert 0 <= f.attrs["wall_time"] < 600 and "config" in f


def test_a_sweep_job_stopped_before_its_run_began_is_interrupted_not_failed(tmp_path):
    # a worker stopped while its job imported regrun left the job's folder (its log) and no results file: the
    # sweep's table said "failed  error: interrupted"
    from regrun.sweep import Job, _record

    (tmp_path / "0_abcdef12").mkdir()
    job = Job(0, ["seed=1"], run_id="abcdef12" + "0" * 56)
    _record(job, tmp_path, None, "interrupted")
    assert (job.state, job.error) == ("interrupted", "stopped before its run began: no results file")
    _record(job, tmp_path, None, "launcher: RuntimeError: boom")
    assert job.state == "failed"


def _one_run(folder: Path, status: str = "completed", run_id: str = "5") -> None:
    from omegaconf import OmegaConf

    from regrun.record import ResultsFile

    results = ResultsFile(folder)
    results.begin({"problem": "p", "solver": "s", "run_id": run_id * 64}, OmegaConf.to_yaml({"seed": 0}), [])
    if status != "running":
        results.finish(status, wall_time=1.0)


def test_collect_names_every_status_on_the_console(tmp_path, capsys):
    # a killed run read "1 runs (0 completed)" on the console where summary.md said "(1 killed)"
    import h5py

    from regrun import collect

    _one_run(tmp_path / "a", run_id="1")
    _one_run(tmp_path / "b", "running", run_id="2")
    with h5py.File(tmp_path / "b" / "results.h5.partial", "a") as f:
        f.attrs["pid"] = _dead_pid()
    collect.main([str(tmp_path), "--no-plots"])
    assert "regrun-collect: 2 runs (1 completed, 1 killed) varying" in capsys.readouterr().out


def test_collect_into_a_reader_that_left_is_no_traceback(tmp_path, monkeypatch, capsys):
    # `regrun-collect DIR | head -3`: BrokenPipeError's traceback once head had left
    from regrun import console

    class Gone:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            raise ValueError("no descriptor")

    _one_run(tmp_path / "a", run_id="1")
    monkeypatch.setattr(console.signal, "signal", lambda *args: None)  # the test process keeps its own handlers
    monkeypatch.setattr(sys, "argv", ["regrun-collect", str(tmp_path), "--no-plots"])
    monkeypatch.setattr(sys, "stdout", Gone())
    with pytest.raises(SystemExit) as exc:
        console.collect()
    assert exc.value.code == 141
    assert capsys.readouterr().err == ""


def test_a_sweep_point_with_another_solvers_key_says_whose_it_is(tmp_path, monkeypatch, capsys):
    # the sweep's own check of each point: "did you mean `solver.name` or `solver.mask`?"
    got = regrun_in_process(["-m", "problem=ct_fewview", "solver.lam=1,2"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr.strip().endswith("Could not override 'solver.lam'. (it is a key of solver fista_tv, not of fbp "
                                       "(this run's solver); add solver=fista_tv)"), got.stderr


def test_a_setting_of_the_swept_solvers_is_one_line_and_plus_plus_sets_it(tmp_path, monkeypatch, capsys):
    # Hydra composes a sweep's shared settings with the default solver (single_scale): `solver=varpro_cg,two_stage
    # solver.cg_tol=0`, valid for both, stopped with Hydra's six lines (exit 1) advising +solver.cg_tol
    sweep = ["-m", "problem=superres", "solver=varpro_cg,two_stage", "dry_run=true"]
    got = regrun_in_process(sweep + ["solver.cg_tol=0"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr == ("regrun: error: solver.cg_tol=0 in a sweep over solver=varpro_cg,two_stage: Hydra composes "
                          "the settings the jobs share with solver single_scale, which has no solver.cg_tol; write "
                          "++solver.cg_tol=0 to set it in each job's solver\n")
    got = regrun_in_process(sweep + ["++solver.cg_tol=0"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0 and "regrun: 2 to run" in got.stdout
    # ++ on a swept solver that has no such key would add one nothing reads: refused, naming the job
    got = regrun_in_process(["-m", "problem=ct_fewview", "solver=fista_tv,fbp", "++solver.iters=5", "dry_run=true"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr.strip().endswith("solver fbp has no iters: ++solver.iters=5 would add a key nothing reads; "
                                       "sweep fbp separately, without it")


def test_report_collect_of_a_quick_page_without_quick_names_what_it_holds(tmp_path, capsys):
    # `regrun-report --collect OUT` over a page made with `--quick --preset superres__varpro_cg`: a page of 14 empty
    # presets, "0 reproduced", exit 0
    from regrun import report

    (tmp_path / "runs" / "superres__varpro_cg").mkdir(parents=True)
    with pytest.raises(SystemExit) as exc:
        report.main(["--collect", str(tmp_path)])
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"regrun-report: error: {tmp_path / 'runs'} holds superres__varpro_cg, none of the presets asked for: "
        f"`regrun-report --collect --quick --preset superres__varpro_cg {tmp_path}` shows it\n")
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize("value", ["0", "abc", "1.5"])
def test_joblibs_job_count_is_checked_before_the_sweep(value, tmp_path, monkeypatch, capsys):
    # n_jobs=0: every job "failed" in 0.0 s (joblib's "n_jobs == 0 has no meaning"); abc: Hydra's five lines, exit 1
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    got = regrun_in_process(["-m", "seed=1,2", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={value}"], tmp_path,
                            monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr == (f"regrun: error: hydra.launcher.n_jobs={value}: the number of jobs at once must be a whole "
                          "number other than 0 (N: N processes; -1: one per CPU, -2: all CPUs but one)\n")
    assert not (tmp_path / "multirun").exists()


@pytest.mark.parametrize("args, said", [
    (["=3"], "'=3' has no key before '=': write key=value without spaces (e.g. seed=3)"),
    # a space before =: Hydra's "Config group override must be a string or a list. Got int"
    (["seed", "=3"], "'=3' has no key before '=': write key=value without spaces, seed=3"),
    # after --explain it was a traceback, exit 1
    (["--explain", "seed", "=3"], "'=3' has no key before '=': write key=value without spaces, seed=3"),
])
def test_a_value_without_its_key_is_one_line(args, said, tmp_path, monkeypatch, capsys):
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert (got.returncode, got.stderr) == (2, f"regrun: error: {said}\n")
