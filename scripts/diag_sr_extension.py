#!/usr/bin/env python
"""srextend's measurement of the model alone: for bench_lambda_sr.py frame sets (its --set syntax), the image solved
at the TRUE motion (no pre-registration, no joint solve, no weight search) with the moved frames' pixels past the
edge dropped at that motion (outside=drop), for three models: the zero extension, the zero extension with the
frames' level (problem.frames_level, main's default for your frames) and the edge extension (problem.extension=edge,
the level off). PSNR against the truth at each weight of --lams and the best of them, and the misfit of the kept
pixels at the middle weight over their number (the model's error: noise alone gives about sigma^2). Grey sets only
(a colour set's channels are solved at the luminance's motion: not this script's question). It separates what the
extension does to the model from what the motion and the weight do to a run (docs/superres.md, "srextend").

    PYTHONPATH=. python scripts/diag_sr_extension.py --set sk:clock@40:60,20,16,0.005,7321,translation ...
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_file, frame_set, parse_set  # scripts/bench_lambda_sr.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.problems.superres import SuperRes

MODELS = (("zero", {"frames_level": False, "extension": "zero"}), ("level", {"frames_level": True, "extension": "zero"}),
          ("edge", {"frames_level": False, "extension": "edge"}))


def measure(path: Path, ctx, lams, over: dict) -> dict:
    out = {}
    for lam in lams:
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), lambda_f=lam, outside="drop", **over)
        p = SuperRes(cfg, ctx)
        m = p.model
        m.settle_outside(p.w_true)
        x = m.solve(p.w_true, 3000, 1e-10, x0=m.initial_image()).x
        img = (x.reshape(p.fine.m) + p.level).numpy()
        r = m.residual(p.w_true, x)[: m.n_data] / m.sqrt_hd
        kept = float(m.data_mask().sum())
        out[lam] = (psnr(img, p.truth.numpy()), float(r @ r) / kept)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--lams", type=float, nargs="+", default=[0.088, 0.176, 0.35])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    mid = args.lams[len(args.lams) // 2]
    print("| set | " + " | ".join(f"{n}: best PSNR (λ), misfit/px" for n, _ in MODELS) + " | edge − level | edge − zero |")
    print("|---" * (3 + len(MODELS)) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            kind, size, noise, seed, frames = (spec[k] for k in ("kind", "size", "noise", "seed", "frames"))
            motion = spec.get("motion", "affine")
            truth, stack, w, _ = frame_set(kind, size, frames, noise, seed, supersample=8, motion=motion)
            if stack.ndim == 4:
                print(f"| {kind} {size}² | colour: skipped |")
                continue
            path = frame_file(Path(tmp), kind, size, noise, seed, frames, motion, False)
            np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
            best = {}
            cells = []
            for name, over in MODELS:
                res = measure(path, ctx, args.lams, over)
                lam = max(res, key=lambda k: res[k][0])
                best[name] = res[lam][0]
                cells.append(f"{res[lam][0]:.2f} ({lam:g}), {res[mid][1]:.3g}")
            tag = "" if motion == "affine" else f" ({motion})"
            print(f"| {kind}{tag} {size}²/{frames} {noise * 100:g}% s{seed} | " + " | ".join(cells)
                  + f" | {best['edge'] - best['level']:+.2f} | {best['edge'] - best['zero']:+.2f} |", flush=True)


if __name__ == "__main__":
    main()
