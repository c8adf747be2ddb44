#!/usr/bin/env python
"""Which motion model (translation / rigid / affine) do a set's frames hold? The joint fit's evidence, measured
against the truth (docs/superres.md, "The motion model chosen from the frames (srmodel)").

For each frame set (an .npz of scripts/bench_lambda_sr.py --keep: frames, truth, w) and a weight lambda_f (the
affine `auto` run's, from that bench's .json, or --lam): varpro_cg with each motion model from its own
pre-registration at that weight (the user's defaults, `outside=drop`), then every model's final motion scored on
one data mask (the affine end's, narrowed to the pixels every model's motion keeps): the data misfit RSS_M
(regulariser rows apart) of the least-squares image (superres_model_choice.data_misfits). Printed and written per
set: each model's PSNR and motion error (the truth's), RSS_M, the frames' noise estimate sigma (regrun's own,
weak-texture patches) and the rule's statistic without the truth (superres_model_choice.misfit_z),
    z(small, big) = (RSS_small - RSS_big) / (sigma^2 h (d_big - d_small) q)
(per extra parameter, in units of the noise: ~1 where the smaller model holds the motion and the misfit is noise).

    python scripts/diag_superres_model_choice.py --bench OUT/devA_affine.json --frames OUT/framesA \
        --out OUT/choiceA.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from bench_lambda_sr import frame_file  # scripts/bench_lambda_sr.py
from bench_superres_frames import exact_psnr  # scripts/bench_superres_frames.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import noise_std_images
from regrun.problems.superres import SuperRes
from regrun.registration.superres_model_choice import data_misfits, misfit_z
from regrun.registration.superres_motion import MOTION_MODELS
from regrun.solvers.varpro_cg import VarProCG


def run(path: Path, lam: float, ctx) -> dict:
    def problem(name):
        return SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                       true_motion=str(path), lambda_f=lam, outside="drop", motion_model=name), ctx)

    row = {"set": path.name, "lam": lam, "models": {}}
    ends = {}
    for name in MOTION_MODELS:
        p = problem(name)
        t0 = time.process_time()
        res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
        ends[name] = res.solution["w"]
        row["models"][name] = {"psnr": exact_psnr(p, ends[name]), "motion_error": p.motion_error(ends[name]),
                               "cpu_s": time.process_time() - t0}
    common = problem("affine")
    common.model.settle_outside(ends["affine"])  # then narrowed to what every model's end keeps (data_misfits)
    misfits = data_misfits(common, ends)
    sigma = noise_std_images(common.model.frames)
    for name in MOTION_MODELS:
        row["models"][name]["rss"] = misfits[name]
    row.update(q=common.model.q, sigma=sigma,
               **{f"z_{k}": v for k, v in misfit_z(misfits, sigma, common.model.sqrt_hd ** 2, common.model.q).items()})
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", type=Path, nargs="+", required=True, help="bench_lambda_sr.py .json outputs (affine)")
    ap.add_argument("--frames", type=Path, required=True, help="their --keep folder")
    ap.add_argument("--lam", type=float, help="this weight for every set instead of the affine auto's")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    bench = [r for b in args.bench for r in json.loads(b.read_text())["rows"]]
    for r in bench:
        path = frame_file(args.frames, r["image"], r["size"], r["noise"], r["seed"], r["frames"], r["motion"],
                          bool(r.get("gain")))
        out = run(path, args.lam or r["auto_gcv"]["lam"], ctx)
        out["drawn"] = r["motion"]
        rows.append(out)
        ms = out["models"]
        print(f"{path.name} ({r['motion']}): " + ", ".join(
            f"{k} {v['psnr']:.2f} dB {v['motion_error']:.2f} px" for k, v in ms.items())
            + f"; z t-r {out['z_translation_rigid']:.2f} r-a {out['z_rigid_affine']:.2f}", flush=True)
        args.out.write_text(json.dumps(rows, indent=1, default=lambda v: float(v) if math.isfinite(v) else None))


if __name__ == "__main__":
    main()
