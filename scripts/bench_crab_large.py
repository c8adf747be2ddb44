"""Time and peak memory of the issue's "done when" command against the scene's size (issue 17 §4: large scenes
with bounded memory; docs/detection.md, "Held-out batch heldout15 and large scenes"): square clutter scenes of
each size with two of the authors' crabs (one per half, angles over the whole circle, claws +-20, eyes +-8 deg),
saved as RGB PNG, each run `--repeats` times as a fresh `python -m regrun.cli problem=crab_detection
problem.template=refine_crab problem.scene.source=file problem.scene.path=FILE` (one thread, half size, the
motif cache warmed by a first run that is not counted); CPU seconds (user + sys) and peak RSS of each process,
the detections judged as bench_crab_files does.

    python scripts/bench_crab_large.py --sizes 512 1024 2048 --repeats 2 --data-dir ../shared/refine_data
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crab_files import judge, run_file, save  # noqa: E402  (the same run and judge as the files bench)

from regrun.detection.crab_data import load_template  # noqa: E402
from regrun.detection.scenes import (  # noqa: E402
    articulation_ranges,
    clutter_background,
    compose_scene,
    parse_ranges,
    random_pose,
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=9000, help="scene of side S: seed + S")
    ap.add_argument("--no-warm", action="store_true", help="skip the uncounted first run (the cache is warm)")
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--out", default="outputs/bench_crab_large")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_dir = str(Path(args.data_dir).resolve())
    crab = load_template("refine_crab", data_dir, "v1")
    ranges = articulation_ranges(crab, parse_ranges(None, claw=20, eye=8))
    rows = []
    for side in args.sizes:
        gen = torch.Generator().manual_seed(args.seed + side)
        img, truths = clutter_background((side, side), gen), []
        for i in range(2):
            c, a, art = random_pose(gen, (side, side // 2), crab, 180.0, ranges)
            sc = compose_scene(crab, img, (c[0], c[1] + i * (side // 2)), a, art)
            img = sc.image
            truths.append(sc.truth)
        path = out / f"two_{side}.png"
        save(img, path, "rgb.png")
        if not args.no_warm:
            run_file("refine_crab", path, out / f"warm_{side}", data_dir, 2)  # the motif cache, not counted
        for r in range(args.repeats):
            row = {"side": side, "megapixels": round(side * side / 1e6, 2), "repeat": r}
            row.update(run_file("refine_crab", path, out / f"run_{side}_{r}", data_dir, 2))
            judge(row, truths)
            row["n_detected"] = len(row.pop("instances", []))
            row.pop("metrics", None)
            rows.append(row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    with (out / "bench_crab_large.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    print(f"-> {out / 'bench_crab_large.csv'}")


if __name__ == "__main__":
    main()
