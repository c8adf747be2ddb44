"""Every instance of the template in a scene, read off a finished detection (issue 17 §2, §3).

The root's occurrence map is a sum of unit-mass bumps, one per root stride, weighted by how well the stride
registered: one object puts about 1 of mass around its centre, k objects about k. Instances are its peaks after
non-maximum suppression: local maxima of the map, strongest first, each suppressing every other peak within
`radius` (half the template's shorter side: two objects cannot be closer without overlapping most of their
parts). An instance's score is the map's mass in its cell (the pixels within `radius` of it that no stronger
peak took), so the instances' scores add up to the total score less the stray mass outside any
cell; an instance is reported when its score reaches `min_score` (problem.detect_threshold).

Pose: the root stride of lowest loss whose joint lies within `radius` of the peak gives the instance's centre
(the template centre mapped by that stride) and angle. Parts: every other node's joint is rigid with the root's
frame (a leaf's joint is its pivot, a parent's the centre of its children's joints), so the root's pose predicts
where it must be; the node's stride of lowest loss with weight >= `min_part_weight` within `part_radius` of that
prediction is the part's pose. A part with no such stride is *missing* (outside the image, hidden or not
recognised): its pose is NaN and `visible` 0 -- never the pose of some other stride elsewhere in the scene.
A parent node (the eye pair) that this rule misses while every child of it is in the instance is judged again on
the instance's own children (`judge`: HierarchicalDetector.judge_in_instance; its strides were registered on its
children's whole maps, which also hold the leaves' false matches near the parts) by the same rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import torch

from .detector import Detection, NodeResult
from .rotation_search import StrideFit

# a part's stride must weigh this much (its loss within the leaf's calibrated range of successes) to be the part
# (find_instances; the detector's top-down completion judges the parts it adds by the same rule)
MIN_PART_WEIGHT = 0.5


@dataclass
class PartPose:
    """A node's pose in one instance, in the searched scene's pixels: joint (row, col), angle (degrees), the
    centre of its motif box and the box's size; NaN and visible False when missing."""

    row: float
    col: float
    angle: float
    loss: float
    weight: float
    box_row: float
    box_col: float
    box_size: tuple[int, int]
    visible: bool


@dataclass
class Instance:
    score: float
    peak: tuple[int, int]
    stride: int          # the root stride that gives the pose
    centre: tuple[float, float]
    angle: float
    parts: dict[str, PartPose]


def _peaks(occ: torch.Tensor, radius: float, limit: int = 256) -> list[tuple[int, int]]:
    """Local maxima of the map (over a (2r+1)^2 window), strongest first, none within `radius` of a stronger one."""
    r = max(int(radius), 1)
    # the max over a square window is the max over its rows of the max over its columns: two 1-D passes (2(2r+1)
    # comparisons per pixel instead of (2r+1)^2; at full size, r = 92, 3 CPU-s -> a few hundredths), the same map
    pool = torch.nn.functional.max_pool2d
    pooled = pool(pool(occ[None, None], (2 * r + 1, 1), stride=1, padding=(r, 0)), (1, 2 * r + 1), stride=1,
                  padding=(0, r))[0, 0]
    top = float(occ.max())
    if not top > 0:
        return []
    cand = torch.nonzero((occ == pooled) & (occ > 1e-9 * top))
    vals = occ[cand[:, 0], cand[:, 1]]
    order = torch.argsort(vals, descending=True)[:limit]
    kept: list[tuple[int, int]] = []
    for i in order.tolist():
        p = (int(cand[i, 0]), int(cand[i, 1]))
        if all(math.dist(p, q) > radius for q in kept):
            kept.append(p)
    return kept


def _missing(size) -> PartPose:
    nan = math.nan
    return PartPose(nan, nan, nan, nan, 0.0, nan, nan, size, False)


# (detection, parent node, each child's chosen stride as a one-row fit, the root's stride, radius) -> the parent's
# result judged on those children only, or None (HierarchicalDetector.judge_in_instance)
Judge = Callable[[Detection, str, dict, int, float], "NodeResult | None"]


def find_instances(det: Detection, radius: float, min_score: float, part_radius: float,
                   min_part_weight: float = MIN_PART_WEIGHT, judge: Judge | None = None) -> list[Instance]:
    """The instances (module docstring), by decreasing score; lengths in the searched scene's pixels. judge: how a
    parent the instance rule misses is judged on the instance's own children (None: it stays missing)."""
    root = det.nodes[det.root]
    occ = root.occurrence.detach()
    peaks = _peaks(occ, radius)
    if not peaks:
        return []
    h, w = occ.shape
    dev = occ.device
    pk = torch.tensor(peaks, dtype=torch.float64, device=dev)
    # each peak, strongest first, takes the pixels within radius that no stronger peak took (local windows only:
    # memory stays that of the map on a large scene)
    claimed = torch.zeros(h, w, dtype=torch.bool, device=dev)
    r = int(math.ceil(radius))
    mass = []
    for p in peaks:
        r0, r1, c0, c1 = max(p[0] - r, 0), min(p[0] + r + 1, h), max(p[1] - r, 0), min(p[1] + r + 1, w)
        rr = torch.arange(r0, r1, dtype=torch.float64, device=dev)[:, None] - p[0]
        cc = torch.arange(c0, c1, dtype=torch.float64, device=dev)[None, :] - p[1]
        cell = (rr * rr + cc * cc <= radius * radius) & ~claimed[r0:r1, c0:c1]
        claimed[r0:r1, c0:c1] |= cell
        mass.append(float(torch.where(cell, occ[r0:r1, c0:c1], torch.zeros_like(occ[r0:r1, c0:c1])).sum()))
    loss = root.fit.loss.detach()
    loc = root.locations.detach().to(torch.float64)
    out = []
    for i, p in enumerate(peaks):
        score = mass[i]
        if score < min_score:
            continue
        close = ((loc - pk[i]).norm(dim=1) <= radius) & torch.isfinite(loss)
        if not bool(close.any()):
            continue
        k = int(torch.where(close, loss, torch.full_like(loss, math.inf)).argmin())
        centre = det.template_point(det.root, det.template_centre, k)
        angle = float(root.fit.angle[k])
        out.append(Instance(score, p, k, centre, angle, _parts(det, k, part_radius, min_part_weight, judge)))
    return sorted(out, key=lambda inst: -inst.score)


def _parts(det: Detection, k: int, part_radius: float, min_weight: float,
           judge: Judge | None = None) -> dict[str, PartPose]:
    out = {}
    chosen: dict[str, StrideFit] = {}  # each found node's stride, one row (children before parents: det.nodes' order)
    for node, res in det.nodes.items():
        if node == det.root:
            continue
        motif = det.motifs[node]
        expected = det.template_point(det.root, (motif.origin[0] + motif.joint[0], motif.origin[1] + motif.joint[1]), k)
        j = _pick(res, expected, part_radius, min_weight)
        if j is None and judge is not None:
            judged = judge(det, node, chosen, k, part_radius)
            if judged is not None:
                res = judged
                j = _pick(res, expected, part_radius, min_weight)
        if j is None:
            out[node] = _missing(tuple(motif.mask.shape))
            continue
        chosen[node] = StrideFit(res.fit.centre[j:j + 1], res.fit.angle[j:j + 1], res.fit.loss[j:j + 1])
        h, w = motif.mask.shape  # the box's middle, from the motif's rotation centre (h // 2, w // 2)
        box = det.template_point(node, (motif.origin[0] + (h - 1) / 2, motif.origin[1] + (w - 1) / 2), j, res)
        out[node] = PartPose(float(res.locations[j, 0]), float(res.locations[j, 1]), float(res.fit.angle[j]),
                             float(res.fit.loss[j]), float(res.weights[j]), box[0], box[1], (h, w), True)
    return out


def _pick(res: NodeResult, expected, part_radius: float, min_weight: float) -> int | None:
    """The stride of lowest loss with weight >= min_weight whose joint lies within part_radius of `expected`."""
    loc = res.locations.detach().to(torch.float64)
    loss = res.fit.loss.detach()
    ok = ((loc - torch.tensor(expected, dtype=torch.float64, device=loc.device)).norm(dim=1) <= part_radius) \
        & torch.isfinite(loss) & (res.weights.detach() >= min_weight)
    if not bool(ok.any()):
        return None
    return int(torch.where(ok, loss, torch.full_like(loss, math.inf)).argmin())


def full_size(x: float, scale: float) -> float:
    """A pixel index of a scene downscaled by `scale` (block averages, or resampled: scenes.photo_point) -> the
    full-size pixel index."""
    return scale * x + (scale - 1) / 2


def detections_table(instances: list[Instance], template_size, nodes: list[str], scale) -> dict[str, list]:
    """One row per instance, in full-size scene pixels and degrees: score, centre, angle, the template box's size,
    then per node (not the root): joint row/col, angle, loss, weight, visible, and its motif box (centre, size).
    Missing parts are NaN with visible 0. `scale`: the integer downscale, or (row, col) photo px per scene px where
    the scene was also resampled (problem.scene.object_scale)."""
    fr, fc = (scale, scale) if isinstance(scale, (int, float)) else scale
    cols: dict[str, list] = {"score": [], "centre_row": [], "centre_col": [], "angle_deg": [], "box_h": [],
                             "box_w": []}
    for n in nodes:
        for c in ("row", "col", "angle_deg", "loss", "weight", "visible", "box_row", "box_col", "box_h", "box_w"):
            cols[f"{n}_{c}"] = []
    for inst in instances:
        cols["score"].append(inst.score)
        cols["centre_row"].append(full_size(inst.centre[0], fr))
        cols["centre_col"].append(full_size(inst.centre[1], fc))
        cols["angle_deg"].append(inst.angle)
        cols["box_h"].append(fr * template_size[0])
        cols["box_w"].append(fc * template_size[1])
        for n in nodes:
            p = inst.parts[n]
            vals = {"row": full_size(p.row, fr), "col": full_size(p.col, fc), "angle_deg": p.angle,
                    "loss": p.loss, "weight": p.weight, "visible": float(p.visible),
                    "box_row": full_size(p.box_row, fr), "box_col": full_size(p.box_col, fc),
                    "box_h": fr * p.box_size[0], "box_w": fc * p.box_size[1]}
            for c, v in vals.items():
                cols[f"{n}_{c}"].append(v)
    return cols


def shifted(inst: Instance, dcol: int) -> Instance:
    """The instance moved dcol columns left: from a mosaic of scenes (problems/crab_detection.py, a list of
    object_scale) back to its own tile's pixels."""
    parts = {n: replace(p, col=p.col - dcol, box_col=p.box_col - dcol) for n, p in inst.parts.items()}
    return replace(inst, peak=(inst.peak[0], inst.peak[1] - dcol), centre=(inst.centre[0], inst.centre[1] - dcol),
                   parts=parts)


def merge_across_scales(centres: list[tuple[float, float]], scores: list[float], radii: list[float]) -> list[int]:
    """The NMS of find_instances across scales, in the photo's pixels: strongest first, an instance is kept unless a
    kept one lies within the larger of their radii (each the search's radius at its own scale). Returns the indices
    kept, strongest first."""
    kept: list[int] = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(math.dist(centres[i], centres[j]) > max(radii[i], radii[j]) for j in kept):
            kept.append(i)
    return kept
