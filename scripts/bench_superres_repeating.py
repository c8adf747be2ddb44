#!/usr/bin/env python
"""The pre-registration on repeating structure (text, bricks, a checkerboard) with and without its global start
(regrun/registration/global_start.py): per frame set the RMS and worst frame's motion error (fine pixels) and the
CPU seconds of the pre-registration, both in one process; bicubic's PSNR beside them. With --auto also the
user's command on the set (varpro_cg, lambda_f=auto, the current code): its weight, PSNR and motion error.

Frame sets as scripts/bench_lambda_sr.py makes them (supersample 4, as the eighth round's 256^2 sets), IMAGE,SIZE,
FRAMES,NOISE,SEED each:

    python scripts/bench_superres_repeating.py sk:page,256,8,0.01,83 rendered_text,128,16,0.03,117 --auto
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import bicubic_psnr, frame_set  # scripts/bench_lambda_sr.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.transforms import affine
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.registration import superres_model
from regrun.solvers.varpro_cg import VarProCG


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sets", nargs="+", help="IMAGE,SIZE,FRAMES,NOISE,SEED")
    ap.add_argument("--auto", action="store_true", help="also the user's command (lambda_f=auto) on each set")
    ap.add_argument("--out", type=Path, help="JSON lines written here too")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            kind, size, frames, noise, seed = spec.split(",")
            truth, stack, w, _ = frame_set(kind, int(size), int(frames), float(noise), int(seed), supersample=4)
            path = Path(tmp) / "frames.npz"
            np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})

            def problem(lam):
                return SuperRes(config_section("problem", "superres", data="frames", frames=str(path),
                                               truth=str(path), true_motion=str(path), lambda_f=lam), ctx)

            p = problem(1.0)
            true = affine(p.w_true.reshape(p.model.q, 1, 6), p.model.x)
            row = {"set": spec, "bicubic": bicubic_psnr(p)}
            for on in (False, True):
                superres_model.GLOBAL_START = on
                t0 = time.process_time()
                w0 = p.model.preregister(drop_outside=True)
                cpu = time.process_time() - t0
                err = (p.model.warp_points(w0) - true).norm(dim=-1).pow(2).mean(-1).sqrt()
                row["global_start" if on else "ladder"] = {"rms_px": p.motion_error(w0),
                                                           "worst_frame_px": float(err.max()), "cpu_s": cpu}
            if args.auto:
                q = problem("auto")
                t0 = time.process_time()
                res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(q, Monitor())
                metrics = q.evaluate(res)[0]
                row["auto"] = {"lam": res.metrics["lam_chosen"], "psnr": metrics["psnr"],
                               "motion_px": metrics["motion_error"], "cpu_s": time.process_time() - t0}
            print(json.dumps(row), flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
