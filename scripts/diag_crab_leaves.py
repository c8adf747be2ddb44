"""Does each leaf node keep a stride at its part's true pose? For generated scenes of the bench
(scripts/bench_crab_detection.py's scenes, the same seed and scene arguments give the same scenes), every leaf is
registered alone (no extraction, no parent) and judged against the truth: the leaf is *found* when a stride of
weight >= 0.5 lies within 10 full-size px of the part's joint and 3 deg of its angle (the instance's rule,
detection/instances.py, with the truth in place of the crab's prediction). Prints, per scene and leaf, the nearest
stride (px, deg, loss, weight) and the leaf's CPU seconds; a summary of found / scenes per leaf and variant.

    python scripts/diag_crab_leaves.py --template refine_crab --background beach --seed 13 --random 10 \
        --only -44.0 --leaves left_eye right_eye --variants "" "descent.leaf_rounds.1.keep=64"

A variant is a space-separated list of solver overrides (as bench_crab_detection.py's --set); "" is the defaults.
The tuning of docs/detection.md's "Keeping a thin part's stride" was measured with it.
"""
from __future__ import annotations

import argparse
import math
import time
from types import SimpleNamespace

import torch

from bench_crab_detection import circ, scenes_for
from regrun.config import compose
from regrun.detection.calibration import calibration_home, load_calibration
from regrun.detection.crab_data import load_template
from regrun.detection.scenes import articulation_ranges, downscale_scene, parse_ranges
from regrun.solvers.hierarchical import PART_RADIUS, build_detector, calibration_path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default="synthetic")
    ap.add_argument("--background", default="clutter", choices=("clutter", "beach"))
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--angles", type=float, nargs="*", default=[])
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--max-angle", type=float, default=180.0)
    ap.add_argument("--claw", type=float, default=20.0)
    ap.add_argument("--eye", type=float, default=8.0)
    ap.add_argument("--size", type=int, nargs=2, default=(384, 512))
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--only", type=float, nargs="*", default=None,
                    help="only the scenes whose crab angle rounds to one of these (0.1 deg)")
    ap.add_argument("--leaves", nargs="*", default=None, help="default: every leaf")
    ap.add_argument("--variants", nargs="+", default=[""])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    full = load_template(args.template, args.data_dir, "v1")
    ns = SimpleNamespace(paper=False, seed=args.seed, size=args.size, background=args.background,
                         data_dir=args.data_dir, angles=args.angles, random=args.random, max_angle=args.max_angle,
                         negatives=0, pairs=0, only=args.only,
                         ranges=articulation_ranges(full, parse_ranges(None, claw=args.claw, eye=args.eye)))
    scenes = scenes_for(ns, full)
    leaves = args.leaves or list(full.parts)
    scale = args.scale
    summary = {}
    for variant in args.variants:
        cfg = compose(["problem=crab_detection", "solver=hierarchical",
                       *[f"solver.{o}" for o in variant.split()]]).solver
        folder, key = calibration_home(full, scale)
        det = build_detector(cfg, full.downscaled(scale).to(dtype=torch.float64), scale)
        load_calibration(calibration_path(cfg, key, folder), det)
        for sc in scenes:
            s = downscale_scene(sc, scale)
            for leaf in leaves:
                c0 = time.process_time()
                res = det._run_node(leaf, det.node_scene(leaf, s.image.to(torch.float64), {}))
                cpu = time.process_time() - c0
                tr = s.truth.parts[leaf]
                loc = res.locations.detach().to(torch.float64)
                d = scale * (loc - torch.tensor(tr[:2], dtype=torch.float64)).norm(dim=1)
                da = torch.tensor([circ(float(a), tr[2]) for a in res.fit.angle])
                finite = torch.isfinite(res.fit.loss)
                ok = finite & (res.weights >= 0.5) & (d <= PART_RADIUS) & (da <= 3)
                near = torch.where(finite, d + da, torch.full_like(d, math.inf)).argmin()
                summary.setdefault((variant, leaf), []).append((bool(ok.any()), cpu))
                print(f"[{variant or 'defaults'}] {sc.label:>18} {leaf:>10}: {'found' if ok.any() else 'MISSED'}; "
                      f"nearest {float(d[near]):.2f} px {float(da[near]):.2f} deg loss {float(res.fit.loss[near]):.3g} "
                      f"weight {float(res.weights[near]):.3f}; {cpu:.2f} CPU-s", flush=True)
    for (variant, leaf), rs in summary.items():
        print(f"{variant or 'defaults'} | {leaf} | found {sum(r[0] for r in rs)} / {len(rs)} | "
              f"CPU-s {sum(r[1] for r in rs) / len(rs):.2f} mean")


if __name__ == "__main__":
    main()
