"""`regrun-report OUT`: run (resuming) or collect every experiment preset and write one self-contained HTML page.

Each preset runs as a sweep (`regrun -m +experiment=NAME`, the same sweeper and launchers as any sweep, so a
re-run skips every job whose results file says completed) into OUT/runs/NAME; then every results file is read
and the page OUT/report.html shows, per paper, each claim with the paper's value, the measured value, the
preset's stated tolerance and the verdict (reproduced / better / differs / capped, with the documented reason),
the run's figures (embedded as base64 PNG: the page is one file), and the environment at the top.

    regrun-report OUT               every paper preset (configs/experiment): hours; resumes
    regrun-report --quick OUT       the CI-sized presets (configs/ci) and QUICK_PAPER's presets: minutes
    regrun-report --collect OUT     only read what OUT/runs holds, run nothing
    regrun-report OUT --preset superres_fig5 --preset crab_fig4     a few presets
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .collect import Run, find_results, latest_per_run_id, read_run, run_claims
from .config import group_options
from .monitor import Reporter, _duration
from .peers import PeerRow, peer_rows
from .summary import VERDICTS

# Which paper a problem reproduces (the seeds in ../shared/notes), for the page's sections.
PAPERS = {
    "multiscale_affine": "Applications of AD in image registration (seed 000): registration",
    "superres": "Applications of AD in image registration (seed 000): super-resolution",
    "crab_detection": "Hierarchical rotation-invariant detection (seed 002)",
    "spike_pair": "Hierarchical rotation-invariant detection (seed 002)",
    "motif_pose": "Hierarchical rotation-invariant detection (seed 002)",
    "ct_fewview": "Bilevel learning of the TV weight for few-view CT (seed 003)",
}
# --quick: the CI-sized presets, plus these paper presets at their preset setting only (one job each, not the
# figure's whole sweep), so the quick page has claims with verdicts too: about a minute each on the 2-core box.
QUICK_PAPER = ("superres_fig5", "ct_gp_equals_cv", "crab_fig4")
ONE_JOB = "hydra.sweeper.params=null"
FIGURES_PER_RUN = 2
# the peers' table columns in this order, with their headings
PEER_METRICS = {"rel_error": "rel_error", "psnr": "psnr", "ssim": "ssim", "disp_rmse": "disp_rmse (px)",
                "tre": "tre", "J_theta0": "J at θ=0"}
RUNS_WITH_FIGURES = 3  # per preset: a sweep of 20 scenes shows its first three runs' figures


@dataclass
class Preset:
    group: str            # experiment or ci
    name: str
    runs: list[Run] = field(default_factory=list)
    returncode: int | None = None  # of the sweep command, when it was run here
    seconds: float | None = None
    cpu_seconds: float | None = None
    extra: tuple[str, ...] = ()    # overrides for this preset's sweep (--quick: ONE_JOB)
    error: str = ""                # the refused sweep's own one-line error, from its log
    peers: dict[str, list[PeerRow]] = field(default_factory=dict)  # run id -> the peers' rows on its data

    @property
    def paper(self) -> str:
        problems = {str(r.attrs.get("problem", "?")) for r in self.runs}
        names = sorted({PAPERS.get(p, p) for p in problems}) or ["(no runs)"]
        return names[0]


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children: a sweep's cost on a shared machine,
    where wall time depends on the load."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_preset(preset: Preset, out: Path, extra: Sequence[str], reporter: Reporter) -> None:
    """One preset as a sweep into out/runs/NAME, resuming from everything under out/runs."""
    folder = out / "runs" / preset.name
    cmd = [sys.executable, "-m", "regrun.cli", "-m", f"+{preset.group}={preset.name}",
           f"hydra.sweep.dir={folder}", f"resume_dir={out / 'runs'}", "progress=false", *preset.extra, *extra]
    t0, c0 = time.perf_counter(), _children_cpu()
    with open(out / "logs" / f"{preset.name}.log", "w") as log:
        sweep = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            preset.returncode = sweep.wait()
        except KeyboardInterrupt:
            # a terminal's Ctrl-C reached the sweep too, which records its job interrupted: subprocess.run killed
            # it outright here, leaving a `.partial` that reads `running` (newuser7); a second Ctrl-C ends it
            try:
                sweep.wait(timeout=60)
            finally:
                if sweep.poll() is None:
                    sweep.kill()
            raise
    preset.seconds, preset.cpu_seconds = time.perf_counter() - t0, _children_cpu() - c0
    reporter.line(f"regrun-report: {preset.name}: {preset.seconds:.0f} s wall, {preset.cpu_seconds:.0f} s CPU")
    if preset.returncode != 0:
        preset.error = _error_line(out / "logs" / f"{preset.name}.log")
        reporter.line(f"regrun-report: {preset.name}: exit {preset.returncode} (log: "
                      f"{out / 'logs' / (preset.name + '.log')})" + (f": {preset.error}" if preset.error else ""),
                      err=True)


def _error_line(log: Path) -> str:
    """The last `regrun: error:` line of a sweep's log, '' if none: a preset refused for want of FAIR's images was
    "exit 2 (log: ...)" and, at the end, "1 of 19 presets without a run", the reason only in the log (newuser29)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    said = [line.strip() for line in lines if line.strip().startswith("regrun: error:")]
    return said[-1][len("regrun: "):] if said else ""


def read_preset(preset: Preset, out: Path) -> None:
    folder = out / "runs" / preset.name
    runs = []
    for path in find_results([folder]) if folder.is_dir() else []:
        try:
            runs.append(read_run(path, with_history=False))
        except (OSError, KeyError):
            continue
    preset.runs = latest_per_run_id(runs)[0]
    for run in preset.runs[:RUNS_WITH_FIGURES]:
        rows = peer_rows(run)
        if rows:
            preset.peers[run.run_id] = rows


# ---------------------------------------------------------------------------------------------- the page

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}.reproduced{background:#d9f2d9}.better{background:#d6e9fb}.differs{background:#fbdcdc}.capped{background:#fbefd5}.stopped{background:#f6c9a8}
.missing{background:#eee}img{max-width:min(100%,900px);border:1px solid #ddd;margin:4px 0}
section.paper{border-top:3px solid #444;margin-top:2em}section.preset{margin-left:1em}
.why{color:#555;font-size:12px}code{background:#f6f6f6;padding:0 3px}
"""


def _esc(x) -> str:
    return html.escape(str(x))


def _num(x) -> str:
    return "—" if x is None else (f"{x:.4g}" if isinstance(x, float) else _esc(x))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{_esc(path.stem)}" src="data:image/png;base64,{data}"><figcaption>' \
           f"{_esc(path.parent.parent.name)}/{_esc(path.name)}</figcaption></figure>"


def environment(presets: Sequence[Preset]) -> list[tuple[str, str]]:
    runs = [r for p in presets for r in p.runs]
    keys = ("regrun_version", "git_commit", "python_version", "torch_version", "numpy_version")
    first = runs[0].attrs if runs else {}
    devices = sorted({f"{r.attrs.get('device', '?')}: {r.attrs.get('device_name', '?')}" for r in runs})
    rows = [(k.replace("_", " "), str(first.get(k, "?"))) for k in keys]
    rows += [("devices", "; ".join(devices) or "none"),
             ("written", _dt.datetime.now().astimezone().isoformat(timespec="seconds"))]
    return rows


def claim_rows(run: Run) -> str:
    out = []
    for c in run_claims(run):
        why = f'<div class="why">{_esc(c.why)}</div>' if c.why else ""
        out.append(f'<tr><td>{_esc(run.run_id[:8])}</td><td>{_esc(_setting(run))}</td><td>{_esc(c.metric)}</td>'
                   f"<td>{_num(c.paper)}</td><td>{_num(c.measured)}</td><td>{_esc(c.tolerance)}</td>"
                   f'<td class="{c.verdict}">{_esc(c.verdict)}{why}</td></tr>')
    return "".join(out)


def _setting(run: Run) -> str:
    """What distinguishes a run of a sweep: its command-line overrides without the bookkeeping ones."""
    skip = ("hydra.", "resume_dir=", "progress=", "+experiment=", "+ci=")
    return " ".join(o for o in run.overrides if not o.startswith(skip)) or "(preset)"


def preset_html(preset: Preset) -> str:
    parts = [f'<section class="preset" id="{_esc(preset.name)}"><h3>{_esc(preset.group)}: '
             f"<code>{_esc(preset.name)}</code></h3>"]
    done = sum(r.status == "completed" for r in preset.runs)
    ran = f", ran in {_duration(preset.seconds)} ({_duration(preset.cpu_seconds)} CPU)" \
        if preset.seconds is not None else ""
    parts.append(f"<p>{len(preset.runs)} run(s), {done} completed{ran}. Command: "
                 f"<code>regrun -m +{_esc(preset.group)}={_esc(preset.name)}{''.join(' ' + _esc(e) for e in preset.extra)}"
                 "</code></p>")
    rows = "".join(claim_rows(r) for r in preset.runs)
    if rows:
        parts.append("<table><tr><th>run</th><th>setting</th><th>metric</th><th>paper</th><th>measured</th>"
                     f"<th>tolerance</th><th>verdict</th></tr>{rows}</table>")
    else:
        parts.append("<p>No paper values in this preset; the final metrics:</p>")
        for run in preset.runs[:RUNS_WITH_FIGURES]:
            cells = "".join(f"<tr><td>{_esc(k)}</td><td>{_num(v)}</td></tr>" for k, v in list(run.metrics.items())[:20])
            parts.append(f"<table><tr><th colspan=2>{_esc(run.run_id[:8])} ({_esc(run.status)})</th></tr>{cells}"
                         "</table>")
    parts.append(peers_html(preset))
    bad = [r for r in preset.runs if r.status != "completed"]
    for run in bad:
        error = str(run.attrs.get("error", "")).splitlines()[:1]
        parts.append(f'<p class="differs">{_esc(run.run_id[:8])}: {_esc(run.status)}: {_esc(error[0] if error else "")}'
                     "</p>")
    for run in preset.runs[:RUNS_WITH_FIGURES]:
        figs = sorted((run.path / "figures").glob("*.png")) if (run.path / "figures").is_dir() else []
        parts += [_img(f) for f in figs[:FIGURES_PER_RUN]]
    parts.append("</section>")
    return "\n".join(parts)


def peers_html(preset: Preset) -> str:
    """regrun's row and the peers' rows on the same data, per run (regrun/peers.py): measured numbers, or why
    there are none."""
    tables = []
    for run in preset.runs:
        rows = preset.peers.get(run.run_id)
        if not rows:
            continue
        keys = [k for k in PEER_METRICS if any(k in r.metrics for r in rows)]
        head = "".join(f"<th>{_esc(PEER_METRICS[k])}</th>" for k in keys)
        solve, solve_cpu = _solve_seconds(run), _solve_seconds(run, "phases_cpu_s")
        spent = [f"{_seconds(sec)} {kind}" for sec, kind in ((solve_cpu, "CPU"), (solve, "wall")) if sec is not None]
        body = [f"<tr><td>regrun ({_esc(run.attrs.get('solver', '?'))})</td>"
                + "".join(f"<td>{_num(run.metrics.get(k))}</td>" for k in keys) + "<td>this run</td>"
                f"<td>{', '.join(spent) + ' (solve phase)' if spent else ''}</td></tr>"]
        for r in rows:
            spent = [f"{_seconds(sec)} {kind}" for sec, kind in ((r.cpu_seconds, "CPU"), (r.wall_seconds, "wall"))
                     if sec is not None]
            body.append(f"<tr><td>{_esc(r.method)}</td>" + "".join(f"<td>{_num(r.metrics.get(k))}</td>" for k in keys)
                        + f'<td class="why">{_esc(r.note)}</td><td>{", ".join(spent)}</td></tr>')
        tables.append(f'<table class="peers"><tr><th>{_esc(run.run_id[:8])}: method</th>{head}<th>how</th>'
                      f"<th>time</th></tr>{''.join(body)}</table>")
    if not tables:
        return ""
    return "<h4>Peers on the same data</h4>" + "".join(tables)


def _seconds(x: float) -> str:
    """Peers' times: a few milliseconds stay readable."""
    return f"{x:.2g} s" if x < 1 else _duration(x)


def _solve_seconds(run: Run, key: str = "phases_s") -> float | None:
    """The run's solve phase in wall seconds (key phases_cpu_s: CPU seconds), from its metrics.json
    (regrun/summary.py), None without one (CPU: runs before ux5 did not record it)."""
    try:
        return float(json.loads((run.path / "metrics.json").read_text())[key]["solve"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def build_html(presets: Sequence[Preset], title: str) -> str:
    counts = {v: 0 for v in (*VERDICTS, "missing")}
    for p in presets:
        for r in p.runs:
            for c in run_claims(r):
                counts[c.verdict] += 1
    papers: dict[str, list[Preset]] = {}
    for p in presets:
        papers.setdefault(p.paper, []).append(p)
    env = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in environment(presets))
    summary = ", ".join(f'<span class="{v}">{n} {v}</span>' for v, n in counts.items() if n) or "no paper claims"
    body = [f"<h1>{_esc(title)}</h1>", f'<section id="environment"><h2>Environment</h2><table>{env}</table></section>',
            f'<section id="summary"><h2>Claims</h2><p>{summary}. A claim is reproduced when the measured value is '
            "within the preset's stated tolerance of the paper's (its <code>claims:</code> block), better when it "
            "is outside in the direction the preset calls better, capped when the run stopped at a cap (such as "
            "<code>solver.max_outer</code>) at or below the paper's value, so that it says nothing of it, stopped "
            "when the run or its solver ended on a failure (a line search that found no decrease, a time limit; "
            "the reason and the verdict its value alone would get beside it), and differs otherwise (with the documented reason where there is one).</p><ul>"
            + "".join(f'<li><a href="#{_esc(p.name)}">{_esc(p.name)}</a></li>' for p in presets) + "</ul></section>"]
    for paper, members in papers.items():
        body.append(f'<section class="paper"><h2>{_esc(paper)}</h2>')
        body += [preset_html(p) for p in members]
        body.append("</section>")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{_esc(title)}</title><style>{CSS}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def _not_done(presets: list[Preset], out: Path, args: argparse.Namespace) -> str:
    """What the count line leaves out: presets without a run and runs that did not complete. `--collect` over a
    report stopped by Ctrl-C in its first preset said "0 reproduced, 0 better, 0 differs, 0 capped, 0 stopped",
    exit 0, of a page of 18 empty presets and one interrupted run (newuser11)."""
    empty = [p.name for p in presets if not p.runs]
    statuses = Counter(r.status for p in presets for r in p.runs if r.status != "completed")
    parts = [f"{len(empty)} of {len(presets)} preset{'s' if len(presets) != 1 else ''} without a run"] if empty else []
    parts += [f"{n} run{'s' if n != 1 else ''} {status}" for status, n in sorted(statuses.items())]
    if not parts:
        return ""
    refused = [p for p in presets if not p.runs and p.error]
    return f"; {', '.join(parts)}" + (f": `{_command(args, out)}` runs them (finished jobs are skipped)"
                                      if args.collect else _refused_said(refused, out, args))


def _refused_said(refused: list[Preset], out: Path, args: argparse.Namespace) -> str:
    """The presets whose sweep was refused, named, and where the cause is a data folder missing (FAIR's images for
    superres_fig5 in a clone outside this workplace), the command that runs them on the user's copy and the one that
    then writes the whole page (newuser29)."""
    if not refused:
        return ""
    names = ", ".join(p.name for p in refused)
    said = f" ({names}: refused, the reason above and in {out / 'logs'})"
    data = [p.name for p in refused if "problem.data_dir=" in p.error]
    if not data:
        return said
    quick = "--quick " if args.quick else ""
    return (f"{said}; `regrun-report {quick}{' '.join(f'--preset {n}' for n in data)} {out} problem.data_dir=PATH` "
            f"runs {'them' if len(data) > 1 else 'it'} on your copy of the data, then `regrun-report --collect "
            f"{quick}{out}` writes the whole page")


def _no_claims(presets: list[Preset]) -> str:
    """Where no run that completed states a paper value, the count line's zeros are no verdict: two CI presets that
    completed read "0 reproduced, 0 better, 0 differs, 0 capped, 0 stopped", as if nothing had worked (newuser14)."""
    done = [r for p in presets for r in p.runs if r.status == "completed"]
    if not done or any(run_claims(r) for r in done):
        return ""
    return (f"; {len(done)} run{'s' if len(done) != 1 else ''} completed, none with a paper value to judge "
            "(the CI presets check runs, not the paper's numbers): the page lists their metrics")


def _command(args: argparse.Namespace, out: Path, collect: bool = False) -> str:
    """The regrun-report command for the same presets and overrides (with --collect: the page alone)."""
    return " ".join(["regrun-report", *(["--collect"] if collect else []), *(["--quick"] if args.quick else []),
                     *(f"--preset {n}" for n in (args.preset or [])), str(out), *args.overrides])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="regrun-report", description=__doc__.splitlines()[0])
    # OUT optional to argparse only so that its missing is named alone: with the KEY=VALUE list after it, Python
    # 3.11's argparse said "required: OUT, KEY=VALUE", and KEY=VALUE is not
    parser.add_argument("out", type=Path, metavar="OUT", nargs="?",
                        help="the report's folder: OUT/runs (one sweep per preset), OUT/report.html, OUT/report.log")
    parser.add_argument("--quick", action="store_true",
                        help=f"the CI-sized presets (configs/ci) and {', '.join(QUICK_PAPER)} at their preset "
                             "setting, instead of the paper presets (configs/experiment)")
    parser.add_argument("--collect", action="store_true", help="run nothing: read OUT/runs as it is")
    parser.add_argument("--preset", action="append", metavar="NAME", help="only these presets (repeatable)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="passed to every sweep (e.g. device=cuda)")
    # intermixed: `regrun-report OUT --quick device=cuda` (an override after a flag) was "unrecognized arguments:
    # device=cuda" (newuser10), argparse having matched the empty override list before the flags
    args = parser.parse_intermixed_args(argv)
    if args.out is None:
        parser.error("the following argument is required: OUT")
    group = "ci" if args.quick else "experiment"
    # --quick's paper presets are named as they are in the quick page, so `--quick --preset crab_fig4` picks one
    quick_paper = QUICK_PAPER if args.quick else ()
    names = [*quick_paper, *group_options(group)]
    if args.preset:
        unknown = [n for n in args.preset if n not in names]
        if unknown:
            parser.exit(2, f"regrun-report: error: unknown {'quick' if args.quick else group} preset(s) "
                           f"{', '.join(unknown)}; valid: {', '.join(names)}\n")
        names = list(dict.fromkeys(args.preset))
    out = args.out
    runs = [] if (out / "runs").is_dir() else [
        f for pattern in ("results.h5", "*/results.h5", "*/*/results.h5", "*/*/*/results.h5") for f in out.glob(pattern)]
    if runs:
        # a user's own run folder (or outputs/) given to see their run: without --collect the page's every preset
        # would have run into it (hours), with it "runs does not exist ... run `regrun-report OUT` first" (newuser3)
        parser.exit(2, f"regrun-report: error: {out} holds {len(runs)} run{'s' if len(runs) != 1 else ''} of regrun "
                       f"({runs[0]}): regrun-report runs the paper presets into OUT/runs and shows those; a run of "
                       f"your own is shown by its summary.md, and `regrun-collect {out}` tabulates and plots runs\n")
    if args.collect and not (out / "runs").is_dir():
        # an empty page with exit 0 read as "nothing reproduces" when the folder was only mistyped
        parser.exit(2, f"regrun-report: error: {out / 'runs'} does not exist: nothing to collect (run "
                       f"`regrun-report {'--quick ' if args.quick else ''}{out}` first, without --collect)\n")
    held = sorted(p.name for p in (out / "runs").iterdir() if p.is_dir()) if (out / "runs").is_dir() else []
    if args.collect and held and not set(held) & set(names):
        # `--collect OUT` over a page made with --quick: 14 empty presets and exit 0, "0 reproduced" (newuser7)
        other = "--quick " if not args.quick and set(held) <= set(QUICK_PAPER) | set(group_options("ci")) else ""
        parser.exit(2, f"regrun-report: error: {out / 'runs'} holds {', '.join(held)}, none of the "
                       f"{'quick ' if args.quick else ''}presets asked for: "
                       f"`regrun-report --collect {other}{' '.join(f'--preset {n}' for n in held)} {out}` shows "
                       f"{'them' if len(held) > 1 else 'it'}\n")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    reporter = Reporter(out / "report.log", name="regrun-report")
    presets = [Preset("experiment", n, extra=(ONE_JOB,)) if n in quick_paper else Preset(group, n) for n in names]
    # the page is written once every preset has run: said, as a Ctrl-C before then leaves none (newuser11, 12)
    reporter.line(f"regrun-report: {len(presets)} preset{'s' if len(presets) != 1 else ''} -> {out / 'report.html'}"
                  + ("" if args.collect else " (written once the last has run)"))
    t0, c0 = time.perf_counter(), _children_cpu() + time.process_time()
    for i, preset in enumerate(presets, 1):
        if not args.collect:
            try:
                with reporter.phase(f"{preset.name} ({i}/{len(presets)})"):
                    run_preset(preset, out, args.overrides, reporter)
            except KeyboardInterrupt:
                reporter.line(f"regrun-report: interrupted: Ctrl-C in {preset.name}; the runs finished are kept in "
                              f"{out / 'runs'}: run the same command again to go on (finished jobs are skipped); "
                              f"no {out / 'report.html'} was written: `{_command(args, out, collect=True)}` writes "
                              "the page of the runs finished", err=True)
                reporter.close()
                sys.exit(130)
        read_preset(preset, out)
    if not args.collect:
        reporter.line(f"regrun-report: ran {len(presets)} preset{'s' if len(presets) != 1 else ''} in "
                      f"{_duration(time.perf_counter() - t0)} wall, "
                      f"{_duration(_children_cpu() + time.process_time() - c0)} CPU")
    page = out / "report.html"
    # the title says what the page holds: with --preset, those presets (it had said "CI-sized presets and three
    # paper presets" above a page of one)
    kind = "quick: CI-sized presets and three paper presets" if args.quick else "paper presets"
    if args.preset:
        kind = f"{'quick ' if args.quick else ''}preset{'s' if len(names) != 1 else ''} {', '.join(names)}"
    page.write_text(build_html(presets, f"regrun report ({kind})"))
    counts = {v: sum(c.verdict == v for p in presets for r in p.runs for c in run_claims(r)) for v in VERDICTS}
    reporter.line(f"regrun-report: {', '.join(f'{n} {v}' for v, n in counts.items())} -> {page} "
                  f"({os.path.getsize(page) / 1e6:.1f} MB){_not_done(presets, out, args)}{_no_claims(presets)}")
    reporter.close()
    failed = [p.name for p in presets if p.returncode not in (None, 0)]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
