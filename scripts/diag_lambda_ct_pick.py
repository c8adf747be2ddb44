"""Where `solver.lam=auto` (rule cv) under- or over-picks while FISTA-TV's own optimum is fine (docs/ct.md,
"Sixteenth round"): the solver's own search, once per case (its defaults, the cap on so its record is complete),
then alternative answers read off the same search's record (no more training runs) and each scored by one FISTA
run on all views with the truth's PSNR:

- `main`: the solver's answer (the default cap); `uncapped`: the pick x the dose rule's scale, no cap;
- `cap_share`: the cap with the rise allowed divided by min(1, share / S0) for each S0 in --share-floors (share:
  the noise's share of the held-out misfit at the best weight, the dose rule's): the cap widens where the noise is
  a small part of the held-out misfit, as at 1e6 photons, where the training views' misfit is the model's;
- `cap_ref`: the cap on the training views' misfit against the held-out views' reference (h * b, `resolved`)
  instead of the raw data (/stats/lam_cv_train_fit_ref), the rise allowed as the default's;
- `quad`: the held-out misfit's minimum by a least-squares quadratic in log lam through the K lowest weights tried
  (K in --quad-points) instead of the parabola through the best three, x the same scale, capped as the default;
- `onesided`: the largest weight tried or log-linearly between two tried whose held-out misfit is within (1 + d)
  of the lowest (d in --tolerances), x the same scale, capped as the default.

    python scripts/diag_lambda_ct_pick.py --cases outputs/heldout_ct_4001/shells_128_60_1e+04.npz \\
        --out outputs/bench/pick_shells128

One thread recommended (OMP_NUM_THREADS=1); prints one table row per answer and writes JSON.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse_curve(text: str) -> dict[float, float]:
    """'lam: value, lam: value' (the solver's /stats/lam_cv_train_fit) -> {lam: value}."""
    return {float(a): float(v) for a, v in (item.split(":") for item in text.split(", ") if item)}


def share_of(dose: str) -> float:
    """The noise's share of the held-out misfit from /stats/lam_cv_dose's line ('... = 0.123 of the held-out')."""
    return float(dose.split(" = ")[1].split(" of the held-out")[0])


def cap_parts(text: str) -> tuple[float, float]:
    """(noise variance, the held-out misfit's part that is not noise) from /stats/lam_cv_fit_cap's line."""
    noise = float(text.split("noise variance ")[1].split(" +")[0])
    held = float(text.split("the held-out misfit ")[1].split(" less")[0])
    less = float(text.split("less its noise ")[1].split(")")[0])
    return noise, max(0.0, held - less)


def quad_min(lams, values, k: int) -> float:
    """The vertex of the least-squares quadratic in log lam through the k lowest points (the lowest point itself if
    the fit opens downward or its vertex leaves the points' range)."""
    order = np.argsort(values)[:k]
    x, y = np.log(np.asarray(lams)[order]), np.asarray(values)[order]
    a, b, _ = np.polyfit(x, y, 2)
    lo, hi = x.min(), x.max()
    if a <= 0:
        return float(np.exp(x[np.argmin(y)]))
    return float(np.exp(np.clip(-b / (2 * a), lo, hi)))


def one_sided(lams, values, tol: float) -> float:
    """The largest weight whose held-out misfit stays within (1 + tol) x the lowest, walking up from the lowest
    weight tried (log-linear between the last within and the first beyond)."""
    order = np.argsort(lams)
    lam, val = np.asarray(lams)[order], np.asarray(values)[order]
    i = int(np.argmin(val))
    limit = val[i] * (1 + tol)
    j = i
    while j + 1 < len(lam) and val[j + 1] <= limit:
        j += 1
    if j + 1 == len(lam):
        return float(lam[j])
    t = (limit - val[j]) / (val[j + 1] - val[j])
    return float(math.exp(math.log(lam[j]) + t * (math.log(lam[j + 1]) - math.log(lam[j]))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", nargs="+", type=Path, required=True)
    ap.add_argument("--share-floors", nargs="*", type=float, default=[0.03, 0.1])
    ap.add_argument("--quad-points", nargs="*", type=int, default=[4, 5])
    ap.add_argument("--tolerances", nargs="*", type=float, default=[0.01, 0.03])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from bench_lambda_ct import case_from_file, tv_grid_for

    from regrun.config import config_section
    from regrun.optim.parameter_choice import ChoiceSettings
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid
    from regrun.tomography.fista_tv_weight import CT_RULES, choose_fista_weight, fit_cap_weight

    args.tv_grid = None
    results = []
    for path in args.cases:
        p, (name, size, views, photons) = case_from_file(path)
        cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=tv_grid_for(args))
        ug = unknown_grid(p, cfg)
        fista = make_fista(ug, cfg, lipschitz(ug, cfg))
        iters = int(cfg.iters)
        settings = ChoiceSettings.from_config(config_section("solver", "fista_tv", lam_rule="cv"), "solver", CT_RULES)
        c0 = time.process_time()
        tau = float(cfg.lam_cv_fit_cap)
        choice = choose_fista_weight(ug, fista, iters, settings, "fd", torch.Generator().manual_seed(0),
                                     cv_fold=int(cfg.lam_cv_fold), cv_scale=float(cfg.lam_cv_scale),
                                     power_iters=int(cfg.power_iters), cv_reference=str(cfg.lam_cv_reference),
                                     cv_weight=str(cfg.lam_cv_weight), cv_offsets=int(cfg.lam_cv_offsets),
                                     cv_grid=int(cfg.lam_cv_grid), cv_guard=bool(cfg.lam_cv_guard),
                                     cv_dose=bool(cfg.lam_cv_dose), cv_fit_cap=tau)
        search_cpu = time.process_time() - c0
        d = choice.details
        pick = float(d["lam_cv_pick"])
        uncapped = float(d.get("lam_cv_uncapped", choice.lam))
        scale = uncapped / pick
        share = share_of(d["lam_cv_dose"])
        noise, rest = cap_parts(d["lam_cv_fit_cap"])
        fit, fit_ref = parse_curve(d["lam_cv_train_fit"]), parse_curve(d["lam_cv_train_fit_ref"])
        table = choice.table()
        lams, values = list(table["lam"]), list(table["criterion"])
        rise = noise + tau * rest

        def capped(lam: float) -> float:
            return min(lam, fit_cap_weight(fit, rise, 1.0))

        answers = {"main": choice.lam, "uncapped": uncapped}
        for s0 in args.share_floors:
            answers[f"cap_share{s0:g}"] = min(uncapped, fit_cap_weight(fit, rise / min(1.0, share / s0), 1.0))
        answers["cap_ref"] = min(uncapped, fit_cap_weight(fit_ref, rise, 1.0))
        for k in args.quad_points:
            answers[f"quad{k}"] = capped(quad_min(lams, values, k) * scale)
        for tol in args.tolerances:
            answers[f"onesided{tol:g}"] = capped(one_sided(lams, values, tol) * scale)
        psnr = {}
        for key, lam in answers.items():
            near = [k for k in psnr if abs(math.log(answers[k] / lam)) < 1e-6]
            if near:
                psnr[key] = psnr[near[0]]
                continue
            with torch.no_grad():
                x = fista.solve(torch.tensor(lam, dtype=torch.float64), iters)
            psnr[key] = p.quality(ug.output(x) * p.mask)["psnr"]
        row = {"case": str(path), "object": name, "size": size, "views": views, "photons": photons,
               "tv_grid": ug.factor, "pick": pick, "scale": scale, "share": share, "noise": noise,
               "rest": rest, "rise": rise, "search_cpu_s": search_cpu,
               "held_out": dict(zip(map(float, lams), map(float, values))), "train_fit": fit,
               "train_fit_ref": fit_ref, "answers": answers, "psnr": psnr}
        results.append(row)
        print(f"{name} {size} {views} {photons:g}: pick {pick:.4g} scale {scale:.3f} share {share:.3f} "
              f"search {search_cpu:.1f} CPU s", flush=True)
        for key in answers:
            print(f"    {key:14s} {answers[key]:9.4g}  {psnr[key]:.2f}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.with_suffix(".json").write_text(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
