#!/usr/bin/env python
"""The weight on many small frames (srmany, session 24): which of `lambda_f=auto`'s steps would put it near regrun's
own best where the frames are 16-24 px and 16-32 of them (held-out W's n24_ellipses, srbias's 9443; docs/superres.md,
"The weight on many small frames (srmany)").

Per frame set (bench_lambda_sr's `frame_set`, written as the .npz a user hands to `problem.data=frames`), in one
process, one thread: bench_lambda_sr.run_set once (bicubic, the user's `auto` with lam_rule=gcv, regrun's weight grid
judged with the truth, the peer at its best weight), then `auto` alone again (the grid reused) under each other variant,
each a change of module constants for that run only (the first variant's run_set carries the grid):

- main: the code on PYTHONPATH as it is;
- split_all: the frame-split walk at every frame size (superres_cv.SPLIT_MIN_FRAME 0: below 17 px it is off; on
  larger frames the same run as main's, which is then reused). With 16 or more frames (halves of 2 x factor^2 at
  factor 2) it is the rule srmany tried (the walk on frames of <= 16 px where the frames are many);
- climb_all: quasi-optimality's climb at every frame size (superres_weight.QUASI_OPTIMAL_MIN_FRAME 0: off up to 32 px);
- both: the two together;
- walk_off: problem.lam_split_steps 0 (no frame-split walk at any size).

Each variant's row: the weight at the pre-registered motion (`lam_first`), the search again at the final motion
(`lam_rechosen`), the weight before the split walk (`split_from`), the answer's weight and PSNR (SuperRes.evaluate)
and CPU-s, beside the grid's best.

    python scripts/diag_lambda_sr_many.py --no-peer --variants main split_all --set ellipses,32,16,0.02,9601 \
        --out OUT/dev.json
    python scripts/diag_lambda_sr_many.py --table OUT/dev.json
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import bench_lambda_sr
from bench_lambda_sr import describe, parse_set, run_set  # scripts/bench_lambda_sr.py
from diag_lambda_sr_steps import run_sets  # scripts/diag_lambda_sr_steps.py

from regrun.registration import superres_cv, superres_weight

VARIANTS = {
    "main": {},
    "split_all": {(superres_cv, "SPLIT_MIN_FRAME"): 0},
    "climb_all": {(superres_weight, "QUASI_OPTIMAL_MIN_FRAME"): 0},
    "both": {(superres_cv, "SPLIT_MIN_FRAME"): 0, (superres_weight, "QUASI_OPTIMAL_MIN_FRAME"): 0},
    "walk_off": {},
}
# variants that change problem settings of the auto run (bench_lambda_sr's --auto-set) rather than constants
SETTINGS = {"walk_off": {"lam_split_steps": 0}}


def no_peer(*_, **__):
    raise ImportError("--no-peer")  # run_set's own path where SimpleITK is missing: the peer's PSNR nan


def with_constants(patch: dict, call):
    """call() with the module constants in `patch` set, restored after."""
    old = {key: getattr(*key) for key in patch}
    try:
        for (mod, name), value in patch.items():
            setattr(mod, name, value)
        return call()
    finally:
        for (mod, name), value in old.items():
            setattr(mod, name, value)


def with_settings(args: argparse.Namespace, name: str) -> argparse.Namespace:
    """run_set's arguments with the variant's auto settings (SETTINGS)."""
    return argparse.Namespace(**{**vars(args), "auto_set": SETTINGS.get(name, {})})


def bench_args(grid) -> argparse.Namespace:
    """run_set's arguments as bench_lambda_sr's defaults give them (gcv, the grid refined, outside=drop)."""
    return argparse.Namespace(rules=["gcv"], auto_set={}, outside="drop", motion_model="affine", supersample=None,
                              split=None, grid=grid, grid_refine=True, reuse=None)


def one_set(ctx, tmp: Path, spec, variants, grid) -> dict:
    args = bench_args(grid)
    row = with_constants(VARIANTS[variants[0]], lambda: run_set(ctx, tmp, spec, args))
    out = {"set": describe(row), "spec": spec, "frames": row["frames"], "size": row["size"],
           "best_lam": row["regrun_best_lam"], "best_psnr": row["psnr_regrun_best"],
           "peer_psnr": row.get("psnr_peer_best", math.nan), "grid": row["grid"], "variants": {}}
    for name in variants:
        same = name == "split_all" and spec["size"] // 2 > superres_cv.SPLIT_MIN_FRAME  # bench: square, factor 2
        r = row if name == variants[0] or same else \
            with_constants(VARIANTS[name], lambda: run_set(ctx, tmp, spec, with_settings(args, name), row))
        a = r["auto_gcv"]
        out["variants"][name] = {k: a[k] for k in ("lam", "psnr", "lam_first", "lam_rechosen", "split_from",
                                                   "cpu_s", "motion_error")}
    return out


def table(rows, variants) -> str:
    head = " | ".join(f"{v}: λ (PSNR, Δbest)" for v in variants)
    lines = [f"| set | best λ (PSNR) | main: first / rechosen / split from | {head} |",
             "|---|---|---|" + "---|" * len(variants)]
    for r in rows:
        m = r["variants"]["main"]
        cells = [f"{r['variants'][v]['lam']:.3g} ({r['variants'][v]['psnr']:.2f}, "
                 f"{r['variants'][v]['psnr'] - r['best_psnr']:+.2f})" for v in variants if v in r["variants"]]
        sp = r["spec"]
        name = f"{r['set']} {sp['size']}/{sp['frames']}/{sp['noise']:g} s{sp['seed']}"
        lines.append(f"| {name} | {r['best_lam']:.3g} ({r['best_psnr']:.2f}) | {m['lam_first']:.3g} / "
                     f"{m['lam_rechosen']:.3g} / {m['split_from']:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, metavar="IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION]")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--grid", type=float, nargs="+", default=[0.03, 0.1, 0.2, 0.3, 0.5, 1.0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the markdown table of these --out files")
    ap.add_argument("--no-peer", action="store_true", help="leave the SimpleITK peer out (its best is only shown)")
    args = ap.parse_args(argv)
    if args.no_peer:
        bench_lambda_sr.sitk_motion = no_peer
    run_sets(args, lambda rows: table(rows, args.variants),
             lambda ctx, tmp, spec: one_set(ctx, tmp, spec, args.variants, args.grid),
             lambda rows: table(rows, args.variants).splitlines()[-1])

if __name__ == "__main__":
    main()
