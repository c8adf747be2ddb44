"""The issue's "done when" command on image files with a known truth (issue 17 §4, §5; docs/detection.md, "Held-out
batch heldout14"): generated scenes saved as the files a user has (8/16-bit grey PNG, RGB, RGBA, palette, JPEG,
16-bit grey and RGB TIFF), each also as an RGB PNG (the control: the same pixels less the format's loss), two-crab
and two-robot photos, and images smaller than the template; each run as

    regrun problem=crab_detection problem.template=T problem.scene.source=file problem.scene.path=FILE

in a fresh process (one thread, `python -m regrun.cli`, this checkout's regrun), the detections read back from the
results file's /tables/detections and judged against the truth the script kept: every crab found by one instance
(centre within 5 full-size px, angle within 3 deg, every part visible within 3 deg), no other instance. An image
too small must stop with exit 2 and one line. CPU time of each whole process from the OS (user + sys).

    python scripts/bench_crab_files.py --seed 14175 --out outputs/heldout14_files
"""
from __future__ import annotations

import argparse
import csv
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image

from regrun.detection.crab_data import load_template
from regrun.detection.scenes import (
    articulation_ranges,
    beach_region_crop,
    clutter_background,
    compose_scene,
    parse_ranges,
    random_pose,
)

REPO = Path(__file__).resolve().parent.parent
FORMATS = ("grey8.png", "grey16.png", "rgb.png", "rgba.png", "palette.png", "q90.jpg", "grey16.tif", "rgb.tif")


def circ(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def save(image: torch.Tensor, path: Path, fmt: str) -> None:
    """A (3, H, W) scene in [0, 1] written as the file format `fmt` names."""
    rgb = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    grey = image.clamp(0, 1).numpy().T.dot([0.299, 0.587, 0.114]).T  # (H, W) luma
    if fmt.startswith("grey8"):
        Image.fromarray((grey * 255).round().astype(np.uint8), "L").save(path)
    elif fmt.startswith("grey16"):
        Image.fromarray((grey * 65535).round().astype(np.uint16)).save(path)  # mode I;16
    elif fmt.startswith("rgba"):
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(path)
    elif fmt.startswith("palette"):
        Image.fromarray(rgb, "RGB").quantize(256).save(path)  # an adaptive 256-colour palette
    elif fmt.endswith("jpg"):
        Image.fromarray(rgb, "RGB").save(path, quality=90)
    else:
        Image.fromarray(rgb, "RGB").save(path)


def run_file(template: str, path: Path, out: Path, data_dir: str, scale: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "regrun.cli", "problem=crab_detection", f"problem.template={template}",
           "problem.scene.source=file", f"problem.scene.path={path}", f"problem.scale={scale}",
           f"problem.data_dir={data_dir}", f"hydra.run.dir={out}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"rc": proc.returncode, "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
           "wall_s": round(time.perf_counter() - t0, 1)}
    if proc.returncode != 0:
        row["message"] = (proc.stderr.strip().splitlines() or [""])[-1][:300]
        row["stderr_lines"] = len(proc.stderr.strip().splitlines())
        return row
    with h5py.File(out / "results.h5") as f:
        row["score"] = round(float(f["metrics/score"][()]), 4)
        row["metrics"] = " ".join(sorted(f["metrics"]))
        t = f.get("tables/detections")
        row["instances"] = [] if t is None or "score" not in t else [
            {k: float(t[k][i]) for k in t} for i in range(len(t["score"]))]
    return row


def judge(row: dict, truths: list) -> None:
    """Each truth's nearest instance within 5 px and 3 deg, every leaf visible within 3 deg, the other parents
    (eye pair) visible within 3 deg of the crab's angle; no instance left over."""
    insts, used, oks, worst = row.get("instances", []), set(), [], 0.0
    for tr in truths:
        best = min(range(len(insts)), key=lambda i: math.dist((insts[i]["centre_row"], insts[i]["centre_col"]),
                                                              tr.centre), default=None)
        if best is None:
            oks.append(False)
            continue
        k = insts[best]
        ok = math.dist((k["centre_row"], k["centre_col"]), tr.centre) <= 5 and circ(k["angle_deg"], tr.angle) <= 3
        for n in [c[: -len("_visible")] for c in k if c.endswith("_visible")]:
            a_true = tr.parts[n][2] if n in tr.parts else tr.angle
            vis = k[f"{n}_visible"] > 0.5
            err = circ(k[f"{n}_angle_deg"], a_true) if vis else float("inf")
            ok &= vis and err <= 3
            worst = max(worst, err)
        used.add(best)
        oks.append(ok)
    row["found"] = f"{sum(oks)}/{len(truths)}"
    row["extra_instances"] = len(insts) - len(used)
    row["worst_node_deg"] = round(worst, 2)
    row["success"] = int(all(oks) and len(insts) == len(truths))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=14175)
    ap.add_argument("--data-dir", default="../shared/refine_data", help="the refine_data folder")
    ap.add_argument("--out", default="outputs/bench_crab_files")
    ap.add_argument("--scale", type=int, default=2, help="problem.scale (2: the command's default, half size)")
    ap.add_argument("--only", nargs="*", default=None, help="case names to run (default: all)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    args.data_dir = str(Path(args.data_dir).resolve())
    out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    crab = load_template("refine_crab", args.data_dir, "v1")
    robot = load_template("robot", args.data_dir, "v1")
    crab_ranges = articulation_ranges(crab, parse_ranges(None, claw=20, eye=8))
    robot_ranges = articulation_ranges(robot, parse_ranges(None))
    size = (384, 512)
    cases = []  # (name, template, image, truths)

    def one(full, ranges, bg):
        centre, angle, art = random_pose(gen, size, full, 180.0, ranges)
        return compose_scene(full, bg, centre, angle, art)

    def two(full, ranges, bg):
        wide, truths, img = bg.shape[-2:], [], bg
        for half in (0, 1):
            centre, angle, art = random_pose(gen, (wide[0], wide[1] // 2), full, 180.0, ranges)
            sc = compose_scene(full, img, (centre[0], centre[1] + half * (wide[1] // 2)), angle, art)
            img = sc.image
            truths.append(sc.truth)
        return img, truths

    for fmt in FORMATS:  # the authors' crab on a held-out beach crop, one scene per format
        sc = one(crab, crab_ranges, beach_region_crop(args.data_dir, size, "heldout", gen))
        cases.append((f"crab_{fmt}", "refine_crab", sc.image, [sc.truth], fmt))
        cases.append((f"crab_{fmt}_control.png", "refine_crab", sc.image, [sc.truth], "rgb.png"))
    for i in range(2):  # the done-when command: two authors' crabs in one photo
        img, truths = two(crab, crab_ranges, beach_region_crop(args.data_dir, (384, 716), "heldout", gen))
        cases.append((f"two_crabs_{i}.png", "refine_crab", img, truths, "rgb.png"))
    img, truths = two(robot, robot_ranges, clutter_background((384, 716), gen))  # a user's own template
    cases.append(("two_robots.png", "robot", img, truths, "rgb.png"))
    sc = one(robot, robot_ranges, clutter_background(size, gen))
    cases.append(("robot.jpg", "robot", sc.image, [sc.truth], "q90.jpg"))
    beach = beach_region_crop(args.data_dir, size, "heldout", gen)
    cases.append(("no_crab_beach.png", "refine_crab", beach, [], "rgb.png"))
    for h, w in ((50, 50), (150, 200)):  # smaller than the template: exit 2, one line
        cases.append((f"small_{h}x{w}.png", "refine_crab", beach[:, :h, :w], None, "rgb.png"))
    rows = []
    for name, template, image, truths, fmt in cases:
        if args.only and name not in args.only:
            continue
        path = out / (name if name.endswith(fmt.split(".")[-1]) else f"{name}.{fmt.split('.')[-1]}")
        save(image, path, fmt)
        row = {"case": name, "template": template, "file": path.name, "size": f"{image.shape[1]}x{image.shape[2]}",
               "truth_angles": " ".join(f"{t.angle:.1f}" for t in truths or [])}
        row.update(run_file(template, path, out / f"run_{name.replace('.', '_')}", args.data_dir, args.scale))
        if truths is None:
            row["success"] = int(row["rc"] == 2 and row.get("stderr_lines", 0) == 1)
        elif row["rc"] == 0:
            judge(row, truths)
        else:
            row["success"] = 0
        row["n_detected"] = len(row.pop("instances", []))
        rows.append(row)
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "bench_crab_files.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"success {sum(r['success'] for r in rows)} / {len(rows)} -> {out / 'bench_crab_files.csv'}")


if __name__ == "__main__":
    main()
