#!/usr/bin/env python
"""A camera's burst: colour frames whose exposure differs frame to frame. regrun with problem.gain=true (and
without, to see what the gain is worth) beside the two-stage SimpleITK peer given the same handling and the
true-motion oracle, one thread.

Frame sets: regrun.imaging.synthetic.superres_burst (held out: a colour scene whose channels share 0.6 of one
textured phantom and hold 0.4 of their own, cell-averaged `supersample` times finer than the reference; frames
1.. moved by random affines and multiplied by gains uniform in --gain; 1% noise per channel), as .npz with the
frames' channels last, as `python scripts/make_sr_frames.py --channels 3 --gain 0.8 1.2 --format npz` writes.

- regrun:     `regrun problem=superres problem.data=frames problem.gain=true` (varpro_cg, its defaults) through
              the Python API; colour frames: the motion and gains from the luminance, every channel's image at
              that motion (problem.channels=auto);
- no gain:    the same with problem.gain=false (the frames' exposure left unmodelled);
- peer:       SimpleITK affine registration (MeanSquares, B-spline, a pyramid) of each frame's luminance to
              frame 0's after dividing it by the ratio of their means (the start regrun's pre-registration
              takes), then each gain as the least-squares ratio <T(y), d_j> / <T(y), T(y)> at that motion (T
              frame 0's spline, over the points that stay inside it: what regrun's pre-registration does at
              each scale), registered again with those gains until no gain moves by 1e-4 (at most 10
              rounds; one or two rounds left the peer at 0.43 / 0.17 px on the 64x64 set, six at 0.022,
              its motion error with the true gains 0.021), then the same regularised least squares per channel (gains and outside=drop as regrun's);
- oracle:     the same least squares at the true motion and gains.
lambda_f is fixed (default 0.1) for all four.

    pip install -e .[bench]
    python scripts/bench_superres_burst.py --out outputs/bench/superres_burst.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_superres_frames import (  # scripts/bench_superres_frames.py
    scores,
    sitk_motion,
    sitk_one_thread,
    solve_channels,
    write_peer_rows,
)

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import from_fair_layout
from regrun.imaging.synthetic import superres_burst
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.varpro_cg import VarProCG


def write_set(root: Path, size: int, frames: int, noise: float, supersample: int, seed: int, gain, channels) -> Path:
    truth, stack, w, _, g = superres_burst(size=size, frames=frames, noise=noise, supersample=supersample, seed=seed,
                                           gain=gain, channels=channels)
    if channels > 1:
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    path = root / f"burst_{size}_{frames}_{channels}_{seed}.npz"
    np.savez(path, frames=fr, truth=tr, w=w, gain=g)
    return path


def problem(ctx, path: Path, lam: float, gain: bool) -> SuperRes:
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f=lam, outside="drop", gain=gain)
    return SuperRes(cfg, ctx)


def run_regrun(p: SuperRes, ctx) -> tuple[dict, np.ndarray]:
    c0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    row = {"cpu_s": time.process_time() - c0, "psnr": metrics["psnr"], "ssim": metrics["ssim"],
           "motion_err": metrics["motion_error"], "gain_err": metrics.get("gain_error", float("nan"))}
    return row, arrays


def peer(p: SuperRes) -> tuple[dict, np.ndarray]:
    c0 = time.process_time()
    theta = sitk_motion(p, gain=True)
    est = solve_channels(p, theta)
    g = theta.reshape(p.model.q, 7)[:, 6]
    row = {"cpu_s": time.process_time() - c0, **scores(p, est), "motion_err": p.motion_error(theta),
           "gain_err": float((g - p.gain_true).pow(2).mean().sqrt())}
    return row, est


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=["64x8", "128x16"], help="SIZExFRAMES")
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--gain", type=float, nargs=2, default=(0.8, 1.2))
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--lambda-f", type=float, default=0.1)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench_superres_burst.json")
    args = ap.parse_args(argv)
    sitk = sitk_one_thread()
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            size, nf = (int(v) for v in case.split("x"))
            path = write_set(Path(tmp), size, nf, args.noise, args.supersample, args.seed, tuple(args.gain),
                             args.channels)
            row = {"size": size, "frames": nf, "channels": args.channels, "gain_range": list(args.gain)}
            p = problem(ctx, path, args.lambda_f, True)
            r, arrays = run_regrun(p, ctx)
            row["regrun"] = r
            row["gains_estimated"] = arrays["gain"].tolist()
            row["gains_true"] = [1.0] + p.gain_true.tolist()
            row["no_gain"] = run_regrun(problem(ctx, path, args.lambda_f, False), ctx)[0]
            row["peer"] = peer(problem(ctx, path, args.lambda_f, True))[0]
            po = problem(ctx, path, args.lambda_f, True)
            theta = torch.cat((po.w_true.reshape(po.model.q, 6), po.gain_true[:, None]), 1).reshape(-1)
            row["oracle"] = scores(po, solve_channels(po, theta))
            rows.append(row)
            print(json.dumps(row), flush=True)
    write_peer_rows(args.out, rows, args, sitk)


if __name__ == "__main__":
    main()
