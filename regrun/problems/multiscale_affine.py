"""Affine registration of cubic-spline images at spline scale theta (seed 000, sections 2-3).

J(w; theta) = h1 h2 || T_theta(y(x; w)) - R_theta(x) ||^2, y(x; w) = A x + b, no regulariser. Both images are
splined with the same theta, so d/dtheta passes through R as well as T (the predictor-corrector needs it).
"""
from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
from torch.func import grad, jacfwd, jacrev

from ..errors import UserError, check_choice, check_float, check_int, check_numbers
from ..imaging import spline
from ..imaging.filters import average_2x2, detail_ratio, noise_level
from ..imaging.gaussian import USERS_IMAGES_TAIL, gaussian_filter
from ..imaging.grid import Grid
from ..imaging.io import (FAIR_PAIRS, HAND_LANDMARKS, fair_data_dir, from_fair_layout, image_size, read_image,
                          resolve_data_path, sample_bits, turned_by_exif)
from ..imaging.moments import affine_candidates
from ..imaging.synthetic import synthetic_pair
from ..imaging.transforms import Affine, affine, affine_about
from ..optim.levenberg_marquardt import levenberg_marquardt
from ..plots import convergence, difference_panel, image_grid
from ..registration.mutual_information import MattesMutualInformation, fit_intensity_map
from ..registration.objective import EdgeTaper, PointwiseObjective
from ..registry import register_problem
from ..solve_result import SolveResult
from .base import Problem

DATA_SOURCES = ("synthetic", "fair", "files")
INITS = ("identity", "moments")

# Settings whose `auto` means "the user-data choice for problem.data=files, the paper's otherwise" (issue 9):
# name -> (value for files, value for synthetic and fair).
USER_DATA_DEFAULTS = {"smooth": ("detail", 0.0), "init": ("moments", "identity"), "outside": ("mask", "zero"),
                      "normalise": (True, False), "centre": (True, False), "shift_scan": (0.375, 0.0)}
# problem.shift_scan's shifts are whole multiples of this fraction of the domain's sides: a cell of a 16-cell
# coarsest level, within the coarse level's capture range in translation (moment starts 0.9-2.2 cells off the
# truth reached it on regpair's seen pairs; docs/registration.md, "A turned colour photo against a grey crop")
SHIFT_SCAN_STEP = 1.0 / 16
# ... and the shifted starts with the lowest J are kept, this many: on the five seen paths where a shifted start
# reached the truth's basin, one of the two lowest did (each extra start costs a coarse LM run in the batch)
SHIFT_SCAN_KEEP = 3
# Users' files: an end whose linear part shrinks the area below this fraction (|det A|, the same in the domain's
# and the cells' frames) is not admitted (overlap_admitted): on regpair2's seen pairs the coarsest level's lowest
# ends included maps squeezing the reference onto a flat patch of the template (|det| 0.007-0.081 at seed 18125,
# 0.013 for the end the ncc path chose at 18101), while the truths' |det| were 0.63-0.95 and a 1/3 zoom is 0.11
# (docs/registration.md, "Coarse ends that collapse")
MIN_ABS_DET = 0.1
# ... and solver.carry=auto carries this many distinct coarsest-level ends up to the level below the finest, where
# their J decides (the paper's data: 1, as before): the truth's basin was the 2nd of the run's ends at seed 18125
USER_CARRY = 3
OUTSIDE = ("zero", "mask")
DISTANCES = ("ssd", "ncc", "mi")
# smooth=detail: blur by SMOOTH_SIGMA when the reference's detail_ratio reaches DETAIL_THRESHOLD (detail near the
# Nyquist frequency), else by SMOOTH_SIGMA_STEPS, enough to damp the 8-bit steps and noise that are an image's only
# content there when it is smooth at the cell scale (issue 20; docs/registration.md, "The blur")
SMOOTH_SIGMA, DETAIL_THRESHOLD, SMOOTH_SIGMA_STEPS = 0.75, 1.9, 0.5
FIT_QUALITY_WARN = 0.5   # the verdict on users' files (warnings(); docs/registration.md)
MISFIT_WARN_PX = 0.45
# ... and when one Gauss-Newton step of the gain-fitted distance would move the answer farther than the geometric
# middle of the verdict's two lines (silent within 0.1 px, warned beyond 1 px): the step estimates the distance to
# that distance's minimum (not calibrated on pairs; docs/registration.md, "The verdict's transform check")
GAIN_STEP_WARN_PX = 0.32
# a path's end whose T(y) correlates with R at -0.5 or below, more strongly than the kept end does positively, is
# a dark-for-light match: an inverted template, which mi registers and ssd/ncc's verdict only calls a poor fit
# (newuser25: an inverted pair's ncc path ended at the truth at -0.999 and the warning said "try ncc")
INVERTED_CORRELATION = -0.5
# users' files smaller than this on a side are warned: the pyramid's coarsest level (solver.min_size's default) is
# 16 cells, and a 6x6 pair of different content completed silently at correlation -0.77 (newuser25): on so few
# pixels the noise estimate, and so the verdict, reads nothing
SMALL_PAIR_SIDE = 16
# ... or when the gain-fitted distance, minimised again from the answer on the level of half the resolution and then
# on the images themselves, reaches a lower minimum farther away than that line (the same 0.32 px): a false minimum
# of the fine level that a coarser view of the images does not have (issue 20: the horse silhouette 2.54 px off
# with every residual reading small). LM's settings for it: a local descent, not a search
REDESCENT_MAX_ITER, REDESCENT_GTOL = 100, 1e-9
TILE = 16  # cells a side of the tiles of fit_metrics' misfit_px_tiles
MAP_BINS = 16  # distance=mi: bins of the intensity map g(T) that the verdict fits (fit_metrics)
# A hint before the solve on a user's pair large enough that problem.resize saves most of the run (issue 19; ux4: a
# 1008x756 phone pair ran 181 s wall, 27.8 CPU-s, without a word). Whole runs (start-up, solve, evaluation and
# figures) on one thread, astronaut RGB pairs turned 12 deg (docs/sweeps.md, "Fifth new-user pass"): (Mpx, CPU-s)
FULL_SIZE_CPU = ((0.049, 6.1), (0.197, 8.8), (0.442, 13.2), (0.762, 25.9))
RESIZE_HINT_N = 256       # the size named: 1008x756 at resize=256 took 5.7 CPU-s, 0.004 px RMS from full size
RESIZE_HINT_CPU = 5.7
# hint where the full-size run is estimated at twice the resized one or more (0.34 Mpx by FULL_SIZE_CPU)
RESIZE_HINT_FACTOR = 2.0
MASK_TAPER = 2.0  # outside=mask: points within this many cells of the template's edge count partly (a smoothstep
                  # in the depth, its derivative part of J's: docs/registration.md, "Where the extra error came from")


class ScaleObjective:
    """J, its residual and derivatives at one fixed theta, with the spline coefficients solved once: the
    pointwise registration kernel (regrun.registration.objective) with the spline template, the problem's
    transformation and scale h1 h2.

    The problem's objective_options() pick the paper's J (T = 0 outside omega, h1 h2 times the sum) or, for
    users' images, ITK's (points whose y falls outside the template left out, the mean over the points used
    of intensities scaled by the reference's range).

    `margin` > 0 leaves a border of reference cells out of J. The spline template is zero outside omega, so
    reference points that the true y maps outside omega pull the minimiser off the truth (0.014-0.03 px on
    64x64 block-averaged pairs; 0.001-0.003 px with an 8-cell margin); ITK avoids this by dropping such points.
    """

    def __init__(self, problem: "MultiscaleAffine", theta: float, margin: int = 0):
        self.problem = problem
        self.theta = float(theta)
        self.grid = problem.grid
        self.coef_t = spline.coefficients(problem.template, self.theta)
        coef_r = spline.coefficients(problem.reference, self.theta)
        self.x = problem.x
        self.r_values = spline.evaluate(coef_r, problem.grid, problem.x)
        if margin:
            self.x = self.x[margin:-margin, margin:-margin]
            self.r_values = self.r_values[margin:-margin, margin:-margin]
        self.kernel = problem.kernel(spline.SplineImage.from_coefficients(self.coef_t, self.grid), self.x,
                                     self.r_values)
        self.least_squares = getattr(self.kernel, "least_squares", True)
        self.parameter_scales = getattr(self.kernel, "parameter_scales", None)  # trust-region units (mi)
        self.objective = self.kernel.value  # differentiable in w (torch.func)
        self.value_and_grad = self.kernel.value_and_grad
        self.hessian = self.kernel.hessian  # exact, (6, 6)
        if self.least_squares:
            self.residual = self.kernel.residual  # (n,)
            self.trial_residual = self.kernel.trial_residual  # (n,), not differentiable: LM's trial points
            self.jacobian = self.kernel.jacobian  # d residual / dw, (n, 6)
            self.residual_and_jacobian = self.kernel.residual_and_jacobian  # both from one evaluation

    def warped(self, w: torch.Tensor) -> torch.Tensor:
        return spline.evaluate(self.coef_t, self.grid, self.problem.transformation.points(w, self.x))


def full_size_cpu(mpx: float) -> float:
    """A whole run's CPU-s on one thread for a user's pair of mpx million pixels: FULL_SIZE_CPU's measurements,
    linear between them and beyond the last by its last slope."""
    pts = FULL_SIZE_CPU
    for (p0, c0), (p1, c1) in zip(pts, pts[1:]):
        if mpx <= p1 or (p1, c1) == pts[-1]:
            return c0 + (c1 - c0) * (mpx - p0) / (p1 - p0)
    return pts[0][1]


def history_methods(result: SolveResult) -> dict[str, np.ndarray] | None:
    """Which history rows belong to which method, when a continuation ran baselines after itself on one monitor
    (solvers/continuation.py: solution["paths"] names the methods in run order; the main path's levels are in
    tables["levels"], a baseline's in tables["levels_<name>"], single scale is level -1). None for one method."""
    paths = result.solution.get("paths") if isinstance(result.solution, dict) else None
    level = result.history.get("level")
    if not paths or len(paths) < 2 or level is None:
        return None
    level = np.asarray(level)
    methods = {}
    for k, name in enumerate(paths):
        levels = result.tables.get("levels" if k == 0 else f"levels_{name}", {}).get("level")
        methods[name.replace("_", " ")] = np.isin(level, np.asarray(levels)) if levels is not None else level == -1
    return methods


@register_problem("multiscale_affine")
class MultiscaleAffine(Problem):
    offers = frozenset({"registration", "least_squares", "scale_path", "pyramid"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_choice("problem.data", cfg.data, DATA_SOURCES)
        if cfg.data != "files":  # a pair typed without data=files ran the synthetic pair and never read it
            typed = [f"problem.{k}={cfg[k]!r}" for k in ("template", "reference") if cfg[k] is not None]
            if typed:
                raise UserError(f"{' and '.join(typed)} {'is a file' if len(typed) == 1 else 'are files'} but "
                                f"problem.data={cfg.data} does not read {'it' if len(typed) == 1 else 'them'}: add "
                                "problem.data=files to register your pair")
        resize = cfg.get("resize")
        if resize is not None:
            check_int("problem.resize", resize, 4)
        self.rotate_template = check_float("problem.rotate_template", cfg.rotate_template)
        smooth = self._setting("smooth")
        self.init = self._setting("init")
        check_choice("problem.init", self.init, INITS)
        self.turn_step = check_float("problem.turn_step", cfg.turn_step, 1.0, maximum=180.0)
        if abs(round(360.0 / self.turn_step) * self.turn_step - 360.0) > 1e-9:
            raise UserError(f"problem.turn_step={cfg.turn_step!r} must divide 360 (e.g. 90, 45, 30)")
        self.min_abs_det = MIN_ABS_DET if cfg.data == "files" else 0.0
        self.carry = USER_CARRY if cfg.data == "files" else 1  # solver.carry=auto's value
        self.shift_scan = check_float("problem.shift_scan", self._setting("shift_scan"), 0.0, maximum=1.0)
        self.w_true = None
        self.same_warning = ""  # data=files: the template and the reference one image (_load_images)
        self.path_correlations: tuple[float, ...] = ()  # solver=multilevel's two paths' ends (note_path_ends)
        self.ref_landmarks = self.tmpl_landmarks = None
        # problem.resize on a user's pair: each image's own pixels per cell of the N x N grid, along x1 and x2
        # (its width / N, height / N), by which results are reported in the user's pixels (None: cells are pixels)
        self.user_pixels: dict[str, tuple[float, float]] | None = None
        if cfg.data == "synthetic":
            self._load_synthetic(cfg.synthetic)
        else:
            self._load_images(cfg, resize)
        for which, image in (("template", self.template), ("reference", self.reference)):
            # J would be constant in w: a "converged" result with nothing registered
            if bool(image.max() == image.min()):
                raise UserError(f"the {which} of {self.label} is constant (every pixel {float(image[0, 0]):g}): "
                                f"there is nothing to register")
        if self.rotate_template:
            self._rotate_template(self.rotate_template)
        if smooth == "detail":
            smooth = SMOOTH_SIGMA if detail_ratio(self.reference) >= DETAIL_THRESHOLD else SMOOTH_SIGMA_STEPS
        self.smooth = check_float("problem.smooth", smooth, 0.0)
        self.outside = self._setting("outside")
        self.distance = cfg.distance
        check_choice("problem.distance", self.distance, DISTANCES)
        self.mi_bins = check_int("problem.mi_bins", cfg.mi_bins, 8)
        second = cfg.second_distance
        if second == "auto":  # users' files: ssd and ncc each as the other's second path; mi has none
            second = {"ssd": "ncc", "ncc": "ssd"}.get(self.distance) if cfg.data == "files" else None
        elif second == "none":
            second = None
        else:
            check_choice("problem.second_distance", second, ("ssd", "ncc", "auto", "none"))
            if self.distance == "mi" or second == self.distance:
                raise UserError(f"problem.second_distance={second!r} must differ from problem.distance="
                                f"{self.distance!r} and is for ssd or ncc only (allowed: ssd, ncc, auto, none)")
        self.second_distance = second
        check_choice("problem.outside", self.outside, OUTSIDE)
        self.normalise = self._setting("normalise")
        self.centred = self._setting("centre")
        for key, value in (("normalise", self.normalise), ("centre", self.centred)):
            if not isinstance(value, bool):
                raise UserError(f"problem.{key}={value!r} must be true, false or auto")
        if self.smooth:
            # Every 8-bit picture carries content near the Nyquist frequency: detail (photographs, textures) or,
            # on images smooth at the cell scale, the 8-bit steps and noise (a staircase on a weak gradient).
            # The cubic spline interpolates that content with an error that depends on the sub-cell position,
            # which pulls the minimiser off the truth (issue 9: textures; issue 20: the cell and microaneurysms
            # images, 0.015-0.019 px against SimpleITK's 0.005). The same Gaussian on both images damps the top
            # octave and keeps the truth a minimiser (an isotropic blur commutes with rotations): sigma 0.75 on
            # detailed images (to 0.06 at Nyquist), 0.5 on smooth ones (to 0.29 at Nyquist, 0.73 at half of it),
            # which keeps more of their weaker signal; docs/registration.md, "The blur".
            self.template_as_read = self.template  # with_matched_blur blurs it again, by a warp-dependent sigma
            self.template = gaussian_filter(self.template, self.smooth, USERS_IMAGES_TAIL, boundary="replicate")
            self.reference = gaussian_filter(self.reference, self.smooth, USERS_IMAGES_TAIL, boundary="replicate")
        # cells along each edge whose blurred values came from gaussian_filter's replicated border (its kernel
        # radius): a blur commutes with the warp only away from the edges, so outside=mask leaves these cells
        # of both images out of J (docs/registration.md, "Where the extra error came from")
        self.blur_border = float(max(1, math.ceil(USERS_IMAGES_TAIL * self.smooth))) if self.smooth else 0.0
        self.x = self.grid.centres(ctx.dtype, ctx.device)
        # seed 000: y = A x + b about the origin of omega; users' data: y = A (x - c) + c + b about omega's centre,
        # so that rotating a centred image needs no large b and the parameters are scaled alike
        self.transformation = Affine(center=self.grid.centre if self.centred else None)
        # intensities are divided by the reference's range when J is normalised
        span = float(self.reference.max() - self.reference.min())
        self.intensity_scale = span if self.normalise and span > 0 else 1.0
        self.identity = self.transformation.identity(ctx.dtype, ctx.device)
        self._scales: dict[float, ScaleObjective] = {}

    # ---- data -------------------------------------------------------------------------------------------
    def _setting(self, key: str):
        """A user-data setting: `auto` resolves by problem.data (USER_DATA_DEFAULTS)."""
        value = self.cfg[key]
        if value == "auto":
            files, paper = USER_DATA_DEFAULTS[key]
            return files if self.cfg.data == "files" else paper
        return value

    def _omega(self, default):
        omega = self.cfg.get("omega")
        if omega is None:
            return default
        omega = check_numbers("problem.omega", omega, 4)
        if len(omega) != 4 or omega[1] <= omega[0] or omega[3] <= omega[2]:
            raise UserError(f"problem.omega={list(omega)} must be [lo1, hi1, lo2, hi2] with lo < hi")
        return omega

    def _load_synthetic(self, s):
        n = check_int("problem.synthetic.size", s.size, 8)
        self.grid = Grid(self._omega((0.0, float(n), 0.0, float(n))), (n, n))
        c = self.grid.centre
        span = self.grid.omega[1] - self.grid.omega[0]
        w_true = affine_about(float(s.angle), tuple(s.scale), tuple(v * span for v in s.shift), c, device="cpu")
        gen = torch.Generator().manual_seed(check_int("problem.synthetic.seed", s.seed, 0))
        t, r, lr, lt = synthetic_pair(self.grid, w_true, gen, texture=check_float(
            "problem.synthetic.texture", s.texture, 0.0))
        noise = check_float("problem.synthetic.noise", s.noise, 0.0)
        if noise > 0:
            t = t + noise * r.std() * torch.randn(t.shape, generator=gen, dtype=t.dtype)
            r = r + noise * r.std() * torch.randn(r.shape, generator=gen, dtype=r.dtype)
        self.template = self.ctx.tensor(t)
        self.reference = self.ctx.tensor(r)
        self.ref_landmarks, self.tmpl_landmarks = self.ctx.tensor(lr), self.ctx.tensor(lt)
        self.w_true = self.ctx.tensor(w_true)
        self.label = f"synthetic {n}x{n}"

    def _load_images(self, cfg, resize):
        if cfg.data == "fair":
            check_choice("problem.pair", cfg.pair, FAIR_PAIRS)
            data_dir = fair_data_dir(str(cfg.data_dir))
            t_name, r_name = FAIR_PAIRS[cfg.pair]["files"]
            t_path, r_path = data_dir / t_name, data_dir / r_name
            default_omega = FAIR_PAIRS[cfg.pair]["omega"]
            self.label = f"FAIR {cfg.pair}"
        else:
            if not cfg.get("template") or not cfg.get("reference"):
                raise UserError("problem.data=files needs problem.template=PATH and problem.reference=PATH")
            t_path, r_path = resolve_data_path(cfg.template), resolve_data_path(cfg.reference)
            default_omega = None
            self.label = f"{Path(t_path).name} -> {Path(r_path).name}"
        t = read_image(t_path, resize)
        r = read_image(r_path, resize)
        if cfg.data == "files":
            t, r = self._one_depth(t, r, Path(t_path), Path(r_path))
        if cfg.data == "files" and resize is not None and cfg.get("omega") is None:
            # PIL's resize maps the image's box onto the N x N box (pixel centres at (i + 0.5) W / N), so a
            # point's coordinates scale by W / N and H / N exactly (ux4: w_affine was in the squashed frame)
            self.user_pixels = {which: tuple(n / resize for n in image_size(path))
                                for which, path in (("template", t_path), ("reference", r_path))}
        if t.shape != r.shape:
            # one of them a phone's portrait shot: resizing both to N x N would squash it (newuser11); sizes merely
            # swapped: N x N squashes both alike, so a quarter turn stays one (newuser14: 160x200 against 200x160
            # at resize=128 registered at 97 deg, misfit 0.21 px), which a user reading "squash" would not guess
            advice = "; use problem.resize=N to bring both to N x N"
            if t.shape == r.shape[::-1]:
                advice += (" (the sizes are swapped, one image turned a quarter from the other? resizing both to N x N "
                           "keeps a quarter turn a quarter turn, and problem.data=files searches quarter turns; "
                           "w_affine is still in each image's own pixels)")
            raise UserError(f"template {t_path} is {t.shape[0]}x{t.shape[1]} but reference {r_path} is "
                            f"{r.shape[0]}x{r.shape[1]} (width x height)"
                            f"{turned_by_exif(Path(t_path), Path(r_path)) or advice}")
        if cfg.data == "files" and np.array_equal(t, r) and not self.rotate_template:
            # one file given twice (or two copies) registered for 30 s to the identity without a word (newuser21);
            # a warning, not a refusal: an image against itself is also the plain check that a registration
            # returns the identity (problem.rotate_template turns it into a pair, the README's own check)
            same = "the same file" if Path(t_path).resolve() == Path(r_path).resolve() else "identical pixels"
            self.same_warning = (f"problem.template={cfg.template} and problem.reference={cfg.reference} are "
                                 f"{same}: an image registered to itself gives the identity, with nothing measured "
                                 "(problem.rotate_template=DEGREES turns the template to make a pair of one image)")
            self.ctx.reporter.line(f"regrun: WARNING: {self.same_warning}", err=True)
        m = t.shape
        if cfg.data == "files" and resize is None:
            self._size_hint(m)
        self.grid = Grid(self._omega(default_omega or (0.0, float(m[0]), 0.0, float(m[1]))), m)
        self.template, self.reference = self.ctx.tensor(t), self.ctx.tensor(r)
        if cfg.data == "fair" and cfg.pair == "hands" and cfg.get("omega") is None:
            lm = self.ctx.tensor(HAND_LANDMARKS)
            self.tmpl_landmarks, self.ref_landmarks = lm[:, :2], lm[:, 2:]

    def _one_depth(self, t: np.ndarray, r: np.ndarray, t_path: Path, r_path: Path) -> tuple[np.ndarray, np.ndarray]:
        """A 16-bit image of a pair whose other image is 8-bit in 8-bit units (its values / 257: 65535 -> 255). The
        answer was right (the ncc path), but J, residual_rms and rel_reduction came out in the 16-bit image's units,
        257 times the reference's: a 16-bit template against an 8-bit reference ended on rel_reduction 0.004 and
        residual_rms 16557 beside w_affine exact, which reads as a failure (newuser14, newuser15)."""
        bits = {"template": sample_bits(t_path), "reference": sample_bits(r_path)}
        if sorted(bits.values(), key=str) != [16, 8]:
            return t, r
        deep = "template" if bits["template"] == 16 else "reference"
        path, other = (t_path, r_path) if deep == "template" else (r_path, t_path)
        self.ctx.reporter.line(f"regrun: {deep} {path.name} has 16 bits per sample, {other.name} 8: the {deep} is "
                               "read in 8-bit units (its values / 257), so that J and the misfit are in one unit")
        return (t / 257.0, r) if deep == "template" else (t, r / 257.0)

    def _size_hint(self, m: tuple[int, int]) -> None:
        """One line before the solve where a user's pair (m: width, height) is large enough that the full-size run
        costs RESIZE_HINT_FACTOR times one at problem.resize=RESIZE_HINT_N or more: the estimate, and the key."""
        cpu = full_size_cpu(m[0] * m[1] / 1e6)
        if cpu < RESIZE_HINT_FACTOR * RESIZE_HINT_CPU or min(m) <= RESIZE_HINT_N:
            return
        self.ctx.reporter.line(
            f"regrun: the pair is {m[0]}x{m[1]} pixels: at full size the run takes about {cpu:.0f} CPU-s on one "
            f"thread (longer in wall time on a loaded machine); problem.resize={RESIZE_HINT_N} takes about "
            f"{RESIZE_HINT_CPU:.0f} (on a 1008x756 pair 0.004 px from the full-size answer), its w_affine still in "
            f"your pixels")

    def _rotate_template(self, angle: float):
        """Rotate the template image about the domain centre by resampling its exact spline; its landmarks
        move with it. 180 degrees is an exact flip of the cell-centred grid."""
        c = self.grid.centre
        on_run = dict(dtype=self.ctx.dtype, device=self.ctx.device)
        rot = affine_about(-angle, centre=c, **on_run)  # T'(x) = T(R^-1 (x - c) + c)
        coef = spline.coefficients(self.template, 0.0)
        self.template = spline.evaluate(coef, self.grid, affine(rot, self.grid.centres(**on_run)))
        if self.tmpl_landmarks is not None:
            self.tmpl_landmarks = affine(affine_about(angle, centre=c, **on_run), self.tmpl_landmarks)
        if self.w_true is not None:
            # y_true maps reference points into the old template; the rotated template needs R(angle) after it.
            a = affine_about(angle, centre=c, **on_run)
            A, b = a[:4].reshape(2, 2), a[4:]
            W, v = self.w_true[:4].reshape(2, 2), self.w_true[4:]
            self.w_true = torch.cat(((A @ W).reshape(4), A @ v + b))

    # ---- resolution pyramid and starting guesses ---------------------------------------------------------
    def coarsened(self) -> "MultiscaleAffine":
        """The same problem with both images averaged 2x2 (same domain, half the cells per axis)."""
        level = copy.copy(self)
        level.template, level.grid = average_2x2(self.template, self.grid)
        level.reference, _ = average_2x2(self.reference, self.grid)
        level.x = level.grid.centres(self.x.dtype, self.x.device)
        level.blur_border = self.blur_border / 2
        level._scales = {}
        return level

    def with_distance(self, distance: str) -> "MultiscaleAffine":
        """The same images and settings with another distance (and no second path of its own)."""
        check_choice("distance", distance, DISTANCES)
        other = copy.copy(self)
        other.distance, other.second_distance, other._scales = distance, None, {}
        return other

    def with_matched_blur(self, w: torch.Tensor) -> "MultiscaleAffine | None":
        """The same problem with the template blurred by smooth * sqrt|det A| (A: w's linear part) instead of
        smooth; None without smoothing. If T(y(x)) = R(x) with y = A x + b, blurring R by sigma equals blurring T
        by the covariance sigma^2 A A^T, then warping: the same sigma on both images keeps the truth a minimiser
        for rotations only. On a scaled pair (beach 120x168 at 118 deg, scales 0.80 x 0.88) the ssd minimiser lay
        0.0114 px off the truth with sigma 0.75 on both, 0.0051 px with the template's sigma matched (SimpleITK,
        unblurred at its finest level: 0.0050); docs/registration.md, "The blur under scaling". The isotropic
        sigma sqrt|det A| matches the covariance's determinant; what is left is A's anisotropy and shear."""
        if not self.smooth:
            return None
        det = abs(float(torch.linalg.det(self.to_affine(w)[:4].reshape(2, 2))))
        sigma = self.smooth * math.sqrt(det)
        other = copy.copy(self)
        other.template = gaussian_filter(self.template_as_read, sigma, USERS_IMAGES_TAIL, boundary="replicate")
        other.blur_border = float(max(1, math.ceil(USERS_IMAGES_TAIL * max(self.smooth, sigma))))
        other._scales = {}
        return other

    def pyramid(self, min_size: int = 16) -> list["MultiscaleAffine"]:
        """Levels from the coarsest (the first with fewer than 2 * min_size cells on its shorter side) to this
        problem itself."""
        levels = [self]
        while min(levels[-1].grid.m) >= 2 * min_size:
            levels.append(levels[-1].coarsened())
        return levels[::-1]

    def start_candidates(self, level: "MultiscaleAffine | None" = None) -> list[torch.Tensor]:
        """Starting parameters: the identity (problem.init=identity), or the identity and the image-moment
        guesses (centre of mass, principal axes, quarter turns; regrun.imaging.moments), computed on `level`."""
        if self.init == "identity":
            return [self.identity.clone()]
        level = level or self
        guesses = affine_candidates(level.template, level.reference, level.grid, turn_step=self.turn_step)
        return [self.identity.clone(), *(self.from_affine(g.to(self.identity)) for g in guesses)]

    def shifted_starts(self, candidates: list[torch.Tensor], theta: float) -> list[torch.Tensor]:
        """Each start moved by the shift that gives it the lowest J on this level (one batched evaluation of J per
        start), the SHIFT_SCAN_KEEP of them with the lowest J returned, lowest first; the shifts are whole
        multiples of SHIFT_SCAN_STEP of the domain's sides up to problem.shift_scan of them, those whose overlap
        is admitted (overlap_admitted); none with shift_scan = 0 or distance=mi. A moment
        start sends the reference's centre of mass to the template's, which is not the truth's image of it when
        the two images show different parts of a scene: on ux6's photo pair (a 160x130 crop against a 190x150
        turned one) that put every start 4.5-5.9 cells of the 16-cell coarsest level off the truth, out of its
        basin, though the truth's J there is the lowest (docs/registration.md, "A turned colour photo against a
        grey crop")."""
        k = round(self.shift_scan / SHIFT_SCAN_STEP)
        if not k or self.distance == "mi":  # mi's starts are minimised one by one (trust region): not measured
            return []
        steps = torch.arange(-k, k + 1, dtype=self.x.dtype, device=self.x.device)
        side = self.x.new_tensor((self.grid.omega[1] - self.grid.omega[0], self.grid.omega[3] - self.grid.omega[2]))
        shifts = torch.cartesian_prod(steps, steps) * side * SHIFT_SCAN_STEP
        kernel = self.at_scale(theta).kernel
        x = self.x.reshape(-1, 2)
        out, values = [], []
        for w0 in candidates:
            a = self.to_affine(w0.detach())
            ws = self.from_affine(torch.cat((a[:4].expand(len(shifts), 4), a[4:] + shifts), -1))
            with torch.no_grad():
                J = kernel.value(ws)
            overlap = self.grid.contains(self.transformation.points(ws[:, None, :], x)).to(J.dtype).mean(-1)
            J = torch.where(overlap >= 0.5 * self.overlap_permitted(w0), J, J.new_tensor(math.inf))
            if bool(torch.isfinite(J).any()):
                out.append(ws[int(torch.argmin(J))])
                values.append(float(J.min()))
        return [out[i] for i in np.argsort(values, kind="stable")[:SHIFT_SCAN_KEEP]]

    def best_start(self, scale: "ScaleObjective") -> torch.Tensor:
        """The candidate start with the lowest J at this scale (one evaluation each) among those whose overlap
        is admitted (overlap_admitted)."""
        cands = self.start_candidates()
        if len(cands) == 1:
            return cands[0]
        # a masked, normalised J can be lowered by mapping the image out of the template: such starts lose
        values = [float(scale.objective(w)) if self.overlap_admitted(w) else math.inf for w in cands]
        return cands[int(np.argmin(values))] if min(values) < math.inf else cands[0]

    def overlap(self, w: torch.Tensor) -> float:
        """The fraction of reference points that y(x; w) maps inside the template's domain."""
        return float(self.grid.contains(self.transformation.points(w, self.x)).to(self.x.dtype).mean())

    def overlap_permitted(self, w: torch.Tensor) -> float:
        """The overlap the rotation of w permits: the fraction of reference points that w's rotation (the nearest
        rotation to its linear part) keeps inside the template when it turns about the domain's centre. Both
        footprints are centrally symmetric and convex, so no translation keeps more (Brunn-Minkowski); a
        non-square domain turned by a quarter turn keeps short side / long side of itself."""
        a = self.to_affine(w.detach().to(self.identity))[:4].reshape(2, 2)
        phi = torch.atan2(a[1, 0] - a[0, 1], a[0, 0] + a[1, 1])
        rot = torch.stack((torch.cos(phi), -torch.sin(phi), torch.sin(phi), torch.cos(phi))).reshape(2, 2)
        c = rot.new_tensor(self.grid.centre)
        return self.overlap(self.from_affine(torch.cat((rot.reshape(4), c - rot @ c))))

    def overlap_admitted(self, w: torch.Tensor) -> bool:
        """Whether w keeps at least half the overlap its rotation permits (overlap_permitted), and, on users'
        files, an area at least MIN_ABS_DET of the reference's. A masked,
        normalised J can be lowered by mapping the reference out of the template, so ends that lose more than
        that lose to those that do not (start choice, path choice, restarts); a fixed half of the reference
        would exclude the truth of a non-square pair near a quarter turn, which keeps about short / long of it."""
        if self.min_abs_det:
            a = self.to_affine(w.detach().to(self.identity))[:4].reshape(2, 2)
            if abs(float(torch.linalg.det(a))) < self.min_abs_det:
                return False
        return self.overlap(w) >= 0.5 * self.overlap_permitted(w)

    # ---- objective --------------------------------------------------------------------------------------
    def objective_options(self, x: torch.Tensor | None = None) -> dict:
        """How J weighs its reference points x (default: every cell centre; PointwiseObjective's weights,
        normalization, scale)."""
        opts = {"scale": self.grid.cell_volume, "normalization": "sum"}
        if self.normalise:
            opts = {"scale": 1.0 / self.intensity_scale**2, "normalization": "mean"}
        if self.distance == "ncc":  # SSD after the least-squares intensity gain and offset: (1 - rho^2) var R
            opts["intensity"] = "affine"
        if self.outside == "mask":
            fixed = None
            if self.blur_border:
                # reference points within the blur's border of their own edge are off too: left out (a fixed
                # weight, so no taper is needed for continuity in w)
                idx = self.grid.to_index((self.x if x is None else x).reshape(-1, 2))
                m = idx.new_tensor(self.grid.m)
                depth = torch.minimum(idx + 0.5, m - 0.5 - idx).min(-1).values
                fixed = (depth >= self.blur_border).to(idx.dtype)
            opts["weights"] = EdgeTaper(self.grid, MASK_TAPER, inset=self.blur_border, fixed=fixed)
        return opts

    def kernel(self, image, x: torch.Tensor, r_values: torch.Tensor):
        """The objective's kernel for a template image model, reference points x (..., 2) and R's values there:
        PointwiseObjective (ssd, ncc) or MattesMutualInformation (mi) with objective_options' weights."""
        opts = self.objective_options(x)
        x, r_values = x.reshape(-1, 2), r_values.reshape(-1)
        if self.distance == "mi":
            lo, hi = float(self.template.min()), float(self.template.max())
            return MattesMutualInformation(image, self.transformation, x, r_values, template_range=(lo, hi),
                                           bins=self.mi_bins, weights=opts.get("weights"))
        return PointwiseObjective(image, self.transformation, x, r_values, **opts)

    @property
    def pixel(self) -> tuple[float, float]:
        """The width of one of the reference's own pixels along x1 and x2, in domain units: the unit of the
        `_px` metrics (a cell, unless problem.resize squashed a user's image: then the image's pixel)."""
        if self.user_pixels is None:
            return self.grid.h
        return tuple(h / s for h, s in zip(self.grid.h, self.user_pixels["reference"]))

    @property
    def cell_px(self) -> float:
        """The reference's own pixels per cell (geometric mean of the two axes; 1 without problem.resize): the
        verdict's thresholds are in cells of the grid registered on, the reported `_px` metrics in pixels."""
        if self.user_pixels is None:
            return 1.0
        s1, s2 = self.user_pixels["reference"]
        return math.sqrt(s1 * s2)

    def in_user_pixels(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(w, w_affine) as reported: with problem.resize on a user's pair, in the images' own pixels, so that
        y maps the reference's pixel coordinates (FAIR's layout: x1 from the left, x2 from the bottom) to the
        template's: A' = S_T A S_R^-1, b' = S_T b, S = diag(width / N, height / N) of each image; w's centred
        form becomes y = A' (x - c_R) + c_T + b' with each image's own centre. Unchanged without resize."""
        w_affine = self.to_affine(w)
        if self.user_pixels is None:
            return w, w_affine
        st = w.new_tensor(self.user_pixels["template"])
        sr = w.new_tensor(self.user_pixels["reference"])
        scale = st[:, None] / sr[None, :]
        a = (w_affine[:4].reshape(2, 2) * scale).reshape(4)
        out = torch.cat((a, w_affine[4:] * st))
        return torch.cat((a, w[4:] * st)) if self.transformation.center is not None else out, out

    def to_affine(self, w: torch.Tensor) -> torch.Tensor:
        """The parameters w of this problem's transformation as (A11, A12, A21, A22, b1, b2) of y = A x + b."""
        if self.transformation.center is None:
            return w
        c = torch.tensor(self.transformation.center, dtype=w.dtype, device=w.device)
        a = w[..., :4].reshape(*w.shape[:-1], 2, 2)
        return torch.cat((w[..., :4], w[..., 4:] + c - (a @ c[:, None])[..., 0]), -1)

    def from_affine(self, w: torch.Tensor) -> torch.Tensor:
        """Inverse of to_affine."""
        if self.transformation.center is None:
            return w
        c = torch.tensor(self.transformation.center, dtype=w.dtype, device=w.device)
        a = w[..., :4].reshape(*w.shape[:-1], 2, 2)
        return torch.cat((w[..., :4], w[..., 4:] - c + (a @ c[:, None])[..., 0]), -1)

    def at_scale(self, theta: float, margin: int = 0) -> ScaleObjective:
        key = (float(theta), int(margin))
        if key not in self._scales:
            if len(self._scales) > 64:
                self._scales.clear()
            self._scales[key] = ScaleObjective(self, *key)
        return self._scales[key]

    def objective(self, w: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """J(w; theta) with the spline solves inside, differentiable in theta as well as w (the kernel's value
        is differentiable in w, the reference values and, through EdgeTaper, the weights)."""
        coef_t = spline.coefficients(self.template, theta)
        coef_r = spline.coefficients(self.reference, theta)
        kernel = self.kernel(spline.SplineImage.from_coefficients(coef_t, self.grid), self.x,
                             spline.evaluate(coef_r, self.grid, self.x))
        return kernel.value(w)

    def mixed_derivative(self, w: torch.Tensor, theta: float, mode: str = "rev") -> torch.Tensor:
        """d/dtheta grad_w J(w; theta) through the coefficient solves of both images. Reverse-over-reverse
        measured ~3x faster than jacfwd-over-grad here: torch's forward mode through linalg.solve is slow."""
        th = torch.tensor(float(theta), dtype=w.dtype, device=w.device)
        transform = jacrev if mode == "rev" else jacfwd
        return transform(grad(self.objective, argnums=0), argnums=1)(w.detach(), th)

    def tre(self, w: torch.Tensor) -> float:
        """Mean distance between y(reference landmark) and the template landmark, in domain units."""
        return float((self.transformation.points(w, self.ref_landmarks) - self.tmpl_landmarks).norm(dim=-1).mean())

    def displacement_rmse(self, w: torch.Tensor) -> float:
        """RMS over the grid of |y(x; w) - y(x; w_true)|, in pixels (cell widths)."""
        h = torch.tensor(self.grid.h, dtype=w.dtype, device=w.device)
        d = (self.transformation.points(w, self.x) - affine(self.w_true.to(w), self.x)) / h
        return float((d**2).sum(-1).mean().sqrt())

    # ---- how good is the fit ----------------------------------------------------------------------------
    def _mirrored_template(self):
        """T's spline (theta 0) on the template mirrored by `pad` cells, and its grid: FAIR's spline (zero
        coefficients outside) sags towards zero in the last cells, so an intensity offset (or a bright image) would
        change the residual there; the mirrored one reproduces constants to ~0.27^pad near the edge."""
        pad = min(8, self.grid.m[0] - 1, self.grid.m[1] - 1)
        mirrored = torch.nn.functional.pad(self.template[None, None], (pad, pad, pad, pad), mode="reflect")[0, 0]
        (h1, h2), o = self.grid.h, self.grid.omega
        big = Grid((o[0] - pad * h1, o[1] + pad * h1, o[2] - pad * h2, o[3] + pad * h2), tuple(mirrored.shape))
        return spline.coefficients(mirrored, 0.0), big

    def overlap_correlation(self, w: torch.Tensor, mirrored=None) -> float:
        """The correlation of T(y(x)) and R(x) over the reference cells whose y lies inside the template (the
        images as read, after the problem's smoothing; -1 where fewer than 3 cells or a constant side): unchanged by
        a gain and offset of either image, and not a quantity any distance minimises, so it can judge the ends of
        paths under different distances (solvers.multilevel's second path)."""
        coef_t, big = mirrored or self._mirrored_template()
        with torch.no_grad():
            y = self.transformation.points(w.to(self.x), self.x)
            inside = self.grid.contains(y)
            if int(inside.sum()) < 3:
                return -1.0
            t, r = spline.evaluate(coef_t, big, y)[inside], self.reference[inside]
            tc, rc = t - t.mean(), r - r.mean()
            den = float((tc * tc).mean() * (rc * rc).mean())
            return float((tc * rc).mean()) / math.sqrt(den) if den > 0 else -1.0

    def fit_metrics(self, w: torch.Tensor) -> dict[str, float]:
        """How good the fit at w is, over the reference points whose y(x) lies inside the template (at theta = 0):

        - residual_rms, residual_rms_initial (at the identity): rms of T(y) - R, intensity units;
        - intensity_gain, intensity_offset: the least-squares a, b of R ~ a T(y) + b at w, and residual_rms_fitted,
          residual_rms_fitted_initial: the rms left after them (unchanged by a gain or offset of either image;
          for distance=mi after the best smooth map g(T) instead, regrun.registration.mutual_information's
          fit_intensity_map, whose rms slope then stands for a in the noise below);
        - correlation: of T(y) and R; noise_level: Immerkaer's estimates combined, sqrt(a^2 s_T^2 + s_R^2);
        - misfit_px: the misalignment in pixels that would leave the fitted residual above the noise,
          sqrt(2 (rms_fitted^2 - noise^2)) / rms |grad R| (a shift d leaves |grad R . d|: its rms over
          directions is |d| rms|grad R| / sqrt 2); an upper bound where the images differ in content;
        - fit_quality = (rms_fitted_initial - rms_fitted) / (rms_fitted_initial - floor), floor = min(noise,
          0.1 rms_fitted_initial), clipped to [0, 1]: the share of the removable misfit that was removed."""
        coef_t, big = self._mirrored_template()
        fields = []  # (inside mask, fitted residual there) of each call, for the tiles below
        with torch.no_grad():
            def features(v):
                v = v.to(self.x)
                y = self.transformation.points(v, self.x)
                inside = self.grid.contains(y)
                t, r = spline.evaluate(coef_t, big, y)[inside], self.reference[inside]
                if t.numel() < 3:
                    fields.append(None)
                    return math.inf, math.inf, 1.0, 0.0, 0.0, 0.0, 1.0, None
                tc, rc = t - t.mean(), r - r.mean()
                var_t = float((tc * tc).mean())
                gain = float((tc * rc).mean()) / var_t if var_t > 0 else 0.0
                fitted = rc - gain * tc
                rho = float((tc * rc).mean()) / math.sqrt(max(var_t * float((rc * rc).mean()), 1e-300))
                noise_gain, reverse = gain, None
                if self.distance == "mi" and var_t > 0:
                    # MI assumes no gain and offset but some relation of the intensities: the residual left after
                    # the best smooth map g(T), and its rms slope as the gain that carries T's noise into R; and
                    # the other way round, T ~ h(R), for a map that folds T's intensities (non-monotone)
                    g, slope = fit_intensity_map(t, r, MAP_BINS)
                    fitted, noise_gain = r - g, float(slope.pow(2).mean().sqrt())
                    if float((rc * rc).mean()) > 0:
                        g, slope = fit_intensity_map(r, t, MAP_BINS)
                        reverse = float((t - g).pow(2).mean().sqrt()), float(slope.pow(2).mean().sqrt())
                fields.append((inside, fitted))
                return (float((t - r).pow(2).mean().sqrt()), float(fitted.pow(2).mean().sqrt()), gain,
                        float(r.mean()) - gain * float(t.mean()), rho, float(inside.double().mean()), noise_gain,
                        reverse)
            res, res_f, gain, offset, rho, used, noise_gain, reverse = features(w)
            res0, res0_f, *_, reverse0 = features(self.identity)
            # |grad R| per cell, from the reference's spline at its cell centres
            _, grad_r, _ = spline.evaluate_derivatives(spline.coefficients(self.reference, 0.0), self.grid, self.x)
            h = grad_r.new_tensor(self.pixel)
            grad_rms = float((grad_r * h).pow(2).sum(-1).mean().sqrt())
        # the noise left in R - a T(y) - b: T's scaled by the gain, so that nothing changes with T's intensities
        # on blurred images, Immerkaer's estimate corrected for the blur (filters.noise_level: it read the noise of
        # a 0.75-cell blur 4.7x too low, so that noise counted as misalignment)
        noise_t, noise_r = noise_level(self.template, self.smooth), noise_level(self.reference, self.smooth)
        noise = math.hypot(noise_gain * noise_t, noise_r)

        def verdict(res_f, res0_f, noise, grad_rms):
            floor = min(noise, 0.1 * res0_f)
            quality = (res0_f - res_f) / (res0_f - floor) if res0_f > floor else 1.0

            def misfit_of(rms):
                return math.sqrt(2 * max(rms**2 - noise**2, 0.0)) / grad_rms if grad_rms > 0 else math.inf
            return quality, misfit_of(res_f), misfit_of(res0_f)

        quality, misfit, misfit0 = verdict(res_f, res0_f, noise, grad_rms)
        if reverse is not None and reverse0 is not None:
            # T - h(R) in T's units: the noise of T plus R's through h', a shift's residual |h'(R) grad R . d|
            # (rms slope times rms gradient: their correlation over the image is neglected); the better reading
            noise_rev = math.hypot(noise_t, reverse[1] * noise_r)
            quality_rev, misfit_rev, misfit0_rev = verdict(reverse[0], reverse0[0], noise_rev, reverse[1] * grad_rms)
            if misfit_rev < misfit:
                quality, misfit, misfit0, res_f, res0_f, noise = (quality_rev, misfit_rev, misfit0_rev, reverse[0],
                                                                   reverse0[0], noise_rev)
        files = {}  # users' files only (the paper's presets keep their results): the verdict's other readings
        if self.cfg.data == "files":
            files["misfit_px_initial"] = misfit0  # at the identity: what there was to remove (warnings())
            files["misfit_px_tiles"] = (self._tile_misfit(*fields[0], (grad_r * h).pow(2).sum(-1), noise)
                                        if fields[0] else math.nan)
            files["gain_step_px"] = self._gain_step_px(w) if self.distance in ("ssd", "ncc") else math.nan
            files["redescent_px"] = self._redescent_px(w) if self.distance in ("ssd", "ncc") else math.nan
            files = {k: v for k, v in files.items() if math.isfinite(v)}  # a NaN metric marks a run diverged
        return {"residual_rms": res, "residual_rms_initial": res0, "residual_rms_fitted": res_f,
                "residual_rms_fitted_initial": res0_f, "intensity_gain": gain, "intensity_offset": offset,
                "correlation": rho, "noise_level": noise, "overlap": used, "misfit_px": misfit,
                **files,
                "fit_quality": min(1.0, max(0.0, quality)) if math.isfinite(res_f) else 0.0}

    def _gain_step_px(self, w: torch.Tensor) -> float:
        """How far (RMS displacement over the grid, in cells) one Gauss-Newton step of the intensity-invariant J
        (distance=ncc: SSD after the least-squares gain and offset, with this problem's smoothing and mask, theta 0)
        would move w: about 0 at a minimum of the gain-fitted residual, about the distance to it nearby. A residual
        verdict weighs a misalignment by the image's gradients, so an answer off where the image is flat (an SSD
        minimum pulled by an intensity change) can leave a small misfit_px; this reads the transform instead."""
        kernel = self.with_distance("ncc").at_scale(0.0).kernel
        with torch.no_grad():
            wb = w.detach().to(self.identity)[None]
            r, jac = kernel.residual_and_jacobian(wb)
            r, jac = r[0], jac[0]
            if not bool(torch.isfinite(r).all()) or float(jac.abs().max()) == 0.0:
                return math.nan
            # scaled columns: the solve does not mind that A's entries move points ~|x - c| times more than b's
            col = jac.norm(dim=0).clamp(min=1e-300)
            step = torch.linalg.lstsq(jac / col, -r[:, None]).solution[:, 0] / col
            d = self.transformation.points(wb[0] + step, self.x) - self.transformation.points(wb[0], self.x)
            h = d.new_tensor(self.pixel)
            return float((d / h).pow(2).sum(-1).mean().sqrt())

    def _redescent_px(self, w: torch.Tensor) -> float:
        """How far (RMS displacement over the grid, in cells) a lower minimum of the intensity-invariant J (ncc, this
        problem's smoothing and mask, theta 0) lies from w, found by minimising it from w on the images averaged 2x2
        (the pyramid's next level, whose basins are wider) and then on the images themselves; 0 when that end's J
        is not lower than w's, NaN when the images are too small to average. The residual readings and
        gain_step_px are local: an answer off in the flat parts of an image (a silhouette) can be a true minimum
        of the fine level with a small residual; a coarser view of the same images slides off it."""
        ncc = self.with_distance("ncc")
        coarse = ncc.coarsened()
        if min(coarse.grid.m) < 8:
            return math.nan
        w0 = w.detach().to(self.identity)
        fine = ncc.at_scale(0.0)
        with torch.no_grad():
            v = w0
            for scale in (coarse.at_scale(0.0), fine):
                v = levenberg_marquardt(scale.residual_and_jacobian, v, max_iter=REDESCENT_MAX_ITER,
                                        gtol=REDESCENT_GTOL, residual=scale.trial_residual).w
            j0, j1 = float(fine.objective(w0)), float(fine.objective(v))
            if not (math.isfinite(j1) and j1 < j0) or not self.overlap_admitted(v):
                return 0.0
            d = self.transformation.points(v, self.x) - self.transformation.points(w0, self.x)
            return float((d / d.new_tensor(self.pixel)).pow(2).sum(-1).mean().sqrt())

    def _tile_misfit(self, inside, fitted, grad2, noise) -> float:
        """The median over TILE x TILE-cell tiles (at least 90% inside the overlap) of each tile's own misfit_px,
        sqrt(2 (mean fitted residual^2 - noise^2)) / rms |grad R| in the tile; NaN with fewer than 4 tiles. An
        affine misfit is not uniform: where content is aligned in one part of the image and not in another, the
        global misfit_px (a ratio of sums) is dominated by the aligned, high-gradient part."""
        res2 = torch.zeros_like(grad2)
        res2[inside] = fitted.pow(2)
        m1, m2 = self.grid.m
        n1, n2 = m1 // TILE, m2 // TILE
        if n1 * n2 < 4:
            return math.nan

        def blocks(a):
            return a[:n1 * TILE, :n2 * TILE].reshape(n1, TILE, n2, TILE).mean((1, 3))

        share, r2, g2 = blocks(inside.to(grad2.dtype)), blocks(res2), blocks(grad2)
        keep = (share >= 0.9) & (g2 > 0)
        if int(keep.sum()) < 4:
            return math.nan
        # the tile's residual over its inside cells only
        excess = (r2[keep] / share[keep] - noise**2).clamp(min=0)
        return float(((2 * excess).sqrt() / g2[keep].sqrt()).median())

    def note_path_ends(self, correlations) -> None:
        """The correlations with R of the ends of solver=multilevel's paths, for the verdict's inverted-contrast
        line (warnings)."""
        self.path_correlations = tuple(float(c) for c in correlations)

    def _inverted(self) -> bool:
        rho = self.path_correlations
        return bool(rho) and min(rho) <= INVERTED_CORRELATION and -min(rho) > max(rho)

    def warnings(self, metrics):
        """The verdict. Users' files: a fit is poor when its gain-fitted residual is what a misalignment above
        MISFIT_WARN_PX would leave, or when less than FIT_QUALITY_WARN of the removable misfit was removed
        (calibrated on the labelled pairs of scripts/bench_simpleitk.py --suite wide: docs/registration.md).
        Synthetic pairs know their truth: poor when it is missed by more than a pixel. FAIR's pairs show two
        subjects (two hands, two heads), whose residual no alignment removes: no residual verdict there."""
        out = [self.same_warning] if self.same_warning else []
        # the lines are drawn in cells of the grid registered on; the metrics are in the reference's own pixels
        # (problem.resize: cell_px of them per cell)
        px = self.cell_px
        m, n = self.grid.m
        misfit_line, step_line = MISFIT_WARN_PX * px, GAIN_STEP_WARN_PX * px

        def above(line: float, cells: float) -> str:
            return (f"warning above {line:.2g}" if px == 1.0 else
                    f"warning above {line:.2g} px, {cells} cells of the {m}x{n} grid registered on")
        if self.cfg.data == "files" and "misfit_px" in metrics:
            q, misfit = metrics["fit_quality"], metrics["misfit_px"]
            if metrics.get("misfit_px_initial", math.inf) <= misfit_line:
                # a pair aligned from the start (a photo and its JPEG, two frames of a tripod): no misfit beyond the
                # noise to remove, so a small share removed says nothing. The same pair as PNG and JPEG read
                # "fit_quality 0.03 ...; the registration has probably failed" at misfit 0 px (newuser11)
                q = 1.0
            if (misfit > misfit_line or q < FIT_QUALITY_WARN) and self.distance == "mi":
                out.append(f"poor fit: the residual left after the best smooth map of the template's intensities is "
                           f"what a misalignment of {misfit:.2g} px would leave ({above(misfit_line, MISFIT_WARN_PX)}), "
                           f"fit_quality {q:.2f} (warning below {FIT_QUALITY_WARN}): the registration has failed, "
                           f"or the reference is no function of the template's intensity (modalities that show "
                           f"different structures); this verdict cannot tell those apart")
            elif (misfit > misfit_line or q < FIT_QUALITY_WARN) and self._inverted():
                out.append(f"poor fit: the residual left is what a misalignment of {misfit:.2g} px would leave "
                           f"({above(misfit_line, MISFIT_WARN_PX)}), but a path's end correlates "
                           f"{min(self.path_correlations):.3f} with the reference: the template looks inverted in "
                           f"contrast (dark for light), which ssd and ncc do not register; use problem.distance=mi "
                           f"(docs/registration.md, \"Other modalities\")")
            elif misfit > misfit_line or q < FIT_QUALITY_WARN:
                out.append(f"poor fit: the residual left is what a misalignment of {misfit:.2g} px would leave "
                           f"({above(misfit_line, MISFIT_WARN_PX)}), fit_quality {q:.2f} (warning below "
                           f"{FIT_QUALITY_WARN}); the registration has probably failed, or the images differ in "
                           f"content: try problem.init=moments, problem.distance=ncc for intensity changes")
            elif metrics.get("redescent_px", 0.0) > step_line:  # NaN compares False
                out.append(f"poor fit: a lower minimum of the intensity-invariant distance (ncc) lies "
                           f"{metrics['redescent_px']:.2g} px away ({above(step_line, GAIN_STEP_WARN_PX)}), found from the "
                           f"answer through the images at half the resolution: the answer is a false minimum of "
                           f"the fine level (try solver.min_size=64 or problem.distance=ncc)")
            elif metrics.get("gain_step_px", 0.0) > step_line:  # NaN compares False
                out.append(f"poor fit: one Gauss-Newton step of the intensity-invariant distance (ncc) would move "
                           f"the answer by {metrics['gain_step_px']:.2g} px ({above(step_line, GAIN_STEP_WARN_PX)}): it is "
                           f"not the best fit up to an intensity gain and offset (an intensity change pulls ssd "
                           f"off; try problem.distance=ncc)")
        if self.cfg.data == "files" and min(m, n) < SMALL_PAIR_SIDE:
            out.append(f"the pair is registered on a {m}x{n} grid, under {SMALL_PAIR_SIDE} px a side: an affine map's "
                       f"6 numbers from {m * n} pixels are poorly determined and the fit's verdict cannot tell a "
                       f"good fit from a failed one; register larger images (or a larger problem.resize)")
        if self.cfg.data == "synthetic" and metrics.get("disp_rmse", 0.0) > 1.0:
            out.append(f"poor fit: the known transform is missed by {metrics['disp_rmse']:.3g} px")
        if metrics.get("overlap", 1.0) < 0.25:
            out.append(f"only {100 * metrics['overlap']:.0f}% of the reference maps into the template")
        return out

    # ---- reporting --------------------------------------------------------------------------------------
    def inputs(self):
        out = {"template": self.template.cpu().numpy(), "reference": self.reference.cpu().numpy(),
               "omega": np.array(self.grid.omega), "m": np.array(self.grid.m)}
        if self.ref_landmarks is not None:
            out["landmarks_reference"] = self.ref_landmarks.cpu().numpy()
            out["landmarks_template"] = self.tmpl_landmarks.cpu().numpy()
        if self.w_true is not None:
            out["w_true"] = self.w_true.cpu().numpy()
        return out

    def evaluate(self, result: SolveResult):
        w = result.solution["w"].to(self.x)
        theta = float(result.solution.get("theta", 0.0))
        scale = self.at_scale(theta)
        w_val = w.detach().requires_grad_(True)
        J = scale.objective(w_val)
        (g,) = torch.autograd.grad(J, w_val)
        J = J.detach()
        J0 = float(scale.objective(self.identity))
        fine = self.at_scale(0.0)
        metrics = {
            "J": float(J), "J_initial": J0, "rel_reduction": (J0 - float(J)) / J0 if J0 > 0 else 0.0,
            "grad_norm": float(g.norm()), "theta": theta,
            "J_theta0": float(fine.objective(w)), "J_theta0_initial": float(fine.objective(self.identity)),
        }
        if result.solution.get("registers", True):  # a timing study (ad_cost) registers nothing: no verdict
            metrics.update(self.fit_metrics(w))
        if self.ref_landmarks is not None:
            metrics["tre"] = self.tre(w)
            metrics["tre_initial"] = self.tre(self.identity)
        if self.w_true is not None:
            metrics["disp_rmse"] = self.displacement_rmse(w)
            metrics["disp_rmse_initial"] = self.displacement_rmse(self.identity)
        with torch.no_grad():
            registered = fine.warped(w)
        w_user, w_affine = self.in_user_pixels(w.detach())
        arrays = {"w": w_user.cpu().numpy(), "w_affine": w_affine.cpu().numpy(),
                  "registered": registered.cpu().numpy()}
        self._registered = arrays["registered"]
        return metrics, arrays

    def answer(self, arrays):
        """Your pair's registered template as registered.npy, as your images are stored (results.h5 holds it in
        FAIR's layout, turned a quarter against them)."""
        return from_fair_layout(np.asarray(arrays["registered"])) if self.cfg.data == "files" else None

    def figures(self, result, metrics, fig_dir: Path):
        om = self.grid.omega
        t, r = self.template.cpu().numpy(), self.reference.cpu().numpy()
        reg = self._registered
        t_on_grid = self.at_scale(0.0).warped(self.identity).detach().cpu().numpy()
        lo, hi = float(min(t.min(), r.min())), float(max(t.max(), r.max()))
        dmax = float(np.abs(t_on_grid - r).max()) or 1.0
        lm_r = lm_t = []
        if self.ref_landmarks is not None:
            w = result.solution["w"].to(self.x)
            lm_r = [(self.ref_landmarks.cpu().numpy(), {"marker": "o", "mfc": "none", "color": "tab:orange"})]
            lm_t = [(self.tmpl_landmarks.cpu().numpy(), {"marker": "x", "color": "tab:cyan"})]
            lm_y = [(self.transformation.points(w, self.ref_landmarks).detach().cpu().numpy(),
                     {"marker": "+", "color": "tab:red", "markersize": 9})]
        tre = f", TRE {metrics['tre']:.3g} (from {metrics['tre_initial']:.3g})" if "tre" in metrics else ""
        panels = [
            dict(image=t, omega=om, title="template T", vmin=lo, vmax=hi, points=lm_t),
            dict(image=r, omega=om, title="reference R", vmin=lo, vmax=hi, points=lm_r),
            dict(image=reg, omega=om, title="registered T(y(x; w))", vmin=lo, vmax=hi),
            difference_panel(t_on_grid - r, om, "T - R before", limit=dmax),  # one scale for both: compared
            difference_panel(reg - r, om, "T(y) - R after", limit=dmax),
        ]
        if self.ref_landmarks is not None:
            panels.append(dict(image=t, omega=om, title="landmarks on T", vmin=lo, vmax=hi,
                               points=lm_t + lm_y, legend=["template landmarks", "y(reference landmarks)"]))
        paths = [image_grid(panels, fig_dir / "registration.png",
                            suptitle=f"{self.label}: J reduced by {100 * metrics['rel_reduction']:.1f}%{tre}")]
        if result.history:
            paths.append(convergence(result.history, fig_dir / "convergence.png", title=self.label,
                                     methods=history_methods(result)))
        return paths
