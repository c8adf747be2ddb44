#!/usr/bin/env python
"""Why `problem.lambda_f=auto`'s rule misses at a right motion (issue 16, eleventh round): per frame set (the sets
of scripts/bench_lambda_sr.py, `--set IMAGE,SIZE,FRAMES,NOISE,SEED[,MOTION[,LO-HI]]`), `auto` run once as the user
runs it (varpro_cg, the default rule), then at its final motion w1 over a log grid of weights everything a rule
can look at and what the image is:

- the rule's inputs: misfit ||r||^2, Hutchinson's trace (the search's own probes and tolerance), m;
- the image's PSNR (luminance against the luminance truth), and its error split by linearity: the image from the
  noiseless frames f0(lam) (bias: smoothing plus fitted model error) and from the noise alone f - f0 (variance);
- the noiseless frames' own misfit ||A f0 - d0||^2, and the model error itself: ||A f_true - d0||^2 at w1 and at
  the true motion (the frames are cell averages of a continuous scene, the model's prediction is a spline of
  the fine truth); the true noise sigma (the frames' minus the noiseless frames') and Immerkaer's estimate.

Rules are then replayed on the stored curves by scripts/score_lambda_sr_curves.py (no new solves).

    python scripts/curves_lambda_sr.py --set gradient,96,16,0.003,209,translation --out outputs/bench/srgcv/c1
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set, parse_set  # scripts/bench_lambda_sr.py: the same frame sets

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout, luminance
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import noise_std_images, rademacher
from regrun.problems.superres import SuperRes
from regrun.registration.superres_weight import ImageSolve, evaluate_at
from regrun.solvers.varpro_cg import VarProCG


def write(path, stack, truth, w, gains, gain):
    if stack.ndim == 4:
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w, **({"gain": gains} if gain is not None else {})})


def run_set(ctx, root: Path, spec: dict, args) -> dict:
    kind, size, frames, noise, seed = (spec[k] for k in ("kind", "size", "frames", "noise", "seed"))
    motion, gain = spec["motion"], spec["gain"]
    ss = args.supersample or (10 if size < 96 else 4)
    truth, stack, w_true, gains = frame_set(kind, size, frames, noise, seed, supersample=ss, motion=motion, gain=gain)
    _, clean, _, _ = frame_set(kind, size, frames, 0.0, seed, supersample=ss, motion=motion, gain=gain)
    path = root / "frames.npz"
    write(path, stack, truth, w_true, gains, gain)
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto", outside="drop", gain=gain is not None)
    p = SuperRes(cfg, ctx)
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
    cpu = time.process_time() - t0
    metrics, _ = p.evaluate(res)
    w1 = res.solution["w"]
    model = p.model
    # the noiseless luminance frames (the same combination the problem applies to the noisy ones)
    lum0 = torch.as_tensor(luminance(clean) if clean.ndim == 4 else clean, dtype=torch.float64)
    mask = model.data_mask()
    d = (model.frames * mask).reshape(-1)
    d0 = (lum0 * mask).reshape(-1)
    m = int(mask.sum())
    sigma_true = float((d - d0).pow(2).sum() / m) ** 0.5
    truth_f = p.truth.reshape(-1)
    settings = p.weight_settings
    solve = ImageSolve(model, w1, p.final_iters, p.lam_rtol)
    count = settings.probes if solve.cholesky else p.lam_probes_cg
    probes = rademacher(count, d.shape, ctx.generator(int(p.cfg.lam_seed)), d.dtype, d.device)

    def model_error(w):
        s = ImageSolve(model, w, p.final_iters, p.lam_rtol)
        pred = s.op.matvec(truth_f)[: model.n_data] / model.sqrt_hd
        return float((pred - d0).pow(2).sum())

    def true_motion_error():  # frames with gains: the true motion has no gain parameters (not measured)
        return model_error(p.w_true) if p.w_true.numel() == model.q * 6 and p.gain_true is None else math.nan

    lo, hi = args.range
    lams = sorted(set(np.exp(np.linspace(np.log(lo), np.log(hi), args.points)).tolist()) | {res.metrics["lam_chosen"]})
    rows, f_prev = [], None
    # --change: ||lam df/dlam|| itself (the climb's quantity, one more solve a weight), every PCG solve to its bar
    # relative to its warm start's residual as the climb solves (ImageSolve.accurate)
    solve.accurate = args.change
    for lam in lams:
        fit = evaluate_at(model, solve, probes, float(lam))
        predict = solve.prediction(float(lam))
        pred0, f0 = predict(d0)
        f = fit.state
        _, fz = predict(probes[0])  # the image of one probe: the noise's propagation into the image, per sigma^2
        rows.append({"lam": float(lam), "rss": fit.rss, "trace": fit.trace, "m": fit.m,
                     "psnr": psnr(f.reshape(p.fine.m).numpy(), p.truth.numpy()),
                     "psnr_clean": psnr(f0.reshape(p.fine.m).numpy(), p.truth.numpy()),
                     "bias2": float((f0 - truth_f).pow(2).sum()), "var2": float((f - f0).pow(2).sum()),
                     "rss_clean": float((pred0 - d0).pow(2).sum()),
                     "reg": float((f * solve.regulariser_normal(f)).sum()),
                     # quasi-optimality: the image's change from the previous (smaller) weight of the log grid
                     "step2": math.nan if f_prev is None else float((f - f_prev).pow(2).sum()),
                     "noise_gain2": float(fz.pow(2).sum()),
                     "change": solve.change(float(lam), f) if args.change else math.nan,
                     "change_clean": solve.change(float(lam), f0) if args.change else math.nan})
        f_prev = f
        print(f"  lam {lam:.4g} rss {fit.rss:.5g} trH {fit.trace:.1f} PSNR {rows[-1]['psnr']:.2f} "
              f"(clean {rows[-1]['psnr_clean']:.2f}) rss0 {rows[-1]['rss_clean']:.4g}", flush=True)
    return {"image": kind, "size": size, "frames": frames, "noise": noise, "seed": seed, "motion": motion,
            "gain": list(gain) if gain else None, "channels": 1 if stack.ndim == 3 else 3, "supersample": ss,
            "m": m, "n": model.n, "sigma_true": sigma_true, "sigma_hat": noise_std_images(model.frames),
            "model_error_w1": model_error(w1), "model_error_true": true_motion_error(),
            "auto_lam": res.metrics["lam_chosen"], "auto_lam_first": res.metrics.get("lam_first", math.nan),
            "auto_lam_rechosen": res.metrics.get("lam_rechosen", math.nan),
            "auto_fall": res.metrics.get("lam_criterion_fall", math.nan),
            "auto_runs": res.metrics.get("solver_runs", 1.0), "auto_psnr": metrics["psnr"],
            "motion_error": metrics.get("motion_error", math.nan), "auto_cpu_s": cpu,
            "curve_w1": rows, "cpu_s": time.process_time() - t0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--points", type=int, default=15)
    ap.add_argument("--range", type=float, nargs=2, default=[0.01, 3.0])
    ap.add_argument("--supersample", type=int)
    ap.add_argument("--change", action="store_true", help="record ||lam df/dlam|| (and the noiseless frames' "
                    "image's) at every weight, the solves to the climb's bar (two more solves a weight)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = args.out.with_name(args.out.name + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            r = run_set(ctx, Path(tmp), spec, args)
            rows.append(r)
            best = max(r["curve_w1"], key=lambda c: c["psnr"])
            print(f"{spec}: auto {r['auto_lam']:.3g} -> {r['auto_psnr']:.2f}; curve peak {best['lam']:.3g} "
                  f"({best['psnr']:.2f}); sigma {r['sigma_true']:.3g} est {r['sigma_hat']:.3g}; model error "
                  f"{r['model_error_w1'] / r['m']:.3g}/px (true motion {r['model_error_true'] / r['m']:.3g}); "
                  f"{r['cpu_s']:.0f} CPU-s", flush=True)
            out.write_text(json.dumps({"rows": rows}, indent=1))


if __name__ == "__main__":
    main()
