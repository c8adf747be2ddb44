"""One run: resolve device/dtype/threads, seed, build problem and solver, solve, record, draw figures."""
from __future__ import annotations

import math
import os
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from .config import paper_values, run_identity
from .context import RunContext
from .errors import Diverged, UserError, check_bool, check_choice, check_float, check_int
from .imaging.answer import write_answer
from .monitor import CtrlC, DivergenceGuard, Monitor, ProgressBar, Reporter, TimeLimit
from .record import (ResultsFile, ResultsWriteError, device_facts, disk_full, git_state, os_reason, peak_memory_mb,
                     start_peak_memory)
from .registry import check_pair
from .second_solve import Answer, answer_metrics, second_look
from .solve_result import status_words
from .summary import check_claims, stop_reason, write_run_summary

DTYPES = {"float64": torch.float64, "float32": torch.float32}
DEVICES = ("cpu", "cuda", "auto")


@dataclass
class RunOutcome:
    status: str
    out_dir: Path
    results_path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""
    user_error: bool = False
    wall_time: float = 0.0
    traceback: str = ""
    warnings: list[str] = field(default_factory=list)
    stopped: str = ""  # summary.stop_reason: why the run or its solver ended on a failure ("" when it did not)


class Interrupted(BaseException):
    """Raised from the SIGTERM handler so a terminated run is recorded like a Ctrl-C."""


def resolve_device(spec: DictConfig) -> torch.device:
    name = spec.name
    check_choice("device", name, DEVICES)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"device=cuda but CUDA is not available here (torch {torch.__version__}, "
                f"built for CUDA: {torch.version.cuda or 'no'}); use device=cpu or device=auto"
            )
        index = check_int("device.index", spec.index, 0)
        if index >= torch.cuda.device_count():
            raise UserError(f"device.index={index} but only {torch.cuda.device_count()} CUDA device(s) are visible")
        return torch.device("cuda", index)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _validate_top_level(cfg: DictConfig) -> None:
    check_int("seed", cfg.seed, 0)
    check_int("threads", cfg.threads, 1)
    check_choice("dtype", cfg.dtype, DTYPES)
    check_float("time_limit", cfg.time_limit, 0.0, allow_inf=True)
    for switch in ("progress", "figures", "debug"):
        check_bool(switch, cfg[switch])
    if "cg_iters" in cfg:
        check_int("cg_iters", cfg.cg_iters, 1)
    check_claims(cfg.get("claims") or {})


def _slurm_time_limit() -> str:
    """This Slurm job's time limit as squeue shows it (e.g. "15:00"), or "" when it cannot be asked."""
    import subprocess

    try:
        return subprocess.run(["squeue", "-h", "-j", os.environ["SLURM_JOB_ID"], "-o", "%l"], capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError, KeyError):
        return ""


def _finite_metrics(metrics: dict[str, float]) -> bool:
    return not _non_finite(metrics)


def _non_finite(metrics: dict[str, float]) -> str:
    """The metrics that are NaN or infinite, as `name = value`; the end line of a run they mark diverged said only
    "diverged: diverged" where the solver had converged and one diagnostic was NaN (newuser9: 3-level frames,
    first_solve_exposure_std, a frame whose prediction summed to 0). A PSNR of +inf is an answer equal to its truth,
    not a divergence (newuser24: a run given its own earlier answer as the truth ended "diverged")."""
    return ", ".join(f"{k} = {v}" for k, v in metrics.items()
                     if isinstance(v, float) and not math.isfinite(v) and not _exact_match(k, v))


def _exact_match(name: str, value: float) -> bool:
    return value == math.inf and "psnr" in name.lower()


def _write_summary(cfg, out_dir, facts, status, message, error, metrics, wall, reporter, stopped, arrays,
                   tables=None) -> None:
    """summary.md and metrics.json beside the results file; a failure here must not hide the run's own status."""
    try:
        try:
            paper = paper_values(cfg)
        except Exception:  # a malformed paper block is reported by the run itself
            paper = {}
        claims = OmegaConf.to_container(cfg.claims) if isinstance(cfg.get("claims"), DictConfig) else {}
        write_run_summary(out_dir, status=status, message=message, error=error, facts=facts, metrics=metrics,
                          paper=paper, claims=claims, wall_time=wall, phases=reporter.timings,
                          phases_cpu=reporter.cpu_timings,
                          config=lambda key: OmegaConf.select(cfg, key, default=None), stopped=stopped,
                          result=arrays, tables=tables)
    except Exception as exc:
        reporter.line(f"regrun: could not write summary.md: {type(exc).__name__}: {exc}", err=True)



def run(cfg: DictConfig, out_dir: Path, overrides: list[str] | None = None,
        reporter: Reporter | None = None) -> RunOutcome:
    """Run one configured experiment into out_dir; never raises for failures of the run itself.

    The run talks through `reporter` (the CLI passes one so that its end line joins the same regrun.log);
    without one, a reporter printing to stdout and logging to out_dir/regrun.log is made and closed here."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    own_reporter = reporter is None
    if own_reporter:
        out_dir.mkdir(parents=True, exist_ok=True)
        reporter = Reporter(out_dir / "regrun.log", progress=bool(cfg.progress))
    body = OmegaConf.create({k: v for k, v in cfg.items() if k != "hydra"})
    resolved_yaml = OmegaConf.to_yaml(body, resolve=True)
    commit, dirty = git_state(Path(__file__).parent)
    results = ResultsFile(out_dir)
    facts = {
        **run_identity(cfg),
        "git_commit": commit,
        "git_dirty": "unknown" if dirty is None else dirty,
        "out_dir": str(out_dir.resolve()),
    }
    try:
        results.begin(facts, resolved_yaml, list(overrides or []))
    except OSError as exc:  # nothing has run yet: the output folder is the user's to fix
        for path in (results.partial, results.path):
            path.unlink(missing_ok=True)
        error = f"cannot write the results file in {out_dir}: {os_reason(exc)}; choose a writable place " \
                "with hydra.run.dir=PATH"
        if own_reporter:
            reporter.close()
        return RunOutcome("failed", out_dir, results.path, error=error, user_error=True,
                          wall_time=time.perf_counter() - t0)
    previous_sigterm = signal.getsignal(signal.SIGTERM)
    # Slurm's warning before a job's time limit (submitit asks for SIGUSR2 signal_delay_s ahead): the run stops
    # and says `interrupted` with the minutes it had, instead of submitit's requeue attempt failing the job.
    usr2 = getattr(signal, "SIGUSR2", None)
    previous_usr2 = signal.getsignal(usr2) if usr2 is not None else None

    ctrl_c = CtrlC()  # each signal's exception raised again at the next check, should a finaliser swallow it

    def on_sigterm(signum, frame):
        ctrl_c.stop(lambda: Interrupted("terminated by SIGTERM"))

    def on_usr2(signum, frame):
        limit = os.environ.get("SLURM_JOB_ID") and _slurm_time_limit()
        why = (f"time limit: Slurm's warning signal (SIGUSR2) after {(time.perf_counter() - t0) / 60:.1f} "
               f"min{f' of the job limit {limit}' if limit else ''}; raise hydra.launcher.timeout_min and "
               "run the sweep again (completed jobs are skipped)")
        ctrl_c.stop(lambda: Interrupted(why))

    previous_sigint = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, ctrl_c.handler)
        if usr2 is not None:
            signal.signal(usr2, on_usr2)
    except ValueError:  # not in the main thread (e.g. some launchers): Python's own Ctrl-C handling still applies
        previous_sigterm = previous_usr2 = previous_sigint = None

    status, message, error, user_error, detail = "failed", "", "", False, ""
    solver_status, solver_stop = None, ""
    warnings: list[str] = []
    metrics: dict[str, float] = {}
    arrays: dict = {}
    tables: dict = {}  # the solver's tables once evaluated (a detection's positions, for summary.md)
    monitor = device = ctx = None
    # the first answer, complete, and whether the results file holds it: a Ctrl-C in the motion model's choice, after
    # 20 s of a 40 s run, left summary.md's metrics of it and a results file without them (newuser23)
    first, first_written = None, False
    capture = reporter.capture()
    try:
        capture.__enter__()
        _validate_top_level(cfg)
        problem_cls, solver_cls = check_pair(cfg.problem.name, cfg.solver.name)
        device = resolve_device(cfg.device)
        reporter.line(f"regrun: {cfg.problem.name} with {cfg.solver.name} on {device} ({cfg.dtype}), "
                      f"seed {cfg.seed} -> {out_dir}")
        facts.update(device_facts(device))
        results.set_attrs(facts)
        start_peak_memory(device)
        torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        ctx = RunContext(device=device, dtype=DTYPES[cfg.dtype], seed=cfg.seed, out_dir=out_dir, reporter=reporter)
        solver = solver_cls(cfg.solver, ctx)
        with ctx.phase("data"):
            problem = problem_cls(cfg.problem, ctx)
            results.write("data", problem.inputs())
        limit = TimeLimit(cfg.time_limit)
        ctx.out_of_time = lambda: ctrl_c.check() or limit.expired()

        def solve_and_evaluate(problem, solver):
            nonlocal monitor
            monitor = Monitor([ProgressBar(enabled=bool(cfg.progress), reporter=reporter), DivergenceGuard(), limit,
                               ctrl_c])
            with ctx.phase("solve"):
                result = solver.solve(problem, monitor)
                monitor.close()
            result.history = {**monitor.history.as_arrays(), **result.history}
            with ctx.phase("evaluation"):
                metrics, arrays = problem.evaluate(result)
            return Answer(problem, solver, result, answer_metrics(metrics, result), arrays)

        def solve_changed(changes):
            seed_everything(cfg.seed)  # the same answer as a run given the changes from the start
            return solve_and_evaluate(problem_cls(OmegaConf.merge(cfg.problem, changes), ctx),
                                      solver_cls(cfg.solver, ctx))

        def write_first(first):  # kept if the second solve is stopped
            nonlocal first_written
            results.write("first_solve", {"result": first.arrays, "metrics": first.metrics})
            first_written = True

        first = solve_and_evaluate(problem, solver)
        metrics, arrays = first.metrics, first.arrays  # the summary's, should what follows be stopped
        kept = second_look(first, solve_changed, reporter.line, write_first).answer
        problem, result, metrics, arrays = kept.problem, kept.result, kept.metrics, kept.arrays
        results.write("history", result.history)
        results.write("tables", result.tables)
        tables = result.tables
        results.write("result", arrays)
        results.write("metrics", metrics)
        first_written = True  # the answer kept is written: a later stop loses nothing of the first
        results.write("stats", result.stats)
        results.write("paper", paper_values(cfg))
        answer = problem.answer(arrays)
        if answer is not None:  # written with or without figures: it is the answer, not a picture of it
            write_answer(out_dir, problem.name, answer)
        if cfg.figures:
            with ctx.phase("figures"):
                fig_dir = out_dir / "figures"
                fig_dir.mkdir(parents=True, exist_ok=True)
                problem.figures(result, metrics, fig_dir)
                if result.figures is not None:
                    result.figures(problem, result, metrics, fig_dir)
        ctrl_c.check()  # a Ctrl-C that a finaliser swallowed after the solver's last step
        message = f"solver {status_words(result.status)}: {result.message}"
        # a failure the verdicts name: the solver's own (bilevel's line search) or the time limit cutting the solve
        # short; an optimizer that stalled in round-off (SciPy's "bad approximation", LM's damping limit) has
        # status "stopped" too, but its answer is the converged one (docs/ct.md, "Verdict of outer_iterations")
        solver_status = result.status
        solver_stop = result.stop or (f"time_limit={cfg.time_limit} s reached ({result.message})"
                                      if limit.fired and result.status == "stopped" else "")
        results.set_attrs({"solver_status": solver_status, "solver_stop": solver_stop})
        warnings = problem.warnings(metrics)
        if warnings:
            message += "".join(f"; WARNING: {w}" for w in warnings)
        if result.status == "diverged" or not _finite_metrics(metrics):
            status = "diverged"
            bad = _non_finite(metrics)
            error = f"solver {status_words(result.status)}: {result.message}" + (f"; not finite: {bad}" if bad else "")
        else:
            status = "completed"
    except UserError as exc:
        error, user_error = str(exc), True
        detail = traceback.format_exc()
    except Diverged as exc:
        status, error = "diverged", str(exc)
    except (KeyboardInterrupt, Interrupted) as exc:
        status, error = "interrupted", str(exc) or "interrupted by Ctrl-C"
    except Exception as exc:  # a bug or an unexpected failure: keep the traceback in the file
        error = f"{type(exc).__name__}: {exc}"
        detail = traceback.format_exc()
        if disk_full(exc):  # the place, not the run: it was "failed: OSError: 3456 requested and 3056 written"
            error, user_error = (f"the disk of the output folder {out_dir} is full ({os_reason(exc)}): free space "
                                 "there or choose another place with hydra.run.dir=PATH"), True
    finally:
        capture.__exit__(None, None, None)  # first: whatever fails below must not leave sys.stdout redirected
        if monitor is not None:
            monitor.close()
            if status != "completed":
                try:
                    results.write("history", monitor.history.as_arrays())
                except Exception:  # the partial history is a courtesy; the status must still be written
                    pass
        if status != "completed" and first is not None and not first_written:
            try:
                write_first(first)  # defined where first is set
                error = (f"{error}; the first answer, complete before the run's second look at it, is kept in the "
                         "results file's /first_solve (result and metrics)")
            except Exception:  # a courtesy, as the partial history: the status must still be written
                pass
        if status != "completed" and ctx is not None and ctx.kept_metrics and not metrics:
            try:  # what the solver had finished measuring before the run stopped
                metrics = dict(ctx.kept_metrics)
                results.write("metrics", metrics)
            except Exception:
                pass
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
        if previous_usr2 is not None:
            signal.signal(usr2, previous_usr2)
        wall = time.perf_counter() - t0
        peak = peak_memory_mb(device) if device is not None else None
        try:
            if peak is not None:
                results.set_attrs({"gpu_peak_memory_mb": peak})
            path = results.finish(status, wall, message=message,
                                  error=f"{error}\n{detail}".strip() if detail and not user_error else error)
        except ResultsWriteError as exc:  # not even a small file fits: the console is the only record left
            path, status, error, user_error = results.path, "failed", str(exc), False
        stopped = stop_reason(status, solver_stop, message, error)
        _write_summary(cfg, out_dir, facts, status, message, error, metrics, wall, reporter, stopped, arrays, tables)
        if detail and not user_error:
            reporter.line(detail.rstrip(), console=False)  # the traceback, for whoever reads the log
        if own_reporter:
            reporter.close()
    return RunOutcome(status, out_dir, path, metrics, error, user_error, wall, detail, warnings, stopped)
