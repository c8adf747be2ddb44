#!/usr/bin/env python
"""Does the CT bench's `auto` row (scripts/bench_lambda_ct.py) say what the user's command answers? Per sinogram file
of scripts/heldout_ct_sinograms.py, the README's command with no weight typed (`regrun problem=ct_fewview
problem.data=file problem.sinogram=FILE solver=fista_tv`: scripts/bench_auto_cost.py's run_child, one child process,
one thread) and its chosen λ, status and CPU seconds, and the PSNR of its saved reconstruction against the file's
truth as the bench takes it (bench_lambda_ct.py's case_from_file and the problem's quality: a user's run has no
truth), beside the bench row of the same case (matched by its name, size, views and photons), with the differences. The bench must have run with
`--auto-rules cv` (the user's rule) on the same files. A command's row is kept in its run folder (check_row.json)
and read from there when the script runs again, so the commands can run while the bench is still going and be
compared once it has finished (a case with no bench row yet is listed without the comparison).

    python scripts/bench_lambda_ct.py --cases OUT/heldout/*.npz ... --auto-rules cv --out OUT/bench
    python scripts/check_bench_user_ct.py OUT/bench.json OUT/heldout/*_128_*.npz --runs OUT/cli [--json OUT/cli.json]
    python scripts/check_bench_user_ct.py OUT/bench256.json OUT/heldout/*_256_*.npz --runs OUT/cli256 \
        --extra problem.size=256    # the README: `problem.size` to match the file
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_auto_cost import commands, run_child  # noqa: E402  scripts/bench_auto_cost.py
from bench_lambda_ct import case_from_file  # noqa: E402  scripts/bench_lambda_ct.py


def command_psnr(problem, run_dir: Path) -> float:
    with h5py.File(run_dir / "results.h5", "r") as f:
        x = torch.as_tensor(f["result/reconstruction"][()], dtype=torch.float64)
    return problem.quality(x)["psnr"]


def bench_row(results: list[dict], key: tuple) -> dict | None:
    for r in results:
        if (r["object"], int(r["size"]), int(r["views"]), float(r["photons"])) == key:
            return r
    return None


def user_run(path: Path, run_dir: Path, extra: list[str]) -> dict:
    """The README's command on the file, with its results file's metrics and its metrics.json's status line; the
    stored row where an earlier call ran it."""
    stored = run_dir / "check_row.json"
    if stored.exists():
        return json.loads(stored.read_text())
    row = run_child(commands("ct", path)[0] + extra, run_dir, None)
    mj = run_dir / "metrics.json"
    if mj.exists():
        m = json.loads(mj.read_text())
        row["status"], row["message"] = m.get("status"), m.get("message")
    if row["ok"]:
        stored.write_text(json.dumps(row, indent=1))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="a bench_lambda_ct.py .json output (run with --auto-rules cv)")
    ap.add_argument("cases", type=Path, nargs="+", help="the sinogram files it ran on")
    ap.add_argument("--runs", type=Path, required=True, help="where the commands' output folders go")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here too")
    ap.add_argument("--extra", nargs="*", default=[], help="overrides added to the command (the README's "
                    "`problem.size` to match a file that is not 128 pixels across: problem.size=256)")
    args = ap.parse_args(argv)
    results = json.loads(args.bench.read_text())["results"] if args.bench.exists() else []
    rows = []
    print("| case | bench λ | command λ | bench PSNR | command PSNR | ΔPSNR | status | command CPU-s (wall) |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.cases:
        problem, key = case_from_file(path)
        r = bench_row(results, key)
        b = r["auto_cv"] if r is not None else {"lam": float("nan"), "psnr": float("nan")}
        u = user_run(path, args.runs / path.stem, args.extra)
        lam, psnr = u.get("lam_chosen", float("nan")), float("nan")
        if u["ok"]:
            psnr = command_psnr(problem, args.runs / path.stem)
        rows.append({"case": path.name, "bench": b, "command": u, "command_psnr": psnr})
        print(f"| {path.stem} | {b['lam']:.10g} | {lam:.10g} | {b['psnr']:.4f} | {psnr:.4f} | {psnr - b['psnr']:+.1e} "
              f"| {u.get('status', 'failed: ' + str(u.get('error')))} | {u['cpu_s']:.1f} ({u['wall_s']:.0f}) |",
              flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
