"""Where does `auto`'s weight go when the affine model answers translation frames? (docs/superres.md, "srpage").

On one frame file kept by scripts/bench_lambda_sr.py (--keep; truth and true motion inside), for each model named
(affine, translation): `auto` with GCV at that model (its own pre-registration, as `motion_model=MODEL` runs),
recording the weight, the PSNR, the motion error, the frames' misfit at the answer, the GCV curve at the final
motion (lam_curve_final_motion, else lam_curve) and, for affine, how far the answer's linear parts are from the
identity (max |A - I| over frames and entries; the RMS displacement (A - I)(x - c) over the fine grid's points in
fine pixels); then typed weights (--lams) at each model, so the PSNR can be compared at the same weight.

    PYTHONPATH=WT python scripts/diag_sr_affine_weight.py --frames FILE.npz --lams 0.11 0.2 0.283 0.4 0.504 \
        --out OUT/page.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from regrun.config import config_section
from regrun.metrics import psnr
from regrun.optim.parameter_choice import FLOOR_RULE, criterion
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import weight_evaluator
from regrun.solvers.varpro_cg import VarProCG


def linear_part(p: SuperRes, w: torch.Tensor) -> dict[str, float]:
    """How far the answer's motions are from translations: max |A - I| and the RMS of (A - I)(x - c) in fine px."""
    t = p.model.split(w.detach())[0].reshape(-1, 6)
    a = t[:, :4].reshape(-1, 2, 2) - torch.eye(2, dtype=t.dtype)
    x = p.model.x - p.model.x.mean(0)  # the fine grid's points about their centre
    d = torch.einsum("qij,nj->qni", a, x)
    h = float(p.fine.h[0])
    return {"max_abs_A_minus_I": float(a.abs().max()), "rms_linear_px": float(d.pow(2).sum(-1).mean().sqrt()) / h}


def fixed_motion_curve(p: SuperRes, w: torch.Tensor, ctx, lams) -> dict[str, list]:
    """At the answer's motion w, held: GCV (the run's gamma), the marginal likelihood (the floor's rule) and the
    image's PSNR at each weight: the curves the search reads, and what the truth says along them."""
    settings = p.weight_settings
    evaluate, sigma, _ = weight_evaluator(p, w, settings, ctx.generator(0))
    truth = p.truth.cpu().numpy().reshape(-1)
    out = {"lam": [], "gcv": [], "gml": [], "psnr": [], "rss": [], "trace": []}
    for lam in lams:
        fit = evaluate(float(lam))
        out["lam"].append(float(lam))
        out["gcv"].append(criterion("gcv", fit, sigma, settings.tau, settings.gamma))
        out["gml"].append(criterion(FLOOR_RULE, fit.resolved(), math.nan))
        out["psnr"].append(psnr(fit.state.reshape(-1).cpu().numpy() + p.level, truth))
        out["rss"].append(fit.rss)
        out["trace"].append(fit.trace)
    return out


def run(ctx, solver, path, model, lam, curve_lams=(), extra=None):
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f=lam, motion_model=model, frames_level=True,
                         **({"lam_rule": "gcv", **(extra or {})} if lam == "auto" else {}))
    p = SuperRes(cfg, ctx)
    c0 = time.process_time()
    res = solver.solve(p, Monitor())
    metrics, _ = p.evaluate(res)
    out = {"model": model, "lam": float(res.metrics.get("lam_chosen", lam if lam != "auto" else math.nan)),
           "psnr": float(metrics["psnr"]), "motion_error": float(metrics.get("motion_error", math.nan)),
           "objective": float(metrics["objective"]), "data_rel_residual": float(metrics["data_rel_residual"]),
           "cpu_s": time.process_time() - c0, **linear_part(p, res.solution["w"]),
           # the weight's path after the rule (the walks, the climb): which moved it, from where
           "lam_metrics": {k: float(v) for k, v in res.metrics.items() if k.startswith("lam_")},
           "lam_stats": {k: str(v) for k, v in res.stats.items() if k.startswith("lam_") or k.startswith("noise")}}
    if len(curve_lams):
        out["fixed"] = fixed_motion_curve(p, res.solution["w"], ctx, curve_lams)
    for name in ("lam_curve_final_motion", "lam_curve"):
        if name in res.tables:
            out["curve"] = {"table": name, **{k: np.asarray(v).tolist() for k, v in res.tables[name].items()}}
            break
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True)
    ap.add_argument("--models", nargs="+", default=["affine", "translation"])
    ap.add_argument("--lams", nargs="*", type=float, default=[])
    ap.add_argument("--curve", nargs="*", type=float, default=[],
                    help="weights at which `auto`'s answers' motions, held, are read (GCV, the floor's rule, PSNR)")
    ap.add_argument("--skip-auto", action="store_true")
    ap.add_argument("--auto-set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="problem settings for the auto runs (e.g. lam_rechoose_move=0.2; numbers parsed as YAML)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
    rows, extra = [], {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args.auto_set)}
    for lam in (["auto"] if not args.skip_auto else []) + args.lams:
        for model in args.models:
            rows.append(run(ctx, solver, args.frames, model, lam, args.curve if lam == "auto" else (), extra))
            r = rows[-1]
            print(f"{model:11s} lam {r['lam']:.4g} psnr {r['psnr']:.2f} motion err {r['motion_error']:.3f} "
                  f"misfit {r['objective']:.5g} |A-I| {r['max_abs_A_minus_I']:.2e} lin {r['rms_linear_px']:.3f} px "
                  f"cpu {r['cpu_s']:.1f}", flush=True)
            Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
