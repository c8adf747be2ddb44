"""The 2-D bilevel preset's cost (`+experiment=ct_bilevel_2d`) and the exact hypergradient modes' speed.

Part `modes`: one hypergradient of each exact mode (unrolled, checkpointed, implicit) at the preset's settings
(128^2 Shepp-Logan, --views, --dtype (the preset's float32), 140 FISTA x 5 CV iterations, the solver's restart;
implicit as the solver runs it: FISTA to solver.fixed_point_tol, at most fixed_point_max_iters) at --lam, in
this process on one thread: CPU and wall seconds, the value, its relative difference to unrolled, implicit's
FISTA iterations and fixed-point residual, its adjoint products and residual.

Part `preset`: the whole preset as a user runs it (`regrun +experiment=ct_bilevel_2d problem.views=V`, plus
each --variant's overrides) in a child process with OMP_NUM_THREADS=1: the child's CPU seconds (user + sys)
beside wall, the learned lambda against the grid optimum, the outer iterations, the line-search trials and
how the search stopped.

    python scripts/bench_bilevel_preset.py --views 60 30 --variant "quadratic=solver.backtrack=quadratic"
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_preset(views: int, overrides: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "regrun.cli", "+experiment=ct_bilevel_2d", f"problem.views={views}",
           "progress=false", f"hydra.run.dir={out}", *overrides]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cpu0, t0 = child_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, child_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    from regrun.record import load

    res = load(out)
    m, s = res["metrics"], res.get("stats", {})
    trials = res["tables"]["line_search"]
    return {"views": views, "overrides": overrides, "cpu_s": cpu, "wall_s": wall, "lam": m["lam"],
            "lam_grid": m.get("lam_grid"), "lam_vs_grid": m.get("lam_vs_grid"), "loss_vs_grid": m.get("loss_vs_grid"),
            "outer_iterations": m["outer_iterations"], "trials": len(trials["lam"]),
            "trials_per_step": [int((trials["outer"] == k).sum()) for k in range(int(m["outer_iterations"]))],
            "stop": s.get("stop"), "solve_seconds": s.get("seconds")}


def time_modes(views: int, lam: float, modes: list[str], restart: str, dtype: str = "float32") -> list[dict]:
    import math

    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.linalg.iterate import AdjointSolve, FixedPointStop
    from regrun.optim.bilevel import BilevelLoss
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import lipschitz, make_fista

    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), getattr(torch, dtype), 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", views=views), ctx)
    cfg = config_section("solver", "bilevel", restart=restart)
    L = lipschitz(problem, cfg)
    exact = make_fista(problem, cfg, L, restart=str(cfg.restart))
    adjoint = AdjointSolve(str(cfg.adjoint), int(cfg.adjoint_iters), float(cfg.adjoint_rtol), int(cfg.adjoint_restart))
    stop = FixedPointStop(float(cfg.fixed_point_tol), int(cfg.fixed_point_check))
    rows, ref = [], None
    for mode in modes:
        iters = int(cfg.fixed_point_max_iters) if mode == "implicit" and stop.tol > 0 else int(cfg.iters)
        loss = BilevelLoss(exact, problem.truth, iters, mode, "log", exact.mask, adjoint=adjoint, stop=stop)
        c0, t0 = time.process_time(), time.perf_counter()
        ev = loss.value_and_grad(math.log(lam))
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        ref = ev.grad if mode == "unrolled" else ref
        rows.append({"mode": mode, "cpu_s": cpu, "wall_s": wall, "grad": ev.grad,
                     "rel_vs_unrolled": None if ref is None else abs(ev.grad - ref) / abs(ref),
                     "adjoint_iters": ev.adjoint_iters, "adjoint_residual": ev.adjoint_residual,
                     "lower_iters": ev.lower_iters, "fixed_point_residual": ev.fixed_point_residual})
        print(f"  {mode:13s} cpu {cpu:6.1f} s  wall {wall:6.1f} s  grad {ev.grad:+.5e}" +
              (f"  vs unrolled {rows[-1]['rel_vs_unrolled']:.1e}" if rows[-1]["rel_vs_unrolled"] is not None else "") +
              (f"  FISTA {ev.lower_iters} iterations, fixed-point residual {ev.fixed_point_residual:.1e}; adjoint "
               f"{ev.adjoint_iters} products, residual {ev.adjoint_residual:.1e}" if ev.adjoint_iters else ""),
              flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--views", type=int, nargs="+", default=[60, 30])
    ap.add_argument("--parts", nargs="+", default=["modes", "preset"], choices=["modes", "preset"])
    ap.add_argument("--modes", nargs="+", default=["unrolled", "checkpointed", "implicit"])
    ap.add_argument("--lam", type=float, default=2.0, help="modes: the lambda at which to time one hypergradient")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="modes: the preset's float32")
    ap.add_argument("--restart", default="none", choices=["none", "gradient"],
                    help="modes: the lower level's restart (the preset's unrolled mode runs none)")
    ap.add_argument("--variant", action="append", default=[],
                    help="NAME=OVERRIDES (space separated) run beside the preset as shipped; repeatable")
    ap.add_argument("--no-shipped", action="store_true", help="preset: run only the --variant's")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/bilevel_preset"))
    args = ap.parse_args(argv)

    variants = ([] if args.no_shipped else [("shipped", [])]) + [
        (v.split("=", 1)[0], shlex.split(v.split("=", 1)[1])) for v in args.variant]
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "modes": {}, "preset": []}
    args.out.mkdir(parents=True, exist_ok=True)
    if "modes" in args.parts:
        for views in args.views:
            print(f"one hypergradient at lam={args.lam}, 128^2, {views} views, {args.dtype}, restart={args.restart}:")
            result["modes"][views] = time_modes(views, args.lam, args.modes, args.restart, args.dtype)
    if "preset" in args.parts:
        for name, overrides in variants:
            for views in args.views:
                row = run_preset(views, overrides, args.out / f"{name}_{views}")
                row["variant"] = name
                result["preset"].append(row)
                print(f"preset {name:10s} {views} views: cpu {row['cpu_s']:6.1f} s wall {row['wall_s']:6.1f} s "
                      f"lam {row['lam']:.4g} (grid {row['lam_grid']:.4g}, {100 * row['lam_vs_grid']:+.2f}%; loss "
                      f"{100 * row['loss_vs_grid']:+.3f}%) outer {row['outer_iterations']} trials "
                      f"{row['trials_per_step']} stop {row['stop']}", flush=True)
    path = args.out / "bench_bilevel_preset.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"written {path}")


if __name__ == "__main__":
    main()
