#!/usr/bin/env python
"""Why the motion is off on smooth 10-px frames (issue 16/21; docs/superres.md "Motion on smooth 10-px frames
(srtiny)"). Per frame set (bench_lambda_sr.py's --set syntax and frame_set, --supersample as the bench), the RMS
motion error (fine pixels, SuperRes.motion_error) of:

- floor:      the motion minimising the data misfit with the image fixed at the TRUE image, from the true motion
              (diag_superres_motion_bias.oracle_motion, affine): what the noise and the model mismatch leave;
- floor0:     the same on the set drawn without noise: the model mismatch alone (spline samples against the
              frames' cell averages);
- per motion model (--models): the pre-registration (the solver's start), and varpro_cg at each --lam from it,
  with the image's PSNR and CPU-s;
- the exact image's PSNR at the true motion at each --lam, and bicubic's;
- varpro_cg (affine) at each --truth-lam started at the true motion (solver.init=truth): where the joint objective's
  minimum near the truth lies; if it ends as far off as from the pre-registration, the start is not the cause.
- --compare-lam (one weight a set): varpro_cg there, then the exact image at its final motion and at the true motion
  under the solver's final (accumulated) edge mask and under the mask settled at each motion, the pixels each
  drops, and varpro_cg started at the truth with no motion step; the exact image at its final motion under the mask
  settled at the pre-registration (the solver's start), under the union of that and the final motion's, and under
  the mask settled at the true motion.
- --margin M: every solve and mask above with superres_model.OUTSIDE_MARGIN = M fine pixels (the edge margin;
  docs/superres.md "The edge margin on small frames (sredge)").

    python scripts/diag_superres_tiny.py --supersample 8 --lam 0.2 --set sk:clock@150:250,20,16,0.005,2004
    python scripts/diag_superres_tiny.py --compare-lam 0.4 --set sk:clock@150:250,20,16,0.005,2004
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import bicubic_psnr, frame_set, parse_set  # scripts/bench_lambda_sr.py
from bench_superres_frames import exact_psnr  # scripts/bench_superres_frames.py
from diag_superres_motion_bias import oracle_motion  # scripts/diag_superres_motion_bias.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration import superres_model
from regrun.registration.superres_start import start_params
from regrun.solvers.varpro_cg import VarProCG


# --compare-lam's jittered mask: the final motion shifted by this many fine pixels each way (of the motion
# error's size on the smooth sets, 0.2-0.7 px)
JITTER = 0.5


def save_set(root: Path, spec: dict, supersample: int, noise: float) -> Path:
    """The set as a frames .npz (truth and true motion in it), as bench_lambda_sr draws it."""
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], noise, spec["seed"],
                                   supersample=supersample, motion=spec["motion"])
    if stack.ndim == 4:
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    path = root / f"set_{spec['seed']}_{noise}.npz"
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w})
    return path


def floor(path: Path, ctx, model: str = "affine", iters: int = 20) -> float:
    """The motion error at the true image: argmin over the motion model's parameters p of ||A(w(p)) f - b||^2 with
    f the true image, Gauss-Newton per frame from the true motion (a restricted model: from its fit to it, the
    chain rule J_p = J_w dw/dp; affine: diag_superres_motion_bias.oracle_motion), the edge mask settled there."""
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                true_motion=str(path), lambda_f=0.1, motion_model=model), ctx)
    p.model.settle_outside(p.w_true)
    f = p.truth.reshape(-1).to(p.model.dtype)
    if model == "affine":
        return p.motion_error(oracle_motion(p.model, f, p.w_true))
    q, nc = p.model.q, p.model.coarse.m[0] * p.model.coarse.m[1]
    t = p.w_true.reshape(q, 6)  # the restricted start: translation = the shift at the centre, rigid = + the angle
    c = torch.tensor(p.motion.transform.center, dtype=t.dtype)
    shift = (t[:, :4].reshape(q, 2, 2) @ c + t[:, 4:]) - c
    angle = torch.atan2(t[:, 2] - t[:, 1], t[:, 0] + t[:, 3])
    par = shift if model == "translation" else torch.cat((angle[:, None], shift), 1)
    par = par.reshape(-1)
    for _ in range(iters):
        w = p.motion.to_affine(par)
        r = p.model.residual(w, f)[: p.model.n_data].reshape(q + 1, nc)[1:]
        jac = p.motion.blocks(par).transpose(1, 2) @ p.model.motion_blocks(w, f)  # (q, d, nc)
        step = -torch.linalg.solve(jac @ jac.transpose(1, 2), (jac @ r.unsqueeze(-1)).squeeze(-1))
        old, tt = r.pow(2).sum(-1), torch.ones(q, dtype=par.dtype)
        for _ in range(10):
            trial = par.reshape(q, -1) + tt[:, None] * step
            rr = p.model.residual(p.motion.to_affine(trial.reshape(-1)), f)[: p.model.n_data]
            better = rr.reshape(q + 1, nc)[1:].pow(2).sum(-1) <= old
            if bool(better.all()):
                break
            tt = torch.where(better, tt, tt / 2)
        par = trial.reshape(-1)
        if float(step.abs().max()) < 1e-12:
            break
    return p.motion_error(p.motion.to_affine(par))


def floor_or_nan(path: Path, ctx, model: str = "affine") -> float:
    """floor(), NaN where a frame's Gauss-Newton matrix is singular (a frame that sees no gradient: the motion is
    not identifiable there at all)."""
    try:
        return floor(path, ctx, model)
    except torch.linalg.LinAlgError:
        return float("nan")


def mismatch(path: Path, ctx) -> dict:
    """The forward model's misfit at the true image and the true motion (on a noise-free set: the model's mismatch
    alone), RMS over frames 1..'s kept pixels, and the true image's RMS gradient (per fine pixel): a mismatch of
    size e moves the best-fitting motion by about e / gradient."""
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                true_motion=str(path), lambda_f=0.1), ctx)
    p.model.settle_outside(p.w_true)
    q, nc = p.model.q, p.model.coarse.m[0] * p.model.coarse.m[1]
    r = p.model.residual(p.w_true, p.truth.reshape(-1).to(p.model.dtype))[: p.model.n_data].reshape(q + 1, nc)[1:]
    keep = r != 0  # dropped pixels weigh 0
    t = p.truth
    g = torch.cat(((t[1:, :] - t[:-1, :]).reshape(-1), (t[:, 1:] - t[:, :-1]).reshape(-1)))
    return {"mismatch_rms": float(r[keep].pow(2).mean().sqrt()), "grad_rms": float(g.pow(2).mean().sqrt())}


def true_motion_psnr(path: Path, ctx, lam: float) -> float:
    """PSNR of the exact regularised image at the true motion (its edge mask, the weight as varpro_cg sets it)."""
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                true_motion=str(path), lambda_f=lam), ctx)
    p.model.settle_outside(p.w_true)
    p.model.set_weight(lam)
    return exact_psnr(p, p.w_true)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--lam", nargs="+", type=float, default=[0.2])
    ap.add_argument("--models", nargs="+", default=["translation", "rigid", "affine"])
    ap.add_argument("--supersample", type=int, default=8)
    ap.add_argument("--truth-lam", nargs="*", type=float, default=[0.05, 0.2, 0.8],
                    help="varpro_cg (affine) from the true motion at these weights (the prior's pull on the motion)")
    ap.add_argument("--compare-lam", nargs="+", type=float, help="one weight a set: varpro_cg (affine) there, and "
                    "the exact image's PSNR at its final motion beside the one at the true motion (same weight), each "
                    "under the solver's final edge mask and under the mask settled at that motion")
    ap.add_argument("--floors-only", action="store_true", help="the floors and the true motion's image alone")
    ap.add_argument("--margin", type=float, help="superres_model.OUTSIDE_MARGIN for every solve (fine pixels; "
                    "default: the module's)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.margin is not None:
        if args.margin < 0:
            print(f"--margin {args.margin}: must be >= 0", file=sys.stderr)
            raise SystemExit(2)
        superres_model.OUTSIDE_MARGIN = args.margin
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(args.sets):
            path = save_set(Path(tmp), spec, args.supersample, spec["noise"])
            if args.compare_lam:
                lam = args.compare_lam[i]
                p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                            true_motion=str(path), lambda_f=lam), ctx)
                res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
                m, _ = p.evaluate(res)
                w = p.model.affine_part(res.solution["w"])
                # under the solver's final edge mask (its edge rounds accumulate dropped pixels): its own image
                # again, and the true motion's with the same pixels
                own = {"exact_own_mask_at_estimate": exact_psnr(p, w),
                       "exact_own_mask_at_truth": exact_psnr(p, p.w_true),
                       "dropped_own": int((p.model.data_mask() == 0).sum())}
                p.model.settle_outside(w)
                p.model.set_weight(lam)
                row = {"set": spec, "lam": lam, "margin": superres_model.OUTSIDE_MARGIN, "varpro_psnr": m["psnr"], "motion_error": m["motion_error"],
                       "exact_at_estimate": exact_psnr(p, w), "exact_at_truth": true_motion_psnr(path, ctx, lam),
                       "dropped_settled": int((p.model.data_mask() == 0).sum()), **own}
                # the solver's mask accumulates the one settled at the pre-registration (its start) with those at
                # its final motions: the start's mask alone, and the union of the two, at the estimated motion
                w0 = p.motion.to_affine(start_params(p, "preregister"))
                p.model.settle_outside(w0)
                p.model.set_weight(lam)
                row.update(exact_start_mask_at_estimate=exact_psnr(p, w),
                           dropped_start=int((p.model.data_mask() == 0).sum()))
                p.model.settle_outside(w, accumulate=True)
                p.model.set_weight(lam)
                row.update(exact_union_mask_at_estimate=exact_psnr(p, w),
                           dropped_union=int((p.model.data_mask() == 0).sum()))
                # the mask settled at the TRUE motion, the image at the estimated one: does the start's mask help by
                # dropping pixels that truly see past the edge, which the final motion's mask keeps?
                p.model.settle_outside(p.w_true)
                p.model.set_weight(lam)
                row.update(exact_true_mask_at_estimate=exact_psnr(p, w),
                           dropped_true=int((p.model.data_mask() == 0).sum()))
                # a mask robust to the motion's error: the union of the start's, the final motion's and the final
                # motion shifted by +-JITTER fine px along each axis (affine parameters 2 and 5 are the shifts)
                p.model.settle_outside(w0)
                p.model.settle_outside(w, accumulate=True)
                h = p.model.fine.h
                for axis, step in ((2, h[0]), (5, h[1])):
                    for sign in (-1, 1):
                        ws = w.clone().reshape(p.model.q, 6)
                        ws[:, axis] += sign * JITTER * step
                        p.model.settle_outside(ws.reshape(-1), accumulate=True)
                p.model.set_weight(lam)
                row.update(exact_jitter_mask_at_estimate=exact_psnr(p, w),
                           dropped_jitter=int((p.model.data_mask() == 0).sum()))
                # varpro_cg's own image at the true motion: started there, no motion step (max_iter 0)
                p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                            true_motion=str(path), lambda_f=lam), ctx)
                res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50, init="truth", max_iter=0),
                               ctx).solve(p, Monitor())
                m, _ = p.evaluate(res)
                row.update(varpro_at_truth=m["psnr"], varpro_at_truth_error=m["motion_error"])
                print(json.dumps(row), flush=True)
                rows.append(row)
                continue
            row = {"set": f"{spec['kind']} {spec['size']}/{spec['frames']}/{spec['noise']} s{spec['seed']} "
                          f"({spec['motion']})",
                   "floor": floor_or_nan(path, ctx),
                   "floor0": floor_or_nan(clean := save_set(Path(tmp), spec, args.supersample, 0.0), ctx),
                   **mismatch(clean, ctx)}
            for model in args.models:
                if model != "affine":
                    row[f"floor_{model}"] = floor_or_nan(path, ctx, model)
            for lam in args.lam:  # the image at the true motion (no motion error): what the motion costs
                row[f"true_motion_psnr@{lam}"] = true_motion_psnr(path, ctx, lam)
            if args.floors_only:
                print(json.dumps(row), flush=True)
                rows.append(row)
                continue

            def problem(lam, model, init="preregister"):
                p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path),
                                            truth=str(path), true_motion=str(path), lambda_f=lam,
                                            motion_model=model), ctx)
                return p, VarProCG(config_section("solver", "varpro_cg", cg_iters=50, init=init), ctx)

            for model in args.models:
                p, _ = problem(1.0, model)
                t0 = time.process_time()
                w0 = start_params(p, "preregister")
                row[f"pre_{model}"] = p.motion_error(p.motion.to_affine(w0))
                row[f"pre_{model}_cpu"] = time.process_time() - t0
                for lam in args.lam:
                    p, solver = problem(lam, model)
                    p.model.preregister = lambda **_: w0.clone()
                    t0 = time.process_time()
                    res = solver.solve(p, Monitor())
                    cpu = time.process_time() - t0
                    m, _ = p.evaluate(res)
                    row[f"{model}@{lam}"] = {"err": m["motion_error"], "psnr": m["psnr"], "cpu": cpu}
            row["bicubic"] = bicubic_psnr(p)
            for lam in args.truth_lam:
                p, solver = problem(lam, "affine", init="truth")
                res = solver.solve(p, Monitor())
                m, _ = p.evaluate(res)
                row[f"truth_start@{lam}"] = {"err": m["motion_error"], "psnr": m["psnr"]}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
