#!/usr/bin/env python
"""Why does `auto`'s weight, read on the luminance, over-pick on saturated colour frames (srwheel)? Per colour set
(bench_lambda_sr.py's rgb: and generated colour sets, supersample 8): `auto` as the user runs it (the problem's
defaults; its chain of weights: the rule's first search, the search again at the final motion, the frame-split
walk), then at its final motion on a log grid of weights, every channel at that one weight: the PSNR of all
channels and of the luminance image; GCV (the search's probes and gamma) on the luminance frames and on the three
channels' frames together (their misfits summed, one trace: the operator is the same); and the frame-split walk
(the code's, problem.lam_split_*) from the weight it started at, its risk read on the luminance and on the channels
together (each channel's risk summed). If the luminance's weight over-picks because the luminance carries little
of a saturated picture's detail, a rule read on the channels together lands nearer the best one weight there and
not on the photos.

    PYTHONPATH=. python scripts/diag_sr_wheel_weight.py --out OUT/wheel \\
        --set rgb:sk:colorwheel@60:90,40,16,0.01,9576,translation
"""
from __future__ import annotations

import json
import math
import sys
import time

import numpy as np
import torch
from diag_sr_black_ground import set_grid_arguments  # scripts/diag_sr_black_ground.py (srlow16)
from diag_sr_rgb_weight import noisy_and_clean  # scripts/diag_sr_rgb_weight.py (srrgbweight)

from regrun.config import config_section
from regrun.imaging.io import luminance_weights
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import Fit, criterion
from regrun.registration.superres_cv import split_down, split_images, split_walk
from regrun.registration.superres_weight import evaluate_at, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG

CHAIN = ("chroma_share", "psnr", "motion_error")


def joint_images(per_channel):
    """lam -> (f, D) of every channel stacked: the split risk's sums run over all of them."""
    def images(lam):
        parts = [im(lam) for im in per_channel]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    return images


def main(argv=None):
    args = set_grid_arguments(__doc__, [0.05, 1.6, 11], argv)
    _, p, ctx, _ = noisy_and_clean(args)
    if p.colour is None:
        print(f"diag_sr_wheel_weight: {args.set['kind']} is not a colour set", file=sys.stderr)
        raise SystemExit(2)
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    out = {"set": {k: str(v) for k, v in args.set.items()},
           "run": {k: float(v) for k, v in res.metrics.items()
                   if (k in CHAIN or k.startswith("lam_")) and isinstance(v, (int, float))}}
    out["run"]["psnr"] = float(p.evaluate(res)[0]["psnr"])
    out["run"]["cpu_s"] = time.process_time() - t0
    print(json.dumps(out), flush=True)
    w = res.solution["w"].detach()
    s = p.weight_settings
    evaluator, sigma, _ = weight_evaluator(p, w, s, torch.Generator().manual_seed(0))
    solve, probes = evaluator.solve, evaluator.probes
    lum_frames = p.model.frames
    chan_frames = p.colour.movedim(1, 0) - p.level
    a = torch.tensor(luminance_weights(p.colour.shape[1]), dtype=p.colour.dtype)
    truth_c, truth_l = p.truth_colour.numpy(), p.truth.numpy()
    mask = p.model.data_mask()

    def with_frames(frames, fn):
        p.model.frames, p.model.b = frames, p.model.rhs(frames)
        try:
            return fn()
        finally:
            p.model.frames, p.model.b = lum_frames, p.model.rhs(lum_frames)

    rows = []
    for lam in np.exp(np.linspace(math.log(args.grid[0]), math.log(args.grid[1]), int(args.grid[2]))):
        lam = float(lam)
        _, f_c = solve.prediction(lam)((chan_frames * mask).reshape(chan_frames.shape[0], -1))
        est_c = f_c.reshape(-1, *p.fine.m).numpy() + p.level
        f_l = (a[:, None] * f_c).sum(0).reshape(p.fine.m).numpy() + p.level
        fits = [with_frames(fr, lambda: evaluate_at(p.model, solve, probes, lam)) for fr in (lum_frames, *chan_frames)]
        joint = Fit(rss=sum(f.rss for f in fits[1:]) / len(fits[1:]), m=fits[0].m, trace=fits[0].trace)
        rows.append({"lam": lam, "psnr_rgb": psnr(est_c, truth_c), "psnr_lum": psnr(f_l, truth_l),
                     "gcv_lum": criterion("gcv", fits[0], sigma, s.tau, s.gamma),
                     "gcv_rgb": criterion("gcv", joint, sigma, s.tau, s.gamma)})
        r = rows[-1]
        print(f"  lam {lam:.4g} PSNR rgb {r['psnr_rgb']:.2f} lum {r['psnr_lum']:.2f} | gcv lum {r['gcv_lum']:.5g} "
              f"rgb {r['gcv_rgb']:.5g}", flush=True)
    best = {k: max(rows, key=lambda r: r[k])["lam"] for k in ("psnr_rgb", "psnr_lum")}
    best.update({k: min(rows, key=lambda r: r[k])["lam"] for k in ("gcv_lum", "gcv_rgb")})
    # the split walk from where the user's run started it, on the luminance (the code's) and on the channels
    start = out["run"].get("lam_split_from")
    if start is not None:
        cv = p.weight_cv
        down, gap = split_down(p.model, cv.split_down, cv.split_down_gap)
        lum_images, _ = split_images(p.model, w)
        walk = {"lum": split_walk(lum_images, start, cv.split_steps, down, gap, step=cv.split_step)[0]}
        per_channel = []
        for fr in chan_frames:
            im, cache = with_frames(fr, lambda: split_images(p.model, w))
            # each channel's images solved now, with its frames in the model (split_images reads them lazily)
            per_channel.append(lambda lam, im=im, fr=fr: with_frames(fr, lambda: im(lam)))
        walk["rgb"] = split_walk(joint_images(per_channel), start, cv.split_steps, down, gap, step=cv.split_step)[0]
        out["walk"] = walk
    out["best"], out["rows"] = best, rows
    print("best on the grid:", json.dumps({k: round(v, 4) for k, v in best.items()}), "walk:",
          json.dumps(out.get("walk")), flush=True)
    args.out.with_name(args.out.name + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
