#!/usr/bin/env python
"""Why `problem.lambda_f=auto` missed on a frame set: the rule's curve beside the PSNR of the exact regularized
least-squares image over a log grid of weights, at three motions: the pre-registration (where the first search
runs), varpro_cg's final motion with lambda_f=auto (where the search runs again), the true motion and, with
--peer, the two-stage peer's (SimpleITK) motion; the edge mask decided at each motion. A rule whose minimum is
far from the PSNR's peak even at the true motion is wrong for that data, whatever the motion; a PSNR peak that
differs between motions at the same weight is the motion's.

    python scripts/diag_lambda_sr_curve.py --image texture --size 48 --frames 8 --noise 0.005 --seed 12 \\
        --out outputs/bench/lambda_sr_r3/diag_texture_48
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set  # scripts/bench_lambda_sr.py: the same frame sets
from bench_superres_frames import sitk_motion

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion, rademacher
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at
from regrun.solvers.varpro_cg import VarProCG


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--noise", type=float, required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--rule", default="gcv")
    ap.add_argument("--points", type=int, default=16, help="weights on the log grid over problem.lam_range")
    ap.add_argument("--peer", action="store_true", help="also the curve at the peer's (SimpleITK) motion")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    truth, stack, w, _ = frame_set(args.image, args.size, args.frames, args.noise, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.npz"
        np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), lambda_f="auto", lam_rule=args.rule, outside="drop")
        p = SuperRes(cfg, ctx)
        t0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
        auto = {k: res.metrics[k] for k in ("lam_first", "lam_rechosen", "lam_chosen", "lam_criterion_fall",
                                            "solver_runs")}
        auto["cpu_s"] = time.process_time() - t0
        print("auto:", auto, flush=True)
        w_true = torch.as_tensor(w, dtype=torch.float64).reshape(-1)
        motions = {"pre-registered": p.model.preregister(drop_outside=True), "final": res.solution["w"],
                   "true": w_true}
        if args.peer:
            motions["peer"] = sitk_motion(p)
        d = p.model.frames.reshape(-1)
        probes = rademacher(p.weight_settings.probes, d.shape, ctx.generator(int(p.cfg.lam_seed)), d.dtype,
                            d.device)
        lo, hi = (float(x) for x in p.cfg.lam_range)
        lams = np.exp(np.linspace(np.log(lo), np.log(hi), args.points))
        out = {"args": {k: str(v) for k, v in vars(args).items()}, "auto": auto, "curves": {}}
        for name, wm in motions.items():
            p.model.settle_outside(wm)  # each motion's own edge mask
            solve = ImageSolve(p.model, wm, p.final_iters, p.lam_rtol)
            rows = []
            for lam in lams:
                fit = evaluate_at(p.model, solve, probes, float(lam))
                rows.append({"lam": float(lam), "criterion": criterion(args.rule, fit, 1.0), "rss": fit.rss,
                             "trace": fit.trace, "m": fit.m,
                             "psnr": psnr(fit.state.reshape(p.fine.m).numpy(), p.truth.numpy())})
            err = float((wm - w_true).pow(2).mean().sqrt())
            out["curves"][name] = {"motion_rms_param_error": err, "rows": rows}
            best_rule = min(rows, key=lambda r: r["criterion"])
            best_psnr = max(rows, key=lambda r: r["psnr"])
            print(f"{name} motion (RMS parameter error {err:.3g}): {args.rule} minimum at {best_rule['lam']:.4g} "
                  f"({best_rule['psnr']:.2f} dB); PSNR peak at {best_psnr['lam']:.4g} ({best_psnr['psnr']:.2f} dB)")
            for r in rows:
                print(f"  lam {r['lam']:.4g}  {args.rule} {r['criterion']:.6g}  rss {r['rss']:.6g}  "
                      f"tr H {r['trace']:.1f}  PSNR {r['psnr']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
