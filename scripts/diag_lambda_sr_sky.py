#!/usr/bin/env python
"""Why `problem.lambda_f=auto` takes the range's bottom on a nearly flat crop (srsky): for one kept frame set
(bench_lambda_sr.py --keep), `auto` as the user runs it (varpro_cg, the problem's defaults), then, at the
pre-registered, the final and the true motion, the rule's curve over a log grid of weights: GCV with the problem's
trace weight (lam_gcv_gamma), the marginal likelihood's floor criterion (GML), the misfit, the trace, the exact image's
PSNR and its high-frequency share (the energy of the image's checkerboard-like component: the part the frames
barely see). Also the frames' noise estimate against the added noise (noise x the noise-free frames' std: the
draw's) and the motion error (RMS fine px) at each stage. No truth enters a choice: it only scores.

    python scripts/diag_lambda_sr_sky.py --frames OUT/frames/sk_camera@60_300_20_0.005_4661_16_translation_False.npz \\
        --noise 0.005 --out OUT/diag_camera [--set frames_level=true]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import FLOOR_RULE, criterion, rademacher
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at, frames_noise
from regrun.solvers.varpro_cg import VarProCG


def checker_share(img: np.ndarray) -> float:
    """Share of the image's (mean-removed) energy in its second differences along both axes: near 0 for a smooth
    image, large where an image oscillates pixel to pixel."""
    x = img - img.mean()
    d2 = (x[2:, 1:-1] - 2 * x[1:-1, 1:-1] + x[:-2, 1:-1]) ** 2 + (x[1:-1, 2:] - 2 * x[1:-1, 1:-1] + x[1:-1, :-2]) ** 2
    return float(d2.mean() / max((x**2).mean(), 1e-300))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=Path, required=True, help="a kept frame set (.npz with truth and w)")
    ap.add_argument("--noise", type=float, required=True, help="the draw's noise (times the frames' std)")
    ap.add_argument("--points", type=int, default=12, help="weights on the log grid over problem.lam_range")
    ap.add_argument("--motion-model", default="affine")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="problem settings")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cfg = config_section("problem", "superres", data="frames", frames=str(args.frames), truth=str(args.frames),
                         true_motion=str(args.frames), lambda_f="auto", motion_model=args.motion_model, **extra)
    p = SuperRes(cfg, ctx)
    truth = p.truth.numpy()
    data = np.load(args.frames)
    sigma_true = args.noise * float(np.std(data["frames"]))  # ~ the draw's noise (noise x the frames' std)
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    keys = ("lam_first", "lam_rechosen", "lam_chosen", "lam_criterion_fall", "solver_runs", "psnr", "motion_error",
            "frames_check_ratio", "frames_check_all_ratio", "noise_sigma", "lam_at_range_edge")
    auto = {k: float(res.metrics[k]) for k in keys if k in res.metrics}
    auto["cpu_s"] = time.process_time() - t0
    auto["details"] = {k: str(v) for k, v in p.weight_choice.details.items()}
    auto["first_details"] = {k: str(v) for k, v in p.weight_searches[0].details.items()}
    print("auto:", auto, flush=True)
    sigma, source = frames_noise(p.model, p.weight_settings)
    print(f"noise: estimate {sigma:.4g} ({source}), added ~{sigma_true:.4g}: {sigma / sigma_true:.2f}x")
    w_true = torch.as_tensor(data["w"], dtype=torch.float64).reshape(-1)
    motions = {"pre-registered": p.model.preregister(drop_outside=True), "final": res.solution["w"].detach(),
               "true": w_true}
    d = p.model.frames.reshape(-1)
    probes = rademacher(p.weight_settings.probes, d.shape, ctx.generator(int(p.cfg.lam_seed)), d.dtype, d.device)
    lo, hi = (float(x) for x in p.cfg.lam_range)
    lams = np.exp(np.linspace(np.log(lo), np.log(hi), args.points))
    st = p.weight_settings
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "auto": auto, "sigma_estimate": sigma,
           "sigma_added": sigma_true, "curves": {}}
    for name, wm in motions.items():
        p.model.settle_outside(wm)
        solve = ImageSolve(p.model, wm, p.final_iters, p.lam_rtol)
        rows = []
        for lam in lams:
            fit = evaluate_at(p.model, solve, probes, float(lam))
            img = fit.state.reshape(p.fine.m).numpy() + p.level
            rows.append({"lam": float(lam), "gcv": criterion(st.rule, fit, sigma, st.tau, st.gamma),
                         "gml": criterion(FLOOR_RULE, fit.resolved(), float("nan")), "rss": fit.rss,
                         "trace": fit.trace, "m": fit.m, "psnr": psnr(img, truth), "checker": checker_share(img)})
        err = p.motion_error(wm)
        out["curves"][name] = {"motion_error_px": err, "rows": rows}
        print(f"{name} motion ({err:.3f} px): GCV min at {min(rows, key=lambda r: r['gcv'])['lam']:.4g}, GML min at "
              f"{min(rows, key=lambda r: r['gml'])['lam']:.4g}, PSNR peak at {max(rows, key=lambda r: r['psnr'])['lam']:.4g}")
        for r in rows:
            print(f"  lam {r['lam']:.4g}  gcv {r['gcv']:.5g}  gml {r['gml']:.6g}  rss {r['rss']:.5g}  "
                  f"tr {r['trace']:.1f}/{r['m']}  PSNR {r['psnr']:.2f}  checker {r['checker']:.3g}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
