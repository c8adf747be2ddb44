"""Where a half-size crab detection spends its time: one generated scene (synthetic crab at a random angle over the
whole circle, claws +-20 deg, eyes +-8 deg), the extraction from the motif cache, then one detection under cProfile
on one thread. Prints the detection's process CPU time, each node's wall seconds and the functions by own time
(docs/detection.md, "Starts from a coarse FFT search", was measured with it).

    python scripts/profile_crab_detection.py                                  # the defaults
    python scripts/profile_crab_detection.py solver.descent.coarse_step=0     # the multi-start descent before it

Wall times in the profile include the machine's load; read proportions from it and the CPU time from the first line.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch

from regrun.config import compose
from regrun.detection.calibration import load_calibration
from regrun.detection.crab_data import load_template
from regrun.detection.motif_cache import cache_dir, cached_extract
from regrun.detection.scenes import (
    clutter_background,
    compose_scene,
    downscale_scene,
    part_ranges,
    random_pose,
)
from regrun.solvers.hierarchical import build_detector, calibration_path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("overrides", nargs="*", help="solver config overrides, e.g. solver.descent.coarse_step=0")
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = compose(["problem=crab_detection", "solver=hierarchical", *args.overrides]).solver
    full = load_template("synthetic", "../shared/refine_data", "v1")
    det = build_detector(cfg, full.downscaled(2), 2)
    load_calibration(calibration_path(cfg, "synthetic_s2"), det)
    c0 = time.process_time()
    _, _, cached = cached_extract(det, cache_dir("auto"))
    print(f"extraction: {time.process_time() - c0:.2f} CPU-s ({'cached' if cached else 'extracted'})")
    gen = torch.Generator().manual_seed(args.seed)
    size = (384, 512)
    centre, angle, art = random_pose(gen, size, full, 180.0, part_ranges(full.parts, {"claw": 20.0, "eye": 8.0}))
    scene = downscale_scene(compose_scene(full, clutter_background(size, gen), centre, angle, art), 2)
    prof = cProfile.Profile()
    c0 = time.process_time()
    prof.enable()
    found = det.detect(scene.image)
    prof.disable()
    print(f"detection: {time.process_time() - c0:.2f} CPU-s; crab at {angle:.1f} deg, score {found.score:.4f}")
    total = sum(found.timings.values())
    print("nodes (wall s, share): " + ", ".join(f"{k} {v:.2f} ({v / total:.0%})" for k, v in found.timings.items()))
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
