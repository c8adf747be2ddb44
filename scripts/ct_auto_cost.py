"""What `solver.lam=auto` costs on a user's sinogram file against the fixed-lam problem (issue 16's target: `auto`
at most ~10 solves of it; docs/ct.md "(ctcost)"): for each case file, the README's command as whole `regrun`
processes, one thread, `auto` first, then the same command with `solver.lam=` the weight `auto` chose (the typed run
a user who knew the weight would make). Each process's CPU (user + system, its children's rusage) and wall seconds,
`auto`'s weight, PSNR, `/metrics/lam_solves` and the grid its answer is on; the ratio of the two CPUs.

Cases: scripts/ct_radon_files.py's `*_case.npz` (a radon `.npy`, run with `problem.angle_start=90` and its truth
typed, as bench_lambda_ct.py reads them) or scripts/heldout_ct_sinograms.py `--user` files (an `.npz` with its
angles, run with `problem.size` and the truth typed).

    PYTHONPATH=. python scripts/ct_auto_cost.py CASE.npz [CASE.npz ...] --out OUT/cost.json [--set KEY=VALUE ...]
    python scripts/ct_auto_cost.py --report MAIN.json NEW.json   # NEW's auto against MAIN's (typed CPU: MAIN's)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np


def command(case: Path, work: Path) -> list[str]:
    """The README's command for the case's file, its truth typed (for the PSNR only)."""
    d = np.load(case)
    if "sinogram_file" in d:  # a radon user's .npy beside the case
        truth = case.parent / str(d["sinogram_file"]).replace(".npy", "_truth.npy")
        extra = json.loads(str(d["problem"]))
        return ([f"problem.sinogram={(case.parent / str(d['sinogram_file'])).resolve()}",
                 f"problem.truth_file={truth.resolve()}"] + [f"problem.{k}={v}" for k, v in extra.items()])
    truth = work / f"{case.stem}_truth.npy"
    np.save(truth, np.asarray(d["truth"], dtype=np.float64))
    geometry = str(d["geometry"]) if "geometry" in d else "parallel"
    return [f"problem.sinogram={case.resolve()}", f"problem.size={int(d['size'])}", f"problem.geometry={geometry}",
            f"problem.truth_file={truth.resolve()}"]


def run(args: list[str], out: Path) -> dict:
    """One regrun process, one thread: its CPU seconds (rusage of the child), wall seconds and results."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from regrun.console import regrun; regrun()",
                             "problem=ct_fewview", "problem.data=file", "solver=fista_tv", *args,
                             f"hydra.run.dir={out}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=out.parent)  # not a checkout's root: `python -c` puts the cwd before PYTHONPATH
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if status != 0:
        raise SystemExit(f"regrun {' '.join(args)} failed:\n{err[-2000:]}")
    with h5py.File(out / "results.h5") as f:
        m = {k: float(v[()]) for k, v in f["metrics"].items() if v.shape == ()}
        stats = f["stats"]
        grid = int(stats["tv_grid"][()]) if "tv_grid" in stats else None
        details = {k: (v[()].decode() if isinstance(v[()], bytes) else v[()]) for k, v in stats.items()
                   if k.startswith("lam_cv_") and v.shape == ()}
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "psnr": m.get("psnr"),
            "lam": m.get("lam_chosen", m.get("lam")), "lam_solves": m.get("lam_solves"), "tv_grid": grid,
            "details": {k: str(v) for k, v in details.items()}}


def report(before: Path, after: Path) -> None:
    """A markdown table: each case's auto before and after (weight, PSNR, solves, CPU), the typed run's CPU (from
    `before` where `after` has none), the CPU ratios; and whether the answers are the same to the digit."""
    a, b = json.loads(before.read_text()), json.loads(after.read_text())
    print("| case | lam before / after | PSNR before / after | grid | lam_solves before / after | auto CPU-s before / "
          "after (wall) | typed CPU-s | ratio before / after |")
    print("|---|---|---|---|---|---|---|---|")
    same = moved = 0
    for k in a:
        if k not in b:
            continue
        x, y = a[k]["auto"], b[k]["auto"]
        typed = (b[k].get("typed") or a[k].get("typed") or {}).get("cpu_s")
        equal = x["lam"] == y["lam"] and x["psnr"] == y["psnr"]
        same, moved = same + equal, moved + (not equal)
        ratio = f"{x['cpu_s'] / typed:.2f} / {y['cpu_s'] / typed:.2f}" if typed else "-"
        print(f"| {k} | {x['lam']:.6g} / {y['lam']:.6g} | {x['psnr']:.3f} / {y['psnr']:.3f} | {x['tv_grid']} / "
              f"{y['tv_grid']} | {x['lam_solves']:g} / {y['lam_solves']:g} | {x['cpu_s']:.1f} ({x['wall_s']:.0f}) / "
              f"{y['cpu_s']:.1f} ({y['wall_s']:.0f}) | {typed or float('nan'):.1f} | {ratio} |")
    print(f"\nthe same weight and PSNR to the digit: {same}; moved: {moved}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--report":
        return report(Path(sys.argv[2]), Path(sys.argv[3]))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True, help="the JSON written (runs beside it)")
    ap.add_argument("--set", dest="extra", nargs="*", default=[], metavar="KEY=VALUE",
                    help="more overrides for both runs (e.g. solver.lam_cv_pixel_grid=false)")
    ap.add_argument("--no-typed", action="store_true", help="auto alone (the typed run's CPU measured elsewhere)")
    a = ap.parse_args()
    work = a.out.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    rows = json.loads(a.out.read_text()) if a.out.exists() else {}
    for case in a.cases:
        if case.stem in rows:
            continue
        base = command(case, work) + list(a.extra)
        auto = run(base, work / f"{case.stem}_auto")
        row = {"auto": auto}
        if not a.no_typed:
            row["typed"] = run(base + [f"solver.lam={auto['lam']!r}"], work / f"{case.stem}_typed")
            row["ratio"] = auto["cpu_s"] / row["typed"]["cpu_s"]
        rows[case.stem] = row
        a.out.write_text(json.dumps(rows, indent=1))
        typed = row.get("typed", {})
        print(f"{case.stem}: auto lam {auto['lam']:.6g} PSNR {auto['psnr']:.3f} grid {auto['tv_grid']} "
              f"solves {auto['lam_solves']:g} CPU {auto['cpu_s']:.1f} s (wall {auto['wall_s']:.1f})"
              + (f"; typed CPU {typed['cpu_s']:.1f} s (PSNR {typed['psnr']:.3f}): ratio {row['ratio']:.2f}"
                 if typed else ""), flush=True)


if __name__ == "__main__":
    main()
