#!/usr/bin/env python
"""sriter's table: `auto` of one set list under several settings (bench_lambda_sr.py --out .json files, the first
the baseline, e.g. main), per set its λ, PSNR, motion error (RMS fine px) and `auto`'s CPU-s in each run, and each
run's PSNR minus the baseline's; then per run the worst and best change, how many sets lose more than --tol dB,
and the summed CPU-s against the baseline's (the cost every run pays).

    python scripts/report_sr_auto_variants.py OUT/dev_main.json OUT/dev_it18.json --names main max_iter=18

With --floor RUN.json a loss is excused where the run is at or above that run's PSNR (srextend's dev gate: worse than
the default only where back to the zero extension's number or better); the sets it excuses are counted apart.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench_lambda_sr import describe  # scripts/bench_lambda_sr.py


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="bench_lambda_sr.py .json outputs, the baseline first")
    ap.add_argument("--names", nargs="+", help="a column name per run (default: the file names)")
    ap.add_argument("--tol", type=float, default=0.1, help="a loss larger than this (dB) is counted")
    ap.add_argument("--floor", type=Path, help="a .json output whose PSNR excuses a loss: a set at or above it is "
                    "not counted as lost (e.g. the zero extension's run)")
    args = ap.parse_args(argv)
    names = args.names or [p.stem for p in args.runs]
    if len(names) != len(args.runs):
        ap.error("--names needs one name per run")
    key = lambda r: (r["image"], r["size"], r["seed"], r["frames"])  # noqa: E731
    runs = [{key(r): r for r in json.loads(p.read_text())["rows"]} for p in args.runs]
    floor = {key(r): r["auto_gcv"]["psnr"] for r in json.loads(args.floor.read_text())["rows"]} if args.floor else {}
    keys = [k for k in runs[0] if all(k in run for run in runs)]
    fl = " floor |" if args.floor else ""
    print(f"| set | bicubic | regrun best (λ) |{fl} " + " | ".join(f"{n}: λ (PSNR), motion px, CPU-s" for n in names)
          + " | " + " | ".join(f"{n} − {names[0]}" for n in names[1:]) + " |")
    print("|---|---|---|" + "---|" * (2 * len(names) - 1 + bool(args.floor)))
    deltas = [[] for _ in names]
    excused = [0 for _ in names]
    cpu = [0.0 for _ in names]
    for k in keys:
        rows = [run[k] for run in runs]
        a = rows[0]
        cells = []
        for i, r in enumerate(rows):
            au = r["auto_gcv"]
            cells.append(f"{au['lam']:.3g} ({au['psnr']:.2f}), {au['motion_error']:.3f}, {au['cpu_s']:.1f}")
            cpu[i] += au["cpu_s"]
            deltas[i].append(au["psnr"] - a["auto_gcv"]["psnr"])
            excused[i] += deltas[i][-1] < -args.tol and au["psnr"] >= floor.get(k, float("inf"))
        diff = [f"{d[-1]:+.2f}" for d in deltas[1:]]
        fc = f" {floor[k]:.2f} |" if k in floor else (" - |" if args.floor else "")
        print(f"| {describe(a)} {a['size']}²/{a['frames']} {a['noise']:.1%} s{a['seed']} | {a['psnr_bicubic']:.2f} | "
              f"{a['psnr_regrun_best']:.2f} ({a['regrun_best_lam']:.3g}) |{fc} "
              + " | ".join(cells + diff) + " |")
    print(f"\n{len(keys)} sets; summed `auto` CPU-s {names[0]} {cpu[0]:.1f}")
    for i in range(1, len(names)):
        d = deltas[i]
        lost = sum(x < -args.tol for x in d)
        kept = f" ({lost - excused[i]} below the floor)" if args.floor else ""
        print(f"- {names[i]}: worst {min(d):+.2f} dB, best {max(d):+.2f}, summed {sum(d):+.2f}; "
              f"{lost} sets lose > {args.tol} dB{kept}, {sum(x > args.tol for x in d)} gain "
              f"> {args.tol}; CPU-s {cpu[i]:.1f} = {cpu[i] / cpu[0]:.2f}x {names[0]}")


if __name__ == "__main__":
    main()
