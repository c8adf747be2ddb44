"""Where a crab cut by the border is lost (docs/detection.md, "A claw outside the image: past the pruning"): one
generated border scene (bench_crab_border.py's draw: --seed, --per-side, --only ANGLE) or one file of
bench_crab_files.py (--file PATH with --truth from its draw) detected at half size, and per node of the tree:

- a leaf: its strides whose joint lies within 3 px (searched scene) of the truth's pivot, their loss, weight and
  the node's gamma (the leaf found where the crab has it, or not);
- a spike node (eye pair, crab): eq. 13's cost per channel at the true pose on the node's scene (the children's
  maps as detected), each channel's energy, which children the border rule sees and finds there, the loss the rule
  gives that pose against gamma; then the registrar's strides near the truth (centre within 4 px and 4 deg)
  before and after the border rule, and whether the coarse search kept a stride there (spike_keep);
- the top-down completion (trace_completion): the hypotheses it tries (weighted root strides, then the border
  rule's lone strides), per leaf each hypothesis' start and result, and each parent's strides at the truth after
  it (docs/detection.md, "The eye the completion left").

    python scripts/diag_border_trace.py --seed 16174 --per-side 2 --only 85.8
    python scripts/diag_border_trace.py --files-seed 16191 --case border_refine_crab_beach_35 \
        --own-template OUT/turtle/turtle.yaml --data-dir ../shared/refine_data

(--case: a case of bench_crab_files.py --batch heldout16 (or --batch border17), drawn again with that seed; its pixels are read back from
the PNG the bench writes, as the `regrun` command reads them, into OUT/diag_border_trace/.)
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from regrun.config import compose
from regrun.detection.calibration import calibration_home, load_calibration
from regrun.detection.crab_data import load_template, synthetic_crab
from regrun.detection.detector import StrideFit
from regrun.detection.scenes import Scene, clutter_background, compose_scene, downscale_scene, image_scene
from regrun.imaging.transforms import rotation_matrix
from regrun.solvers.hierarchical import build_detector, calibration_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_crab_border import SIDES  # noqa: E402


def circ(a, b):
    return abs((a - b + 180.0) % 360.0 - 180.0)


def border_scene(seed: int, per_side: int, only: float, size=(384, 512), claw=20.0, eye=8.0):
    """bench_crab_border.py's draw, the scene whose angle rounds to `only`."""
    full = synthetic_crab(0)
    gen = torch.Generator().manual_seed(seed)

    def u(lo, hi):
        return lo + (hi - lo) * float(torch.rand(1, generator=gen, dtype=torch.float64))

    h, w = size
    r = 0.5 * math.hypot(*full.size)
    for side in SIDES:
        for _ in range(per_side):
            depth = u(2.0, r)
            along = u(r, (w if side in ("top", "bottom") else h) - 1 - r)
            centre = {"top": (depth, along), "bottom": (h - 1 - depth, along), "left": (along, depth),
                      "right": (along, w - 1 - depth)}[side]
            angle = u(-180.0, 180.0)
            art = {n: u(-claw, claw) if "claw" in n else u(-eye, eye) for n in full.parts}
            scene = compose_scene(full, clutter_background((h, w), gen), centre, angle, art)
            if abs(round(angle, 1) - only) < 0.051:
                return full, scene
    raise SystemExit(f"no scene at {only} deg")


def trace(det, image, truth, log=print):
    """truth: in the searched scene's pixels (Truth.downscaled). Returns the detection."""
    records = {}
    orig = det.border_losses

    def wrapped(node, y, fit):  # the registrar's fit before the border rule, per spike node
        records[node] = (y, StrideFit(fit.centre.clone(), fit.angle.clone(), fit.loss.clone()))
        return orig(node, y, fit)

    det.border_losses = wrapped
    d = det._run(image, extracting=False)
    det.border_losses = orig
    hyps = det.border_hypotheses, det.border_found  # the rule's calls on the true poses below must not replace the run's
    tpl = det.template
    rot = rotation_matrix(truth.angle, degrees=True, clockwise=True, dtype=torch.float64, device="cpu")
    tc = torch.tensor(tpl.centre, dtype=torch.float64)
    maps = {n: r.occurrence for n, r in d.nodes.items()}
    for node, _ in det.order:
        st, res, motif = det.settings[node], d.nodes[node], det.motifs[node]
        if not det.tree.get(node):
            piv = torch.tensor(truth.parts[node][:2], dtype=res.locations.dtype)
            dist = (res.locations - piv).norm(dim=1)
            near = torch.nonzero(dist <= 3).flatten().tolist()
            rows = sorted(((float(res.fit.loss[k]), float(res.weights[k]), float(dist[k]),
                            circ(float(res.fit.angle[k]), truth.parts[node][2])) for k in near))[:2]
            log(f"leaf {node}: gamma {st.gamma:.3g}; strides near the truth (loss, weight, px, deg): "
                + ("; ".join(f"{a:.3g} {b:.3f} {c:.1f} {e:.1f}" for a, b, c, e in rows) or "none"))
            # weighted strides of this leaf on another leaf's place (the authors' near-identical eyes): mass in
            # this leaf's map where its parent's motif wants none
            ring = torch.nonzero((dist > 3) & (dist <= 20) & (res.weights >= 0.01)).flatten().tolist()
            if ring:  # mass near the part but off it: raises its parent's cost at the true pose
                log(f"  {node} strides of weight >= 0.01 3-20 px from its pivot (loss, weight, px, deg): "
                    + "; ".join(f"{float(res.fit.loss[k]):.3g} {float(res.weights[k]):.3f} {float(dist[k]):.1f} "
                                f"{circ(float(res.fit.angle[k]), truth.parts[node][2]):.1f}" for k in ring))
            for other in (n for n in truth.parts if n != node and not det.tree.get(n)):
                po = torch.tensor(truth.parts[other][:2], dtype=res.locations.dtype)
                dd = (res.locations - po).norm(dim=1)
                stray = torch.nonzero((dd <= 6) & (res.weights >= 0.01)).flatten().tolist()
                if stray:
                    log(f"  {node} strides of weight >= 0.01 within 6 px of {other}'s pivot (loss, weight, px): "
                        + "; ".join(f"{float(res.fit.loss[k]):.3g} {float(res.weights[k]):.3f} {float(dd[k]):.1f}"
                                    for k in stray))
            continue
        centre = (torch.tensor(truth.centre, dtype=torch.float64)
                  + rot @ (torch.tensor((motif.origin[0] + motif.centre[0], motif.origin[1] + motif.centre[1]),
                                        dtype=torch.float64) - tc))
        y = det.node_scene(node, image, maps)
        c, a = centre[None].to(y.dtype), torch.tensor([truth.angle], dtype=y.dtype)
        costs = det.channel_costs(node, y, c, a)[0]
        energy = (0.5 * motif.mask * motif.image ** 2).sum((-2, -1)).to(costs.dtype)
        obs = det.observable(node, y.shape[-2:], c, a)[0]
        ruled = orig(node, y, StrideFit(c, a, costs.sum()[None].clone()))
        kids = det.tree[node]
        log(f"{node}: true pose centre ({centre[0]:.1f}, {centre[1]:.1f}) angle {truth.angle:.1f}; gamma "
            f"{st.gamma:.3g}; per child (cost / energy, seen): "
            + ", ".join(f"{k} {float(costs[i]):.3g}/{float(energy[i]):.3g} {'in' if obs[i] else 'OUT'}"
                        for i, k in enumerate(kids))
            + f"; total {float(costs.sum()):.3g}; border rule -> {float(ruled[0]):.3g} "
              f"(weight {math.exp(-st.alpha * max(float(ruled[0]) - st.gamma, 0.0)) if math.isfinite(ruled[0]) else 0:.3g})")
        yy, raw = records.get(node, (y, res.fit))
        dist = (raw.centre - centre).norm(dim=1)
        near = torch.nonzero((dist <= 4) & torch.tensor([circ(float(v), truth.angle) <= 4 for v in raw.angle])).flatten()
        fin = torch.isfinite(raw.loss)
        log(f"  registrar: {int(fin.sum())} strides of finite loss; near the truth: "
            + ("; ".join(f"loss {float(raw.loss[k]):.3g} -> {float(res.fit.loss[k]):.3g} ({float(dist[k]):.1f} px, "
                         f"{circ(float(raw.angle[k]), truth.angle):.1f} deg, weight {float(res.weights[k]):.3g})"
                         for k in near.tolist()) or "none"))
        order = torch.argsort(raw.loss)
        best = [int(k) for k in order[:3] if torch.isfinite(raw.loss[k])]
        log("  best raw strides: " + "; ".join(f"{float(raw.loss[k]):.3g} -> {float(res.fit.loss[k]):.3g} at "
                                             f"{float(dist[k]):.0f} px {circ(float(raw.angle[k]), truth.angle):.0f} deg"
                                             for k in best))
    det.border_hypotheses, det.border_found = hyps
    log(f"root strides left as border hypotheses (one found child, one outside): {len(hyps[0])}")
    return d


def trace_completion(det, image, d, truth, log=print):
    """The top-down completion of detection d (complete), traced: the hypotheses it tries (root strides of weight
    >= min_weight, then the border rule's lone strides), and per leaf without a found stride at the truth, each
    hypothesis' start (its predicted joint's distance to the truth's pivot, its angle's to the truth's) and result
    (best loss, weight, distance of the result's joint to the prediction and to the truth, angle error).
    Returns the completed detection."""
    calls, reg = [], det.registrar.register_at
    names = {id(m): n for n, m in det.motifs.items()}

    def at(y, motif, centres, angles):
        fit = reg(y, motif, centres, angles)
        calls.append((names.get(id(motif)), centres.clone(), angles.clone(), fit))
        return fit

    hyps = {}
    orig_bh = det._border_hypotheses

    def bh(dd, h, c):
        out = orig_bh(dd, h, c)
        hyps["weighted"], hyps["border"] = list(h), list(out)
        return out

    det.registrar.register_at, det._border_hypotheses = at, bh
    try:
        done = det.complete(image, d)
    finally:
        det.registrar.register_at = reg
        del det._border_hypotheses
    root = d.nodes[d.root]
    tc = torch.tensor(truth.centre, dtype=torch.float64)
    log(f"completion hypotheses: weighted {hyps.get('weighted')}, border {hyps.get('border')}")
    for k in hyps.get("weighted", []) + hyps.get("border", []):
        log(f"  root stride {k}: centre {float((root.fit.centre[k].double() - tc).norm()):.1f} px and angle "
            f"{circ(float(root.fit.angle[k]), truth.angle):.1f} deg from the truth, raw weight {float(root.weights[k]):.3g}")
    for node, cen, ang, fit in calls:
        if node is None or det.tree.get(node):
            continue
        st, motif = det.settings[node], det.motifs[node]
        rel = torch.tensor((motif.joint[0] - motif.centre[0], motif.joint[1] - motif.centre[1]), dtype=torch.float64)

        def joints(c, a):
            t = torch.deg2rad(a.double())
            co, si = torch.cos(t), torch.sin(t)
            return c.double() + torch.stack((co * rel[0] + si * rel[1], -si * rel[0] + co * rel[1]), -1)

        piv = torch.tensor(truth.parts[node][:2], dtype=torch.float64)
        start = joints(cen[:1], ang[:1])[0]
        j = int(torch.argmin(fit.loss))
        end = joints(fit.centre[j:j + 1], fit.angle[j:j + 1])[0]
        w = math.exp(-st.alpha * max(float(fit.loss[j]) - st.gamma, 0.0)) if math.isfinite(fit.loss[j]) else 0.0
        log(f"  {node}: start joint {float((start - piv).norm()):.1f} px from the pivot, angles "
            f"{float(ang.min()):.1f}..{float(ang.max()):.1f} (truth {truth.parts[node][2]:.1f}); best loss "
            f"{float(fit.loss[j]):.3g} (gamma {st.gamma:.3g}, weight {w:.3g}) at {float((end - start).norm()):.1f} px "
            f"from the start, {float((end - piv).norm()):.1f} px / {circ(float(fit.angle[j]), truth.parts[node][2]):.1f} "
            f"deg from the truth")
    rot = rotation_matrix(truth.angle, degrees=True, clockwise=True, dtype=torch.float64, device="cpu")
    for node, _ in det.order:
        if not det.tree.get(node):
            continue
        motif, res = det.motifs[node], done.nodes[node]
        centre = tc + rot @ (torch.tensor((motif.origin[0] + motif.centre[0], motif.origin[1] + motif.centre[1]),
                                          dtype=torch.float64) - torch.tensor(det.template.centre, dtype=torch.float64))
        dist = (res.fit.centre.double() - centre).norm(dim=1)
        near = torch.nonzero(dist <= 6).flatten().tolist()
        rows = sorted((float(res.fit.loss[k]), float(res.weights[k]), float(dist[k]),
                       circ(float(res.fit.angle[k]), truth.angle)) for k in near)[:3]
        log(f"  after completion, {node} (gamma {det.settings[node].gamma:.3g}): strides within 6 px of its true "
            "centre (loss, weight, px, deg): " + ("; ".join(f"{a:.3g} {b:.3g} {c:.1f} {e:.1f}" for a, b, c, e in rows)
                                                  or "none"))
    return done


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=16174)
    ap.add_argument("--per-side", type=int, default=2)
    ap.add_argument("--only", type=float, default=85.8)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--files-seed", type=int, default=None)
    ap.add_argument("--case", default=None)
    ap.add_argument("--own-template", default=None)
    ap.add_argument("--batch", default="heldout16", choices=("heldout16", "border17"))
    ap.add_argument("--data-dir", default="../shared/refine_data")
    ap.add_argument("--out", default="outputs/diag_border_trace")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.case:
        from types import SimpleNamespace

        from bench_crab_files import EXIF, HELDOUT15, OWN, border17_cases, heldout15_cases, save
        ns = SimpleNamespace(seed=args.files_seed, data_dir=str(Path(args.data_dir).resolve()))
        if args.batch == "border17":
            cases = border17_cases(ns)
        else:
            own = ns.own_template = str(Path(args.own_template).resolve())
            cases = heldout15_cases(ns, HELDOUT15 + EXIF + tuple((own, *spec) for spec in OWN), borders=5,
                                    own_borders=2)
        name, t, image, truths, fmt, *_ = next(c for c in cases if c[0] == args.case)
        path = Path(args.out) / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save(image, path, fmt)
        full = load_template(t, ns.data_dir, "v1")
        scene = Scene(image_scene(str(path)).image.to(torch.float64), truths[0], name)
        folder, key = calibration_home(full, args.scale)
    else:
        full, scene = border_scene(args.seed, args.per_side, args.only)
        folder, key = None, f"synthetic_s{args.scale}"
    cfg = compose(["problem=crab_detection", "solver=hierarchical", *[f"solver.{o}" for o in args.set]]).solver
    det = build_detector(cfg, full.downscaled(args.scale), args.scale)
    load_calibration(calibration_path(cfg, key, folder), det)
    det.extract()
    sc = downscale_scene(scene, args.scale)
    d = trace(det, sc.image, sc.truth)
    done = trace_completion(det, sc.image, d, sc.truth)
    print(f"bottom-up score {d.score:.4f}; with completion {done.score:.4f}")


if __name__ == "__main__":
    main()
