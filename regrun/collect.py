"""`regrun-collect DIR...`: every results file under the folders -> one table (CSV, markdown) and plots.

Everything comes from the results files themselves (status, run id, resolved config, overrides, metrics,
paper values, history); folder names and logs are never parsed, so runs and sweeps, resumed sweeps (whose
finished jobs are symlinks to earlier folders) and hand-moved folders all collect the same way.

Outputs (in --out, default DIR/collected):
  runs.csv         one row per run: run id, status, problem, solver, the parameters that vary between runs
                   (read from the resolved configs), wall time, final metrics, a registration's answer
                   w_affine (y = A x + b: w_affine.a11 ... w_affine.b2), paper values, overrides, error
  groups.csv       where a preset has a `collect:` block: per group of runs and metric, the count, mean, median,
                   min, max and how many runs meet the target (also printed and in summary.md)
  iterations.csv   with --iterations: one row per run and iteration, with every history column
  summary.md       counts, the settings shared by all runs, the paper claims (paper value, measured value,
                   tolerance, verdict), the metrics table with paper values and verdicts beside the measured
                   ones, the failed runs with their errors, links to the plots
  metrics.json     per run: status, varying settings, metrics, paper values and verdicts (and w_affine, below)
  plots/           metrics_vs_<param>.png for each parameter some runs differ in alone; convergence_<solver>.png
"""
from __future__ import annotations

import argparse
import csv
import datetime as _dt
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml

from .config import NOT_HASHED
from .monitor import Reporter
from .record import FILENAME, _read
from .summary import Claim, claims_for, claims_markdown, stop_reason

# History columns that are axes or bookkeeping rather than convergence curves.
NOT_CURVES = ("iter", "level", "time", "outer", "inner")
MAX_PANELS = 12      # panels per figure; metrics carrying paper values come first, so the cap never drops them
# then the answer's error against a truth the user gave, which the cap dropped on a run of 43 metrics (newuser12)
TRUTH_METRICS = ("psnr", "ssim", "rel_error", "disp_rmse", "tre", "motion_error")
# then, with or without a truth, what the run chose and its own check of the answer: a sweep over a user's frame
# folders plotted 12 of 52 metrics in the files' order (data_rel_residual, exposure_*, final_cg_*, ...) and left
# out the weight each folder got, lam_chosen, and noise_sigma (newuser16)
ANSWER_METRICS = ("lam_chosen", "lam", "frames_check_ratio", "noise_sigma", "n_detected", "score", "fit_quality",
                  "misfit_px")
PARALLEL_FROM = 200  # files; fewer are read in this process
# A registration's answer, /result/w_affine, in the order record.RESULT_MEANINGS gives it: not a metric, so the
# runs' table had no column for it and a sweep's rows did not say what each run found (newuser14)
AFFINE = "w_affine"
AFFINE_PARTS = ("a11", "a12", "a21", "a22", "b1", "b2")


@dataclass
class Run:
    path: Path
    attrs: dict[str, Any]
    config: dict[str, Any]             # flattened resolved config: "solver.theta" -> 0.001
    overrides: list[str]
    metrics: dict[str, float]
    paper: dict[str, float]
    history: dict[str, np.ndarray] = field(default_factory=dict)
    groups: list[dict[str, Any]] = field(default_factory=list)  # the preset's `collect:` block
    claims: dict[str, Any] = field(default_factory=dict)        # the preset's `claims:` block (tolerances)
    affine: list[float] | None = None  # /result/w_affine, where the run found one

    @property
    def run_id(self) -> str:
        return str(self.attrs.get("run_id", ""))

    @property
    def status(self) -> str:
        return str(self.attrs.get("status", "?"))

    @property
    def stopped(self) -> str:
        """Why the run or its solver ended on a failure ("" when it did not): summary.stop_reason."""
        a = self.attrs
        stop = a.get("solver_stop")
        return stop_reason(self.status, None if stop is None else str(stop), str(a.get("message") or ""),
                           str(a.get("error") or ""))


# ---------------------------------------------------------------------------------------------- reading

def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out or ({prefix[:-1]: "{}"} if prefix else {})
    if isinstance(node, list):
        return {prefix[:-1]: str(node)}
    return {prefix[:-1]: node}


def find_results(roots: Sequence[Path]) -> list[Path]:
    """Every results.h5 (and .partial of a run killed mid-way) under roots, once per real file."""
    found, seen_dirs, seen_files = [], set(), set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen_dirs:  # a resumed sweep links to folders that may also be under root
                dirnames[:] = []
                continue
            seen_dirs.add(real)
            dirnames.sort()
            for name in (FILENAME, FILENAME + ".partial"):
                if name in filenames:
                    target = os.path.realpath(os.path.join(dirpath, name))
                    if target not in seen_files:
                        seen_files.add(target)
                        found.append(Path(dirpath) / name)
                    break
    return found


# The root attributes collect, the report and their tables use; reading only these (not the ~30 a file holds)
# is a third of the time per file.
ATTRS = ("run_id", "status", "problem", "solver", "device", "dtype", "seed", "wall_time", "end_time", "start_time",
         "error", "message", "device_name", "cuda_version", "cuda_driver_version", "gpu_peak_memory_mb",
         "regrun_version", "git_commit", "git_dirty", "python_version", "torch_version", "numpy_version",
         "solver_status", "solver_stop", "pid", "host")
# the error column of a run whose results.h5.partial still says "running" and whose process is gone
KILLED = ("killed outright (SIGKILL, out of memory, a lost node): its results.h5.partial still says running; "
          "run the same command again")


def _still_running(attrs: dict) -> bool | None:
    """Whether the process that wrote a .partial file still runs: on this host, whether its pid is alive; None
    when it ran on another host (a Slurm node: this machine cannot ask). Files written before the pid was
    recorded: taken as killed, as a sweep's resume does."""
    import os
    import platform

    pid, host = attrs.get("pid"), attrs.get("host")
    if not isinstance(pid, int):
        return False
    if host != platform.node():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _read_scalars(group) -> dict[str, Any]:
    """A group of scalar datasets (/metrics, /paper) through h5py's low-level API: 2-3x faster than
    `group[name][()]` per dataset, which matters for a thousand files."""
    import h5py

    out: dict[str, Any] = {}
    for raw in group.id:
        name = raw.decode()
        dsid = h5py.h5d.open(group.id, raw)
        if dsid.shape == () and dsid.dtype.kind in "fiub":
            arr = np.empty((), dsid.dtype)
            dsid.read(h5py.h5s.ALL, h5py.h5s.ALL, arr)
            out[name] = arr.item()
        else:
            out[name] = _read(group[name])
    return out


def _yaml_load(text: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster where PyYAML was built with it
    return yaml.load(text, Loader=loader)


def read_run(path: Path, with_history: bool) -> Run:
    import h5py

    with h5py.File(path, "r") as f:
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k in ATTRS
                 if (v := f.attrs.get(k)) is not None}
        config = f["config"] if "config" in f else {}
        resolved = _read(config["resolved"]) if "resolved" in config else ""
        overrides = _read(config["overrides"]) if "overrides" in config else []
        groups = {g: (_read_scalars(f[g]) if g in f else {}) for g in ("metrics", "paper")}
        history = _read(f["history"]) if with_history and "history" in f else {}
        found = f.get(f"result/{AFFINE}")
        affine = [float(x) for x in found[()]] if found is not None and found.shape == (len(AFFINE_PARTS),) else None
    if path.name.endswith(".partial") and attrs.get("status") == "running":
        # a run killed outright (kill -9, the OOM killer) had been listed "interrupted", which is a Ctrl-C's or a
        # SIGTERM's recorded end (newuser6); a sweep's resume calls it "killed" too
        alive = _still_running(attrs)
        if alive:
            attrs["status"] = "running"
        elif alive is None:
            attrs["status"] = "unknown"
            attrs["error"] = (f"its results.h5.partial says running, written on host {attrs.get('host')}: running "
                              "there, or killed (this machine cannot ask)")
        else:
            attrs["status"], attrs["error"] = "killed", attrs.get("error") or KILLED
    tree = (_yaml_load(resolved) or {}) if resolved else {}
    blocks = tree.pop("collect", None) or []
    claims = tree.pop("claims", None) or {}
    return Run(path.parent, attrs, flatten(tree), list(overrides or []), groups["metrics"], groups["paper"],
               {k: np.asarray(v) for k, v in history.items() if np.ndim(v) == 1},
               blocks if isinstance(blocks, list) else [], claims if isinstance(claims, dict) else {}, affine)


def latest_per_run_id(runs: list[Run]) -> tuple[list[Run], int]:
    """One run per config hash: a completed one if there is any, else the latest. Returns (runs, dropped)."""
    best: dict[str, Run] = {}
    order: list[str] = []
    for run in runs:
        key = run.run_id or str(run.path)
        if key not in best:
            best[key] = run
            order.append(key)
            continue
        old = best[key]
        # a run killed outright has no end time: by its start, else the older interrupted run of the same command
        # was the row, and the console said "1 interrupted" of a folder whose last run was killed (newuser8)
        rank = lambda r: (r.status == "completed",  # noqa: E731
                          str(r.attrs.get("end_time") or r.attrs.get("start_time") or ""))
        if rank(run) > rank(old):
            best[key] = run
    return [best[k] for k in order], len(runs) - len(order)


# ---------------------------------------------------------------------------------------------- tables

def varying_params(runs: list[Run]) -> tuple[list[str], dict[str, Any]]:
    """(keys whose value differs between runs, in config order; {key: value} shared by all)."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run.config if k not in keys)
    # problem and solver names have their own columns; paper values are not inputs
    skip = set(NOT_HASHED) | {"paper", "problem.name", "solver.name"}
    keys = [k for k in keys if k not in skip and not k.startswith(("paper.", "claims."))]
    varying, shared = [], {}
    for key in keys:
        values = {repr(run.config.get(key)) for run in runs}
        if len(values) > 1:
            varying.append(key)
        else:
            shared[key] = runs[0].config.get(key)
    return varying, shared


def _asked_for(wanted: Sequence[str], names: list[str], purpose: str) -> list[str]:
    """The metrics a user named, each one that no run has refused in one line listing those there are."""
    missing = [m for m in wanted if m not in names]
    if missing:
        raise SystemExit(f"regrun-collect: error: no run has metric(s) {', '.join(missing)}{purpose}; "
                         f"metrics: {', '.join(names)}")
    return list(wanted)


def metric_names(runs: list[Run], wanted: Sequence[str] | None) -> list[str]:
    names: list[str] = []
    for run in runs:
        names.extend(k for k in run.metrics if k not in names)
    return _asked_for(wanted, names, "") if wanted else names


def run_claims(run: Run) -> list[Claim]:
    """The run's verdicts against the paper values it carries, with its preset's tolerances."""
    return claims_for(run.paper, run.metrics, run.claims, run.config.get, run.stopped)


def varying(runs: list[Run], metrics: list[str]) -> list[str]:
    """The metrics with something to show: a metric equal in every completed run (an initial value, a fixed setting
    echoed back) has none (a metric with paper values is kept: the paper line beside a constant is still the
    comparison)."""
    done = [r for r in runs if r.status == "completed" and r.metrics]
    return [m for m in metrics if any(m in r.paper for r in done)
            or len({r.metrics.get(m) for r in done if isinstance(r.metrics.get(m), float)}) > 1]


def plotted_metrics(runs: list[Run], metrics: list[str], wanted: Sequence[str] | None) -> list[str]:
    """The metrics to plot: the ones asked for, else those carrying paper values first, then those against a
    truth (TRUTH_METRICS), then the rest, up to MAX_PANELS (so a cap never drops the metric a paper gives)."""
    if wanted:
        return _asked_for(wanted, metrics, " to plot")
    metrics = ranked(runs, varying(runs, metrics))  # before the cap: constants took panels and drew none
    return metrics[:max(MAX_PANELS, sum(any(m in r.paper for r in runs) for m in metrics))]


def ranked(runs: list[Run], metrics: list[str]) -> list[str]:
    """The metrics in the order a reader looks for them: those with paper values, those against a truth
    (TRUTH_METRICS), the answer's own (ANSWER_METRICS), then the rest in the files' order. summary.md's tables and the plots use it; runs.csv keeps
    the files' order."""
    paper = [m for m in metrics if any(m in r.paper for r in runs)]
    first = paper + [m for m in TRUTH_METRICS + ANSWER_METRICS if m in metrics and m not in paper]
    return first + [m for m in metrics if m not in first]


def _first_line(text: Any) -> str:
    lines = [ln for ln in str(text or "").splitlines() if ln.strip()]
    return lines[0].strip() if lines else ""


# Root attributes that say what a run ran on (the GPU ones only on a GPU).
HARDWARE = ("device_name", "cuda_version", "cuda_driver_version", "gpu_peak_memory_mb")


def hardware_lines(runs: list[Run]) -> list[str]:
    """One line per distinct device a set of runs used, with the largest GPU peak memory among them."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        key = tuple(str(run.attrs.get(k, "")) for k in ("device", "device_name", "cuda_version",
                                                         "cuda_driver_version"))
        groups.setdefault(key, []).append(run)
    lines = []
    for (device, name, cuda, driver), members in sorted(groups.items()):
        text = f"- `{device or '?'}`: {name or 'not recorded'}"
        if cuda not in ("", "none"):
            text += f", CUDA {cuda}, driver {driver}"
        peaks = [float(r.attrs["gpu_peak_memory_mb"]) for r in members if "gpu_peak_memory_mb" in r.attrs]
        if peaks:
            text += f", peak GPU memory up to {max(peaks):.1f} MiB"
        lines.append(f"{text} ({len(members)} run{'s' if len(members) != 1 else ''})")
    return lines


def rows(runs: list[Run], params: list[str], metrics: list[str]) -> list[dict[str, Any]]:
    paper_names = [m for m in metrics if any(m in r.paper for r in runs)]
    out = []
    for run in runs:
        row: dict[str, Any] = {
            "run_id": run.run_id[:8], "status": run.status,
            "problem": run.attrs.get("problem", ""), "solver": run.attrs.get("solver", ""),
        }
        row.update({p: run.config.get(p) for p in params})
        row["wall_time"] = run.attrs.get("wall_time")
        for m in metrics:
            key = m if m not in row else f"metric.{m}"
            row[key] = run.metrics.get(m)
        if any(r.affine for r in runs):
            row.update({f"{AFFINE}.{part}": run.affine[i] if run.affine else None
                        for i, part in enumerate(AFFINE_PARTS)})
        row.update({f"paper.{m}": run.paper.get(m) for m in paper_names})
        verdicts = {c.metric: c.verdict for c in run_claims(run)}
        row.update({f"verdict.{m}": verdicts.get(m) for m in paper_names})
        row.update({"overrides": " ".join(run.overrides), "error": _first_line(run.attrs.get("error")),
                    "device": run.attrs.get("device", ""),
                    **{k: run.attrs.get(k) for k in HARDWARE},
                    "end_time": run.attrs.get("end_time", ""),
                    "run_id_full": run.run_id, "path": str(run.path)})
        out.append(row)
    return out


def write_csv(path: Path, table: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in table:
        columns.extend(k for k in row if k not in columns)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in table:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})


def iteration_rows(runs: list[Run], params: list[str]) -> list[dict[str, Any]]:
    out = []
    for run in runs:
        if not run.history:
            continue
        n = max(len(v) for v in run.history.values())
        base = {"run_id": run.run_id[:8], "status": run.status, "problem": run.attrs.get("problem", ""),
                "solver": run.attrs.get("solver", ""), **{p: run.config.get(p) for p in params}}
        for i in range(n):
            row = dict(base)
            row.update({k: (v[i].item() if i < len(v) else None) for k, v in run.history.items()})
            out.append(row)
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value).replace("|", "\\|")


def _by_problem(runs: list[Run]) -> dict[str, list[Run]]:
    """The runs by problem name, in the order the problems first appear."""
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(str(run.attrs.get("problem", "")), []).append(run)
    return out


def _runs_table(runs: list[Run], params: list[str], metrics: list[str]) -> list[str]:
    """The markdown table of runs: id, status, solver, the settings `params`, wall time, each metric (with the
    paper's value and the verdict where a run carries one)."""
    metrics = ranked(runs, metrics)  # a superres sweep's psnr was its 30th column, after exposure_* (newuser12)
    paper = [m for m in metrics if any(m in r.paper for r in runs)]
    gpu_peak = any("gpu_peak_memory_mb" in r.attrs for r in runs)
    header = ["run", "status", "solver"] + params + ["wall (s)"] + (["peak GPU MiB"] if gpu_peak else [])
    affine = any(r.affine for r in runs)
    header += [f"{AFFINE} ({' '.join(AFFINE_PARTS)})"] if affine else []
    for m in metrics:
        header += [m] + ([f"{m} (paper)", f"{m} verdict"] if m in paper else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        cells = [run.run_id[:8], run.status, str(run.attrs.get("solver", ""))]
        cells += [_fmt(run.config.get(p)) for p in params] + [_fmt(run.attrs.get("wall_time"))]
        if gpu_peak:
            cells.append(_fmt(run.attrs.get("gpu_peak_memory_mb")))
        if affine:
            cells.append(" ".join(_fmt(x) for x in run.affine) if run.affine else "")
        verdicts = {c.metric: c for c in run_claims(run)}
        for m in metrics:
            cells.append(_fmt(run.metrics.get(m)))
            if m in paper:
                c = verdicts.get(m)
                cells += [_fmt(run.paper.get(m)), f"{c.verdict} ({c.tolerance})" if c else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def status_counts(runs: list[Run]) -> str:
    """`1 completed, 2 killed`: how many runs ended each way, statuses in alphabetical order."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.status] = counts.get(run.status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def markdown(runs: list[Run], dropped: int, roots: Sequence[Path], params: list[str], shared: dict[str, Any],
             metrics: list[str], plots: list[Path], out_dir: Path, groups: list[dict[str, Any]] = ()) -> str:
    lines = [f"# regrun-collect: {', '.join(str(r) for r in roots)}", "",
             f"{len(runs)} runs ({status_counts(runs)}), "
             f"collected {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}."]
    if dropped:
        lines.append(f"{dropped} older results file(s) of the same configs were left out (one row per config "
                     "hash, a completed one first; `--all` keeps them).")
    by_problem = _by_problem(runs)
    if len(by_problem) > 1:
        # a folder of several problems (a day of runs) differs in every key one problem has and another lacks: the
        # one table of them all (ux4: 15 runs of 4 problems, 168 "varying" keys, 236 columns); each problem
        # gets its own table of the keys that vary among its runs, and of its metrics
        lines += ["", "Problems: " + ", ".join(f"`{name}` ({len(group)} runs)" for name, group in by_problem.items())
                  + "; each has its table below, with the settings that vary among its runs (runs.csv has every "
                  "column)."]
    else:
        lines += ["", f"Varying: {', '.join(f'`{p}`' for p in params) or 'nothing'}."]
    notable = {f"{k}.name": next(iter(names)) for k in ("problem", "solver")
               if len(names := {r.attrs.get(k) for r in runs}) == 1}
    notable.update({k: v for k, v in shared.items() if "." not in k or k == "device.name"})
    if notable:
        lines.append("Shared: " + ", ".join(f"`{k}={_fmt(v)}`" for k, v in notable.items()) + ".")
    lines += ["", "Devices:"] + hardware_lines(runs)
    claims = [(run, c) for run in runs for c in run_claims(run)]
    if claims:
        counts = {}
        for _, c in claims:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        lines += ["", "## Paper claims", "", ", ".join(f"{n} {v}" for v, n in counts.items()) + " (one row per run "
                  "and paper value; tolerances from each preset's `claims:` block).", ""]
        lines += ["| run | " + claims_markdown([claims[0][1]])[0][2:], "|---" + claims_markdown([claims[0][1]])[1]]
        for run, c in claims:
            lines.append(f"| {run.run_id[:8]} " + claims_markdown([c])[2])
    if groups:
        lines += ["", "## Groups", "", "Statistics over each group of runs the preset's `collect:` block names; "
                  "a run without the metric (one that did not complete) is not within the target.", ""]
        lines += group_markdown(list(groups))
    for name, group in by_problem.items():
        if len(by_problem) > 1:
            group_params = varying_params(group)[0]
            group_metrics = [m for m in metrics if any(m in r.metrics for r in group)]
            lines += ["", f"## Runs: {name}", ""] + _runs_table(group, group_params, group_metrics)
        else:
            lines += ["", "## Runs", ""] + _runs_table(group, params, metrics)
    bad = [r for r in runs if r.status not in ("completed",)]
    if bad:
        lines += ["", "## Not completed", "", "| run | status | error | folder |", "|---|---|---|---|"]
        for run in bad:
            lines.append(f"| {run.run_id[:8]} | {run.status} | {_fmt(_first_line(run.attrs.get('error')))} | "
                         f"{_fmt(os.path.relpath(run.path, out_dir))} |")
    if plots:
        lines += ["", "## Plots", ""]
        lines += [f"![{p.stem}]({os.path.relpath(p, out_dir)})" for p in plots]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- groups

STATS = ("mean", "median", "min", "max")


def _matches(run: Run, where: Any) -> bool:
    """`where`: one `key=value` (the override syntax) or a list of them, all to hold; values compare as YAML."""
    for cond in [where] if isinstance(where, str) else list(where or []):
        key, sep, value = str(cond).partition("=")
        if not sep:
            raise SystemExit(f"regrun-collect: error: collect.where {cond!r} is not key=value")
        if run.config.get(key.strip()) != yaml.safe_load(value.strip()):
            return False
    return True


def _within(value: float, target: dict[str, Any]) -> bool:
    return (target.get("min") is None or value >= float(target["min"])) and \
        (target.get("max") is None or value <= float(target["max"]))


def _target_text(target: dict[str, Any] | None) -> str:
    if not target:
        return ""
    lo, hi = target.get("min"), target.get("max")
    if lo is not None and hi is not None:
        return "= " + _fmt(float(lo)) if float(lo) == float(hi) else f"[{_fmt(float(lo))}, {_fmt(float(hi))}]"
    return f">= {_fmt(float(lo))}" if lo is not None else f"<= {_fmt(float(hi))}"


def group_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """The statistics a preset's `collect:` block asks for: per group of runs (`where`), per metric (a name or
    an fnmatch pattern whose matching metrics are pooled), the count, mean, median, min and max of the values,
    and with a target {min, max} how many runs have every value within it (a run without the metric, e.g. one
    that failed, is not within)."""
    from fnmatch import fnmatchcase

    blocks: list[Any] = []
    for run in runs:
        if run.groups and run.groups not in blocks:
            blocks.append(run.groups)
    out = []
    for block in blocks:
        for spec in block:
            members = [r for r in runs if r.groups == block and _matches(r, spec.get("where"))]
            for pattern, target in (spec.get("metrics") or {}).items():
                per_run = [[float(v) for k, v in sorted(r.metrics.items()) if fnmatchcase(k, pattern)
                            and isinstance(v, (int, float)) and not isinstance(v, bool)] for r in members]
                values = np.array([v for vals in per_run for v in vals], dtype=float)
                row: dict[str, Any] = {"group": spec.get("group", str(spec.get("where"))), "runs": len(members),
                                       "metric": pattern, "values": int(values.size)}
                row.update({s: float(getattr(np, s)(values)) if values.size else None for s in STATS})
                row["target"] = _target_text(target)
                if target:
                    ok = sum(bool(vals) and all(_within(v, target) for v in vals) for vals in per_run)
                    row["within_target"] = f"{ok}/{len(members)}"
                else:
                    row["within_target"] = ""
                out.append(row)
    return out


def group_markdown(table: list[dict[str, Any]]) -> list[str]:
    header = ["group", "runs", "metric", "values", *STATS, "target", "runs within target"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table:
        lines.append("| " + " | ".join(_fmt(row[k]) for k in ("group", "runs", "metric", "values", *STATS,
                                                                "target", "within_target")) + " |")
    return lines


# ---------------------------------------------------------------------------------------------- plots

def _numeric(values: Iterable[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


# the weight settings a sweep compares `auto` against typed values in (issue 16's question), and the metrics that
# hold the weight an auto or learning run took: plotted as categories, auto sat at one end, 0.1 at the other, the
# axis saying nothing of where auto's weight lay among the typed ones (newuser23)
WEIGHT_KEYS = ("problem.lambda_f", "solver.lam")
WEIGHT_TAKEN = ("lam_chosen", "lam_learned", "lam")


def weight_used(run: Run, param: str) -> float | None:
    """The weight a run solved at: its typed problem.lambda_f / solver.lam, else the one it chose or learned."""
    value = run.config.get(param)
    if _numeric([value]):
        return float(value)
    return next((float(run.metrics[m]) for m in WEIGHT_TAKEN if isinstance(run.metrics.get(m), float)), None)


def _label(run: Run, keys: Sequence[str], with_solver: bool = False) -> str:
    parts = [str(run.attrs.get("solver", "?"))] if with_solver else []
    parts += [f"{k.split('.')[-1]}={_fmt(run.config.get(k))}" for k in keys]
    return ", ".join(parts) or run.run_id[:8]


def _grid(n: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax in axes.flat[:n]:
        # an offset ("1e-5+9.993e-1" above the axis) sat on the panel's title and read as part of it
        ax.ticklabel_format(axis="y", useOffset=False)
    return plt, fig, list(axes.flat)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def _style(k: int, n: int) -> dict[str, Any]:
    """The k-th of n curves' colour and marker, fixed per curve across every panel of a figure: matplotlib's
    colour cycle is per axis, so a run missing one history column shifted the colours of the runs after it in that
    panel, and the legend (one for the figure) named the wrong runs. Markers differ too, and earlier curves are
    drawn larger, so that runs with equal values (two optimizers reaching the same minimum) stay visible."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return {"color": cmap(k % cmap.N), "marker": _MARKERS[k % len(_MARKERS)],
            "markersize": max(3.0, 7.0 - 4.0 * k / max(n - 1, 1))}


def _legend_entries(axes) -> tuple[list, list[str]]:
    """Every curve's label once, from all panels: the first panel alone missed the runs without its column."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def _finish(plt, fig, axes, path: Path, shared_legend: bool, *, legend_height: float, top: float = 1.0,
            progress=None) -> Path:
    """Lay out, save and close one figure of panels; with one legend below them when it has several curves."""
    if shared_legend:
        handles, labels = _legend_entries(axes)
        by_label = dict(zip(labels, handles))
        fig.legend(by_label.values(), by_label.keys(), loc="lower center", ncol=min(len(by_label), 4),
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, legend_height if shared_legend else 0, 1, top))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    if progress is not None:
        progress.update(1)
    return path


def plot_metrics(runs: list[Run], params: list[str], metrics: list[str], plot_dir: Path,
                 progress=None) -> list[Path]:
    """For each varying parameter: every final metric against it, one line per setting of the others."""
    done = [r for r in runs if r.status == "completed" and r.metrics]
    metrics = varying(runs, metrics)
    paths = []
    for param in params:
        if not done or not metrics:
            break
        others = [p for p in params if p != param]
        several_solvers = len({r.attrs.get("solver") for r in done}) > 1
        by_others: dict[tuple, list[Run]] = {}
        for run in done:
            key = (str(run.attrs.get("solver")) if several_solvers else "",
                   tuple(repr(run.config.get(o)) for o in others))
            by_others.setdefault(key, []).append(run)
        # A curve shows the parameter's effect only where runs differ in it alone: two or more runs equal in every
        # other varying setting. Runs that differ from all others in several settings at once (a day of one-off
        # runs of several problems, collected together) make no curve here and stay in runs.csv and summary.md;
        # drawn, they made a plot of scattered points per varying key (dozens of plots, minutes each).
        curves = [members for members in by_others.values()
                  if len({repr(r.config.get(param)) for r in members}) > 1]
        if not curves or not any(m in r.metrics for m in metrics for members in curves for r in members):
            if progress is not None:
                progress.update(1)
            continue
        groups = {_label(members[0], others, several_solvers): members for members in curves}
        drawn = [r for members in curves for r in members]
        values = [r.config.get(param) for r in drawn]
        by_weight = (param in WEIGHT_KEYS and not _numeric(values)
                     and all(weight_used(r, param) is not None for r in drawn))
        if by_weight:  # auto or from:RUN at the weight it took, marked, among the typed weights
            values = [weight_used(r, param) for r in drawn]
        numeric = _numeric(values)
        categories = sorted({repr(v) for v in values}) if not numeric else []
        here = [m for m in metrics if any(m in r.metrics for r in drawn)]  # another problem's metrics: empty panels
        plt, fig, axes = _grid(len(here))
        styles = {label: _style(k, len(groups)) for k, label in enumerate(groups)}
        for ax, m in zip(axes, here):
            for label, members in groups.items():
                at = (lambda r: weight_used(r, param)) if by_weight else (lambda r: r.config.get(param))  # noqa: E731
                pts = [(at(r), r.metrics.get(m), r) for r in members if r.metrics.get(m) is not None]
                if numeric:
                    pts.sort(key=lambda p: p[0])
                    x = [p[0] for p in pts]
                else:
                    x = [categories.index(repr(p[0])) for p in pts]
                ax.plot(x, [p[1] for p in pts], linestyle="-" if numeric else "none", label=label, **styles[label])
                for xk, yk, r in pts if by_weight else []:
                    if not _numeric([r.config.get(param)]):
                        word = str(r.config.get(param)).split(":")[0]
                        ax.plot([xk], [yk], marker="*", markersize=14, color="k", linestyle="none")
                        ax.annotate(word, (xk, yk), textcoords="offset points", xytext=(6, 6), fontsize=8)
            if numeric:
                xs = np.asarray([v for v in values], dtype=float)
                if np.all(xs > 0) and xs.max() / xs.min() >= 100:
                    ax.set_xscale("log")
                elif np.all(xs >= 0) and xs.max() > 0 and np.any(xs == 0) and xs.max() / xs[xs > 0].min() >= 100:
                    ax.set_xscale("symlog", linthresh=float(xs[xs > 0].min()))
            else:
                ax.set_xticks(range(len(categories)), [c.strip("'") for c in categories])
            ys = np.asarray([r.metrics.get(m) for r in drawn if isinstance(r.metrics.get(m), float)])
            ys = ys[np.isfinite(ys)]
            if ys.size and np.all(ys > 0) and ys.max() / ys.min() >= 100:
                ax.set_yscale("log")
            paper = {r.paper[m] for r in drawn if m in r.paper}
            for value in paper:
                ax.axhline(value, color="k", linestyle=":", linewidth=1, label="paper")
            ax.set_xlabel(f"{param} (auto at the weight it chose)" if by_weight else param)
            ax.set_title(m, fontsize=10)
        _, labels = _legend_entries(axes[:len(here)])
        shared = len(groups) > 1 or "paper" in labels
        paths.append(_finish(plt, fig, axes[:len(here)], plot_dir / f"metrics_vs_{param}.png", shared,
                             legend_height=0.08, progress=progress))
    return paths


def plot_convergence(runs: list[Run], params: list[str], plot_dir: Path, progress=None) -> list[Path]:
    """Per solver: each history column against the iteration, one curve per run."""
    paths = []
    for solver in sorted({str(r.attrs.get("solver", "?")) for r in runs}):
        members = [r for r in runs if str(r.attrs.get("solver", "?")) == solver and r.history]
        columns: list[str] = []
        for run in members:
            columns.extend(k for k in run.history if k not in columns and k not in NOT_CURVES
                           and run.history[k].dtype.kind in "fiu")
        columns = columns[:MAX_PANELS]
        if not members or not columns:
            continue
        label_keys = [p for p in params if all(p in r.config for r in members)]
        plt, fig, axes = _grid(len(columns))
        for ax, column in zip(axes, columns):
            positive = True
            for k, run in enumerate(members):
                if column not in run.history:
                    continue
                y = run.history[column].astype(float)
                x = run.history.get("iter", np.arange(len(y)))
                style = "-" if run.status == "completed" else ":"
                look = _style(k, len(members))
                ax.plot(x[: len(y)], y, style, color=look["color"], label=_label(run, label_keys) + (
                    "" if style == "-" else f" ({run.status})"))
                finite = y[np.isfinite(y)]
                positive &= bool(finite.size) and bool(np.all(finite > 0))
            if positive:
                ax.set_yscale("log")
            ax.set_xlabel("iteration")
            ax.set_title(column, fontsize=10)
        fig.suptitle(f"convergence: {solver}", fontsize=11)
        paths.append(_finish(plt, fig, axes[:len(columns)], plot_dir / f"convergence_{solver}.png",
                             len(members) > 1, legend_height=0.1, top=0.95, progress=progress))
    return paths


# ---------------------------------------------------------------------------------------------- entry

def _read_one(args: tuple[Path, bool]) -> tuple[Path, Run | str]:
    path, with_history = args
    try:
        return path, read_run(path, with_history)
    except (OSError, KeyError) as exc:
        return path, str(exc)


def _read_all(files: list[Path], with_history: bool) -> Iterable[tuple[Path, Run | str]]:
    """The files in order; many files are read by a few worker processes (HDF5 reads are CPU-bound here)."""
    jobs = [(path, with_history) for path in files]
    workers = min(4, os.cpu_count() or 1)
    if len(files) < PARALLEL_FROM or workers < 2:
        yield from map(_read_one, jobs)
        return
    import multiprocessing

    with multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn").Pool(workers) as pool:
        yield from pool.imap(_read_one, jobs, chunksize=16)


def collect(roots: Sequence[Path], out_dir: Path, iterations: bool = False, keep_all: bool = False,
            wanted_metrics: Sequence[str] | None = None, plots: bool = True, plot_metrics_: Sequence[str] | None = None,
            reporter: Reporter | None = None) -> dict[str, Any]:
    """Write runs.csv, summary.md, plots/ (and iterations.csv) into out_dir; returns what was written."""
    reporter = reporter if reporter is not None else Reporter.silent()
    files = find_results(roots)
    if not files:
        raise FileNotFoundError(f"no {FILENAME} under {', '.join(str(r) for r in roots)}")
    runs, unreadable = [], []
    with reporter.phase(f"reading {len(files)} results files", total=len(files)) as progress:
        for path, run in _read_all(files, with_history=iterations or plots):
            if isinstance(run, Run):
                runs.append(run)
            else:  # a file being written right now, or not one of ours
                unreadable.append(f"{path}: {run}")
            if progress is not None:
                progress.update(1)
    if not runs:
        raise FileNotFoundError(f"no readable {FILENAME} under {', '.join(str(r) for r in roots)}")
    dropped = 0
    if not keep_all:
        runs, dropped = latest_per_run_id(runs)
    params, shared = varying_params(runs)
    metrics = metric_names(runs, wanted_metrics)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"runs": runs, "params": params, "dropped": dropped, "unreadable": unreadable}
    write_csv(out_dir / "runs.csv", rows(runs, params, metrics))
    written["csv"] = out_dir / "runs.csv"
    if iterations:
        write_csv(out_dir / "iterations.csv", iteration_rows(runs, params))
        written["iterations"] = out_dir / "iterations.csv"
    figures: list[Path] = []
    if plots:
        plot_dir = out_dir / "plots"
        plot_dir.mkdir(exist_ok=True)
        chosen = plotted_metrics(runs, metrics, plot_metrics_)
        n_solvers = len({str(r.attrs.get("solver", "?")) for r in runs})
        with reporter.phase("plots", total=len(params) + n_solvers) as progress:
            by_metric = plot_metrics(runs, params, chosen, plot_dir, progress)
            figures = by_metric + plot_convergence(runs, params, plot_dir, progress)
        if by_metric and not plot_metrics_:
            written["unplotted"] = (len(metrics) - len(chosen), len(metrics))
    written["plots"] = figures
    groups = group_rows(runs)
    if groups:
        write_csv(out_dir / "groups.csv", groups)
        written["groups_csv"] = out_dir / "groups.csv"
    written["groups"] = groups
    (out_dir / "summary.md").write_text(markdown(runs, dropped, roots, params, shared, metrics, figures, out_dir,
                                                 groups))
    written["markdown"] = out_dir / "summary.md"
    write_metrics_json(out_dir / "metrics.json", runs, params)
    written["json"] = out_dir / "metrics.json"
    return written


def write_metrics_json(path: Path, runs: list[Run], params: list[str]) -> None:
    """The sweep for a script: per run its status, varying settings, metrics, paper values and verdicts."""
    import json
    from dataclasses import asdict

    from .summary import _jsonable

    data = {"runs": [{"run_id": r.run_id, "status": r.status, "problem": r.attrs.get("problem"),
                      "solver": r.attrs.get("solver"), "path": str(r.path), "wall_time_s": r.attrs.get("wall_time"),
                      "params": {p: r.config.get(p) for p in params}, "metrics": r.metrics, "paper": r.paper,
                      **({AFFINE: r.affine} if r.affine else {}),
                      "claims": [asdict(c) for c in run_claims(r)]} for r in runs]}
    path.write_text(json.dumps(_jsonable(data), indent=1, default=str) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="regrun-collect", description=(
        "Collect every regrun results file under DIR (runs and sweeps alike) into runs.csv, summary.md and "
        "plots/ (see docs/sweeps.md)."))
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR")
    parser.add_argument("-o", "--out", type=Path, help="output folder (default: DIR/collected)")
    parser.add_argument("--iterations", action="store_true", help="also write iterations.csv (one row per "
                                                                  "run and iteration)")
    parser.add_argument("--all", dest="keep_all", action="store_true",
                        help="keep every results file, not one per config hash")
    parser.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                        help="only these final metrics in the table and plots (repeatable)")
    parser.add_argument("--plot-metric", action="append", dest="plot_metrics", metavar="NAME",
                        help="plot these metrics (repeatable; default: the ones with paper values first, then "
                             f"the others, {MAX_PANELS} panels at most)")
    parser.add_argument("--no-plots", dest="plots", action="store_false")
    args = parser.parse_args(argv)
    for d in args.dirs:
        if not d.is_dir():
            # a run's results.h5 given (as regrun's end line names the file of a failed run) was "is not a folder"
            # with no word of which folder (newuser22)
            folder = (f": give its folder, regrun-collect {d.parent}" if d.is_file() and d.name == "results.h5"
                      else "")
            parser.exit(2, f"regrun-collect: error: {d} is not a folder{folder}\n")
    out = args.out or (args.dirs[0] / "collected")
    try:
        written = collect(args.dirs, out, args.iterations, args.keep_all, args.metrics, args.plots,
                          args.plot_metrics, reporter=Reporter(every=5.0, name="regrun-collect"))
    except FileNotFoundError as exc:
        parser.exit(2, f"regrun-collect: error: {exc}\n")
    for line in written["unreadable"]:
        print(f"regrun-collect: skipped unreadable {line}", file=sys.stderr)
    runs = written["runs"]
    params = written["params"]
    by_problem = _by_problem(runs)
    if len(by_problem) > 1:  # a folder of several problems: summary.md has a table per problem
        print(f"regrun-collect: {len(runs)} runs ({status_counts(runs)}) of {len(by_problem)} problems: "
              + ", ".join(f"{name} ({len(group)})" for name, group in by_problem.items()))
    else:
        # a run's many keys: the console names a few, summary.md and runs.csv all
        shown = ", ".join(params[:8]) + (f" and {len(params) - 8} more (summary.md lists them)" if len(params) > 8
                                         else "")
        # every status, as summary.md says it: a killed run read "1 runs (0 completed)" (newuser7)
        print(f"regrun-collect: {len(runs)} runs ({status_counts(runs)}) varying {shown or 'nothing'}")
    if written["groups"]:
        print("\n".join(group_markdown(written["groups"])))
    for key in ("csv", "groups_csv", "iterations", "markdown", "json"):
        if key in written:
            print(f"  {written[key]}")
    for path in written["plots"]:
        print(f"  {path}")
    left, total = written.get("unplotted", (0, 0))
    if left:  # the cap left metrics out without a word (newuser12)
        print(f"regrun-collect: {left} of the {total} metrics not plotted (equal in every run, or past {MAX_PANELS} "
              "panels: the paper's, the truth's and the answer's own (weight, checks) first, then in the files' order); "
              "--plot-metric NAME plots the "
              "ones you name")


if __name__ == "__main__":
    main()
