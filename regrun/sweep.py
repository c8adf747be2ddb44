"""Sweeps (`regrun -m ...`): expand the overrides into jobs, skip those already completed (matched by config
hash), launch the rest through Hydra's launcher (basic, joblib or Slurm), and report what happened.

The Hydra plugin class in hydra_plugins/regrun_sweeper calls `run_sweep`; cli.py reads `LAST_REPORT` for the
exit code. The results files on disk are the source of truth for each job's status: a launcher can lose its
return values (a Slurm job killed at its time limit, a Ctrl-C), the files cannot lie about being complete.
"""
from __future__ import annotations

import errno
import hashlib
import os
import sys
import tempfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from .config import (config_hash, group_file, key_owners, nearest_keys, option_has_key, quote_value,
                     settings_replaced_by_value)

try:
    import fcntl
except ImportError:  # not on Windows: GPUs are then shared round robin by job number, without locks
    fcntl = None
from .errors import UserError
from .record import FILENAME, PARTIAL_SUFFIX, os_reason

SUMMARY_FILE = "sweep_summary.txt"


@dataclass
class Job:
    index: int                   # position in the expanded sweep; names the job's folder `<index>_<id8>`
    overrides: list[str]
    run_id: str = ""
    state: str = "pending"       # pending | skipped | invalid | not_run | a final run status
    path: Path | None = None     # the job's run folder (for a skipped job: where it completed earlier)
    error: str = ""
    wall_time: float | None = None
    earlier: str = ""            # a resumed sweep's job that ran before and did not complete: how it ended

    @property
    def folder_name(self) -> str:
        return f"{self.index}_{self.run_id[:8]}"


@dataclass
class SweepReport:
    sweep_dir: Path
    jobs: list[Job] = field(default_factory=list)
    dry_run: bool = False
    interrupted: bool = False
    why: str = ""  # what interrupted it, when it was not Ctrl-C (SIGTERM)

    def count(self, state: str) -> int:
        return sum(j.state == state for j in self.jobs)

    def exit_code(self) -> int:
        if self.interrupted or self.count("interrupted"):
            return 130
        if self.count("invalid"):
            return 2
        if self.count("failed"):
            return 1
        return 0


LAST_REPORT: SweepReport | None = None


# ---------------------------------------------------------------------------------------------- planning

def expand(arguments: Sequence[str], config_loader: Any) -> list[list[str]]:
    """The cartesian product of the comma lists and range() sweeps, in Hydra's basic-sweeper order."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create(config_loader=config_loader)
    return BasicSweeper.split_arguments(parser.parse_overrides(list(arguments)), None)[0]


def validate(cfg: DictConfig, mistakes_only: bool = False) -> str:
    """'' when the job's config would start: top-level knobs, problem/solver pair, device, solver options.
    The problem is not built here (problem_error builds it). mistakes_only: only the user's mistakes (UserError)
    count, any other failure is left to the job (the check before a sweep starts must not refuse a point that
    would run: an interpolation only a job's Hydra context resolves)."""
    from .context import RunContext
    from .registry import check_pair
    from .run import DTYPES, _validate_top_level, resolve_device

    try:
        for key in cfg:
            if key != "hydra" and OmegaConf.is_config(cfg[key]):
                OmegaConf.to_container(cfg[key], resolve=True)
        _validate_top_level(cfg)
        _, solver_cls = check_pair(cfg.problem.name, cfg.solver.name)
        device = resolve_device(cfg.device)
        solver_cls(cfg.solver, RunContext(device=device, dtype=DTYPES[cfg.dtype], seed=cfg.seed, out_dir=Path(".")))
    except UserError as exc:
        return str(exc)
    except Exception as exc:  # an interpolation error or a bug in a validator: still this job's problem
        if mistakes_only:
            return ""
        first = next((ln for ln in str(exc).splitlines() if ln.strip()), "")
        return f"{type(exc).__name__}: {first}"
    return ""


def problem_error(cfg: DictConfig, built: dict[str, str]) -> str:
    """'' when the job's problem would build, else its one-line error: the problem is built as the run builds it
    (on the CPU, into a folder thrown away), so a value the problem refuses (`problem.factor=0`, a negative noise, a
    missing frames folder) is found before any job starts, not when its job runs after the earlier ones (on Slurm
    after a queue wait each: newuser3). `built` caches by the problem's config and dtype: points that differ only
    in the solver or the seed build it once. Only the user's mistakes (UserError) count: any other failure is left
    to the job, which records it as a run does."""
    import json
    import tempfile

    import torch

    from .context import RunContext
    from .registry import check_pair
    from .run import DTYPES

    try:
        key = json.dumps([OmegaConf.to_container(cfg.problem, resolve=True), str(cfg.dtype)], sort_keys=True,
                         default=str)
    except Exception:  # what only the job's context resolves: left to the job (validate reports it in a dry run)
        return ""
    if key not in built:
        with tempfile.TemporaryDirectory(prefix="regrun-check-") as folder:
            try:
                problem_cls, _ = check_pair(cfg.problem.name, cfg.solver.name)
                problem_cls(cfg.problem, RunContext(device=torch.device("cpu"), dtype=DTYPES[cfg.dtype],
                                                    seed=int(cfg.seed), out_dir=Path(folder)))
                built[key] = ""
            except UserError as exc:
                built[key] = str(exc)
            except Exception:  # not the user's value: the job meets it and records it with its traceback
                built[key] = ""
    return built[key]


def check_jobs(jobs: Sequence[Job], cfgs: Sequence[DictConfig], mistakes_only: bool = False) -> list[Job]:
    """Every pending job's config validated as a single run would (validate, then problem_error); the bad jobs,
    their state "invalid" and their error set. mistakes_only as validate's."""
    built: dict[str, str] = {}
    bad = []
    for job, cfg in zip(jobs, cfgs):
        if job.state == "pending":
            job.error = validate(cfg, mistakes_only) or problem_error(cfg, built)
            if job.error:
                job.state = "invalid"
                bad.append(job)
    return bad


def earlier_runs(roots: Sequence[Path]) -> dict[str, tuple[str, Path]]:
    """run_id -> (status, folder) of the results files under any of `roots`, a completed one first (then earlier
    roots win): a run killed outright (kill -9, a node lost) left its `results.h5.partial` saying "running",
    reported here as "killed"."""
    import h5py

    found: dict[str, tuple[str, Path]] = {}
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        # Symlinked job folders (left by earlier resumes) point at folders found on their own, so links are
        # not followed: that also keeps a link cycle from hanging the search.
        for dirpath, _, filenames in os.walk(root):
            names = [n for n in (FILENAME, FILENAME + PARTIAL_SUFFIX) if n in filenames]
            folder = Path(dirpath).resolve()
            if not names or folder in seen:
                continue
            seen.add(folder)
            try:
                with h5py.File(folder / names[0], "r") as f:
                    status, run_id = f.attrs.get("status"), f.attrs.get("run_id")
            except OSError:  # a file another program is writing, or not HDF5: not evidence of anything
                continue
            if not run_id:
                continue
            status = "killed" if names[0] != FILENAME and status == "running" else str(status)
            before = found.get(str(run_id))
            if before is None or (status == "completed" and before[0] != "completed"):
                found[str(run_id)] = (status, folder)
    return found


def completed_runs(roots: Sequence[Path]) -> dict[str, Path]:
    """run_id -> folder of a completed results file under any of `roots` (earlier roots win)."""
    return {rid: folder for rid, (status, folder) in earlier_runs(roots).items() if status == "completed"}


def _without(config_loader: Any, base: DictConfig, overrides: Sequence[str], key: str) -> DictConfig | None:
    """A job's config composed without its override of `key` (for the options it chose), None if not even that."""
    try:
        return config_loader.load_sweep_config(base, [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != key])
    except Exception:  # its other overrides fail too: the message keeps its nearest keys
        return None


def plan(arguments: Sequence[str], config_loader: Any, base: DictConfig) -> tuple[list[Job], list[DictConfig]]:
    """One Job (with its run id) and composed config per point of the sweep; a bad override raises UserError."""
    from hydra.core.hydra_config import HydraConfig

    jobs, cfgs = [], []
    previous = HydraConfig.instance().cfg
    try:
        for index, overrides in enumerate(expand(arguments, config_loader)):
            try:
                cfg = config_loader.load_sweep_config(base, list(overrides))
            except Exception as exc:  # Hydra's composition errors are all about the user's overrides
                first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
                if first.startswith("Could not override"):
                    key = first.split("'")[1] if first.count("'") >= 2 else ""
                    near = nearest_keys(key, base) if key else []
                    owners = key_owners(key, _without(config_loader, base, overrides, key)) if key else ""
                    first += (f" ({owners})" if owners else  # another problem's or solver's key (newuser7)
                              f" (no such key in the selected configs{'; did you mean ' if near else ''}"
                              f"{' or '.join(f'`{k}`' for k in near)}{'?' if near else ''}; "
                              "`regrun --cfg job ...` lists them)")
                raise UserError(f"job {index} ({' '.join(overrides)}): {first}") from exc
            for item in overrides:  # `++solver.cg_tol=0` over solvers (cli._check_sweep_base): each must have it
                key = item.lstrip("+").split("=", 1)[0]
                group = key.split(".")[0]
                chosen = cfg.hydra.runtime.choices.get(group) if item.startswith("++") and "." in key else None
                if group in ("problem", "solver") and chosen and group_file(group, chosen) is not None \
                        and not option_has_key(group, chosen, key.split(".")[1:]):
                    raise UserError(f"job {index} ({' '.join(overrides)}): {group} {chosen} has no "
                                    f"{key.split('.', 1)[1]}: {item} would add a key nothing reads; sweep "
                                    f"{chosen} separately, without it")
            replaced = settings_replaced_by_value(list(overrides), cfg)
            if replaced:
                raise UserError(f"job {index} ({' '.join(overrides)}): {replaced}")
            HydraConfig.instance().set_config(cfg)  # so ${hydra:...} in a job's config resolves as in the job
            jobs.append(Job(index, list(overrides), run_id=config_hash(cfg)))
            cfgs.append(cfg)
    finally:
        HydraConfig.instance().cfg = previous
    return jobs, cfgs


# ---------------------------------------------------------------------------------------------- launching

def parallelism(launcher_cfg: DictConfig) -> int:
    """How many jobs the configured launcher runs at once."""
    target = str(launcher_cfg.get("_target_", "")).lower()
    if "joblib" in target:
        n = int(launcher_cfg.get("n_jobs", -1) or 1)
        return max(1, n if n > 0 else (os.cpu_count() or 1) + 1 + n)
    if "submitit" in target or "slurm" in target:
        return max(1, int(launcher_cfg.get("array_parallelism", 256)))
    return 1


@contextmanager
def gpu_slot(cfg: DictConfig, job_num: int, overrides: Sequence[str], sweep_dir: Path) -> Iterator[int | None]:
    """Hold a CUDA device for one parallel sweep job, so that concurrent jobs land on different GPUs.

    Slots are lock files in a folder local to this machine (one per sweep): a job takes the first free
    GPU starting from job_num mod count and keeps it locked while it runs; with more concurrent jobs than
    GPUs it shares GPU job_num mod count. Yields the index, or None when there is nothing to spread over
    (CPU, one GPU, or device.index chosen by the user). device.index is not part of the config hash, so
    where a job ran does not change its identity."""
    if cfg.device.get("name") not in ("cuda", "auto") or any(o.startswith("device.index=") for o in overrides):
        yield None
        return
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count < 2:
        yield None
        return
    key = hashlib.sha1(str(Path(sweep_dir).resolve()).encode()).hexdigest()[:12]
    lock_dir = Path(tempfile.gettempdir()) / f"regrun-gpus-{key}"
    lock_dir.mkdir(exist_ok=True)
    held, index = None, job_num % count
    for candidate in [(job_num + k) % count for k in range(count)] if fcntl is not None else []:
        handle = open(lock_dir / f"{candidate}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        held, index = handle, candidate
        break
    with open_dict(cfg):
        cfg.device.index = index
    torch.cuda.set_device(index)  # device=auto resolves to plain "cuda", i.e. the current device
    try:
        yield index
    finally:
        if held is not None:
            fcntl.flock(held, fcntl.LOCK_UN)
            held.close()


def _read_status(folder: Path) -> tuple[str, str, float | None] | None:
    import h5py

    for name in (FILENAME, FILENAME + PARTIAL_SUFFIX):
        path = folder / name
        if path.is_file():
            try:
                with h5py.File(path, "r") as f:
                    status = str(f.attrs.get("status", "failed"))
                    error = str(f.attrs.get("error", ""))
                    wall = f.attrs.get("wall_time")
            except OSError as exc:
                return "failed", f"unreadable results file {path}: {exc}", None
            # A file still marked running belongs to a job that was killed before it could say so.
            return ("interrupted" if status == "running" else status), error, None if wall is None else float(wall)
    return None


def end_killed_worker(folder: Path, why: str, wait_s: float = 5.0) -> None:
    """A parallel launcher's job that the sweep's Ctrl-C stopped: joblib ends its workers with SIGKILL as it
    aborts, often before the run has recorded its Ctrl-C, which left its results.h5.partial saying `running` (a
    run killed outright, to regrun-collect) where the sweep's table said interrupted (newuser7). Once the process
    that wrote it is gone (waiting up to wait_s), the sweep records the interruption in it and renames it."""
    import datetime
    import time

    import h5py
    import numpy as np

    from .collect import _still_running
    from .record import now_iso

    partial = folder / (FILENAME + PARTIAL_SUFFIX)
    deadline = time.monotonic() + wait_s
    while partial.is_file():
        try:
            with h5py.File(partial, "r") as f:
                attrs = {k: (v.item() if isinstance(v, np.generic) else v)  # a pid read as numpy's int64
                         for k, v in f.attrs.items() if k in ("status", "pid", "host", "start_time")}
        except OSError:  # being written by the run itself, which is then still alive
            attrs = {"status": "running", "pid": os.getpid(), "host": None}
        if attrs.get("status") != "running":
            return
        if attrs.get("host") is not None and _still_running(attrs) is False:
            break
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
    else:
        return
    start = attrs.get("start_time")
    wall = ((datetime.datetime.now().astimezone() - datetime.datetime.fromisoformat(start)).total_seconds()
            if isinstance(start, str) else float("nan"))
    message = f"{why}: the sweep's worker process was stopped before the run could record it"
    with h5py.File(partial, "a") as f:
        for key, value in {"status": "interrupted", "end_time": now_iso(), "wall_time": wall, "message": message,
                           "error": message}.items():
            f.attrs[key] = value
    partial.replace(folder / FILENAME)


def _record(job: Job, sweep_dir: Path, ret: Any, launch_error: str) -> None:
    from hydra.core.utils import JobStatus

    folder = sweep_dir / job.folder_name
    value = getattr(ret, "_return_value", None)
    if ret is not None and ret.status == JobStatus.COMPLETED and getattr(value, "out_dir", None):
        folder = Path(value.out_dir)
    job.path = folder
    read = _read_status(folder)
    if read is None:
        if launch_error == "interrupted":  # a worker stopped while its job started (it had read "failed", newuser7)
            job.state, job.error = "interrupted", "stopped before its run began: no results file"
            return
        why = (f"{type(value).__name__}: {value}" if isinstance(value, BaseException)
               else launch_error or "the job left no results file")
        job.state, job.error = "failed", why
        return
    job.state, error, job.wall_time = read
    job.error = error.strip().splitlines()[0] if error.strip() else ""
    if not job.error and isinstance(value, BaseException):  # e.g. a Slurm job killed while running
        job.error = str(value).splitlines()[0]


def _link(job: Job, sweep_dir: Path) -> None:
    """Make a skipped job visible in this sweep's folder, so `regrun-collect <sweep dir>` sees every job."""
    assert job.path is not None
    if job.path.parent == sweep_dir.resolve():
        return
    link = sweep_dir / job.folder_name
    if link.exists() or link.is_symlink():
        return
    sweep_dir.mkdir(parents=True, exist_ok=True)
    try:
        link.symlink_to(job.path, target_is_directory=True)
    except OSError:  # file systems without symlinks: the summary still names the earlier folder
        pass


def own_sweep_dir(base: DictConfig, launcher: Any, sweep_dir: Path) -> Path:
    """The folder this sweep writes into. A folder named by `hydra.sweep.dir=` on the command line is used as
    it is (running the same command again resumes there); the default, named by the time to the second, is
    created exclusively, with `_2`, `_3`... when another sweep started in the same second took it. The
    launcher is pointed at the folder too (submitit resolved its log folder from the pattern already)."""
    explicit = any(str(o).startswith("hydra.sweep.dir=") for o in base.hydra.overrides.hydra)
    if explicit:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return sweep_dir
    sweep_dir.parent.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = sweep_dir if n == 1 else sweep_dir.with_name(f"{sweep_dir.name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        break
    else:
        raise OSError(errno.EEXIST, "999 sweep folders of that name exist already", str(sweep_dir))
    with read_write(base.hydra), open_dict(base.hydra):
        base.hydra.sweep.dir = str(candidate)
    params = getattr(launcher, "params", None)
    folder = params.get("submitit_folder") if isinstance(params, dict) else None
    if isinstance(folder, str) and folder.startswith(str(sweep_dir)) and candidate != sweep_dir:
        params["submitit_folder"] = str(candidate) + folder[len(str(sweep_dir)):]
    return candidate


FAILED_STATES = ("failed", "invalid")  # jobs that stopped at a mistake: their seconds say nothing of the others'


def sweep_progress(done: list[Job], todo: int, elapsed: float,
                   batches: Sequence[tuple[int, float]] = ()) -> str:
    """The line after each batch: jobs run so far of those to run, by status, time and ETA: time per job times the
    jobs left (jobs of one sweep cost alike more often than not; the line says it counts jobs). `batches`: each
    batch's (jobs, seconds) in run order, `done` in the same order. The rate counts the batches that ran a job
    to its end and leaves out
    - the first batch once a later one counts, since it also paid the sweep's one-off start (imports, the
      launcher: 15 of the first 21.5 s in a sweep of 0.6-second jobs); while it is the only one, its jobs' own
      wall times stand for it (ux4's held-out sweep: 7.6 s against its batch's 14.2 s; the next job took 8.1);
    - batches whose jobs all failed: a mistake stops a job in a fraction of a second (ux4: after `lm,LM,
      trust_exact`'s quick failure the line said "ETA 0.1 s" for a 0.5 s job); with no other batch the ETA is
      unknown and the line says so."""
    from .monitor import _duration

    states = {}
    for j in done:
        states[j.state] = states.get(j.state, 0) + 1
    text = f"regrun: sweep: {len(done)}/{todo} jobs run"
    text += " (" + ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in sorted(states.items())) + ")" if states else ""
    text += f", {_duration(elapsed)}"
    if not 0 < len(done) < todo:
        return text
    counted, start = [], 0  # (jobs, seconds) of the batches that ran a job to its end
    for k, (n, seconds) in enumerate(batches):
        ran = [j for j in done[start:start + n] if j.state not in FAILED_STATES]
        if ran and k == 0:
            # the first batch's seconds hold the sweep's start; its jobs' own times (results files) do not
            walls = [j.wall_time for j in ran if j.wall_time is not None]
            seconds = min(seconds, max(walls)) if len(walls) == len(ran) else seconds
        if ran:
            counted.append((k, n, seconds))
        start += n
    if len(counted) > 1 and counted[0][0] == 0:
        counted = counted[1:]
    if not counted:
        return text + ", ETA unknown (only failed jobs so far)"
    jobs, seconds = sum(n for _, n, _ in counted), sum(t for _, _, t in counted)
    return text + f", ETA {_duration(seconds / jobs * (todo - len(done)))} (counting jobs)"


def _sigterm_stops_the_sweep(signum, frame):
    raise KeyboardInterrupt("terminated by SIGTERM")


def _launch(launcher: Any, jobs: list[Job], sweep_dir: Path, batch_size: int, fail_fast: bool,
            report: SweepReport, width: int = 1) -> None:
    """Run the pending jobs in batches of batch_size; `width`: how many the launcher runs at once."""
    import signal
    import time

    todo = [j for j in jobs if j.state == "pending"]
    launched = 0
    skipped = sum(j.state == "skipped" for j in jobs)
    again = Counter(j.earlier for j in todo if j.earlier)
    at_once = min(batch_size, width, len(todo))  # joblib gets the whole sweep as one batch and runs n_jobs of it
    print(f"regrun: sweep of {len(jobs)} jobs -> {_rel(sweep_dir)}: {len(todo)} to run"
          + (f" ({sum(again.values())} again: " + ", ".join(f"{n} {status}" for status, n in sorted(again.items()))
             + " earlier)" if again else "")
          + (f", {skipped} completed earlier (skipped)" if skipped else "")
          + (f", {at_once} at a time" if at_once > 1 else ", one after the other"), flush=True)
    t0, batches = time.perf_counter(), []
    # SIGTERM to the sweep's own process (`kill`, a login node's session ending, Slurm's end of the job that runs
    # the sweep) as Ctrl-C: the sweep says what ran and stops its workers. Without it the process died silently
    # and joblib's workers, orphaned, went on running jobs nobody would collect (userpass).
    try:
        previous = signal.signal(signal.SIGTERM, _sigterm_stops_the_sweep)
    except ValueError:  # not the main thread
        previous = None
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            # Name each folder by the job's place in the whole sweep, not its place among the jobs left to run.
            # and in the folder this sweep owns (own_sweep_dir), whatever the pattern would say in the job.
            overrides = [j.overrides + [f"hydra.sweep.dir={quote_value(str(sweep_dir))}",
                                        f"hydra.sweep.subdir={j.index}_${{run_id:}}"] for j in batch]
            returns: Sequence[Any] = [None] * len(batch)
            launch_error = ""
            try:
                returns = launcher.launch(overrides, initial_job_idx=launched)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # e.g. submitit raising for a job Slurm killed: the files say the rest
                launch_error = f"launcher: {type(exc).__name__}: {exc}"
            launched += len(batch)
            for job, ret in zip(batch, returns):
                _record(job, sweep_dir, ret, launch_error)
            elapsed = time.perf_counter() - t0
            batches.append((len(batch), elapsed - sum(t for _, t in batches)))
            if len(todo) > len(batch):  # one batch (a parallel launcher): the table at the end says it all
                print(sweep_progress(todo[:launched], len(todo), elapsed, batches), flush=True)
            if any(j.state == "interrupted" for j in batch):
                report.interrupted = True
                break
            if fail_fast and any(j.state == "failed" for j in batch):
                break
    except KeyboardInterrupt as exc:
        report.interrupted = True
        report.why = str(exc)
        for job in todo:
            if job.state == "pending" and (sweep_dir / job.folder_name).is_dir():
                end_killed_worker(sweep_dir / job.folder_name, report.why or "interrupted by Ctrl-C")
                _record(job, sweep_dir, None, "interrupted")
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    for job in todo:
        if job.state == "pending":
            job.state = "not_run"


# ---------------------------------------------------------------------------------------------- reporting

def _rel(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def format_report(report: SweepReport) -> str:
    width = max((len(" ".join(j.overrides)) for j in report.jobs), default=0)
    head = "plan" if report.dry_run else "status"
    lines = [f"  {'#':>3}  {'run id':<8}  {head:<11} {'wall':>7}  {'overrides':<{width}}  notes"]
    for j in report.jobs:
        wall = f"{j.wall_time:.1f}s" if j.wall_time is not None else "-"
        state = j.state
        if report.dry_run:
            state = {"pending": "run", "skipped": "skip"}.get(j.state, j.state)
        if j.state == "skipped":
            note = f"completed earlier in {_rel(j.path)}"
        elif j.error:
            note = f"error: {j.error}"
        elif j.state in ("completed", "diverged"):
            note = _rel(j.path)
        else:
            note = ""
        lines.append(f"  {j.index:>3}  {j.run_id[:8]:<8}  {state:<11} {wall:>7}  "
                     f"{' '.join(j.overrides):<{width}}  {note}".rstrip())
    order = ("completed", "skipped", "diverged", "failed", "interrupted", "not_run", "invalid", "pending")
    counts = ", ".join(f"{report.count(s)} {s.replace('_', ' ')}" for s in order if report.count(s))
    if report.dry_run:
        counts = counts.replace("pending", "to run").replace("skipped", "to skip (completed earlier)")
        lines.insert(0, f"regrun: dry run, nothing was run: {len(report.jobs)} jobs for {_rel(report.sweep_dir)}")
        lines.append(f"regrun: {counts}")
    else:
        lines.insert(0, f"regrun: sweep of {len(report.jobs)} jobs in {_rel(report.sweep_dir)}")
        by = " by SIGTERM" if "SIGTERM" in report.why else ""
        tail = f" (interrupted{by}: run the same command again to finish)" if report.interrupted else ""
        lines.append(f"regrun: {counts}{tail}")
        lines.append(f"regrun: tables and plots: regrun-collect {_rel(report.sweep_dir)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- entry

def run_sweep(base: DictConfig, config_loader: Any, launcher: Any, arguments: Sequence[str],
              max_batch_size: int | None = None) -> SweepReport:
    """Called by the Hydra sweeper plugin in the main process. Exits with one line on a bad override."""
    global LAST_REPORT
    sweep_dir = Path(str(base.hydra.sweep.dir))
    try:
        jobs, cfgs = plan(arguments, config_loader, base)
    except UserError as exc:
        print(f"regrun: error: {exc}", file=sys.stderr)
        sys.exit(2)
    first = cfgs[0] if cfgs else base
    report = SweepReport(sweep_dir, jobs, dry_run=bool(first.dry_run))
    LAST_REPORT = report

    if first.resume:
        roots = [sweep_dir] + ([Path(str(first.resume_dir))] if first.resume_dir else [])
        earlier = earlier_runs(roots)
        for job in jobs:
            status, folder = earlier.get(job.run_id, ("", None))
            if status == "completed":
                job.state, job.path = "skipped", folder
            elif status:
                job.earlier = status

    if report.dry_run:
        check_jobs(jobs, cfgs)
        print(format_report(report))
        return report
    if first.sweep_check:
        bad = check_jobs(jobs, cfgs, mistakes_only=True)
        if bad:
            # one line per bad point, and nothing started: the points before it would otherwise run first
            for job in bad:
                last = job is bad[-1]
                print(f"regrun: error: job {job.index} ({' '.join(job.overrides)}): {job.error.splitlines()[0]}"
                      + (f"; no job started ({len(bad)} of {len(jobs)} refused; sweep_check=false runs the others "
                         "and lets these fail)" if last else ""), file=sys.stderr)
            sys.exit(2)

    array_size = None
    if "slurm" in str(base.hydra.launcher.get("_target_", "")).lower() and any(j.state == "pending" for j in jobs):
        from .slurm import check_partition, max_array_size

        try:  # before the sweep's folder: a machine without a cluster, or a partition it lacks, is one line
            array_size = max_array_size()
            check_partition(base.hydra.launcher.partition)
        except UserError as exc:
            print(f"regrun: error: {exc}", file=sys.stderr)
            sys.exit(2)
    try:
        sweep_dir = own_sweep_dir(base, launcher, sweep_dir)
    except OSError as exc:
        print(f"regrun: error: cannot create the sweep folder {sweep_dir}: {os_reason(exc)}; "
              "choose a writable place with hydra.sweep.dir=PATH", file=sys.stderr)
        sys.exit(2)
    report.sweep_dir = sweep_dir
    OmegaConf.save(base, sweep_dir / "multirun.yaml")
    for job in jobs:
        if job.state == "skipped":
            _link(job, sweep_dir)
    if any(j.state == "pending" for j in jobs):
        fail_fast = bool(first.fail_fast)
        width = parallelism(base.hydra.launcher)
        if width == 1 or fail_fast:
            batch = width  # sequential launchers go one job at a time so a Ctrl-C stops the sweep, not one job
        else:
            batch = max_batch_size or len(jobs)
        if array_size is not None:
            batch = min(batch, array_size)  # a job array larger than MaxArraySize is refused whole
        _launch(launcher, jobs, sweep_dir, batch, fail_fast, report, width)

    text = format_report(report)
    print(text)
    (sweep_dir / SUMMARY_FILE).write_text(text + "\n")
    return report
