"""regrun-collect at scale (issue 19): N small fake results files written through regrun.record, then collect
timed without plots (the target: 1000 files in under 30 s). Prints and stores wall and CPU time.

    OMP_NUM_THREADS=1 python scripts/bench_collect.py --runs 1000 --out /tmp/bench_collect
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from regrun import collect
from regrun.record import ResultsFile


def make_runs(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        theta, seed = float(10.0 ** -(i % 5)), i // 5
        config = {"problem": {"name": "superres", "size": 20}, "solver": {"name": "varpro_cg", "theta": theta},
                  "seed": seed, "paper": {"rel_error": 0.107}, "claims": {"rel_error": {"rel": 0.1}}}
        res = ResultsFile(root / f"{i}_{i:08x}")
        res.begin({"problem": "superres", "solver": "varpro_cg", "device": "cpu", "run_id": f"{i:064x}"},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [f"solver.theta={theta}", f"seed={seed}"])
        k = 30
        res.write("history", {"iter": np.arange(k), "J": np.cumprod(rng.uniform(0.5, 0.9, k)),
                              "grad_norm": rng.uniform(size=k), "time": np.linspace(0, 1, k)})
        res.write("metrics", {f"m{j}": float(rng.uniform()) for j in range(20)} | {"rel_error": 0.1 + 0.01 * rng.uniform()})
        res.write("paper", {"rel_error": 0.107})
        res.finish("completed", wall_time=float(rng.uniform(1, 10)))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (collect reads many files in worker processes)."""
    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_collect"))
    parser.add_argument("--plots", action="store_true", help="also draw the plots (not part of the target)")
    args = parser.parse_args()
    root = args.out / f"runs{args.runs}"
    if not (root / "done").exists():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        make_runs(root, args.runs)
        (root / "done").write_text("")
        print(f"wrote {args.runs} results files in {time.perf_counter() - t0:.1f} s")
    t0, c0 = time.perf_counter(), _cpu()
    written = collect.collect([root], args.out / f"collected{args.runs}", plots=args.plots)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    numbers = {"runs": len(written["runs"]), "plots": args.plots, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
               "threads": os.environ.get("OMP_NUM_THREADS", "unset")}
    print(json.dumps(numbers))
    with open(args.out / "bench_collect.jsonl", "a") as f:
        f.write(json.dumps(numbers) + "\n")


if __name__ == "__main__":
    main()
