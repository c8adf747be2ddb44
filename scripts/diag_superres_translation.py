#!/usr/bin/env python
"""Why super-resolution on frames that only translate lands ~0.03 px from the true motion (issue 21, item 2;
docs/superres.md, "Motion models"): the least-squares objective J(w) = ||A(w) f(w) - b||^2 (f the exact
regularised image at w) at the true motion, at varpro_cg's end (translation model, the user's defaults) and
at the SimpleITK peer's motion, all with one mask (outside=drop settled at the true motion); J on the line from
varpro_cg's end to the truth; each frame's shift error; then where LM ends from the truth and with many steps.
--spline-frames: the frames made by the model itself (the truth's exact cubic spline at the moved fine cell
centres, pooled; no model mismatch), against the default cell-averaged frames; with --lambda-f this separates
the two causes of the bias (the mismatch, and the regulariser pulling the motion).

    python scripts/diag_superres_translation.py --seed 0 --noise 0.01 --out outputs/bench/sr_translation_diag
    python scripts/diag_superres_translation.py --noise 0 --spline-frames --lambda-f 0.01
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from bench_superres_frames import CholeskyLSQ, exact_psnr, sitk_motion  # scripts/bench_superres_frames.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.grid import Grid
from regrun.imaging.synthetic import spline_frames, superres_frames
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.varpro_cg import VarProCG


def objective(problem, w) -> float:
    """J at w with the exact regularised image at w (the problem's current mask)."""
    m = problem.model
    op = m.operator(w)
    f = CholeskyLSQ(op, m.normal_matrix(w)).lstsq(m.b)
    return float((op.matvec(f) - m.b).pow(2).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lambda-f", type=float, default=0.1)
    ap.add_argument("--spline-frames", action="store_true", help="frames from the truth's spline (no mismatch)")
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/sr_translation_diag"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import SimpleITK

    SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        truth, stack, w, omega = superres_frames(size=args.size, factor=args.factor, frames=args.frames,
                                                 noise=0.0 if args.spline_frames else args.noise, supersample=4,
                                                 seed=args.seed, angle=0.0, scale=(1.0, 1.0))
        if args.spline_frames:  # same truth and motion, the frames the model makes (then the generator's noise)
            t = torch.as_tensor(truth)
            s = spline_frames(t, Grid(omega, t.shape), torch.as_tensor(w), args.factor)
            s = s + args.noise * s.std() * torch.randn(s.shape, generator=torch.Generator().manual_seed(args.seed),
                                                       dtype=torch.float64)
            stack = s.numpy()
        path = str(Path(tmp) / "frames.npz")
        np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})

        def problem(model):
            return SuperRes(config_section("problem", "superres", data="frames", frames=path, truth=path,
                                           true_motion=path, lambda_f=args.lambda_f, outside="drop",
                                           motion_model=model, factor=args.factor), ctx)

        def lm(model, **solver):
            p = problem(model)
            res = VarProCG(config_section("solver", "varpro_cg", **solver), ctx).solve(p, Monitor())
            return res.solution["w"], res.n_iter

        w_end, _ = lm("translation")
        ev = problem("affine")
        w_true, w_peer = ev.w_true.clone(), sitk_motion(ev)
        ev.model.settle_outside(w_true)
        shift_err = lambda wm: (wm.reshape(-1, 6)[:, 4:] - w_true.reshape(-1, 6)[:, 4:]).tolist()  # noqa: E731
        # the part of the error all moved frames share (the direction only frame 0 pins)
        common = lambda wm: np.mean(shift_err(wm), axis=0).tolist()  # noqa: E731
        out["true_shift"] = w_true.reshape(-1, 6)[:, 4:].tolist()
        for name, wm in (("truth", w_true), ("regrun", w_end), ("peer", w_peer)):
            out[name] = {"J": objective(ev, wm), "psnr": exact_psnr(ev, wm), "motion_error": ev.motion_error(wm),
                         "shift_error": shift_err(wm), "common_shift": common(wm)}
            print(f"{name}: J {out[name]['J']:.2f}, PSNR {out[name]['psnr']:.2f} dB, motion error "
                  f"{out[name]['motion_error']:.4f} px, common shift {np.round(common(wm), 4)}", flush=True)
        out["line"] = [[t, objective(ev, (1 - t) * w_end + t * w_true)] for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
        print("J from regrun's end (t=0) to the truth (t=1):", [f"{t}: {j:.2f}" for t, j in out["line"]])
        for name, model, solver in (("from truth, 40 steps", "affine", {"init": "truth", "max_iter": 40}),
                                    ("translation, 120 steps", "translation", {"max_iter": 120})):
            wm, n = lm(model, ftol=0.0, **solver)
            out[name] = {"motion_error": ev.motion_error(wm), "steps": n, "shift_error": shift_err(wm),
                         "common_shift": common(wm), "J": objective(ev, wm)}
            print(f"LM {name}: motion error {ev.motion_error(wm):.4f} px after {n} steps, common shift "
                  f"{np.round(common(wm), 4)}, J {out[name]['J']:.4f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_name(args.out.name + f"_seed{args.seed}_noise{args.noise}_lam{args.lambda_f}"
                        + ("_spline" if args.spline_frames else "") + ".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
