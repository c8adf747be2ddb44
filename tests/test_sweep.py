"""Sweeps: failure summary and exit codes, fail-fast, resume by config hash, dry run, launchers, GPU spreading."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from cli_in_process import regrun_in_process
from omegaconf import OmegaConf

from regrun import sweep
from regrun.config import compose, config_hash

TINY = ["+ci=multiscale_affine__single_scale", "figures=false"]


def regrun(args: list[str], cwd: Path, script: str = "regrun.cli") -> subprocess.CompletedProcess:
    """The console script in a fresh process, as a user runs it (joblib workers must import regrun.cli)."""
    code = f"import sys; from {script} import main; main()"
    env = {**os.environ, "MPLBACKEND": "Agg", "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture
def regrun_here(monkeypatch, capsys):
    """The same command in this process (regrun.cli.main with sys.argv; cli_in_process): the sequential sweeps
    below run their jobs in the launching process anyway, so only the interpreter start-up (~2.5 CPU-s) differs."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    return lambda args, cwd: regrun_in_process(args, cwd, monkeypatch, capsys)


def statuses(sweep_dir: Path) -> dict[str, str]:
    out = {}
    for folder in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
        with h5py.File(folder / "results.h5", "r") as f:
            out[folder.name] = str(f.attrs["status"])
    return out


# ---------------------------------------------------------------------------------------------- units

def test_hash_ignores_display_and_scheduling_knobs():
    base = config_hash(compose(TINY))
    same = ["progress=true", "figures=true", "debug=true", "fail_fast=true", "dry_run=true", "resume=false",
            "resume_dir=elsewhere"]
    assert config_hash(compose(TINY + same)) == base
    tabled = compose(TINY)
    tabled.collect = [{"group": "all", "metrics": {"J": {"max": 1.0}}}]  # how collect tables runs, not what runs
    assert config_hash(tabled) == base
    on_gpu = config_hash(compose(TINY + ["device=cuda"]))
    assert config_hash(compose(TINY + ["device=cuda", "device.index=3"])) == on_gpu != base
    assert config_hash(compose(TINY + ["solver.theta=0.5"])) != base
    assert config_hash(compose(TINY + ["seed=1"])) != base


def test_parallelism_of_launchers():
    conf = OmegaConf.create
    assert sweep.parallelism(conf({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"})) == 1
    joblib = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
    assert sweep.parallelism(conf({"_target_": joblib, "n_jobs": 3})) == 3
    assert sweep.parallelism(conf({"_target_": joblib, "n_jobs": -1})) == os.cpu_count()
    slurm = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert sweep.parallelism(conf({"_target_": slurm, "array_parallelism": 16})) == 16


def test_eta_leaves_out_failed_jobs_and_the_first_batch():
    """ux4: after `-m solver.optimizer=lm,LM,trust_exact` (job 1 fails at once) the line said "ETA 0.1 s" for a
    0.5 s job: a failed job's seconds set the rate. Now only batches that ran a job to its end count."""
    def job(i, state):
        return sweep.Job(i, [], state=state)

    done = [job(0, "completed"), job(1, "failed")]
    line = sweep.sweep_progress(done, 3, 1.8, [(1, 1.7), (1, 0.1)])
    assert "ETA 1.7 s" in line, line  # the first (start-paying) batch is all there is, its job's time unknown
    done[0].wall_time = 0.6  # ... known from its results file: the start-up left out
    assert "ETA 0.6 s" in sweep.sweep_progress(done, 3, 1.8, [(1, 1.7), (1, 0.1)])
    done.append(job(2, "completed"))
    line = sweep.sweep_progress(done, 5, 2.3, [(1, 1.7), (1, 0.1), (1, 0.5)])
    assert "ETA 1.0 s" in line, line  # 0.5 s per job from job 2 alone, 2 jobs left
    line = sweep.sweep_progress([job(0, "failed")], 3, 0.2, [(1, 0.2)])
    assert "ETA unknown (only failed jobs so far)" in line, line


def test_gpu_slots_spread_concurrent_jobs(monkeypatch, tmp_path):
    import torch

    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    cuda = lambda: compose(TINY + ["device=cuda"])  # noqa: E731
    cfg = cuda()
    before = config_hash(cfg)
    with sweep.gpu_slot(cfg, 4, [], tmp_path) as index:
        assert index == 1 and cfg.device.index == 1 and calls == [1]
        assert config_hash(cfg) == before, "where a job ran must not change its identity"
        # Jobs running meanwhile take the free GPUs, then share once all are taken.
        with sweep.gpu_slot(cuda(), 1, [], tmp_path) as second, sweep.gpu_slot(cuda(), 7, [], tmp_path) as third:
            assert (second, third) == (2, 0)
            with sweep.gpu_slot(cuda(), 5, [], tmp_path) as fourth:
                assert fourth == 2
    with sweep.gpu_slot(cuda(), 1, [], tmp_path) as again:  # released: job 1 gets its own GPU back
        assert again == 1
    with sweep.gpu_slot(cuda(), 4, ["device.index=0"], tmp_path) as chosen, \
            sweep.gpu_slot(compose(TINY), 4, [], tmp_path) as on_cpu:
        assert chosen is None and on_cpu is None
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with sweep.gpu_slot(cuda(), 4, [], tmp_path) as single:
        assert single is None


# ---------------------------------------------------------------------------------------------- sweeps

def test_failed_job_does_not_stop_the_sweep_and_resume_reruns_only_it(tmp_path, regrun_here):
    sweep_dir = tmp_path / "sweep"
    # sweep_check=false: the bad value then fails its job when it runs, as any failure at run time does (with the
    # check, the default, it is refused before any job starts: tests/test_newuser4.py)
    args = ["-m", *TINY, "solver.theta=1e-3,-1,1e-2", "sweep_check=false", f"hydra.sweep.dir={sweep_dir}"]
    first = regrun_here(args, tmp_path)
    assert first.returncode == 1, first.stderr
    found = statuses(sweep_dir)
    assert sorted(found.values()) == ["completed", "completed", "failed"]
    failed = next(name for name, status in found.items() if status == "failed")
    assert failed.startswith("1_")
    with h5py.File(sweep_dir / failed / "results.h5", "r") as f:
        assert "solver.theta" in f.attrs["error"]
    assert "2 completed, 1 failed" in first.stdout
    # it says what it runs, and after each job how far it is (issue 19)
    assert "regrun: sweep of 3 jobs -> sweep: 3 to run, one after the other" in first.stdout
    assert "regrun: sweep: 1/3 jobs run (1 completed), " in first.stdout and "(counting jobs)" in first.stdout
    assert "regrun: sweep: 2/3 jobs run (1 completed, 1 failed), " in first.stdout
    assert "failed" in (sweep_dir / "sweep_summary.txt").read_text()

    # The same command again: the completed jobs are found by hash and skipped, the failed one runs again.
    mtimes = {n: (sweep_dir / n / "results.h5").stat().st_mtime_ns for n, s in found.items() if s == "completed"}
    second = regrun_here(args, tmp_path)
    assert second.returncode == 1
    assert "2 skipped, 1 failed" in second.stdout
    assert "1 to run (1 again: 1 failed earlier), 2 completed earlier (skipped)" in second.stdout
    assert {n: (sweep_dir / n / "results.h5").stat().st_mtime_ns for n in mtimes} == mtimes

    # Reordered values: jobs are matched by config hash, not by job number.
    third = regrun_here(["-m", *TINY, "solver.theta=1e-2,1e-3", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "2 skipped" in third.stdout and "completed," not in third.stdout


def test_resume_finds_jobs_of_an_earlier_timestamped_sweep_and_reruns_interrupted(tmp_path, regrun_here):
    first_dir, second_dir = tmp_path / "multirun" / "a", tmp_path / "multirun" / "b"
    args = ["-m", *TINY, "solver.theta=1e-3,1e-2"]
    assert regrun_here(args + [f"hydra.sweep.dir={first_dir}"], tmp_path).returncode == 0
    names = sorted(statuses(first_dir))
    with h5py.File(first_dir / names[1] / "results.h5", "a") as f:  # as a Ctrl-C would have left it
        f.attrs["status"] = "interrupted"

    again = regrun_here(args + [f"hydra.sweep.dir={second_dir}"], tmp_path)  # resume_dir=multirun (the default)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 completed, 1 skipped" in again.stdout
    assert "1 to run (1 again: 1 interrupted earlier), 1 completed earlier (skipped)" in again.stdout
    link = second_dir / names[0]
    assert link.is_symlink() and link.resolve() == (first_dir / names[0]).resolve()
    assert statuses(second_dir) == {names[0]: "completed", names[1]: "completed"}


def test_earlier_runs_name_how_each_ended_and_a_killed_run_by_its_partial_file(tmp_path):
    """A resumed sweep says which jobs run again and why: a kill -9 leaves `results.h5.partial` saying "running"
    (read as "killed"); a completed file wins over any other of the same run."""
    def write(folder: Path, name: str, status: str, run_id: str):
        folder.mkdir(parents=True)
        with h5py.File(folder / name, "w") as f:
            f.attrs["status"], f.attrs["run_id"] = status, run_id

    write(tmp_path / "a" / "0_x", "results.h5.partial", "running", "x")
    write(tmp_path / "a" / "1_y", "results.h5", "failed", "y")
    write(tmp_path / "a" / "2_z", "results.h5", "interrupted", "z")
    write(tmp_path / "b" / "2_z", "results.h5", "completed", "z")
    found = sweep.earlier_runs([tmp_path / "a", tmp_path / "b"])
    assert {rid: status for rid, (status, _) in found.items()} == {"x": "killed", "y": "failed", "z": "completed"}
    assert found["z"][1] == (tmp_path / "b" / "2_z").resolve()
    assert sweep.completed_runs([tmp_path / "a", tmp_path / "b"]) == {"z": (tmp_path / "b" / "2_z").resolve()}


def test_fail_fast_stops_at_the_first_failure(tmp_path, regrun_here):
    sweep_dir = tmp_path / "sweep"
    out = regrun_here(["-m", *TINY, "solver.theta=-1,1e-3", "fail_fast=true", "sweep_check=false",
                       f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert out.returncode == 1
    assert list(statuses(sweep_dir).values()) == ["failed"]
    assert "1 failed, 1 not run" in out.stdout


def test_dry_run_validates_every_job_and_runs_nothing(tmp_path, regrun_here):
    sweep_dir = tmp_path / "sweep"
    out = regrun_here(["-m", *TINY, "solver.theta=1e-3,-1", "solver.optimizer=lm,nope", "dry_run=true",
                  f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert not sweep_dir.exists()
    lines = [ln for ln in out.stdout.splitlines() if "solver.theta=" in ln]
    assert len(lines) == 4
    assert sum(" run " in ln for ln in lines) == 1 and sum(" invalid " in ln for ln in lines) == 3
    assert "dry run, nothing was run: 4 jobs" in out.stdout


def test_bad_override_in_a_sweep_is_one_line(tmp_path, regrun_here):
    out = regrun_here(["-m", *TINY, "solver.thetaa=1,2", f"hydra.sweep.dir={tmp_path / 's'}"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("regrun: error:") and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_joblib_sweep_in_parallel_then_collect(tmp_path):
    sweep_dir = tmp_path / "sweep"
    out = regrun(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY,
                  "solver.optimizer=trust_exact,lm", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Joblib.Parallel" in out.stderr + out.stdout
    assert sorted(statuses(sweep_dir).values()) == ["completed", "completed"]

    collected = regrun([str(sweep_dir), "-o", str(tmp_path / "table")], tmp_path, script="regrun.collect")
    assert collected.returncode == 0, collected.stderr
    with open(tmp_path / "table" / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["solver.optimizer"] for r in rows) == ["lm", "trust_exact"]
    assert all(r["status"] == "completed" and float(r["tre"]) < 1.0 for r in rows)
    assert (tmp_path / "table" / "plots" / "metrics_vs_solver.optimizer.png").is_file()
