"""The paper's stride registrar (seed 002 §4.3, App. A.4): unrolled gradient registration of a motif at every
stride of a scene, batched over strides and initial angles, each item stopping on its own.

It plugs into HierarchicalDetector as a StrideRegistrar (detection.py), beside the covering search of
rotation_search.py (the baseline of the paper's Fig. 1), and is built on the motif registration of
motif_registration.py:

- textured leaves: eq. 12 in closed form (LeafCost), SE(2) about the window centre, in rounds coarse to fine
  (lengths in full-size pixels, divided by the scene's scale). The default: sigma^2 = 9 with input blur 3 (twice
  the paper's: it widens the basin to about +-8 px and +-20 deg for a thin eye), then the paper's sigma^2 = 9 with
  sigma_in^2 = 9/4, then its sigma^2 = 1e-2 without blur (the leaf's loss). Blurred rounds sum the cost over every
  h-th window point (quadrature_step; a round there only has to bring poses into the next one's basin). After the
  first round each stride's best start goes on, after the second the 128 strides the next round ranks best
  (leaf_rank: the correlation; the blurred cost itself ranked a thin eye's true pose 104th on the canonical
  template); at each ranking an item rated better where its round started goes on from there (leaf_guard: the
  blurred phi of a thin stalk can have its minimum 10 deg off the truth). Steps: nu / H_ii, H the
  Gauss-Newton matrix of the motif at its own pose (curvature_steps; the authors' nu 8 pi sigma^4 rule is
  `leaf_step_rule: authors`), with backtracking (a step that raises an item's loss is undone and halved, the
  rule of the authors' Fig. 5 code). Keys a = -0.75 runs on torch's grid_sample (keys_grid_sample), the
  authors' PyTorch detector's interpolation and ~25x faster on CPU than the general Keys kernel;
- spike (non-leaf) nodes: eq. 13. The detector hands the registrar its children's maps already filtered by the
  complementary gaussian g_c (HierarchicalDetector.node_scene), and the motif cut from the same maps on the
  template. g_c is isotropic, so for SE(2) g_c * (Y o tau) = (g_c * Y) o tau and eq. 13 is the masked L2 match of
  these pre-filtered maps: LeafCost at sigma = 0. `spike_blur` widens both by one more isotropic gaussian (a
  wider basin, Theorem 5.1's sigma: the motion a stride must bridge is up to half a stride, more than the
  covering search's sigma was chosen for); steps are eq. 17 for that total sigma, times `spike_factor`, divided by
  C (LeafCost's cost is 1/2 ||.||^2 where the theorem's is 1/(2C) ||.||^2), with the same backtracking (the
  theorem's steps hold near the optimum only). Spike strides are screened by NCC
  before iterating, as the authors' code does, but with the motif turned to each starting angle: only the
  `spike_keep` best-correlated strides are registered.

Rotation: gradient descent from one angle has a basin of a few tens of degrees. By default (coarse_step > 0) each
stride starts from its `coarse_starts` best poses of an FFT search of every shift at angles `coarse_step` apart
(coarse_starts; rotation_search.DenseCost), and spike nodes register only the `spike_keep` strides that search
ranks best (in place of the NCC screen): 27 -> 6 CPU-s per half-size detection over the whole circle (issue 17;
docs/detection.md). With coarse_step = 0 every stride starts from the angles -angle_max, ..., angle_max every
`start_step` degrees at its own anchor (spike strides screened by the turned NCC) and keeps its best start.

Each basin is reported once: a stride whose converged centre lies within `dedup` pixels of a stride with a lower
loss reports loss = inf (several strides around one crab descend to the same pose; counted each time they would
sum to a score of several crabs). This is the iterative counterpart of the covering search's one-minimum-per-cell.

Precision: leaves may run in float32 (`leaf_dtype`; textured costs keep < 1e-6 relative error, gaussian.py) and
their losses come back in the scene's dtype; spike levels' descent in `spike_dtype` (float32 by default since
crabfast: the converged eye pair's and crab's losses move by ~3e-5 relative, far inside their thresholds' margins,
and the spike descents cost ~40% less; docs/detection.md), their coarse search in leaf_dtype (it only picks starts
and strides; the descent refines them).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..imaging.gaussian import gaussian_filter, gaussian_radius
from ..imaging.keys import keys_grid_sample
from ..imaging.transforms import rotation_matrix
from ..optim.unrolled import unrolled_descent
from .detector import Motif, stride_ncc
from .motif_registration import (
    LeafCost,
    LeafRound,
    curvature_steps,
    leaf_steps,
    quadrature_step,
    spike_positions,
)
from .rotation_search import DenseCost, StrideFit, StrideGrid, fft_shape

# Spike maps are summed over every h-th window point, h = floor(spike sigma / 1.5): every 3rd point at full size
# (sigma 4.5 px; detection 4x faster than on every point, calibration separable), every point at half size (every
# 3rd point there, ratio 0.75, left the v1 eye pair inseparable in calibration: 2 of 10 found; every point: 10)
SPIKE_QUADRATURE = 1.5


@dataclass(frozen=True)
class UnrolledSettings:
    """Lengths in pixels of the searched scene. No defaults: the values are configs/solver/hierarchical.yaml's
    `unrolled` section, converted by solvers/hierarchical.py's make_registrar (the one place they are written)."""

    leaf_rounds: tuple[LeafRound, ...]
    leaf_nu: float
    backtrack: bool  # undo a step that raises an item's loss and halve its step (optim/unrolled.py)
    leaf_step_rule: str  # curvature: nu / H_ii (curvature_steps) | authors: nu 8 pi max(sigma,1)^4
    spike_blur: float
    spike_sigma: float  # total smoothing of the spike maps the registrar matches (for eq. 17's steps)
    spike_iters: int
    spike_factor: float
    spike_keep: int
    start_step: float
    spike_start_step: float  # a spike motif spans the whole part layout: its angular basin is narrow
    rtol: float
    dedup: float
    coarse_step: float  # degrees between the angles of the FFT search that picks the starts (0: every stride x
                        # every start angle is descended, as before)
    coarse_starts: int  # starts per stride taken from that search (its best angles, each at its best shift)
    spike_coarse_step: float  # the same search's angle step for spike nodes (their motif spans the part layout)
    coarse_keep: int  # leaves: only the strides whose best coarse cost ranks this high are descended (0: all)
    coarse_keep_min_area: float  # ... for leaves whose cost mask has at least this many pixels (0: every leaf)
    coarse_keep_area: float  # pixels per coarse_keep strides: a larger scene keeps proportionally more (0: off)
    coarse_rank: str  # what ranks the leaves' strides for coarse_keep: cost (the coarse search's masked L2) |
                      # correlation (the first round's normalised correlation at each stride's starts) | round (every
                      # stride descends the first leaf round, then coarse_keep go on, ranked as leaf_rank ranks)
    leaf_dtype: torch.dtype | None  # None: the scene's dtype
    spike_dtype: torch.dtype | None  # the spike nodes' descent; None: the scene's dtype
    keys_a: float  # Keys' parameter; -0.75 (the authors' PyTorch detector) runs on grid_sample, ~25x faster
    quadrature: float  # smoothed leaf rounds sum over every h-th window point, h = sigma_in / quadrature
                       # rounded down (quadrature_step); 0: every point
    leaf_rank: str  # how starts and strides are ranked between leaf rounds (one_start, keep): correlation (the
                    # next round's window's normalised correlation with the motif) | cost (its phi)
    leaf_objective: str  # what the leaf rounds before the last descend: cost (eq. 12's phi) | correlation (minus
                         # the normalised correlation over the mask; the last round is phi: its loss is the leaf's)
    leaf_guard: bool  # at a ranking (one_start, keep), an item the next round's judge rates better where the round
                      # started than where it ended goes on from its start (a sparse blurred round walked thin
                      # eyes 4-14 px off a start 2-3 px from their truth)
    spike_coarse_pool: int  # spike nodes' coarse search on the maps and motif average-pooled by this factor
                                # (hierarchical.make_registrar: 2 at full size, where their bumps are 2x as wide)
    # the extraction's starts per stride: the colour coarse_starts, which the grey templates were extracted and
    # calibrated with (a grey detection's own coarse_starts may differ; docs/detection.md, greyspeed)
    extraction_coarse_starts: int
    # the neighbourhood pass (docs/detection.md, detgrey): leaves descend only their `near_keep` best strides by the
    # coarse cost (per near_area px of scene), then, once every leaf has run, every stride near a part another leaf
    # found (HierarchicalDetector._near_pass; near_pass below). False: coarse_keep as above
    near: bool
    near_keep: int  # strides per near_area pixels descended before the neighbourhood pass
    near_area: float  # pixels (of the searched scene) per near_keep strides; a smaller scene keeps near_keep
    near_weight: float  # a leaf stride this heavy (eq. 14 weight) is a part whose neighbourhood the others descend
    near_margin: float  # px (of the searched scene) added to the reach from such a part (its and the descent's error)
    # leaves (node names) never pruned by coarse_keep: in a palette file, the parts whose colours its palette lacks
    # (hierarchical.make_registrar; docs/detection.md, "The early ranking")
    unpruned: frozenset
    max_points: int = 2_000_000  # items x window points per batch: a memory bound, not a setting of the method


def start_angles(angles: list[float], step: float) -> list[float]:
    """-a, ..., a spread evenly with at most `step` degrees between neighbours (a = the largest |angle|); when the
    angles reach 180 (the whole circle), ceil(360 / step) starts in (-180, 180], each once."""
    a = max((abs(x) for x in angles), default=0.0)
    if a >= 180.0 and step > 0:
        n = max(int(math.ceil(360.0 / step)), 1)
        return [180.0 - 360.0 * k / n for k in range(n)][::-1]
    n = max(int(math.ceil(2 * a / step)), 0) if step > 0 else 0
    return [0.0] if n == 0 else [-a + 2 * a * k / n for k in range(n + 1)]


def _to_fit(w: torch.Tensor, loss: torch.Tensor, anchors: torch.Tensor, motif: Motif) -> StrideFit:
    """Rigid parameters (phi, b) about the window centre -> where the motif's centre lands and the angle in the
    detector's convention (degrees, clockwise as displayed: the detector's rotation is Rigid's R(-phi))."""
    m, n = motif.mask.shape
    cw = torch.tensor(((m - 1) / 2, (n - 1) / 2), dtype=w.dtype, device=w.device)
    rel = torch.tensor(motif.centre, dtype=w.dtype, device=w.device) - cw
    c, s = torch.cos(w[:, 0]), torch.sin(w[:, 0])
    turned = torch.stack((c * rel[0] - s * rel[1], s * rel[0] + c * rel[1]), -1)
    centre = anchors + cw + turned + w[:, 1:]
    return StrideFit(centre, -torch.rad2deg(w[:, 0]), loss)


def _best_fit(w, loss, keep, k: int, n: int, anchors, motif: Motif, dt) -> StrideFit:
    """Each descended stride's (keep, k starts each, stride-major) best start as a fit over all n strides; the
    others (not descended: pruned, or left out by the NCC screen) at the identity pose with loss inf (never counted)."""
    dev = w.device
    loss = torch.where(torch.isfinite(loss), loss, torch.full_like(loss, math.inf)).reshape(-1, k)
    best = loss.argmin(1)
    rows = torch.arange(keep.numel(), device=dev)
    w_best = w.reshape(-1, k, 3)[rows, best].to(dt)
    loss_best = loss[rows, best].to(dt)
    w_all = torch.zeros(n, 3, dtype=dt, device=dev).index_put((keep,), w_best)
    loss_all = torch.full((n,), math.inf, dtype=dt, device=dev).index_put((keep,), loss_best)
    return _to_fit(w_all, loss_all.clamp(min=0), anchors, motif)


def deduplicate(fit: StrideFit, radius: float, block: int = 1024) -> StrideFit:
    """Loss inf for every stride whose centre lies within `radius` of one with a lower loss (ties: lower index).
    Only finite strides can shadow or be shadowed (an inf loss stays inf), and only strides less than `radius`
    apart in rows can be within `radius`: the finite strides sorted by row are compared `block` at a time with
    their row band. Memory and time then grow with the strides (the scene), not with their square: the S x S
    distances of a 2048x2048 scene's ~10^4 strides held ~1.5 GB."""
    loss = fit.loss
    if loss.numel() < 2 or radius <= 0:
        return fit
    idx = torch.nonzero(torch.isfinite(loss)).squeeze(1)
    if idx.numel() < 2:
        return fit
    rows = fit.centre[idx, 0]
    order = torch.argsort(rows, stable=True)
    idx, rows = idx[order], rows[order].contiguous()
    c, lo_ss = fit.centre[idx], loss[idx]
    n = idx.numel()
    shadowed = torch.zeros(n, dtype=torch.bool, device=loss.device)
    for i in range(0, n, block):
        j = min(i + block, n)
        lo = int(torch.searchsorted(rows, rows[i:i + 1] - radius))
        hi = int(torch.searchsorted(rows, rows[j - 1:j] + radius, right=True))
        d = torch.cdist(c[i:j], c[lo:hi], compute_mode="donot_use_mm_for_euclid_dist")
        li, lj = lo_ss[i:j, None], lo_ss[None, lo:hi]
        better = (lj < li) | ((lj == li) & (idx[None, lo:hi] < idx[i:j, None]))
        shadowed[i:j] = ((d < radius) & better).any(1)
    out = loss.clone()
    out[idx[shadowed]] = math.inf
    return StrideFit(fit.centre, fit.angle, out)


# The work model behind detection's progress and ETA (issue 19; docs/detection.md, "Progress and ETA"): CPU seconds
# per unit of the kinds of work a node does, fitted by least squares (relative) to the per-node CPU seconds of the
# tuning set of scripts/bench_crab_eta.py (`--set tuning --full --fit`: one thread; generated half-size scenes of the
# synthetic crab and the paper's scenes at half and full size; never the held-out set, which only checks the
# result). A unit of the coarse search is one FFT "pixel x log2 size" of DenseCost (per angle: C + 1 forward
# transforms and 2 inverse ones); a unit of descent is one window point of one channel sampled (value and gradient)
# in one iteration of one item; a call is one batched value-and-gradient evaluation (its fixed cost: building the
# points, autograd's graph; fitted negative: 0). Keyed by bytes per number of the node's work (leaves float32,
# spike nodes float64); both searches run in leaf_dtype, so both FFT constants are one value. The scan (eta8) is the
# search's pass over its dense (angles x H x W) cost after the FFTs (coarse_starts' per-stride minima), which no
# progress report covers: before eta8 it was charged to the FFT constant, and a full-size crab's search ran 1.4-2x
# its prediction where the leaves' ran 1.0-1.6x. Since eta8 each constant is fitted on its own stage of the
# tuning traces (`--reweigh TRACES --fit`: the median of the nodes' seconds per unit; docs/detection.md, "The ETA at
# full size"). The scan has one constant for both node kinds, the median over all nodes: per node kind the medians
# are 7.97e-9 (leaves) and 1.78e-8 s (spike nodes), which fit the stage better but gave the worse ETA on the tuning
# traces (within 20% at 82 / 79% of the reports at full / half size, against 87 / 78%): the single constant
# under-predicts the spike nodes' scans about 2x, which offsets the run's rate they take before they run, raised by
# the leaves' first searches (1.3-1.7x their model at full size). A compensation, measured, not a cost model.
# Refitted the same way in eta9 on the 15 tuning traces rerun after crabeyes (every leaf pruned by its coarse cost:
# fewer, dearer leaf items; eta8's constants put the leaves' descents at 1.1-2.0x): FFT 1.20e-9 s, leaf samples
# 5.55e-8 s, scan 1.12e-8 s (per kind 9.81e-9 / 1.96e-8: again the worse ETA, 59 / 41% of the 1% grid within 20%
# at full / half size against 65 / 46%); spike samples 9.2e-8 s per sample *evaluated*, with SPIKE_YIELD below.
# Refitted in eta10 on the 27 tuning traces (tuning, tuning8, tuning10) rerun after crabkeep (128 leaf strides kept
# by their coarse cost at full size, where the eta9 constants put the ETA 17-35% short), keyed by the node's work
# itemsize (4: leaves, 8: spike nodes), each stage per node kind (medians of `--reweigh ... --fit`): FFT 9.05e-10 /
# 9.42e-10 s, samples 4.48e-8 s (leaves) / 7.87e-8 s per spike sample evaluated, scan 8.42e-9 / 2.14e-8 s. With
# the scan and FFT per node kind the full-size ETA on those traces was within 20% at 79% of the reports, with one
# constant each 61% (docs/detection.md, "The ETA that trusts what the run observed").
# crabbig: coarse_starts now reduces each chunk of angles as it comes (in place, while the chunk is in cache)
# instead of scanning the whole (A, H, W) cost with three copies of it: the scan got cheaper, and the eta10 scan
# constants over-predicted the spike nodes' searches (0.63-0.87x their model; half-size ETA within 20% at 8/56 and
# 12/57 reports against 38/56 and 26/57 before, seeds 15192 and 15200). Scaled by the scan's measured ratio, new /
# old code, on generated scenes (seeds 21-23, half and full size, three repeats each: the search timed less its
# FFTs alone; medians over nodes): leaves 8.1e-9 / 1.52e-8 s = 0.53, spike nodes 5.1e-9 / 2.26e-8 s = 0.23.
FFT_SECONDS = {4: 9.05e-10, 8: 9.42e-10}
SAMPLE_SECONDS = {4: 4.48e-8, 8: 7.87e-8}
# A spike node's descent per sample evaluated, by its itemsize: SPIKE_SAMPLE_SECONDS + SPIKE_SPREAD_SECONDS x h^2,
# h its quadrature step (1 at half size, 3 at full with the default spike_sigma). Since crabfast the spike descents
# run in float32 (solver.descent.spike_dtype) and were priced at the leaves' float32 constant above, a guess.
# Measured (etahalf, one thread, traces run at the start commit; a descent's seconds per second of work run, its
# skipped work reported): at half size 0.78 of 4.48e-8 (median of the 40 spike nodes of the 20 half-size traces of
# heldout19, heldout15c and heldout13a, quartiles 0.70-0.83): 3.49e-8 s; at full size 1.41 x 3.5e-8 = 4.95e-8 s
# (median of the 10 spike nodes of heldout13a's five full-size traces, 1.08-2.45). A sample at h = 3 costs 1.4x
# one at h = 1 (the extraction's: 1.5x, below); the two sizes give the two constants. Why (each sample at step h
# stands for h^2 window points, some of whose work may be per point) is not measured. The float64 descent
# (spike_dtype=run) keeps eta10's fit, with no spread term (nothing measured).
SPIKE_SAMPLE_SECONDS = {4: 3.31e-8, 8: 7.87e-8}
SPIKE_SPREAD_SECONDS = {4: 1.83e-9, 8: 0.0}
SCAN_SECONDS = {4: 4.46e-9, 8: 4.92e-9}
# A pooled search (a spike node at full size: spike_coarse_pool 2) runs its FFTs on the pooled grid but its scan
# over full-resolution costs, which it first spreads back from the pooled grid (_pooled_costs' repeat and pad, a
# full-size copy per chunk, fresh memory each time): measured on the same full-size nodes searched pooled and not
# (`bench_crab_eta.py --scan-cost`, one thread, load ~7: eye pair 9.67e-9 / 5.56e-9 s per unit, crab 1.58e-8 /
# 7.11e-9; pooled / unpooled scan seconds of both, 0.716 / 0.349 = 2.05), the pooled scan costs 2.05x the unpooled
# one per unit (angles x full H x W), so this term is (2.05 - 1) x SCAN_SECONDS[8], in the model's scale as
# crabbig's scaling was (etafull; docs/detection.md "The ETA at full size after the chunked search"). Without it the
# pooled spike searches ran 1.2-1.5x their model at full size where the leaves' ran 0.85-1.0x (heldout13a's traces).
POOLED_SCAN_SECONDS = 5.2e-9
CALL_SECONDS = 0.0
# A spike node's descent is modelled at its most work (every item to spike_iters) times the share of it expected to
# run: its items stop early (rtol), 0.06-0.76 of their evaluations on the eta9 tuning traces, median 0.335, with no
# relation between the eye pair's and the crab's share in one scene. The registrar reports the work its stopped items
# skip (UnrolledRegistrar._register), so the ETA learns the share as the descent runs, and the sample constant is per
# sample actually evaluated (eta9; docs/detection.md, "The ETA that learns a descent's early stop").
SPIKE_YIELD = 0.335
# Extraction's spike descents (on the template's canvas) cost about 4.6e-8 s per sample in float64 (measured in
# eta4 on the synthetic crab's half-size extraction, docs/detection.md "Extraction's progress"), not the detections'
# 2.85e-8: with the detections' constant the first-run extraction's ETA ran 27-44% short half-way (eta8). Keyed by
# the descent's itemsize since etahalf, with the spread term as the detections': crabfast's float32 spike descents
# (spike_dtype, which extraction shares) cost 1.66e-8 s per sample at half size (h = 1) and 2.55e-8 at full (h = 3)
# (medians of the 4 spike nodes of the seen extractions of each size, synthetic crab and refine_crab, one thread),
# and priced at 4.6e-8 they left the half-size extraction's ETA 26-29% long half-way (3 of 113 reports within 20%;
# with spike_dtype=run, float64 as before crabfast, 89 of 113). The float64 one measured 3.28e-8 s per sample on the
# same two half-size extractions run with spike_dtype=run (median of their 4 spike nodes, quartiles 2.97-3.95e-8).
EXTRACTION_SPIKE_SAMPLE_SECONDS = {4: 1.55e-8, 8: 3.28e-8}
EXTRACTION_SPIKE_SPREAD_SECONDS = {4: 1.11e-9, 8: 0.0}
# and its leaves, every stride unpruned: eta8's 3.93e-8 until etahalf, when the same four extractions measured
# 2.95e-8 s per sample (median of 16 leaves, quartiles 2.75-3.23e-8; the leaves' descents ran 0.63-0.92 of 3.93e-8)
EXTRACTION_LEAF_SAMPLE_SECONDS = 2.95e-8
# and its search keeps eta9's FFT and scan constants: eta10's refit per node kind (on detections) put the half-size
# extractions' ETA within 20% at 52 of 113 reports after 10% of the run against 68 with these (one run each, load 13)
EXTRACTION_FFT_SECONDS = 1.20e-9
EXTRACTION_SCAN_SECONDS = 1.12e-8


@dataclass
class WorkPlan:
    """A node's predicted work (seconds by the constants above): the coarse search (of which `scan` after its
    FFTs) and each descent round, in the order they run, and the rounds' names as progress shows them."""

    coarse: float
    rounds: list[float]
    names: list[str]
    scan: float = 0.0
    yields: list[float] | None = None  # per round, the share of its most work expected to run (None: all)
    floors: list[float] | None = None  # per round with a yield, the least share it can run (every item stops at
    # its first step)

    @property
    def total(self) -> float:
        """Seconds of the most work (every item to its last iteration): what the reports are shares of."""
        return self.coarse + sum(self.rounds)

    @property
    def expected(self) -> float:
        """Seconds expected: each round's most work times its yield."""
        return self.coarse + sum(r * y for r, y in zip(self.rounds, self.yields or [1.0] * len(self.rounds)))


# The search's cost per transform point grows with the transform's size (memory traffic: a full-size crab's
# transforms, ~1e6 points, cost 1.5x per point what the eye pair's, ~5e5, do): units grow as size^(1 + this), and
# per channel (the eye pair's two channels cost 2/3 of the crab's three; the mask's and the inverse transforms'
# share fitted to nothing). Both fitted on the eta8 tuning traces (relative spread of the searches 0.26 -> 0.16).
FFT_SIZE_POWER = 0.25


def _fft_units(shape, motif: Motif, n_angles: int, pool: int = 1) -> float:
    """DenseCost's FFT work on a scene of `shape` (C, H, W) for n_angles angles: angles x channels x transform
    points x log2 points x (points / 1e6)^FFT_SIZE_POWER; with `pool`, on the scene and motif average-pooled so
    (coarse_starts' pooled search: a quarter of the points at pool 2)."""
    c, h, w = shape
    h, w = -(-h // pool), -(-w // pool)
    mh, mw = -(-motif.mask.shape[0] // pool), -(-motif.mask.shape[1] // pool)
    cr, cc = motif.centre if pool == 1 else (int(v) // pool for v in motif.centre)
    radius = int(math.ceil(max(math.hypot(cr - a, cc - b) for a in (0, mh - 1) for b in (0, mw - 1)))) + 2
    size = math.prod(fft_shape((h, w), radius))
    return n_angles * c * size * math.log2(size) * (size / 1e6) ** FFT_SIZE_POWER


class UnrolledRegistrar:
    """A StrideRegistrar: (scene, motif, grid, angles) -> StrideFit by unrolled registration (module docstring).
    `last_iterations` holds the mean iterations per item of the last call (for benchmarks). `report`, when set,
    is called as the work of a call advances, with (fraction of the call's predicted work done, what runs now)."""

    def __init__(self, settings: UnrolledSettings, extracting: bool = False):
        self.settings, self.extracting = settings, extracting
        self.last_iterations = 0.0
        self.report = None
        # the neighbourhood pass's memory of each leaf's first call: motif id -> (every stride's coarse starts w0,
        # starts per stride, the strides descended); kept from a leaf's __call__ to its near_pass
        self._coarse: dict[int, tuple[torch.Tensor, int, torch.Tensor]] = {}
        self.descended: dict[str, int] = {}  # strides descended per motif name, both passes (the results' nodes table)
        # the leaves' scene as each asks for it: cast to the work dtype and blurred by a round's sigma_in (every
        # leaf's coarse search and first round blur the same scene by the same sigma: 12 whole-scene blurs per
        # crab detection where 2 differ); (id, what) -> (tensor, value), the tensor held so that its id is not
        # reused while kept; emptied when a spike node runs (the leaves are done)
        self._memo: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _once(self, t: torch.Tensor, what: tuple, make) -> torch.Tensor:
        """make() computed once per tensor `t` (by identity) and `what` (a cast or a blur of it): the same values
        as computing it each time."""
        hit = self._memo.get((id(t), what))
        if hit is not None and hit[0] is t:
            return hit[1]
        if len(self._memo) >= 16:
            self._memo.clear()
        value = make()
        self._memo[(id(t), what)] = (t, value)
        return value

    def _scene_as(self, scene: torch.Tensor, dtype) -> torch.Tensor:
        return self._once(scene, ("dtype", dtype), lambda: scene.to(dtype))

    def _blurred(self, y: torch.Tensor, sigma: float) -> torch.Tensor:
        return self._once(y, ("blur", float(sigma)), lambda: gaussian_filter(y, sigma)) if sigma > 0 else y

    @property
    def near(self) -> bool:
        """Whether the detector is to run the neighbourhood pass (HierarchicalDetector._near_pass) with this one."""
        return self.settings.near and not self.extracting and self.settings.coarse_step > 0

    def work(self, shape, motif: Motif, grid: StrideGrid, angles: list[float]) -> WorkPlan:
        """The predicted CPU seconds of a call on a scene of `shape` (C, H, W; as the registrar receives it):
        iterations counted at their maximum (items stop early on their own), window points as LeafCost samples
        them (every h-th point of the window padded by the round's gaussian), batches as _chunk cuts them."""
        fft, rounds = self.work_units(shape, motif, grid, angles)
        size = self.work_itemsize(motif)
        spike = motif.kind == "spike"
        # the searches run in leaf_dtype at every node, so their constants go by the node's kind (fitted with spike
        # nodes under key 8); the descent's samples by the bytes its numbers have
        kind = 8 if spike else 4
        if spike:  # per sample, and per window point it stands for (spike_spread: h^2)
            per, spread = ((EXTRACTION_SPIKE_SAMPLE_SECONDS, EXTRACTION_SPIKE_SPREAD_SECONDS) if self.extracting
                           else (SPIKE_SAMPLE_SECONDS, SPIKE_SPREAD_SECONDS))
            sample = per[size] + spread[size] * self.spike_spread()
        else:
            sample = EXTRACTION_LEAF_SAMPLE_SECONDS if self.extracting else SAMPLE_SECONDS[size]
        per_scan = EXTRACTION_SCAN_SECONDS if self.extracting else SCAN_SECONDS[kind]
        scan = per_scan * self.scan_units(shape, motif, angles) + POOLED_SCAN_SECONDS * self.pooled_scan_units(
            shape, motif, angles)
        return WorkPlan((EXTRACTION_FFT_SECONDS if self.extracting else FFT_SECONDS[kind]) * fft + scan,
                        [sample * points + CALL_SECONDS * calls for points, calls in rounds],
                        ["descent"] if spike else [f"descent round {i + 1}/{len(rounds)}" for i in range(len(rounds))],
                        scan, [SPIKE_YIELD] if spike and not self.extracting else None,
                        [self.at_once_share()] if spike and not self.extracting else None)

    def at_once_share(self) -> float:
        """The share of a spike descent's most work it runs when every item stops after its first step: 2 of its
        spike_iters + 1 evaluations per item (the start's and the step's)."""
        return 2 / (self.settings.spike_iters + 1)

    def scan_units(self, shape, motif: Motif, angles: list[float]) -> float:
        """Angles x pixels of the coarse search's dense cost, which coarse_starts scans after the FFTs (0 without
        the search)."""
        st = self.settings
        if st.coarse_step <= 0:
            return 0.0
        step = st.spike_coarse_step if motif.kind == "spike" else st.coarse_step
        return float(len(coarse_angles(angles, step)) * shape[-2] * shape[-1])

    def pooled_scan_units(self, shape, motif: Motif, angles: list[float]) -> float:
        """The scan's units when the search is pooled (its costs spread back to full resolution), else 0."""
        pooled = motif.kind == "spike" and self.settings.spike_coarse_pool > 1
        return self.scan_units(shape, motif, angles) if pooled else 0.0

    def spike_spread(self) -> float:
        """Window points per sample of a spike descent: its quadrature step squared (SPIKE_SPREAD_SECONDS)."""
        return float(quadrature_step(self.settings.spike_sigma, SPIKE_QUADRATURE) ** 2)

    def work_itemsize(self, motif: Motif) -> int:
        """Bytes per number of the node's work: leaves in leaf_dtype, spike nodes in spike_dtype (each when set,
        else the run's dtype)."""
        st = self.settings
        dt = (st.spike_dtype if motif.kind == "spike" else st.leaf_dtype) or motif.image.dtype
        return 8 if dt.itemsize >= 8 else 4

    def work_units(self, shape, motif: Motif, grid: StrideGrid, angles: list[float]):
        """(FFT units of the coarse search, [(sampled channel-points, batched calls) per descent round])."""
        st = self.settings
        c = shape[0]
        m, n = motif.mask.shape
        spike = motif.kind == "spike"
        if st.coarse_step > 0:
            step = st.spike_coarse_step if spike else st.coarse_step
            fft = _fft_units(shape, motif, len(coarse_angles(angles, step)), st.spike_coarse_pool if spike else 1)
            k = st.coarse_starts
            strides = st.spike_keep if spike else self.leaf_coarse_keep(motif, shape)
            first_keep = strides if not spike and st.coarse_rank == "round" else 0
            items = k * (min(strides, len(grid)) if strides and not first_keep else len(grid))
        else:
            fft, first_keep = 0.0, 0
            k = len(start_angles(angles, st.spike_start_step if spike else st.start_step))
            items = k * (min(st.spike_keep, len(grid)) if spike and st.spike_keep else len(grid))

        def per_item(sigma, h):
            pad = gaussian_radius(sigma)
            return -(-(m + 2 * pad) // h) * -(-(n + 2 * pad) // h)

        def calls(count, sigma, h, iters):
            return iters * -(-count // max(1, st.max_points // per_item(sigma, h)))

        if spike:
            h = quadrature_step(st.spike_sigma, SPIKE_QUADRATURE)
            return fft, [(items * st.spike_iters * per_item(0.0, h) * c, calls(items, 0.0, h, st.spike_iters))]
        rounds = []
        for i, rnd in enumerate(st.leaf_rounds):
            h = quadrature_step(rnd.sigma_in, st.quadrature)
            last = i + 1 == len(st.leaf_rounds)
            n_obj = len(round_objectives(st.leaf_objective, last))
            points = n_obj * items * rnd.iters * per_item(rnd.sigma, h) * c
            n_calls = n_obj * calls(items, rnd.sigma, h, rnd.iters)
            # poses the next round's judge rates once each: this round's, the other objective's, the start's
            judged = 0 if last else n_obj - 1 + int(st.leaf_guard)
            if rnd.one_start or rnd.keep or judged:
                judged += 1
                judge = st.leaf_rounds[i + 1] if i + 1 < len(st.leaf_rounds) else rnd
                hj = quadrature_step(judge.sigma_in, st.quadrature)
                points += judged * items * per_item(judge.sigma, hj) * c
                n_calls += judged * calls(items, judge.sigma, hj, 1)
            rounds.append((points, n_calls))
            if rnd.one_start:
                items //= k
            if rnd.keep:
                items = min(items, rnd.keep)
            if i == 0 and first_keep:
                items = min(items, first_keep)
        return fft, rounds

    def _empty_maps(self, y: torch.Tensor, x: torch.Tensor, motif: Motif, plan: WorkPlan) -> None:
        """A spike node's maps with no energy (its children found nothing: a crab-free scene) leave its descent
        nothing to descend: every item stops after its first step, 2 of its spike_iters + 1 evaluations (0.06 of the
        most work, against SPIKE_YIELD's 0.335). Said to progress before the search, so the ETA does not wait for
        the descent to learn it (eta9). Empty: the energy e a window can hold is below rtol^2 E0 / 2 (E0 the motif's
        masked energy, the loss of an empty window): a step then lowers the loss by at most sqrt(2 E0 e) <= rtol E0,
        which stops the item (rtol = 0: only a scene of zeros). e is the most energy of the maps in any square
        window holding the motif's mask at every angle, not the whole scene's (eta10): a crab-free scene's maps
        hold faint false-claw bumps scattered over the scene, whose sum passed the test while no window holds more
        than one or two of them (the bound is the same one, on the energy a single pose can see)."""
        if self.report is not None and plan.total > 0 and self._maps_empty(y, x, motif):
            self.report(0.0, "coarse search", 0.0, self.at_once_share())

    def _maps_empty(self, y: torch.Tensor, x: torch.Tensor, motif: Motif) -> bool:
        """_empty_maps' test on the (blurred) maps y and motif image x."""
        e0 = 0.5 * float((motif.mask * x * x).sum())
        return window_energy(y, motif.mask, motif.centre) <= 0.5 * self.settings.rtol ** 2 * e0

    def _spike_maps(self, scene: torch.Tensor, motif: Motif) -> tuple[torch.Tensor, torch.Tensor]:
        """A spike node's maps and motif image as its descent sees them (widened by spike_blur)."""
        y, x, blur = scene, motif.image, self.settings.spike_blur
        return (gaussian_filter(y, blur, tail=2), gaussian_filter(x, blur, tail=2)) if blur > 0 else (y, x)

    def descent_share(self, scene: torch.Tensor, motif: Motif) -> float | None:
        """The share of a spike node's descent's most work known before it runs, from its scene (the children's
        maps as the registrar receives them): at_once_share() when the maps are empty (_empty_maps' test), else
        None. The detector asks as soon as the node's last child has ended, so that progress knows it while the
        nodes in between run (eta11: on a crab-free scene the eye pair's maps are known a quarter into the run,
        its search starts half-way)."""
        if motif.kind != "spike" or self.extracting:
            return None
        return self.at_once_share() if self._maps_empty(*self._spike_maps(scene, motif), motif) else None

    def part_weight(self, scene: torch.Tensor, motif: Motif) -> float:
        """The weight of the strongest part one child's map holds within a window a pose of a spike node sees, as a
        share of the motif's own (one part of weight 1 per channel): sqrt(window energy of the channel / the motif
        channel's masked energy), the largest over the channels (a child not run yet: a channel of zeros)."""
        y, x = self._spike_maps(scene, motif)
        return max(math.sqrt(window_energy(y[c:c + 1], motif.mask, motif.centre)
                             / max(float((motif.mask * x[c] * x[c]).sum()), 1e-300)) for c in range(y.shape[0]))

    def _say(self, done: float, plan: WorkPlan, now: str, skipped: float = 0.0) -> None:
        """`done` predicted seconds of the call's work done or skipped, `skipped` of them skipped (items that
        stopped early: counted at their maximum iterations, they will not run), as shares of its predicted work."""
        if self.report is not None and plan.total > 0:
            self.report(min(done / plan.total, 1.0), now, min(skipped / plan.total, 1.0))

    def __call__(self, scene: torch.Tensor, motif: Motif, grid: StrideGrid, angles: list[float]) -> StrideFit:
        st = self.settings
        dt, dev = scene.dtype, scene.device
        plan = self.work(tuple(scene.shape), motif, grid, angles)
        self._say(0.0, plan, "coarse search" if st.coarse_step > 0 else plan.names[0])
        anchors = grid.anchors(dt, dev)
        starts = start_angles(angles, st.spike_start_step if motif.kind == "spike" else st.start_step)
        keep = torch.arange(len(grid), device=dev)
        if motif.kind == "spike":
            self._memo.clear()
            y, x = self._spike_maps(scene, motif)
            work_dtype = st.spike_dtype or dt
            rounds, steps = (LeafRound(0.0, 0.0, st.spike_iters),), self._spike_steps(x).to(work_dtype)
            self._empty_maps(y, x, motif, plan)
        else:
            y, x = scene, motif.image
            work_dtype = st.leaf_dtype or dt
        if st.coarse_step > 0:
            # the FFT search over every shift at coarse angles picks each stride's starts (and, for spike nodes,
            # the strides): descent then runs from coarse_starts poses per stride instead of every start angle
            first = st.leaf_rounds[0].sigma_in if motif.kind == "texture" else 0.0
            strides = st.spike_keep if motif.kind == "spike" else self.leaf_coarse_keep(motif, scene.shape)
            pruned = motif.kind == "texture" and 0 < strides < len(grid)
            by_correlation = pruned and st.coarse_rank == "correlation"
            first_keep = strides if pruned and st.coarse_rank == "round" else 0
            step = st.spike_coarse_step if motif.kind == "spike" else st.coarse_step
            # the search only picks starts and strides (the descent then runs in work_dtype): float32 for spike
            # nodes too, where their float64 FFTs were 40% of a half-size detection (docs/detection.md, crab6)
            coarse_dtype = st.leaf_dtype or dt
            near = self.near and motif.kind == "texture"
            yc = self._scene_as(y, coarse_dtype) if motif.kind == "texture" else y.to(coarse_dtype)
            keep, w0, *best = coarse_starts(yc, x.to(coarse_dtype), motif, grid,
                                     coarse_angles(angles, step), st.coarse_starts, first,
                                     0 if by_correlation or first_keep or near else strides,
                                     pool=st.spike_coarse_pool if motif.kind == "spike" else 1,
                                     # the chunks report their share of the whole search: since crabbig each
                                     # chunk's scan runs right after its FFTs, so the time between two reports
                                     # is both, and a share of the FFTs alone charged the scan to the FFT kind
                                     # (a spike node not run yet then took the leaves' FFT rate for its FFTs and
                                     # a near-empty scan rate for its full-resolution scan: etafull)
                                     progress=lambda f: self._say(f * plan.coarse, plan, "coarse search"),
                                     pose_dtype=work_dtype, with_best=near,
                                     scene_blurred=self._blurred(yc, first) if motif.kind == "texture" else None)
            k = st.coarse_starts
            if near:  # every stride's starts kept for near_pass; the strides coarse_starts would keep go on now
                w_every, best = w0, best[0]
                if pruned and not (by_correlation or first_keep):
                    keep = torch.topk(torch.where(torch.isfinite(best), best, torch.full_like(best, math.inf)),
                                      strides, largest=False).indices
                    w0 = w0.reshape(-1, k, 3)[keep].reshape(-1, 3)
            if by_correlation:
                keep, w0 = self._keep_by_correlation(y.to(work_dtype), x.to(work_dtype), motif.mask.to(work_dtype),
                                                     anchors, keep, w0.to(work_dtype), k, strides)
            self._say(plan.coarse, plan, plan.names[0])
            items_anchor = anchors[keep].repeat_interleave(k, 0)
            w0 = w0.to(work_dtype)
        else:
            first_keep = 0
            if motif.kind == "spike" and st.spike_keep and len(grid) > st.spike_keep:
                keep = torch.topk(turned_stride_ncc(y, x, grid, starts), st.spike_keep).indices
            k = len(starts)
            items_anchor = anchors[keep].repeat_interleave(k, 0)
            w0 = torch.zeros(items_anchor.shape[0], 3, dtype=work_dtype, device=dev)
            w0[:, 0] = -torch.deg2rad(torch.tensor(starts, dtype=work_dtype, device=dev)).repeat(keep.numel())
        yw = self._scene_as(y, work_dtype) if motif.kind == "texture" else y.to(work_dtype)
        args = (yw, x.to(work_dtype), motif.mask.to(work_dtype), items_anchor.to(work_dtype), w0)
        box = angle_box(max((abs(a) for a in angles), default=0.0))
        if motif.kind == "spike":
            w, loss, iters = self._register(*args, rounds, steps, box, plan)
        else:
            w, loss, iters = self._register_leaf(*args, k, box, plan, first_keep)
        self.last_iterations = float(iters.to(torch.float64).mean()) if iters.numel() else 0.0
        if st.coarse_step > 0 and near:
            self._coarse[id(motif)] = (w_every, k, keep)
        self.descended[motif.name] = keep.numel()
        return deduplicate(_best_fit(w, loss, keep, k, len(grid), anchors, motif, dt), st.dedup)

    def near_pass(self, scene: torch.Tensor, motif: Motif, grid: StrideGrid, angles: list[float], fit: StrideFit,
                  near: torch.Tensor) -> StrideFit:
        """The neighbourhood pass of a leaf this registrar's __call__ ran on (near): the strides `near` (indices)
        that call did not descend, descended from their coarse starts through every leaf round, merged with
        `fit` (that call's) and deduplicated as __call__ does. The rounds' keep counts these strides alone."""
        st = self.settings
        w_every, k, done = self._coarse.pop(id(motif))
        dt, dev = scene.dtype, scene.device
        todo = torch.zeros(len(grid), dtype=torch.bool, device=dev)
        todo[near] = True
        todo[done] = False
        idx = torch.nonzero(todo).flatten()
        self.descended[motif.name] = self.descended.get(motif.name, 0) + idx.numel()
        if not idx.numel():
            return fit
        work_dtype = st.leaf_dtype or dt
        anchors = grid.anchors(dt, dev)
        w0 = w_every.reshape(-1, k, 3)[idx].reshape(-1, 3).to(work_dtype)
        items_anchor = anchors[idx].repeat_interleave(k, 0)
        box = angle_box(max((abs(a) for a in angles), default=0.0))
        w, loss, _ = self._register_leaf(self._scene_as(scene, work_dtype), motif.image.to(work_dtype),
                                         motif.mask.to(work_dtype),
                                         items_anchor.to(work_dtype), w0, k, box)
        new = _best_fit(w, loss, idx, k, len(grid), anchors, motif, dt)
        both = StrideFit(torch.where(todo[:, None], new.centre, fit.centre), torch.where(todo, new.angle, fit.angle),
                         torch.where(todo, new.loss, fit.loss))
        return deduplicate(both, st.dedup)

    def register_at(self, scene: torch.Tensor, motif: Motif, centres: torch.Tensor, angles: torch.Tensor) -> StrideFit:
        """A motif registered from given poses only (the detector's top-down completion, HierarchicalDetector.complete):
        motif centre (N, 2) in scene pixels and angle (N,) in degrees. A leaf descends the last leaf round only (no
        input blur: the pose is already within a degree or two and a fraction of a pixel of the part, where the
        blurred rounds are what walks a thin stalk off); a spike node its one round, as __call__. The losses are
        the node's losses (the same round, cost, mask and precision as __call__'s), so its calibrated gamma and
        alpha judge them. Returns one StrideFit row per start, in the scene's dtype."""
        st = self.settings
        dev = scene.device
        if motif.kind == "spike":
            dt = st.spike_dtype or scene.dtype
            y, x = scene, motif.image
            if st.spike_blur > 0:
                y, x = gaussian_filter(y, st.spike_blur, tail=2), gaussian_filter(x, st.spike_blur, tail=2)
            steps, h, iters = self._spike_steps(x), quadrature_step(st.spike_sigma, SPIKE_QUADRATURE), st.spike_iters
            y, x, steps = y.to(dt), x.to(dt), steps.to(dt)
        else:
            rnd = st.leaf_rounds[-1]
            dt = st.leaf_dtype or scene.dtype
            y, x = self._blurred(self._scene_as(scene, dt), rnd.sigma_in), motif.image.to(dt)
            steps = (curvature_steps(x, motif.mask.to(dt), rnd.sigma, rnd.sigma_in, st.leaf_nu)
                     if st.leaf_step_rule == "curvature" else leaf_steps(motif.mask.shape, rnd.sigma, st.leaf_nu, dt, dev))
            h, iters = quadrature_step(rnd.sigma_in, st.quadrature), rnd.iters
        mask = motif.mask.to(dt)
        m, n = mask.shape
        cw = torch.tensor(((m - 1) / 2, (n - 1) / 2), dtype=dt, device=dev)
        rel = torch.tensor(motif.centre, dtype=dt, device=dev) - cw
        phi = -torch.deg2rad(angles.to(dt))
        co, si = torch.cos(phi), torch.sin(phi)
        turned = torch.stack((co * rel[0] - si * rel[1], si * rel[0] + co * rel[1]), -1)
        base = centres.to(dt) - cw - turned  # _to_fit's inverse: anchor + b
        anchors = torch.round(base)
        w0 = torch.cat((phi[:, None], base - anchors), 1)
        sigma = 0.0 if motif.kind == "spike" else st.leaf_rounds[-1].sigma
        cost = LeafCost(y, x.to(dt), mask, anchors, sigma, a=st.keys_a, point_step=h)
        res = unrolled_descent(cost.value_and_grad, w0, steps, iters, rtol=st.rtol, backtrack=st.backtrack,
                               project=angle_box(180.0))
        loss = res.loss.detach().to(scene.dtype)
        loss = torch.where(torch.isfinite(loss), loss, torch.full_like(loss, math.inf)).clamp(min=0)
        return _to_fit(res.w.detach().to(scene.dtype), loss, anchors.to(scene.dtype), motif)

    def _keep_by_correlation(self, y, x, mask, anchors, keep, w0, k: int, strides: int):
        """The `strides` strides (of `keep`, k starts each in w0, stride-major) whose best start has the highest
        normalised correlation with the motif under the first leaf round's cost (its input blur and quadrature),
        and their starts. One evaluation per start, no descent: in grey the coarse search's masked L2 ranked the
        robot's true arms below 128 strides of clutter of the template's mean grey (docs/detection.md, greyspeed)."""
        items = anchors[keep].repeat_interleave(k, 0).to(y.dtype)
        cost_of = self._leaf_cost_factory(y, x, mask, items, self.settings.leaf_rounds[0])
        score = torch.empty(items.shape[0], dtype=y.dtype, device=y.device)
        for idx in self._chunks(torch.arange(items.shape[0], device=y.device), mask, self.settings.leaf_rounds[0]):
            score[idx] = cost_of(idx).correlation(w0[idx], torch.arange(idx.numel(), device=y.device))
        best = torch.where(torch.isfinite(score), score, torch.full_like(score, -math.inf)).reshape(-1, k).amax(1)
        top = torch.sort(torch.topk(best, strides).indices).values  # stride order kept (ties, dedup: as before)
        return keep[top], w0.reshape(-1, k, 3)[top].reshape(-1, 3)

    def merge(self, fit: StrideFit) -> StrideFit:
        """A node's strides with strides added (completion): each basin once, as __call__ reports them."""
        return deduplicate(fit, self.settings.dedup)

    def leaf_coarse_keep(self, motif: Motif, shape) -> int:
        """coarse_keep for this leaf on a scene of `shape` (..., H, W): only parts whose cost mask covers at least
        coarse_keep_min_area pixels are pruned by their coarse cost (a claw's true stride ranked <= 5th; a thin
        eye's up to 146th); with coarse_keep_area, a scene larger than that many pixels keeps coarse_keep times its
        area over it (the clutter a true stride must outrank grows with the scene)."""
        st = self.settings
        if motif.name in st.unpruned:  # quantised to clutter colours, its true stride ranks below the clutter's
            return 0
        if self.near:  # the neighbourhood pass descends the rest where another part was found
            return math.ceil(st.near_keep * max(1.0, shape[-2] * shape[-1] / st.near_area)) if st.near_keep else 0
        if float(motif.mask.sum()) < st.coarse_keep_min_area:
            return 0
        if st.coarse_keep and st.coarse_keep_area > 0:
            return math.ceil(st.coarse_keep * max(1.0, shape[-2] * shape[-1] / st.coarse_keep_area))
        return st.coarse_keep

    def without_near(self) -> "UnrolledRegistrar":
        """The same registrar with the neighbourhood pass off (coarse_keep prunes as without it): for calibration,
        which registers node by node before any threshold (so any part's weight) exists."""
        return UnrolledRegistrar(dataclasses.replace(self.settings, near=False), self.extracting)

    def for_extraction(self) -> "UnrolledRegistrar":
        """The same registrar without pruning (every leaf stride through every round; coarse_keep off), for the
        extraction canvas. There a stride on the black padding costs the motif's energy, less than a thin part's
        own pose costs a pixel off, so the fine cost's ranking (keep 32) dropped the authors' left eye at half size
        (its true stride ranked 64th after the second round): the eye pair's motif then held the right eye alone,
        a single spike whose angle nothing fixes. Extraction runs once per template (cached); its spike searches are
        not pooled (the motifs, hence the calibrations, stay those they were made from)."""
        rounds = tuple(dataclasses.replace(r, keep=0) for r in self.settings.leaf_rounds)
        st = self.settings
        return UnrolledRegistrar(dataclasses.replace(st, leaf_rounds=rounds, coarse_keep=0, spike_coarse_pool=1,
                                                     coarse_starts=st.extraction_coarse_starts),
                                 extracting=True)

    def _spike_steps(self, x: torch.Tensor) -> torch.Tensor:
        """eq. 17 for the total smoothing spike_sigma, SE(2) (angle step t_M / 2), divided by C (see docstring) and
        by the square of the channels' mean mass."""
        st = self.settings
        u = spike_positions(x)
        u = (u - u.mean(0)).T
        c = u.shape[1]
        s_max = float(torch.linalg.svdvals(u)[0]) if c > 1 else 1.0
        s4 = st.spike_factor * 8 * math.pi * st.spike_sigma**4
        t_m, t_b = s4 * c / max(s_max, 1.0) ** 2, s4
        # the theorem's spikes have unit mass; maps scaled by mu scale the cost by mu^2
        mass = float(x.sum((-2, -1)).mean().clamp_min(torch.finfo(x.dtype).tiny))
        return torch.tensor([t_m / 2, t_b, t_b], dtype=x.dtype, device=x.device) / (c * mass * mass)

    def _chunk(self, mask: torch.Tensor, sigma: float, point_step: int = 1) -> int:
        """Items per batch: the batch can hold millions of window points (memory)."""
        m, n = mask.shape
        pad = gaussian_radius(sigma)
        per_item = -(-(m + 2 * pad) // point_step) * -(-(n + 2 * pad) // point_step)
        return max(1, self.settings.max_points // per_item)

    def _register(self, y, x, mask, anchors, w0, rounds, steps, project, plan: WorkPlan | None = None):
        """One round of fixed-step descent (the spike nodes) over chunks of items."""
        st = self.settings
        h = quadrature_step(st.spike_sigma, SPIKE_QUADRATURE)
        chunk = self._chunk(mask, rounds[0].sigma, h)
        ws, losses, iters = [], [], []
        n_items = anchors.shape[0]
        # progress per evaluation (eta9): a spike descent is one batch whose items stop early at a rate the scene
        # sets (0.15-1.4 of the model's maximum iterations on the eta8 traces), so the work it will not do is
        # reported as skipped as soon as its items stop, and the ETA charges its time to the work actually run
        evals, finished = [0, 0], [0]  # evaluations done; the maximum of the chunks before this one
        total = n_items * (rounds[0].iters + 1)  # an item's evaluations at most: the start and one per iteration

        def count(k: int, calls: int, size: int) -> None:
            evals[0] += k
            upto = finished[0] + size * (rounds[0].iters + 1) - k * (rounds[0].iters + 1 - calls)
            self._say(plan.coarse + plan.rounds[0] * upto / total, plan, plan.names[0],
                      plan.rounds[0] * (upto - evals[0]) / total)

        for i in range(0, n_items, chunk):
            sl = slice(i, i + chunk)
            size = min(i + chunk, n_items) - i
            res = _register_fixed_steps(y, x, mask, anchors[sl], w0[sl], rounds[0], steps, st.rtol, st.keys_a,
                                        st.backtrack, project, h,
                                        None if plan is None else lambda k, c, s=size: count(k, c, s))
            ws.append(res.w.detach())
            losses.append(res.loss.detach())
            iters.append(res.n_iter)
            finished[0] += size * (rounds[0].iters + 1)
            if plan is not None:
                self._say(plan.coarse + plan.rounds[0] * finished[0] / total, plan, plan.names[0],
                          plan.rounds[0] * (finished[0] - evals[0]) / total)
        return torch.cat(ws), torch.cat(losses), torch.cat(iters)

    def _register_leaf(self, y, x, mask, anchors, w0, k, project, plan: WorkPlan | None = None, first_keep: int = 0):
        """eq. 12's rounds, coarse to fine, items = strides x k starts (stride-major). Each round blurs the scene by
        its sigma_in, sums the cost over every h-th window point (h = quadrature_step), and runs fixed steps; a
        round with keep > 0 carries on only the best start of the `keep` strides that the *next* round's cost
        ranks best at this round's poses (one_start: the best start of every stride) (the heavily blurred cost is there to reach the basin, not to rank: on the
        canonical template a thin eye's true pose ranked 104th by its own round's phi and first by the fine one).
        The others end with loss inf (never counted). first_keep > 0: the first round carries on at most that many
        strides (coarse_rank `round`: the coarse search kept every stride). Returns w, loss, iterations per item."""
        st = self.settings
        n_items = anchors.shape[0]
        dev = anchors.device
        w, loss = w0.clone(), torch.full((n_items,), math.inf, dtype=w0.dtype, device=dev)
        iters = torch.zeros(n_items, dtype=torch.long, device=dev)
        alive = torch.arange(n_items, device=dev)
        rounds = st.leaf_rounds
        for i, rnd in enumerate(rounds):
            w_in = w.clone()
            cost_of = self._leaf_cost_factory(y, x, mask, anchors, rnd)
            steps = (curvature_steps(x, mask, rnd.sigma, rnd.sigma_in, st.leaf_nu) if st.leaf_step_rule == "curvature"
                     else leaf_steps(mask.shape, rnd.sigma, st.leaf_nu, w0.dtype, dev))
            chunks = self._chunks(alive, mask, rnd)
            last = i + 1 == len(rounds)
            outs = []
            for o, objective in enumerate(round_objectives(st.leaf_objective, last)):
                w_o, loss_o = w_in.clone(), loss.clone()
                for j, idx in enumerate(chunks):
                    cost = cost_of(idx)
                    if objective == "correlation":
                        f, s = cost.correlation_value_and_grad, steps * cost.correlation_step_scale()
                    else:
                        f, s = cost.value_and_grad, steps
                    res = unrolled_descent(f, w_in[idx], s, rnd.iters, rtol=st.rtol, backtrack=st.backtrack,
                                           project=project)
                    w_o[idx], loss_o[idx] = res.w.detach(), res.loss.detach()
                    iters[idx] += res.n_iter
                    if plan is not None and o == 0:
                        done = plan.coarse + sum(plan.rounds[:i]) + plan.rounds[i] * (j + 1) / len(chunks)
                        self._say(done, plan, plan.names[min(i + 1, len(plan.names) - 1)] if j + 1 == len(chunks)
                                  else plan.names[i])
                outs.append(w_o)
                if o == 0:
                    loss = loss_o
            w = outs[0]
            # the other poses an item may go on from (rounds before the last: the last round's loss is the leaf's)
            others = [] if last else outs[1:] + ([w_in] if st.leaf_guard else [])
            keep_n = min(rnd.keep or first_keep, first_keep) if i == 0 and first_keep else rnd.keep
            prune = rnd.one_start or (keep_n and alive.numel() > keep_n)
            if prune or others:
                judge = rounds[i + 1] if i + 1 < len(rounds) else rnd
                judge_of = self._leaf_cost_factory(y, x, mask, anchors, judge)
                score = torch.full_like(loss, math.inf)
                for idx in self._chunks(alive, mask, judge):
                    local = torch.arange(idx.numel(), device=dev)
                    judge_idx = judge_of(idx)
                    rate = ((lambda v: -judge_idx.correlation(v, local)) if st.leaf_rank == "correlation" else
                            (lambda v: judge_idx.value_and_grad(v, local)[0].detach()))
                    score[idx] = rate(w[idx])
                    for other in others:
                        alt = rate(other[idx])
                        better = alt < score[idx]
                        w[idx] = torch.where(better[:, None], other[idx], w[idx])
                        score[idx] = torch.minimum(alt, score[idx])
                if prune:
                    score = torch.where(torch.isfinite(score), score, torch.full_like(score, math.inf))
                    alive = best_starts(score, k, keep_n or n_items)
                    dropped = torch.ones(n_items, dtype=torch.bool, device=dev).index_fill(0, alive, False)
                    loss = torch.where(dropped, torch.full_like(loss, math.inf), loss)
        return w, loss, iters

    def _leaf_cost_factory(self, y, x, mask, anchors, rnd: LeafRound):
        """items -> LeafCost of the round (its input blur, smoothing and quadrature) at those items' anchors."""
        st = self.settings
        blurred = self._blurred(y, rnd.sigma_in)
        h = quadrature_step(rnd.sigma_in, st.quadrature)
        return lambda idx: LeafCost(blurred, x, mask, anchors[idx], rnd.sigma, a=st.keys_a, point_step=h)

    def _chunks(self, alive: torch.Tensor, mask: torch.Tensor, rnd: LeafRound):
        chunk = self._chunk(mask, rnd.sigma, quadrature_step(rnd.sigma_in, self.settings.quadrature))
        return [alive[i:i + chunk] for i in range(0, alive.numel(), chunk)]


def round_objectives(objective: str, last: bool) -> list[str]:
    """What a leaf round descends (settings.leaf_objective): the last round always phi (its loss is the leaf's);
    the others phi, -correlation, or both from the same starts (an item then goes on from the pose the next
    round's judge rates best)."""
    if last:
        return ["cost"]
    return ["cost", "correlation"] if objective == "both" else [objective]


def coarse_angles(angles: list[float], step: float) -> list[float]:
    """The searched range (the whole circle, or -a ... a) every `step` degrees at most."""
    return start_angles(angles, step)


def coarse_starts(scene: torch.Tensor, image: torch.Tensor, motif: Motif, grid: StrideGrid, angles: list[float],
                  per_stride: int, blur: float = 0.0, strides: int = 0,
                  progress=None, pose_dtype: torch.dtype | None = None, pool: int = 1, with_best: bool = False,
                  scene_blurred: torch.Tensor | None = None):
    """Starts for the descent from the exhaustive search at coarse angles (rotation_search.DenseCost: the masked
    L2 at every integer shift for each angle, by FFT correlation, in the scene's dtype; both scene and motif
    blurred by `blur`, the first leaf round's input blur; the motif rotated by grid_sample: only the starts depend
    on it). Per stride cell and angle the best shift is kept; each stride's `per_stride` best
    angles that are local minima over the angle axis become its starts (a stride with fewer repeats its best).
    With strides > 0 only the strides whose best start is among the `strides` lowest are kept.

    Returns (strides kept (K,), w0 (K * per_stride, 3)) (with_best: and each kept stride's best coarse cost (K,)),
    stride-major, w0 = (phi, b_row, b_col) in the descent's
    parameterisation about the window centre (the inverse of _to_fit), in pose_dtype (default: the scene's; the
    search may run in float32 for a float64 descent). `progress`: DenseCost.costs'. pool > 1: the search runs on
    scene, motif and mask average-pooled by `pool` (maps of wide bumps: a spike node at full size), its costs
    spread back over the pixels each pooled pixel covers, so the starts are within pool - 1 px of the search's.
    scene_blurred: the scene already blurred by `blur` (the registrar blurs it once for every leaf)."""
    dt, dev = scene.dtype, scene.device
    y = scene if blur <= 0 else scene_blurred if scene_blurred is not None else gaussian_filter(scene, blur)
    x = gaussian_filter(image, blur) if blur > 0 else image
    mask = motif.mask.to(dt)
    if pool > 1:
        chunks = _pooled_costs(y, x, mask, motif.centre, angles, pool, progress)
    else:
        dense = DenseCost(y, x, mask, angles, motif.centre, fast=True)  # the scene's FFTs: set-up
        if progress is not None:
            progress(0.0)  # the set-up is done and no chunk has run: the ETA counts the time so far as lead
        chunks = dense.chunks(progress)
    a_n, (h, w) = len(angles), y.shape[-2:]
    m, n = mask.shape
    cr, cc = motif.centre
    r = torch.arange(h, device=dev)
    c = torch.arange(w, device=dev)
    if motif.kind == "texture":  # a leaf: valid where its turned mask lies inside, per angle (turned_reach)
        reach = turned_reach(mask, motif.centre, angles)
    else:  # a spike node (its maps padded by the border rule): where its unturned box lies inside the maps
        invalid = ~(((r >= cr) & (r <= h - m + cr))[:, None] & ((c >= cc) & (c <= w - n + cc))[None, :])
    labels = grid.cell_labels((h, w), dev).reshape(-1)
    s_n = len(grid)
    pos = torch.arange(h * w, device=dev)
    cell = torch.full((a_n, s_n), math.inf, dtype=dt, device=dev)  # (A, S): best cost per angle and stride cell
    where = torch.full((a_n, s_n), h * w, dtype=torch.long, device=dev)  # its position: the smallest flat index
    # each chunk of angles (a, H, W) reduced as it comes: the (A, H, W) costs are never held at once (memory grows
    # with the scene, not the scene times the angles; the per-angle reductions are the same)
    for i, dense in chunks:
        a = dense.shape[0]
        if motif.kind == "texture":
            lo, hi = reach[i:i + a, 0], reach[i:i + a, 1]  # (a, 2) each: rows, cols the mask reaches about p
            invalid = ~(((r[None] + lo[:, :1] >= 0) & (r[None] + hi[:, :1] <= h - 1))[:, :, None]
                        & ((c[None] + lo[:, 1:] >= 0) & (c[None] + hi[:, 1:] <= w - 1))[:, None, :])
        flat = dense.masked_fill_(invalid, math.inf).reshape(a, -1)
        lab = labels.expand(a, -1)
        best = cell[i:i + a].scatter_reduce_(1, lab, flat, reduce="amin")
        hit = flat == best.gather(1, lab)
        where[i:i + a].scatter_reduce_(1, lab, torch.where(hit, pos, h * w), reduce="amin")
        del dense, flat, hit
    cost = cell.T  # (S, A)
    circle = max((abs(a) for a in angles), default=0.0) >= 180.0 - 1e-9 or len(angles) < 3
    if circle:
        left, right = cost.roll(1, 1), cost.roll(-1, 1)
    else:
        pad = torch.full_like(cost[:, :1], math.inf)
        left, right = torch.cat((pad, cost[:, :-1]), 1), torch.cat((cost[:, 1:], pad), 1)
    ranked = torch.where((cost <= left) & (cost <= right), cost, torch.full_like(cost, math.inf))
    k = min(per_stride, a_n)
    vals, ai = ranked.topk(k, 1, largest=False)  # (S, k)
    # fewer local minima than starts: repeat the best (the descent from it is the same basin)
    ai = torch.where(torch.isfinite(vals), ai, ai[:, :1])
    if k < per_stride:
        ai = torch.cat((ai, ai[:, :1].expand(-1, per_stride - k)), 1)
    best = vals[:, 0]
    keep = torch.arange(s_n, device=dev)
    if strides and s_n > strides:
        keep = torch.topk(torch.where(torch.isfinite(best), best, torch.full_like(best, math.inf)), strides,
                          largest=False).indices
    ai = ai[keep]  # (K, per_stride)
    idx = where.T[keep[:, None], ai]  # (K, per_stride) flat positions
    idx = torch.where(idx < h * w, idx, torch.zeros_like(idx))
    dt = pose_dtype or dt
    centre = torch.stack(((idx // w).to(dt), (idx % w).to(dt)), -1).reshape(-1, 2)
    ang = torch.tensor(angles, dtype=dt, device=dev)[ai.reshape(-1)]
    phi = -torch.deg2rad(ang)
    cw = torch.tensor(((m - 1) / 2, (n - 1) / 2), dtype=dt, device=dev)
    rel = torch.tensor(motif.centre, dtype=dt, device=dev) - cw
    co, si = torch.cos(phi), torch.sin(phi)
    turned = torch.stack((co * rel[0] - si * rel[1], si * rel[0] + co * rel[1]), -1)
    anchors = grid.anchors(dt, dev)[keep].repeat_interleave(per_stride, 0)
    b = centre - anchors - cw - turned
    w0 = torch.cat((phi[:, None], b), 1)
    return (keep, w0, best[keep]) if with_best else (keep, w0)


def turned_reach(mask: torch.Tensor, centre, angles: list[float]) -> torch.Tensor:
    """(A, 2, 2): per angle, the least and greatest (row, col) offset from the motif's centre pixel that a pixel of
    its mask reaches turned by the angle (clockwise as displayed, DenseCost's turn), rounded outwards. A leaf's pose
    is valid where its turned mask lies inside the scene: its cost reads no pixel outside (a mask pixel's bicubic
    support is the peeled ring, mask_erode). The unturned box was the rule before: a thin part turned near a
    border (the synthetic crab's left eye turned 86 deg, its centre 19 px below the top at half size: its
    46-row box out)
    had no valid pose and its crab was lost (docs/detection.md, "A claw outside the image: past the pruning")."""
    q = torch.nonzero(mask > 0).to(torch.float64) - torch.tensor(centre, dtype=torch.float64, device=mask.device)
    rot = torch.stack([rotation_matrix(a, degrees=True, clockwise=True, dtype=torch.float64, device=mask.device)
                       for a in angles])  # (A, 2, 2)
    p = torch.einsum("aij,pj->api", rot, q)
    return torch.stack((torch.floor(p.amin(1) + 1e-6), torch.ceil(p.amax(1) - 1e-6)), 1).to(torch.long)


def _pooled_costs(y: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, centre, angles: list[float], pool: int,
                  progress=None):
    """DenseCost's chunks (first angle, (a, H, W)) at every full pixel from the search on the pooled grid: the
    pooled motif's centre pixel c // pool holds the full centre c at offset c % pool, so pooled pixel i puts the
    centre at full pixel pool * i + c % pool; every full pixel takes the cost of the pooled pixel whose block (so
    shifted) holds it."""
    avg = torch.nn.functional.avg_pool2d
    h, w = y.shape[-2:]
    cr, cc = int(centre[0]), int(centre[1])
    yp = avg(y[None], pool, ceil_mode=True)[0]
    xp = avg(x[None], pool, ceil_mode=True)[0]
    mp = (avg(mask[None, None], pool, ceil_mode=True)[0, 0] > 0).to(mask.dtype)  # the pooled box covers the box
    dense_cost = DenseCost(yp, xp * mp, mp, angles, (cr // pool, cc // pool), fast=True)
    if progress is not None:
        progress(0.0)  # set-up done, no chunk run: lead (coarse_starts)
    for i, dense in dense_cost.chunks(progress):
        dense = dense.repeat_interleave(pool, -2).repeat_interleave(pool, -1)
        dense = torch.nn.functional.pad(dense[None], (cc % pool, 0, cr % pool, 0), mode="replicate")[0]
        yield i, dense[:, :h, :w].contiguous()


def turned_stride_ncc(scene: torch.Tensor, motif: torch.Tensor, grid: StrideGrid, angles: list[float]) -> torch.Tensor:
    """The authors' NCC screen made rotation-aware: per stride, the best NCC of its untransformed window with the
    motif turned to each starting angle (about the motif's centre). The untransformed screen alone dropped the true
    crab stride of a generated scene at -36.7 deg (half size); the strides registered are the same either way."""
    c, m, n = motif.shape
    r = torch.arange(m, dtype=motif.dtype, device=motif.device) - (m - 1) / 2
    q = torch.arange(n, dtype=motif.dtype, device=motif.device) - (n - 1) / 2
    p = torch.stack(torch.meshgrid(r, q, indexing="ij"), -1)
    centre = torch.tensor(((m - 1) / 2, (n - 1) / 2), dtype=motif.dtype, device=motif.device)
    best = None
    for a in angles:
        t = math.radians(a)
        co, si = math.cos(t), math.sin(t)
        pts = torch.stack((co * p[..., 0] - si * p[..., 1], si * p[..., 0] + co * p[..., 1]), -1) + centre
        ncc = stride_ncc(scene, keys_grid_sample(motif, pts), grid)
        best = ncc if best is None else torch.maximum(best, ncc)
    return best


def angle_box(limit_deg: float):
    """Projection of (angle, b) iterates onto |angle| <= limit_deg: the node's searched angle range is a prior
    (crab rotation plus articulation). Without it a 2-spike eye pair turned past 180 deg onto the swapped eyes, a
    lower loss where the left-eye map also fires on the right eye (the paper's eye ambiguity). A limit of 180 or
    more is the whole circle: angles are only wrapped into [-180, 180) (the cost is periodic)."""
    limit = math.radians(limit_deg)

    def project(w: torch.Tensor) -> torch.Tensor:
        if limit_deg >= 180.0:
            return torch.cat((torch.remainder(w[:, :1] + math.pi, 2 * math.pi) - math.pi, w[:, 1:]), 1)
        return torch.cat((w[:, :1].clamp(-limit, limit), w[:, 1:]), 1)

    return project


def best_starts(loss: torch.Tensor, k: int, keep: int) -> torch.Tensor:
    """Items (stride-major, k starts per stride) to carry on: each stride's best start, then the `keep` strides
    whose best loss (any lower-is-better score) is lowest (finite ones only)."""
    per_stride = loss.reshape(-1, k)
    best, arg = per_stride.min(1)
    items = torch.arange(per_stride.shape[0], device=loss.device) * k + arg
    finite = torch.isfinite(best)
    best, items = best[finite], items[finite]
    return items[torch.topk(best, min(keep, best.numel()), largest=False).indices]


def window_energy(y: torch.Tensor, mask: torch.Tensor, centre: tuple[float, float]) -> float:
    """The most energy sum(y^2) over channels of a (C, H, W) scene within any square window of side 2r + 1, r the
    radius of the (h, w) mask about its rotation centre (plus a pixel for the interpolation): an upper bound of
    what one pose of the mask, at any angle, sees. Summed areas (cumulative sums, float64): O(C H W)."""
    mh, mw = mask.shape
    r = int(math.ceil(max(math.hypot(centre[0] - a, centre[1] - b) for a in (0, mh - 1) for b in (0, mw - 1)))) + 1
    e = (y.to(torch.float64) ** 2).sum(0)
    h, w = e.shape
    k = min(2 * r + 1, h), min(2 * r + 1, w)
    s = torch.nn.functional.pad(e.cumsum(0).cumsum(1), (1, 0, 1, 0))
    box = s[k[0]:, k[1]:] - s[:-k[0], k[1]:] - s[k[0]:, :-k[1]] + s[:-k[0], :-k[1]]
    return float(box.max())


def _register_fixed_steps(y, x, mask, anchors, w0, rnd: LeafRound, steps, rtol, a, backtrack, project=None,
                          point_step=1, evaluated=None):
    """One round of unrolled descent on the masked L2 (LeafCost at the round's sigma) with given steps.
    `evaluated(k, calls)`, when given, is told after each evaluation how many items it evaluated (the items still
    running) and how many evaluations the descent has made (the start's is the first)."""
    cost = LeafCost(y, x, mask, anchors, rnd.sigma, a=a, point_step=point_step)
    f = cost.value_and_grad
    if evaluated is not None:
        calls = [0]

        def f(w, items):
            out = cost.value_and_grad(w, items)
            calls[0] += 1
            evaluated(int(items.numel()), calls[0])
            return out
    return unrolled_descent(f, w0, steps, rnd.iters, rtol=rtol, backtrack=backtrack, project=project)

