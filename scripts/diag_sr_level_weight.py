#!/usr/bin/env python
"""Which step of `lambda_f=auto` the frames' level (problem.frames_level) moves, and through which statistic (srbrick):
for one kept frame set (bench_lambda_sr.py --keep), `auto` as the user runs it (varpro_cg, the problem's defaults)
with the level off and on; then, at each run's final motion and data mask, the search again at the final motion
(superres_weight.rechoose, the same call the run makes, from the run's first weight) with the constant taken off the
frames set to s x the frames' mean for each s of --shifts (0: the zero extension as given, 1: main's level). Per
search: the weight, whether the marginal likelihood's floor bound (the rule's minimum below it) and the climb from
it, GCV's and the floor's minima over the weights the search solved, the rule's fall, and at each weight solved the
misfit split into the frame pixels within --band coarse pixels of a frame's border and the rest, and the image's
PSNR against the truth (it only scores). Then the same search at shifts 0 and 1 with the data mask decided afresh
at the final motion (the run's mask is accumulated over the motions it settled: superres_outside). Only the constant changes between shifts: a step that moves with s is the
level's.

    PYTHONPATH=. python scripts/diag_sr_level_weight.py \\
        --frames outputs/diag_sr_level_weight/frames/sk_brick@100_100_48_0.005_7458_8_translation_False.npz --out outputs/diag_sr_level_weight/brick
    PYTHONPATH=. python scripts/diag_sr_level_weight.py --set sk:cat@0:0,48,8,0.01,7337 --shifts 0 1 --out outputs/diag_sr_level_weight/cat
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_file, frame_set, parse_set  # scripts/bench_lambda_sr.py: the same frame sets

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import FLOOR_RULE, criterion
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import frame_data, rechoose
from regrun.solvers.varpro_cg import VarProCG


def border_band(model, band: int) -> torch.Tensor:
    """(q + 1, m1, m2) bool: frame pixels within `band` coarse pixels of their frame's border."""
    out = torch.ones_like(model.frames, dtype=torch.bool)
    out[:, band:-band, band:-band] = False
    return out


def search_again(p, ctx, w: torch.Tensor, first, given: torch.Tensor, shift: float, band: torch.Tensor, truth) -> dict:
    """rechoose at motion w from the run's first weight, the frames less `shift`; the search's record."""
    p.model.frames = given - shift
    p.level = shift
    p.weight_choice = first
    rechoose(p, w, ctx)
    new, (_, evaluate) = p.weight_searches[-1], p.weight_last_search
    d, _ = frame_data(p.model)
    mask = p.model.data_mask().bool()
    rows = []
    for lam in sorted(evaluate.fits):
        fit = evaluate.fits[lam]
        pred, f = evaluate.solve.prediction(lam)(d)
        r2 = (pred - d).reshape(mask.shape).pow(2)
        rows.append({"lam": lam, "gcv": criterion(p.weight_settings.rule, fit, new.sigma, p.weight_settings.tau,
                                                  p.weight_settings.gamma) if math.isfinite(fit.trace) else math.nan,
                     "gml": criterion(FLOOR_RULE, fit.resolved(), math.nan) if hasattr(fit, "logdet") else math.nan,
                     "rss_band": float(r2[band & mask].sum()), "rss_inner": float(r2[~band & mask].sum()),
                     "psnr": psnr(f.reshape(p.fine.m).numpy() + shift, truth)})
    finite = [r for r in rows if math.isfinite(r["gcv"])]
    return {"shift": shift, "lam": new.lam, "fall": p.weight_falls[-1], "sigma": new.sigma,
            "details": {k: str(v) for k, v in new.details.items()},
            "gcv_min": min(finite, key=lambda r: r["gcv"])["lam"] if finite else math.nan,
            "gml_min": min((r for r in rows if math.isfinite(r["gml"])), key=lambda r: r["gml"])["lam"],
            "data_band": int((band & mask).sum()), "data_inner": int((~band & mask).sum()), "rows": rows}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=Path, help="a kept frame set (.npz with truth and w)")
    ap.add_argument("--set", type=parse_set, help="or a bench_lambda_sr.py set (grey), its frames written to --keep")
    ap.add_argument("--keep", type=Path, default=Path("outputs/diag_sr_level_weight/frames"))
    ap.add_argument("--shifts", type=float, nargs="+", default=[0.0, 0.5, 0.9, 1.0, 1.1, 1.5],
                    help="the constant taken off the frames, in units of their mean")
    ap.add_argument("--band", type=int, default=1, help="coarse pixels from a frame's border counted as its edge")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if (args.frames is None) == (args.set is None):
        ap.error("one of --frames and --set")
    if args.set is not None:
        spec = args.set
        motion = spec.get("motion", "affine")
        truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                       supersample=8, motion=motion)
        args.keep.mkdir(parents=True, exist_ok=True)
        args.frames = frame_file(args.keep, spec["kind"], spec["size"], spec["noise"], spec["seed"], spec["frames"],
                                 motion, False)
        np.savez(args.frames, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": {}}
    for name, level in (("zero", False), ("level", True)):
        cfg = config_section("problem", "superres", data="frames", frames=str(args.frames), truth=str(args.frames),
                             true_motion=str(args.frames), lambda_f="auto", frames_level=level)
        p = SuperRes(cfg, ctx)
        t0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
        keys = ("lam_first", "lam_rechosen", "lam_chosen", "lam_criterion_fall", "solver_runs", "psnr", "motion_error",
                "lam_split_from", "frames_level")
        run = {k: float(res.metrics[k]) for k in keys if k in res.metrics}
        run["cpu_s"] = time.process_time() - t0
        run["first_details"] = {k: str(v) for k, v in p.weight_searches[0].details.items()}
        run["last_details"] = {k: str(v) for k, v in p.weight_searches[-1].details.items()}
        print(name, {k: v for k, v in run.items()}, flush=True)
        truth = p.truth.numpy()
        given = p.model.frames + p.level
        mean = float(given.mean())
        w = res.solution["w"].detach()
        band = border_band(p.model, args.band)
        first = p.weight_searches[0]
        run["searches"] = []
        for s in args.shifts:
            rec = search_again(p, ctx, w, first, given, s * mean, band, truth)
            rec["shift_of_mean"] = s
            run["searches"].append(rec)
            top = max(rec["rows"], key=lambda r: r["psnr"])
            print(f"  {name} motion, shift {s:g}x mean ({s * mean:.4g}): lam {rec['lam']:.4g} fall {rec['fall']:.3f} "
                  f"sigma {rec['sigma']:.4g}; GCV min {rec['gcv_min']:.4g}, GML min {rec['gml_min']:.4g}, "
                  f"PSNR peak {top['lam']:.4g} ({top['psnr']:.2f}); {rec['details']}", flush=True)
            for r in rec["rows"]:
                print(f"    lam {r['lam']:.4g} gcv {r['gcv']:.5g} gml {r['gml']:.6g} rss band {r['rss_band']:.5g} "
                      f"({rec['data_band']}) inner {r['rss_inner']:.5g} ({rec['data_inner']}) PSNR {r['psnr']:.2f}")
        # the data mask decided afresh at the final motion (the run's is accumulated over every motion it settled)
        kept = int(p.model.data_mask().sum())
        p.model.settle_outside(w)
        run["mask_data"] = {"run": kept, "fresh": int(p.model.data_mask().sum())}
        run["fresh_mask"] = []
        for s in (0.0, 1.0):
            rec = search_again(p, ctx, w, first, given, s * mean, band, truth)
            rec["shift_of_mean"] = s
            run["fresh_mask"].append(rec)
            print(f"  {name} motion, mask fresh ({kept} -> {run['mask_data']['fresh']} data), shift {s:g}x mean: "
                  f"lam {rec['lam']:.4g} fall {rec['fall']:.3f}; GCV min {rec['gcv_min']:.4g}, GML min "
                  f"{rec['gml_min']:.4g}; {rec['details']}", flush=True)
        out["runs"][name] = run
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
