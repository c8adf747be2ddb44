"""Waiting on a sweep's Slurm jobs without trusting accounting, for the launcher in hydra_plugins/regrun_sweeper.

submitit learns that a job ended from `sacct`; on clusters without accounting it never does (a job killed
before it wrote its result is waited on forever, with "Bypassing sacct error" at every poll), and one dead
job makes it raise for the whole batch. Here each job is followed on its own: done when its result pickle
exists, dead when it has left `squeue` for longer than a grace period without one. The job ids and log
paths are printed when the jobs are submitted; a Ctrl-C cancels them (`scancel`) and says so; each job's
console output is copied into its run folder once it has ended.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

POLL_S = 3.0          # squeue once per poll for the whole batch
DEAD_GRACE_S = 15.0   # a job out of squeue this long without a result pickle is dead (the file may lag)
DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's default MaxArraySize


def say(message: str) -> None:
    print(f"regrun: {message}", file=sys.stderr, flush=True)


def max_array_size() -> int:
    """The cluster's MaxArraySize (a job array may hold indices 0 .. MaxArraySize-1), from scontrol. A machine
    that no Slurm controller answers is a UserError in Slurm's own words: each job's sbatch then failed alone after
    about 20 s and the sweep ended "2 failed" with the jobs' error in its table (newuser12)."""
    from .errors import UserError

    elsewhere = ("run the sweep on the cluster's login node, or here without hydra/launcher=slurm "
                 "(hydra/launcher=joblib hydra.launcher.n_jobs=2 runs two jobs at a time); no job started")
    try:
        proc = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        raise UserError(f"hydra/launcher=slurm, but Slurm's commands are not installed here (no scontrol on the "
                        f"PATH): {elsewhere}") from None
    except (OSError, subprocess.SubprocessError):
        return DEFAULT_MAX_ARRAY_SIZE
    if proc.returncode != 0:
        said = next((ln.strip() for ln in proc.stderr.splitlines() if ln.strip()), f"exit status {proc.returncode}")
        raise UserError(f"hydra/launcher=slurm, but no Slurm controller answers from this machine (scontrol: "
                        f"{said}): {elsewhere}")
    for line in proc.stdout.splitlines():
        if line.split("=")[0].strip() == "MaxArraySize":
            try:
                return int(line.split("=", 1)[1].strip())
            except ValueError:
                break
    return DEFAULT_MAX_ARRAY_SIZE


def check_partition(partition: Any) -> None:
    """A UserError when `partition` (sbatch's --partition: one name or several, comma-separated) names one that
    sinfo does not list: each job's sbatch failed alone with "invalid partition specified" and the sweep ended
    "2 failed", exit 1 (newuser25). Nothing is said when sinfo cannot be asked (sbatch then has the last word)."""
    from .errors import UserError

    if partition is None:
        return
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return
    # sinfo marks the default partition with a trailing *
    known = [ln.strip().rstrip("*") for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not known:
        return
    missing = [p for p in str(partition).split(",") if p.strip() not in known]
    if missing:
        raise UserError(f"hydra.launcher.partition={partition} names no partition of this cluster "
                        f"({', '.join(missing)}); sinfo lists {', '.join(known)}; no job started")


def in_queue(job_ids: Sequence[str]) -> set[str] | None:
    """The ids (`<array>_<task>` or plain) among job_ids that squeue still lists; None when squeue fails, so
    that a flaky controller is not taken for every job having died."""
    bases = sorted({j.split("_")[0] for j in job_ids})
    try:
        proc = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(bases)], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        # squeue exits 1 with "Invalid job id specified" once every listed job has been purged
        return set() if "Invalid job id" in proc.stderr else None
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


def cancel(job_ids: Sequence[str]) -> None:
    if not job_ids:
        return
    bases = sorted({j.split("_")[0] for j in job_ids})
    try:
        subprocess.run(["scancel", *bases], capture_output=True, text=True, timeout=30)
        say(f"cancelled the sweep's Slurm job(s) {', '.join(bases)} (scancel)")
    except (OSError, subprocess.SubprocessError) as exc:
        say(f"could not cancel Slurm job(s) {', '.join(bases)}: {exc}; cancel them with scancel")


def announce(jobs: Sequence[Any]) -> None:
    ids = [str(j.job_id) for j in jobs]
    first = jobs[0].paths
    say(f"submitted {len(ids)} Slurm job(s): {ids[0]}{' ... ' + ids[-1] if len(ids) > 1 else ''}; "
        f"console logs: {first.stdout} (one per job; copied into each run folder when it ends)")


def _copy_logs(job: Any, folder: Path | None) -> None:
    if folder is None or not folder.is_dir():
        return
    for src, name in ((job.paths.stdout, f"slurm-{job.job_id}.out"), (job.paths.stderr, f"slurm-{job.job_id}.err")):
        try:
            if Path(src).is_file():
                shutil.copyfile(src, folder / name)
        except OSError:  # the copy is a convenience; the log stays in .submitit/
            pass


def _result(job: Any, JobReturn, JobStatus) -> Any:
    """The job's JobReturn from its result pickle (read directly: submitit's job.result() asks sacct first);
    a job that raised becomes a FAILED JobReturn carrying the last line of its traceback."""
    from submitit.core.utils import pickle_load

    for attempt in range(3):
        try:
            outcome, value = pickle_load(job.paths.result_pickle)
            break
        except (EOFError, OSError):  # still being written
            time.sleep(1)
    else:
        outcome, value = "error", f"unreadable result file {job.paths.result_pickle}"
    if outcome == "success":
        return value
    ret = JobReturn()
    lines = [ln for ln in str(value).splitlines() if ln.strip()]
    ret.status, ret.return_value = JobStatus.FAILED, RuntimeError(lines[-1] if lines else "the job failed")
    return ret


def wait(jobs: Sequence[Any], sweep_dir: Path, indices: Sequence[int | None]) -> list[Any]:
    """Each job's JobReturn (None for a job that died without one: the sweep then reads its results file),
    in the order given. Ctrl-C cancels the jobs still queued or running, then re-raises."""
    from hydra.core.utils import JobReturn, JobStatus

    returns: list[Any] = [None] * len(jobs)
    pending = set(range(len(jobs)))
    gone_since: dict[int, float] = {}
    try:
        while pending:
            queued = in_queue([str(jobs[i].job_id) for i in pending])
            now = time.monotonic()
            for i in sorted(pending):
                job = jobs[i]
                if job.paths.result_pickle.exists():
                    returns[i] = _result(job, JobReturn, JobStatus)
                    pending.discard(i)
                elif queued is not None and str(job.job_id) not in queued:
                    gone_since.setdefault(i, now)
                    if now - gone_since[i] >= DEAD_GRACE_S:
                        ret = JobReturn()
                        ret.status = JobStatus.FAILED
                        ret.return_value = RuntimeError(
                            f"Slurm job {job.job_id} ended without a result (killed: out of memory, time limit, "
                            f"node failure or scancel; see {job.paths.stderr})")
                        returns[i] = ret
                        pending.discard(i)
                        say(f"Slurm job {job.job_id} left the queue without a result; the others go on")
                else:
                    gone_since.pop(i, None)
                if i not in pending:
                    say(f"Slurm job {job.job_id} ended ({len(jobs) - len(pending)} of {len(jobs)})")
                    value = getattr(returns[i], "_return_value", None)
                    found = sorted(sweep_dir.glob(f"{indices[i]}_*")) if indices[i] is not None else []
                    folder = Path(value.out_dir) if getattr(value, "out_dir", None) else (found or [None])[0]
                    _copy_logs(job, folder)
            if pending:
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        cancel([str(jobs[i].job_id) for i in pending])
        raise
    return returns
