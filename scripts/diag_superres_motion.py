#!/usr/bin/env python
"""Where each frame's motion goes wrong in super-resolution (issue 16/21, docs/superres.md "Eleventh round"): per
frame set (bench_lambda_sr.py's frame_set, its --set syntax) the RMS motion error of every frame (fine pixels, over
the fine cell centres) after the pre-registration's global start, after every scale of its ladder (and the two
starts' comparison), after varpro_cg at a typed weight, and the two-stage SimpleITK peer's (bench_superres_frames
.sitk_motion); the CPU seconds of the pre-registration.

    python scripts/diag_superres_motion.py --lam 0.566 --set halftone,256,8,0.03,302,rigid
    python scripts/diag_superres_motion.py --no-peer --no-solve --set bigtext,32,8,0.05,312
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import frame_set, parse_set  # scripts/bench_lambda_sr.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.imaging.transforms import affine
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.varpro_cg import VarProCG


def frame_errors(p, w) -> list[float]:
    """Per frame: RMS distance (fine pixels) of the moved fine cell centres from the true ones; w affine (q, 6)."""
    true = affine(p.w_true.reshape(p.model.q, 1, 6), p.model.x)
    d = affine(w.reshape(p.model.q, 1, 6), p.model.x) - true
    return [round(float(v), 4) for v in d.pow(2).sum(-1).mean(-1).sqrt()]


def rms(errors) -> float:
    """The RMS over frames of per-frame RMS errors: SuperRes.motion_error."""
    return float(np.sqrt(np.mean(np.square(errors))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--lam", nargs="+", default=["0.2"], help="varpro_cg's weight (one, or one a set): a number or "
                    "auto (the user's default search)")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-solve", action="store_true")
    ap.add_argument("--keep", type=Path, help="keep the frame sets (.npz) here")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for i, spec in enumerate(args.sets):
            lam = args.lam[i] if len(args.lam) > 1 else args.lam[0]
            lam = lam if lam == "auto" else float(lam)
            size = spec["size"]
            truth, stack, w, gains = frame_set(spec["kind"], size, spec["frames"], spec["noise"], spec["seed"],
                                               supersample=10 if size < 96 else 4, motion=spec["motion"],
                                               gain=spec["gain"])
            path = root / f"{spec['kind'].replace(':', '_')}_{size}_{spec['frames']}_{spec['noise']}_{spec['seed']}_" \
                          f"{spec['motion']}.npz"
            if stack.ndim == 4:
                fr, tr = np.moveaxis(from_fair_layout(stack), 1, -1), np.moveaxis(from_fair_layout(truth), 0, -1)
            else:
                fr, tr = from_fair_layout(stack), from_fair_layout(truth)
            np.savez(path, **{FRAMES_KEY: fr, TRUTH_KEY: tr, "w": w,
                              **({"gain": gains} if spec["gain"] else {})})
            p = SuperRes(config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                        true_motion=str(path), lambda_f=lam, gain=spec["gain"] is not None), ctx)
            trace = []
            t0 = time.process_time()
            try:
                w0 = p.model.preregister(drop_outside=p.outside == "drop", gain=p.motion.gain, trace=trace)
            except TypeError:  # code before preregister(trace=): the end alone (before/after comparisons)
                w0 = p.model.preregister(drop_outside=p.outside == "drop", gain=p.motion.gain)
            row = {"set": spec, "prereg_cpu": time.process_time() - t0,
                   "stages": {name: frame_errors(p, v[:, :6]) for name, v in trace}}
            row["prereg_rms"] = rms(frame_errors(p, w0.reshape(p.model.q, -1)[:, :6]))
            if not args.no_solve:
                p.model.preregister = lambda **_: w0.clone()
                t0 = time.process_time()
                res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
                wf = p.model.affine_part(res.solution["w"]).reshape(p.model.q, 6)
                row["varpro"] = frame_errors(p, wf)
                row["varpro_rms"] = rms(row["varpro"])
                row["varpro_psnr"] = p.evaluate(res)[0]["psnr"]
                row["lam"] = res.metrics.get("lam_chosen", lam)
                row["varpro_cpu"] = time.process_time() - t0
            if not args.no_peer:
                from bench_superres_frames import sitk_motion  # scripts/bench_superres_frames.py

                wp = sitk_motion(p, gain=spec["gain"] is not None).reshape(p.model.q, -1)[:, :6]
                row["peer"] = frame_errors(p, wp)
                row["peer_rms"] = rms(row["peer"])
            for name, errs in row["stages"].items():
                print(f"  {name:16s} " + " ".join(f"{e:7.3f}" for e in errs), flush=True)
            for k in ("varpro", "peer"):
                if k in row:
                    print(f"  {k:16s} " + " ".join(f"{e:7.3f}" for e in row[k]), flush=True)
            print(json.dumps({k: v for k, v in row.items() if k not in ("stages", "varpro", "peer")}), flush=True)
            rows.append(row)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
