"""`regrun-calibrate`: calibrate the detector's thresholds (gamma, alpha per node) for a template and write the
versioned calibration file the `hierarchical` solver loads: for the crabs
regrun/detection/calibrations/crab_<template>_s<scale>...yaml, for a template file calibrations/<name>_s<scale>...yaml
beside its YAML (by default). A console command since newuser17: as `python scripts/calibrate_crab.py` it ran only
from a source checkout, which a pip-installed regrun has not (`scripts/calibrate_crab.py` still runs this main).

    regrun-calibrate --template synthetic --scale 2
    regrun-calibrate --template refine_crab --version v1 --scale 1 --background beach
    regrun-calibrate --template my/robot.yaml --max-angle 180    # a template of your own
    regrun-calibrate --template robot --max-angle 180 --grey     # -> robot_grey_s2_..., grey photos

Scenes: random poses (rotation within +-max-angle; each part turned within its range: the template's own, declared
in its file (the crabs: claws +-15, eyes +-5), or --articulation KEY=DEG ..., --claw, --eye) on procedural clutter
or beach crops from the photograph's calibration region (columns >= 1212: not the paper's Fig. 3 crops, not the
held-out region, cols < 1212, that the benchmarks draw from; scenes.BEACH_REGIONS), plus template-free negatives.
Settings come from configs/solver/hierarchical.yaml (with any `--set key=value` overrides), so the file matches
what `regrun problem=crab_detection` runs. Prints the per-node report and the time taken.

`--grey` calibrates the thresholds a grey photo of a coloured template is judged by: every scene is turned into its
grey (crab_data.luma, what a grey file of it is read as, unrounded) and the template into its own grey
(crab_data.grey_template, named NAME_grey), as the problem matches a grey scene; the file is keyed by that name
(`..._grey_s<scale>...yaml`), which the solver loads for a scene matched in grey (docs/detection.md, "Grey
calibrations"). In grey the parts' colours no longer tell them from the clutter, so the colour file's thresholds do
not separate them there (the robot's right arm: 5-19 false strides below its colour gamma).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from .config import compose
from .detection.calibration import calibrate, calibration_home, save_calibration
from .detection.crab_data import grey_template, load_template, luma
from .detection.scenes import (Scene, Truth, articulation_ranges, beach_region_crop, clutter_background,
                               compose_scene, downscale_scene, parse_ranges, random_pose)
from .errors import UserError
from .solvers.hierarchical import CALIBRATION_DIR, build_detector, calibration_key

PROG = "regrun-calibrate"

def background(kind, data_dir, size, gen):
    if kind == "clutter" or (kind == "mixed" and bool(torch.rand(1, generator=gen) < 0.5)):
        return clutter_background(size, gen)
    return beach_region_crop(data_dir, size, "calibration", gen)  # never the held-out or the paper's crops


def main(argv=None):
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("--template", default="synthetic",
                    help="synthetic | refine_crab | a shipped example (robot) | the path of a template YAML file")
    ap.add_argument("--version", default="v1", choices=("v1", "head"))
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--scale", type=int, default=2, choices=(1, 2))
    ap.add_argument("--scenes", type=int, default=12)
    ap.add_argument("--negatives", type=int, default=4)
    ap.add_argument("--max-angle", type=float, default=45.0)
    ap.add_argument("--articulation", nargs="*", default=None, metavar="KEY=DEG",
                    help="part ranges: KEY a part name, a piece of part names or other (default: the template's own)")
    ap.add_argument("--claw", type=float, default=None, help="shorthand for --articulation claw=DEG")
    ap.add_argument("--eye", type=float, default=None, help="shorthand for --articulation eye=DEG")
    ap.add_argument("--background", default="clutter", choices=("clutter", "beach", "mixed"))
    ap.add_argument("--size", type=int, nargs=2, default=(384, 512))
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)  # 2 threads ran ~10x slower on the loaded 2-core machine
    ap.add_argument("--set", nargs="*", default=[], help="solver config overrides, e.g. leaf.angle_step=5")
    ap.add_argument("--grey", action="store_true", help="grey scenes and the template's grey: the file a grey photo "
                    "of the template is judged by (NAME_grey)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = compose(["problem=crab_detection", "solver=hierarchical", *[f"solver.{s}" for s in args.set]]).solver
    try:
        full = load_template(args.template, args.data_dir, args.version)
        art = articulation_ranges(full, parse_ranges(args.articulation, claw=args.claw, eye=args.eye))
    except UserError as exc:  # one line and exit 2, as regrun's
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # the template matched: with --grey its grey, which names the file (and the scenes are grey photos, below)
    matched = grey_template(full) if args.grey else full
    template = matched.downscaled(args.scale)
    det = build_detector(cfg, template, args.scale, grey=args.grey)  # grey: the grey scenes' coarse pruning
    gen = torch.Generator().manual_seed(args.seed)
    size = tuple(args.size)

    def grey(scene: Scene) -> Scene:  # a grey template's scenes are grey photos (the same draws as in colour)
        return Scene(luma(scene.image), scene.truth, scene.label) if args.grey else scene

    t0 = time.perf_counter()
    scenes, negatives = [], []
    for _ in range(args.scenes):
        centre, angle, turns = random_pose(gen, size, full, args.max_angle, art)
        bg = background(args.background, args.data_dir, size, gen)
        scenes.append(downscale_scene(grey(compose_scene(full, bg, centre, angle, turns)), args.scale))
    for _ in range(args.negatives):
        negatives.append(downscale_scene(grey(Scene(background(args.background, args.data_dir, size, gen),
                                                    Truth(None), "template-free")), args.scale))
    t_scenes = time.perf_counter() - t0
    t0 = time.perf_counter()
    s = args.scale
    report = calibrate(det, scenes, negatives, tol_px=3.0 / s, far_px=10.0 / s, progress=print)
    t_cal = time.perf_counter() - t0
    folder, key = calibration_home(matched, args.scale)
    name = calibration_key(cfg, key)
    out = Path(args.out) if args.out else (CALIBRATION_DIR / f"crab_{name}.yaml" if folder is None
                                           else folder / f"{name}.yaml")
    meta = {"template": key, "grey": bool(args.grey), "scenes": args.scenes, "negatives": args.negatives, "max_angle": args.max_angle,
            "articulation": art, "background": args.background,
            "size": list(size), "seed": args.seed, "overrides": list(args.set),
            "seconds": round(t_scenes + t_cal, 1)}
    save_calibration(out, det, report, meta)
    print(f"scenes {t_scenes:.1f} s, calibration {t_cal:.1f} s -> {out}")
    for node, r in report.items():
        print(f"{node:11s} gamma {r['gamma']:.4g}  alpha {r['alpha']:.4g}  successes <= {r['success_max']:.4g} "
              f"({r['n_success']} found, {r['n_missed']} missed)  failures >= {r['failure_min']:.4g}  "
              f"{'separable' if r['separable'] else 'NOT separable: %d misclassified' % r['misclassified']}")


if __name__ == "__main__":
    main()
