"""Hierarchical invariant detection of a template (seed 002 §4.3, Algorithm 1, App. A.4).

Nodes run deepest first. A leaf registers its textured motif at every stride of the RGB scene; a non-leaf
registers its spike motif (a crop of its children's occurrence maps in the canonical template, extracted by
running the same detector on the template, A.4) at every stride of its children's maps stacked as channels
(eq. 11). Each stride's result becomes a gaussian bump at the node's joint in the scene, weighted by
exp(-alpha max(0, loss - gamma)) (eq. 14; summed as in the paper, or the pointwise max as the authors' code
does). The root's map is the detection: its sum is the score, ~1 for one crab and ~0 for none.

Registration of a motif at the strides is a pluggable `StrideRegistrar`: scene, motif, stride grid, angles ->
StrideFit (per-stride centre, angle, loss). The built-in one is the dense rotation search of
rotation_search.py (exhaustive search with FFTs: registrar=exhaustive); gradient registration (registrar=descent,
unrolled_registrar.py) plugs in the same way.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from ..errors import UserError
from ..imaging.gaussian import gaussian_filter
from ..imaging.keys import keys_grid_sample
from ..imaging.transforms import rotation_matrix
from .crab_data import Template, depth_first_order
from .rotation_search import DenseCost, StrideFit, StrideGrid, fit_strides

AGGREGATES = ("sum", "max")


@dataclass
class Motif:
    """What a node registers: image (C, h, w) and mask (h, w); `centre` is its rotation centre and `joint` the
    point whose scene position receives the node's bump (both motif coordinates, row/col); `origin` is the motif's
    top-left in template coordinates, so any template point can be mapped into the scene."""

    name: str
    kind: str  # "texture" or "spike"
    image: torch.Tensor
    mask: torch.Tensor
    centre: tuple[float, float]
    joint: tuple[float, float]
    origin: tuple[float, float]


@dataclass
class NodeSettings:
    """Per-node settings in pixels of the scene being searched. sigma: input blur of a leaf's scene (eq. 12's
    sigma_in), or the total smoothing of a spike node (eq. 13's sigma; the maps already carry sigma0)."""

    stride: int = 20
    angle_max: float = 60.0
    angle_step: float = 2.5
    sigma: float = 0.0
    alpha: float = 1.0
    gamma: float = 10.0
    ncc_min: float | None = None  # spike nodes: strides whose untransformed window has NCC <= this are skipped
    ncc_sigma: float = 10.0
    mask_erode: int = 0  # leaves: pixels peeled off the cost mask (see HierarchicalDetector)

    @property
    def full_circle(self) -> bool:
        return self.angle_max >= 180.0

    def angles(self) -> list[float]:
        """-angle_max ... angle_max every angle_step; with angle_max >= 180, the circle (-180, 180] once."""
        if self.full_circle:
            n = max(round(360.0 / self.angle_step), 1)
            return [180.0 - 360.0 * k / n for k in range(n)][::-1]
        n = round(self.angle_max / self.angle_step)
        return [k * self.angle_step for k in range(-n, n + 1)]


@dataclass(frozen=True)
class Completion:
    """Top-down completion of a detection (HierarchicalDetector.complete; docs/detection.md, "Completing a found
    crab's parts"). In the searched scene's pixels and degrees: root strides of weight >= min_weight are
    hypotheses; a leaf with no stride of weight >= min_part_weight within part_radius of where a hypothesis puts
    its joint is registered there from angles hypothesis +- angle_range every angle_step (its articulation).
    max_hypotheses bounds the weighted hypotheses, max_border_hypotheses the border rule's lone strides besides."""

    min_weight: float
    part_radius: float
    min_part_weight: float
    angle_range: float
    angle_step: float
    max_hypotheses: int
    max_border_hypotheses: int


class StrideRegistrar(Protocol):
    def __call__(self, scene: torch.Tensor, motif: Motif, grid: StrideGrid, angles: list[float]) -> StrideFit: ...


def exhaustive_registrar(scene: torch.Tensor, motif: Motif, grid: StrideGrid, angles: list[float]) -> StrideFit:
    """Every angle and integer translation by FFT correlation, the best per stride cell (rotation_search.py)."""
    dense = DenseCost(scene, motif.image, motif.mask, angles, motif.centre).costs()
    h, w = scene.shape[-2:]
    m, n = motif.mask.shape
    r = torch.arange(h, device=scene.device)
    c = torch.arange(w, device=scene.device)
    cr, cc = motif.centre
    valid = ((r >= cr) & (r <= h - m + cr))[:, None] & ((c >= cc) & (c <= w - n + cc))[None, :]
    return fit_strides(dense, angles, grid, valid)


def occurrence_map(size, locations: torch.Tensor, weights: torch.Tensor, sigma0: float,
                   aggregate: str = "sum", min_weight: float = 1e-6) -> torch.Tensor:
    """eq. 14: sum (or max) over strides of weight x a unit-mass sampled gaussian (sigma0) at the location,
    truncated to the image (mass falling outside is lost, not wrapped). Differentiable in locations and weights."""
    h, w = size
    out = torch.zeros(h, w, dtype=weights.dtype, device=weights.device)
    rad = math.ceil(3 * sigma0)
    off = torch.arange(-rad, rad + 1, dtype=weights.dtype, device=weights.device)
    for loc, wt in zip(locations, weights):
        if not bool(wt > min_weight) or not bool(torch.isfinite(loc).all()):
            continue
        base = torch.round(loc).detach()
        i0, j0 = int(base[0]) - rad, int(base[1]) - rad
        g0 = torch.exp(-0.5 * ((off + base[0] - loc[0]) / sigma0) ** 2)
        g1 = torch.exp(-0.5 * ((off + base[1] - loc[1]) / sigma0) ** 2)
        bump = wt * (g0[:, None] * g1[None, :]) / (g0.sum() * g1.sum())
        r0, r1 = max(i0, 0), min(i0 + 2 * rad + 1, h)
        c0, c1 = max(j0, 0), min(j0 + 2 * rad + 1, w)
        if r1 <= r0 or c1 <= c0:
            continue
        piece = bump[r0 - i0:r1 - i0, c0 - j0:c1 - j0]
        region = out[r0:r1, c0:c1]
        out = out.clone() if out.requires_grad else out
        out[r0:r1, c0:c1] = region + piece if aggregate == "sum" else torch.maximum(region, piece)
    return out


def stride_ncc(scene: torch.Tensor, motif: torch.Tensor, grid: StrideGrid) -> torch.Tensor:
    """NCC between each stride's untransformed window (motif-sized, at the anchor) and the motif, all channels."""
    m, n = grid.motif_size
    x = motif.reshape(-1)
    x = x - x.mean()
    out = []
    for r in grid.rows:
        wins = torch.stack([scene[:, r:r + m, c:c + n].reshape(-1) for c in grid.cols])
        wins = wins - wins.mean(1, keepdim=True)
        den = wins.norm(dim=1) * x.norm()
        out.append(torch.where(den > 0, wins @ x / den.clamp(min=1e-300), torch.zeros_like(den)))
    return torch.cat(out)


@dataclass
class NodeResult:
    fit: StrideFit
    weights: torch.Tensor     # (S,)
    locations: torch.Tensor   # (S, 2): the joint's scene position per stride
    occurrence: torch.Tensor  # (H, W)
    screened: torch.Tensor | None = None  # (S,) bool, strides kept by the NCC screen

    def best(self) -> int:
        return int(torch.argmin(self.fit.loss))


@dataclass
class Detection:
    nodes: dict[str, NodeResult]
    root: str
    motifs: dict[str, Motif]
    template_centre: tuple[float, float]
    timings: dict[str, float] = field(default_factory=dict)  # wall seconds per node
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of this process per node
    completed: dict[str, int] = field(default_factory=dict)  # strides the top-down completion added, per leaf

    @property
    def score(self) -> float:
        return float(self.nodes[self.root].occurrence.sum())

    def pose(self, node: str) -> dict[str, float]:
        """The min-loss stride's pose: joint position, angle, loss, weight."""
        res = self.nodes[node]
        k = res.best()
        return {"row": float(res.locations[k, 0]), "col": float(res.locations[k, 1]),
                "angle": float(res.fit.angle[k]), "loss": float(res.fit.loss[k]), "weight": float(res.weights[k])}

    def template_point(self, node: str, point, stride: int | None = None,
                       res: NodeResult | None = None) -> tuple[float, float]:
        """Where a template point lands in the scene according to one of node's strides (default: min-loss); `res`:
        those of another result of the node (an instance's own judgement of a parent, find_instances)."""
        res, motif = res or self.nodes[node], self.motifs[node]
        k = res.best() if stride is None else stride
        rel = torch.tensor((point[0] - motif.origin[0] - motif.centre[0], point[1] - motif.origin[1] - motif.centre[1]),
                           dtype=res.fit.centre.dtype, device=res.fit.centre.device)
        pos = res.fit.centre[k] + rotation_matrix(float(res.fit.angle[k]), degrees=True, clockwise=True, dtype=rel.dtype,
                                                      device=rel.device) @ rel
        return float(pos[0]), float(pos[1])

    def centre(self) -> tuple[float, float]:
        """The crab's centre: the template centre mapped by the root's best stride (on the extraction canvas,
        that is the template centre plus the canvas padding)."""
        return self.template_point(self.root, self.template_centre)

    def peak(self) -> tuple[float, float]:
        occ = self.nodes[self.root].occurrence
        i = int(torch.argmax(occ))
        return i // occ.shape[1], i % occ.shape[1]


def erode(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """The mask without its outer `pixels` rings (3x3 erosion, repeated)."""
    for _ in range(pixels):
        k = torch.ones(1, 1, 3, 3, dtype=mask.dtype, device=mask.device)
        mask = (torch.nn.functional.conv2d(mask[None, None], k, padding=1)[0, 0] >= 9 - 1e-6).to(mask.dtype)
    return mask


class HierarchicalDetector:
    """Algorithm 1 on a template tree.

    Leaves may leave the outer rings of their mask out of the cost (NodeSettings.mask_erode): in a scene the motif's
    border pixels are a mix of motif and background (the rotated, alpha-rounded paste), so their cost depends on
    the clutter. Measured on 6 generated half-size scenes: eroding by 1 px took the true-pose loss of the right eye
    from 3.9-6.5 to 0.3-0.6 while the best failure went from 9.3 to 3.5 (separation ratio 1.4 -> 5.8; left eye
    1.9 -> 2.7, left claw 3.8 -> 8.6). settings: node name -> NodeSettings (in the searched scene's pixels);
    sigma0: the bump width of every occurrence map; registrar: how motifs are registered at the strides."""

    def __init__(self, template: Template, settings: dict[str, NodeSettings], sigma0: float = 3.0,
                 aggregate: str = "sum", registrar: StrideRegistrar = exhaustive_registrar,
                 extraction_pad: int = 40, progress: Callable[[str], None] | None = None,
                 min_visible: float | None = None, extraction_registrar: StrideRegistrar | None = None,
                 completion: Completion | None = None):
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate={aggregate!r}; allowed: {', '.join(AGGREGATES)}")
        self.template = template
        self.tree = template.tree
        self.order = depth_first_order(self.tree, template.root)
        missing = [n for n, _ in self.order if n not in settings]
        if missing:
            raise ValueError(f"no detection settings for nodes {missing}")
        self.settings = settings
        self.sigma0 = sigma0
        self.aggregate = aggregate
        self.registrar = registrar
        # the canonical template's registrar (UnrolledRegistrar.for_extraction: no pruning); default the same
        self.extraction_registrar = extraction_registrar or registrar
        self.pad = extraction_pad
        self.progress = progress or (lambda msg: None)
        # inside a node: (fraction of the node's predicted work done, what runs now), from a registrar that
        # reports its progress (a `report` attribute: UnrolledRegistrar); None: nothing
        self.inside: Callable[[float, str], None] | None = None
        # before a spike node runs: (node, the share of its descent's most work it will run), when its children's
        # maps tell (they are empty); None: nothing is told ahead
        self.ahead: Callable[[str, float], None] | None = None
        self.min_visible = min_visible  # None: objects are searched only where every motif fits (no border rule)
        # None, or a registrar without register_at (the exhaustive search): no top-down completion
        self.completion = completion if hasattr(registrar, "register_at") else None
        self.motifs: dict[str, Motif] = {}
        for name, part in template.parts.items():
            h, w = part.size
            mask = erode(part.mask, settings[name].mask_erode)
            self.motifs[name] = Motif(name, "texture", part.image, mask, (h // 2, w // 2), part.pivot,
                                      tuple(float(v) for v in part.offset))
        self.canonical: Detection | None = None
        # the root's strides (indices into its last fit) that the border rule left with one found child and a
        # child outside (border_losses): hypotheses for the top-down completion (complete)
        self.border_hypotheses = torch.zeros(0, dtype=torch.long, device=template.image.device)
        self.border_found = torch.zeros(0, dtype=torch.long, device=template.image.device)

    # -- one node --------------------------------------------------------------------------------------------------
    def _spike_blur(self, node: str) -> float:
        s = self.settings[node].sigma
        return math.sqrt(max(s * s - self.sigma0 * self.sigma0, 0.0))

    def node_scene(self, node: str, scene: torch.Tensor, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        kids = self.tree.get(node, ())
        if not kids:
            sig = self.settings[node].sigma
            return gaussian_filter(scene, sig) if sig > 0 else scene
        stacked = torch.stack([maps[k] for k in kids])  # eq. 11
        sc = self._spike_blur(node)
        return gaussian_filter(stacked, sc, tail=2) if sc > 0 else stacked

    def register_node(self, node: str, y: torch.Tensor, border: bool = True,
                      extracting: bool = False) -> tuple[StrideFit, torch.Tensor | None]:
        """Strided registration of node's motif in its scene y, and the NCC screen of spike strides (strides
        that fail it get loss inf). Independent of alpha and gamma, so calibration registers once. With the border
        rule on (min_visible set, `border`: off on the extraction canvas, where nothing is outside) a spike node is
        also searched where its motif sticks out of the image, and its losses count observable children only
        (border_losses)."""
        st, motif = self.settings[node], self.motifs[node]
        pad = self._pad(node, border)
        # outside the image the children's maps are zero: the padding is what the window sampling reads there too
        yp = torch.nn.functional.pad(y, (pad,) * 4) if pad else y
        grid = StrideGrid.build(yp.shape[-2:], motif.mask.shape, st.stride)
        registrar = self.extraction_registrar if extracting else self.registrar
        if hasattr(registrar, "report"):
            registrar.report = self.inside
        fit = registrar(yp, motif, grid, st.angles())
        screened = None
        if motif.kind == "spike" and st.ncc_min is not None:
            wide = gaussian_filter(yp, st.ncc_sigma, tail=2)
            mwide = gaussian_filter(motif.image, st.ncc_sigma, tail=2)
            screened = stride_ncc(wide, mwide, grid) > st.ncc_min
            fit.loss = torch.where(screened, fit.loss, torch.full_like(fit.loss, math.inf))
        if pad:
            fit = StrideFit(fit.centre - pad, fit.angle, fit.loss)
            fit.loss = self.border_losses(node, y, fit)
        return fit, screened

    # -- the border (docs/detection.md, "The border") ---------------------------------------------------------------
    def outline(self, node: str) -> torch.Tensor:
        """(P, 2) template coordinates of the mask pixels of every leaf under node (a leaf: its own), the part as
        the template lays it out."""
        kids = self.tree.get(node, ())
        if kids:
            return torch.cat([self.outline(k) for k in kids])
        motif = self.motifs[node]
        q = torch.nonzero(motif.mask > 0).to(torch.float64)
        return q + torch.tensor(motif.origin, dtype=q.dtype, device=q.device)

    def _pad(self, node: str, border: bool = True) -> int:
        """Zeros register_node puts around a node's scene: a spike node's with the border rule on, else none."""
        return self.border_pad(node) if border and self.motifs[node].kind == "spike" and self.min_visible is not None \
            else 0

    def border_pad(self, node: str) -> int:
        """Zeros around a spike node's scene: its (unrotated) motif can then be centred on any image pixel."""
        return max(self.motifs[node].mask.shape) // 2 + 1

    def observable(self, node: str, size, centre: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """(S, children) bool: whether each child, laid out as in the template by the strides' poses (centre
        (S, 2), angle (S,)), has every mask pixel of its leaves inside an image of `size` (then it can be found;
        a child cut by the border, or outside, is unknown)."""
        motif = self.motifs[node]
        dt, dev = centre.dtype, centre.device
        at = torch.tensor((motif.origin[0] + motif.centre[0], motif.origin[1] + motif.centre[1]), dtype=dt, device=dev)
        rot = rotation_matrix(angle.to(dt), degrees=True, clockwise=True)  # (S, 2, 2)
        h, w = size
        out = []
        for kid in self.tree[node]:
            p = centre[:, None, :] + torch.einsum("sij,pj->spi", rot, self.outline(kid).to(dt).to(dev) - at)
            inside = torch.stack((p[..., 0], h - 1 - p[..., 0], p[..., 1], w - 1 - p[..., 1]), -1).amin(-1)
            out.append(inside.amin(-1) >= 0)
        return torch.stack(out, 1)

    def channel_costs(self, node: str, y: torch.Tensor, centre: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """(S, C): eq. 13's masked L2 per channel (child) of node's motif placed at the poses in its scene y."""
        motif = self.motifs[node]
        m, n = motif.mask.shape
        dt, dev = y.dtype, y.device
        q = torch.stack(torch.meshgrid(torch.arange(m, dtype=dt, device=dev), torch.arange(n, dtype=dt, device=dev),
                                       indexing="ij"), -1) - torch.tensor(motif.centre, dtype=dt, device=dev)
        rot = rotation_matrix(angle.to(dt), degrees=True, clockwise=True)
        pts = centre.to(dt)[:, None, None, :] + torch.einsum("sij,mnj->smni", rot, q)  # (S, m, n, 2)
        window = keys_grid_sample(y, pts)  # (C, S, m, n)
        x, mask = motif.image.to(dt), motif.mask.to(dt)
        return (0.5 * mask * (window - x[:, None]) ** 2).sum((-2, -1)).T

    def border_losses(self, node: str, y: torch.Tensor, fit: StrideFit) -> torch.Tensor:
        """The border rule on a spike node's fit (centres in y's pixels; docs/detection.md, "The border"). A child
        that the stride's pose lays out partly or wholly outside the image (observable) is unknown and leaves the
        cost. A stride with an unknown child counts only when its observable children hold >= min_visible of the
        motif's energy and at least two of them are found where the pose puts them (their eq. 13 cost below half
        their energy: one found child does not fix a pose, it leaves a circle of them); its loss is the
        registrar's loss times the observable children's share of eq. 13 at that pose, divided by their share of
        the energy (the mismatch seen, extrapolated to the whole motif, whose gamma was calibrated on whole
        objects). Other such strides get loss inf; strides of a non-root node that see every child keep their loss.

        The root (the object) needs two found children at every stride, not only where one is unknown: its gamma
        is the midpoint of its successes and its best calibration failure, and where that failure had every child
        absent and the root has two children (the turtle: head, flippers) gamma equals one child's energy, so a
        pose that matched one child alone got weight 1 and made an instance (heldout16, the turtle's palette
        file: three head-only instances, score 14.88; docs/detection.md, "One child is not an instance").
        Inner nodes keep the old rule: their strides count only through the root, which needs two of its own."""
        motif = self.motifs[node]
        loss = fit.loss.clone()
        finite = torch.isfinite(loss)
        if node == self.template.root:
            self.border_hypotheses = torch.zeros(0, dtype=torch.long, device=loss.device)
            self.border_found = torch.zeros(0, dtype=torch.long, device=loss.device)
        if not bool(finite.any()):
            return loss
        obs = self.observable(node, y.shape[-2:], fit.centre[finite], fit.angle[finite])
        part = ~obs.all(1)
        if node == self.template.root:
            part = torch.ones_like(part)  # every stride is judged (above); a whole view keeps its loss if enough
        if not bool(part.any()):
            return loss
        energy = (0.5 * motif.mask * motif.image ** 2).sum((-2, -1)).to(loss.dtype)  # (C,)
        costs = self.channel_costs(node, y, fit.centre[finite][part], fit.angle[finite][part])
        # a child found where the pose puts it is seen, whatever the rigid layout says: the layout ignores the
        # child's articulation, and an eye turned 8 deg inwards lies inside while its unturned layout crosses the
        # border (the authors' crab at 143.4 deg, held-out file 16191 border_refine_crab_beach_35: the eye pair
        # counted its found left eye unknown, one eye of two is < min_visible, and the crab was lost)
        seen = obs[part] | (costs < 0.5 * energy)
        visible = (seen * energy).sum(1) / energy.sum().clamp_min(torch.finfo(loss.dtype).tiny)
        found = costs < 0.5 * energy
        enough = (visible >= self.min_visible) & (found.sum(1) >= min(2, seen.shape[1]))
        # a stride that sees every child keeps the registrar's loss (share / visible is 1 up to the quadrature)
        whole = seen.all(1)
        share = torch.where(whole, torch.ones_like(visible),
                            (costs * seen).sum(1) / costs.sum(1).clamp_min(torch.finfo(costs.dtype).tiny) / visible)
        kept = loss[finite]
        kept[part] = torch.where(enough, kept[part] * share, torch.full_like(visible, math.inf))
        loss[finite] = kept
        if node == self.template.root:
            # one found child and a child unknown (outside): the completion's border hypotheses
            # (complete); their loss stays inf unless the completion finds a second child where they put it
            lone = (found.sum(1) == 1) & ~seen.all(1)  # min_visible is judged on the rerun, the parts completed
            self.border_hypotheses = torch.nonzero(finite).flatten()[torch.nonzero(part).flatten()[lone]]
            self.border_found = torch.argmax(found[lone].to(torch.int8), 1)  # which child each one found
        return loss

    def node_result(self, node: str, fit: StrideFit, size, screened=None) -> NodeResult:
        """eq. 14 from a node's stride fits with its current alpha and gamma."""
        st, motif = self.settings[node], self.motifs[node]
        weights = torch.exp(-st.alpha * (fit.loss - st.gamma).clamp(min=0))
        weights = torch.where(torch.isfinite(fit.loss), weights, torch.zeros_like(weights))
        rel = torch.tensor((motif.joint[0] - motif.centre[0], motif.joint[1] - motif.centre[1]),
                           dtype=fit.centre.dtype, device=fit.centre.device)
        t = torch.deg2rad(fit.angle)
        c, s = torch.cos(t), torch.sin(t)
        locations = fit.centre + torch.stack((c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1]), -1)
        occ = occurrence_map(size, locations, weights, self.sigma0, self.aggregate)
        return NodeResult(fit, weights, locations, occ, screened)

    def _run_node(self, node: str, y: torch.Tensor, extracting: bool = False) -> NodeResult:
        fit, screened = self.register_node(node, y, border=not extracting, extracting=extracting)
        return self.node_result(node, fit, y.shape[-2:], screened)

    # -- the tree ---------------------------------------------------------------------------------------------------
    def predicted_work(self, shape) -> dict[str, float] | None:
        """Predicted CPU seconds of each node of a detection in a scene of `shape` (C, H, W), from the registrar's
        work model (UnrolledRegistrar.work; call after extract()); None for a registrar without one or a scene
        smaller than the motifs. Progress weighs the nodes by it (the crab node costs 2-4x a leaf)."""
        plan = self.predicted_plan(shape)
        return None if plan is None else {node: expected_seconds(segs) for node, segs in plan.items()}

    def predicted_plan(self, shape, extracting: bool = False) -> dict[str, list[tuple[str, float]]] | None:
        """Per node the predicted CPU seconds of its stages as (kind of work, seconds), in the order they run:
        ("leaf coarse search" | "spike coarse search", the FFT search's transforms), ("leaf scan" | "spike scan",
        its pass over the dense cost after them), ("leaf descent" | "spike descent NODE", the descent rounds). Progress corrects each kind's rate online (monitor.WorkETA). `extracting`: extract()'s
        work (the extraction registrar on the padded canvas, `shape` ignored); None as for predicted_work."""
        registrar = self.extraction_registrar if extracting else self.registrar
        work = getattr(registrar, "work", None)
        if work is None:
            return None
        if extracting:
            shape = self.canvas_shape()
        else:
            need = self.min_scene_size()
            if shape[-2] < need[0] or shape[-1] < need[1]:
                return None
        plan = {}
        for node, layout in self.node_layouts(shape, extracting=extracting):
            w = work(*layout)
            kind = "spike" if self.tree.get(node) else "leaf"
            # a spike node's descent is its own kind: its items stop early at a rate its node sets (on the eta8
            # tuning traces the eye pair's ran 0.2-2.3x the model and the crab's 0.15-1.3x, with no fixed relation),
            # so the eye pair's rate would mislead the crab's ETA; the leaves' descents run alike and share a kind
            descent = f"spike descent {node}" if kind == "spike" else "leaf descent"
            most = max(sum(w.rounds), 1e-300)
            plan[node] = [(f"{kind} coarse search", w.coarse - w.scan), (f"{kind} scan", w.scan),
                          (descent, sum(w.rounds)) if w.yields is None else
                          (descent, sum(w.rounds), sum(r * y for r, y in zip(w.rounds, w.yields)) / most,
                           *([sum(r * f for r, f in zip(w.rounds, w.floors)) / most] if w.floors else []))]
        return plan

    def predicted_extraction_work(self) -> dict[str, float] | None:
        """Predicted CPU seconds of each node of extract() (the extraction registrar's work model on the padded
        canvas; the spike motifs, not extracted yet, as expected_spike_box lays them out), or None for a
        registrar without a model. Extraction's progress weighs its nodes by it (issue 19)."""
        plan = self.predicted_plan(None, extracting=True)
        return None if plan is None else {node: expected_seconds(segs) for node, segs in plan.items()}

    def canvas_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of extract()'s canvas: the template padded on black by `pad`."""
        c, h, w = self.template.image.shape
        return c, h + 2 * self.pad, w + 2 * self.pad

    def expected_spike_boxes(self) -> dict[str, tuple[int, int, int, int]]:
        """Per spike node, the canvas box (r0, r1, c0, c1) extract_motif is expected to crop, from the template's
        geometry alone: the children's joints (a leaf's pivot; a spike node's box centre), each bump reaching
        where a unit bump of the node's total smoothing falls to 1/20 of its peak, grown by extract_motif's
        dilation, clipped to the canvas. Only extraction's progress reads it (before the motifs exist)."""
        _, hc, wc = self.canvas_shape()
        joints: dict[str, tuple[float, float]] = {}
        for name, part in self.template.parts.items():
            r, c = part.pivot_in_template()
            joints[name] = (r + self.pad, c + self.pad)
        boxes = {}
        for node, _ in self.order:
            kids = self.tree.get(node, ())
            if not kids:
                continue
            sigma = max(self.settings[node].sigma, self.sigma0)
            reach = sigma * math.sqrt(2 * math.log(20))
            dil = 2 * math.ceil(2 * self._spike_blur(node)) + 2 * math.ceil(2 * self.sigma0)
            rows, cols = [joints[k][0] for k in kids], [joints[k][1] for k in kids]
            r0 = max(math.ceil(min(rows) - reach) - dil, 0)
            r1 = min(math.floor(max(rows) + reach) + 1 + dil, hc)
            c0 = max(math.ceil(min(cols) - reach) - dil, 0)
            c1 = min(math.floor(max(cols) + reach) + 1 + dil, wc)
            boxes[node] = (r0, r1, c0, c1)
            joints[node] = (r0 + (r1 - r0) // 2, c0 + (c1 - c0) // 2)
        return boxes

    def node_layouts(self, shape: tuple[int, ...], extracting: bool = False):
        """Per node in detection order: (node, (the registrar's input shape, motif, stride grid, angles)) for a
        scene of this shape, the children's maps padded as the border rule pads them (not on the extraction
        canvas, `extracting`: there a spike motif not extracted yet is laid out by expected_spike_boxes): what a
        work model reads."""
        boxes = self.expected_spike_boxes() if extracting else {}
        for node, _ in self.order:
            st = self.settings[node]
            motif = self.motifs.get(node)
            if motif is None:  # extracting: a motif of the expected size stands in (the model reads its shape)
                r0, r1, c0, c1 = boxes[node]
                mask = torch.ones(r1 - r0, c1 - c0, dtype=self.template.image.dtype, device=self.template.image.device)
                centre = ((r1 - r0) // 2, (c1 - c0) // 2)
                motif = Motif(node, "spike", mask.expand(len(self.tree[node]), -1, -1), mask, centre, centre,
                              (float(r0 - self.pad), float(c0 - self.pad)))
            kids = self.tree.get(node, ())
            pad = self.border_pad(node) if kids and self.min_visible is not None and not extracting else 0
            size = (shape[-2] + 2 * pad, shape[-1] + 2 * pad)
            grid = StrideGrid.build(size, motif.mask.shape, st.stride)
            yield node, ((len(kids) if kids else shape[0], *size), motif, grid, st.angles())

    def _run(self, scene: torch.Tensor, extracting: bool) -> Detection:
        import time

        nodes: dict[str, NodeResult] = {}
        maps: dict[str, torch.Tensor] = {}
        scenes: dict[str, torch.Tensor] = {}  # spike nodes' scenes built as their last child ended (self.ahead)
        said: set[str] = set()  # spike nodes told that a child found a part (_tell_ahead)
        timings, cpu = {}, {}
        order, near = self.order, not extracting and getattr(self.registrar, "near", False)
        leaves = [n for n, _ in order if not self.tree.get(n)]
        if near:  # every leaf before the spike nodes: the neighbourhood pass needs what all of them found
            order = [o for o in order if o[0] in leaves] + [o for o in order if o[0] not in leaves]
        for node, _ in order:
            t0, c0 = time.perf_counter(), time.process_time()
            y = scenes.pop(node) if node in scenes else self.node_scene(node, scene, maps)
            if node not in self.motifs:
                if not extracting:
                    raise RuntimeError(f"node {node!r} has no motif: call extract() first")
                self.motifs[node] = self.extract_motif(node, y)
            self.progress(f"{'extract' if extracting else 'detect'} {node}")
            nodes[node] = self._run_node(node, y, extracting)
            maps[node] = nodes[node].occurrence
            timings[node], cpu[node] = time.perf_counter() - t0, time.process_time() - c0
            if near and node == leaves[-1]:
                self._near_pass(scene, nodes, maps, timings, cpu)
            if self.ahead is not None and not extracting and (not near or all(n in maps for n in leaves)):
                self._tell_ahead(scene, maps, scenes, said)
        return Detection(nodes, self.template.root, dict(self.motifs), self.template.centre, timings, cpu)

    def _near_pass(self, scene: torch.Tensor, nodes: dict, maps: dict, timings: dict, cpu: dict) -> None:
        """The registrar's neighbourhood pass (UnrolledRegistrar.near; docs/detection.md, detgrey), once every leaf
        has descended its best strides by the coarse cost: each leaf then descends every other stride within reach
        of a part another leaf found (weight >= near_weight): the two parts' joints are that far apart in the
        template (rigid: articulation turns a part about its own joint), the leaf's motif centre lies within its
        centre's distance from its joint of its joint, a stride's cell centre within half the cell's diagonal of the
        motif centre it starts from, plus near_margin (the found part's and the descent's error). An object any of
        whose parts the first pass found gets every stride of its other parts; clutter only where it passes a leaf."""
        import time

        st = self.registrar.settings
        leaves = [n for n, _ in self.order if not self.tree.get(n)]
        found = {n: nodes[n].locations[torch.isfinite(nodes[n].fit.loss) & (nodes[n].weights >= st.near_weight)]
                 for n in leaves}

        def joint(m: Motif) -> tuple[float, float]:
            return m.origin[0] + m.joint[0], m.origin[1] + m.joint[1]

        for node in leaves:
            t0, c0 = time.perf_counter(), time.process_time()
            motif, ns = self.motifs[node], self.settings[node]
            grid = StrideGrid.build(scene.shape[-2:], motif.mask.shape, ns.stride)
            centres = grid.centres(nodes[node].locations.dtype, scene.device)
            own = math.dist(motif.centre, motif.joint) + ns.stride / math.sqrt(2) + st.near_margin
            near = torch.zeros(len(grid), dtype=torch.bool, device=scene.device)
            for other in leaves:
                if other == node or not found[other].numel():
                    continue
                reach = math.dist(joint(motif), joint(self.motifs[other])) + own
                for part in found[other].split(1024):  # (S, 1024) distances at most
                    near |= (torch.cdist(centres, part.to(centres.dtype)) <= reach).any(1)
            fit = self.registrar.near_pass(self.node_scene(node, scene, {}), motif, grid, ns.angles(),
                                           nodes[node].fit, torch.nonzero(near).flatten())
            nodes[node] = self.node_result(node, fit, scene.shape[-2:])
            maps[node] = nodes[node].occurrence
            timings[node] += time.perf_counter() - t0
            cpu[node] += time.process_time() - c0

    def _tell_ahead(self, scene: torch.Tensor, maps: dict, scenes: dict, said: set) -> None:
        """What a spike node not run yet will run, told to progress (`ahead(node, share)`) as soon as its children's
        maps tell it (eta11). Once they have all ended its scene is built (kept in `scenes` for its turn) and, when
        the registrar says its descent's share from it (descent_share: the maps are empty), that share is told.
        Before, a child's map holding a part of weight >= FOUND_PART_WEIGHT (a false claw in a crab-free scene) is
        told as share None, once (`said`): the node's items will run on such a part, so it is not to expect the floor
        a spike node before it ran (the eye pair's, in a scene whose eyes found nothing)."""
        share_of = getattr(self.registrar, "descent_share", None)
        weight_of = getattr(self.registrar, "part_weight", None)
        for node, kids in self.tree.items():
            ended = [k for k in kids or () if k in maps]
            if node in maps or node in scenes or not ended:
                continue
            whole = len(ended) == len(kids)
            # a child not run yet is a channel of zeros: what the ended ones found is all that is known
            y = self.node_scene(node, scene, maps if whole else {**maps, **{k: torch.zeros_like(maps[ended[0]])
                                                                              for k in kids if k not in maps}})
            if whole:
                scenes[node] = y
            pad = self._pad(node)
            y = torch.nn.functional.pad(y, (pad,) * 4) if pad else y
            share = share_of(y, self.motifs[node]) if whole and share_of is not None else None
            if share is not None:
                self.ahead(node, share)
            elif node not in said and weight_of is not None and weight_of(y, self.motifs[node]) >= FOUND_PART_WEIGHT:
                said.add(node)
                self.ahead(node, None)

    def extract_motif(self, node: str, y: torch.Tensor) -> Motif:
        """A.4: the children's maps on the canonical template, summed, thresholded at 1/20 of their peak, cropped
        to the support's bounding box and dilated by the spike filters' reach (the box mask Omega_v)."""
        support = y.sum(0)
        peak = float(support.max())
        if not peak > 0:
            raise RuntimeError(f"extraction of {node!r}: its children were not detected on the template (all "
                               "maps empty); check the leaves' gamma")
        rows = torch.nonzero((support > peak / 20).any(1)).flatten()
        cols = torch.nonzero((support > peak / 20).any(0)).flatten()
        dil = 2 * math.ceil(2 * self._spike_blur(node)) + 2 * math.ceil(2 * self.sigma0)
        r0, r1 = max(int(rows[0]) - dil, 0), min(int(rows[-1]) + 1 + dil, y.shape[-2])
        c0, c1 = max(int(cols[0]) - dil, 0), min(int(cols[-1]) + 1 + dil, y.shape[-1])
        image = y[:, r0:r1, c0:c1].clone()
        mask = torch.ones(r1 - r0, c1 - c0, dtype=y.dtype, device=y.device)
        h, w = mask.shape
        centre = (h // 2, w // 2)
        return Motif(node, "spike", image, mask, centre, centre, (float(r0 - self.pad), float(c0 - self.pad)))

    def extract(self) -> Detection:
        """Run the detector on the canonical template (padded on black) and keep the non-leaf motifs."""
        for node in [n for n in self.motifs if self.motifs[n].kind == "spike"]:
            del self.motifs[node]
        canvas = torch.nn.functional.pad(self.template.image, (self.pad,) * 4)
        self.canonical = self._run(canvas, extracting=True)
        return self.canonical

    def min_scene_size(self) -> tuple[int, int]:
        """The smallest scene every node's motif fits in (strides place whole motifs only; extract() first)."""
        return (max(m.mask.shape[0] for m in self.motifs.values()), max(m.mask.shape[1] for m in self.motifs.values()))

    def detect(self, scene: torch.Tensor) -> Detection:
        if any(n not in self.motifs for n, _ in self.order):
            self.extract()
        need = self.min_scene_size()
        if scene.shape[-2] < need[0] or scene.shape[-1] < need[1]:
            raise SceneTooSmall(tuple(scene.shape[-2:]), need)
        det = self._run(scene, extracting=False)
        return self.complete(scene, det) if self.completion is not None else det

    # -- top-down completion (docs/detection.md, "Completing a found crab's parts") -----------------------------------
    def _reregister_near(self, node: str, y: torch.Tensor, det: Detection, hyps: list[int], c: Completion) -> StrideFit:
        """A parent node's fit after completion, on its completed scene y: only its strides near what the completed
        hypotheses predict change (elsewhere the children's maps did not). Those (joint within 2 part_radius of
        the node's joint as a hypothesis puts it) are registered again on y from where they had converged, with
        one more start at the hypothesis' own pose of the node; every other stride keeps its fit (a global rerun
        of the eye pair and the crab cost 2-3 CPU-s, this a few hundredths)."""
        old, motif = det.nodes[node], self.motifs[node]
        dt, dev = old.fit.centre.dtype, old.fit.centre.device
        centre_t = (motif.origin[0] + motif.centre[0], motif.origin[1] + motif.centre[1])
        joint_t = (motif.origin[0] + motif.joint[0], motif.origin[1] + motif.joint[1])
        near = torch.zeros_like(old.fit.loss, dtype=torch.bool)
        starts, angles = [], []
        for k in hyps:
            joint = torch.tensor(det.template_point(det.root, joint_t, k), dtype=dt, device=dev)
            near |= (old.locations - joint).norm(dim=1) <= 2 * c.part_radius
            starts.append(torch.tensor(det.template_point(det.root, centre_t, k), dtype=dt, device=dev))
            angles.append(det.nodes[det.root].fit.angle[k].to(dt))
        near &= torch.isfinite(old.fit.loss)
        centres = torch.cat((torch.stack(starts), old.fit.centre[near]))
        turns = torch.cat((torch.stack(angles), old.fit.angle[near]))
        new = self._register_spike_at(node, y, centres, turns)
        loss = torch.where(near, torch.full_like(old.fit.loss, math.inf), old.fit.loss)
        return StrideFit(torch.cat((old.fit.centre, new.centre)), torch.cat((old.fit.angle, new.angle)),
                         torch.cat((loss, new.loss)))

    def _register_spike_at(self, node: str, y: torch.Tensor, centres: torch.Tensor, angles: torch.Tensor) -> StrideFit:
        """A spike node registered from given poses (motif centre, angle) on its scene y by the registrar's
        register_at, padded and judged by the border rule as register_node does."""
        pad = self.border_pad(node) if self.min_visible is not None else 0
        yp = torch.nn.functional.pad(y, (pad,) * 4) if pad else y  # as register_node pads it
        new = self.registrar.register_at(yp, self.motifs[node], centres + pad, angles)
        if pad:
            new = StrideFit(new.centre - pad, new.angle, new.loss)
            new.loss = self.border_losses(node, y, new)
        return new

    def judge_in_instance(self, det: Detection, node: str, kids: dict[str, StrideFit], root_stride: int,
                          radius: float) -> NodeResult | None:
        """A parent node of one instance judged on that instance's own children (find_instances' `judge`).

        Why: a parent's strides are registered on its children's whole maps, and a leaf's map also holds the
        leaf's false matches of intermediate weight. The authors' near-identical eyes make such strays near the
        eyes (the right-eye motif on the left eye, on stalks; weights 0.2-1 inside the eye pair's window on
        held-out seeds 44, 51, 53): the eye pair's stride then sits on its true pose (0.1-1.3 px, < 1 deg) with a
        loss 1.2-2.8x its gamma, weight 0.21 / 0.00 / 0.05, and the instance reported the eye pair missing while
        both eyes and the crab were found. Here the node's scene is made of the instance's children only (kids:
        each child's chosen stride, one row each; a unit bump weighted as in the detection), and the node is
        registered on it (register_at: the same cost, quadrature and precision as the detection's, so its
        calibrated gamma and alpha judge the loss) from where the root's stride puts it and from its own strides
        whose joints lie within `radius` of there. None when the node is a leaf, the registrar has no register_at, or kids is incomplete."""
        children = self.tree.get(node, ())
        if not children or not hasattr(self.registrar, "register_at") or any(k not in kids for k in children):
            return None
        res, motif = det.nodes[node], self.motifs[node]
        size = res.occurrence.shape[-2:]
        y = self.node_scene(node, None, {k: self.node_result(k, kids[k], size).occurrence for k in children})
        dt, dev = res.fit.centre.dtype, res.fit.centre.device
        centre_t = (motif.origin[0] + motif.centre[0], motif.origin[1] + motif.centre[1])
        joint = torch.tensor(det.template_point(det.root, (motif.origin[0] + motif.joint[0],
                                                           motif.origin[1] + motif.joint[1]), root_stride),
                             dtype=dt, device=dev)
        near = torch.isfinite(res.fit.loss) & ((res.locations - joint).norm(dim=1) <= radius)
        centres = torch.cat((torch.tensor([det.template_point(det.root, centre_t, root_stride)], dtype=dt, device=dev),
                             res.fit.centre[near]))
        angles = torch.cat((det.nodes[det.root].fit.angle[root_stride:root_stride + 1].to(dt), res.fit.angle[near]))
        return self.node_result(node, self._register_spike_at(node, y, centres, angles), size)

    def _border_hypotheses(self, det: Detection, hyps: list[int], c: Completion) -> list[int]:
        """The border rule's lone strides (border_losses), less those whose found child lies within part_radius of
        where a found crab (a hypothesis in `hyps` of weight >= min_part_weight) puts that child: a found crab's
        claw makes a circle of such strides too, and trying them cost ~0.9 CPU-s per half-size detection of a crab
        wholly inside (12 held-out heldout16 scenes, median 2.2 -> 3.1)."""
        kids = self.tree[det.root]
        found = [h for h in hyps if float(det.nodes[det.root].weights[h]) >= c.min_part_weight]
        joints = {}
        for i, kid in enumerate(kids):
            km = det.motifs[kid]
            joints[i] = (km.origin[0] + km.joint[0], km.origin[1] + km.joint[1])
        out = []
        for k, i in zip(self.border_hypotheses.tolist(), self.border_found.tolist()):
            if k in hyps or k >= len(det.nodes[det.root].fit.loss):
                continue
            here = det.template_point(det.root, joints[i], k)
            if any(math.dist(here, det.template_point(det.root, joints[i], h)) <= c.part_radius for h in found):
                continue
            out.append(k)
        # their own bound, not what the weighted ones leave of max_hypotheses: the lone strides make a circle about
        # the found child (equal losses, in stride order), and the one at the truth was the 9th of 9 at the seen
        # miss border17 17301 border_refine_crab_right_-168 (docs/detection.md, "The eye the completion left")
        return out[:c.max_border_hypotheses]

    @staticmethod
    def _in_image(p: torch.Tensor, size) -> bool:
        return bool(0 <= float(p[0]) <= size[0] - 1 and 0 <= float(p[1]) <= size[1] - 1)

    def _mask_in_image(self, leaf: str, fit: StrideFit, size) -> torch.Tensor:
        """(N,) bool: whether every pixel of the leaf's cost mask, at each pose of `fit` (motif centre, angle),
        lies in an image of `size`."""
        motif = self.motifs[leaf]
        dt = fit.centre.dtype
        q = torch.nonzero(motif.mask > 0).to(dt) - torch.tensor(motif.centre, dtype=dt, device=motif.mask.device)
        rot = rotation_matrix(fit.angle.to(dt), degrees=True, clockwise=True)  # (N, 2, 2)
        p = fit.centre[:, None, :] + torch.einsum("nij,pj->npi", rot, q.to(fit.centre.device))
        h, w = size
        return ((p[..., 0] >= 0) & (p[..., 0] <= h - 1) & (p[..., 1] >= 0) & (p[..., 1] <= w - 1)).all(1)

    def complete(self, scene: torch.Tensor, det: Detection) -> Detection:
        """The bottom-up pass can lose a thin leaf: none of its strides ends on it (its blurred rounds walk the
        authors' 2-px eye stalks off, or prune them), although the crab is found from its other parts. A found
        root stride fixes where each leaf's pivot is and, up to its articulation, its angle: so for every root
        stride of weight >= min_weight and every leaf without a stride of weight >= min_part_weight near its
        predicted joint (the instance rule of instances.py), the leaf is registered there by the registrar's last
        round (register_at) from its predicted pose turned by -angle_range ... angle_range about the pivot. A
        registration whose loss weighs >= min_part_weight (the leaf's own calibrated threshold) becomes a new
        stride of the leaf, and the parent nodes are registered again on the completed maps: near those
        hypotheses (_reregister_near) when each is a found crab, else everywhere. Nothing else changes:
        a crab-free scene (no root stride that heavy) or a crab with every part costs only the check."""
        c = self.completion
        root = det.nodes[det.root]
        ok = torch.isfinite(root.fit.loss) & (root.weights >= c.min_weight)
        hyps = torch.nonzero(ok).flatten()
        hyps = hyps[torch.argsort(root.fit.loss[hyps])][:c.max_hypotheses].tolist()
        # a crab with a claw outside and its eyes pruned has one found child: its root strides on that child's
        # bump (a circle of poses, 4 on the seen files) are hypotheses too, whose leaves in view are looked for
        # where each puts them; one is kept only if a second child is then found (the border rule, on the rerun)
        border = self._border_hypotheses(det, hyps, c)
        hyps = hyps + border
        leaves = [n for n, _ in self.order if not self.tree.get(n)]
        if not hyps:
            return det
        import time

        extra: dict[str, list] = {n: [] for n in leaves}
        completed: set[int] = set()  # the hypotheses that got a leaf
        deltas = torch.arange(-c.angle_range, c.angle_range + 1e-9, c.angle_step, dtype=torch.float64,
                              device=root.fit.angle.device)
        for node in leaves:
            t0, c0 = time.perf_counter(), time.process_time()
            motif, res, st = self.motifs[node], det.nodes[node], self.settings[node]
            joint_t = (motif.origin[0] + motif.joint[0], motif.origin[1] + motif.joint[1])
            dev = res.locations.device
            found = res.locations[torch.isfinite(res.fit.loss) & (res.weights >= c.min_part_weight)].to(torch.float64)
            for k in hyps:
                expected = torch.tensor(det.template_point(det.root, joint_t, k), dtype=torch.float64, device=dev)
                if found.numel() and bool(((found - expected).norm(dim=1) <= c.part_radius).any()):
                    continue
                if k in border and not self._in_image(expected, scene.shape[-2:]):
                    continue  # its joint is outside: nothing to look for (the rule's unknown child)
                angles = float(root.fit.angle[k]) + deltas
                # the motif centre that puts its joint at `expected` turned by each angle (node_result's inverse)
                rel = torch.tensor((motif.joint[0] - motif.centre[0], motif.joint[1] - motif.centre[1]),
                                   dtype=torch.float64, device=dev)
                t = torch.deg2rad(angles)
                co, si = torch.cos(t), torch.sin(t)
                centres = expected - torch.stack((co * rel[0] + si * rel[1], -si * rel[0] + co * rel[1]), -1)
                fit = self.registrar.register_at(self.node_scene(node, scene, {}), motif, centres, angles)
                if k in border:  # a pose counts where the leaf's turned mask lies in the image (coarse_starts' rule)
                    fit.loss = torch.where(self._mask_in_image(node, fit, scene.shape[-2:]), fit.loss,
                                           torch.full_like(fit.loss, math.inf))
                weight = torch.exp(-st.alpha * (fit.loss - st.gamma).clamp(min=0))
                j = int(torch.argmin(fit.loss))
                part = self.node_result(node, StrideFit(fit.centre[j:j + 1], fit.angle[j:j + 1], fit.loss[j:j + 1]),
                                        scene.shape[-2:])
                if not (bool(torch.isfinite(fit.loss[j])) and float(weight[j]) >= c.min_part_weight
                        and float((part.locations[0].to(torch.float64) - expected).norm()) <= c.part_radius):
                    continue
                extra[node].append(part.fit)
                completed.add(k)
                found = torch.cat((found, part.locations.to(torch.float64)))
            det.timings[node] += time.perf_counter() - t0
            det.cpu[node] += time.process_time() - c0
        if not any(extra.values()):
            return det
        nodes, maps = dict(det.nodes), {}
        inside, self.inside = self.inside, None  # progress has finished the nodes: the reruns report nothing
        merge = getattr(self.registrar, "merge", lambda f: f)
        # a found crab (root weight >= min_part_weight) fixes its parents' poses: they are registered again near it
        # only. A hypothesis lighter than that (a crab lost for want of the part; 0.08 on a held-out scene) is
        # not posed well enough for that: there the parents run again over the whole scene (2-3 CPU-s)
        # a border hypothesis is posed by its one found child and the completed parts: near it too
        local = all(float(det.nodes[det.root].weights[k]) >= c.min_part_weight or k in border for k in completed)
        for node, _ in self.order:
            t0, c0 = time.perf_counter(), time.process_time()
            if self.tree.get(node) and local:
                fit = self._reregister_near(node, self.node_scene(node, scene, maps), det, sorted(completed), c)
                nodes[node] = self.node_result(node, merge(fit), scene.shape[-2:])
            elif self.tree.get(node):
                nodes[node] = self._run_node(node, self.node_scene(node, scene, maps))
            elif extra[node]:
                fits = [det.nodes[node].fit] + extra[node]
                fit = StrideFit(torch.cat([f.centre for f in fits]), torch.cat([f.angle for f in fits]),
                                torch.cat([f.loss for f in fits]))
                nodes[node] = self.node_result(node, merge(fit), scene.shape[-2:])
            maps[node] = nodes[node].occurrence
            if self.tree.get(node) or extra[node]:
                det.timings[node] += time.perf_counter() - t0
                det.cpu[node] += time.process_time() - c0
        self.inside = inside
        done = Detection(nodes, det.root, det.motifs, det.template_centre, det.timings, det.cpu,
                         {n: len(v) for n, v in extra.items() if v})
        return self._judge_border(done, sorted(completed & set(border)), c)

    def _stride_near(self, det: Detection, node: str, k: int, c: Completion) -> StrideFit:
        """The stride of `node` (weight >= min_part_weight) whose joint lies nearest where root stride k puts it,
        within part_radius, as a one-row fit; an empty fit when there is none."""
        motif, res = self.motifs[node], det.nodes[node]
        here = torch.tensor(det.template_point(det.root, (motif.origin[0] + motif.joint[0],
                                                          motif.origin[1] + motif.joint[1]), k),
                            dtype=res.locations.dtype, device=res.locations.device)
        dist = (res.locations - here).norm(dim=1)
        ok = torch.isfinite(res.fit.loss) & (res.weights >= c.min_part_weight) & (dist <= c.part_radius)
        if not bool(ok.any()):
            return StrideFit(res.fit.centre[:0], res.fit.angle[:0], res.fit.loss[:0])
        j = int(torch.argmin(torch.where(ok, dist, torch.full_like(dist, math.inf))))
        return StrideFit(res.fit.centre[j:j + 1], res.fit.angle[j:j + 1], res.fit.loss[j:j + 1])

    def _judge_border(self, det: Detection, hyps: list[int], c: Completion) -> Detection:
        """Border hypotheses whose completion added a leaf, judged on their own parts (judge_in_instance, bottom
        up): each parent's scene is made of the stride of each child nearest where the hypothesis puts it (none:
        an empty map, a child outside is then unknown to the border rule), and the root's fits so found join its
        strides. Why: the parents' rerun reads the children's whole maps, and a leaf's stray match near its own
        place adds mass where the parent's motif wants none. At the seen miss (border17 17301, the authors' crab
        at -168.2 deg, left claw out) a right-eye stray of weight 0.68 lay 16 px from the right eye: with both
        eyes found at their truth (0.1 px) the eye pair at its true pose cost 0.0101 against gamma 0.00563
        (weight 0.004), so the crab had one found child. Inside the image the instance's parts are judged so
        (find_instances' judge); at the border the eye pair is the second child the root needs, so it must be
        judged before the root. The border rule (two found children) judges the root's result as any stride."""
        if not hyps or not hasattr(self.registrar, "register_at"):
            return det
        root = det.nodes[det.root]
        size = root.occurrence.shape[-2:]
        fits = []
        for k in hyps:
            picked: dict[str, StrideFit] = {}
            for node, _ in self.order:
                children = self.tree.get(node)
                if not children:
                    continue
                kids = {ch: picked[ch] if ch in picked else self._stride_near(det, ch, k, c) for ch in children}
                res = self.judge_in_instance(det, node, kids, k, 2 * c.part_radius)
                if res is None:
                    break
                if node == det.root:
                    fits.append(res.fit)
                    continue
                sub = Detection({**det.nodes, node: res}, det.root, det.motifs, det.template_centre, det.timings,
                                det.cpu, det.completed)
                picked[node] = self._stride_near(sub, node, k, c)
        if not fits:
            return det
        merge = getattr(self.registrar, "merge", lambda f: f)
        fits = [root.fit] + fits
        fit = StrideFit(torch.cat([f.centre for f in fits]), torch.cat([f.angle for f in fits]),
                        torch.cat([f.loss for f in fits]))
        nodes = dict(det.nodes)
        nodes[det.root] = self.node_result(det.root, merge(fit), size)
        return Detection(nodes, det.root, det.motifs, det.template_centre, det.timings, det.cpu, det.completed)


def scaled_plan(plan: dict, seconds: dict[str, float]) -> dict:
    """The work model's plan with each node's segments scaled so that its expected seconds are `seconds[node]` (the
    last detection's record): the record sets each node's size, the model its stages, their kinds and yields, so a
    descent's reports (its skipped work) mean the same with or without a record."""
    out = {}
    for node, segs in plan.items():
        k = seconds[node] / max(expected_seconds(segs), 1e-300) if node in seconds else 1.0
        out[node] = [(seg[0], seg[1] * k, *seg[2:]) for seg in segs]
    return out


# The weight of a part a spike node's child found (its occurrence map's bump, in any window a pose sees; a part
# found in full weighs 1) from which the node's descent is taken to run on, not to stop at once like the spike
# node's before it (_tell_ahead; eta11). Chosen on the eta11 tuning traces' crab-free scenes: where the crab's
# descent stopped at once after the eye pair's had, its children's maps held parts of weight <= 7.1e-4 (7 scenes
# at half size, 7 at full); where it ran on (0.33-0.75 of its most work), 8.6e-3-0.71 (4 at half size, 1 at full):
# the geometric middle
FOUND_PART_WEIGHT = 2.5e-3


def work_family(kind: str) -> str:
    """The family of a plan's kind of work (WorkETA's families), whose measured rate a kind not run yet takes: the
    FFT search and its scan are the same work at a leaf and at a spike node ("coarse search", "scan"); the spike
    nodes' descents share theirs ("spike descent": float32 samples of items that stop early; the crab's ran 0.6-1.2x
    the eye pair's rate on the eta11 tuning traces); a leaf's descent is its own (eta11)."""
    node, _, stage = kind.partition(" ")
    if kind.startswith("spike descent"):
        return "spike descent"
    return stage if node in ("leaf", "spike") and stage in ("coarse search", "scan") else kind


def expected_seconds(segs) -> float:
    """A node's expected seconds from its plan's segments: (kind, seconds) or (kind, seconds of the most work,
    the share of it expected to run[, the least share it can run])."""
    return sum(seg[1] * (seg[2] if len(seg) > 2 else 1.0) for seg in segs)


class SceneTooSmall(UserError):
    """A scene smaller than a motif: no stride fits it (sizes in the searched scene's pixels)."""

    def __init__(self, size, need):
        self.size, self.need = tuple(size), tuple(need)
        super().__init__(f"the scene is {size[0]}x{size[1]} px, smaller than the detector's motifs need "
                         f"({need[0]}x{need[1]} px): the template is searched only where it fits whole")
