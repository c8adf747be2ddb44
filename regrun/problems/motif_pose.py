"""Random poses of a textured motif in clutter, by transformation class: the scenes of seed 002's Fig. 1
(App. A.3.1), for the `covering_vs_optimization` solver and the crab_fig1 preset.

For each class (translation d = 2, Euclidean 3, similarity 4, affine 6) `scenes_per_class` scenes, each the crab
drawing with the motif (its body) pasted on clutter and transformed as a whole by a random map of the class
about the motif's centre (detection/pose_scenes.py). Sizes are given at full size; `scale` 2 builds everything
downscaled by 2 (the law's shifts and the blur are in full-size pixels and scaled with it).
"""
from __future__ import annotations

import math

import torch

from ..detection.pose_scenes import (
    POSE_CLASSES,
    PoseLaw,
    make_background,
    motif_source,
    render_scene,
)
from ..errors import UserError, check_choice, check_float, check_int
from ..registry import register_problem
from .base import Problem


@register_problem("motif_pose")
class MotifPose(Problem):
    name = "motif_pose"
    offers = frozenset({"motif_pose"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("problem.template", cfg.template, ("synthetic", "refine_crab"))
        self.classes = list(cfg.classes)
        if not self.classes:
            raise UserError(f"problem.classes is empty; allowed: {', '.join(POSE_CLASSES)}")
        for c in self.classes:
            check_choice("problem.classes", c, POSE_CLASSES)
        n = check_int("problem.scenes_per_class", cfg.scenes_per_class, 1)
        self.factor = check_int("problem.scale", cfg.scale, 1)
        size = [check_int("problem.size", v, 16) for v in cfg.size]
        if len(size) != 2:
            raise UserError(f"problem.size={list(cfg.size)} must be [rows, cols]")
        blur = check_float("problem.blur", cfg.blur, 0.0)
        law = cfg.law
        self.law = PoseLaw(check_float("problem.law.shift_max", law.shift_max, 0.0),
                           math.radians(check_float("problem.law.angle_max_deg", law.angle_max_deg, 0.0)),
                           check_float("problem.law.scale_min", law.scale_min, 0.0, strict=True),
                           check_float("problem.law.scale_max", law.scale_max, 0.0, strict=True))
        if self.law.scale_max < self.law.scale_min:
            raise UserError(f"problem.law.scale_max={law.scale_max} is below scale_min={law.scale_min}")
        source = motif_source(cfg.template, cfg.data_dir, int(cfg.template_seed)).downscaled(self.factor)
        small = (size[0] // self.factor, size[1] // self.factor)
        bg_kind = "synthetic" if cfg.template == "synthetic" else "beach"
        to = dict(device=ctx.device, dtype=ctx.dtype)
        self.scenes = []  # (class, PoseScene on the run's device)
        for ci, kind in enumerate(self.classes):
            for k in range(n):
                # one CPU generator per scene: a scene does not change when the class list or count does
                g = torch.Generator().manual_seed(int(cfg.seed) + int(ctx.seed) + 1000 * list(POSE_CLASSES).index(kind) + k)
                bg = make_background(bg_kind, small, g, cfg.data_dir, self.factor)
                a, b = self.law.sample(kind, 1, g, self.factor)
                s = render_scene(source, bg, a[0], b[0], blur / self.factor)
                s.scene, s.motif, s.support = s.scene.to(**to), s.motif.to(**to), s.support.to(**to)
                s.a, s.b = s.a.to(**to), s.b.to(**to)
                self.scenes.append((kind, s))

    def pixel(self) -> float:
        """Full-size pixels per pixel of the built scenes."""
        return float(self.factor)

    def inputs(self):
        # the first scene of each class and the motif canvas: enough to see what was registered
        out, seen = {"motif": self.scenes[0][1].motif.cpu().numpy()}, set()
        for kind, s in self.scenes:
            if kind not in seen:
                seen.add(kind)
                out[f"scene_{kind}"] = s.scene.cpu().numpy()
        return out

    def evaluate(self, result):
        return {"scenes": float(len(self.scenes))}, {}

    def warnings(self, metrics):
        out = []
        for kind in self.classes:
            rate = metrics.get(f"opt_success_{kind}")
            if rate is not None and rate < 0.5:
                out.append(f"optimisation reached the ZNCC threshold in only {rate:.0%} of the {kind} scenes")
        return out
