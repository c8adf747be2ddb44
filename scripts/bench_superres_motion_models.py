#!/usr/bin/env python
"""Super-resolution's motion models (problem.motion_model: translation | rigid | affine) on frames made with
each kind of motion, beside the two-stage SimpleITK peer (affine registration, then the same least squares)
and the true-motion oracle (issue 21, item 2).

Frame sets: regrun.imaging.synthetic.superres_frames (held out: the textured phantom cell-averaged
`supersample` times finer than the reference, 1% noise), with the motion drawn as
- translation: shifts only (angle 0, scale 1);
- rigid: rotation and shift (scale 1);
- affine: rotation, per-axis scale 0.95-1.05 and shift (the generator's default).
Each set is solved by regrun varpro_cg (the user's defaults, `outside=drop`) with every motion model, in this
process with one thread; PSNR of the exact least-squares image at the final motion (and that motion's mask),
motion error (RMS distance of the moved fine cell centres, fine pixels), CPU seconds of the solve (the peer's:
its registration; the least-squares image is the evaluation's, not counted).

    python scripts/bench_superres_motion_models.py --sizes 64 --frames 8 --out outputs/bench/sr_motion_models
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from bench_superres_frames import (  # scripts/bench_superres_frames.py
    exact_psnr,
    sitk_motion,
)

from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.synthetic import superres_frames
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_motion import MOTION_MODELS
from regrun.solvers.varpro_cg import VarProCG

KINDS = {"translation": {"angle": 0.0, "scale": (1.0, 1.0)}, "rigid": {"scale": (1.0, 1.0)}, "affine": {}}


def run_set(ctx, root: Path, kind: str, size: int, frames: int, args) -> list[dict]:
    truth, stack, w, _ = superres_frames(size=size, frames=frames, noise=args.noise, supersample=args.supersample,
                                         seed=args.seed, **KINDS[kind])
    path = root / f"{kind}_{size}_{frames}.npz"
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})

    def problem(model):
        weight = {"motion_weight": args.motion_weight}
        return SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                       true_motion=str(path), lambda_f=args.lambda_f, outside="drop",
                                       motion_model=model, **weight), ctx)

    rows = []
    for model in args.models:
        p = problem(model)
        t0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg", **args.solver), ctx).solve(p, Monitor())
        cpu = time.process_time() - t0
        wr = res.solution["w"]
        rows.append({"kind": kind, "size": size, "frames": frames, "method": f"regrun {model}",
                     "motion_weight": p.motion_weight, "seed": args.seed, "solver": args.solver,
                     "psnr": exact_psnr(p, wr), "motion_error": p.motion_error(wr), "cpu_s": cpu,
                     "lm_steps": res.n_iter, "jacobian": res.stats.get("jacobian_used"), "edge_rounds": res.stats.get("edge_rounds", 0)})
    for name, motion in () if args.no_peer else (("peer (SimpleITK affine)", None), ("oracle (true motion)", "truth")):
        p = problem("affine")
        t0 = time.process_time()
        wm = sitk_motion(p) if motion is None else p.w_true
        cpu = time.process_time() - t0  # the registration's (the evaluation below is not the method's)
        p.model.settle_outside(wm)  # the same data as regrun's: the pixels that see past the edge at this motion
        rows.append({"kind": kind, "size": size, "frames": frames, "method": name, "psnr": exact_psnr(p, wm),
                     "motion_error": p.motion_error(wm), "cpu_s": cpu})
    return rows


def markdown(rows) -> str:
    lines = ["| frames' motion | size / frames | method | PSNR (dB) | motion error (px) | CPU s |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['size']}² / {r['frames']} | {r['method']} | {r['psnr']:.2f} | "
                     f"{r['motion_error']:.4f} | {r['cpu_s']:.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    ap.add_argument("--sizes", type=int, nargs="+", default=[64])
    ap.add_argument("--frames", type=int, nargs="+", default=[8])
    ap.add_argument("--noise", type=float, default=0.01)
    ap.add_argument("--lambda-f", type=float, default=0.1)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", nargs="+", default=list(MOTION_MODELS), choices=list(MOTION_MODELS))
    ap.add_argument("--motion-weight", type=float, default=None,
                    help="problem.motion_weight (share of lambda_f; default: the config's for your frames)")
    ap.add_argument("--solver", nargs="*", default=[], metavar="KEY=VALUE",
                    help="varpro_cg settings (e.g. linear=pcg jacobian=implicit max_iter=20)")
    ap.add_argument("--no-peer", action="store_true", help="regrun's rows only (the peer's do not depend on it)")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/sr_motion_models"))
    args = ap.parse_args(argv)
    args.solver = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.solver)}
    if args.motion_weight is None:  # config_section resolves the data-dependent default before data=frames
        args.motion_weight = float(compose(["problem=superres", "problem.data=frames"]).problem.motion_weight)
    torch.set_num_threads(1)
    try:  # the peer on one thread too
        import SimpleITK

        SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    except ImportError:
        raise SystemExit("the peer needs SimpleITK: pip install -e '.[bench]'") from None
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for frames in args.frames:
                for kind in args.kinds:
                    for r in run_set(ctx, Path(tmp), kind, size, frames, args):
                        rows.append(r)
                        print(f"{kind} {size}^2/{frames}: {r['method']}: PSNR {r['psnr']:.2f} dB, motion "
                              f"{r['motion_error']:.4f} px, {r['cpu_s']:.1f} CPU-s", flush=True)
                    args.out.with_name(args.out.name + ".json").write_text(json.dumps(
                        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=1))
    md = markdown(rows)
    args.out.with_name(args.out.name + ".md").write_text(md + "\n")
    print(md)


if __name__ == "__main__":
    main()
