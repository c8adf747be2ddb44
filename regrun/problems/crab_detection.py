"""Hierarchical, rotation-invariant detection of a crab template in a scene (seed 002 §4, App. A.4).

Data: the template (synthetic by default, the authors' crab from refine_data, a shipped example or a template file
of the user's own: detection/template_file.py) and one scene: generated at a
given rotation and position with optional articulation, on procedural clutter or the beach, or crab-free; one
of the paper's five beach scenes; or any image file. `scale: 2` downscales everything by 2 for fast runs.
Judging: the detection score (sum of the crab's occurrence map), every instance (detection/instances.py: NMS on
the crab's map), and, only where the scene has a truth, the crab's centre and peak against it, every part's angle,
and the largest weight of any other crab stride (the paper's "one stem of about 1"); a file has none.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from ..detection.calibration import calibration_home, truth_joint
from ..detection.instances import detections_table, merge_across_scales, shifted
from ..detection.crab_data import (
    REFINE_VERSIONS,
    colour_spread,
    coloured_pixels,
    grey_template,
    load_template,
    palette_template,
    read_palette,
)
from ..detection.scenes import (
    Scene,
    Truth,
    beach_background,
    clutter_background,
    compose_scene,
    downscale_scene,
    has_beach,
    image_scene,
    mosaic,
    paper_scene,
    part_ranges,
    photo_point,
    random_pose,
    resample_scene,
    resampled_size,
)
from ..imaging.io import resolve_data_path
from ..imaging.transforms import rotation_matrix
from ..errors import UserError, check_choice, check_float, check_int, check_numbers
from ..registry import register_problem
from ..solve_result import SolveResult
from .base import Problem

SOURCES = ("generated", "paper", "file")
# an instance's score is the share of one object's mass in its cell, about 1 for a whole object (1.003 the highest
# in docs/detection.md's runs): a threshold above this detects nothing, and problem.detect_threshold=50 (a
# percentage) ran to "nothing detected" under a warning about the objects' size (newuser25)
MAX_THRESHOLD = 1.5
BACKGROUNDS = ("clutter", "beach", "mixed")


# A scene is grey below this colour spread, a template coloured above it (crab_data.colour_spread; read_rgba gives
# a grey file exactly 0, the least coloured shipped template is 0.072)
GREY_SPREAD = 0.01


# ... unless it holds coloured pixels (channel spread above 0.05 of the mean brightness) at least this share of the
# template's own: a coloured object on a grey photo (the authors' crab turned 40 degrees on a grey astronaut, 512^2:
# mean spread 0.0055, yet 7.4k pixels above 0.05, the crab's own 7.2k of its 17.3k) was matched in grey and not found (score
# 0.000), in colour it is (score 1.000). A grey photo read as RGB (a JPEG of a grey picture) has no pixel above it.
COLOURED_SHARE = 0.1


def match_in_grey(image: torch.Tensor, template) -> bool:
    """Whether a coloured template is to be matched in grey: the scene is grey (a grey file, read as three equal
    channels, or an RGB file with hardly a coloured pixel) and the template is not. Its coloured motifs' masked L2
    against any grey is far above the calibrated thresholds (heldout15: 2 of 5 grey files found, 0 of 3 crabs in a
    large grey photo), while the template's own grey (crab_data.grey_template) is what a grey photo of it holds."""
    if colour_spread(template.image, template.mask) <= GREY_SPREAD or colour_spread(image) >= GREY_SPREAD:
        return False
    return coloured_pixels(image) < COLOURED_SHARE * coloured_pixels(template.image, template.mask)


def palette_shifts(full, matched) -> dict[str, float]:
    """Per part, the mean (over its pixels) RGB distance between its colours and their palette colours: what the
    file's palette did to the template's parts (0: a palette that holds them)."""
    return {k: float(torch.linalg.vector_norm(full.parts[k].image - p.image, dim=0)[p.mask > 0.5].mean())
            for k, p in matched.parts.items()}


def grey_leaf_warning(nodes: dict, leaves, n_instances: int, where: str, grey_file: bool = False) -> str:
    """Matched in grey, a leaf's threshold may not separate it from the clutter: with the colour calibration
    (docs/detection.md, greycrab) the robot's right arm had 13 strides of weight 1 in the one-robot grey file it
    missed, the authors' right claw 2 in the grey scene it missed (the crab's map window then holds an extra bump);
    a grey calibration (grey_file) was made on other scenes than the user's. Where gamma separates, each object gives
    each leaf one stride of weight 1 (eq. 14: loss <= gamma), so a leaf with more of them than the objects found
    says so; '' otherwise."""
    extra = {n: int((nodes[n].weights >= 1.0).sum()) for n in leaves}
    extra = {n: k for n, k in extra.items() if k > max(1, n_instances)}
    if not extra:
        return ""
    parts = ", ".join(f"{n} {k}" for n, k in extra.items())
    which = "the grey calibration" if grey_file else "the colour calibration"
    return (f"{where} is grey and was matched in grey with {which}, which does not separate every "
            f"part there: strides of weight 1 ({parts}) for {n_instances} object(s) found; objects near these false "
            "parts can be missed (docs/detection.md, greycrab and greycal)")


@register_problem("crab_detection")
class CrabDetection(Problem):
    offers = frozenset({"detection"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("problem.refine_version", cfg.refine_version, REFINE_VERSIONS)
        self.scale = check_int("problem.scale", cfg.scale, 1)
        if self.scale not in (1, 2):
            raise UserError(f"problem.scale={self.scale} is not valid; allowed: 1 (full size), 2 (downscaled by 2)")
        self.threshold = check_float("problem.detect_threshold", cfg.detect_threshold, 0.0)
        if self.threshold > MAX_THRESHOLD:
            raise UserError(f"problem.detect_threshold={cfg.detect_threshold} is above {MAX_THRESHOLD}, which no "
                            f"instance reaches: a score is the share of one object found, about 1 for a whole "
                            f"object (0.5 by default; a percentage p is p/100)")
        sc = cfg.scene
        check_choice("problem.scene.source", sc.source, SOURCES)
        if sc.source != "file" and sc.get("path") is not None:  # it ran the other scene and never read the photo
            raise UserError(f"problem.scene.path={sc.path!r} is a file but problem.scene.source={sc.source} does not "
                            "read it: add problem.scene.source=file to search your photo")
        self.background = None  # generated scenes: the background actually drawn (mixed picks one)
        # the full-size template makes the scene on the CPU and is not kept: only the run's copy stays
        full = load_template(cfg.template, cfg.data_dir, cfg.refine_version, cfg.template_seed)
        # the thresholds: the colour template's calibration (its name); matched in grey, the grey template's
        # (NAME_grey) where it exists (solvers/hierarchical.py: problem_calibration), else the colour one's
        self.calibration_dir, self.calibration_key = calibration_home(full, self.scale)
        scene = self._scene(sc, full)
        scene = self._object_scales(sc, scene, full)
        self.grey = match_in_grey(scene.image, full)
        # a palette file (PIL mode P): the template matched as the file's colours show it (crab_data.palette_template;
        # detimg measured the turtle's flippers 0.17-0.23 RGB away from any of its palette file's 256 colours)
        palette = None if self.grey or sc.source != "file" else read_palette(resolve_data_path(sc.path))
        matched = grey_template(full) if self.grey else full if palette is None else \
            palette_template(full, torch.from_numpy(palette))
        # per part: the solver leaves a part whose colours the palette lacks unpruned (solvers/hierarchical.py)
        self.palette_shifts = None if palette is None else palette_shifts(full, matched)
        self.palette_shift = None if palette is None else max(self.palette_shifts.values())
        self.grey_calibration_key = calibration_home(matched, self.scale)[1] if self.grey else None
        self.where = f"problem.scene.path={sc.path}" if sc.source == "file" else f"the {sc.source} scene"
        self.grey_warnings = []
        self.from_file, self.full_size = sc.source == "file", full.size
        self.template = matched.downscaled(self.scale).to(ctx.device, ctx.dtype)
        scene = downscale_scene(scene, self.scale)
        self.scene = Scene(scene.image.to(ctx.device, ctx.dtype), scene.truth, scene.label)

    def _object_scales(self, sc, scene: Scene, full) -> Scene:
        """Objects object_scale times the template's size: the scene resampled by 1 / object_scale so they come out
        at the template's (the search covers position and rotation only). A list of scales: the resampled scenes
        side by side (scenes.mosaic), searched at once, each instance mapped to the photo by its own tile."""
        values = list(sc.object_scale) if OmegaConf.is_list(sc.object_scale) else [sc.object_scale]
        if not values:
            raise UserError("problem.scene.object_scale=[] names no scale; give a number (1: the template's size) "
                            "or a list of them")
        self.object_scales = [check_float("problem.scene.object_scale", v, 0.0, strict=True) for v in values]
        photo_size = tuple(scene.image.shape[-2:])
        sizes = [resampled_size(photo_size, k) for k in self.object_scales]
        for k, size in zip(self.object_scales, sizes):
            if size[0] < full.size[0] or size[1] < full.size[1]:
                # sizes are (rows, columns); said as width x height, as every other size a user reads
                # the advice names the largest scale that fits: "(1: the same, 2: twice as large)" alone offered a
                # user with a 200x160 photo two values that both fail, where 0.5 was theirs (newuser25)
                largest = math.floor(100 * min(photo_size[0] / full.size[0], photo_size[1] / full.size[1])) / 100
                made = " is" if size == photo_size else f" becomes {size[1]}x{size[0]} px,"
                raise UserError(f"problem.scene.object_scale={k:g}: the {photo_size[1]}x{photo_size[0]} px scene "
                                f"(width x height){made} smaller than the template's {full.size[1]}x{full.size[0]} "
                                f"px: objects that large fill more than the whole scene; give their size relative "
                                f"to the template, at most {largest:g} for this scene (below 1: smaller than the template)")
        tiles = [resample_scene(scene, size) for size in sizes]
        # photo px per detection px, per axis (rounded sizes make rows and columns differ slightly), per tile
        self.factors = [(self.scale * photo_size[0] / h, self.scale * photo_size[1] / w) for h, w in sizes]
        self.photo = scene.image if len(sizes) > 1 or sizes[0] != photo_size else None  # for the figure
        if len(tiles) == 1:
            self.offsets = [0]
            return tiles[0]
        # tiles further apart than the template's diagonal: no placement of it covers two of them
        canvas, offsets = mosaic([t.image for t in tiles], math.ceil(math.hypot(*full.size)), self.scale)
        self.offsets = [c // self.scale for c in offsets]  # in detection px (whole blocks)
        # the scene's truth has a copy per tile: a list is judged by its detections (a crab-free scene: any is false)
        truth = scene.truth if scene.truth.centre is None else Truth(None, known=False)
        return Scene(canvas, truth, f"{scene.label} at {len(tiles)} scales")

    def tile_of(self, point) -> int:
        """The tile (index into object_scales) a detection-px point lies in (in a gap: the one to its left)."""
        return max(i for i, c in enumerate(self.offsets) if c <= point[1] or i == 0)

    def _in_photo(self, instances):
        """Each instance moved to its tile's own pixels and its tile, merged across tiles by NMS in photo px
        (instances.merge_across_scales); one tile: all of them as they are."""
        tiles = [self.tile_of(inst.centre) for inst in instances]
        local = [shifted(inst, self.offsets[t]) for inst, t in zip(instances, tiles)]
        if len(self.offsets) == 1:
            return list(zip(instances, local, tiles))
        centres = [photo_point(li.centre, self.factors[t]) for li, t in zip(local, tiles)]
        radii = [0.5 * min(self.template.size) * max(self.factors[t]) for t in tiles]  # find_instances' radius
        keep = merge_across_scales(centres, [i.score for i in instances], radii)
        return [(instances[i], local[i], tiles[i]) for i in keep]

    def _scene(self, sc, full) -> Scene:
        if sc.source == "paper":
            if full.source is not None:
                raise UserError(f"problem.scene.source=paper: the paper's scenes hold the authors' crab, not the "
                                f"template {full.name!r}; use problem.template=refine_crab (or synthetic), or a "
                                "generated scene or a file of your own")
            angle = check_float("problem.scene.angle", sc.angle)
            tmpl = full if self.cfg.template == "refine_crab" and self.cfg.refine_version == "v1" \
                else None
            return paper_scene(self.cfg.data_dir, angle, tmpl)
        if sc.source == "file":
            if not sc.get("path"):
                raise UserError("problem.scene.source=file needs problem.scene.path=IMAGE")
            return image_scene(sc.path)
        check_choice("problem.scene.background", sc.background, BACKGROUNDS)
        size = check_numbers("problem.scene.size", sc.size, 2, integer=True)
        if len(size) != 2 or min(size) < 32:
            raise UserError(f"problem.scene.size={list(sc.size)} must be [rows, cols], each >= 32")
        gen = self.ctx.generator(check_int("problem.scene.seed", sc.seed, 0))
        background = sc.background
        if background == "mixed":  # a fair coin per scene; the beach only where its photograph is
            beach = float(torch.rand(1, generator=gen, dtype=torch.float64, device="cpu")) < 0.5
            background = "beach" if beach and has_beach(self.cfg.data_dir) else "clutter"
        self.background = background
        if background == "beach":
            bg = beach_background(self.cfg.data_dir, size, None, gen)
        else:
            bg = clutter_background(size, gen)
        if not sc.crab:
            return Scene(bg, Truth(None), f"crab-free {background}")
        spec = {k: check_float(f"problem.scene.articulation.{k}", v, 0.0, maximum=180.0)
                for k, v in sc.articulation.items()}
        # angle null: drawn in +-angle_max with the pose (the draws before it are the same either way)
        angle_max = check_float("problem.scene.angle_max", sc.angle_max, 0.0)
        centre, drawn, art = random_pose(gen, size, full, angle_max, part_ranges(full.parts, spec))
        if sc.get("centre") is not None:
            centre = tuple(float(v) for v in check_numbers("problem.scene.centre", sc.centre, 2))
        angle = drawn if sc.angle is None else check_float("problem.scene.angle", sc.angle)
        return compose_scene(full, bg, centre, angle, art,
                             label=f"generated {angle:.3g} deg on {background}")

    # ---- judging ----------------------------------------------------------------------------------------------
    def warnings(self, metrics):
        return self.grey_warnings + ([self._none_found()] if self.from_file and metrics.get("n_detected") == 0 else [])

    def _none_found(self) -> str:
        """A photo where nothing was found: the size the search assumed, since objects of another size go unfound
        without a word (newuser14: a crab 2x the template's size, 0 detected; object_scale=2 found it)."""
        sizes = ", ".join(f"{k * self.full_size[1]:.0f}x{k * self.full_size[0]:.0f}" for k in self.object_scales)
        return (f"{self.where}: nothing detected; the template was matched at {sizes} px (width x height) of the "
                f"photo (its own size times problem.scene.object_scale), which finds objects within about +-2.5% of "
                "that size: for objects of another size give it (problem.scene.object_scale=2: twice the template's; "
                "a list, e.g. [1, 2], searches each)")

    def evaluate(self, result: SolveResult):
        """Detections always (score, n_detected, the instances in /tables/detections); errors, success or false
        positives only against a truth that exists: a user's image has none."""
        det = result.solution["detection"]
        self.found = self._in_photo(result.solution["instances"])
        instances = result.solution["instances"] = [inst for inst, _, _ in self.found]
        root = det.nodes[det.root]
        w = root.weights.detach()
        k = root.best()
        others = torch.cat((w[:k], w[k + 1:]))
        metrics = {"score": det.score, "n_detected": float(len(instances)), "detected": float(len(instances) > 0),
                   "other_weight_max": float(others.max()) if others.numel() else 0.0}
        if self.background is not None:
            metrics["beach"] = float(self.background == "beach")
        metrics["matched_in_grey"] = float(self.grey)
        if self.palette_shift is not None:  # matched in the file's palette: how far it moved the parts' colours
            metrics["matched_in_palette"] = 1.0
            metrics["palette_part_shift"] = self.palette_shift
        if len(self.object_scales) == 1:
            metrics["object_scale"] = self.object_scales[0]
        if "detections" in result.tables:  # the solver's table is in the searched scene's pixels: the photo's here
            parts = [k[:-len("_box_w")] for k in result.tables["detections"] if k.endswith("_box_w")]
            rows = [detections_table([li], self.template.size, parts, self.factors[t]) for _, li, t in self.found]
            table = {k: [v for r in rows for v in r[k]] for k in result.tables["detections"]}
            table["object_scale"] = [self.object_scales[t] for _, _, t in self.found]
            result.tables["detections"] = {k: np.asarray(v, dtype=np.float64) for k, v in table.items()}
        if self.grey:
            # which thresholds judged it: the grey template's file (1) or, without one, the colour file's (0)
            note = result.stats.get("calibration_note", "none")
            metrics["grey_calibration"] = float(note == "none")
            leaf = grey_leaf_warning(det.nodes, self.template.parts, len(instances), self.where, note == "none")
            self.grey_warnings = [w for w in (f"{self.where}: {note}" if note != "none" else "", leaf) if w]
        truth = self.scene.truth
        if truth.centre is not None:
            metrics.update(self._errors(det, instances, truth))
        elif truth.known:  # a generated crab-free scene: any detection is false
            metrics["false_positive"] = float(len(instances) > 0)
        arrays = {f"occurrence/{n}": r.occurrence.detach().cpu().numpy() for n, r in det.nodes.items()}
        arrays["poses"] = np.array([[det.pose(n)[k] for k in ("row", "col", "angle", "loss", "weight")]
                                    for n, _ in reversed(list(det.nodes.items()))])
        arrays["pose_nodes"] = np.array([n for n, _ in reversed(list(det.nodes.items()))], dtype=object)
        return metrics, arrays

    def _errors(self, det, instances, truth) -> dict[str, float]:
        """Errors of the instance nearest the true centre (full-size px, degrees); without any instance, of the
        min-loss strides (the crab is then missed: success 0)."""
        def dist(a, b):  # in the photo's pixels
            return math.dist(photo_point(a, self.factors[0]), photo_point(b, self.factors[0]))

        out = {"true_angle": truth.angle}
        inst = min(instances, key=lambda i: math.dist(i.centre, truth.centre)) if instances else None
        centre = inst.centre if inst else det.centre()
        out["centre_error_px"] = dist(centre, truth.centre)
        jr = truth_joint(det.motifs, det.template_centre, det.root, truth)
        out["peak_error_px"] = dist(inst.peak if inst else det.peak(), jr[:2])
        h, w = self.scene.image.shape[-2:]
        ang_err, pos_err, missing = [], [], 0
        # every node below the root: the parts, and the parents (the eye pair: rigid with the crab, its truth the
        # crab's angle at its joint), as the instance reports them
        for name in [n for n in det.nodes if n != det.root]:
            if name not in truth.parts and name in self.template.parts:
                continue
            tr = truth_joint(det.motifs, det.template_centre, name, truth)
            if inst is not None and not inst.parts[name].visible:
                missing += int(0 <= tr[0] <= h - 1 and 0 <= tr[1] <= w - 1)  # missing though inside the image
                continue
            pose = det.pose(name) if inst is None else {"row": inst.parts[name].row, "col": inst.parts[name].col,
                                                        "angle": inst.parts[name].angle}
            ang_err.append(angle_difference(pose["angle"], tr[2]))
            pos_err.append(dist((pose["row"], pose["col"]), tr[:2]))
            out[f"angle_error_{name}"] = ang_err[-1]
        if ang_err:
            out["part_angle_error_max"] = max(ang_err)
            out["part_position_error_max_px"] = max(pos_err)
        out["parts_missing"] = float(missing)
        # the root's own name (crab_angle_error for the crab; robot_angle_error for the robot template)
        out[f"{det.root}_angle_error"] = angle_difference(inst.angle if inst else det.pose(det.root)["angle"],
                                                          truth.angle)
        out["success"] = float(inst is not None and 0.9 <= det.score <= 1.1 and out["peak_error_px"] <= 5
                               and out["centre_error_px"] <= 5 and out.get("part_angle_error_max", 0.0) <= 3
                               and missing == 0)
        return out

    def inputs(self):
        return {"scene": self.scene.image.detach().cpu().numpy().astype(np.float32),
                "template": self.template.image.detach().cpu().numpy().astype(np.float32)}

    # ---- figures ----------------------------------------------------------------------------------------------
    def figures(self, result, metrics, fig_dir: Path) -> list[Path]:
        from ..detection.figures import box_colours, detection_boxes, occurrence_panels, trace_plot

        det = result.solution["detection"]
        instances = result.solution["instances"]
        title = f"{self.scene.label}: score {det.score:.3f}, {len(instances)} detected"
        t = self.template
        boxes = instance_boxes(instances, t)
        if self.photo is not None:  # drawn on the user's photo, in its pixels, each instance by its own tile
            boxes = {}
            for i, (_, li, tile) in enumerate(self.found, 1):
                for k, v in instance_boxes([li], t).items():
                    boxes[k.replace("#1", f"#{i}")] = np.array([photo_point(c, self.factors[tile]) for c in v])
            title += f" (objects {', '.join(f'{k:g}x' for k in self.object_scales)} the template)"
        return [detection_boxes(self.scene.image if self.photo is None else self.photo, boxes,
                                fig_dir / "boxes.png", title, box_colours(t.tree, t.root)),
                occurrence_panels({n: r.occurrence for n, r in det.nodes.items()}, fig_dir / "occurrence.png"),
                trace_plot(det.nodes[det.root].occurrence, det.nodes[det.root].weights, fig_dir / "trace.png", title,
                           t.root)]


def angle_difference(a: float, b: float) -> float:
    """|a - b| in degrees, on the circle (in [0, 180])."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _corners(centre, angle: float, size) -> np.ndarray:
    """Corners (4, 2) row/col of an h x w box centred at `centre`, turned by angle (clockwise as displayed)."""
    h, w = size
    rel = torch.tensor([(-(h - 1) / 2, -(w - 1) / 2), (-(h - 1) / 2, (w - 1) / 2), ((h - 1) / 2, (w - 1) / 2),
                        ((h - 1) / 2, -(w - 1) / 2)], dtype=torch.float64, device="cpu")
    return (torch.tensor(centre, dtype=torch.float64, device="cpu") + rel @ rotation_matrix(angle, degrees=True, clockwise=True, device="cpu").T).numpy()


def instance_boxes(instances, template) -> dict[str, np.ndarray]:
    """Every instance's boxes, keyed "node#i" (i from 1, by decreasing score): the whole template for the root,
    each visible part's motif box; missing parts have none."""
    out = {}
    for i, inst in enumerate(instances, 1):
        out[f"{template.root}#{i}"] = _corners(inst.centre, inst.angle, template.size)
        for name, p in inst.parts.items():
            if p.visible:
                out[f"{name}#{i}"] = _corners((p.box_row, p.box_col), p.angle, p.box_size)
    return out
