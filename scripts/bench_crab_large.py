"""Time and peak memory of the issue's "done when" command against the scene's size (issue 17 §4: large scenes
with bounded memory; docs/detection.md, "Held-out batch heldout15 and large scenes"): square clutter scenes of
each size with two of the authors' crabs (one per half, angles over the whole circle, claws +-20, eyes +-8 deg),
saved as RGB PNG, each run `--repeats` times as a fresh `python -m regrun.cli problem=crab_detection
problem.template=refine_crab problem.scene.source=file problem.scene.path=FILE` (one thread, half size, the
motif cache warmed by a first run that is not counted); CPU seconds (user + sys) and peak RSS of each process,
the detections judged as bench_crab_files does.

    python scripts/bench_crab_large.py --sizes 512 1024 2048 --repeats 2 --data-dir ../shared/refine_data

`--batch detgrey` (docs/detection.md, "Large photos: time (detgrey)"): the held-out large-photo batch DETGREY, 1024x1024
to 2048x2048 grey (8/16-bit PNG, grey JPEG) and colour (RGB PNG, JPEG) files of the authors' crab (beach, clutter),
the synthetic crab and the robot, one to three objects and none, drawn by bench_crab_files' heldout15 generator and
judged as it judges; one fresh process each (one thread, half size), CPU-s and peak RSS:

    python scripts/bench_crab_large.py --batch detgrey --seed 16271 --data-dir ../shared/refine_data --out OUT/detgrey
"""
from __future__ import annotations

import argparse
import csv
import gc
import multiprocessing
import sys
from pathlib import Path

import h5py
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crab_files import heldout15_cases, judge, run_file, save  # noqa: E402  (the files bench's generator, run, judge)

from regrun.detection.crab_data import load_template  # noqa: E402
from regrun.detection.scenes import (  # noqa: E402
    articulation_ranges,
    clutter_background,
    compose_scene,
    parse_ranges,
    random_pose,
)


# detgrey's held-out batch (template, background, full-size rows x cols, objects, format): objects one per cell, at any
# angle (the heldout15 generator); the beach's held-out region is 1536 x 1212 px
DETGREY = (("refine_crab", "clutter", (1536, 2048), 2, "grey8.png"),
           ("refine_crab", "beach", (1024, 1024), 1, "greyq90.jpg"),
           ("refine_crab", "clutter", (2048, 2048), 3, "rgb.png"),
           ("refine_crab", "beach", (1024, 1200), 2, "q90.jpg"),
           ("synthetic", "clutter", (1024, 1536), 2, "grey16.png"),
           ("synthetic", "clutter", (2048, 1536), 3, "q90.jpg"),
           ("robot", "clutter", (1024, 1024), 1, "grey8.png"),
           ("robot", "clutter", (1536, 1536), 2, "rgb.png"),
           ("refine_crab", "clutter", (2048, 2048), 0, "grey16.png"),
           ("robot", "clutter", (1024, 1536), 0, "q90.jpg"))


def run_batch(args, out: Path) -> None:
    """The DETGREY files (heldout15's generator, seed args.seed), each run once and judged; a CSV per run. --jobs:
    that many files at once, each from its own forked worker (its CPU-s: that worker's children only)."""
    args.data_dir = str(Path(args.data_dir).resolve())
    cases = [c for c in heldout15_cases(args, DETGREY, borders=0) if not args.only or c[0] in args.only]
    for name, _, image, _, fmt in cases:
        save(image, out / f"{name}.{fmt.split('.')[-1]}", fmt)
    jobs = [(name, template, out / f"{name}.{fmt.split('.')[-1]}", truths, out, args.data_dir, args.override)
            for name, template, _, truths, fmt in cases]
    del cases  # the scenes are on disk: the workers (forked) need only the truths (a 2048^2 scene is 100 MB)
    gc.collect()
    if args.jobs > 1:
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            rows = pool.map(_run_case, jobs, chunksize=1)
    else:
        rows = [_run_case(j) for j in jobs]
    write_csv(rows, out / "bench_crab_large.csv")
    print(f"success {sum(r['success'] for r in rows)} / {len(rows)}")


def judge_runs(args, out: Path) -> None:
    """--judge: the DETGREY truths against run folders already there (any run_CASE/results.h5 under --out; a run
    whose bench was stopped), found and score only (CPU-s are the bench's)."""
    args.data_dir = str(Path(args.data_dir).resolve())
    for name, _, _, truths, _ in heldout15_cases(args, DETGREY, borders=0):
        for res in sorted(out.rglob(f"run_{name}/results.h5")):
            with h5py.File(res) as f:
                row = {"case": name, "run": str(res.parent.relative_to(out)), "score": round(float(f["metrics/score"][()]), 4),
                       "extraction_cached": int(f["metrics/extraction_cached"][()]),
                       "detection_cpu_s": round(float(f["tables/nodes/cpu_seconds"][()].sum()), 2)}
                t = f.get("tables/detections")
                row["instances"] = [] if t is None or "score" not in t else [
                    {k: float(t[k][i]) for k in t} for i in range(len(t["score"]))]
            judge(row, truths)
            row["n_detected"] = len(row.pop("instances"))
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)


def _run_case(job) -> dict:
    name, template, path, truths, out, data_dir, override = job
    row = {"case": name, "truth_angles": " ".join(f"{t.angle:.1f}" for t in truths)}
    row.update(run_file(template, path, out / f"run_{name}", data_dir, 2, override))
    if row["rc"] == 0:
        judge(row, truths)
        with h5py.File(out / f"run_{name}" / "results.h5") as f:  # a cold cache's extraction is in the CPU-s
            row["extraction_cached"] = int(f["metrics/extraction_cached"][()])
    else:
        row["success"] = 0
    row["n_detected"] = len(row.pop("instances", []))
    row.pop("metrics", None)
    print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    return row


def write_csv(rows: list, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    print(f"-> {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=9000, help="scene of side S: seed + S")
    ap.add_argument("--no-warm", action="store_true", help="skip the uncounted first run (the cache is warm)")
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--out", default="outputs/bench_crab_large")
    ap.add_argument("--batch", default=None, choices=("detgrey",), help="a held-out batch of files instead of --sizes")
    ap.add_argument("--only", nargs="*", default=None, help="--batch: case names to run (default: all)")
    ap.add_argument("--override", nargs="*", default=[], help="regrun overrides added to every run (seen sets)")
    ap.add_argument("--judge", action="store_true", help="--batch: judge the runs under --out, run nothing")
    ap.add_argument("--jobs", type=int, default=1, help="--batch: files run at once (CPU-s per process either way)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.batch:
        return judge_runs(args, out) if args.judge else run_batch(args, out)
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
    write_csv(rows, out / "bench_crab_large.csv")


if __name__ == "__main__":
    main()
