"""What a person reads: claim verdicts (paper value, measured value, tolerance -> reproduced / better / differs /
capped / stopped),
a run folder's summary.md and metrics.json, shared by run.py, regrun-collect and regrun-report.

A preset states how each paper value is judged in its `claims:` block (not part of the config hash):

    claims:
      rel_error: {tol: 0.01, better: lower, why: "..."}   # |measured - paper| <= 0.01 reproduces; lower is better
      gap_decades_affine: {bound: min}                      # the paper's value is a lower bound
      score: {rel: 0.05}                                    # within 5% of the paper's value
      outer_iterations: {tol: 5, better: lower, cap: solver.max_outer}   # the run stops at solver.max_outer

`tol` is absolute, `rel` a fraction of |paper| (the larger of the two applies); `better` (lower / higher) names
the direction in which a value outside the tolerance is an improvement rather than a miss; `bound` (min / max)
says the paper gives a bound, not a value; `why` is the documented reason shown beside a verdict that is not
"reproduced". `cap` names the config key that bounds the metric from above (an iteration count stopped at
`solver.max_outer`): a run that reached its cap only says that the true value is at least the cap, so where the
cap lies at or below the paper's value plus the tolerance, the verdict is "capped" (not comparable, the reason
beside it), never "better" or "reproduced": a cap is not an improvement. A paper value without a claim entry is
judged exactly (tolerance 0).

A run that ended on a failure (issue 19) is judged "stopped" on every claim it has a value for, its stop reason
beside it (stop_reason: bilevel's line search that found no decrease before `max_outer`, the time limit cutting
the solve short, or a run that did not complete) followed by the verdict the value alone would get: a value reached
by a solve that stopped on a failure is not a reproduction, nor an improvement.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .imaging.answer import answer_line

VERDICTS = ("reproduced", "better", "differs", "capped", "stopped")
CLAIM_KEYS = ("tol", "rel", "better", "bound", "why", "cap")


@dataclass
class Claim:
    metric: str
    paper: float
    measured: float | None
    tolerance: str
    verdict: str        # reproduced / better / differs / capped / stopped / missing (the run has no value)
    why: str = ""


def check_claims(claims: Mapping[str, Any]) -> None:
    """A preset's claims block, checked before anything runs: unknown fields or directions are one-line errors."""
    from .errors import UserError

    for metric, spec in (claims or {}).items():
        if not isinstance(spec, Mapping):
            raise UserError(f"claims.{metric} must be a mapping of {', '.join(CLAIM_KEYS)}; got {spec!r}")
        unknown = [k for k in spec if k not in CLAIM_KEYS]
        if unknown:
            raise UserError(f"claims.{metric}.{unknown[0]} is not a claim field; allowed: {', '.join(CLAIM_KEYS)}")
        if spec.get("better") not in (None, "lower", "higher"):
            raise UserError(f"claims.{metric}.better={spec['better']!r} is not valid; allowed: lower, higher")
        if spec.get("bound") not in (None, "min", "max"):
            raise UserError(f"claims.{metric}.bound={spec['bound']!r} is not valid; allowed: min, max")
        if spec.get("cap") is not None and not (isinstance(spec["cap"], str) and spec["cap"]):
            raise UserError(f"claims.{metric}.cap={spec['cap']!r} must name a config key (e.g. solver.max_outer)")


def _num(x: float) -> str:
    return f"{x:.4g}"


def judge(metric: str, paper: float, measured: float | None, spec: Mapping[str, Any] | None,
          cap: float | None = None, stopped: str = "") -> Claim:
    """The verdict on one paper value; `cap` is the value of the config key the spec's `cap` names (None: none);
    `stopped` the run's stop reason when it ended on a failure (stop_reason; "" when it did not)."""
    claim = _judge(metric, paper, measured, spec, cap)
    if stopped and claim.verdict != "missing":
        # the value alone would be judged as `claim` is; shown, but the verdict is the failure
        return Claim(metric, paper, measured, claim.tolerance, "stopped",
                     f"{stopped}; the value alone would read {claim.verdict}")
    return claim


def _judge(metric: str, paper: float, measured: float | None, spec: Mapping[str, Any] | None,
           cap: float | None) -> Claim:
    spec = dict(spec or {})
    tol = max(float(spec.get("tol") or 0.0), float(spec.get("rel") or 0.0) * abs(paper))
    bound, better, why = spec.get("bound"), spec.get("better"), str(spec.get("why") or "")
    if bound == "min":
        text = f">= {_num(paper - tol)}"
    elif bound == "max":
        text = f"<= {_num(paper + tol)}"
    elif spec.get("rel") and not spec.get("tol"):
        text = f"± {float(spec['rel']):.0%}"
    else:
        text = f"± {_num(tol)}"
    if better and not bound:
        text += f", {better} is better"
    if measured is None or not math.isfinite(measured):
        return Claim(metric, paper, measured, text, "missing", why)
    if bound == "min":
        verdict = "reproduced" if measured >= paper - tol else "differs"
    elif bound == "max":
        verdict = "reproduced" if measured <= paper + tol else "differs"
    elif abs(measured - paper) <= tol * (1 + 1e-12):
        verdict = "reproduced"
    elif (better == "lower" and measured < paper) or (better == "higher" and measured > paper):
        verdict = "better"
    else:
        verdict = "differs"
    if cap is not None and measured >= cap and cap <= paper + tol and not bound:
        # stopped by the cap: the value it would have reached is >= cap, which the tolerance cannot judge
        return Claim(metric, paper, measured, text, "capped",
                     f"the run stopped at its cap {spec.get('cap')}={_num(cap)}, not above the paper's "
                     f"{_num(paper)}: not comparable")
    return Claim(metric, paper, measured, text, verdict, why if verdict != "reproduced" else "")


def claims_for(paper: Mapping[str, float], metrics: Mapping[str, float], claims: Mapping[str, Any],
               config: Callable[[str], Any] | None = None, stopped: str = "") -> list[Claim]:
    """One verdict per paper value, in the order of the paper block; `config(key)` gives a config value (for the
    claims' `cap`; None where the key is not set); `stopped` as judge's."""
    return [judge(m, float(p), metrics.get(m), (claims or {}).get(m), cap_value((claims or {}).get(m), config),
                  stopped) for m, p in paper.items()]


def stop_reason(status: str, solver_stop: str | None = None, message: str = "", error: str = "") -> str:
    """Why a run ended on a failure, in one line ("" when it did not): a run that did not complete (its error), or
    a solver that says it stopped on a failure (`solver_stop`: bilevel's line search that found no decrease, the
    time limit; SolveResult.stop). A solver status "stopped" alone is not one: SciPy's "bad approximation" and
    LM's damping limit are optimizers stalled in round-off at their answer. Results files written before
    solver_stop was recorded (None) name bilevel's failure only in their message ("solver stopped:
    line_search_failed ...")."""
    if status != "completed":
        first = (error or message).splitlines()[0] if (error or message) else ""
        return f"the run {status}" + (f": {first}" if first else "")
    if solver_stop is None and message.startswith("solver stopped: line_search_failed"):
        solver_stop = message[len("solver stopped: "):]
    return f"the solver stopped: {solver_stop.splitlines()[0]}" if solver_stop else ""


def cap_value(spec: Mapping[str, Any] | None, config: Callable[[str], Any] | None) -> float | None:
    """The value of the config key a claim's `cap` names, as a number (None without a cap, a config or a value)."""
    key = (spec or {}).get("cap")
    if not key or config is None:
        return None
    value = config(str(key))
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def claims_markdown(rows: Sequence[Claim]) -> list[str]:
    if not rows:
        return []
    out = ["| metric | paper | measured | tolerance | verdict |", "|---|---|---|---|---|"]
    for c in rows:
        measured = "—" if c.measured is None else _num(c.measured)
        verdict = f"**{c.verdict}**" + (f" ({c.why})" if c.why else "")
        out.append(f"| {c.metric} | {_num(c.paper)} | {measured} | {c.tolerance} | {verdict} |")
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; a string keeps the fact readable
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


SMALL_RESULT = 16  # a result of at most this many numbers is the run's answer in a few numbers (an affine's 6)


def small_results(result: Mapping[str, Any]) -> dict[str, list]:
    """The run's /result arrays of at most SMALL_RESULT numbers, as nested lists: a user's registration answers
    with w_affine (y = A x + b), which summary.md and metrics.json left out (userpass: readable only with Python);
    images, occurrence maps and many frames' motions stay in results.h5 and the figures."""
    import numpy as np

    out = {}
    for name, value in result.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray) and 0 < value.size <= SMALL_RESULT and value.dtype.kind in "biuf":
            out[name] = value.astype(float).tolist()
    return out


DETECTIONS_SHOWN = 10  # detections listed one a line (console and summary.md); the rest counted ("and N more")
DETECTION_FIELDS = ("score", "centre_row", "centre_col", "angle_deg")


def detections(tables: Mapping[str, Any] | None) -> list[dict[str, float]]:
    """A detection run's instances from its /tables/detections (full-size photo pixels, degrees), strongest as the
    solver ordered them: where the crab is was only in the results file and figures/boxes.png, the console said
    "1 detected" (newuser3); metrics.json carries them and the console and summary.md print them."""
    table = (tables or {}).get("detections") or {}
    if not all(k in table for k in DETECTION_FIELDS):
        return []
    import numpy as np

    cols = {k: np.asarray(table[k], dtype=float).reshape(-1) for k in DETECTION_FIELDS}
    return [{k: float(cols[k][i]) for k in DETECTION_FIELDS} for i in range(len(cols["score"]))]


def detection_lines(found: Sequence[Mapping[str, float]]) -> list[str]:
    """One line per detection, at most DETECTIONS_SHOWN, then "and N more": the centre in rows from the top and
    columns from the left, the angle as the template's angles run (clockwise as displayed: a crab turned 50 degrees
    counterclockwise reads -50, newuser3)."""
    lines = [f"detection {i + 1}: centre (row {d['centre_row']:.1f}, col {d['centre_col']:.1f}), "
             f"angle {d['angle_deg']:.1f} deg (+ is clockwise), score {d['score']:.3f}" for i, d in enumerate(found[:DETECTIONS_SHOWN])]
    if len(found) > DETECTIONS_SHOWN:
        lines.append(f"and {len(found) - DETECTIONS_SHOWN} more (/tables/detections of results.h5)")
    return lines


def _meaning(name: str, facts: Mapping[str, Any]) -> str:
    """': <what it is>' for a /result array whose name the results file describes by name (record.py), else ''."""
    from .record import FIELD_MEANINGS, PROBLEM_FIELD_MEANINGS

    text = PROBLEM_FIELD_MEANINGS.get(str(facts.get("problem")), {}).get(name) or FIELD_MEANINGS.get(name)
    return f": {text}" if text else ""


def frames_check_line(metrics: Mapping[str, Any]) -> str:
    """How well an answer to a user's frames did, in words, where there is no truth: its held-out frames check
    (registration/superres_check.py). The console and summary.md gave `frames_check_ratio = 0.191` among 30
    metrics and said nothing unless it was 1 or more (newuser16); '' without the check."""
    ratio = metrics.get("frames_check_ratio")
    if not isinstance(ratio, float) or ratio != ratio:
        return ""
    count = int(metrics.get("frames_check_frames") or 0)
    frames = f"the {count} frames it was not fitted to" if count > 1 else "the frame it was not fitted to"
    return (f"frames check: the answer predicts {frames} with {ratio:.2g} of the squared error bicubic upsampling "
            f"of frame 0 makes on them (frames_check_ratio; below 1 it explains the frames better than bicubic, "
            f"at 1 and above the run warns; it does not see under-smoothing or motion lost by whole periods)")


def write_run_summary(out_dir: Path, *, status: str, message: str, error: str, facts: Mapping[str, Any],
                      metrics: Mapping[str, float], paper: Mapping[str, float], claims: Mapping[str, Any],
                      wall_time: float, phases: Sequence[tuple[str, float]] = (),
                      phases_cpu: Sequence[tuple[str, float]] = (),
                      config: Callable[[str], Any] | None = None, stopped: str = "",
                      result: Mapping[str, Any] | None = None,
                      tables: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """summary.md (for a person) and metrics.json (for a script) in a run folder; `config` and `stopped` as
    claims_for's; `result`: the run's /result arrays (the small ones are shown, small_results); `tables`: the
    solver's /tables (a detection run's instances are listed, detections)."""
    out_dir = Path(out_dir)
    rows = claims_for(paper, metrics, claims, config, stopped)
    answer = small_results(result or {})
    found = detections(tables)
    figures = sorted((out_dir / "figures").glob("*.png")) if (out_dir / "figures").is_dir() else []
    data = {"status": status, "message": message, "error": error.splitlines()[0] if error else "",
            **{k: facts.get(k) for k in ("problem", "solver", "device", "device_name", "dtype", "seed", "run_id")},
            "wall_time_s": wall_time, "phases_s": {name: sec for name, sec in phases},
            "phases_cpu_s": {name: sec for name, sec in phases_cpu},
            "stop_reason": stopped, "metrics": dict(metrics), "result": answer, "paper": dict(paper),
            "claims": [asdict(c) for c in rows], **({"detections": found} if found else {}),
            "figures": [os.path.relpath(f, out_dir) for f in figures]}
    json_path = out_dir / "metrics.json"
    json_path.write_text(json.dumps(_jsonable(data), indent=1) + "\n")
    lines = [f"# {facts.get('problem', '?')} with {facts.get('solver', '?')}: {status}", ""]
    if message:
        lines += [f"{message}", ""]
    if error:  # Ctrl-C is recorded as the error of an interrupted run, which is not a mistake
        lines.append(("Interrupted: " if status == "interrupted" else "Error: ") + error.splitlines()[0])
    elif stopped:
        lines.append("Stopped on a failure: " + stopped)
    if lines[-1] == "":
        lines.pop()  # an interrupted run has no message: one blank line under the title, not two
    lines += ["", f"- device: `{facts.get('device', '?')}` ({facts.get('device_name', '?')}), "
                  f"{facts.get('dtype', '?')}, seed {facts.get('seed', '?')}",
              f"- run id: `{str(facts.get('run_id', ''))[:8]}`; results file `results.h5`; log `regrun.log`",
              f"- wall time: {wall_time:.1f} s"
              + ("".join(f"; {name} {sec:.1f} s" for name, sec in phases) if phases else "")]
    if phases_cpu:  # this process's CPU seconds (all threads): the work, whatever the machine's load
        lines.append("- CPU time: " + "; ".join(f"{name} {sec:.1f} s" for name, sec in phases_cpu))
    if rows:
        counts = {v: sum(c.verdict == v for c in rows) for v in (*VERDICTS, "missing")}
        lines += ["", "## Paper claims", "",
                  ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".", ""] + claims_markdown(rows)
    claimed = {c.metric for c in rows}
    rest = {k: v for k, v in metrics.items() if k not in claimed}
    if rest:
        lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_num(v) if isinstance(v, float) else v} |" for k, v in rest.items()]
    if answer:
        lines += ["", "## Result", "", "The run's answer where it is a few numbers (arrays in `results.h5`, "
                  "group `/result`):", ""]
        lines += [(f"- `{k}` = [{', '.join(_num(x) if isinstance(x, float) else str(x) for x in v)}]"
                   if all(not isinstance(x, list) for x in v) else f"- `{k}` = {v}") + _meaning(k, facts)
                  for k, v in answer.items()]
    if found:
        lines += ["", "## Detections", "", "Full-size photo pixels (rows from the top, columns from the left); every "
                  "column in `/tables/detections` of `results.h5`, boxes drawn in `figures/boxes.png`:", ""]
        lines += [f"- {line}" for line in detection_lines(found)]
    check = frames_check_line(metrics)
    if check:
        lines += ["", "## How well, without a truth", "", check[0].upper() + check[1:] + "."]
    answer_file = answer_line(out_dir, str(facts.get("problem", "")))  # a user's frames, sinogram or pair
    if answer_file:
        lines += ["", "## Result as an array", "", f"- {answer_file}"]
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{f.stem}]({os.path.relpath(f, out_dir)})" for f in figures]
    md_path = out_dir / "summary.md"
    md_path.write_text("\n".join(lines) + "\n")
    return md_path, json_path
