#!/usr/bin/env python
"""Frame-split reconstructions over lambda_f beside the PSNR, at the motion `auto` ends at (issue 16, srburst).

Per frame set (bench_lambda_sr's sets, --set; grey only): varpro_cg with lambda_f=auto as the user runs it (the
bench's pre-registration, no CV walk), then at its final motion w and over weights lambda = auto's x 2^(j/2), j in
--steps: the image f(lambda) from every frame, and the images f_A, f_B from two disjoint halves (A: frames 0, 2,
4, ...; B: frames 1, 3, 5, ...: each keeps its own rows of the data term, the other half's rows weighted 0, at
the same motion and weight), each by PCG to a tight bar from the previous weight's image. The halves' noise is
independent, so (f_A - f_B) / 2 has about the variance of the full image's noise: a truthless measure of the
variance part of the image's error, and of the part of the model error that differs between the halves. The
images and the truth go to --out (.npz per set) and a summary (.json), scored by score_lambda_sr_split.py; the
noise level two ways beside them (the bench's true sigma, the rule's Immerkaer estimate from the frames).

    python scripts/curves_lambda_sr_split.py --set phantom,64,16,0.01,12001 --out OUT/split/seen
"""
from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import describe, parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import auto_at_fixed_start, write  # scripts/curves_lambda_sr_cv.py

from regrun.context import RunContext
from regrun.optim.parameter_choice import noise_std_images
from regrun.metrics import psnr

SPLIT_ITERS, SPLIT_RTOL = 3000, 1e-9  # tight: the halves' difference must be noise, not the solves' error


def half_model(model, keep_frames: list[int]):
    """A shallow copy of the model whose data term keeps only `keep_frames` (the others' rows weighted 0), its
    cached operators and preconditioner dropped (they hold the full mask)."""
    half = copy.copy(model)
    sel = torch.zeros(model.q + 1, dtype=model.dtype, device=model.device)
    sel[keep_frames] = 1.0
    half.keep = model.data_mask() * sel[:, None, None]
    half.b = half.rhs(half.frames)
    half._fixed, half._precond, half._precond_factor = None, None, None
    half._last_fixed = (None, None)
    half._mask_version = model._mask_version + 1000
    return half


def curve(ctx, path: Path, spec, steps) -> tuple[dict, dict]:
    p, res, cpu_auto = auto_at_fixed_start(ctx, path, spec["gain"] is not None)
    model, w = p.model, res.solution["w"].detach()
    lam_auto = float(res.metrics["lam_chosen"])
    truth = p.truth.reshape(-1).cpu().numpy()
    halves = {"A": list(range(0, model.q + 1, 2)), "B": list(range(1, model.q + 1, 2))}
    models = {"full": model, **{k: half_model(model, v) for k, v in halves.items()}}
    prev = {k: None for k in models}
    imgs = {k: [] for k in models}
    rows = []
    for j in steps:
        lam = lam_auto * 2 ** (j / 2)
        row = {"lam": lam, "j": j}
        for k, m in models.items():
            m.set_weight(lam)
            c0 = time.process_time()
            x0 = prev[k] if prev[k] is not None else m.initial_image()
            f = m.solve(w, SPLIT_ITERS, SPLIT_RTOL, x0=x0).x.detach()
            prev[k] = f
            fn = f.cpu().numpy()
            imgs[k].append(fn)
            row[f"cpu_{k}"] = time.process_time() - c0
            row[f"psnr_{k}"] = psnr(fn.reshape(model.fine.m), truth.reshape(model.fine.m))
            row[f"err_{k}"] = float(((fn - truth) ** 2).sum())
        row["split"] = float(((imgs["A"][-1] - imgs["B"][-1]) ** 2).sum())
        rows.append(row)
        print(f"  {lam:.4g}: PSNR {row['psnr_full']:.2f} (A {row['psnr_A']:.2f}, B {row['psnr_B']:.2f}) "
              f"||fA-fB||^2 {row['split']:.4g}", flush=True)
    frames = model.frames
    sigma_true = spec["noise"] * float(frames.std())
    best = max(rows, key=lambda r: r["psnr_full"])
    summary = {"set": describe({"image": spec["kind"], **spec, "channels": 1}), "spec": spec, "lam_auto": lam_auto,
               "cpu_auto": cpu_auto, "rows": rows, "lam_peak": best["lam"], "psnr_peak": best["psnr_full"],
               "sigma_true": sigma_true, "sigma_immerkaer": float(noise_std_images(frames)),
               "n": model.n, "q": model.q}
    arrays = {"lams": np.array([r["lam"] for r in rows]), "truth": truth,
              **{k: np.stack(v) for k, v in imgs.items()}}
    return summary, arrays


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-4, 7)), help="weights auto's x 2^(j/2)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = []
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            print(f"{spec}", flush=True)
            s, arrays = curve(ctx, write(Path(tmp), spec, args.supersample), spec, args.steps)
            name = f"{spec['kind'].replace(':', '_')}_{spec['size']}_{spec['frames']}_{spec['noise']}_{spec['seed']}"
            np.savez(args.out / f"{name}.npz", **arrays)
            s["npz"] = f"{name}.npz"
            out.append(s)
            print(f"{s['set']} {spec['size']}^2/{spec['frames']} {spec['noise']:g} s{spec['seed']}: auto "
                  f"{s['lam_auto']:.3g}, peak {s['lam_peak']:.3g} ({s['psnr_peak']:.2f}); sigma true "
                  f"{s['sigma_true']:.3g}, Immerkaer {s['sigma_immerkaer']:.3g}",
                  flush=True)
            (args.out / "curves.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
