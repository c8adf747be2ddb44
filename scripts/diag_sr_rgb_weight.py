#!/usr/bin/env python
"""Is `lambda_f=auto`'s weight low on colour frames because it is searched on their luminance (srrgbweight)? Per
colour set (bench_lambda_sr.py's rgb: sets, supersample 8): `auto` as the user runs it (varpro_cg, the problem's
defaults: problem.channels=auto searches the weight on the frames' Rec. 601 luminance and solves every channel at
it); the noise drawn (noisy minus noiseless frames, the same draw without noise) per channel and on the luminance.
Then at the run's final motion, on a log grid of weights: the PSNR over all channels (the user's, SuperRes.evaluate's
solve_channels), the luminance image's PSNR against the truth's luminance, each channel's PSNR, and GCV (the search's
criterion and probes) on the luminance frames and on each channel's frames. If the weight is the luminance's right
weight and the channels, carrying 1/sqrt(sum a_c^2) = 1.5x its noise (independent noise per channel), want about
(1.5)^2 = 2.2x it, the luminance PSNR peaks near `auto`'s weight and the channels' PSNR near 2x; a per-channel GCV
would show whether the frames themselves say so.

    PYTHONPATH=. python scripts/diag_sr_rgb_weight.py --out outputs/srrgbweight/astro \\
        --set rgb:sk:astronaut@380:100,32,8,0.01,7951,translation
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set  # scripts/bench_lambda_sr.py: the same frame sets
from diag_sr_black_ground import problem, set_grid_arguments  # scripts/diag_sr_black_ground.py (srlow16)

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout, luminance_weights
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion
from regrun.registration.superres_weight import evaluate_at, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG


def write_set(spec, noise, path: Path) -> None:
    """The set's frames as bench_lambda_sr.run_set writes a colour set (channels last)."""
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], noise, spec["seed"], supersample=8,
                                   motion=spec.get("motion", "affine"))
    np.savez(path, **{FRAMES_KEY: np.moveaxis(from_fair_layout(stack), 1, -1),
                      TRUTH_KEY: np.moveaxis(from_fair_layout(truth), 0, -1), "w": w})


def noisy_and_clean(args):
    """The set's frames written with and without their noise (the same draw) and read as the user's command reads
    them, one thread on the CPU: (the noiseless problem, the noisy one, the run context, the two files' paths)."""
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    paths = {name: args.out.with_name(f"{args.out.name}_{name}.npz") for name in ("noisy", "clean")}
    write_set(args.set, args.set["noise"], paths["noisy"])
    write_set(args.set, 0.0, paths["clean"])
    return problem(paths["clean"], ctx), problem(paths["noisy"], ctx), ctx, paths


def main(argv=None):
    args = set_grid_arguments(__doc__, [0.025, 0.4, 13], argv)
    clean, p, ctx, _ = noisy_and_clean(args)
    if p.colour is None:
        print(f"diag_sr_rgb_weight: {args.set['kind']} is not a colour set (give an rgb: or colour kind)",
              file=sys.stderr)
        raise SystemExit(2)
    a = torch.tensor(luminance_weights(p.colour.shape[1]), dtype=p.colour.dtype)
    noise_c = (p.colour - clean.colour).movedim(1, 0).reshape(p.colour.shape[1], -1).std(1)
    out = {"set": {k: str(v) for k, v in args.set.items()},
           "sigma_channels": noise_c.tolist(),
           "sigma_luminance": float(((p.model.frames + p.level) - (clean.model.frames + clean.level)).std()),
           "sigma_luminance_if_independent": float((a**2 @ noise_c**2).sqrt())}
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    out["run"] = {k: float(res.metrics[k]) for k in ("lam_chosen", "lam_first", "psnr", "motion_error",
                                                     "motion_model_chosen") if k in res.metrics}
    out["run"]["cpu_s"] = time.process_time() - t0
    print(json.dumps(out), flush=True)
    w = res.solution["w"].detach()
    s = p.weight_settings
    evaluator, sigma, _ = weight_evaluator(p, w, s, torch.Generator().manual_seed(0))  # the search's own set-up
    solve, probes = evaluator.solve, evaluator.probes
    mask = p.model.data_mask()
    lum_frames = p.model.frames
    chan_frames = p.colour.movedim(1, 0) - p.level  # (channels, frames, m1, m2), as solve_channels
    truth_c = p.truth_colour.numpy()
    truth_l = p.truth.numpy()
    lo, hi, n = args.grid
    rows = []
    for lam in np.exp(np.linspace(math.log(lo), math.log(hi), int(n))):
        lam = float(lam)
        _, f_c = solve.prediction(lam)((chan_frames * mask).reshape(chan_frames.shape[0], -1))
        est_c = f_c.reshape(-1, *p.fine.m).numpy() + p.level
        f_l = (a[:, None] * f_c).sum(0).reshape(p.fine.m).numpy() + p.level  # the luminance image: linear in frames
        gcv = []
        for frames in (lum_frames, *chan_frames):
            p.model.frames = frames
            fit = evaluate_at(p.model, solve, probes, lam)
            gcv.append(criterion(s.rule, fit, sigma, s.tau, s.gamma))
        p.model.frames = lum_frames
        rows.append({"lam": lam, "psnr_rgb": psnr(est_c, truth_c), "psnr_lum": psnr(f_l, truth_l),
                     "psnr_ch": [psnr(e, t) for e, t in zip(est_c, truth_c)], "gcv_lum": gcv[0], "gcv_ch": gcv[1:]})
        r = rows[-1]
        print(f"  lam {lam:.4g} PSNR rgb {r['psnr_rgb']:.2f} lum {r['psnr_lum']:.2f} ch "
              + " ".join(f"{v:.2f}" for v in r["psnr_ch"]) + f" | gcv lum {gcv[0]:.5g} ch "
              + " ".join(f"{v:.5g}" for v in gcv[1:]), flush=True)
    best = {"psnr_rgb": max(rows, key=lambda r: r["psnr_rgb"])["lam"],
            "psnr_lum": max(rows, key=lambda r: r["psnr_lum"])["lam"],
            "gcv_lum": min(rows, key=lambda r: r["gcv_lum"])["lam"]}
    for c in range(chan_frames.shape[0]):
        best[f"psnr_ch{c}"] = max(rows, key=lambda r: r["psnr_ch"][c])["lam"]
        best[f"gcv_ch{c}"] = min(rows, key=lambda r: r["gcv_ch"][c])["lam"]
    out["best"], out["rows"] = best, rows
    print("best on the grid:", json.dumps({k: round(v, 4) for k, v in best.items()}), flush=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
