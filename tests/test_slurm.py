"""Sweeps on a real Slurm cluster (scripts/slurm_localhost.sh start brings one up on this machine).

Marked `slurm`; they run when REGRUN_SLURM_TESTS=1, `sbatch` is on the PATH and the cluster answers, and are
skipped otherwise. Each test is one sweep through `hydra/launcher=slurm` in a subprocess: what a user sees."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regrun.record import load

# xdist_group: under `-n 2` every Slurm test runs on one worker, so the one-node cluster (2 CPUs) never holds two
# tests' jobs at once and the real time-limit case is not slowed by a neighbour's jobs.
pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

TINY = ["problem.synthetic.size=16", "solver.max_iter=2", "progress=false", "figures=false"]
# A job that runs for hours: FISTA-TV runs its iteration count with no convergence stop (a super-resolution run
# with a huge iteration count now converges in seconds to minutes).
LONG = ["problem=ct_fewview", "solver=fista_tv", "problem.size=64", "solver.iters=10000000", "progress=false",
        "figures=false"]
SLURM = ["hydra/launcher=slurm", "hydra.launcher.mem_gb=1"]


def _cluster_ready() -> str:
    if os.environ.get("REGRUN_SLURM_TESTS", "") not in ("1", "all"):
        return "set REGRUN_SLURM_TESTS=1 to run the Slurm tests (scripts/slurm_localhost.sh start first)"
    if shutil.which("sbatch") is None:
        return "sbatch is not on the PATH"
    try:
        import hydra_plugins.hydra_submitit_launcher  # noqa: F401
    except ImportError:
        return "the [sweep] extra (hydra-submitit-launcher) is not installed"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"sinfo failed: {exc}"
    if not re.search(r"idle|mixed|alloc", out):
        return f"no Slurm node is up (sinfo: {out.strip() or 'nothing'})"
    return ""


REASON = _cluster_ready()
if REASON:
    pytestmark = [pytest.mark.slurm, pytest.mark.skip(reason=REASON)]


def sweep(args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "regrun.cli", "-m", *SLURM, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, **kw)


def start_sweep(args, cwd):
    err = open(cwd / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "regrun.cli", "-m", *SLURM, *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=err, text=True)
    return proc, cwd / "stderr.txt"


@contextlib.contextmanager
def running_sweep(args, cwd, n_jobs):
    """A Slurm sweep started in the background, once its n_jobs jobs are running: (process, array id, stderr
    path). Afterwards the process is killed and the array cancelled, whatever the test did."""
    proc, stderr = start_sweep(args, cwd)
    array = ""
    try:
        array = wait_for(lambda: array_id(stderr), 120, "the submission")
        wait_for(lambda: _all_started(args_dir(args), n_jobs), 180, f"{n_jobs} running jobs")
        yield proc, array, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
        if array:
            subprocess.run(["scancel", array])


def args_dir(args):
    """The sweep folder a test named with hydra.sweep.dir=."""
    return Path(next(a for a in args if a.startswith("hydra.sweep.dir=")).split("=", 1)[1])


def wait_for(condition, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def array_id(stderr_path: Path) -> str:
    match = re.search(r"submitted \d+ Slurm job\(s\): (\d+)_", stderr_path.read_text())
    return match.group(1) if match else ""


def in_queue(array: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", array], capture_output=True, text=True).stdout
    return out.split()


def _all_started(sweep_dir: Path, count: int) -> bool:
    found = sorted(sweep_dir.glob("*/results.h5.partial"))
    return len(found) == count and all(_run_started(p) for p in found)


def _run_started(partial: Path) -> bool:
    """The job's run has begun (its results file names the run), so its signal handlers are in place."""
    import h5py

    try:
        with h5py.File(partial, "r") as f:
            return "run_id" in f.attrs
    except OSError:
        return False


def kill_task(array: str, task: int) -> None:
    """SIGKILL the Python process of one array task, as the kernel's OOM killer would (`scancel --signal=KILL`
    would cancel the job through Slurm instead)."""
    wanted = {f"SLURM_ARRAY_JOB_ID={array}".encode(), f"SLURM_ARRAY_TASK_ID={task}".encode()}
    killed = []
    for proc in Path("/proc").iterdir():
        try:
            if b"submitit" in (proc / "cmdline").read_bytes() and wanted <= set((proc / "environ").read_bytes()
                                                                                .split(b"\0")):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(proc.name)
        except (OSError, ValueError):
            continue
    assert killed, f"no process of Slurm job {array}_{task} found"


def test_sweep_completes_bad_point_fails_alone_collects_and_resumes(tmp_path):
    sweep_dir = tmp_path / "s"
    args = [*TINY, "solver.theta=1e-3,-1", "sweep_check=false", f"hydra.sweep.dir={sweep_dir}"]  # fails when run
    first = sweep(args, tmp_path)
    assert first.returncode == 1, first.stderr
    assert re.search(r"submitted 2 Slurm job\(s\): \d+_0 \.\.\. \d+_1; console logs: ", first.stderr)
    assert "1 completed, 1 failed" in first.stdout and "solver.theta=-1.0 must be >= 0.0" in first.stdout
    good, bad = sorted(p for p in sweep_dir.iterdir() if p.name[0].isdigit())
    assert load(good)["attrs"]["status"] == "completed" and load(bad)["attrs"]["status"] == "failed"
    assert list(good.glob("slurm-*.out")) and list(bad.glob("slurm-*.err"))  # console output copied
    assert "must be >= 0.0" in next(bad.glob("slurm-*.err")).read_text()
    collect = subprocess.run([sys.executable, "-m", "regrun.collect", str(sweep_dir), "--no-plots"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0, collect.stderr
    assert len((sweep_dir / "collected" / "runs.csv").read_text().strip().splitlines()) == 3
    again = sweep(args, tmp_path)  # the completed job is skipped, only the failed one goes back to Slurm
    assert "submitted 1 Slurm job(s)" in again.stderr and "1 skipped, 1 failed" in again.stdout, again.stdout


def test_scancel_kill_and_time_limit_warning_each_end_their_own_job(tmp_path):
    """Three long jobs of one array: scancel one (interrupted), SIGKILL another as the OOM killer would
    (noticed without accounting, the others unaffected), and send the third Slurm's time-limit warning
    (SIGUSR2, what Slurm sends signal_delay_s before the limit; interrupted, with the minutes it had).
    test_real_time_limit waits for Slurm's own limit instead."""
    sweep_dir = tmp_path / "s"
    with running_sweep([*LONG, "seed=0,1,2", f"hydra.sweep.dir={sweep_dir}"], tmp_path, 3) as (proc, array, stderr):
        subprocess.run(["scancel", f"{array}_0"], check=True)
        kill_task(array, 1)
        subprocess.run(["scancel", "--signal=USR2", f"{array}_2"], check=True)
        out, _ = proc.communicate(timeout=300)
    err = stderr.read_text()
    assert proc.returncode == 130, (out, err)
    assert f"Slurm job {array}_1 left the queue without a result; the others go on" in err
    status = {p.name[0]: load(p)["attrs"] for p in sweep_dir.iterdir() if p.name[0].isdigit()}
    assert status["0"]["status"] == "interrupted" and "SIGTERM" in status["0"]["error"]
    assert status["1"]["status"] == "running"  # killed: its file says so, and the sweep lists it interrupted
    assert status["2"]["status"] == "interrupted" and "time limit" in status["2"]["error"]
    assert re.search(r"after [\d.]+ min of the job limit 1:00:00", status["2"]["error"]), status["2"]["error"]
    assert "3 interrupted" in out and f"Slurm job {array}_1 ended without a result" in out


@pytest.mark.skipif(os.environ.get("REGRUN_SLURM_TESTS") != "all", reason="waits for a real time limit (about "
                    "1.5 min); REGRUN_SLURM_TESTS=all runs it")
def test_real_time_limit_is_interrupted_with_the_minutes_used(tmp_path):
    sweep_dir = tmp_path / "s"
    out = sweep([*LONG, "hydra.launcher.timeout_min=2", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert out.returncode == 130, out.stderr
    (folder,) = [p for p in sweep_dir.iterdir() if p.name[0].isdigit()]
    attrs = load(folder)["attrs"]
    assert attrs["status"] == "interrupted" and "time limit" in attrs["error"]
    minutes = float(re.search(r"after ([\d.]+) min of the job limit 2:00", attrs["error"]).group(1))
    assert 0.3 <= minutes <= 2.0


def test_ctrl_c_cancels_the_sweeps_jobs(tmp_path):
    sweep_dir = tmp_path / "s"
    with running_sweep([*LONG, "seed=0,1", f"hydra.sweep.dir={sweep_dir}"], tmp_path, 2) as (proc, array, stderr):
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"cancelled the sweep's Slurm job(s) {array} (scancel)" in stderr.read_text()
    wait_for(lambda: not in_queue(array), 60, "the jobs to leave the queue")
    for folder in (p for p in sweep_dir.iterdir() if p.name[0].isdigit()):
        assert load(folder)["attrs"]["status"] in ("interrupted", "running")
