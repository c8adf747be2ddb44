#!/usr/bin/env python
"""Leave-frames-out cross-validation of lambda_f beside the PSNR, at the motion `auto` ends at (issue 16, srcv).

Per frame set (bench_lambda_sr's sets, --set): varpro_cg with lambda_f=auto as the user runs it (the bench's
pre-registration), then at its final motion w and over weights lambda = auto's x 2^(j/2), j in --steps: the answer's
PSNR (SuperRes.evaluate: every channel, as the bench scores it) and the cross-validation
CV(lambda) = sum_k ||d_k - P_k f_-k(lambda)||^2 over the held-out moved frames k (f_-k solved at w and lambda without
frame k: registration/superres_check.held_out_residuals, closed form up to 48^2, a PCG refit beyond), with its CPU.
Prints where CV's minimum lies against the PSNR's peak and auto's weight; writes every curve to --out (.json).

    python scripts/curves_lambda_sr_cv.py --supersample 4 --set circuit,64,8,0.01,802,translation --out OUT/cv
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from bench_lambda_sr import describe, frame_set, parse_set  # scripts/bench_lambda_sr.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import held_out_residuals
from regrun.registration.superres_start import start_params
from regrun.solvers.varpro_cg import VarProCG


def write(root: Path, spec, supersample: int) -> Path:
    truth, stack, w, gains = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                       supersample=supersample, motion=spec["motion"], gain=spec["gain"])
    if stack.ndim == 4:
        fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
    else:
        fr, tr = from_fair_layout(stack), from_fair_layout(truth)
    path = root / f"set_{spec['seed']}.npz"
    np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w, **({"gain": gains} if spec["gain"] else {})})
    return path


def auto_at_fixed_start(ctx, path: Path, gain: bool, frames: torch.Tensor | None = None):
    """`lambda_f=auto` (the rule's weight, without the cross-validation's walk) on a frame set, its pre-registration
    fixed so the curves that follow see the same start: (problem, result, CPU seconds of the run). `frames`: other
    frames in place of the file's (the same shape; srsplit's control without model error)."""
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto", gain=gain, lam_cv_steps=0,
                         lam_split_steps=0)
    p = SuperRes(cfg, ctx)
    if frames is not None:
        p.model.frames = frames.to(p.model.frames)
        p.model.b = p.model.rhs(p.model.frames)
    w0 = start_params(p, "preregister")
    p.model.preregister = lambda **_: w0.clone()
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
    return p, res, time.process_time() - t0


def curve(ctx, path: Path, spec, steps, held: int | None) -> dict:
    p, res, cpu_auto = auto_at_fixed_start(ctx, path, spec["gain"] is not None)
    lam_auto = float(res.metrics["lam_chosen"])
    w = res.solution["w"].detach()
    p.frames_check = False  # the check's own held-out frames are computed below, at every weight
    q = p.model.q
    frames = list(range(1, q + 1)) if held is None else list(range(1, min(q, held) + 1))
    rows, f_prev = [], None
    for j in steps:
        lam = lam_auto * 2 ** (j / 2)
        p.model.set_weight(lam)
        sol = {"w": w} if f_prev is None else {"w": w, "f": f_prev}
        metrics, arrays = p.evaluate(SimpleNamespace(solution=sol, stats={"linear": "pcg"} if f_prev is not None
                                                     else {}))
        f = torch.as_tensor(arrays.get("reconstruction_luminance", arrays["reconstruction"]),
                            dtype=w.dtype).reshape(-1)
        f_prev = f
        c0 = time.process_time()
        per = held_out_residuals(p.model, w, frames, f=f)
        rows.append({"lam": lam, "psnr": metrics["psnr"], "cv": float(sum(per)), "cv_frames": per,
                     "cv_cpu": time.process_time() - c0})
    best = max(rows, key=lambda r: r["psnr"])
    cvmin = min(rows, key=lambda r: r["cv"])
    at_auto = next(r for r in rows if abs(math.log(r["lam"] / lam_auto)) < 1e-9)
    return {"set": describe({"image": spec["kind"], **spec, "channels": 3 if "logo" in spec["kind"] else 1}),
            "spec": spec, "lam_auto": lam_auto, "psnr_auto_run": at_auto["psnr"], "cpu_auto": cpu_auto,
            "held": len(frames), "rows": rows, "lam_peak": best["lam"], "psnr_peak": best["psnr"],
            "lam_cv": cvmin["lam"], "psnr_cv": cvmin["psnr"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-4, 5)), help="weights auto's x 2^(j/2)")
    ap.add_argument("--held", type=int, help="hold out the first HELD moved frames (default: every moved frame)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            r = curve(ctx, write(Path(tmp), spec, args.supersample), spec, args.steps, args.held)
            out.append(r)
            pts = "; ".join(f"{x['lam']:.3g}: {x['cv']:.5g} / {x['psnr']:.2f}" for x in r["rows"])
            print(f"{r['set']} {spec['size']}^2/{spec['frames']} {spec['noise']:g} s{spec['seed']} (K={r['held']}): "
                  f"auto {r['lam_auto']:.3g} ({r['psnr_auto_run']:.2f}), peak {r['lam_peak']:.3g} "
                  f"({r['psnr_peak']:.2f}), CV min {r['lam_cv']:.3g} ({r['psnr_cv']:.2f}); CV-s/weight "
                  f"{np.median([x['cv_cpu'] for x in r['rows']]):.2f}, auto {r['cpu_auto']:.1f} CPU-s\n  {pts}",
                  flush=True)
            args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
