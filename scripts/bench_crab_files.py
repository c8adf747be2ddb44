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
    python scripts/bench_crab_files.py --batch heldout15 --seed 15171 --out outputs/heldout15_files
    python scripts/bench_crab_files.py --batch greycrab --seed 17411 --out outputs/greycrab_a
    python scripts/bench_crab_files.py --batch greycal --seed 17501 --out outputs/greycal_a
    python scripts/bench_crab_files.py --batch greyspeed --seed 17651 --out outputs/greyspeed_a
    python scripts/bench_crab_files.py --batch heldout16 --seed 16176 --own-template OUT/turtle/turtle.yaml --out OUT/c8
    python scripts/bench_crab_files.py --batch detimg --seed 17801 --own-template OUT/turtle/turtle.yaml --out OUT/detimg
    python scripts/bench_crab_files.py --batch detfast2 --seed 17901 --out OUT/detfast2
    python scripts/bench_crab_files.py --batch border17 --seed 17301 --out OUT/b1

`--batch border17` (docs/detection.md, "A claw outside the image: past the pruning"): the synthetic crab (clutter),
the authors' crab (held-out beach crops) and the robot (clutter), each cut at each of the four borders with exactly
one leaf not wholly inside and two of the root's children wholly inside (a detection is due, the outside leaf
reported missing), at angles uniform over the whole circle; and four controls where none is due: the synthetic and
the authors' crab with only one child wholly inside, a crab-free beach crop and clutter. 384x512 RGB PNGs.

`--batch heldout16` (docs/detection.md, "Held-out batch heldout16"): heldout15's list, plus phone-like JPEGs whose
pixels are stored turned with an EXIF orientation (the truth is the upright image a viewer shows), and files of a
template of the user's own (`--own-template`, its YAML; e.g. scripts/draw_turtle_template.py's turtle) in RGB, JPEG,
grey and cut by the border.

`--batch heldout15` (docs/detection.md, "Held-out batch heldout15 and large scenes"): the synthetic crab, the
authors' crab and the robot at angles uniform over the whole circle, scenes from 300x400 to 2048x2048 px, one to
three objects, crab-free scenes and objects cut by the border (an outside leaf must be reported missing), in every
file format above. Each row also records the process's peak RSS (ru_maxrss of the child).
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

from regrun.detection.crab_data import leaves_of, load_template
from regrun.detection.scenes import (
    articulation_ranges,
    beach_region_crop,
    clutter_background,
    compose_scene,
    parse_ranges,
    random_pose,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from bench_crab_border import leaf_inside  # noqa: E402  (one test of a leaf inside the image, shared)
FORMATS = ("grey8.png", "grey16.png", "rgb.png", "rgba.png", "palette.png", "q90.jpg", "grey16.tif", "rgb.tif")
# also written (not in heldout14's list): "greyq90.jpg", a grey JPEG (PIL mode L, quality 90)


def circ(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def save(image: torch.Tensor, path: Path, fmt: str) -> None:
    """A (3, H, W) scene in [0, 1] written as the file format `fmt` names."""
    rgb = (image.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    grey = image.clamp(0, 1).numpy().T.dot([0.299, 0.587, 0.114]).T  # (H, W) luma
    if fmt.startswith("grey8"):
        Image.fromarray((grey * 255).round().astype(np.uint8), "L").save(path)
    elif fmt.startswith("greyq90"):
        Image.fromarray((grey * 255).round().astype(np.uint8), "L").save(path, quality=90)
    elif fmt.startswith("grey16"):
        Image.fromarray((grey * 65535).round().astype(np.uint16)).save(path)  # mode I;16
    elif fmt.startswith("rgba"):
        Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA").save(path)
    elif fmt.startswith("palette"):
        Image.fromarray(rgb, "RGB").quantize(256).save(path)  # an adaptive 256-colour palette
    elif fmt.startswith("exif"):  # a phone's JPEG: pixels stored turned, the EXIF tag says how to show them upright
        tag = int(fmt[4])  # 6: the viewer turns the stored pixels 90 deg clockwise; 8: counter-clockwise
        stored = Image.fromarray(rgb, "RGB").transpose(Image.Transpose.ROTATE_90 if tag == 6 else Image.Transpose.ROTATE_270)
        exif = Image.Exif()
        exif[0x0112] = tag
        stored.save(path, quality=90, exif=exif)
    elif fmt.endswith("jpg"):
        Image.fromarray(rgb, "RGB").save(path, quality=90)
    else:
        Image.fromarray(rgb, "RGB").save(path)


def run_file(template: str, path: Path, out: Path, data_dir: str, scale: int, overrides=()) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "regrun.cli", "problem=crab_detection", f"problem.template={template}",
           "problem.scene.source=file", f"problem.scene.path={path}", f"problem.scale={scale}",
           f"problem.data_dir={data_dir}", f"hydra.run.dir={out}", *overrides]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # GNU time reports this child's own peak RSS (RUSAGE_CHILDREN's ru_maxrss is the largest child so far)
    usage = out.parent / f"{out.name}.time"
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(usage), *cmd], env=env, capture_output=True,
                          text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row = {"rc": proc.returncode, "cpu_s": round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2),
           "wall_s": round(time.perf_counter() - t0, 1),
           "peak_rss_mb": round(int(usage.read_text().split()[-1]) / 1024)}
    if proc.returncode != 0:
        row["message"] = (proc.stderr.strip().splitlines() or [""])[-1][:300]
        row["stderr_lines"] = len(proc.stderr.strip().splitlines())
        return row
    with h5py.File(out / "results.h5") as f:
        row["score"] = round(float(f["metrics/score"][()]), 4)
        row["metrics"] = " ".join(sorted(f["metrics"]))
        if "grey_calibration" in f["metrics"]:  # matched in grey: by the grey calibration file (1) or the colour one
            row["grey_calibration"] = int(f["metrics/grey_calibration"][()])
        t = f.get("tables/detections")
        row["instances"] = [] if t is None or "score" not in t else [
            {k: float(t[k][i]) for k in t} for i in range(len(t["score"]))]
    return row


def judge(row: dict, truths: list, outside: list | None = None) -> None:
    """Each truth's nearest instance within 5 px and 3 deg, every leaf visible within 3 deg, the other parents
    (eye pair) visible within 3 deg of the crab's angle; no instance left over. A truth cut by the border
    (`outside`: its leaves not wholly inside the image) may report those leaves and their parents missing, or
    right (a claw cut at its tip is still found): never visible at a wrong pose."""
    insts, used, oks, worst = row.get("instances", []), set(), [], 0.0
    outside = outside or [set()] * len(truths)
    for tr, out in zip(truths, outside):
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
            cut = n in out or (n not in tr.parts and bool(out))  # not wholly inside (a parent: one of its leaves)
            ok &= (vis and err <= 3) or (cut and not vis)
            worst = max(worst, err if vis else 0.0)
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
    ap.add_argument("--batch", default="heldout14", choices=("heldout14", "heldout15", "greycrab", "greycal", "greyspeed", "heldout16",
                                                       "border17", "detimg", "detfast2", "det18"),
                    help="which cases")
    ap.add_argument("--override", nargs="*", default=[], help="regrun overrides added to every run (seen sets)")
    ap.add_argument("--format", default=None, help="save every case in this format instead (e.g. rgb.png: the "
                    "colour control of a grey file's scene; the name keeps the batch's)")
    ap.add_argument("--write-only", action="store_true", help="write the image files and stop (no runs)")
    ap.add_argument("--own-template", default=None, help="--batch heldout16: the YAML of a template of the user's own "
                    "(its files are run with problem.template=THIS PATH)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    args.data_dir = str(Path(args.data_dir).resolve())
    out.mkdir(parents=True, exist_ok=True)
    if args.batch == "heldout15":
        cases = heldout15_cases(args)
    elif args.batch == "greycrab":  # the heldout15 generator on the GREYCRAB list, no border cases
        cases = heldout15_cases(args, GREYCRAB, borders=0)
    elif args.batch == "greycal":  # the same generator on the GREYCAL list
        cases = heldout15_cases(args, GREYCAL, borders=0)
    elif args.batch == "greyspeed":  # the same generator on the GREYSPEED list
        cases = heldout15_cases(args, GREYSPEED, borders=0)
    elif args.batch == "heldout16":  # heldout15's list and border cases, the EXIF JPEGs, the own template's files
        if not args.own_template:
            ap.error("--batch heldout16 needs --own-template PATH.yaml")
        args.own_template = str(Path(args.own_template).resolve())
        own = args.own_template
        cases = heldout15_cases(args, HELDOUT15 + EXIF + tuple((own, *spec) for spec in OWN),
                                borders=5, own_borders=2)
    elif args.batch == "detimg":  # palette files of four templates, grey files, a JPEG, a large colour and grey photo
        if not args.own_template:
            ap.error("--batch detimg needs --own-template PATH.yaml (the turtle)")
        args.own_template = str(Path(args.own_template).resolve())
        cases = heldout15_cases(args, tuple((args.own_template if t == "own" else t, *spec) for t, *spec in DETIMG),
                                borders=0)
    elif args.batch == "detfast2":  # 384x512-class colour, JPEG, grey, palette and crab-free files, one 2048^2 photo
        cases = heldout15_cases(args, DETFAST2, borders=0)
    elif args.batch == "det18":  # one file per format a user has; "own": a robot of the user's own (--own-template)
        if not args.own_template:
            ap.error("--batch det18 needs --own-template PATH.yaml")
        args.own_template = str(Path(args.own_template).resolve())
        cases = heldout15_cases(args, tuple((args.own_template if t == "own" else t, *spec) for t, *spec in DET18),
                                borders=0)
    elif args.batch == "border17":  # every border, one leaf outside; border and object-free controls
        cases = border17_cases(args)
    else:
        cases = heldout14_cases(args)
    rows = []
    for name, template, image, truths, fmt, *outside in cases:
        if args.only and name not in args.only:
            continue
        fmt = args.format or fmt
        path = out / (name if name.endswith(fmt.split(".")[-1]) else f"{name}.{fmt.split('.')[-1]}")
        save(image, path, fmt)
        if args.write_only:
            print(path, " ".join(f"{t.angle:.1f}" for t in truths or []))
            continue
        row = {"case": name, "template": template, "file": path.name, "size": f"{image.shape[1]}x{image.shape[2]}",
               "truth_angles": " ".join(f"{t.angle:.1f}" for t in truths or [])}
        if outside:
            row["leaves_outside"] = "+".join(sorted(set().union(*outside[0])))
        row.update(run_file(template, path, out / f"run_{name.replace('.', '_')}", args.data_dir, args.scale,
                            args.override))
        if truths is None:
            row["success"] = int(row["rc"] == 2 and row.get("stderr_lines", 0) == 1)
        elif row["rc"] == 0:
            judge(row, truths, outside[0] if outside else None)
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


# greycrab (docs/detection.md, "Grey photos of a coloured template"): grey 8-bit PNG and 16-bit TIFF files of the
# three coloured templates, one, two and no objects (template, background, full-size rows x cols, objects, format)
GREYCRAB = (("synthetic", "clutter", (384, 512), 1, "grey8.png"),
            ("synthetic", "clutter", (480, 640), 1, "grey16.tif"),
            ("synthetic", "clutter", (480, 720), 2, "grey8.png"),
            ("synthetic", "clutter", (384, 512), 0, "grey8.png"),
            ("refine_crab", "beach", (384, 512), 1, "grey8.png"),
            ("refine_crab", "clutter", (480, 640), 1, "grey16.tif"),
            ("refine_crab", "clutter", (512, 768), 2, "grey8.png"),
            ("refine_crab", "clutter", (384, 512), 0, "grey8.png"),
            ("refine_crab", "beach", (384, 512), 0, "grey16.tif"),
            ("robot", "clutter", (384, 512), 1, "grey8.png"),
            ("robot", "clutter", (480, 640), 1, "grey16.tif"),
            ("robot", "clutter", (384, 512), 0, "grey8.png"))

# greycal (docs/detection.md, "Grey calibrations"): grey 8-bit PNG, 16-bit PNG and grey JPEG files of the three
# coloured templates; one, several and no objects; up to 1024x1536 (the large grey photo heldout15 missed)
GREYCAL = (("synthetic", "clutter", (384, 512), 1, "grey8.png"),
           ("synthetic", "clutter", (480, 640), 1, "greyq90.jpg"),
           ("synthetic", "clutter", (600, 1000), 3, "grey16.png"),
           ("synthetic", "clutter", (384, 512), 0, "greyq90.jpg"),
           ("refine_crab", "beach", (384, 512), 1, "grey8.png"),
           ("refine_crab", "clutter", (480, 640), 1, "grey16.png"),
           ("refine_crab", "clutter", (512, 768), 2, "greyq90.jpg"),
           ("refine_crab", "clutter", (1024, 1536), 3, "grey8.png"),
           ("refine_crab", "clutter", (384, 512), 0, "grey8.png"),
           ("refine_crab", "beach", (480, 640), 0, "greyq90.jpg"),
           ("robot", "clutter", (384, 512), 1, "grey8.png"),
           ("robot", "clutter", (480, 640), 1, "greyq90.jpg"),
           ("robot", "clutter", (400, 720), 2, "grey16.png"),
           ("robot", "clutter", (384, 512), 0, "grey16.png"))

# greyspeed (docs/detection.md, "Grey photos at full size: time"): the authors' crab and the robot (and one synthetic
# crab file) in grey 8-bit PNG, 16-bit PNG and grey JPEG from 384x512 to 1536x2048, one to three objects and none
GREYSPEED = (("refine_crab", "clutter", (384, 512), 1, "grey8.png"),
             ("refine_crab", "beach", (480, 640), 1, "greyq90.jpg"),
             ("refine_crab", "clutter", (768, 1024), 2, "grey16.png"),
             ("refine_crab", "beach", (1280, 1024), 2, "greyq90.jpg"),
             ("refine_crab", "clutter", (1536, 2048), 3, "grey8.png"),
             ("refine_crab", "clutter", (384, 512), 0, "grey16.png"),
             ("synthetic", "clutter", (600, 800), 2, "greyq90.jpg"),
             ("robot", "clutter", (384, 512), 1, "grey8.png"),
             ("robot", "clutter", (480, 640), 1, "grey16.png"),
             ("robot", "clutter", (400, 720), 2, "grey8.png"),
             ("robot", "clutter", (600, 800), 1, "greyq90.jpg"),
             ("robot", "clutter", (1024, 1536), 2, "grey16.png"),
             ("robot", "clutter", (384, 512), 0, "grey8.png"))


# heldout15 (docs/detection.md, "Held-out batch heldout15 and large scenes"): template, background, full-size rows x
# cols, objects, format
HELDOUT15 = (
    ("synthetic", "clutter", (320, 420), 1, "grey8.png"),
    ("synthetic", "clutter", (384, 512), 1, "rgba.png"),
    ("synthetic", "clutter", (480, 640), 1, "q90.jpg"),
    ("synthetic", "clutter", (600, 800), 1, "grey16.tif"),
    ("synthetic", "clutter", (480, 720), 2, "rgb.png"),
    ("synthetic", "clutter", (600, 1000), 3, "palette.png"),
    ("synthetic", "clutter", (384, 512), 0, "rgb.png"),
    ("refine_crab", "beach", (320, 420), 1, "rgb.png"),
    ("refine_crab", "beach", (384, 512), 1, "grey8.png"),
    ("refine_crab", "beach", (480, 640), 1, "q90.jpg"),
    ("refine_crab", "beach", (600, 800), 1, "rgb.tif"),
    ("refine_crab", "beach", (1024, 1024), 1, "grey16.png"),
    ("refine_crab", "beach", (512, 768), 2, "rgb.png"),
    ("refine_crab", "beach", (600, 1000), 3, "q90.jpg"),
    ("refine_crab", "beach", (600, 800), 0, "rgb.png"),
    ("robot", "clutter", (384, 512), 1, "rgb.png"),
    ("robot", "clutter", (480, 640), 1, "grey8.png"),
    ("robot", "clutter", (400, 720), 2, "rgb.png"),
    ("robot", "clutter", (384, 512), 0, "q90.jpg"),
    ("synthetic", "clutter", (1024, 1024), 2, "rgb.png"),
    ("refine_crab", "clutter", (1536, 2048), 3, "grey8.png"),
    ("refine_crab", "clutter", (2048, 2048), 2, "rgb.png"),
    ("synthetic", "clutter", (2048, 2048), 0, "q90.jpg"))

# heldout16 (docs/detection.md, "Held-out batch heldout16"): phone-like JPEGs stored turned, with an EXIF orientation
EXIF = (("refine_crab", "beach", (768, 1024), 1, "exif6.jpg"),
        ("synthetic", "clutter", (600, 800), 2, "exif8.jpg"))
# and a template of the user's own (--own-template): background, rows x cols, objects, format
OWN = (("clutter", (384, 512), 1, "rgb.png"),
       ("clutter", (480, 640), 1, "q90.jpg"),
       ("clutter", (400, 720), 2, "rgb.png"),
       ("clutter", (600, 1000), 3, "palette.png"),
       ("clutter", (384, 512), 1, "grey8.png"),
       ("clutter", (480, 640), 1, "grey16.png"),
       ("clutter", (384, 512), 0, "rgb.png"),
       ("beach", (384, 512), 0, "q90.jpg"))

# detimg (docs/detection.md, "Palette, grey and large photos"): palette PNGs of the four templates ("own": the
# turtle of --own-template), grey 8/16-bit files, a JPEG, one 2048x2048 colour and one 1536x2048 grey photo
DETIMG = (("own", "clutter", (600, 1000), 3, "palette.png"),
          ("own", "clutter", (480, 640), 1, "palette.png"),
          ("synthetic", "clutter", (480, 720), 2, "palette.png"),
          ("refine_crab", "beach", (480, 640), 1, "palette.png"),
          ("robot", "clutter", (480, 640), 1, "palette.png"),
          ("synthetic", "clutter", (384, 512), 0, "palette.png"),
          ("synthetic", "clutter", (384, 512), 1, "grey8.png"),
          ("refine_crab", "clutter", (384, 512), 1, "grey16.png"),
          ("robot", "clutter", (480, 640), 1, "grey8.png"),
          ("refine_crab", "beach", (384, 512), 1, "q90.jpg"),
          ("refine_crab", "clutter", (2048, 2048), 2, "rgb.png"),
          ("synthetic", "clutter", (1536, 2048), 2, "grey8.png"))

# detfast2 (docs/detection.md, "A user's file in under 5 CPU-seconds"): the half-size time target's files: colour
# PNG, JPEG, grey 8/16-bit and palette files of the three templates at 384x512-class sizes, one crab-free file and
# one 2048x2048 colour photo
DETFAST2 = (("refine_crab", "beach", (384, 512), 1, "rgb.png"),
            ("synthetic", "clutter", (384, 512), 1, "rgb.png"),
            ("robot", "clutter", (384, 512), 1, "rgb.png"),
            ("refine_crab", "beach", (384, 512), 1, "q90.jpg"),
            ("robot", "clutter", (480, 640), 1, "q90.jpg"),
            ("synthetic", "clutter", (384, 512), 1, "grey8.png"),
            ("refine_crab", "clutter", (384, 512), 1, "grey16.png"),
            ("robot", "clutter", (384, 512), 1, "grey8.png"),
            ("synthetic", "clutter", (400, 720), 2, "palette.png"),
            ("refine_crab", "beach", (384, 512), 0, "rgb.png"),
            ("refine_crab", "clutter", (2048, 2048), 2, "rgb.png"))

# det18 (docs/detection.md, "Held-out batch heldout18"): issue 17's acceptance at the merged main, one file per
# format (RGB PNG, JPEG, 16-bit grey PNG, RGB TIFF, RGBA PNG, palette PNG); "own": a robot drawn with its own seed by
# make_example_template.py and calibrated by the user (--own-template)
DET18 = (("refine_crab", "beach", (384, 512), 1, "rgb.png"),
         ("synthetic", "clutter", (480, 640), 1, "q90.jpg"),
         ("refine_crab", "clutter", (384, 512), 1, "grey16.png"),
         ("refine_crab", "beach", (600, 800), 1, "rgb.tif"),
         ("synthetic", "clutter", (384, 512), 1, "rgba.png"),
         ("own", "clutter", (400, 720), 2, "palette.png"))


def heldout15_cases(args, specs=None, borders: int = 5, own_borders: int = 0) -> list:
    """heldout15 (docs/detection.md): (name, template, image, truths, format, outside) per file. Objects are
    placed one per cell of the scene (cells side by side along its longer side), each at an angle uniform over
    the whole circle, wholly inside its cell; border cases put the centre within half the template's diagonal of a random side and keep
    only draws where the rule asks for a detection (at least two of the root's children wholly inside)."""
    gen = torch.Generator().manual_seed(args.seed)
    temps = {"synthetic": load_template("synthetic"), "refine_crab": load_template("refine_crab", args.data_dir, "v1"),
             "robot": load_template("robot", args.data_dir, "v1")}
    if getattr(args, "own_template", None):  # a template of the user's own: its YAML's path is its name
        temps[args.own_template] = load_template(args.own_template)
    ranges = {k: articulation_ranges(t, parse_ranges(None, claw=20, eye=8) if k in ("synthetic", "refine_crab")
                                    else parse_ranges(None))
              for k, t in temps.items()}

    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=gen, dtype=torch.float64))

    def bg(kind, size):
        return beach_region_crop(args.data_dir, size, "heldout", gen) if kind == "beach" else clutter_background(size, gen)

    def pose(t, cell):
        """An angle uniform over the circle and a centre that keeps the turned template's box (plus 8 px for the
        parts' articulation) inside the cell: wholly inside, even where the cell is smaller than its diagonal."""
        (th, tw), (h, w) = temps[t].size, cell
        while True:
            angle = u(-180.0, 180.0)
            c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
            er, ec = 0.5 * (th * c + tw * s) + 8, 0.5 * (th * s + tw * c) + 8
            if 2 * er < h - 1 and 2 * ec < w - 1:
                break
        art = {n: u(-ranges[t].get(n, 0.0), ranges[t].get(n, 0.0)) if ranges[t].get(n) else 0.0
               for n in temps[t].parts}
        return (u(er, h - 1 - er), u(ec, w - 1 - ec)), angle, art

    def place(t, size, kind, n):
        img, truths, (h, w) = bg(kind, size), [], size
        for i in range(n):
            cell = (h, w // n) if w >= h else (h // n, w)
            centre, angle, art = pose(t, cell)
            off = (0, i * (w // n)) if w >= h else (i * (h // n), 0)
            sc = compose_scene(temps[t], img, (centre[0] + off[0], centre[1] + off[1]), angle, art)
            img = sc.image
            truths.append(sc.truth)
        return img, truths

    def border(t, size, kind):
        full, (h, w) = temps[t], size
        r = 0.5 * math.hypot(*full.size)
        kids = full.tree[full.root]
        while True:
            side = ("top", "bottom", "left", "right")[int(torch.randint(0, 4, (1,), generator=gen))]
            depth, along = u(2.0, r), u(r, (w if side in ("top", "bottom") else h) - 1 - r)
            centre = {"top": (depth, along), "bottom": (h - 1 - depth, along), "left": (along, depth),
                      "right": (along, w - 1 - depth)}[side]
            angle = u(-180.0, 180.0)
            art = {n: u(-ranges[t].get(n, 0.0), ranges[t].get(n, 0.0)) for n in full.parts}
            inside = {n: leaf_inside(full, n, centre, angle, art[n], size) for n in full.parts}
            seen = [k for k in kids if all(inside[leaf] for leaf in leaves_of(full.tree, k))]
            # a template whose root has two children (the turtle) has every leaf inside when both are: its border
            # case cuts the body (the turned template's box sticks out of the image), not a leaf
            c, s_ = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
            er, ec = 0.5 * (full.size[0] * c + full.size[1] * s_), 0.5 * (full.size[0] * s_ + full.size[1] * c)
            box_out = not (er <= centre[0] <= h - 1 - er and ec <= centre[1] <= w - 1 - ec)
            cut = not all(inside.values()) or (len(kids) == 2 and box_out)
            if len(seen) >= 2 and cut:
                sc = compose_scene(full, bg(kind, size), centre, angle, art)
                return sc.image, [sc.truth], [{n for n, v in inside.items() if not v}]

    cases = []
    for t, kind, size, n, fmt in specs or HELDOUT15:
        img, truths = place(t, size, kind, n)
        name = f"{Path(t).stem if t.endswith('.yaml') else t}_{kind}_{size[0]}x{size[1]}_{n}_{fmt.split('.')[0]}"
        cases.append((name, t, img, truths, fmt))
    for t, kind in (("synthetic", "clutter"), ("synthetic", "clutter"), ("refine_crab", "beach"),
                    ("refine_crab", "beach"), ("robot", "clutter"))[:borders] + \
            ((getattr(args, "own_template", None), "clutter"),) * own_borders:
        img, truths, outside = border(t, (384, 512), kind)
        label = Path(t).stem if t.endswith(".yaml") else t
        cases.append((f"border_{label}_{kind}_{len(cases)}", t, img, truths, "rgb.png", outside))
    return cases


def border17_cases(args) -> list:
    """border17 (docs/detection.md, "A claw outside the image: past the pruning"): (name, template, image, truths,
    format, outside) per file; see the module's docstring. A control with one child inside has truths [] (no
    instance wanted)."""
    gen = torch.Generator().manual_seed(args.seed)
    temps = {"synthetic": load_template("synthetic"), "refine_crab": load_template("refine_crab", args.data_dir, "v1"),
             "robot": load_template("robot", args.data_dir, "v1")}
    ranges = {k: articulation_ranges(t, parse_ranges(None, claw=20, eye=8) if k != "robot" else parse_ranges(None))
              for k, t in temps.items()}
    size, (h, w) = (384, 512), (384, 512)

    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=gen, dtype=torch.float64))

    def bg(kind):
        return beach_region_crop(args.data_dir, size, "heldout", gen) if kind == "beach" else clutter_background(size, gen)

    def cut(t, side, children):
        """A pose at `side` whose root has exactly `children` children wholly inside; with 2, exactly one leaf
        not wholly inside."""
        full = temps[t]
        r, kids = 0.5 * math.hypot(*full.size), full.tree[full.root]
        while True:
            depth, along = u(2.0, r), u(r, (w if side in ("top", "bottom") else h) - 1 - r)
            centre = {"top": (depth, along), "bottom": (h - 1 - depth, along), "left": (along, depth),
                      "right": (along, w - 1 - depth)}[side]
            angle = u(-180.0, 180.0)
            art = {n: u(-ranges[t].get(n, 0.0), ranges[t].get(n, 0.0)) for n in full.parts}
            inside = {n: leaf_inside(full, n, centre, angle, art[n], size) for n in full.parts}
            seen = [k for k in kids if all(inside[leaf] for leaf in leaves_of(full.tree, k))]
            out = {n for n, v in inside.items() if not v}
            if len(seen) == children and (children != 2 or len(out) == 1):
                return centre, angle, art, out

    cases = []
    for t, kind in (("synthetic", "clutter"), ("refine_crab", "beach"), ("robot", "clutter")):
        for side in ("top", "bottom", "left", "right"):
            centre, angle, art, out = cut(t, side, 2)
            sc = compose_scene(temps[t], bg(kind), centre, angle, art)
            cases.append((f"border_{t}_{side}_{angle:.0f}", t, sc.image, [sc.truth], "rgb.png", [out]))
    for t, kind, side in (("synthetic", "clutter", "left"), ("refine_crab", "beach", "bottom")):
        centre, angle, art, out = cut(t, side, 1)
        sc = compose_scene(temps[t], bg(kind), centre, angle, art)
        cases.append((f"control_{t}_{side}_one_child", t, sc.image, [], "rgb.png"))
    for t, kind in (("refine_crab", "beach"), ("synthetic", "clutter")):
        cases.append((f"control_{t}_{kind}_none", t, bg(kind), [], "rgb.png"))
    return cases


def heldout14_cases(args) -> list:
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
    return cases


if __name__ == "__main__":
    main()
