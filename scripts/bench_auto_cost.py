#!/usr/bin/env python
"""What a weight chosen from the data (`auto`) costs against the same command with that weight typed (issue 16:
at most ~10 solves of the fixed-weight problem), whole `regrun` processes as a user runs them, today's defaults.

For each case: A = the command with no weight typed (super-resolution's problem.lambda_f and CT's solver.lam are
`auto` for a user's file), B = the same command with the weight A chose typed (`problem.lambda_f=` / `solver.lam=`,
repr of /metrics/lam_chosen), run alternately A B A B ... (`--repeats` pairs) so the machine's noise shows between
repeats. Each run is one child process, one thread; its CPU is user + system from the child's rusage (start-up,
figures and the results file included), beside wall seconds and the 1-minute load (`os.getloadavg`) at its start.
The table gives per case the median CPU of A and of B, their ratio, and every run's λ, PSNR and a hash of the
final motion (`/result/w`), so a change meant to save time can be checked to change no answer.

Cases (`--sr` and `--ct`, any number):
- `PATH.npz`: a frame set (keys frames, truth; scripts/make_sr_frames.py's, bench_lambda_sr.py's `--keep`, ...);
  `synth:SIZE:FRAMES:CHANNELS:SEED`: bench_superres_scaling.py's textured phantom set, written under `--out`;
- `--ct PATH.npz`: a sinogram file of scripts/heldout_ct_sinograms.py (run with solver=fista_tv).

    python scripts/bench_auto_cost.py --out outputs/autocost/run1 --repeats 2 \\
        --sr synth:32:8:1:9261 FRAMES.npz \\
        --ct SINOGRAM.npz
    python scripts/bench_auto_cost.py --out outputs/autocost/prof --profile --sr synth:64:16:1:9265   # cProfile of A
    python scripts/bench_auto_cost.py --table outputs/autocost/run1/runs.json     # the table again, from stored runs

`--profile` runs A once under cProfile (one thread) and prints its 40 largest cumulative entries; `--code DIR`
runs DIR's regrun (another worktree: PYTHONPATH=DIR) for a before/after in one script run.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_superres_scaling import write_set  # noqa: E402  (scripts/bench_superres_scaling.py)


def commands(kind: str, path: Path) -> tuple[list[str], str]:
    """The user's command for a case and the override that types its weight."""
    if kind == "sr":
        return (["problem=superres", "problem.data=frames", f"problem.frames={path}", f"problem.truth={path}"],
                "problem.lambda_f")
    return ["problem=ct_fewview", "problem.data=file", f"problem.sinogram={path}", "solver=fista_tv"], "solver.lam"


def run_child(args: list[str], out: Path, code: Path | None, profile: Path | None = None) -> dict:
    """One regrun process; its CPU from the children's rusage, its answers from its results file."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if code is not None:
        env["PYTHONPATH"] = str(code)
    prog = [shutil.which("regrun")]
    if profile is not None:
        prog = [sys.executable, "-m", "cProfile", "-o", str(profile), prog[0]]
    load = os.getloadavg()[0]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(prog + args + ["progress=false", f"hydra.run.dir={out}"], env=env, capture_output=True,
                          text=True)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), "wall_s": wall, "load": load,
           "ok": proc.returncode == 0}
    if not row["ok"]:
        row["error"] = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
        return row
    row["phases"] = phases(out / "regrun.log")
    with h5py.File(out / "results.h5", "r") as f:
        m = f["metrics"]
        for key in ("lam_chosen", "lam", "psnr", "lam_solves", "motion_error"):
            if key in m:
                row[key] = float(m[key][()])
        if "result/w" in f:
            row["w_hash"] = hashlib.sha1(np.ascontiguousarray(f["result/w"][()]).tobytes()).hexdigest()[:12]
        row["image_hash"] = hashlib.sha1(np.ascontiguousarray(f["result/reconstruction"][()]).tobytes()
                                         ).hexdigest()[:12]
    return row


PHASE_DONE = re.compile(r"regrun: (.+) done in (?:([0-9]+) min )?([0-9.]+) s$")


def phases(log: Path) -> dict[str, float]:
    """Wall seconds of each phase the run's regrun.log closes ("solve > lambda_f choice (gcv) done in 6.9 s"),
    summed over repeats of a phase (a run solved again has two of each)."""
    out: dict[str, float] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        m = PHASE_DONE.search(line)
        if m:
            out[m[1]] = out.get(m[1], 0.0) + 60 * float(m[2] or 0) + float(m[3])
    return out


def sr_path(spec: str, root: Path) -> Path:
    if not spec.startswith("synth:"):
        return Path(spec)
    size, frames, channels, seed = (int(v) for v in spec.split(":")[1:])
    return write_set(root, size, frames, 0.01, 8, seed, channels=channels)


def bench(cases, out: Path, repeats: int, code: Path | None) -> list[dict]:
    rows = []
    for kind, path in cases:
        base, key = commands(kind, path)
        case = {"kind": kind, "case": path.name, "runs": []}
        lam = None
        for r in range(repeats):
            a = run_child(base, out / f"{path.stem}_A{r}", code)
            a["arm"] = "auto"
            case["runs"].append(a)
            lam = a.get("lam_chosen", lam)
            if lam is None:
                break
            b = run_child(base + [f"{key}={lam!r}"], out / f"{path.stem}_B{r}", code)
            b["arm"] = "typed"
            case["runs"].append(b)
            print(json.dumps({"case": path.name, "auto": a, "typed": b}), flush=True)
        rows.append(case)
        (out / "runs.json").write_text(json.dumps(rows, indent=1))
    return rows


def table(rows) -> str:
    lines = ["| case | auto CPU-s (runs) | typed CPU-s (runs) | ratio (median) | auto wall / typed wall (s, median) "
             "| load | λ chosen | PSNR auto / typed | w, image the same in every auto / typed run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in rows:
        a = [r for r in c["runs"] if r["arm"] == "auto" and r["ok"]]
        b = [r for r in c["runs"] if r["arm"] == "typed" and r["ok"]]
        if not a or not b:
            lines.append(f"| {c['case']} | failed: {[r.get('error') for r in c['runs'] if not r['ok']]} |")
            continue
        ca, cb = statistics.median(r["cpu_s"] for r in a), statistics.median(r["cpu_s"] for r in b)
        wa, wb = statistics.median(r["wall_s"] for r in a), statistics.median(r["wall_s"] for r in b)
        same = ["yes" if all(len({r.get(k) for r in arm}) == 1 for k in ("w_hash", "image_hash")) else "no"
                for arm in (a, b)]
        loads = [r["load"] for r in a + b]
        psnr = f"{a[0].get('psnr', float('nan')):.4f} / {b[0].get('psnr', float('nan')):.4f}"
        each_a, each_b = (", ".join(f"{r['cpu_s']:.1f}" for r in arm) for arm in (a, b))
        lines.append(f"| {c['case']} | {ca:.1f} ({each_a}) | {cb:.1f} ({each_b}) | {ca / cb:.2f} "
                     f"| {wa:.1f} / {wb:.1f} | {min(loads):.1f}-{max(loads):.1f} | {a[0]['lam_chosen']:.6g} "
                     f"| {psnr} | {same[0]} / {same[1]} |")
    return "\n".join(lines)


def phase_table(rows) -> str:
    """Per case, the median wall seconds of each phase in the auto and the typed runs (wall: under a shared
    machine's load several times the CPU; read the shares, not the seconds)."""
    lines = ["| case | phase | auto wall s | typed wall s |", "|---|---|---|---|"]
    for c in rows:
        arms = {arm: [r.get("phases", {}) for r in c["runs"] if r["arm"] == arm and r["ok"]]
                for arm in ("auto", "typed")}
        names = list(dict.fromkeys(k for arm in arms.values() for p in arm for k in p))
        for name in names:
            cell = [f"{statistics.median(p.get(name, 0.0) for p in arm):.1f}" if arm else "-" for arm in arms.values()]
            lines.append(f"| {c['case']} | {name} | {cell[0]} | {cell[1]} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("outputs/bench_auto_cost"))
    ap.add_argument("--sr", nargs="*", default=[], help="frame sets: PATH.npz or synth:SIZE:FRAMES:CHANNELS:SEED")
    ap.add_argument("--ct", nargs="*", default=[], type=Path, help="sinogram files (.npz/.npy)")
    ap.add_argument("--repeats", type=int, default=2, help="A B pairs per case")
    ap.add_argument("--code", type=Path, default=None, help="run this tree's regrun (PYTHONPATH)")
    ap.add_argument("--profile", action="store_true", help="one auto run per case under cProfile, top 40 printed")
    ap.add_argument("--table", type=Path, default=None, help="print the table of a stored runs.json and stop")
    args = ap.parse_args(argv)
    if args.table is not None:
        rows = json.loads(args.table.read_text())
        print(table(rows) + "\n\n" + phase_table(rows))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [("sr", sr_path(s, args.out)) for s in args.sr] + [("ct", p) for p in args.ct]
    if args.profile:
        import pstats
        for kind, path in cases:
            prof = args.out / f"{path.stem}.prof"
            row = run_child(commands(kind, path)[0], args.out / f"{path.stem}_prof", args.code, profile=prof)
            print(json.dumps({"case": path.name, **row}))
            pstats.Stats(str(prof)).sort_stats("cumulative").print_stats(40)
        return
    rows = bench(cases, args.out, args.repeats, args.code)
    text = table(rows) + "\n\n" + phase_table(rows)
    print(text)
    (args.out / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
