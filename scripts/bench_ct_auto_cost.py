#!/usr/bin/env python
"""What CT's `solver.lam=auto` costs on a user's sinogram file against the same command with the weight typed, and
where its CPU goes (docs/ct.md "What `auto` costs on a user's sinogram, and where (ctcost)").

Cases are scripts/ct_auto_cost.py's (a scripts/ct_radon_files.py `*_case.npz`, or a scripts/heldout_ct_sinograms.py
`--user` file); each run is the README's command as one `regrun` process, one thread (OMP/MKL pinned), its CPU the
child's user + system rusage, beside its wall seconds and the 1-minute load at its start.

Ratios: `--code DIR [DIR ...]` runs each worktree's regrun (PYTHONPATH=DIR) in the same sitting, case by case and
code by code alternately (auto of every code, then typed of every code, `--repeats` times), so that a before/after
ratio is read within one run on a shared, noisy machine. The typed run types the weight the first code's `auto`
chose. The table gives, per case and code, the median CPU of auto and of typed, their ratio, and whether the answer
(weight, PSNR, grid, the image's hash) is the first code's bit for bit.

    PYTHONPATH=. python scripts/bench_ct_auto_cost.py CASE.npz [CASE.npz ...] --out OUT/cost.json \\
        --code ../main . [--repeats 2] [--set KEY=VALUE ...]
    PYTHONPATH=. python scripts/bench_ct_auto_cost.py --table OUT/cost.json     # the table again

`--fista CASE.npz` times, in this process, one training run of `auto`'s search (the first fold, 7/8 of the views) and
one run on all views, each with session 36's code paths (the stepwise TV prox, the products on all views) and with
today's, alternately `--repeats` times (low noise: the same process, the same data), checking their images equal bit
for bit.

`--parts CASE.npz` instead runs `auto` (and, with `--typed LAM`, the typed command) in this process, one thread,
with timers round the stages of the search, and prints the process CPU-s per part: the searches' FISTA runs (their
projector, TV prox and the rest of each step), the run on all views, the power methods for the steps, the
projector's setup (ray matrices), the resolution kernels, the curve figure, and the rest (imports, data, FBP,
metrics, figures, the results file).
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ct_auto_cost import command  # noqa: E402

THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def image_hash(path: Path) -> str:
    import h5py

    with h5py.File(path) as f:
        key = next((k for k in ("result/reconstruction", "result/x") if k in f), None)
        return hashlib.sha256(f[key][()].tobytes()).hexdigest()[:16] if key else "-"


def run(args: list[str], out: Path, code: Path) -> dict:
    """One regrun process of `code`'s checkout, one thread: CPU (child rusage), wall, load, the answer."""
    import h5py

    env = {**os.environ, **THREADS, "PYTHONPATH": str(code.resolve())}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from regrun.console import regrun; regrun()",
                             "problem=ct_fewview", "problem.data=file", "solver=fista_tv", *args,
                             f"hydra.run.dir={out}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=out.parent)  # not a checkout's root: `python -c` puts the cwd before PYTHONPATH
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.stderr.close()
    if status != 0:
        raise SystemExit(f"regrun {' '.join(args)} ({code}) failed:\n{err[-2000:]}")
    with h5py.File(out / "results.h5") as f:
        m = {k: float(v[()]) for k, v in f["metrics"].items() if v.shape == ()}
        grid = int(f["stats/tv_grid"][()]) if "stats/tv_grid" in f else None
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "load": load, "psnr": m.get("psnr"),
            "peak_mb": usage.ru_maxrss / 1024,  # Linux: kilobytes
            "lam": m.get("lam_chosen", m.get("lam")), "lam_solves": m.get("lam_solves"), "tv_grid": grid,
            "hash": image_hash(out / "results.h5")}


def bench(a) -> None:
    rows = json.loads(a.out.read_text()) if a.out.exists() else {}
    work = a.out.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    codes = [Path(c) for c in a.code]
    names = [str(c) for c in a.code]
    for case in a.cases:
        base = command(case, work) + list(a.extra)
        row = rows.setdefault(case.stem, {"codes": names, "auto": {n: [] for n in names},
                                          "typed": {n: [] for n in names}})
        for rep in range(a.repeats):
            for kind in ("auto", "typed"):
                for code, name in zip(codes, names):
                    if len(row[kind][name]) > rep:
                        continue
                    extra = [] if kind == "auto" else [f"solver.lam={row['auto'][names[0]][0]['lam']!r}"]
                    r = run(base + extra, work / f"{case.stem}_{kind}_{len(names) and names.index(name)}_{rep}",
                            code)
                    row[kind][name].append(r)
                    a.out.write_text(json.dumps(rows, indent=1))
                    print(f"{case.stem} {kind} {name} #{rep}: lam {r['lam']:.6g} PSNR {r['psnr']:.3f} solves "
                          f"{r['lam_solves']} CPU {r['cpu_s']:.1f} s wall {r['wall_s']:.1f} s load {r['load']:.1f}",
                          flush=True)
    table(a.out)


def table(path: Path) -> None:
    rows = json.loads(path.read_text())
    print("| case | code | lam, PSNR | same answer as the first code | lam_solves | auto CPU-s (wall) | typed CPU-s "
          "(wall) | ratio auto / typed | auto peak MB | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case, row in rows.items():
        first = row["auto"][row["codes"][0]][0]
        for name in row["codes"]:
            autos, typeds = row["auto"][name], row["typed"][name]
            if not autos:
                continue
            same = all(r["lam"] == first["lam"] and r["psnr"] == first["psnr"] and r["hash"] == first["hash"]
                       for r in autos)
            ac = statistics.median(r["cpu_s"] for r in autos)
            aw = statistics.median(r["wall_s"] for r in autos)
            tc = statistics.median(r["cpu_s"] for r in typeds) if typeds else float("nan")
            tw = statistics.median(r["wall_s"] for r in typeds) if typeds else float("nan")
            loads = [r["load"] for r in autos + typeds]
            peak = max(r.get("peak_mb", float("nan")) for r in autos)
            print(f"| {case} | {name} | {autos[0]['lam']:.6g}, {autos[0]['psnr']:.3f} | {'yes' if same else 'NO'} | "
                  f"{autos[0]['lam_solves']:g} | {ac:.1f} ({aw:.0f}) | {tc:.1f} ({tw:.0f}) | {ac / tc:.2f} | "
                  f"{peak:.0f} | {min(loads):.1f}-{max(loads):.1f} |")


# --- --parts: the stages' CPU in one process -------------------------------------------------------------------
class Parts:
    """Process CPU charged to the innermost timed stage (exclusive), keyed by (context, stage): the context is the
    search a FISTA run belongs to (the first grid's search, the pixel grid's, the run on all views, a typed run)."""

    def __init__(self):
        self.cpu: dict[tuple[str, str], float] = {}
        self.stack: list[list] = []  # [context, stage, start, children's CPU]
        self.context = ["other"]

    def charge(self, context: str, stage: str, seconds: float) -> None:
        self.cpu[(context, stage)] = self.cpu.get((context, stage), 0.0) + seconds

    @contextlib.contextmanager
    def timed(self, stage: str, context: str | None = None, leaf: bool = False):
        if context is not None:
            self.context.append(context)
        if leaf and self.stack and self.stack[-1][1].startswith(("power", "resolution")):  # their products
            stage = f"{self.stack[-1][1]}: {stage.split(': ')[-1]}"
        frame = [self.context[-1], stage, time.process_time(), 0.0]
        self.stack.append(frame)
        try:
            yield
        finally:
            self.stack.pop()
            spent = time.process_time() - frame[2]
            self.charge(frame[0], stage, spent - frame[3])
            if self.stack:
                self.stack[-1][3] += spent
            if context is not None:
                self.context.pop()

    def wrap(self, owner, name: str, stage: str, context: str | None = None, leaf: bool = False) -> None:
        fn = getattr(owner, name)

        def timed(*args, **kw):
            with self.timed(stage, context, leaf):
                return fn(*args, **kw)
        setattr(owner, name, timed)


def parts_child(case: Path, out: Path, typed: float | None, extra: list[str]) -> None:
    """In this process: wrap the stages, run the README's command, write the parts' CPU as JSON to out."""
    t_start = time.process_time()
    import regrun.cli  # noqa: F401  (imports charged to `imports`)
    import regrun.solvers.fista_tv as solver
    import regrun.tomography.fista_tv_weight as fw
    from regrun.optim.fista import Fista
    from regrun.optim.tv_prox import TVProx
    from regrun.tomography.xray import XRayTransform

    p = Parts()
    p.charge("other", "imports", time.process_time() - t_start)
    p.wrap(fw, "training_fista", "power method (a fold's step)")
    p.wrap(solver, "lipschitz", "power method (all views' step)")
    p.wrap(fw, "resolution_kernels", "resolution kernels")
    p.wrap(fw, "final_run", "FISTA: other", context="run on all views")
    p.wrap(solver, "curve_figure", "curve figure")
    p.wrap(XRayTransform, "_build", "projector setup (ray matrices)")
    p.wrap(XRayTransform, "_plan", "projector setup (ray plan)")
    p.wrap(XRayTransform, "project", "FISTA: projector", leaf=True)
    p.wrap(XRayTransform, "backproject", "FISTA: projector", leaf=True)
    p.wrap(TVProx, "warm", "FISTA: TV prox", leaf=True)
    views = getattr(XRayTransform, "view_products", None)
    if views is not None:  # a training fold's own products (session 37): timed as the projector's

        def view_products(self, *args):
            products = views(self, *args)
            if products is None:
                return None
            timed = []
            for fn in products:
                def run(y, fn=fn):
                    with p.timed("FISTA: projector", leaf=True):
                        return fn(y)
                timed.append(run)
            return tuple(timed)
        XRayTransform.view_products = view_products
    p.wrap(Fista, "solve", "FISTA: other")
    check = solver.pixel_grid_check

    def pixel_grid_check(fine, search_pixel, *args, **kw):
        def timed_search():
            with p.timed("FISTA: other", context="pixel grid's search"):
                return search_pixel()
        return check(fine, timed_search, *args, **kw)
    solver.pixel_grid_check = pixel_grid_check
    run_solve = solver.FistaTV.solve

    def solve(self, problem, monitor):
        with p.timed("solver: other", context="first grid's search" if self.lam is None else "typed run"):
            return run_solve(self, problem, monitor)
    solver.FistaTV.solve = solve
    rundir = out.with_suffix("")
    sys.argv = ["regrun", "problem=ct_fewview", "problem.data=file", "solver=fista_tv", *command(case, out.parent),
                *extra, *([f"solver.lam={typed!r}"] if typed is not None else []), f"hydra.run.dir={rundir}"]
    wall = time.perf_counter()
    from regrun.console import regrun
    try:
        regrun()
    except SystemExit as e:
        if e.code not in (0, None):
            raise
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    rows = {f"{c} | {s}": v for (c, s), v in p.cpu.items()}
    rows["other | rest (data, FBP, metrics, figures, results file)"] = total - sum(p.cpu.values())
    out.write_text(json.dumps({"case": str(case), "typed": typed, "cpu_s": total,
                               "wall_s": time.perf_counter() - wall, "parts": rows,
                               "hash": image_hash(rundir / "results.h5")}, indent=1))


def parts(a) -> None:
    out = a.out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **THREADS}
    for typed, tag in ((None, "auto"), (a.typed, "typed")):
        if tag == "typed" and typed is None:
            continue
        dest = out.with_name(f"{out.stem}_{tag}.json")
        cmd = [sys.executable, __file__, "--parts-child", str(a.parts), "--out", str(dest), *(
            ["--typed", repr(typed)] if typed is not None else []), "--set", *a.extra]
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=dest.parent)
        r = json.loads(dest.read_text())
        print(f"\n{Path(r['case']).stem} {tag}: {r['cpu_s']:.1f} CPU-s, {r['wall_s']:.1f} s wall")
        for k, v in sorted(r["parts"].items(), key=lambda kv: -kv[1]):
            print(f"  {v:8.2f}  {100 * v / r['cpu_s']:5.1f}%  {k}")


def fista_ab(case: Path, work: Path, repeats: int) -> None:
    import torch

    from regrun.config import compose
    from regrun.context import RunContext
    from regrun.optim.tv_prox import TVProx
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import training_fista, view_split
    from regrun.tomography.xray import XRayTransform

    torch.set_num_threads(1)
    work.mkdir(parents=True, exist_ok=True)
    cfg = compose(["problem=ct_fewview", "problem.data=file", "solver=fista_tv", *command(case, work)])
    problem = CTFewView(cfg.problem, RunContext(torch.device("cpu"), torch.float64, 0, work))
    grid = UnknownGrid(problem, 1)  # the output's pixel grid: auto's only one above 128^2
    fista = make_fista(grid, cfg.solver, lipschitz(grid, cfg.solver))
    train = view_split(problem.sinogram.shape[0], int(cfg.solver.lam_cv_fold))[0]
    lam = torch.tensor(1.0, dtype=torch.float64)
    iters = int(cfg.solver.iters)
    plain, products = TVProx._plain, XRayTransform.view_products
    times: dict[tuple[str, str], list[float]] = {}
    images: dict[tuple[str, str], torch.Tensor] = {}
    for _ in range(repeats):
        for code in ("session 36", "today"):
            TVProx._plain = (lambda self, *a: False) if code == "session 36" else plain
            XRayTransform.view_products = (lambda self, *a: None) if code == "session 36" else products
            for run in ("training run", "run on all views"):
                sub = training_fista(grid, fista, train, int(cfg.solver.power_iters)) if run == "training run" \
                    else fista
                t0 = time.process_time()
                x = sub.solve(lam, iters)
                times.setdefault((run, code), []).append(time.process_time() - t0)
                images.setdefault((run, code), x)
    TVProx._plain, XRayTransform.view_products = plain, products
    print(f"{case.stem}: {tuple(problem.shape)}, {problem.sinogram.shape[0]} views, {iters} FISTA iterations, "
          f"lam 1, CPU-s per run (median of {repeats}; the load {os.getloadavg()[0]:.1f})")
    for run in ("training run", "run on all views"):
        old = statistics.median(times[(run, "session 36")])
        new = statistics.median(times[(run, "today")])
        same = torch.equal(images[(run, "session 36")], images[(run, "today")])
        print(f"  {run}: session 36 {old:.2f}, today {new:.2f}: x {old / new:.2f}; images bit for bit: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", type=Path, nargs="*")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--code", nargs="+", default=["."], help="checkouts whose regrun to run (PYTHONPATH)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--set", dest="extra", nargs="*", default=[], metavar="KEY=VALUE")
    ap.add_argument("--table", type=Path)
    ap.add_argument("--parts", type=Path, help="one case: the CPU per stage of auto in one process")
    ap.add_argument("--parts-child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--fista", type=Path, help="one case: a training run and a run on all views, old paths vs new")
    ap.add_argument("--typed", type=float, help="--parts: also the command with this weight typed")
    a = ap.parse_args()
    if a.table:
        return table(a.table)
    if a.fista:
        return fista_ab(a.fista.resolve(), (a.out or Path("bench_ct_auto_cost_fista")).resolve(), a.repeats)
    if a.parts_child:
        return parts_child(a.parts_child.resolve(), a.out.resolve(), a.typed, a.extra)
    if a.out is None:
        ap.error("--out is needed")
    if a.parts:
        a.parts = a.parts.resolve()
        return parts(a)
    if not a.cases:
        ap.error("give cases, --parts CASE or --table")
    bench(a)


if __name__ == "__main__":
    main()
