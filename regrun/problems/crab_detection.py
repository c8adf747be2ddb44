"""Hierarchical, rotation-invariant detection of a crab template in a scene (seed 002 §4, App. A.4).

Data: the template (synthetic by default, or the authors' crab from refine_data) and one scene: generated at a
given rotation and position with optional articulation, on procedural clutter or the beach, or crab-free; one
of the paper's five beach scenes; or any image file. `scale: 2` downscales everything by 2 for fast runs.
Judging: the detection score (sum of the crab's occurrence map), the crab's centre and peak against the truth,
every part's angle, and the largest weight of any other crab stride (the paper's "one stem of about 1").
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..detection.calibration import truth_joint
from ..detection.crab_data import REFINE_VERSIONS, load_template
from ..detection.scenes import (
    Scene,
    Truth,
    beach_background,
    clutter_background,
    compose_scene,
    downscale_scene,
    has_beach,
    image_scene,
    paper_scene,
    random_pose,
)
from ..imaging.transforms import rotation_matrix
from ..errors import UserError, check_choice, check_float, check_int, check_numbers
from ..registry import register_problem
from ..solve_result import SolveResult
from .base import Problem

TEMPLATES = ("synthetic", "refine_crab")
SOURCES = ("generated", "paper", "file")
BACKGROUNDS = ("clutter", "beach", "mixed")


@register_problem("crab_detection")
class CrabDetection(Problem):
    offers = frozenset({"detection"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("problem.template", cfg.template, TEMPLATES)
        check_choice("problem.refine_version", cfg.refine_version, REFINE_VERSIONS)
        self.scale = check_int("problem.scale", cfg.scale, 1)
        if self.scale not in (1, 2):
            raise UserError(f"problem.scale={self.scale} is not valid; allowed: 1 (full size), 2 (downscaled by 2)")
        self.threshold = check_float("problem.detect_threshold", cfg.detect_threshold, 0.0)
        sc = cfg.scene
        check_choice("problem.scene.source", sc.source, SOURCES)
        self.background = None  # generated scenes: the background actually drawn (mixed picks one)
        # the full-size template makes the scene on the CPU and is not kept: only the run's copy stays
        full = load_template(cfg.template, cfg.data_dir, cfg.refine_version, cfg.template_seed)
        self.template = full.downscaled(self.scale).to(ctx.device, ctx.dtype)
        self.calibration_key = (f"{cfg.template}{'_' + cfg.refine_version if cfg.template == 'refine_crab' else ''}"
                                f"_s{self.scale}")
        scene = self._scene(sc, full)
        scene = downscale_scene(scene, self.scale)
        self.scene = Scene(scene.image.to(ctx.device, ctx.dtype), scene.truth, scene.label)

    def _scene(self, sc, full) -> Scene:
        if sc.source == "paper":
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
        claw = check_float("problem.scene.articulation.claw", sc.articulation.claw, 0.0)
        eye = check_float("problem.scene.articulation.eye", sc.articulation.eye, 0.0)
        # angle null: drawn in +-angle_max with the pose (the draws before it are the same either way)
        angle_max = check_float("problem.scene.angle_max", sc.angle_max, 0.0)
        centre, drawn, art = random_pose(gen, size, full, angle_max, claw, eye)
        if sc.get("centre") is not None:
            centre = tuple(float(v) for v in check_numbers("problem.scene.centre", sc.centre, 2))
        angle = drawn if sc.angle is None else check_float("problem.scene.angle", sc.angle)
        return compose_scene(full, bg, centre, angle, art,
                             label=f"generated {angle:.3g} deg on {background}")

    # ---- judging ----------------------------------------------------------------------------------------------
    def evaluate(self, result: SolveResult):
        det = result.solution["detection"]
        root = det.nodes[det.root]
        w = root.weights.detach()
        k = root.best()
        others = torch.cat((w[:k], w[k + 1:]))
        metrics = {"score": det.score, "detected": float(det.score >= self.threshold),
                   "other_weight_max": float(others.max()) if others.numel() else 0.0}
        if self.background is not None:
            metrics["beach"] = float(self.background == "beach")
        truth = self.scene.truth
        if truth.centre is not None:
            metrics["true_angle"] = truth.angle
            s = self.scale  # errors in full-size pixels
            c = det.centre()
            metrics["centre_error_px"] = s * math.dist(c, truth.centre)
            jr = truth_joint(det.motifs, det.template_centre, det.root, truth)
            peak = det.peak()
            metrics["peak_error_px"] = s * math.dist(peak, jr[:2])
            ang_err, pos_err = [], []
            for name in self.template.parts:
                if name not in truth.parts:
                    continue
                pose = det.pose(name)
                tr = truth.parts[name]
                ang_err.append(abs(pose["angle"] - tr[2]))
                pos_err.append(s * math.dist((pose["row"], pose["col"]), tr[:2]))
                metrics[f"angle_error_{name}"] = ang_err[-1]
            if ang_err:
                metrics["part_angle_error_max"] = max(ang_err)
                metrics["part_position_error_max_px"] = max(pos_err)
            metrics["crab_angle_error"] = abs(det.pose(det.root)["angle"] - truth.angle)
            metrics["success"] = float(0.9 <= det.score <= 1.1 and metrics["other_weight_max"] <= 0.1
                                       and metrics["peak_error_px"] <= 5 and metrics["centre_error_px"] <= 5
                                       and metrics.get("part_angle_error_max", 0.0) <= 3)
        else:
            metrics["false_positive"] = float(det.score >= self.threshold)
        arrays = {f"occurrence/{n}": r.occurrence.detach().cpu().numpy() for n, r in det.nodes.items()}
        arrays["poses"] = np.array([[det.pose(n)[k] for k in ("row", "col", "angle", "loss", "weight")]
                                    for n, _ in reversed(list(det.nodes.items()))])
        arrays["pose_nodes"] = np.array([n for n, _ in reversed(list(det.nodes.items()))], dtype=object)
        return metrics, arrays

    def inputs(self):
        return {"scene": self.scene.image.detach().cpu().numpy().astype(np.float32),
                "template": self.template.image.detach().cpu().numpy().astype(np.float32)}

    # ---- figures ----------------------------------------------------------------------------------------------
    def figures(self, result, metrics, fig_dir: Path) -> list[Path]:
        from ..plots import detection_boxes, occurrence_panels, trace_plot

        det = result.solution["detection"]
        title = f"{self.scene.label}: score {det.score:.3f}"
        return [detection_boxes(self.scene.image, boxes(det, self.template), fig_dir / "boxes.png", title),
                occurrence_panels({n: r.occurrence for n, r in det.nodes.items()}, fig_dir / "occurrence.png"),
                trace_plot(det.nodes[det.root].occurrence, det.nodes[det.root].weights, fig_dir / "trace.png", title)]


def boxes(det, template) -> dict[str, np.ndarray]:
    """The min-loss stride's box per node (corners (4, 2) in scene row/col): motif-sized for the parts and the
    eye pair, the whole template for the root."""
    out = {}
    for name, res in det.nodes.items():
        m = det.motifs[name]
        k = res.best()
        if name == det.root:
            h, w = template.size
            corners = [det.template_point(name, p) for p in ((0, 0), (0, w - 1), (h - 1, w - 1), (h - 1, 0))]
            out[name] = np.array(corners)
            continue
        h, w = m.mask.shape
        rel = torch.tensor([(0, 0), (0, w - 1), (h - 1, w - 1), (h - 1, 0)], dtype=torch.float64, device="cpu") - \
            torch.tensor(m.centre, dtype=torch.float64, device="cpu")
        rot = rotation_matrix(float(res.fit.angle[k]), degrees=True, clockwise=True, device="cpu")
        out[name] = (res.fit.centre[k].detach().cpu().to(torch.float64) + rel @ rot.T).numpy()
    return out
