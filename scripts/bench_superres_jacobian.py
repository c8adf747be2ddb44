"""Cost and memory of the projected-residual Jacobian per mode as cg_iters grows (hands-like 20x20 case or a
synthetic one of any size).

Timing: median of --repeats calls, objective r(w) and Jacobian measured in the same process with torch pinned
to --threads, so the printed ratio Jacobian/objective is like for like. Memory: each (mode, cg_iters) runs in
a fresh subprocess that reports the growth of its peak resident set size (ru_maxrss) across one Jacobian
evaluation after a warm-up objective. torch's CPU allocator bypasses Python's, so tracemalloc would not
see tensor memory; the RSS peak does, at the price of allocator slack (a few MB of noise).

    python scripts/bench_superres_jacobian.py --size 32 --iters 10 50 200 --out outputs/bench_superres.json
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = ("none", "full", "tail", "implicit")


def build(size: int, frames: int):
    import torch
    from omegaconf import OmegaConf

    from regrun.config import PACKAGE_DIR
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    cfg = OmegaConf.load(PACKAGE_DIR.parent / "configs" / "problem" / "superres.yaml")
    cfg.size, cfg.frames = size, frames
    p = SuperRes(cfg, RunContext(torch.device("cpu"), torch.float64, 0, Path(".")))
    w = p.w_true + 0.01
    return p, w


def measure(mode: str, iters: int, size: int, frames: int, repeats: int, threads: int) -> dict:
    import torch

    from regrun.linalg.cg import diff_mode
    from regrun.solvers.varpro_cg import ProjectedResidual

    torch.set_num_threads(threads)
    p, w = build(size, frames)
    pr = ProjectedResidual(p.model, diff_mode(mode, 0.5), iters)
    pr.residual(w)
    pr.residual_and_jacobian(w)  # warm-up (first functorch calls are slow)
    t_res, t_jac = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pr.residual(w)
        t_res.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        pr.residual_and_jacobian(w)
        t_jac.append(time.perf_counter() - t0)
    r, j = statistics.median(t_res), statistics.median(t_jac)
    return {"mode": mode, "cg_iters": iters, "size": size, "frames": frames, "params": int(w.numel()),
            "objective_s": r, "jacobian_s": j, "ratio": j / r}


def peak_memory(mode: str, iters: int, size: int, frames: int, threads: int) -> float:
    """Extra peak RSS in MiB of one Jacobian evaluation (fresh process; objective evaluated first)."""
    code = (
        "import resource, torch, sys\n"
        f"torch.set_num_threads({threads})\n"
        "sys.path.insert(0, %r)\n" % str(Path(__file__).parent) +
        "from bench_superres_jacobian import build\n"
        "from regrun.linalg.cg import diff_mode\n"
        "from regrun.solvers.varpro_cg import ProjectedResidual\n"
        f"p, w = build({size}, {frames})\n"
        f"pr = ProjectedResidual(p.model, diff_mode({mode!r}, 0.5), {iters})\n"
        "pr.residual(w); pr.residual(w)\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "pr.residual_and_jacobian(w)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--iters", type=int, nargs="+", default=[10, 50, 100, 200])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--out", default="outputs/bench_superres_jacobian.json")
    args = ap.parse_args()
    rows = []
    print(f"{'mode':9s} {'cg_iters':>8s} {'objective':>10s} {'jacobian':>10s} {'ratio':>7s} {'peak MiB':>9s}")
    for iters in args.iters:
        for mode in args.modes:
            row = measure(mode, iters, args.size, args.frames, args.repeats, args.threads)
            row["peak_mib"] = float("nan") if args.no_memory else peak_memory(
                mode, iters, args.size, args.frames, args.threads)
            rows.append(row)
            print(f"{mode:9s} {iters:8d} {row['objective_s']:9.4f}s {row['jacobian_s']:9.4f}s "
                  f"{row['ratio']:7.1f} {row['peak_mib']:9.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "rss_unit": "MiB", "rows": rows}, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
