#!/usr/bin/env python
"""The data to compare rules for `problem.lambda_f=auto`'s search again at the final motion (issue 16): per frame
set (the frame sets of scripts/bench_lambda_sr.py), everything a rule could look at and what its answer would be.

Per set: the pre-registered motion w0 and the first search there (the default rule, as `auto` runs it);
varpro_cg at that weight from w0 to its final motion w1, and the search again at w1 (not acted on); at w0 and at
w1 over a log grid of weights: misfit, trace, GCV, the discrepancy ratio ||r||^2 / (m sigma^2) for the estimated
and the true noise, and the PSNR of the exact image; and from w1, varpro_cg run again at every grid weight >=
--rerun-from (what `auto` does when it moves the weight: its answer's PSNR). Also bicubic and the two-stage peer
at its best weight (SimpleITK motion, the same least squares), and regrun's best over --grid from w0 (the
bench's "regrun best"). Stored as JSON; rules are then scored on it by scripts/score_lambda_sr_rules.py.

    python scripts/bench_lambda_sr_rules.py --sets texture:48:8:0.005:12 sk:rocket:48:8:0.005:11 \\
        --out outputs/bench/lambda_sr_rules/r48
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import bicubic_psnr, frame_set  # scripts/bench_lambda_sr.py: the same frame sets
from bench_superres_frames import exact_psnr, sitk_motion

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion, rademacher
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at
from regrun.solvers.varpro_cg import VarProCG


def parse_set(text: str) -> tuple:
    """IMAGE:SIZE:FRAMES:NOISE:SEED (IMAGE may itself hold a colon: sk:coffee:48:8:0.01:11)."""
    *name, size, frames, noise, seed = text.split(":")
    return ":".join(name), int(size), int(frames), float(noise), int(seed)


def curve(p, w, probes, lams) -> list[dict]:
    solve = ImageSolve(p.model, w, p.final_iters, p.lam_rtol)
    rows = []
    for lam in lams:
        fit = evaluate_at(p.model, solve, probes, float(lam))
        f = fit.state.reshape(p.fine.m)
        lf = solve.regulariser_normal(fit.state)
        rows.append({"lam": float(lam), "rss": fit.rss, "trace": fit.trace, "m": fit.m,
                     "gcv": criterion("gcv", fit, 1.0), "reg": float((fit.state * lf).sum()),
                     "psnr": psnr(f.numpy(), p.truth.numpy())})
    return rows


def run_set(ctx, root: Path, spec: tuple, args) -> dict:
    kind, size, frames, noise, seed = spec
    truth, stack, w_true, _ = frame_set(kind, size, frames, noise, seed)
    path = root / "frames.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w_true})

    def problem(lam, **extra):
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), lambda_f=lam, outside="drop", **extra)
        return SuperRes(cfg, ctx)

    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
    t0 = time.process_time()
    # `auto` as it runs, but the search at the final motion never acted on (a fall above 1 cannot happen)
    pa = problem("auto", lam_rechoose=1, lam_rechoose_gain=1.0)
    res = solver.solve(pa, Monitor())
    cpu_auto = time.process_time() - t0
    first, again = pa.weight_searches[0], pa.weight_searches[1]
    w1 = res.solution["w"]
    p0 = problem(1.0)
    w0 = p0.model.preregister(drop_outside=True)
    p0.model.settle_outside(w0)
    d = pa.model.frames.reshape(-1)
    probes = rademacher(pa.weight_settings.probes, d.shape, ctx.generator(int(pa.cfg.lam_seed)), d.dtype, d.device)
    lo, hi = (float(x) for x in pa.cfg.lam_range)
    lams = np.exp(np.linspace(np.log(lo), np.log(hi), args.points))
    row = {"image": kind, "size": size, "frames": frames, "noise": noise, "seed": seed,
           "sigma_true": float(noise * np.std(stack)), "sigma_hat": first.sigma, "psnr_bicubic": bicubic_psnr(p0),
           "lam_first": first.lam, "lam_again": again.lam, "fall": pa.weight_falls[-1], "cpu_auto_s": cpu_auto,
           "psnr_first_run": exact_psnr(pa, w1),
           "search_first": {k: np.asarray(v).tolist() for k, v in first.table().items()},
           "search_again": {k: np.asarray(v).tolist() for k, v in again.table().items()},
           "curve_w0": curve(p0, w0, probes, lams), "curve_w1": curve(p0, w1, probes, lams)}

    def run_from(w_start, lam):
        p = problem(lam)
        p.model.preregister = lambda **_: w_start.clone()
        p.model.settle_outside(w0)
        p.model.settle_outside = lambda w: None  # the mask stays the one settled at w0, as in `auto`'s rerun
        r = solver.solve(p, Monitor())
        return exact_psnr(p, r.solution["w"])

    row["rerun_w1"] = [{"lam": float(lam), "psnr": run_from(w1, float(lam))} for lam in lams if lam >= args.rerun_from]
    row["grid"] = [{"lam": lam, "psnr": run_from(w0, lam)} for lam in args.grid]
    best = max(row["grid"], key=lambda g: g["psnr"])
    row["regrun_best_lam"], row["psnr_regrun_best"] = best["lam"], best["psnr"]
    w_peer = sitk_motion(p0)
    peer = []
    for lam in args.grid:
        p = problem(lam)
        p.model.settle_outside(w_peer)
        peer.append({"lam": lam, "psnr": exact_psnr(p, w_peer)})
    pb = max(peer, key=lambda g: g["psnr"])
    row["peer_best_lam"], row["psnr_peer_best"] = pb["lam"], pb["psnr"]
    row["cpu_s"] = time.process_time() - t0
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", required=True, help="IMAGE:SIZE:FRAMES:NOISE:SEED")
    ap.add_argument("--points", type=int, default=16, help="weights of the log grid over problem.lam_range")
    ap.add_argument("--rerun-from", type=float, default=0.01, help="smallest grid weight varpro_cg reruns from w1")
    ap.add_argument("--grid", type=float, nargs="+", default=[0.03, 0.1, 0.2, 0.3, 0.5, 1.0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    except ImportError:
        pass
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = args.out.with_name(args.out.name + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    done = {(r["image"], r["size"], r["frames"], r["noise"], r["seed"]) for r in rows}
    with tempfile.TemporaryDirectory() as tmp:
        for text in args.sets:
            spec = parse_set(text)
            if spec in done:
                continue
            r = run_set(ctx, Path(tmp), spec, args)
            rows.append(r)
            print(f"{text}: bicubic {r['psnr_bicubic']:.2f}, best {r['regrun_best_lam']:g} -> "
                  f"{r['psnr_regrun_best']:.2f}, peer {r['psnr_peer_best']:.2f}; first {r['lam_first']:.3g} -> "
                  f"{r['psnr_first_run']:.2f}, again {r['lam_again']:.3g} (fall {r['fall']:.1%}); sigma true "
                  f"{r['sigma_true']:.3g} est {r['sigma_hat']:.3g}; {r['cpu_s']:.0f} CPU-s", flush=True)
            out.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
