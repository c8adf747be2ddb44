#!/usr/bin/env python
"""Does the bench's `auto` row (scripts/bench_lambda_sr.py) say what the user's command answers? Per set of a bench
output, the README's command (scripts/heldout_sr_wide.py's readme_run: a subprocess, every default of a user's
frames) on the frames the bench kept (--keep), and its PSNR and chosen lambda_f beside the row's, with the
differences and whether the run solved again (solved_again; with gains where its message says so). The bench must have
run with the user's defaults (--motion-model auto --frames-level, the rest as bench_lambda_sr.py's own).

    python scripts/bench_lambda_sr.py ... --motion-model auto --frames-level --keep OUT/frames --out OUT/B
    PYTHONPATH=CODE python scripts/check_bench_user.py OUT/B.json OUT/frames --runs OUT/runs [--only SEED ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lambda_sr import frame_file  # noqa: E402  scripts/bench_lambda_sr.py
from heldout_sr_wide import readme_run  # noqa: E402  scripts/heldout_sr_wide.py


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="a bench_lambda_sr.py .json output")
    ap.add_argument("frames", type=Path, help="its --keep folder")
    ap.add_argument("--runs", type=Path, required=True, help="where the commands' output folders go")
    ap.add_argument("--only", type=int, nargs="+", help="these seeds alone")
    ap.add_argument("--rule", default="gcv")
    args = ap.parse_args(argv)
    print("| set | seed | bench λ | command λ | bench PSNR | command PSNR | ΔPSNR | solved again (gains) | command CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in json.loads(args.bench.read_text())["rows"]:
        if args.only and r["seed"] not in args.only:
            continue
        path = frame_file(args.frames, r["image"], r["size"], r["noise"], r["seed"], r["frames"], r["motion"],
                          r.get("gain") is not None, r.get("turn_scale", 1.0))
        if not path.exists():
            raise SystemExit(f"check_bench_user: {path} is not there: run the bench with --keep {args.frames}")
        if r.get("gain") is not None:
            raise SystemExit("check_bench_user: a set with declared gains is solved with problem.gain=true by the "
                             "bench, which a user's command does not set")
        out = readme_run(path, 2, path, path, args.runs / path.stem)
        m, a = out.get("metrics", {}), r[f"auto_{args.rule}"]
        again = "yes" if m.get("solved_again") == 1.0 else "no"
        print(f"| {r['image']} | {r['seed']} | {a['lam']:.17g} | {m.get('lam_chosen', float('nan')):.17g} | "
              f"{a['psnr']:.6f} | {m.get('psnr', float('nan')):.6f} | {m.get('psnr', float('nan')) - a['psnr']:+.2e} | "
              f"{again} ({'yes' if 'problem.gain=true' in (out.get('message') or '') else 'no'}) | {out['cpu_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
