"""Time and score crab detection: extraction of the non-leaf motifs once, then detection per scene, at full size
and downscaled by 2. Prints one row per scene and stores them as CSV (default outputs/bench_crab_detection.csv).

    python scripts/bench_crab_detection.py                       # synthetic crab, generated scenes
    python scripts/bench_crab_detection.py --paper --set leaf.angle_max=60 spike.angle_max=50
                                                                 # the authors' v1 crab on the paper's 5 scenes
                                                                 # (calibrated for that range, not the circle)
    python scripts/bench_crab_detection.py --registrars exhaustive descent   # both registrars, same scenes
    python scripts/bench_crab_detection.py --template robot --max-angle 180  # another template (a shipped example
                                                                 # or PATH.yaml), its parts within their own ranges
    python scripts/bench_crab_detection.py --template refine_crab --background beach --max-angle 180 --random 20
                                                                 # the authors' crab on held-out beach crops
    python scripts/bench_crab_detection.py --grey ...            # the same scenes in grey, matched in grey

--registrars compares stride registrars in one run (solver.registrar; `--set descent.start_step=20` etc. tune
them). A descent run without its own calibration file uses the exhaustive search's file with `--calibration
exhaustive`: valid when solver.descent.spike_blur = 0, where both registrars minimise the same masked L2 costs.
(The old names covering / unrolled are accepted too.)

Settings are the `hierarchical` solver's defaults with the shipped calibration; threads are pinned (--threads).
Wall time (*_s) and process CPU time (*_cpu_s) are both printed: on a shared, loaded machine the CPU time of a
one-thread run is the better estimate of the time on an idle core.
"""
from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import torch

from regrun.config import compose
from regrun.detection.calibration import calibration_home, load_calibration, truth_joint
from regrun.detection.crab_data import grey_template, load_template, luma
from regrun.detection.instances import find_instances
from regrun.detection.scenes import (
    PAPER_ANGLES,
    Scene,
    Truth,
    beach_region_crop,
    clutter_background,
    compose_scene,
    articulation_ranges,
    downscale_scene,
    paper_scene,
    parse_ranges,
    random_pose,
)
from regrun.solvers.hierarchical import PART_RADIUS, auto_calibration_file, build_detector, calibration_path


def circ(a: float, b: float) -> float:
    """|a - b| in degrees on the circle."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def scenes_for(args, full):
    if args.paper:
        return [paper_scene(args.data_dir, a, full) for a in PAPER_ANGLES]
    gen = torch.Generator().manual_seed(args.seed)
    out = []
    size = tuple(args.size)
    # beach: crops of the photograph's held-out region (cols < 1212), never calibration's
    background = (clutter_background if args.background == "clutter" else
                  lambda sz, g: beach_region_crop(args.data_dir, sz, "heldout", g))
    for angle in args.angles:
        centre, _, art = random_pose(gen, size, full, 0.0, args.ranges)
        out.append(compose_scene(full, background(size, gen), centre, angle, art,
                                 label=f"generated {angle:g} deg"))
    for _ in range(args.random):
        centre, angle, art = random_pose(gen, size, full, args.max_angle, args.ranges)
        out.append(compose_scene(full, background(size, gen), centre, angle, art,
                                 label=f"random {angle:.1f} deg"))
    if args.only is not None:  # the same scenes, a few of them (rerunning some of a set's scenes)
        out = [s for s in out if any(abs(round(s.truth.angle, 1) - a) < 0.051 for a in args.only)]
    for i in range(args.negatives):
        out.append(Scene(background(size, gen), Truth(None), f"crab-free {i}"))
    for i in range(args.pairs):
        # two crabs side by side in a scene 1.4x as wide, each in its own half, angles over the circle
        wide = (size[0], int(1.4 * size[1]))
        img, truths = background(wide, gen), []
        for half in (0, 1):
            centre, angle, art = random_pose(gen, (wide[0], wide[1] // 2), full, args.max_angle, args.ranges)
            sc = compose_scene(full, img, (centre[0], centre[1] + half * (wide[1] // 2)), angle, art)
            img = sc.image
            truths.append(sc.truth)
        out.append(Scene(img, truths[0], f"two crabs {i}: {truths[0].angle:.1f}, {truths[1].angle:.1f} deg"))
        PAIRS[out[-1].label] = truths
    return out


PAIRS: dict[str, list] = {}  # label of a two-crab scene -> both truths (full size)


def instance_success(inst, truth, full, scale, motifs=None, template_centre=None) -> tuple[bool, float]:
    """The run's success rule (problems/crab_detection.py) for one instance against one truth, less its score
    window: centre within 5 full-size px, every node of the tree below the root seen (the parts, and, given the
    detection's motifs and template centre, the parent nodes: the eye pair) and within 3 deg (a parent: of the
    crab's angle, with which it is rigid; its joint within 5 full-size px). Returns (success, the largest angle
    error)."""
    if inst is None or scale * math.dist(inst.centre, truth.centre) > 5:
        return False, float("nan")
    names = [n for n in full.parts if n in truth.parts]
    errs = [circ(inst.parts[n].angle, truth.parts[n][2]) for n in names if inst.parts[n].visible]
    ok = len(errs) == len(names)
    if motifs is not None:
        for n in (n for n in inst.parts if n not in full.parts):
            p = inst.parts[n]
            r, c, a = truth_joint(motifs, template_centre, n, truth)
            ok &= p.visible and scale * math.dist((p.row, p.col), (r, c)) <= 5
            if p.visible:
                errs.append(circ(p.angle, a))
    return ok and max(errs, default=0) <= 3, max(errs, default=float("nan"))


def summary(rows: list[dict]) -> list[str]:
    """A markdown table: per registrar, scale and kind of scene (one crab, two crabs, crab-free), the count of
    successes (no instance, for crab-free scenes) and the ranges of scores, errors and detection CPU time."""
    def kind(r):
        if "false_positive" in r:
            return "crab-free"
        return "two crabs" if r["scene"].startswith("two crabs") else "one crab"

    def span(vals, fmt="{:.4g}"):
        vals = [v for v in vals if v == v]  # drop NaN
        if not vals:
            return "-"
        lo, hi = fmt.format(min(vals)), fmt.format(max(vals))
        return lo if lo == hi else f"{lo} - {hi}"

    out = ["| registrar | scale | scenes | kind | success | scores | instances | centre error max (px) "
           "| worst part angle (deg) | detection CPU s (median) |", "|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["registrar"], r["scale"], kind(r)), []).append(r)
    for (reg, scale, k), rs in groups.items():
        n = len(rs)
        ok = n - sum(r["false_positive"] for r in rs) if k == "crab-free" else sum(r["success"] for r in rs)
        cpu = sorted(r["detection_cpu_s"] for r in rs)
        parts = [r.get("instance_part_angle_error_max", float("nan")) for r in rs]
        out.append(f"| {reg} | {scale} | {n} | {k} | {ok} / {n} | {span([r['score'] for r in rs])} "
                   f"| {span([r['n_detected'] for r in rs], '{:d}')} "
                   f"| {span([r.get('centre_error_px', float('nan')) for r in rs]) if k != 'crab-free' else '-'} "
                   f"| {span(parts) if k == 'one crab' else '-'} | {span(cpu, '{:.1f}')} ({cpu[n // 2]:.1f}) |")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paper", action="store_true")
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--angles", type=float, nargs="*", default=[0.0, 22.5, 45.0])
    ap.add_argument("--random", type=int, default=0, help="more scenes at random angles within +-max-angle")
    ap.add_argument("--max-angle", type=float, default=45.0)
    ap.add_argument("--negatives", type=int, default=0, help="crab-free scenes")
    ap.add_argument("--background", default="clutter", choices=("clutter", "beach"),
                    help="generated scenes: procedural clutter, or crops of the beach photograph's held-out region "
                         "(cols < 1212: disjoint from calibration's crops; scenes.BEACH_REGIONS)")
    ap.add_argument("--pairs", type=int, default=0, help="two-crab scenes (random angles within +-max-angle)")
    ap.add_argument("--template", default="synthetic",
                    help="synthetic | a shipped example (robot) | PATH.yaml (--paper: the authors' v1 crab)")
    ap.add_argument("--articulation", nargs="*", default=None, metavar="KEY=DEG",
                    help="part ranges: KEY a part name, a piece of part names or other (default: the template's own: "
                         "the crabs' claws 15, eyes 5)")
    ap.add_argument("--claw", type=float, default=None, help="shorthand for --articulation claw=DEG")
    ap.add_argument("--eye", type=float, default=None, help="shorthand for --articulation eye=DEG")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--only", type=float, nargs="*", default=None,
                    help="of the one-crab scenes, only those whose angle rounds to one of these (0.1 deg)")
    ap.add_argument("--size", type=int, nargs=2, default=(384, 512), help="generated scenes: rows cols, full size")
    ap.add_argument("--registrars", nargs="+", default=["exhaustive"],
                    choices=("exhaustive", "descent", "covering", "unrolled"))
    ap.add_argument("--calibration", default="own", choices=("own", "exhaustive", "covering"),
                    help="own: each registrar's shipped file; exhaustive (or covering): the exhaustive search's file "
                         "for every registrar")
    ap.add_argument("--set", nargs="*", default=[], help="solver config overrides, e.g. descent.start_step=20")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    ap.add_argument("--out", default="outputs/bench_crab_detection.csv")
    ap.add_argument("--grey", action="store_true", help="every scene in grey (crab_data.luma, what a grey file of it "
                    "is read as, unrounded) and the template matched in grey, as the problem does for a grey scene")
    ap.add_argument("--grey-calibration", default="grey", choices=("grey", "colour"),
                    help="with --grey: the grey template's calibration file (NAME_grey; the colour one where it has "
                         "none, as the problem falls back) or the colour one's")
    ap.add_argument("--margins", action="store_true", help="per node, its smallest stride loss over its gamma "
                    "(below 1 a stride gets weight 1; on crab-free scenes, how near a false detection came)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    kind, version = ("refine_crab", "v1") if args.paper else (args.template, "v1")
    full = load_template(kind, args.data_dir, version)
    args.ranges = articulation_ranges(full, parse_ranges(args.articulation, claw=args.claw, eye=args.eye))
    scenes = scenes_for(args, full)
    matched = full
    if args.grey:  # the calibration: the grey template's where it has one (--grey-calibration, below)
        scenes = [Scene(luma(sc.image), sc.truth, sc.label) for sc in scenes]
        matched = grey_template(full)
    rows = []
    for registrar, scale in [(r, s) for s in args.scales for r in args.registrars]:
        cfg = compose(["problem=crab_detection", "solver=hierarchical", f"solver.registrar={registrar}",
                       *[f"solver.{o}" for o in args.set]]).solver
        folder, key = calibration_home(full, scale)
        det = build_detector(cfg, matched.downscaled(scale).to(dtype=dtype), scale, grey=args.grey)
        cal_cfg = cfg.copy() if args.calibration == "own" else compose(
            ["problem=crab_detection", "solver=hierarchical", "solver.registrar=exhaustive"]).solver
        grey_key = calibration_home(matched, scale)[1]
        if args.grey and args.grey_calibration == "grey" and auto_calibration_file(cal_cfg, grey_key, folder).is_file():
            key = grey_key
        cal_file = calibration_path(cal_cfg, key, folder)
        load_calibration(cal_file, det)
        print(f"calibration {cal_file.name}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        det.extract()
        t_ext, c_ext = time.perf_counter() - t0, time.process_time() - c0
        for sc in scenes:
            s = downscale_scene(sc, scale)
            t0, c0 = time.perf_counter(), time.process_time()
            d = det.detect(s.image.to(dtype))
            t_det, c_det = time.perf_counter() - t0, time.process_time() - c0
            root = d.nodes[d.root]
            k = root.best()
            other = float(torch.cat((root.weights[:k], root.weights[k + 1:])).max())
            found = find_instances(d, 0.5 * min(det.template.size), 0.5, PART_RADIUS / scale, judge=det.judge_in_instance)
            tr = s.truth
            row = {"registrar": registrar, "calibration": cal_file.stem, "scale": scale, "scene": sc.label, "threads": args.threads, "dtype": args.dtype,
                   "extraction_s": round(t_ext, 2), "extraction_cpu_s": round(c_ext, 2),
                   "detection_s": round(t_det, 2), "detection_cpu_s": round(c_det, 2), "score": round(d.score, 4),
                   "other_weight_max": round(other, 4), "n_detected": len(found),
                   # leaves the top-down completion added (solver.complete), as node:strides
                   "completed": " ".join(f"{n}:{c}" for n, c in d.completed.items())}
            if args.margins:  # how near each node's best stride came to its threshold: min loss / gamma
                row.update({f"loss_over_gamma_{n}": round(float(r.fit.loss.min()) / det.settings[n].gamma, 3)
                            for n, r in d.nodes.items()})
                row.update({f"below_gamma_{n}": int((r.fit.loss < det.settings[n].gamma).sum())
                            for n, r in d.nodes.items()})  # strides of weight 1 (one per object where gamma separates)
            if sc.label in PAIRS:  # both crabs found as instances (nearest each), nothing else
                truths = [t.downscaled(scale) for t in PAIRS[sc.label]]
                oks, cerr = [], []
                for t in truths:
                    inst = min(found, key=lambda i: math.dist(i.centre, t.centre)) if found else None
                    oks.append(instance_success(inst, t, full, scale, d.motifs, d.template_centre)[0])
                    cerr.append(scale * math.dist(inst.centre, t.centre) if inst else float("nan"))
                row.update({"centre_error_px": round(max(cerr), 2), "true_angle": PAIRS[sc.label][0].angle,
                            "success": int(all(oks) and len(found) == 2 and 1.8 <= d.score <= 2.2)})
            elif tr.centre is not None:
                jr = truth_joint(d.motifs, d.template_centre, d.root, tr)
                angles = [circ(d.pose(n)["angle"], tr.parts[n][2]) for n in full.parts if n in tr.parts]
                joints = [math.dist((d.pose(n)["row"], d.pose(n)["col"]), truth_joint(d.motifs, d.template_centre,
                                                                                   n, tr)[:2]) for n, _ in det.order]
                inst = min(found, key=lambda i: math.dist(i.centre, tr.centre)) if found else None
                ok, part_err = instance_success(inst, tr, full, scale, d.motifs, d.template_centre)
                row["parts_missing"] = " ".join(n for n, p in inst.parts.items() if not p.visible) if inst else "all"
                row.update({"centre_error_px": round(scale * math.dist(inst.centre if inst else d.centre(), tr.centre), 2),
                            "peak_error_px": round(scale * math.dist(inst.peak if inst else d.peak(), jr[:2]), 2),
                            "part_angle_error_max": round(max(angles), 2) if angles else float("nan"),
                            "node_joint_error_max_px": round(scale * max(joints), 2),
                            "crab_angle": round(inst.angle if inst else d.pose(d.root)["angle"], 2),
                            "true_angle": round(tr.angle, 2), "instance_part_angle_error_max": round(part_err, 2),
                            "success": int(ok and 0.9 <= d.score <= 1.1
                                           and scale * math.dist(inst.peak, jr[:2]) <= 5)})
            else:
                row["false_positive"] = int(len(found) > 0)
            rows.append(row)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        # every column any row has (crab, crab-free and two-crab rows differ), in first-seen order
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        w.writeheader()
        w.writerows(rows)
    table = summary(rows)
    out.with_suffix(".md").write_text("\n".join(table) + "\n")
    print("\n".join(table))
    print(f"-> {out}, {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
