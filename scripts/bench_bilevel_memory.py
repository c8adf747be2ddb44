"""Memory of one hypergradient per mode at two inner iteration counts (issue 21): implicit's flat in the count,
unrolled's growing with it, checkpointed's in between.

Runs `regrun +experiment=ct_bilevel_3d` (the cone-beam bilevel preset) with no learning (`solver.max_outer=0`,
no grid) and `solver.memory.iters=[N1, N2]`: the solver's own measurement (regrun/solvers/bilevel.py), so the
numbers are those a run records. For each mode and count: the bytes autograd saves in the forward pass
(`mem_hypergradient_<mode>_n<N>_MiB`), the peak of one whole hypergradient, forward and backward (CUDA: the
allocator's `max_memory_allocated`; CPU: resident memory above the level before, `rss_peak_*`, with
MALLOC_MMAP_THRESHOLD_ set so that freed tensors leave the process), and its seconds. Prints a markdown table
(`table(metrics)`, which scripts/gpu_check_table.py uses for gpu_check's paper-size run too).

    python scripts/bench_bilevel_memory.py --size 64 --slices 2 --iters 50 200          # CPU, one thread
    python scripts/bench_bilevel_memory.py --read outputs/gpu_check/paper/ct_bilevel     # an existing run
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path

MODES = ("paper", "unrolled", "checkpointed", "implicit")


def table(metrics: dict) -> str:
    """Markdown: per mode the saved MiB, the peak MiB and the seconds at each count, and the saved bytes' growth
    per inner iteration between the first and the last count. Empty when the metrics hold no per-count entries."""
    counts = sorted({int(m.group(2)) for k in metrics if (m := re.match(r"mem_hypergradient_(\w+?)_n(\d+)_MiB$", k))})
    modes = [m for m in MODES if any(f"mem_hypergradient_{m}_n{n}_MiB" in metrics or f"oom_{m}_n{n}" in metrics
                                     for n in counts)]
    if not counts or not modes:
        return ""
    peak = "cuda_peak" if any(k.startswith("cuda_peak_") for k in metrics) else "rss_peak"
    what = "peak CUDA MiB" if peak == "cuda_peak" else "peak resident MiB"

    def cell(key, oom, spec=".4g"):  # oom: the flag of that mode and count (it ran out of memory there)
        v = metrics.get(key)
        if v is None:
            return "out of memory" if oom in metrics else "-"
        return format(float(v), spec) if abs(float(v)) < 1e4 else f"{float(v):.0f}"  # GB-sized MiB counts in full

    head = (["mode"] + [f"saved MiB, N={n}" for n in counts] + [f"{what}, N={n}" for n in counts]
            + [f"s, N={n}" for n in counts] + [f"saved MiB per inner iteration ({counts[0]}->{counts[-1]})"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode in modes:
        row = [mode] + [cell(f"mem_hypergradient_{mode}_n{n}_MiB", f"oom_{mode}_n{n}") for n in counts]
        row += [cell(f"{peak}_{mode}_n{n}_MiB", f"oom_{mode}_n{n}") for n in counts]
        row += [cell(f"time_hypergradient_{mode}_n{n}_s", "", ".3g") for n in counts]
        first, last = (metrics.get(f"mem_hypergradient_{mode}_n{n}_MiB") for n in (counts[0], counts[-1]))
        row.append("-" if first is None or last is None or counts[-1] == counts[0]
                   else format((last - first) / (counts[-1] - counts[0]), ".4g"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def read_metrics(folder: Path) -> dict:
    """The run's metrics: metrics.json, or the results file of a run stopped mid-way (its kept metrics)."""
    if (folder / "metrics.json").exists():
        return json.loads((folder / "metrics.json").read_text()).get("metrics", {})
    import h5py

    for name in ("results.h5", "results.h5.partial"):
        if (folder / name).exists():
            with h5py.File(folder / name, "r") as f:
                return {k: float(v[()]) for k, v in f["metrics"].items()} if "metrics" in f else {}
    return {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--slices", type=int, default=2)
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--iters", type=int, nargs="+", default=[50, 200], help="inner FISTA iteration counts")
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/bilevel_memory"))
    ap.add_argument("--read", type=Path, default=None, help="only tabulate this run folder")
    ap.add_argument("overrides", nargs="*", help="more regrun overrides")
    args = ap.parse_args(argv)
    if args.read is None:
        cmd = [sys.executable, "-m", "regrun.cli", "+experiment=ct_bilevel_3d", f"problem.size={args.size}",
               f"problem.slices={args.slices}", f"problem.views={args.views}", f"device={args.device}",
               "solver.max_outer=0", "solver.grid.points=0", "solver.compare_paper=false",
               f"solver.memory.iters=[{','.join(map(str, args.iters))}]",
               f"solver.memory.modes=[{','.join(args.modes)}]", "figures=false", "progress=false",
               f"hydra.run.dir={args.out}", *args.overrides]
        # one thread (CPU seconds comparable), and tensors above 16 KiB mapped and unmapped each time, so that the
        # resident peak of one hypergradient is not hidden by memory an earlier one freed into the heap
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="16384")
        proc = subprocess.run(cmd, env=env)
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"run: exit {proc.returncode}, {used.ru_utime + used.ru_stime:.1f} CPU-s, "
              f"peak resident {used.ru_maxrss / 1024:.0f} MB ({' '.join(cmd[3:])})")
    folder = args.out if args.read is None else args.read
    print(table(read_metrics(folder)) or f"no per-count memory metrics in {folder}")


if __name__ == "__main__":
    main()
