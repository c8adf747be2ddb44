"""`solver.lam=auto` on cone-beam sinograms from a file: the epipolar noise estimate (fista_tv_weight.
noise_variance_source_pairs) against the Poisson truth, and the weight it gives beside the rule without it (the
scale 0.8 and no ramp, what a cone beam got before: the same search's plain pick x 0.8) and the grid-optimal
weight (the truth's PSNR). docs/ct.md, "Ninth round".

Each case is made outside the reconstruction's model: regrun's phantom on a grid 2x finer (--oversample), each detector pixel
the mean of 4 x 4 rays across it (a detector integrates), Poisson noise as problem.ct_fewview's (the largest line
integral transmits 5%); circular orbit, flat detector, the problem's defaults (source 2 widths from the axis,
detector 1 behind it, 360 degrees).

    python scripts/cone_ct_lambda_check.py shepp_logan:32:30:1e3 metal_part:32:30:1e4 --out outputs/bench/cone.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch


def make(phantom: str, n: int, views: int, photons: float, seed: int, sub: int = 4, ovs: int = 2):
    from regrun.tomography.geometry import cone_beam, covering_detector, uniform_angles
    from regrun.tomography.phantoms import phantom_function, render
    from regrun.tomography.xray import XRayTransform

    dets, du = covering_detector((n, n, n), 1.0, 2.0 * n, 1.0 * n)
    ang = uniform_angles(views, True)
    fine = cone_beam((n * ovs,) * 3, ang, (dets[0] * sub, dets[1] * sub), du / sub, 2.0 * n, 1.0 * n, 1.0 / ovs)
    x = render(phantom_function(phantom, seed), (n * ovs,) * 3, sub=2)
    clean = XRayTransform(fine, cache_mb=0).project(x).reshape(views, dets[0], sub, dets[1], sub).mean((2, 4))
    kappa = -math.log(0.05) / float(clean.max())
    gen = torch.Generator().manual_seed(seed)
    counts = torch.poisson(photons * torch.exp(-kappa * clean), generator=gen).clamp(min=1.0)
    noisy = -torch.log(counts / photons) / kappa
    truth = x.reshape(n, ovs, n, ovs, n, ovs).mean((1, 3, 5))
    variance = float((torch.exp(kappa * clean) / (kappa**2 * photons)).mean())
    return noisy, clean, truth, variance


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", help="PHANTOM:SIZE:VIEWS:PHOTONS")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--grid", type=int, default=7)
    ap.add_argument("--lam-lo", type=float, default=0.1)
    ap.add_argument("--lam-hi", type=float, default=30.0)
    ap.add_argument("--refine", type=int, default=2)
    ap.add_argument("--oversample", type=int, default=2, help="the phantom's grid, this many times finer")
    ap.add_argument("--reference", default=None, help="cv's reference (default solver.lam_cv_reference)")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/cone_lambda.json"))
    args = ap.parse_args(argv)
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.optim.parameter_choice import ChoiceSettings
    from regrun.optim.scalar_search import golden_refine, log_grid
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import CT_RULES, choose_fista_weight, noise_variance

    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    results = []
    for spec in args.cases:
        phantom, n, views, photons = spec.split(":")
        n, views, photons = int(n), int(views), float(photons)
        c0 = time.process_time()
        noisy, clean, truth, variance = make(phantom, n, views, photons, args.seed, ovs=args.oversample)
        p = CTFewView(config_section("problem", "ct_fewview", geometry="cone", size=n, views=views, noise="none",
                                     oversample=1), ctx)
        p.sinogram, p.truth = noisy, truth * p.mask
        cfg = config_section("solver", "fista_tv", lam=1.0)
        fista = make_fista(p, cfg, lipschitz(p, cfg))
        iters = int(cfg.iters)

        def psnr(lam: float) -> float:
            with torch.no_grad():
                return p.quality(fista.solve(torch.tensor(lam, dtype=torch.float64), iters) * p.mask)["psnr"]

        est = noise_variance(noisy, p.geometry)[0]
        est_clean = noise_variance(clean, p.geometry)[0]
        settings = ChoiceSettings.from_config(config_section("solver", "fista_tv", lam_rule="cv"), "solver", CT_RULES)
        choice = choose_fista_weight(p, fista, iters, settings, "fd", torch.Generator().manual_seed(0),
                                     cv_fold=int(cfg.lam_cv_fold), cv_scale=float(cfg.lam_cv_scale),
                                     power_iters=int(cfg.power_iters),
                                     cv_reference=args.reference or str(cfg.lam_cv_reference),
                                     cv_weight=str(cfg.lam_cv_weight), cv_offsets=int(cfg.lam_cv_offsets),
                                     cv_grid=int(cfg.lam_cv_grid), cv_guard=bool(cfg.lam_cv_guard),
                                     cv_dose=bool(cfg.lam_cv_dose))
        auto_psnr = p.quality(choice.state * p.mask)["psnr"]
        before_lam = float(choice.details["lam_cv_pick_plain"]) * float(cfg.lam_cv_scale)
        before_psnr = psnr(before_lam)
        best_lam, best_neg = math.nan, math.nan
        if args.grid:  # --grid 0: no grid (another reference on cases whose optimum is known)
            grid = log_grid(args.lam_lo, args.lam_hi, args.grid)
            values = np.array([psnr(float(lam)) for lam in grid])
            best_lam, best_neg = golden_refine(lambda lam: -psnr(lam), grid, -values, args.refine)
        r = {"case": spec, "noise_true": variance, "noise_est": est, "noise_est_clean": est_clean,
             "auto_lam": choice.lam, "auto_psnr": auto_psnr, "dose": choice.details.get("lam_cv_dose"),
             "ramp_power": choice.details.get("lam_cv_ramp_power"), "before_lam": before_lam,
             "before_psnr": before_psnr, "grid_lam": best_lam, "grid_psnr": -best_neg,
             "cpu_s": time.process_time() - c0}
        results.append(r)
        print(f"{spec}: noise {est / variance:.2f}x the Poisson truth (noise-free {est_clean / variance:.3f}x); auto "
              f"{choice.lam:.3g} ({auto_psnr:.2f} dB), before {before_lam:.3g} ({before_psnr:.2f}), grid "
              f"{best_lam:.3g} ({-best_neg:.2f}); {r['cpu_s']:.0f} CPU s", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
