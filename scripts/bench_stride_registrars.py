"""Stride registrars side by side on the leaves of one generated scene: the exhaustive search (FFT over every
angle and shift) and the paper's registration by gradient descent (detection/unrolled_registrar.py), same scene,
same strides.
Per leaf: process CPU and wall time, the best stride's joint and angle error against the truth, and the best
false stride's loss (farther than 10 full-size px) over the true one's (the margin calibration works with).

    python scripts/bench_stride_registrars.py --angle 20 --size 240 300 --set descent.leaf_dtype=float32

One thread (pinned); a full detection with the descent registrar repeats this for every node on the scene and
on the template (extraction), see docs/detection.md "Descent vs exhaustive search".
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from rows_csv import write_rows_csv  # scripts/rows_csv.py

from regrun.config import compose
from regrun.detection.calibration import truth_joint
from regrun.detection.crab_data import load_template
from regrun.detection.scenes import clutter_background, compose_scene, downscale_scene, part_ranges, random_pose
from regrun.solvers.hierarchical import build_detector


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--angle", type=float, default=20.0)
    ap.add_argument("--size", type=int, nargs=2, default=(240, 300), help="rows cols at full size")
    ap.add_argument("--scale", type=int, default=2, choices=(1, 2))
    ap.add_argument("--claw", type=float, default=15.0)
    ap.add_argument("--eye", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--leaves", nargs="*", default=None, help="default: all four")
    ap.add_argument("--set", nargs="*", default=[], help="solver overrides, e.g. descent.start_step=20")
    ap.add_argument("--out", default="outputs/bench_stride_registrars.csv")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    full = load_template("synthetic", "", "v1")
    gen = torch.Generator().manual_seed(args.seed)
    size = tuple(args.size)
    centre, _, art = random_pose(gen, size, full, 0.0, part_ranges(full.parts, {"claw": args.claw, "eye": args.eye}))
    scene = downscale_scene(compose_scene(full, clutter_background(size, gen), centre, args.angle, art), args.scale)
    rows = []
    for registrar in ("exhaustive", "descent"):
        cfg = compose(["problem=crab_detection", "solver=hierarchical", f"solver.registrar={registrar}",
                       *[f"solver.{o}" for o in args.set]]).solver
        det = build_detector(cfg, full.downscaled(args.scale), args.scale)
        for leaf in args.leaves or list(full.parts):
            y = det.node_scene(leaf, scene.image, {})
            t0, c0 = time.perf_counter(), time.process_time()
            fit, _ = det.register_node(leaf, y)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            res = det.node_result(leaf, fit, y.shape[-2:])
            j = truth_joint(det.motifs, full.centre, leaf, scene.truth)
            d = (res.locations - torch.tensor(j[:2], dtype=res.locations.dtype)).norm(dim=1)
            k = int(torch.argmin(fit.loss))
            true_loss = float(fit.loss[(d <= 3.0 / args.scale)].min()) if bool((d <= 3.0 / args.scale).any()) \
                else math.inf
            far = fit.loss[(d > 10.0 / args.scale) & torch.isfinite(fit.loss)]
            row = {"registrar": registrar, "leaf": leaf, "strides": len(fit.loss), "cpu_s": round(cpu, 2),
                   "wall_s": round(wall, 2), "best_joint_error_px": round(args.scale * float(d[k]), 2),
                   "best_angle_error_deg": round(abs(float(fit.angle[k]) - j[2]), 2),
                   "true_loss": round(true_loss, 4), "best_false_loss": round(float(far.min()), 4) if far.numel()
                   else math.inf}
            row["margin"] = round(row["best_false_loss"] / true_loss, 2) if true_loss > 0 else math.inf
            rows.append(row)
            print(", ".join(f"{a}={b}" for a, b in row.items()), flush=True)
    write_rows_csv(Path(args.out), rows)


if __name__ == "__main__":
    main()
