#!/usr/bin/env python
"""Is super-resolution's motion error above the two-stage peer's a bias or a draw? (issue 21; docs/superres.md
"Nineteenth round (srmotion2)"). Reads the sets and regrun's run folders that `bench_superres_scaling.py --keep DIR`
left, and scores per set, against the true motion:

- regrun:    the motion of regrun's results.h5 (its answer);
- peer:      SimpleITK's affine registration of each frame to frame 0 (bench_superres_frames.sitk_motion);
- pre:       regrun's pre-registration alone (each frame to frame 0's spline: the solver's start);
- oracle:    the motion that minimises the data misfit ||A(w) f - b||^2 with the image f fixed at the TRUE image
             (Gauss-Newton per frame from the true motion, the edge mask settled at the true motion): what the
             noise and the model's mismatch (spline samples against cell averages) leave when the image is known;
- each method's error split into the frames' common part (the mean over frames of the displacement error at the
  fine points, one 2-vector per set) and the rest; and the data misfit with the true image at each motion.
Over several seeds the mean of regrun - peer and its standard error say whether the gap is real.

    python scripts/diag_superres_motion_bias.py --keep OUT/ho_main_1941 OUT/ho_main_1942 --out bias.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import h5py
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.problems.superres import SuperRes
from regrun.registration.superres_start import start_params

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_superres_frames import sitk_motion  # noqa: E402  (scripts/bench_superres_frames.py)


def data_misfit(model, w, f) -> torch.Tensor:
    """Per frame ||(A(w) f - b)_j||^2 over the data rows of frames 1.. (the regulariser rows do not depend on w)."""
    nc = model.coarse.m[0] * model.coarse.m[1]
    r = model.residual(w, f)[: model.n_data].reshape(model.q + 1, nc)
    return r[1:].pow(2).sum(-1)


def oracle_motion(model, f, w_start, iters: int = 20) -> torch.Tensor:
    """argmin_w ||A(w) f - b||^2 with f fixed: Gauss-Newton frame by frame (frame j's rows depend on its own six
    parameters only), each step kept only where it lowers that frame's misfit (else halved)."""
    w = w_start.clone().reshape(model.q, 6)
    nc = model.coarse.m[0] * model.coarse.m[1]
    for _ in range(iters):
        r = model.residual(w.reshape(-1), f)[: model.n_data].reshape(model.q + 1, nc)[1:]
        blocks = model.motion_blocks(w.reshape(-1), f)  # (q, 6, nc)
        h = blocks @ blocks.transpose(1, 2)
        g = (blocks @ r.unsqueeze(-1)).squeeze(-1)
        step = -torch.linalg.solve(h, g)
        old = r.pow(2).sum(-1)
        t = torch.ones(model.q, dtype=w.dtype)
        for _ in range(10):
            trial = w + t[:, None] * step
            better = data_misfit(model, trial.reshape(-1), f) <= old
            if bool(better.all()):
                break
            t = torch.where(better, t, t / 2)
        w = trial
        if float(step.abs().max()) < 1e-12:
            break
    return w.reshape(-1)


def split_error(problem, w) -> dict:
    """The motion error (RMS over frames and fine points), its common part over frames (the mean displacement
    error, a 2-vector per set: what frame 0 alone pins) and the RMS of the rest."""
    q = problem.model.q
    d = problem.model.warp_points(w) - problem.model.warp_points(problem.w_true)  # (q, npts, 2)
    common = d.mean(0)  # (npts, 2)
    rest = d - common
    return {"err": float(d.pow(2).sum(-1).mean().sqrt()),
            "common": [float(v) for v in common.mean(0)],
            "common_rms": float(common.pow(2).sum(-1).mean().sqrt()),
            "rest_rms": float(rest.pow(2).sum(-1).mean().sqrt()),
            "per_frame": [round(float(v), 5) for v in d.pow(2).sum(-1).mean(-1).sqrt()][:q]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, nargs="+", required=True, help="bench_superres_scaling.py --keep folders")
    ap.add_argument("--lambda-f", type=float, default=0.1)
    ap.add_argument("--no-pre", action="store_true", help="skip the pre-registration (its CPU at 256^2: ~5 s)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    import SimpleITK as sitk
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    for folder in args.keep:
        for path in sorted(folder.glob("set_*.npz")):
            size, frames, seed = (int(v) for v in path.stem.split("_")[1:4])
            run = folder / f"run_{size}_{frames}" / "results.h5"
            cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                 true_motion=str(path), lambda_f=args.lambda_f)
            p = SuperRes(cfg, ctx)
            model = p.model
            f_true = p.truth.reshape(-1).to(model.dtype)
            motions = {}
            with h5py.File(run, "r") as h:
                motions["regrun"] = torch.as_tensor(h["result/w"][()], dtype=model.dtype).reshape(-1)
            c0 = time.process_time()
            motions["peer"] = sitk_motion(p)
            if not args.no_pre:
                motions["pre"] = start_params(p, "preregister")
            model.settle_outside(p.w_true)
            motions["oracle"] = oracle_motion(model, f_true, p.w_true)
            row = {"size": size, "frames": frames, "seed": seed, "diag_cpu_s": time.process_time() - c0}
            for name, w in motions.items():
                s = split_error(p, w)
                row[name] = {**s, "misfit_true_image": float(data_misfit(model, w, f_true).sum())}
            rows.append(row)
            short = {k: round(row[k]["err"], 5) for k in motions}
            common = {k: round(row[k]["common_rms"], 5) for k in motions}
            print(json.dumps({"size": size, "frames": frames, "seed": seed, "err": short, "common_rms": common}),
                  flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
