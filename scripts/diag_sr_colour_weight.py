#!/usr/bin/env python
"""Where does the colour image's weight lie against the luminance's, and can the frames tell (srcolour)? Per colour
set (bench_lambda_sr.py's rgb: sets, supersample 8): `auto` as the user runs it (diag_sr_rgb_weight.py's set-up);
then at its final motion the image split into its luminance Y (solved at `auto`'s weight, as main) and its chroma,
the frames of each other channel less the luminance (R - Y, B - Y: the operator is linear and the same for all, so
main's channels are exactly Y's image plus the chroma's at the same weight). On a log grid of chroma weights: the
PSNR of all channels with the luminance at `auto`'s weight and the chroma at the grid's (what a separate chroma
weight reaches), and with all at the grid's weight (main's one weight); GCV and the marginal likelihood (GML) on the
chroma frames, each channel and both together; the chroma's regulariser energy per noise variance against the
luminance's (a prior's scale read off the images: under f ~ N(0, s^2 (L^T L)^-1) the best lam^2 is sigma^2 / s^2,
and ||L f||^2 ~ n s^2, so lam_C^2 ||L f_C||^2 / sigma_C^2 = lam_Y^2 ||L f_Y||^2 / sigma_Y^2 carries the luminance's
calibration over to the chroma). --factors K ...: `auto` again with problem.lam_chroma_factor=K, as the user would
run it (the same frames, so the same luminance and weight: the chroma's effect alone); --grid 0 0 0: no grid.

    PYTHONPATH=. python scripts/diag_sr_colour_weight.py --out OUT/retina \\
        --set rgb:sk:retina@1000:860,40,16,0.01,9511,rigid
    PYTHONPATH=. python scripts/diag_sr_colour_weight.py --out OUT/retina --grid 0 0 0 --factors 2 \\
        --set rgb:sk:retina@1000:860,40,16,0.01,9511,rigid
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from diag_sr_black_ground import problem, set_grid_arguments  # scripts/diag_sr_black_ground.py (srlow16)
from diag_sr_rgb_weight import noisy_and_clean  # scripts/diag_sr_rgb_weight.py (srrgbweight)

from regrun.config import config_section
from regrun.imaging.io import luminance_weights
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import FLOOR_RULE, criterion, noise_std_images
from regrun.registration.superres_weight import evaluate_at, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG


def main(argv=None):
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--factors", type=float, nargs="*", default=[])
    factors, rest = extra.parse_known_args(argv)
    args = set_grid_arguments(__doc__, [0.025, 1.6, 19], rest)
    clean, p, ctx, paths = noisy_and_clean(args)
    a = luminance_weights(p.colour.shape[1])
    last = max(range(len(a)), key=lambda c: a[c])
    others = [c for c in range(len(a)) if c != last]
    lum = sum(ac * p.colour[:, c] for c, ac in enumerate(a))  # (frames, m1, m2)
    chroma = torch.stack([p.colour[:, c] - lum for c in others])  # (2, frames, m1, m2): R - Y, B - Y
    chroma_clean = torch.stack([clean.colour[:, c] - sum(ac * clean.colour[:, k] for k, ac in enumerate(a))
                                for c in others])
    out = {"set": {k: str(v) for k, v in args.set.items()},
           "sigma_drawn_chroma": (chroma - chroma_clean).reshape(2, -1).std(1).tolist(),
           "sigma_drawn_luminance": float((p.model.frames - clean.model.frames).std()),
           "sigma_est_chroma": [noise_std_images(c) for c in chroma],
           "sigma_est_luminance": noise_std_images(p.model.frames)}
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    out["run"] = {k: float(res.metrics[k]) for k in ("lam_chosen", "motion_error") if k in res.metrics}
    out["run"]["cpu_s"] = time.process_time() - t0
    out["run"]["psnr"] = float(p.evaluate(res)[0]["psnr"])  # the user's number: all channels
    out["factors"] = {}
    for k in factors.factors:
        t0 = time.process_time()
        pk = problem(paths["noisy"], ctx, lam_chroma_factor=k)
        run = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(pk, Monitor())
        got = {"lam_chosen": float(run.metrics["lam_chosen"]), "psnr": float(pk.evaluate(run)[0]["psnr"])}
        out["factors"][str(k)] = {**got, "cpu_s": time.process_time() - t0}
        print(f"factor {k}: lam {got['lam_chosen']:.4g} PSNR {got['psnr']:.2f} (the default: "
              f"{out['run']['lam_chosen']:.4g}, {out['run']['psnr']:.2f})", flush=True)
    if int(args.grid[2]) < 1:
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))
        return
    lam_y = out["run"]["lam_chosen"]
    w = res.solution["w"].detach()
    s = p.weight_settings
    evaluator, sigma, _ = weight_evaluator(p, w, s, torch.Generator().manual_seed(0))  # the search's own set-up
    solve, probes = evaluator.solve, evaluator.probes
    lum_frames = p.model.frames
    truth = p.truth_colour.numpy()

    def fit_at(frames, lam):
        p.model.frames = frames
        fit = evaluate_at(p.model, solve, probes, lam)
        p.model.frames = lum_frames
        fit.reg = fit.energy - fit.rss  # lam^2 ||L f||^2 in the frames' units
        return fit

    def colour(f_y, f_ch):
        est = torch.empty(len(a), *p.fine.m, dtype=f_y.dtype)
        for c, f in zip(others, f_ch):
            est[c] = (f_y + f).reshape(p.fine.m)
        est[last] = (f_y.reshape(p.fine.m) - sum(a[c] * est[c] for c in others)) / a[last]
        return est.numpy() + p.level

    y_fit = fit_at(lum_frames, lam_y)
    f_y = y_fit.state
    out["y"] = {"lam": lam_y, "reg": y_fit.reg, "rss": y_fit.rss, "trace": y_fit.trace, "m": y_fit.m,
                "psnr_main": psnr(colour(f_y, [fit_at(c, lam_y).state for c in chroma]), truth)}
    lo, hi, n = args.grid
    rows = []
    for lam in np.exp(np.linspace(math.log(lo), math.log(hi), int(n))):
        lam = float(lam)
        fits = [fit_at(c, lam) for c in chroma]
        f_ch = [f.state for f in fits]
        y = fit_at(lum_frames, lam)
        same = y.state
        r = {"lam": lam, "psnr_split": psnr(colour(f_y, f_ch), truth), "psnr_one": psnr(colour(same, f_ch), truth),
             "gcv": [criterion("gcv", f, sigma, s.tau, s.gamma) for f in fits],
             "gml": [criterion(FLOOR_RULE, f, sigma) for f in fits],
             "reg": [f.reg for f in fits], "rss": [f.rss for f in fits], "trace": fits[0].trace,
             "y_gcv": criterion("gcv", y, sigma, s.tau, s.gamma), "y_gml": criterion(FLOOR_RULE, y, sigma),
             "y_reg": y.reg, "y_rss": y.rss}
        r["gcv_joint"] = criterion("gcv", type(fits[0])(rss=sum(f.rss for f in fits), m=fits[0].m,
                                                        trace=fits[0].trace), sigma, s.tau, s.gamma)
        r["gml_joint"] = sum(r["gml"])
        rows.append(r)
        print(f"  lam {lam:.4g} PSNR split {r['psnr_split']:.2f} one {r['psnr_one']:.2f} | gcv "
              + " ".join(f"{v:.5g}" for v in r["gcv"]) + " | gml " + " ".join(f"{v:.5g}" for v in r["gml"])
              + " | reg " + " ".join(f"{v:.4g}" for v in r["reg"]), flush=True)
    best = {"psnr_split": max(rows, key=lambda r: r["psnr_split"])["lam"],
            "psnr_one": max(rows, key=lambda r: r["psnr_one"])["lam"],
            "gcv_joint": min(rows, key=lambda r: r["gcv_joint"])["lam"],
            "gml_joint": min(rows, key=lambda r: r["gml_joint"])["lam"],
            "y_gcv": min(rows, key=lambda r: r["y_gcv"])["lam"], "y_gml": min(rows, key=lambda r: r["y_gml"])["lam"]}
    out["best"], out["rows"] = best, rows
    out["psnr_split_max"] = max(r["psnr_split"] for r in rows)
    out["psnr_one_max"] = max(r["psnr_one"] for r in rows)
    print(f"auto {lam_y:.4g} main {out['y']['psnr_main']:.2f}; best on the grid:",
          json.dumps({k: round(v, 4) for k, v in best.items()}), flush=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
