"""Objects at another size than the template (crabscale; docs/detection.md, "Objects at another size than the
template"): scenes enlarged or shrunk as a user's photo is (PIL bicubic, sizes rounded), each run as a file

    regrun problem=crab_detection problem.template=T problem.scene.source=file problem.scene.path=FILE \
        problem.scene.object_scale=K

in a fresh process (one thread; bench_crab_files.run_file), with K the enlargement and, for the baseline, without
object_scale (main's code: --repo ../main). Judged against the truth the script keeps, mapped to the photo's
pixels: one instance within 5 photo px of the true centre and 3 deg of the true angle (success); the centre error
of the nearest instance; CPU time of the whole process.

    python scripts/bench_crab_scale.py --batch seen --out OUT/crabscale_seen
    python scripts/bench_crab_scale.py --batch heldout --out OUT/crabscale_heldout [--repo ../main] [--no-scale]
    python scripts/bench_crab_scale.py --batch seen --scales [1,1.5,2] --out OUT/crabscale_list
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from regrun.detection.crab_data import load_template, synthetic_crab
from regrun.detection.scenes import clutter_background, compose_scene, paper_scene, photo_point, random_pose

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import bench_crab_files  # noqa: E402  (the fresh-process runner and its results-file reading, shared)

# name, template, scene (paper angle or generated seed), enlargement
BATCHES = {
    "seen": [("beach15_x2", "refine_crab", ("paper", 15.0), 2.0),
             ("synthetic77_x2", "synthetic", ("generated", 77), 2.0),
             ("beach15_x1.7", "refine_crab", ("paper", 15.0), 1.7)],
    "heldout": [("beach22.5_x1.5", "refine_crab", ("paper", 22.5), 1.5),
                ("beach22.5_x2", "refine_crab", ("paper", 22.5), 2.0),
                ("beach30_x0.75", "refine_crab", ("paper", 30.0), 0.75),
                ("synthetic5151_x2", "synthetic", ("generated", 5151), 2.0)],
}


def make_case(kind, arg, data_dir: str):
    """The scene at the template's size and its truth (centre, angle) in its pixels."""
    if kind == "paper":
        sc = paper_scene(data_dir, arg, load_template("refine_crab", data_dir, "v1", 0))
    else:  # the synthetic crab on clutter, pose (angle over the whole circle) drawn from the seed
        gen = torch.Generator().manual_seed(arg)
        full = synthetic_crab(0)
        bg = clutter_background((384, 512), gen)
        centre, angle, art = random_pose(gen, (384, 512), full, 180.0)
        sc = compose_scene(full, bg, centre, angle, art)
    return sc.image[:3], sc.truth.centre, sc.truth.angle


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", choices=sorted(BATCHES), default="seen")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--data-dir", default="../shared/refine_data", help="relative: to the working directory")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose regrun runs (baseline: main's)")
    ap.add_argument("--no-scale", action="store_true", help="run without problem.scene.object_scale (baseline)")
    ap.add_argument("--scales", help="a list searched in every case instead of its enlargement, e.g. [1,1.5,2]")
    ap.add_argument("--only", nargs="*", default=None, help="case names to run (default: all)")
    ap.add_argument("--override", nargs="*", default=[], help="regrun overrides added to every run (seen sets)")
    args = ap.parse_args(argv)
    args.data_dir = str(Path(args.data_dir).resolve())  # the runs start in their own directories
    bench_crab_files.REPO = args.repo.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, template, (kind, arg), k in BATCHES[args.batch]:
        if args.only and name not in args.only:
            continue
        img, centre, angle = make_case(kind, arg, args.data_dir)
        h, w = img.shape[-2:]
        size = (round(w * k), round(h * k))
        rgb = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        path = args.out / f"{name}.png"
        Image.fromarray(rgb, "RGB").resize(size, Image.BICUBIC).save(path)
        truth = photo_point(centre, (size[1] / h, size[0] / w))
        given = args.scales or k
        over = ([] if args.no_scale else [f"problem.scene.object_scale={given}"]) + args.override
        row = bench_crab_files.run_file(template, path, args.out / name, args.data_dir, 2, over)
        insts = row.get("instances", [])
        near = min(insts, key=lambda i: math.dist((i["centre_row"], i["centre_col"]), truth)) if insts else None
        err = math.dist((near["centre_row"], near["centre_col"]), truth) if near else math.nan
        ang = abs((near["angle_deg"] - angle + 180) % 360 - 180) if near else math.nan
        out = {"case": name, "photo": f"{size[1]}x{size[0]}", "object_scale": 1.0 if args.no_scale else given,
               "found_at": near.get("object_scale", math.nan) if near else math.nan,
               "rc": row["rc"], "score": row.get("score", math.nan), "n_detected": len(insts),
               "success": int(len(insts) == 1 and err <= 5 and ang <= 3), "centre_error_px": round(err, 2),
               "angle_error_deg": round(ang, 2), "cpu_s": row["cpu_s"], "wall_s": row["wall_s"],
               "message": row.get("message", "")}
        print(out, flush=True)
        rows.append(out)
    with open(args.out / "rows.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)


if __name__ == "__main__":
    main()
