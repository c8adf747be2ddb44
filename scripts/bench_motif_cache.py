"""Time the crab detector with and without the extraction cache (solver.motif_cache, regrun/detection/motif_cache.py).

    python scripts/bench_motif_cache.py                 # both parts below, numbers to outputs/bench_motif_cache.csv
    python scripts/bench_motif_cache.py --jobs 4 --set problem.scale=1

1. `regrun problem=crab_detection` twice with one fresh cache directory: the first run extracts and writes the
   cache, the second loads it. Per run: extraction_time_s and detection_time_s from the results file, the run's
   wall_time, and the process's wall and CPU time (the `regrun` command, start-up included).
2. A crab_eval-style sweep (`regrun -m +experiment=crab_eval`, seeds 0.. with and without a crab) of --jobs jobs,
   once with solver.motif_cache=none and once with a fresh cache directory: total wall and CPU time of the sweep
   and the per-job extraction times.

Each `regrun` is a separate process with threads=1 (the config default). On a shared machine the CPU time of a
one-thread run is the better estimate of the time on an idle core; both are printed.
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from regrun.record import load

REPO = Path(__file__).resolve().parents[1]


def regrun(args: list[str]) -> tuple[float, float]:
    """Run the regrun CLI in a child process; (wall s, CPU s of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "regrun.cli", *args], cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"regrun {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=4, help="sweep jobs (seeds x with/without crab); even")
    ap.add_argument("--set", nargs="*", default=[], help="extra overrides for every run, e.g. problem.scale=1")
    ap.add_argument("--out", default=str(REPO / "outputs" / "bench_motif_cache.csv"))
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_motif_cache_") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        common = ["progress=false", "figures=false", *args.set]
        for i, label in enumerate(("single run, first (extracts)", "single run, second (cached)")):
            out = tmp / f"single{i}"
            wall, cpu = regrun(["problem=crab_detection", f"solver.motif_cache={cache}", f"hydra.run.dir={out}",
                                *common])
            saved = load(out)
            m = saved["metrics"]
            rows.append({"case": label, "jobs": 1, "process_wall_s": wall, "process_cpu_s": cpu,
                         "run_wall_s": saved["attrs"].get("wall_time", float("nan")),
                         "extraction_s": m["extraction_time_s"], "detection_s": m["detection_time_s"],
                         "cached_jobs": int(m["extraction_cached"]), "score": m["score"]})
        seeds = ",".join(str(s) for s in range(max(args.jobs // 2, 1)))
        for label, spec in (("sweep, motif_cache=none", "none"), ("sweep, fresh cache dir", str(tmp / "sweep_cache"))):
            out = tmp / ("sweep_" + ("none" if spec == "none" else "cache"))
            wall, cpu = regrun(["-m", "+experiment=crab_eval", f"problem.scene.seed={seeds}",
                                "problem.scene.crab=true,false", f"solver.motif_cache={spec}", "resume=false",
                                f"hydra.sweep.dir={out}", *common])
            runs = [load(p) for p in sorted(out.rglob("results.h5"))]
            ext = [r["metrics"]["extraction_time_s"] for r in runs]
            det = [r["metrics"]["detection_time_s"] for r in runs]
            rows.append({"case": label, "jobs": len(runs), "process_wall_s": wall, "process_cpu_s": cpu,
                         "run_wall_s": sum(r["attrs"].get("wall_time", float("nan")) for r in runs),
                         "extraction_s": statistics.median(ext), "detection_s": statistics.median(det),
                         "cached_jobs": int(sum(r["metrics"]["extraction_cached"] for r in runs)),
                         "score": statistics.median(r["metrics"]["score"] for r in runs),
                         "extraction_each_s": " ".join(f"{v:.3f}" for v in ext)})
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; sweeps: extraction/detection are "
          "medians per job, run_wall_s the sum of the jobs' wall_time")
    head = ["case", "jobs", "cached_jobs", "process_wall_s", "process_cpu_s", "run_wall_s", "extraction_s",
            "detection_s", "score", "extraction_each_s"]
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(f"{r.get(k, ''):.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in head))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=head)
        w.writeheader()
        w.writerows(rows)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
