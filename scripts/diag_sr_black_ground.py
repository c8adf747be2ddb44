#!/usr/bin/env python
"""Does a scene's black ground pull `lambda_f=auto`'s weight down on small frames (srlow16)? Per frame set
(bench_lambda_sr.py's sets, supersample 8): `auto` as the user runs it (varpro_cg, the problem's defaults: the
frames' level, motion_model=auto) and its weights per step (the search at the pre-registered motion, the search again
at the final motion); the noise level drawn beside the estimate (noise_std_images). Then, at the run's final motion
and data mask, the search again (superres_weight.rechoose from the run's first weight, the call the run makes) and,
on a log grid of weights at that fixed motion: GCV as the search reads it; the predictive risk GCV estimates (the
prediction's squared error against the noiseless frames, the same draw without noise, known only to this diagnosis)
on the black ground's frame pixels and the others; the image's squared error on the truth's black and other fine
pixels, and its PSNR. Black: under BLACK_SHARE of the maximum. A GCV minimum far under the risk's would be GCV
misreading the data (e.g. its degrees of freedom or the noise on a black ground); a risk minimum far under the
image error's is the rule's target itself, not its estimate; the image error's split says where the weight's loss is.

    PYTHONPATH=. python scripts/diag_sr_black_ground.py --out outputs/diag_sr_black_ground/handsR \\
        --set fair:hands-R@0:0,32,16,0.005,7452,translation
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set, parse_set  # scripts/bench_lambda_sr.py: the same frame sets

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion, noise_std_images
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at, frame_data, rechoose
from regrun.solvers.varpro_cg import VarProCG

# a frame or fine pixel is the black ground where its noiseless value lies under this share of the maximum
BLACK_SHARE = 0.02


def problem(path: Path, ctx, **settings) -> SuperRes:
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto", **settings)
    return SuperRes(cfg, ctx)


def curve(p, ctx, w, first, black: torch.Tensor, clean: torch.Tensor, lams, truth) -> dict:
    """The search again at w from the run's first weight, and on the grid `lams` at w (the same probes): GCV, the
    predictive risk GCV estimates (the prediction's error against the noiseless frames) on black and other frame
    pixels, and the image's squared error on the truth's black and other fine pixels."""
    p.weight_choice = first
    rechoose(p, w, ctx)
    new, (_, evaluate) = p.weight_searches[-1], p.weight_last_search
    s = p.weight_settings
    d, m = frame_data(p.model)
    mask = p.model.data_mask().bool()
    target = ((clean - p.level) * p.model.data_mask()).reshape(-1)
    solve = ImageSolve(p.model, w, p.final_iters, p.lam_rtol)
    fine_black = truth < BLACK_SHARE * truth.max()
    rows = []
    for lam in lams:
        fit = evaluate_at(p.model, solve, evaluate.probes, float(lam))
        pred, f = solve.prediction(float(lam))(d)
        risk = (pred - target).reshape(mask.shape).pow(2)
        err = (f.reshape(p.fine.m).numpy() + p.level - truth) ** 2
        rows.append({"lam": float(lam), "gcv": criterion(s.rule, fit, new.sigma, s.tau, s.gamma),
                     "trace": fit.trace, "risk_black": float(risk[black & mask].sum()),
                     "risk_other": float(risk[~black & mask].sum()), "sse_black": float(err[fine_black].sum()),
                     "sse_other": float(err[~fine_black].sum()),
                     "psnr": psnr(f.reshape(p.fine.m).numpy() + p.level, truth)})
    best = {key: min(rows, key=lambda r: r[key] if key != "risk" else r["risk_black"] + r["risk_other"])["lam"]
            for key in ("gcv", "risk", "risk_other", "sse_black", "sse_other")}
    best["psnr"] = max(rows, key=lambda r: r["psnr"])["lam"]
    return {"lam": new.lam, "fall": p.weight_falls[-1], "m": m, "m_black": int((black & mask).sum()),
            "fine_black": int(fine_black.sum()), "argmin": best, "rows": rows}


def set_grid_arguments(doc: str, grid: list[float], argv=None) -> argparse.Namespace:
    """One bench set, a log grid of weights (lo hi points) and the output prefix: this diagnosis's arguments, and
    diag_sr_rgb_weight.py's."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--set", type=parse_set, required=True, help="a bench_lambda_sr.py set")
    ap.add_argument("--grid", type=float, nargs=3, default=grid, help="lo hi points (log)")
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args(argv)


def main(argv=None):
    args = set_grid_arguments(__doc__, [0.04, 0.64, 13], argv)
    spec = args.set
    motion = spec.get("motion", "affine")
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, noise in (("noisy", spec["noise"]), ("clean", 0.0)):
        truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], noise, spec["seed"],
                                       supersample=8, motion=motion)
        paths[name] = args.out.with_name(f"{args.out.name}_{name}.npz")
        np.savez(paths[name], **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    clean = problem(paths["clean"], ctx)
    clean_frames = clean.model.frames + clean.level
    black = clean_frames < BLACK_SHARE * float(clean_frames.max())
    p = problem(paths["noisy"], ctx)
    given = p.model.frames + p.level
    out = {"set": {k: str(v) for k, v in spec.items()}, "black_share": float(black.double().mean()),
           "sigma_true": spec["noise"] * float(clean_frames.std()),  # frame_set: noise x the frames' spread
           "sigma_drawn": float((given - clean_frames).std()), "sigma_est": noise_std_images(given)}
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    keys = ("lam_first", "lam_rechosen", "lam_chosen", "lam_criterion_fall", "solver_runs", "psnr", "motion_error",
            "lam_split_from", "motion_model_chosen")
    out["run"] = {k: float(res.metrics[k]) for k in keys if k in res.metrics}
    out["run"]["cpu_s"] = time.process_time() - t0
    print(json.dumps({k: v for k, v in out.items()}), flush=True)
    w = res.solution["w"].detach()
    truth = p.truth.numpy()
    first = p.weight_searches[0]
    lo, hi, n = args.grid
    lams = np.exp(np.linspace(math.log(lo), math.log(hi), int(n)))
    rec = out["curve"] = curve(p, ctx, w, first, black, clean_frames, lams, truth)
    print(f"data {rec['m']} ({rec['m_black']} black), fine black {rec['fine_black']}; search again {rec['lam']:.4g} "
          f"(fall {rec['fall']:.3f}); best on the grid: {rec['argmin']}", flush=True)
    for r in rec["rows"]:
        print(f"  lam {r['lam']:.4g} gcv {r['gcv']:.6g} trH {r['trace']:.1f} risk black {r['risk_black']:.5g} "
              f"other {r['risk_other']:.5g}; image sse black {r['sse_black']:.5g} other {r['sse_other']:.5g} "
              f"PSNR {r['psnr']:.2f}", flush=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
