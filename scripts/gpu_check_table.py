#!/usr/bin/env python
"""The table of scripts/gpu_check.sh: from its output folder, one markdown table and one JSON file of every GPU
measurement (the cuda test cases, CPU-vs-CUDA parity of each CI pair, the paper-scale runs with time and peak
GPU memory), written to OUT/gpu_check.{md,json}; with --docs DIR also to DIR/gpu_check.{md,json} and spliced
into DIR/devices.md between its `<!-- gpu_check:begin -->` and `<!-- gpu_check:end -->` markers.

Parity: every final metric both runs record, except timings, memory and what is round-off by construction
(tests/test_devices.py's NOT_COMPARED), as the largest relative difference |cuda - cpu| / max(|cpu|, 1e-12).

    python scripts/gpu_check_table.py outputs/gpu_check --docs docs
"""
from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import h5py
from bench_bilevel_memory import table as memory_table  # scripts/, beside this file

NOT_COMPARED = ("time", "grad_norm", "final_cg_rel_residual", "final_cg_iters", "_s", "wall", "mem", "peak",
                "factor_", "std_")
BEGIN, END = "<!-- gpu_check:begin -->", "<!-- gpu_check:end -->"


def read_run(folder: Path) -> dict | None:
    path = folder / "results.h5"
    if not path.exists():
        return None
    with h5py.File(path, "r") as f:
        metrics = {k: float(f["metrics"][k][()]) for k in f.get("metrics", {})}
        attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
    return {"status": str(attrs.get("status")), "wall_time": attrs.get("wall_time"),
            "gpu_peak_memory_mb": attrs.get("gpu_peak_memory_mb"), "device_name": attrs.get("device_name"),
            "metrics": metrics}


def compared(name: str) -> bool:
    return not any(s in name for s in NOT_COMPARED)


def parity(cpu: dict | None, cuda: dict | None) -> dict:
    row = {"cpu_status": cpu["status"] if cpu else "missing", "cuda_status": cuda["status"] if cuda else "missing",
           "cpu_time_s": cpu and cpu["wall_time"], "cuda_time_s": cuda and cuda["wall_time"],
           "cuda_peak_mb": cuda and cuda["gpu_peak_memory_mb"], "max_rel_diff": None, "worst_metric": None}
    if cpu and cuda:
        diffs = {k: abs(cuda["metrics"][k] - v) / max(abs(v), 1e-12) for k, v in cpu["metrics"].items()
                 if compared(k) and k in cuda["metrics"] and math.isfinite(v)}
        if diffs:
            worst = max(diffs, key=diffs.get)
            row.update(max_rel_diff=diffs[worst], worst_metric=worst)
    return row


def status(out: Path, name: str) -> str:
    path = out / "logs" / f"{name}.status"
    return path.read_text().strip() if path.exists() else "not run"


def pytest_summary(out: Path) -> str:
    log = out / "logs" / "pytest_cuda.log"
    if not log.exists():
        return "not run"
    lines = [line for line in log.read_text().splitlines() if re.search(r"\d+ (passed|failed|skipped)", line)]
    return lines[-1].strip("= ") if lines else "no summary line (see the log)"


def fmt(v, spec=".3g"):
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def build(out: Path) -> tuple[dict, str]:
    pairs = sorted({p.name for d in ("cpu", "cuda") for p in (out / d).glob("*") if p.is_dir()})
    table = {"pytest_cuda": pytest_summary(out), "pairs": {}, "paper": {}}
    for p in pairs:
        table["pairs"][p] = parity(read_run(out / "cpu" / p), read_run(out / "cuda" / p))
    fixed = ("superres", "superres_auto", "crab_detection", "ct_bilevel", "registration")
    others = sorted(p.name for p in (out / "paper").glob("*") if p.is_dir() and p.name not in fixed)
    for name in fixed + tuple(others):
        run = read_run(out / "paper" / name)
        key = {"crab_detection": "paper_crab", "ct_bilevel": "paper_ct_bilevel"}.get(name, f"paper_{name}")
        table["paper"][name] = {"command": status(out, key), **({k: v for k, v in run.items() if k != "metrics"}
                                                              if run else {"status": "missing"}),
                                "metrics": run["metrics"] if run else {}}
    devices = {r["device_name"] for r in table["paper"].values() if r.get("device_name")}
    md = [f"GPU: {', '.join(sorted(devices)) or 'unknown'}. cuda test cases: {table['pytest_cuda']}.", "",
          "| CI pair | cpu | cuda | max rel. diff (metric) | time cpu / cuda (s) | cuda peak MB |",
          "|---|---|---|---|---|---|"]
    for p, r in table["pairs"].items():
        md.append(f"| {p} | {r['cpu_status']} | {r['cuda_status']} | {fmt(r['max_rel_diff'], '.1e')} "
                  f"({r['worst_metric'] or '-'}) | {fmt(r['cpu_time_s'])} / {fmt(r['cuda_time_s'])} | "
                  f"{fmt(r['cuda_peak_mb'])} |")
    md += ["", "| paper-scale run (cuda) | status | wall s | peak GPU MB | key metrics |", "|---|---|---|---|---|"]
    for name, r in table["paper"].items():
        keys = [k for k in ("psnr", "ssim", "motion_error", "lam_chosen", "score", "n_detected", "detection_time_s",
                             "lam", "lam_vs_grid", "loss", "disp_rmse", "rel_error") if k in r["metrics"]]
        shown = ", ".join(f"{k} {r['metrics'][k]:.4g}" for k in keys) or "-"
        md.append(f"| {name} | {r.get('status')} ({r['command']}) | {fmt(r.get('wall_time'))} | "
                  f"{fmt(r.get('gpu_peak_memory_mb'))} | {shown} |")
    # the CT run's memory per hypergradient mode at two inner iteration counts (scripts/bench_bilevel_memory.py)
    modes = memory_table(table["paper"]["ct_bilevel"]["metrics"])
    if modes:
        md += ["", "CT bilevel at 1400 x 1400 x 2 from 60 views (float32), one hypergradient per mode at N inner "
               "FISTA iterations (saved: bytes autograd keeps in the forward pass; peak: the CUDA allocator's over "
               "the forward and backward pass):", "", modes.rstrip("\n")]
    return table, "\n".join(md) + "\n"


def splice(devices_md: Path, block: str) -> None:
    text = devices_md.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{devices_md} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    devices_md.write_text(f"{head}{BEGIN}\n{block}{END}{tail}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="scripts/gpu_check.sh's output folder")
    ap.add_argument("--docs", type=Path, default=None, help="also write DIR/gpu_check.{md,json} and splice devices.md")
    args = ap.parse_args(argv)
    table, md = build(args.out)
    for folder in [args.out] + ([args.docs] if args.docs else []):
        (folder / "gpu_check.md").write_text(md)
        (folder / "gpu_check.json").write_text(json.dumps(table, indent=1, default=str))
    if args.docs:
        splice(args.docs / "devices.md", md)
    print(md)


if __name__ == "__main__":
    main()
