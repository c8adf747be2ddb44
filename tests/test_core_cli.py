"""The `regrun` command as a user types it: a run, signals and the debug switch in a subprocess; an explicit run
folder, the implied solver and the one-line errors in-process (regrun.cli.main with sys.argv set: the same output
and exit code without an interpreter start per case; tests/test_bad_inputs.py checks the real command once)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_in_process import regrun_in_process

from regrun.record import load

TINY = ["problem.synthetic.size=16", "solver.max_iter=5", "progress=false"]


def regrun(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "regrun.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, **kw)


def test_end_to_end_run_writes_results_and_figures(tmp_path):
    proc = regrun(TINY, tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "outputs").glob("*/*_multiscale_affine_single_scale_*"))
    assert len(runs) == 1
    run_dir = runs[0]
    assert str(run_dir) in proc.stdout and "rel_reduction" in proc.stdout
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "figures" / "registration.png").is_file()
    res = load(run_dir / "results.h5")
    assert res["attrs"]["status"] == "completed"
    assert run_dir.name.endswith(res["attrs"]["run_id"][:8])
    # the run talks: a start line naming what runs where, a line per phase, and all of it in regrun.log
    assert proc.stdout.startswith(f"regrun: multiscale_affine with single_scale on cpu (float64), seed 0 -> {run_dir}")
    assert "regrun: solve ... done in" in proc.stdout and "\r" not in proc.stdout + proc.stderr
    log = (run_dir / "regrun.log").read_text()
    for text in ("regrun: data done in", "regrun: solve done in", "rel_reduction", "regrun: completed in"):
        assert text in log, text


def test_single_run_takes_hydras_mode_from_the_cli_composition():
    """hydra.main composes the whole config once only to read hydra.mode (Hydra.get_mode): a single run the CLI
    has composed answers it from that composition instead, and Hydra's own way is back afterwards."""
    from hydra._internal.hydra import Hydra

    from regrun.cli import _known_mode
    from regrun.config import compose

    original = Hydra.get_mode
    with _known_mode(compose(["hydra.mode=RUN"])):
        assert Hydra.get_mode(None, config_name="config", overrides=[]).name == "RUN"  # no composition: no self
    assert Hydra.get_mode is original
    with _known_mode(None):  # a sweep or an informational flag: untouched
        assert Hydra.get_mode is original


def test_explicit_run_dir(tmp_path, monkeypatch, capsys):
    proc = regrun_in_process(TINY + [f"hydra.run.dir={tmp_path / 'mine'}"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 0, proc.stderr
    assert load(tmp_path / "mine")["attrs"]["status"] == "completed"
    # runs started in the same second: tests/test_collisions.py (identical configs, the hard case)


BAD_INPUTS = [
    (["problem=nope"], "unknown problem 'nope'; valid problems: "),
    (["solver=nope"], "unknown solver 'nope'; valid solvers: "),
    (["threads=-2"], "threads=-2 must be >= 1"),
    (["solver.max_iter=-1"], "solver.max_iter=-1 must be >= 0"),
    (["solver.optimizer=bfgs"], "solver.optimizer='bfgs' is not valid; allowed: trust_exact"),
    (["device=cuda"], "device=cuda but CUDA is not available"),
    (["problem.data=files", "problem.template=missing.png", "problem.reference=missing.png"],
     "image file not found: missing.png"),
    (["problem.data=fair", "problem.data_dir=no/such/dir"], "problem.data_dir=no/such/dir: no such folder (looked for "
     "from "),
    (["cg_iter=3"], "unknown config key 'cg_iter'"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_is_one_clear_line(tmp_path, monkeypatch, capsys, args, message):
    if args == ["device=cuda"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    proc = regrun_in_process(args + ["progress=false"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("regrun: error: ") and message in first, proc.stderr
    # a run that got as far as its output folder records the failure there
    for path in (tmp_path / "outputs").glob("*/*/results.h5"):
        assert load(path)["attrs"]["status"] == "failed"


def test_unreadable_image_file(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    proc = regrun_in_process(["problem.data=files", f"problem.template={bad}", f"problem.reference={bad}"], tmp_path,
                       monkeypatch, capsys)
    assert proc.returncode == 2 and f"cannot read image {bad}" in proc.stderr


def test_debug_switch_shows_the_traceback(tmp_path):
    proc = regrun(["threads=-2", "debug=true"], tmp_path)
    assert proc.returncode == 2 and "Traceback" in proc.stderr


def _run_started(partial) -> bool:
    """The run itself has begun: its results file carries the run id (the folder's claim wrote only a status)."""
    import h5py

    try:
        with h5py.File(partial, "r", locking=False) as f:  # a poll must not lock the run out of its file
            return "run_id" in f.attrs
    except OSError:  # not there yet, or open for writing
        return False


def test_sigterm_leaves_status_interrupted(tmp_path):
    # a run that is still iterating when the signal arrives: 3000 continuation levels take over a minute,
    # where a single-scale solve of a hard pair now stops (at a poor fit) within the 2 s we wait
    args = ["solver=multiscale", "solver.logspace=[3,-3,3000]", "solver.gtol=1e-12", "problem.synthetic.size=96",
            "progress=false", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.Popen([sys.executable, "-m", "regrun.cli", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    partial = tmp_path / "run" / "results.h5.partial"
    deadline = time.time() + 120
    while not _run_started(partial) and time.time() < deadline:  # the folder's claim makes the file earlier
        time.sleep(0.1)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    res = load(tmp_path / "run" / "results.h5")
    assert res["attrs"]["status"] == "interrupted"
    assert "SIGTERM" in res["attrs"]["error"]


def test_problem_alone_implies_its_default_solver(tmp_path, monkeypatch, capsys):
    proc = regrun_in_process(["problem=superres", "dry_run=true"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 0, proc.stderr
    assert "superres x varpro_cg is valid" in proc.stdout
    # an explicit solver still wins, and a mismatch is named
    proc = regrun_in_process(["problem=superres", "solver=single_scale"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 2 and "solver 'single_scale' does not fit problem 'superres'" in proc.stderr
    assert "solvers that fit:" in proc.stderr and "varpro_cg" in proc.stderr



def test_non_finite_tolerance_is_one_line(tmp_path, monkeypatch, capsys):
    proc = regrun_in_process(["solver.gtol=nan", "progress=false"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    # one line: the error, then where the run recorded it
    assert proc.stderr.strip().splitlines()[0].split(" (results file: ")[0] == \
        "regrun: error: solver.gtol=nan must be a finite number"


def test_constant_template_has_nothing_to_register(tmp_path, monkeypatch, capsys):
    from PIL import Image

    Image.new("L", (16, 16), 0).save(tmp_path / "blank.png")
    Image.radial_gradient("L").resize((16, 16)).save(tmp_path / "disc.png")
    proc = regrun_in_process(["problem.data=files", "problem.template=blank.png", "problem.reference=disc.png",
                   "progress=false"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[0].split(" (results file: ")[0] == (
        "regrun: error: the template of blank.png -> disc.png is constant (every pixel 0): there is nothing to "
        "register")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_the_command_keeps_its_heap():
    """_keep_heap (the `regrun` command's start-up): glibc takes both allocator settings (in a child process: the
    test process keeps its own)."""
    code = "import sys; from regrun import cli; sys.exit(0 if cli._keep_heap() else 3)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    assert proc.returncode == 0, proc.stderr


def test_the_command_starts_without_the_garbage_collector_and_the_job_has_it_back():
    """_pause_gc (the `regrun` command's start-up) and _resume_gc (the job): the collector is off, then on with the
    start-up's objects frozen; a collector someone else turned off stays off."""
    import gc

    from regrun import cli

    assert gc.isenabled()
    try:
        cli._pause_gc()
        assert not gc.isenabled()
        cli._resume_gc()
        assert gc.isenabled() and gc.get_freeze_count() > 0
        gc.disable()
        cli._pause_gc()
        cli._resume_gc()
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        gc.enable()
