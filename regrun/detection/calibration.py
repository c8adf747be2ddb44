"""Automatic calibration of the detection thresholds (seed 002 App. A.4; issue 11 §4).

The authors set each node's gamma (and alpha) by hand from the losses of successful and failed registrations,
and every gamma moved 1e2-1e4x after one bug fix. Here the same rule is a computation: over generated scenes
with known poses (clutter, rotations, articulation) and crab-free negatives, a stride is a *success* for a node
when its joint lands within tol_px of the true joint with its angle within tol_deg, and a *failure* when it lands
farther than far_px or is off by more than far_deg. Then, per node,
    gamma = (s_max + f_min) / 2,   alpha = ln(1000) / (f_min - gamma)
when the two sets separate (s_max < f_min): the maximum-margin threshold, so every success keeps weight 1, the
best failure gets 1e-3, and a success up to half the gap worse than any seen still counts fully. Otherwise gamma
minimises the number of misclassified losses and the report says how many. Nodes are calibrated deepest first, re-extracting the
non-leaf motifs after each level, because a parent's motif and scene depend on its children's thresholds.

The result is a versioned YAML file holding the thresholds and the settings they are valid for.
"""
from __future__ import annotations

import datetime
import math
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ..errors import UserError
from .detector import HierarchicalDetector
from ..imaging.transforms import rotation_matrix
from .scenes import Scene, Truth

CALIBRATION_VERSION = 1
DECAY = math.log(1000.0)
# What the losses depend on: a file is only valid for the same values of these.
KEYED_SETTINGS = ("stride", "angle_max", "angle_step", "sigma", "mask_erode")


def calibration_home(template, scale: int) -> tuple[Path | None, str]:
    """Where a (full-size) template's calibration files live, and their key before the solver's suffixes
    (solvers/hierarchical.py: calibration_key): the built-in crabs' ship with the package (folder None), a template
    file's are in calibrations/ beside its YAML; key <template name>_s<scale>."""
    folder = None if template.source is None else Path(template.source).parent / "calibrations"
    return folder, f"{template.name}_s{scale}"


def truth_joint(motifs: dict, template_centre, node: str, truth: Truth) -> tuple[float, float, float]:
    """Where node's joint is in a scene with known truth, and its angle."""
    if node in truth.parts:
        return truth.parts[node]
    m = motifs[node]
    tc = template_centre
    rel = torch.tensor((m.origin[0] + m.joint[0] - tc[0], m.origin[1] + m.joint[1] - tc[1]), dtype=torch.float64, device="cpu")
    pos = torch.tensor(truth.centre, dtype=torch.float64, device="cpu") + rotation_matrix(truth.angle, degrees=True, clockwise=True, device="cpu") @ rel
    return float(pos[0]), float(pos[1]), truth.angle


def classify(fit, locations, joint, tol_px, far_px, tol_deg, far_deg):
    """(success loss or None, failure losses) of one node in one scene."""
    loss = fit.loss.detach().cpu().to(torch.float64)
    loc = locations.detach().cpu().to(torch.float64)
    ang = fit.angle.detach().cpu().to(torch.float64)
    finite = torch.isfinite(loss)
    if joint is None:
        return None, loss[finite]
    d = (loc - torch.tensor(joint[:2], dtype=torch.float64, device="cpu")).norm(dim=1)
    da = torch.remainder(ang - joint[2] + 180.0, 360.0).sub(180.0).abs()  # on the circle
    ok = finite & (d <= tol_px) & (da <= tol_deg)
    bad = finite & ((d > far_px) | (da > far_deg))
    return (float(loss[ok].min()) if ok.any() else None), loss[bad]


def choose_threshold(successes: list[float], failures: torch.Tensor, absent: float = math.inf) -> dict:
    """gamma and alpha from the two loss samples (the rule in the module docstring). absent: for a parent, the
    loss of a pose with its weakest child wholly absent (that child's share of the motif energy), the failure
    taken as the best one when no finite failure was seen: the root's strides with fewer than two found children
    have loss inf (HierarchicalDetector.border_losses), so its failures can all be inf, and the old fallback
    gamma = 2 s_max then put a whole turtle at weight 1e-3 once its loss doubled (measured: gamma 1.0e-5 against
    8.0e-3 before; docs/detection.md, "One child is not an instance")."""
    if not successes:
        raise UserError("calibration found no successful registration for a node: the scenes are too hard for "
                        "the registration settings (widen angle_max or lower stride)")
    s = torch.tensor(sorted(successes), dtype=torch.float64, device="cpu")
    f = failures.sort().values
    s_max = float(s.max())
    f_min = float(f.min()) if f.numel() else math.inf
    if not math.isfinite(f_min) and absent > s_max:
        f_min = absent
    if f_min > s_max:
        gamma = 0.5 * (s_max + f_min) if math.isfinite(f_min) else 2 * s_max
        alpha = DECAY / (f_min - gamma) if math.isfinite(f_min) else DECAY / max(s_max, 1e-300)
        return {"gamma": gamma, "alpha": alpha, "separable": True, "success_max": s_max, "failure_min": f_min,
                "misclassified": 0}
    cands = torch.cat((s, f)).unique()
    best = None
    for g in cands.tolist():
        errors = int((s > g).sum()) + int((f <= g).sum())
        if best is None or errors < best[0]:
            best = (errors, g)
    errors, gamma = best
    above = f[f > gamma]
    alpha = DECAY / (float(above.min()) - gamma) if above.numel() else DECAY / max(abs(gamma), 1e-300)
    return {"gamma": gamma, "alpha": alpha, "separable": False, "success_max": s_max, "failure_min": f_min,
            "misclassified": errors}


def calibrate(det: HierarchicalDetector, scenes: list[Scene], negatives: list[Scene] = (), tol_px: float = 3.0,
              far_px: float = 10.0, tol_deg: float = 5.0, far_deg: float = 10.0, progress=None) -> dict:
    """Set every node's gamma and alpha on `det` from the scenes; returns the per-node report."""
    progress = progress or (lambda msg: None)
    if getattr(det.registrar, "near", False):  # its anchors are parts of calibrated weight: not known yet here
        det.registrar = det.registrar.without_near()
    everything = list(scenes) + list(negatives)
    fits = [dict() for _ in everything]
    report = {}
    for node, _depth in det.order:
        kids = det.tree.get(node, ())
        if kids:
            det.extract()  # the parent's motif depends on its children's (now calibrated) thresholds
        successes, failures, missed = [], [], 0
        for i, scene in enumerate(everything):
            progress(f"calibrate {node}: scene {i + 1}/{len(everything)}")
            size = scene.image.shape[-2:]
            maps = {k: det.node_result(k, fits[i][k][0], size, fits[i][k][1]).occurrence for k in kids}
            y = det.node_scene(node, scene.image, maps)
            fits[i][node] = det.register_node(node, y)
            res = det.node_result(node, fits[i][node][0], size, fits[i][node][1])
            joint = truth_joint(det.motifs, det.template.centre, node, scene.truth) if scene.truth.centre is not None else None
            ok, bad = classify(res.fit, res.locations, joint, tol_px, far_px, tol_deg, far_deg)
            if joint is not None:
                if ok is None:
                    missed += 1
                else:
                    successes.append(ok)
            failures.append(bad)
        motif = det.motifs[node]
        absent = float((0.5 * motif.mask * motif.image ** 2).sum((-2, -1)).min()) if kids else math.inf
        choice = choose_threshold(successes, torch.cat(failures) if failures else torch.zeros(0, device="cpu"),
                                  absent)
        choice.update(n_success=len(successes), n_missed=missed)
        det.settings[node].gamma = choice["gamma"]
        det.settings[node].alpha = choice["alpha"]
        report[node] = choice
    det.extract()
    return report


def save_calibration(path: Path, det: HierarchicalDetector, report: dict, meta: dict) -> Path:
    nodes = {}
    for node, _ in det.order:
        st = det.settings[node]
        entry = {k: float(v) if isinstance(v, float) else v for k, v in report[node].items()}
        entry["settings"] = {k: float(getattr(st, k)) for k in KEYED_SETTINGS}
        nodes[node] = entry
    body = {"version": CALIBRATION_VERSION, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "sigma0": float(det.sigma0), "aggregate": det.aggregate, **meta, "nodes": nodes}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(OmegaConf.to_yaml(OmegaConf.create(body)))
    return path


def load_calibration(path: Path, det: HierarchicalDetector) -> dict:
    """Apply a calibration file's gamma and alpha to det, after checking it was made for the same settings."""
    if not path.is_file():
        raise UserError(f"calibration file not found: {path} (make one with regrun-calibrate)")
    body = OmegaConf.to_container(OmegaConf.load(path))
    if body.get("version") != CALIBRATION_VERSION:
        raise UserError(f"{path}: calibration version {body.get('version')} is not {CALIBRATION_VERSION}; "
                        "recalibrate with regrun-calibrate")
    if abs(float(body["sigma0"]) - det.sigma0) > 1e-9 or body.get("aggregate") != det.aggregate:
        raise UserError(f"{path} was calibrated with sigma0={body['sigma0']}, aggregate={body.get('aggregate')}; "
                        f"this run uses sigma0={det.sigma0}, aggregate={det.aggregate}: recalibrate")
    for node, _ in det.order:
        if node not in body["nodes"]:
            raise UserError(f"{path} has no thresholds for node {node!r}")
        entry, st = body["nodes"][node], det.settings[node]
        for k in KEYED_SETTINGS:
            if abs(float(entry["settings"][k]) - float(getattr(st, k))) > 1e-9:
                raise UserError(f"{path}: node {node} was calibrated with {k}={entry['settings'][k]}, this run uses "
                                f"{getattr(st, k)}: recalibrate (regrun-calibrate) or use those settings")
        st.gamma, st.alpha = float(entry["gamma"]), float(entry["alpha"])
    return body
