#!/usr/bin/env python
"""The frame-split walk above 64 px frames (problem.lam_split_max_frame; issue 16, srover): per frame set
(bench_lambda_sr's sets, --set; colour too), the user's `lambda_f=auto` with the walk's frame limit at its default
and at --max-frame, the same pre-registration: the weight, PSNR (SuperRes.evaluate, all channels, as the bench)
and CPU seconds of each run, and the walk's own (lam_split_s). Outputs outside the repository (--out .json).

    python scripts/diag_lambda_sr_split_large.py --set isomap,256,16,0.005,811,translation --out OUT/split/large
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_lambda_sr import describe, parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import write  # scripts/curves_lambda_sr_cv.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_start import start_params
from regrun.solvers.varpro_cg import VarProCG


def run(ctx, path: Path, gain: bool, w0, **settings) -> dict:
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto", gain=gain, **settings)
    p = SuperRes(cfg, ctx)
    p.model.preregister = lambda **_: w0.clone()
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
    cpu = time.process_time() - t0
    metrics, _ = p.evaluate(res)
    return {"lam": res.metrics["lam_chosen"], "psnr": metrics["psnr"], "cpu_s": cpu,
            "split_from": res.metrics.get("lam_split_from"), "split_s": res.metrics.get("lam_split_s"),
            "split_evaluations": res.metrics.get("lam_split_evaluations")}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--max-frame", type=int, default=128, help="problem.lam_split_max_frame for the second run")
    ap.add_argument("--split-rtol", type=float, help="the split's PCG bar (superres_cv's REFIT_RTOL, 1e-6: the frames "
                    "check's) for the second run: a looser one for a cheaper walk")
    ap.add_argument("--no-default", action="store_true", help="only the second run")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.split_rtol is not None:
        import regrun.registration.superres_cv as cv_module

        cv_module.REFIT_RTOL = args.split_rtol  # the split's solves only (the CV walk is off by default)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            path = write(Path(tmp), spec, args.supersample)
            gain = spec["gain"] is not None
            p0 = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                         true_motion=str(path), lambda_f=1.0, gain=gain), ctx)
            w0 = start_params(p0, "preregister")
            row = {"set": describe({"image": spec["kind"], **spec, "channels": 1}), "spec": spec,
                   "default": None if args.no_default else run(ctx, path, gain, w0),
                   "walk": run(ctx, path, gain, w0, lam_split_max_frame=args.max_frame)}
            rows.append(row)
            d, w = row["default"], row["walk"]
            first = "" if d is None else f"default {d['lam']:.3g} ({d['psnr']:.2f}, {d['cpu_s']:.1f} CPU-s); "
            print(f"{row['set']} {spec['size']}^2/{spec['frames']} {spec['noise']:g} s{spec['seed']}: {first}walk "
                  f"{w['lam']:.3g} ({w['psnr']:.2f}, {w['cpu_s']:.1f} CPU-s, the walk {w['split_s'] or 0:.1f})", flush=True)
            args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
