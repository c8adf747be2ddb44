"""Hierarchical detection (seed 002 Algorithm 1): extract the non-leaf motifs from the template (A.4), then detect
bottom-up, with thresholds from a calibration file (detection/calibration.py) or from the config."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ..config import PACKAGE_DIR
from ..detection.calibration import load_calibration
from ..detection.detector import (
    AGGREGATES,
    Completion,
    HierarchicalDetector,
    NodeSettings,
    SceneTooSmall,
    exhaustive_registrar,
    expected_seconds,
    scaled_plan,
    work_family,
)
from ..detection.instances import MIN_PART_WEIGHT, detections_table, find_instances
from ..detection.motif_cache import cache_dir, cached_extract, load_costs, save_costs
from ..detection.motif_registration import LeafRound
from ..detection.unrolled_registrar import UnrolledRegistrar, UnrolledSettings
from ..errors import UserError, check_choice, check_float, check_int
from ..monitor import RUN_PRIOR_SHARE, WorkETA
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver

# solver.registrar: descent (the paper's per-stride gradient registration, UnrolledRegistrar) | exhaustive (every
# angle and shift by FFT correlation, detector.exhaustive_registrar). The old names stay accepted: `unrolled` was
# also the name of a differentiation mode (linalg/iterate.py) and `covering` that of the random-pose covering of
# covering_vs_optimization.
REGISTRARS = ("descent", "exhaustive")
REGISTRAR_ALIASES = {"unrolled": "descent", "covering": "exhaustive"}
# solver.descent.interpolation -> Keys' a: grid_sample's bicubic (the authors' PyTorch detector; fast) or Keys'
# third-order kernel (the paper's App. A.1 and the authors' numpy code)
KEYS_A = {"bicubic": -0.75, "keys": -0.5}
LEAF_STEP_RULES = ("curvature", "authors")
LEAF_RANKS = ("correlation", "cost")
COARSE_RANKS = ("cost", "correlation", "round")
LEAF_OBJECTIVES = ("cost", "correlation", "both")
ROUND_FIELDS = ("sigma", "sigma_in", "iters", "keep", "one_start")  # solver.descent.leaf_rounds[i]
CALIBRATION_DIR = PACKAGE_DIR / "detection" / "calibrations"
# full-size px: a part's joint must lie this close to where the instance's root pose puts it (the calibration's
# failure distance, far_px: a stride farther off is a wrong registration)
PART_RADIUS = 10.0


def node_settings(section, scale: int, name: str) -> NodeSettings:
    """A config section (lengths in full-size pixels) as NodeSettings in the pixels of a scene downscaled by scale."""
    stride = check_int(f"solver.{name}.stride", section.stride, 1)
    # the NCC screen is an option of spike nodes, mask erosion one of leaves (hierarchical.yaml); the other kind
    # keeps NodeSettings' "off" values
    spike = name == "spike"
    ncc = section.ncc_min if spike else None
    return NodeSettings(
        stride=max(1, round(stride / scale)),
        # the whole circle is (-180, 180]: beyond 180 no angle is new (and the calibration lookup would name it)
        angle_max=check_float(f"solver.{name}.angle_max", section.angle_max, 0.0, maximum=180.0),
        angle_step=check_float(f"solver.{name}.angle_step", section.angle_step, 0.0, strict=True),
        sigma=check_float(f"solver.{name}.sigma", section.sigma, 0.0) / scale,
        alpha=check_float(f"solver.{name}.alpha", section.alpha, 0.0),
        gamma=check_float(f"solver.{name}.gamma", section.gamma),
        ncc_min=None if ncc is None else check_float(f"solver.{name}.ncc_min", ncc),
        **({"ncc_sigma": check_float(f"solver.{name}.ncc_sigma", section.ncc_sigma, 0.0) / scale} if spike else
           {"mask_erode": check_int(f"solver.{name}.mask_erode", section.mask_erode, 0)}),
    )


NODE_LINES_EVERY = 3.0  # seconds: off a terminal, a progress line at most this often (inside a node too)
PERCENT = 100  # a weighted phase counts percent of its predicted work


class NodeProgress:
    """The detector's hooks as progress inside the current phase: `__call__` as each node of the tree starts
    ("extract NODE" or "detect NODE"), `inside` as a node's registrar advances (fraction of the node's predicted
    work, what runs now: "coarse search", "descent round 2/3"). finish() completes the phase. A bar on a
    terminal, plain lines elsewhere (regrun.monitor.Progress); `bar` None (progress=false): nothing.

    Without `plan` every node counts 1 (the bar's total is the node count). With `plan` (node -> predicted
    seconds, or node -> [(kind of work, predicted seconds), ...] in the order the node runs them: the registrar's
    work model by node kind and stage, or the last detection's record per node) the time left is the work left
    at each kind's rate corrected online by what this run measured (regrun.monitor.WorkETA: a kind that runs k
    times slower than its prior is seen as such once some of it has run), and the bar (total PERCENT) shows the
    share of the time done, elapsed / (elapsed + left) (issue 19)."""

    def __init__(self, bar, plan: dict | None = None, clock=time.perf_counter, run_prior_share: float = 0.0,
                 families: bool = False):
        self.bar, self.started = bar, False
        parts = {node: [("work", w)] if isinstance(w, (int, float)) else list(w) for node, w in (plan or {}).items()}
        total = sum(seg[1] for segs in parts.values() for seg in segs)
        # families: a kind not run yet takes the rate of the same work on the nodes before (work_family; eta11)
        kin = {seg[0]: work_family(seg[0]) for segs in parts.values() for seg in segs} if families else None
        self.eta = WorkETA(parts, clock, run_prior_share=run_prior_share, families=kin) if total > 0 else None
        self.node = self.message = None

    def __call__(self, message: str) -> None:
        if self.eta is None:
            if self.bar is not None:
                self.bar.update(1 if self.started else 0, now=message)
            self.started = True
            return
        self.node, self.message = message.split(" ", 1)[-1], message
        self.eta.start(self.node)
        self._move(message)

    def inside(self, fraction: float, now: str, skipped: float = 0.0, expected: float | None = None) -> None:
        """`skipped`: the share of the node's most work its descent's stopped items skip; `expected`: the share of
        its descent's most work now expected to run (its maps are empty)."""
        if self.eta is not None and self.node is not None:
            if expected is not None:
                self.eta.expect(expected)
            self.eta.advance(fraction, skipped)
            self._move(f"{self.message}: {now}")

    def ahead(self, node: str, share: float) -> None:
        """`node`, not started yet, will run `share` of its descent's most work (its maps, known once its children
        ended, are empty): the next node's start moves the bar."""
        if self.eta is not None:
            self.eta.expect(share, node)

    def _move(self, shown: str) -> None:
        if self.bar is None:
            return
        self.bar.left = self.eta.remaining()
        # while only the first node has run, its rate stands for every node: on a 4000x4000 photo that ETA was
        # 0.39-0.83x the time left (three runs), later ones 0.66-1.10x (newuser6): said, so it is read as rough
        self.bar.left_note = "" if self.eta.finished else " (first node only)"
        # 100% is finish()'s to say: a node's last report comes before its results are built
        target = min(int(PERCENT * self.eta.fraction() + 1e-9), PERCENT - 1)
        self.bar.update(max(target - self.bar.n, 0), now=shown)

    def finish(self) -> None:
        if self.eta is not None and self.node is not None:
            self.eta.finish()
        if self.bar is not None and (self.started or self.node is not None):
            self.bar.shown.pop("now", None)  # nothing is running any more
            self.bar.left = None
            self.bar.update(PERCENT - self.bar.n if self.eta is not None else 1)
        self.started, self.node = False, None


def build_detector(cfg, template, scale: int, progress=None, grey: bool = False, tiles: int = 1,
                   palette_shifts: dict | None = None) -> HierarchicalDetector:
    """The detector a `hierarchical` solver config describes, for a template already downscaled by `scale`; grey:
    the scene is matched in grey (the leaves' coarse pruning is then solver.descent.coarse_keep_grey[_full]); tiles:
    the scene is a mosaic of that many resampled photos (problem.scene.object_scale lists; make_registrar);
    palette_shifts: a palette file's mean RGB distance of each part's colours to the file's palette (make_registrar)."""
    registrar_kind(cfg)
    check_choice("solver.aggregate", cfg.aggregate, AGGREGATES)
    settings = {}
    for node in list(template.parts) + [n for n in template.tree]:
        kind = "leaf" if node in template.parts else "spike"
        settings[node] = node_settings(cfg[kind], scale, kind)
    sigma0 = check_float("solver.sigma0", cfg.sigma0, 0.0, strict=True) / scale
    min_visible = None if cfg.min_visible is None else check_float("solver.min_visible", cfg.min_visible, 0.0, maximum=1.0)
    registrar = make_registrar(cfg, scale, grey, tiles, palette_shifts)
    return HierarchicalDetector(template, settings, sigma0=sigma0, aggregate=cfg.aggregate,
                                registrar=registrar, extraction_pad=math.ceil(40 / scale),
                                progress=progress, min_visible=min_visible,
                                extraction_registrar=getattr(registrar, "for_extraction", lambda: registrar)(),
                                completion=make_completion(cfg.complete, scale))


def make_completion(section, scale: int) -> Completion | None:
    """solver.complete as the detector's Completion (None when min_weight is 0: off); parts are judged by the
    instances' rule (PART_RADIUS, MIN_PART_WEIGHT)."""
    min_weight = check_float("solver.complete.min_weight", section.min_weight, 0.0, maximum=1.0)
    if min_weight == 0:
        return None
    return Completion(min_weight=min_weight, part_radius=PART_RADIUS / scale, min_part_weight=MIN_PART_WEIGHT,
                      angle_range=check_float("solver.complete.angle_range", section.angle_range, 0.0, maximum=180.0),
                      angle_step=check_float("solver.complete.angle_step", section.angle_step, 0.0, strict=True),
                      max_hypotheses=check_int("solver.complete.max_hypotheses", section.max_hypotheses, 1),
                      max_border_hypotheses=check_int("solver.complete.max_border_hypotheses",
                                                      section.max_border_hypotheses, 0))


def _check_bool(name: str, value) -> bool:
    check_choice(name, value, (True, False))
    return bool(value)


def registrar_kind(cfg) -> str:
    """solver.registrar as one of REGISTRARS (an old name mapped to its new one); a one-line error otherwise."""
    check_choice("solver.registrar", cfg.registrar, REGISTRARS + tuple(REGISTRAR_ALIASES))
    return REGISTRAR_ALIASES.get(cfg.registrar, cfg.registrar)


def make_registrar(cfg, scale: int, grey: bool = False, tiles: int = 1, palette_shifts: dict | None = None):
    """The StrideRegistrar solver.registrar names (checked against REGISTRARS and their old names); grey: for a
    scene matched in grey (coarse_keep_grey, coarse_keep_grey_full); tiles: a mosaic of that many photos keeps
    coarse_keep strides per photo (each photo holds its own copy of every object, at another size: with 48 over 9
    tiles the authors' crab's eyes were pruned; docs/detection.md, detgrey); palette_shifts (part -> mean RGB
    distance of its colours to a palette file's): the parts at least solver.descent.coarse_keep_palette_shift away
    descend every stride (their colours quantised to the clutter's, the coarse cost ranked the own robot's true
    arm 349th of 630; docs/detection.md, "The early ranking")."""
    if registrar_kind(cfg) == "exhaustive":
        return exhaustive_registrar
    u = cfg.descent
    rounds = []
    for i, r in enumerate(u.leaf_rounds):
        name = f"solver.descent.leaf_rounds[{i}]"
        missing = [k for k in ROUND_FIELDS if k not in r]
        if missing:
            raise UserError(f"{name} lacks {', '.join(missing)}; each round gives {', '.join(ROUND_FIELDS)}")
        rounds.append(LeafRound(sigma=check_float(f"{name}.sigma", r.sigma, 0.0) / scale,
                                sigma_in=check_float(f"{name}.sigma_in", r.sigma_in, 0.0) / scale,
                                iters=check_int(f"{name}.iters", r.iters, 1),
                                keep=check_int(f"{name}.keep", r.keep, 0),
                                one_start=_check_bool(f"{name}.one_start", r.one_start)))
    if not rounds:
        raise UserError("solver.descent.leaf_rounds is empty; give at least one {sigma, sigma_in, iters}")
    blur = check_float("solver.descent.spike_blur", u.spike_blur, 0.0) / scale
    have = check_float("solver.spike.sigma", cfg.spike.sigma, 0.0) / scale
    check_choice("solver.descent.leaf_dtype", u.leaf_dtype, ("run", "float32"))
    check_choice("solver.descent.spike_dtype", u.spike_dtype, ("run", "float32"))
    check_choice("solver.descent.interpolation", u.interpolation, tuple(KEYS_A))
    check_choice("solver.descent.leaf_step_rule", u.leaf_step_rule, LEAF_STEP_RULES)
    check_choice("solver.descent.leaf_rank", u.leaf_rank, LEAF_RANKS)
    check_choice("solver.descent.leaf_objective", u.leaf_objective, LEAF_OBJECTIVES)
    # the grey starts, ranking and area count were measured at half size only: a full-size grey search keeps the
    # colour ones (and coarse_keep_grey_full), as greycal measured it (docs/detection.md, greyspeed)
    grey_half = grey and scale != 1
    return UnrolledRegistrar(UnrolledSettings(
        leaf_rounds=tuple(rounds),
        leaf_nu=check_float("solver.descent.leaf_nu", u.leaf_nu, 0.0, strict=True),
        leaf_step_rule=u.leaf_step_rule,
        backtrack=_check_bool("solver.descent.backtrack", u.backtrack),
        spike_blur=blur, spike_sigma=math.sqrt(have * have + blur * blur),
        spike_iters=check_int("solver.descent.spike_iters", u.spike_iters, 1),
        spike_factor=check_float("solver.descent.spike_factor", u.spike_factor, 0.0, strict=True),
        spike_keep=check_int("solver.descent.spike_keep", u.spike_keep, 0),
        start_step=check_float("solver.descent.start_step", u.start_step, 0.0, strict=True),
        spike_start_step=check_float("solver.descent.spike_start_step", u.spike_start_step, 0.0, strict=True),
        rtol=check_float("solver.descent.rtol", u.rtol, 0.0),
        dedup=check_float("solver.descent.dedup", u.dedup, 0.0) / scale,
        coarse_step=check_float("solver.descent.coarse_step", u.coarse_step, 0.0),
        # in grey the robot's arms' true angles were not among 2 starts per stride (docs/detection.md, greyspeed)
        coarse_starts=(check_int("solver.descent.coarse_starts", u.coarse_starts, 1),
                       check_int("solver.descent.coarse_starts_grey", u.coarse_starts_grey, 1))[int(grey_half)],
        spike_coarse_step=check_float("solver.descent.spike_coarse_step", u.spike_coarse_step, 0.0, strict=True),
        # full size ranks a leaf's true stride lower by its coarse cost than half size (docs/detection.md, crabkeep)
        # (both checked at every size: a bad value is said whichever size runs)
        coarse_keep=(check_int("solver.descent.coarse_keep_full", u.coarse_keep_full, 0),
                     check_int("solver.descent.coarse_keep", u.coarse_keep, 0),
                     # in grey a leaf's true stride ranks lower by its coarse cost (the robot's arms: not among 48
                     # or 128 in some seen scenes; docs/detection.md, greycal)
                     check_int("solver.descent.coarse_keep_grey_full", u.coarse_keep_grey_full, 0),
                     check_int("solver.descent.coarse_keep_grey", u.coarse_keep_grey, 0))[
                         2 * int(grey) + (0 if scale == 1 else 1)] * tiles,
        coarse_keep_min_area=check_float("solver.descent.coarse_keep_min_area", u.coarse_keep_min_area, 0.0)
        / scale**2,
        # grey ranks the strides by correlation (docs/detection.md, greyspeed); both checked at every colour
        extraction_coarse_starts=u.coarse_starts,
        coarse_keep_area=(check_float("solver.descent.coarse_keep_area", u.coarse_keep_area, 0.0),
                          check_float("solver.descent.coarse_keep_area_grey", u.coarse_keep_area_grey, 0.0))[
                              int(grey_half)] / scale**2,
        coarse_rank=_coarse_rank(u, grey_half),
        leaf_dtype=None if u.leaf_dtype == "run" else torch.float32,
        spike_dtype=None if u.spike_dtype == "run" else torch.float32,
        keys_a=KEYS_A[u.interpolation],
        quadrature=check_float("solver.descent.quadrature", u.quadrature, 0.0),
        leaf_rank=u.leaf_rank,
        leaf_objective=u.leaf_objective,
        leaf_guard=_check_bool("solver.descent.leaf_guard", u.leaf_guard),
        # spike maps are sums of sigma0-wide bumps: pooled until they are as narrow as the searched width that was
        # validated (half size's 1.5 px), the coarse search keeps their peaks and costs 1/pool^2 (full size: 2)
        spike_coarse_pool=_spike_coarse_pool(cfg, u, scale),
        # the neighbourhood pass: grey at half size (the grey leaves descended every stride: docs/detection.md, detgrey)
        unpruned=_palette_unpruned(u, palette_shifts),
        near=(_check_bool("solver.descent.near", u.near), _check_bool("solver.descent.near_grey", u.near_grey))[
            int(grey_half)],
        near_keep=check_int("solver.descent.near_keep", u.near_keep, 0),
        near_area=check_float("solver.descent.near_area", u.near_area, 0.0, strict=True) / scale**2,
        near_weight=check_float("solver.descent.near_weight", u.near_weight, 0.0),
        near_margin=check_float("solver.descent.near_margin", u.near_margin, 0.0) / scale))


def _palette_unpruned(u, shifts: dict | None) -> frozenset:
    """The leaves a palette file's coarse pruning leaves whole: those whose colours lie on average at least
    solver.descent.coarse_keep_palette_shift (RGB distance) from the file's palette (0: none; checked always)."""
    limit = check_float("solver.descent.coarse_keep_palette_shift", u.coarse_keep_palette_shift, 0.0)
    return frozenset(k for k, v in (shifts or {}).items() if limit > 0 and v >= limit)


def _coarse_rank(u, grey: bool) -> str:
    """solver.descent.coarse_rank, or coarse_rank_grey for a scene matched in grey at half size (both checked either way: a bad
    value is said whichever scene runs). Grey ranks by correlation (docs/detection.md, greyspeed)."""
    check_choice("solver.descent.coarse_rank", u.coarse_rank, COARSE_RANKS)
    check_choice("solver.descent.coarse_rank_grey", u.coarse_rank_grey, COARSE_RANKS)
    return u.coarse_rank_grey if grey else u.coarse_rank


def _spike_coarse_pool(cfg, u, scale: int) -> int:
    """The spike nodes' coarse-search pooling: the largest integer p with sigma0 / (scale p) >= spike_coarse_sigma
    (solver.descent.spike_coarse_sigma, searched px; 0: no pooling)."""
    width = check_float("solver.descent.spike_coarse_sigma", u.spike_coarse_sigma, 0.0)
    sigma = check_float("solver.sigma0", cfg.sigma0, 0.0, strict=True) / scale
    return max(1, int(math.floor(sigma / width + 1e-9))) if width > 0 else 1


def calibration_key(cfg, template_key: str) -> str:
    """Calibration files are per template, scale, registrar (the registrars' losses differ in scale) and searched
    range: `_circle` when the leaves search the whole circle (angle_max >= 180), else the range the file names."""
    kind = registrar_kind(cfg)
    key = template_key if kind == "exhaustive" else f"{template_key}_{kind}"
    return f"{key}_circle" if float(cfg.leaf.angle_max) >= 180.0 else key


# the console command that writes calibration files (regrun/calibrate.py): `python scripts/calibrate_crab.py`, as the
# messages wrote it, was no file in a user's own folder (newuser16) nor in a pip-installed regrun (newuser17)
CALIBRATE_COMMAND = "regrun-calibrate"


def calibration_command(cfg, template_file, scale: int | None) -> str:
    """The command that writes the calibration file `solver.calibration=auto` looks for with these settings: the
    scenes turned over the whole circle when the search covers it, at the run's scale. Without `--max-angle 180`
    the script calibrates on scenes within +-45 deg and still names the file `_circle` (the name follows the
    search, not the scenes), so the hint without it led to a file that did not fit the runs it was made for."""
    args = [f"--template {template_file or '<the template YAML>'}"]
    if scale is not None:
        args.append(f"--scale {scale}")
    if float(cfg.leaf.angle_max) >= 180.0:
        args.append("--max-angle 180")
    sets = [f"registrar={registrar_kind(cfg)}"]
    if float(cfg.leaf.angle_max) < 180.0:  # the search's range is part of the file's name
        sets += [f"leaf.angle_max={cfg.leaf.angle_max:g}", f"spike.angle_max={cfg.spike.angle_max:g}"]
    return f"{CALIBRATE_COMMAND} {' '.join(args)} --set {' '.join(sets)}"


def auto_calibration_file(cfg, key: str, folder: Path | None) -> Path:
    """Where `solver.calibration=auto` looks for template key's file with these settings (it may not exist)."""
    key = calibration_key(cfg, key)
    return CALIBRATION_DIR / f"crab_{key}.yaml" if folder is None else Path(folder) / f"{key}.yaml"


def problem_calibration(cfg, problem) -> tuple[Path | None, str]:
    """The calibration file for the problem's template and scale, and a note ('' if none). A scene matched in grey
    (problem.grey_calibration_key: the grey template's key, NAME_grey) takes the grey template's file when
    `solver.calibration=auto` finds it: in grey the colour thresholds do not separate every part from the clutter
    (docs/detection.md, greycrab: the robot's right arm 5-19 false strides below its colour gamma). Without one (a
    user's own template may have none) it falls back to the colour file, and the note says so and how to make it."""
    args = (problem.calibration_dir, getattr(problem.template, "source", None), problem.scale)
    colour = calibration_path(cfg, problem.calibration_key, *args)
    grey_key = getattr(problem, "grey_calibration_key", None)
    if grey_key is None or cfg.calibration != "auto":
        return colour, ""
    grey = auto_calibration_file(cfg, grey_key, problem.calibration_dir)
    if grey.is_file():
        return grey, ""
    return colour, (f"matched in grey with the colour calibration {colour.name}: no grey calibration {grey.name} "
                    f"(make it with `{calibration_command(cfg, args[1] or problem.cfg.template, problem.scale)} --grey`)")


def calibration_path(cfg, key: str, folder: Path | None = None, template_file=None,
                     scale: int | None = None) -> Path | None:
    """The calibration file solver.calibration names: a path as given; `auto`: the file for this template, scale
    and search. Built-in crabs (folder None): CALIBRATION_DIR/crab_<key>.yaml; a template file: its folder's
    calibrations/<key>.yaml (detection/calibration.py: calibration_home), key = calibration_key(cfg, key)."""
    spec = cfg.calibration
    if spec in (None, "none"):
        return None
    if spec == "auto":
        path = auto_calibration_file(cfg, key, folder)
        if not path.is_file():
            if folder is not None:
                raise UserError(f"no calibration for this template: {path} does not exist; make it with "
                                f"`{calibration_command(cfg, template_file, scale)}` (docs/detection.md, 'A "
                                "template of your own') or set solver.calibration=none and give the gammas and "
                                "alphas")
            raise UserError(f"no shipped calibration for {key} ({path.name}); make one with "
                            f"`{CALIBRATE_COMMAND} --set registrar={registrar_kind(cfg)}`, search a "
                            "calibrated range (e.g. solver.leaf.angle_max=60 solver.spike.angle_max=50 for the files "
                            "without _circle) or set solver.calibration=none and give the gammas and alphas")
        return path
    return Path(spec)


@register_solver("hierarchical")
class Hierarchical(Solver):
    needs = frozenset({"detection"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        registrar_kind(cfg)
        check_choice("solver.aggregate", cfg.aggregate, AGGREGATES)

    def solve(self, problem, monitor):
        det = build_detector(self.cfg, problem.template, problem.scale, grey=bool(getattr(problem, "grey", False)),
                             tiles=len(getattr(problem, "object_scales", ())) or 1,
                             palette_shifts=getattr(problem, "palette_shifts", None))
        path, calibration_note = problem_calibration(self.cfg, problem)
        if path is not None:
            load_calibration(path, det)
        n = len(det.order)
        t0 = time.perf_counter()  # with the cache: the key, the load and the move to the device
        # a cache hit runs no node; a miss weighs each node by the extraction registrar's work model
        extraction = det.predicted_plan(None, extracting=True)
        with self.ctx.phase("extraction", total=PERCENT if extraction else n, every=NODE_LINES_EVERY) as bar:
            progress = NodeProgress(bar, extraction)
            det.progress, det.inside = progress, progress.inside
            canonical, cache_file, cached = cached_extract(det, cache_dir(self.cfg.motif_cache))
            progress.finish()
            det.inside = None
        t_extract = time.perf_counter() - t0
        for i, (node, _) in enumerate(det.order):
            res = canonical.nodes[node]
            monitor.step(iter=i, stage=0, best_loss=float(res.fit.loss.min()), map_sum=float(res.occurrence.sum()))
        shape = tuple(problem.scene.image.shape)
        recorded = load_costs(cache_file, shape)
        # the work model by stage; with the last detection's record, each node's stages scaled to its recorded
        # seconds (eta9: the model's stages and yields keep a descent's skipped work meaningful), or the record alone
        # by node kind when the model has none
        model = det.predicted_plan(shape)
        plan = ((scaled_plan(model, recorded) if model and set(recorded) == set(model) else
                 {node: [("spike" if det.tree.get(node) else "leaf", sec)] for node, sec in recorded.items()})
                if recorded else model)
        predicted = None if plan is None else {node: expected_seconds(segs) for node, segs in plan.items()}
        t0 = time.perf_counter()
        try:
            with self.ctx.phase("detection", total=PERCENT if predicted else n, every=NODE_LINES_EVERY) as bar:
                # the plan's seconds are this machine's when they are its record or the work model on the CPU
                # (whose constants are CPU seconds): then the run's rate is held to them until enough has run
                mine = bool(recorded) or problem.scene.image.device.type == "cpu"
                progress = NodeProgress(bar, plan, run_prior_share=RUN_PRIOR_SHARE if mine else 0.0, families=True)
                det.progress, det.inside, det.ahead = progress, progress.inside, progress.ahead
                found = det.detect(problem.scene.image)
                progress.finish()
                det.inside = det.ahead = None
        except SceneTooSmall as exc:  # the same message in full-size pixels
            s = problem.scale
            raise UserError(f"problem.scene: {problem.scene.label.rsplit(' /', 1)[0]!r} is {s * exc.size[0]}x{s * exc.size[1]} px, "
                            f"smaller than the {s * exc.need[0]}x{s * exc.need[1]} px the detector's motifs need "
                            "(full-size px): the template is searched only where it fits whole") from None
        t_detect = time.perf_counter() - t0
        save_costs(cache_file, shape, found.cpu)
        for i, (node, _) in enumerate(det.order):
            res = found.nodes[node]
            monitor.step(iter=n + i, stage=1, best_loss=float(res.fit.loss.min()),
                         map_sum=float(res.occurrence.sum()))
        tables = {"nodes": {"node": [nd for nd, _ in det.order],
                            "gamma": [det.settings[nd].gamma for nd, _ in det.order],
                            "alpha": [det.settings[nd].alpha for nd, _ in det.order],
                            "strides": [len(found.nodes[nd].fit.loss) for nd, _ in det.order],
                            # strides the registrar descended (the neighbourhood pass's included; NaN: not counted)
                            "descended": [getattr(det.registrar, "descended", {}).get(nd, math.nan)
                                          for nd, _ in det.order],
                            "seconds": [found.timings[nd] for nd, _ in det.order],
                            "cpu_seconds": [found.cpu[nd] for nd, _ in det.order],
                            # what progress weighed the node by (CPU s): the last detection's record, or the
                            # registrar's work model (NaN: neither; every node counted 1)
                            "predicted_seconds": [predicted[nd] if predicted else math.nan for nd, _ in det.order],
                            # the same for this run's extraction (NaN when the motif cache held it: nothing ran)
                            "extraction_cpu_seconds": [canonical.cpu.get(nd, math.nan) for nd, _ in det.order],
                            "extraction_predicted_seconds": [expected_seconds(extraction[nd])
                                                             if extraction and not cached else math.nan
                                                             for nd, _ in det.order]}}
        instances = find_instances(found, radius=0.5 * min(problem.template.size), min_score=problem.threshold,
                                   part_radius=PART_RADIUS / problem.scale, min_part_weight=MIN_PART_WEIGHT,
                                   judge=det.judge_in_instance)
        parts = [nd for nd, _ in det.order if nd != det.template.root]
        tables["detections"] = {k: np.asarray(v, dtype=np.float64) for k, v in
                                detections_table(instances, problem.template.size, parts, problem.scale).items()}
        return SolveResult(solution={"detection": found, "canonical": canonical, "instances": instances},
                           status="converged", message=f"score {found.score:.3f}, {len(instances)} detected",
                           n_iter=2 * n, tables=tables,
                           stats={"calibration": str(path) if path else "config",
                                  "calibration_note": calibration_note or "none",
                                  "motif_cache": str(cache_file) if cache_file else "none",
                                  # leaves the top-down completion added (node:strides), solver.complete
                                  "completed": " ".join(f"{n}:{c}" for n, c in found.completed.items()) or "none",
                                  "progress_weights": "record" if recorded else "model" if predicted else "nodes",
                                  "extraction_progress_weights": "cached" if cached else
                                  "model" if extraction else "nodes"},
                           metrics={"extraction_time_s": t_extract, "detection_time_s": t_detect,
                                    "extraction_cached": float(cached)})
