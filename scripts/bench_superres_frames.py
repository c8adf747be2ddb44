#!/usr/bin/env python
"""Super-resolution from frames: regrun's varpro_cg beside a two-stage SimpleITK peer and the true-motion
oracle, on held-out frame sets, in one process with one thread.

Frame sets: regrun.imaging.synthetic.superres_frames (what scripts/make_sr_frames.py writes): a textured
phantom cell-averaged 10x finer than the reference, 8 frames (frame 0 the reference pose, 7 moved by random
affines: rotation +-10 deg, scale 0.95-1.05, shift +-5%), 1% noise; written as .npz and read back through
`problem.data=frames` (the user's path). Methods, all judged by PSNR of the final image against the truth:

- regrun:   `regrun problem=superres problem.data=frames` with its defaults (varpro_cg, linear=auto, the
            exact Jacobian, pre-registration start); its time is the whole solve (pre-registration included);
- peer:     SimpleITK registration of each frame to frame 0 (affine, MeanSquares, B-spline interpolation,
            regular-step gradient descent, 2-level pyramid: the frames are only 10-16 px), then the same
            regularised least squares for the image with that motion fixed (solved exactly);
- oracle:   the least squares with the true motion;
- regrun two_stage (pre-registration, then the least squares) for reference.

    pip install -e .[bench]
    python scripts/bench_superres_frames.py --out outputs/bench/superres_frames.json
    python scripts/bench_superres_frames.py --linear-sweep 16 32 48 64 --out outputs/bench/superres_linear.json
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

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging import spline
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import superres_frames
from regrun.linalg.cg import diff_mode
from regrun.linalg.direct import CholeskyLSQ
from regrun.imaging.transforms import affine
from regrun.metrics import psnr, ssim
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.sitk_peer import register_affine, to_sitk
from regrun.registration.superres_projection import (
    DirectProjectedResidual,
    ProjectedResidual,
)
from regrun.solvers.two_stage import TwoStage
from regrun.solvers.varpro_cg import VarProCG


def frame_problem(ctx, root: Path, size: int, seed: int, frames: int, noise: float, lam: float):
    truth, stack, w, _ = superres_frames(size=size, frames=frames, noise=noise, seed=seed)
    path = root / f"set_{size}_{seed}.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f=lam)
    return SuperRes(cfg, ctx)


def exact_psnr(problem, w) -> float:
    """PSNR of the exact regularised least-squares image at motion w."""
    model = problem.model
    f = CholeskyLSQ(model.operator(w), model.normal_matrix(w)).lstsq(model.b).reshape(problem.fine.m)
    return psnr(f.cpu().numpy() + problem.level, problem.truth.cpu().numpy())


def sitk_one_thread():
    """SimpleITK, run on one thread so that its CPU-s compare with regrun's single-threaded ones; or exit naming the
    install line (it is a bench extra, not a dependency)."""
    try:
        import SimpleITK as sitk
    except ImportError:
        sys.exit("SimpleITK is not installed: pip install -e .[bench]  (or pip install SimpleITK)")
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return sitk


def write_peer_rows(out, rows: list, args, sitk) -> None:
    """The rows beside the settings and the peer's version and thread count, which a timing needs to be read."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        json.dump({"rows": rows, "settings": vars(args), "simpleitk_version": sitk.Version_VersionString(),
                   "torch_threads": torch.get_num_threads()}, f, indent=1)


def sitk_motion(problem, iterations: int = 300, gain: bool = False, rounds: int = 10, gtol: float = 1e-4):
    """Each frame j registered to frame 0 (fixed = frame j, moving = frame 0: the transform maps frame j's
    points to frame 0's, which is the model's y_j), as regrun's w (6 per frame, flat); a pyramid of 2 levels
    (frames under 64 px a side: they are small) or 3. Colour frames: their luminance (the model's frames).
    gain: also each frame's exposure gain, as regrun's parameters (w_j then g_j, 7 per frame): each frame's
    luminance divided by its gain (first the ratio of the frames' means, regrun's pre-registration's start) is
    registered, the gain set to the least-squares ratio <T(y), d_j> / <T(y), T(y)> at that motion (T frame 0's
    spline, over the points that stay inside it), registered again with those gains until no gain moves by
    gtol (at most `rounds`; one or two rounds left the peer at 0.43 / 0.17 px on a 64x64 burst, six at 0.022)."""
    model = problem.model
    grid = model.coarse
    frames = problem.frames().cpu().numpy()  # as given (the model's are less problem.level)
    moving = to_sitk(frames[0], grid)
    levels = 3 if min(grid.m) >= 64 else 2
    shrink, sigmas = [2 ** k for k in reversed(range(levels))], [float(k) for k in reversed(range(levels))]
    g = (frames[1:].mean((-2, -1)) / frames[0].mean()).tolist() if gain else [1.0] * (frames.shape[0] - 1)
    for _ in range(rounds if gain else 1):
        ws = [register_affine(to_sitk(frames[j] / g[j - 1], grid), moving, grid.centre, iterations, shrink,
                              sigmas)[0] for j in range(1, frames.shape[0])]
        w = torch.tensor(np.array(ws), dtype=model.dtype, device=model.device)  # (q, 6)
        if not gain:
            return w.reshape(-1)
        xc = grid.centres(model.dtype, model.device).reshape(-1, 2)
        template = spline.SplineImage(model.frames[0], grid, 0.0)
        d = torch.stack([spline.SplineImage(model.frames[j], grid, 0.0)(xc) for j in range(1, model.q + 1)])
        lo = xc.new_tensor((grid.omega[0], grid.omega[2])) + 0.5 * xc.new_tensor(grid.h)
        hi = xc.new_tensor((grid.omega[1], grid.omega[3])) - 0.5 * xc.new_tensor(grid.h)
        y = affine(w[:, None, :], xc)
        inside = ((y >= lo) & (y <= hi)).all(-1).to(model.dtype)
        t = template(y)
        gt = (inside * t * d).sum(-1) / (inside * t * t).sum(-1)
        moved = max(abs(a - b) for a, b in zip(gt.tolist(), g))
        g = gt.tolist()
        if moved < gtol:
            break
    return torch.cat((w, gt[:, None]), 1).reshape(-1)


def solve_channels(p, w: torch.Tensor) -> np.ndarray:
    """The regularised least squares at motion w (and gains) per channel, by PCG from the model's initial
    image to 1e-10 (any size: no dense factor), with outside=drop's pixels decided at w: a peer's image."""
    model = p.model
    if p.outside == "drop":
        model.settle_outside(w)
    # the model's frames are the user's less p.level (problem.frames_level): so each channel, and the level back
    frames = [model.frames] if p.colour is None else [p.colour[:, c] - p.level for c in range(p.colour.shape[1])]
    out = [model.solve(w, 2000, 1e-10, x0=model.initial_image(), b=model.rhs(d)).x.reshape(p.fine.m).cpu().numpy()
           + p.level for d in frames]
    return out[0] if p.colour is None else np.stack(out)


def scores(p, est: np.ndarray) -> dict:
    """PSNR (over all channels, the truth's range) and SSIM (the channels' mean), as SuperRes.evaluate."""
    tru = (p.truth if p.truth_colour is None else p.truth_colour).cpu().numpy()
    s = np.mean([ssim(e, t) for e, t in zip(est, tru)]) if est.ndim == 3 else ssim(est, tru)
    return {"psnr": psnr(est, tru), "ssim": float(s)}


def timed(fn):
    """(result, wall seconds, CPU seconds of this process). With one thread the CPU time is what the wall
    time would be on an idle core; on a shared machine the wall time also counts waiting for a core."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def compare(ctx, root, args):
    rows = []
    for size, lam, seed in ((s, lam, seed) for s in args.sizes for lam in args.lambda_f for seed in args.seeds):
        p = frame_problem(ctx, root, size, seed, args.frames, args.noise, lam)
        solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx)
        if not rows:  # keep one-off costs of the process (first-call imports, caches) out of the timings
            solver.solve(p, Monitor())
        runs = [timed(lambda: solver.solve(p, Monitor())) for _ in range(args.repeats)]
        res, t_regrun = runs[0][0], min(t for _, t, _ in runs)
        cpu_regrun = min(c for _, _, c in runs)
        w_regrun = torch.as_tensor(res.solution["w"], dtype=ctx.dtype, device=ctx.device)
        w_sitk, t_sitk_reg, c_sitk_reg = timed(lambda: sitk_motion(p))
        _, t_sitk_lsq, c_sitk_lsq = timed(lambda: exact_psnr(p, w_sitk))
        base = TwoStage(config_section("solver", "two_stage"), ctx)
        res2, t_two, _ = timed(lambda: base.solve(p, Monitor()))
        w_two = torch.as_tensor(res2.solution["w"], dtype=ctx.dtype, device=ctx.device)
        row = {"size": size, "lambda_f": lam, "seed": seed, "frames": args.frames,
               "psnr_regrun": exact_psnr(p, w_regrun), "psnr_peer": exact_psnr(p, w_sitk),
               "psnr_oracle": exact_psnr(p, p.w_true), "psnr_two_stage": exact_psnr(p, w_two),
               "motion_err_regrun": p.motion_error(w_regrun), "motion_err_peer": p.motion_error(w_sitk),
               "motion_err_two_stage": p.motion_error(w_two),
               "time_regrun_s": t_regrun, "cpu_regrun_s": cpu_regrun, "time_regrun_init_s": res.stats["init_s"],
               "time_peer_s": t_sitk_reg + t_sitk_lsq, "cpu_peer_s": c_sitk_reg + c_sitk_lsq,
               "time_two_stage_s": t_two,
               "linear": res.stats["linear"], "lm_steps": res.n_iter}
        row["gain_over_peer_db"] = row["psnr_regrun"] - row["psnr_peer"]
        row["gap_to_oracle_db"] = row["psnr_oracle"] - row["psnr_regrun"]
        row["time_ratio_regrun_over_peer"] = row["time_regrun_s"] / row["time_peer_s"]
        row["cpu_ratio_regrun_over_peer"] = row["cpu_regrun_s"] / row["cpu_peer_s"]
        rows.append(row)
        print(f"{size}x{size} lambda_f {lam:g} seed {seed}: PSNR regrun {row['psnr_regrun']:.2f} | peer "
              f"{row['psnr_peer']:.2f} | oracle {row['psnr_oracle']:.2f} | two_stage {row['psnr_two_stage']:.2f} dB; "
              f"+{row['gain_over_peer_db']:.2f} dB over peer, {row['gap_to_oracle_db']:.2f} dB below oracle; "
              f"wall (CPU) regrun {t_regrun:.2f} ({cpu_regrun:.2f}) s, init {row['time_regrun_init_s']:.2f} s "
              f"| peer {row['time_peer_s']:.2f} ({row['cpu_peer_s']:.2f}) s", flush=True)
    return rows


def linear_sweep(ctx, root, args):
    """Per-evaluation cost of the projected residual and its Jacobian: Cholesky against CG (cg_iters, the
    implicit Jacobian), by image size, at the true motion + 0.01."""
    rows = []
    for size in args.linear_sweep:
        p = frame_problem(ctx, root, size, 0, args.frames, args.noise, args.lambda_f[0])
        w = p.w_true + 0.01
        direct = DirectProjectedResidual(p.model)
        cgres = ProjectedResidual(p.model, diff_mode("implicit"), args.cg_iters)
        for fn in (direct.residual, cgres.residual):
            fn(w)
        cgres.residual_and_jacobian(w)  # one-off first-call costs of torch.func
        row = {"size": size, "pixels": size * size, "cg_iters": args.cg_iters, "unit": "CPU seconds"}
        for name, obj in (("cholesky", direct), ("cg", cgres)):
            reps = []
            for k in range(args.repeats):
                u = w + 1e-4 * (k + 1)  # a new w each time: no cached factor
                _, _, tr = timed(lambda: obj.residual(u))
                _, _, tj = timed(lambda: obj.residual_and_jacobian(u + 1e-5))
                reps.append((tr, tj))  # CPU seconds
            row[f"{name}_residual_s"] = min(r[0] for r in reps)
            row[f"{name}_jacobian_s"] = min(r[1] for r in reps)
        row["cg_over_cholesky_residual"] = row["cg_residual_s"] / row["cholesky_residual_s"]
        row["cg_over_cholesky_jacobian"] = row["cg_jacobian_s"] / row["cholesky_jacobian_s"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 32])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--lambda-f", type=float, nargs="+", default=[1e-2, 0.1, 0.3],
                    help="regularisation weights (1e-2 is the paper's, too weak for 1%% noise here)")
    ap.add_argument("--repeats", type=int, default=2, help="timed regrun solves per set (best kept)")
    ap.add_argument("--linear-sweep", type=int, nargs="*", default=None, metavar="SIZE",
                    help="instead: time Cholesky against CG per evaluation at these sizes")
    ap.add_argument("--cg-iters", type=int, default=50)
    ap.add_argument("--out", default="bench_superres_frames.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    with tempfile.TemporaryDirectory() as tmp:
        if args.linear_sweep:
            rows = linear_sweep(ctx, Path(tmp), args)
            summary = {}
        else:
            sitk = sitk_one_thread()
            rows = compare(ctx, Path(tmp), args)
            summary = {"simpleitk_version": sitk.Version_VersionString()}
            for size in args.sizes:
                for lam in args.lambda_f:
                    sel = [r for r in rows if r["size"] == size and r["lambda_f"] == lam]
                    summary[f"{size} lambda_f={lam:g}"] = {
                        k: float(np.median([r[k] for r in sel])) for k in
                        ("psnr_regrun", "psnr_peer", "psnr_oracle", "psnr_two_stage", "gain_over_peer_db",
                         "gap_to_oracle_db", "time_regrun_s", "cpu_regrun_s", "time_peer_s", "cpu_peer_s")}
            print(json.dumps(summary, indent=1))
    summary.update(torch_threads=torch.get_num_threads(), settings=vars(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
