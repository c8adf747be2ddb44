"""Leave-frames-out cross-validation of lambda_f at the solver's final motion (problem.lam_cv_steps; issue 16).

The frames are independent noisy views of one scene, so the error with which the image solved WITHOUT frame k
predicts frame k (at the fitted motion w and weight lambda),

    CV(lambda) = sum_k ||d_k - P_k f_-k(lambda)||^2   over the held-out moved frames k (kept pixels, frame units),

estimates the prediction error of a new frame with no truth and no noise level, and it rises both where the image
fits noise (too small a weight) and where it loses detail (too large). Each term is the frames check's own
(registration/superres_check.held_out_residuals: the hat matrix's block in closed form up to CV_DENSE_MAX_PIXELS,
a PCG refit from the image beyond).

Used as a correction after the rule (modified GCV, its floor and climb) and its search again: from the weight in
use, the held-out frames' errors are evaluated one step of sqrt(2) either side, and the weight walks by such steps
while the frames agree that the step predicts them better (the paired t statistic of the per-frame falls above
problem.lam_cv_t), at most problem.lam_cv_steps steps; the answer's image at the final motion takes the weight found
(the solver is not run again: as problem.lam_rechoose_image). Why a gated, bounded walk and not CV's minimum: CV's
minimum lies under the PSNR's peak on most scenes (it scores the frames' band only; the image's error beyond it is
not seen), where the frames' disagreement shows that its fall there is small; measured on batch G's misses and the
burst phantom, docs/superres.md, "Fourteenth round (srcv)".
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace
from typing import Callable

import torch

from ..errors import check_float, check_int
from ..optim.parameter_choice import Choice
from .superres_check import REFIT_ITERS, REFIT_RTOL, held_out_residuals

CV_STEP = math.sqrt(2.0)  # the grid's step in the bench (--grid-refine) and the climb's: what PSNR resolves
# Largest image (fine pixels) whose CV is in closed form; beyond it the PCG refit (from the weight's image). With every
# moved frame held out the closed form's triangular solves (q x a frame's pixels columns) cost more than the refit:
# CPU-s a weight at the true motion, closed form / refit with its image: 48^2/16 4.26 / 0.83, 40^2/8 0.76 / 0.46,
# 32^2/8 0.25 / 0.30, agreeing to 3e-5-1.3e-4 (docs/superres.md, "Fourteenth round (srcv)").
CV_DENSE_MAX_PIXELS = 1024


@dataclass(frozen=True)
class CVSettings:
    """problem.lam_cv_steps (sqrt(2) steps at most from the rule's weight; 0: off), problem.lam_cv_frames (the
    moved frames held out, the first ones; 0: every moved frame) and problem.lam_cv_t (the paired t statistic of
    the per-frame falls a step must pass); problem.lam_split_steps (the frame-split risk's steps up at most from
    the weight in use after them; 0: off), problem.lam_split_step (the factor of its steps),
    problem.lam_split_refine (where the walk moved up, its walk again in steps of lam_split_step^(1/N); 1: off),
    problem.lam_split_down (its steps down at most), problem.lam_split_down_gap (the step down's reference, in
    sqrt(2) steps under the lower weight, where the halves hold enough frames), problem.lam_split_refine_down (where
    it moved down, its walk again in steps of lam_split_step^(1/N); 1: off) and problem.lam_split_max_frame (the
    largest frame side, pixels, it runs on)."""

    steps: int
    frames: int
    t: float
    split_steps: int = 0
    split_down: int = 1
    split_max_frame: int = 96
    split_step: float = CV_STEP
    split_refine: int = 1
    split_refine_down: int = 1
    split_down_gap: int = 2  # SPLIT_DOWN_GAP (defined below); the run's is the YAML's, 0

    @classmethod
    def from_config(cls, cfg) -> "CVSettings":
        return cls(steps=check_int("problem.lam_cv_steps", cfg.lam_cv_steps, 0),
                   frames=check_int("problem.lam_cv_frames", cfg.lam_cv_frames, 0),
                   t=check_float("problem.lam_cv_t", cfg.lam_cv_t, 0.0, maximum=1e3),
                   split_steps=check_int("problem.lam_split_steps", cfg.lam_split_steps, 0),
                   split_down=check_int("problem.lam_split_down", cfg.lam_split_down, 0),
                   split_max_frame=check_int("problem.lam_split_max_frame", cfg.lam_split_max_frame,
                                             SPLIT_MIN_FRAME + 1),
                   split_step=check_float("problem.lam_split_step", cfg.lam_split_step, 1.0, strict=True,
                                          maximum=4.0),
                   split_refine=check_int("problem.lam_split_refine", cfg.lam_split_refine, 1),
                   split_refine_down=check_int("problem.lam_split_refine_down", cfg.lam_split_refine_down, 1),
                   split_down_gap=check_int("problem.lam_split_down_gap", cfg.lam_split_down_gap, 0))


def paired_t(here: torch.Tensor, there: torch.Tensor) -> float:
    """The paired t statistic of the per-frame falls here - there (> 0: `there` predicts the held-out frames
    better): mean over its standard error; nan with fewer than 2 frames, inf where every frame falls equally."""
    d = here - there
    if d.numel() < 2:
        return math.nan
    se = float(d.std() / math.sqrt(d.numel()))
    mean = float(d.mean())
    return mean / se if se > 0 else (math.inf if mean > 0 else -math.inf if mean < 0 else 0.0)


def cv_walk(cv: Callable[[float], torch.Tensor], lam: float, steps: int, t: float = 0.0) -> float:
    """From lam, one step of CV_STEP either way; a step is taken where the held-out frames' errors (cv(lam): one
    per frame) fall with a paired t statistic above `t` (the larger one's side, where both do), then on that way
    while each next step passes the same test, at most `steps` steps from lam in all. The weight where it stopped
    (lam itself when neither side passes)."""
    if steps < 1:
        return lam
    here, down, up = cv(lam), cv(lam / CV_STEP), cv(lam * CV_STEP)
    t_down, t_up = paired_t(here, down), paired_t(here, up)
    passes = [(tv, f) for tv, f in ((t_down, 1 / CV_STEP), (t_up, CV_STEP)) if tv > t]
    if not passes:
        return lam
    factor = max(passes)[1]
    best = lam * factor
    value = down if factor < 1 else up
    for _ in range(steps - 1):
        nxt = best * factor
        v = cv(nxt)
        if not paired_t(value, v) > t:
            break
        best, value = nxt, v
    return best


def held_out(model, count: int) -> list[int]:
    """The moved frames held out: the first `count` (0: all)."""
    return list(range(1, model.q + 1 if count == 0 else min(model.q, count) + 1))


def frames_cv_curve(model, w: torch.Tensor, frames: list[int]):
    """lam -> the held-out frames' errors at motion w (one per frame, the model's weight set to lam; CV is their
    sum), each weight once; beyond the dense limit each weight's image by PCG warm-started from the last weight's
    (the refit's own start). Returns (cv, values)."""
    w = w.detach()
    values: dict[float, torch.Tensor] = {}
    last = [None]

    def cv(lam: float) -> torch.Tensor:
        lam = float(lam)
        if lam not in values:
            model.set_weight(lam)
            f = None
            if model.n > CV_DENSE_MAX_PIXELS:
                start = model.initial_image() if last[0] is None else last[0]
                f = last[0] = model.solve(w, REFIT_ITERS, REFIT_RTOL, x0=start).x.detach()
            values[lam] = torch.tensor(held_out_residuals(model, w, frames, f=f, dense_max=CV_DENSE_MAX_PIXELS),
                                       dtype=torch.float64)
        return values[lam]

    return cv, values


def frames_cv(problem, w: torch.Tensor) -> dict[str, float]:
    """lambda_f=auto, at the solver's final motion w: the cross-validation walk from the weight in use
    (module docstring). Sets problem.weight_choice (and the model's weight) to the weight found; returns the
    metrics (lam_cv_from: the rule's weight; lam_cv_fall: CV's relative fall from it; lam_cv_evaluations;
    lam_cv_frames; lam_cv_s: CPU seconds). {} when off or without a moved frame."""
    settings, choice, model = problem.weight_cv, problem.weight_choice, problem.model
    if settings.steps < 1 or not isinstance(choice, Choice) or model.q < 1:
        return {}
    t0 = time.process_time()
    frames = held_out(model, settings.frames)
    cv, values = frames_cv_curve(model, w, frames)
    lam = cv_walk(cv, choice.lam, settings.steps, settings.t)
    before, after = float(values[float(choice.lam)].sum()), float(values[float(lam)].sum())
    out = {"lam_cv_from": choice.lam, "lam_cv_evaluations": float(len(values)), "lam_cv_frames": float(len(frames)),
           "lam_cv_fall": (before - after) / before if before > 0 else 0.0}
    _adopt(problem, model, choice, lam, "lam_cv_from")
    out["lam_cv_s"] = time.process_time() - t0
    return out


# what the figure of the weight's curve says moved the chosen weight off the rule's (Choice.details["lam_moved_by"])
WALK_NAMES = {"lam_cv_from": "cross-validation", "lam_split_from": "frame-split walk",
              "lam_se_from": "GCV's one-SE walk"}


def _adopt(problem, model, choice, lam: float, moved_from: str) -> None:
    """The walk's weight becomes the run's (its details say which weight it moved from) and the model's."""
    if lam != choice.lam:
        walk = WALK_NAMES[moved_from]
        problem.weight_choice = replace(choice, lam=lam, state=None,
                                        details={**choice.details, moved_from: f"{choice.lam:g}",
                                                 "lam_moved_by": f"{walk} from {choice.lam:.3g}"})
    model.set_weight(problem.weight_choice.lam)


# The frame-split risk (problem.lam_split_steps; docs/superres.md, "Sixteenth round (srburst)"). The image's own
# error, not the frames': the frames are split into two disjoint halves A (frames 0, 2, 4, ...) and B (1, 3, ...),
# whose noise is independent. A half holds half the data term, so at lambda / sqrt(2) it smooths as the whole does
# at lambda (G / 2 + lambda^2 R / 2 = (G + lambda^2 R) / 2), and D(lambda) = f_A - f_B there is 2 H (A_A^T n_A -
# A_B^T n_B): E D(l1) . D(l2) / 4 = tr Cov(f(l1), f(l2)), the covariance of the whole image's noise at two weights
# with no noise level given (and the model error that differs between the halves counted with it). From a
# reference f_r, the whole image a step under the weight in use,
#     risk(lambda) = ||f(lambda) - f_r||^2 + D(lambda) . D_r / 2
# is ||f(lambda) - x||^2 up to terms that do not depend on lambda, less 2 (E f(lambda) - x) . (E f_r - x): GSURE with
# f_r for the unregularized solution (whose model error the rule would amplify: srunder) and the split for sigma.
SPLIT_REFERENCE_STEPS = 1  # the reference's steps of CV_STEP under the weight in use: on 5 seen curves (argmin over
# the grid above it) 1 gave +2.38 dB summed and lost on none, 0 +2.09 (one -0.14), 3 +1.92 (one -0.45)
SPLIT_DOWN_GAP = 2  # going down, the reference's steps under the lower weight compared: on 22 seen curves 2 took
# sharpphantom 96^2/16 down (+0.47 dB) and 1 or 0 did not (docs/superres.md, "Seventeenth round (srover)"). The
# setting problem.lam_split_down_gap is 0 since srdown: at today's walk (which climbs first) 2 stepped down on natural
# scenes GCV had already under-smoothed, where the step up's own reference (0) kept them ("(srdown)"); split_walk's
# and CVSettings' default stays 2, srover's walk


# Frames of at most this many pixels a side keep the weight in use (as quasi-optimality's climb, superres_weight's
# QUASI_OPTIMAL_MIN_FRAME): on 19 seen sets at 20^2-32^2 fine pixels the walk summed -0.36 dB (retina 32^2 +0.67,
# s1045 20^2 +0.21, microaneurysms 24^2 +0.14; phantom 32^2 -0.38, astronaut 32^2 -0.25, cat 32^2 -0.24, page 24^2
# -0.22, cell 32^2 -0.20, ...), against +8.0 dB over 38 sets above, and it tripled a small run's CPU (PCG near lam's
# low end: 0.8 of 1.2 CPU-s at 16^2 from 8 frames); docs/superres.md, "Sixteenth round (srburst)".
SPLIT_MIN_FRAME = 16


def split_on(problem) -> bool:
    """Whether the frame-split walk runs: lambda_f=auto (a Choice), problem.lam_split_steps > 0, at least two moved
    frames (each half one at least) and frames of SPLIT_MIN_FRAME + 1 to problem.lam_split_max_frame pixels a side."""
    model, settings = problem.model, problem.weight_cv
    return (settings.split_steps >= 1 and isinstance(problem.weight_choice, Choice) and model.q >= 2
            and SPLIT_MIN_FRAME < min(model.coarse.m) and max(model.coarse.m) <= settings.split_max_frame)


# The walk goes down against a reference SPLIT_DOWN_GAP steps under the lower weight only where each half holds at
# least this many times factor^2 frames (the frames a factor's fine grid needs at the least): on the seen sets with
# 8 frames (halves of 4 at factor 2) that step down lost on 4 of 5 (J's coins 48^2 -0.59 dB, faces 64^2 -0.14, H's
# logo2 96^2 -0.12, page 64^2 -0.01; I's voronoi 64^2 +0.08), from 16 frames it gained (J's sharpphantom 96^2
# +0.47); docs/superres.md, "Seventeenth round (srover)". With fewer frames the walk keeps srburst's step down: the
# reference one step under the weight in use, adopted where its risk is less (gap 0, one step at most): without it
# K's barcode 128^2/8 lost 1.52 dB (0.155 -> 0.22; "Batch L (srover2)").
SPLIT_DOWN_MIN_HALF = 2


def split_down(model, down: int, gap: int = SPLIT_DOWN_GAP) -> tuple[int, int]:
    """(steps down at most, the reference's steps under the lower weight) for split_walk: (problem.lam_split_down,
    `gap`: problem.lam_split_down_gap, SPLIT_DOWN_GAP by default) where each half of the frames holds at least
    SPLIT_DOWN_MIN_HALF x factor^2 of them, else (min(problem.lam_split_down, 1), 0): srburst's one step down to
    its own reference."""
    if (model.q + 1) // 2 >= SPLIT_DOWN_MIN_HALF * model.factor**2:
        return down, gap
    return min(down, 1), 0


def mask_model(model, sel: torch.Tensor):
    """A shallow copy of the model whose data term keeps only the rows `sel` (0/1, broadcast to the frames' shape)
    selects (the others weighted 0, as outside=drop's dropped pixels), its cached fixed operator and preconditioner
    dropped (they hold the whole mask)."""
    half = copy.copy(model)
    half.keep = model.data_mask() * sel
    half.b = half.rhs(half.frames)
    half._fixed, half._precond, half._precond_factor, half._last_fixed = None, None, None, (None, None)
    half._mask_version = model._mask_version + 1  # its own Gram matrices, never the whole model's
    return half


def half_model(model, keep: list[int]):
    """mask_model keeping only the frames `keep`."""
    sel = torch.zeros(model.q + 1, dtype=model.dtype, device=model.device)
    sel[keep] = 1.0
    return mask_model(model, sel[:, None, None])


def split_images(model, w: torch.Tensor, halves=None):
    """lam -> (f(lam), D(lam)): the whole image at motion w and weight lam, and the halves' difference solved at
    lam / CV_STEP (module comment above), each by PCG from the last weight's image of its own model (the
    frames check's refit bar), each weight once. `halves`: the two half models (default: the frame split's,
    even and odd frames)."""
    w = w.detach()
    if halves is None:
        halves = [half_model(model, list(range(start, model.q + 1, 2))) for start in (0, 1)]
    last: dict[int, torch.Tensor] = {}
    cache: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}

    def solve(i, m, lam):
        m.set_weight(lam)
        start = last[i] if i in last else m.initial_image()
        last[i] = m.solve(w, REFIT_ITERS, REFIT_RTOL, x0=start).x.detach()
        return last[i]

    def images(lam: float):
        lam = float(lam)
        if lam not in cache:
            f = solve(0, model, lam)
            cache[lam] = (f, solve(1, halves[0], lam / CV_STEP) - solve(2, halves[1], lam / CV_STEP))
        return cache[lam]

    return images, cache


def split_risk(images, risks: dict, at: float, ref: float) -> float:
    """The frame-split risk at weight `at` against the reference weight `ref` (module comment), kept in `risks`."""
    if (at, ref) not in risks:
        (f, d), (f_r, d_r) = images(at), images(ref)
        risks[at, ref] = float((f - f_r).pow(2).sum() + 0.5 * (d * d_r).sum())
    return risks[at, ref]


def split_refine(images, lam: float, parts: int, step: float = CV_STEP, gap: int | None = None) -> float:
    """Where split_walk moved up from lam (gap None): the walk again from lam in steps of step^(1/parts), at most
    `parts` of them, so that it reaches lam * step (the first walk's first step, its image reused) at most; each
    step against the reference c / CV_STEP under the weight c reached, as split_walk's. srwalk2's quarter steps
    everywhere moved weights the sqrt(2) walk keeps (docs/superres.md, "The split walk's steps up over-pick
    (srwalk2)"); run only after a move up, the walk's stays are kept by construction (srwalk3). Where it moved down
    (gap: split_walk's down gap), the same ladder down to lam / step, each step against the reference CV_STEP^gap
    under the lower weight, as split_walk's down (srdown). Returns the weight reached."""
    if gap is None:
        ladder = [lam * step ** (k / parts) for k in range(parts)] + [lam * step]
    else:
        ladder = [lam / step ** (k / parts) for k in range(parts)] + [lam / step]
    risks: dict[tuple[float, float], float] = {}
    k = 0
    while k < parts:
        ref = ladder[k] / CV_STEP if gap is None else ladder[k + 1] / CV_STEP**gap
        if not split_risk(images, risks, ladder[k + 1], ref) < split_risk(images, risks, ladder[k], ref):
            break
        k += 1
    return ladder[k]


def split_walk(images, lam: float, steps: int, down: int = 1, gap: int | None = None,
               step: float = CV_STEP) -> tuple[float, dict]:
    """The frame-split walk from lam by steps of `step` (problem.lam_split_step). Up: from the weight c reached,
    the risk against the reference c / CV_STEP at c and at c * step; up while the higher is less, at most `steps`
    steps (the reference moves with the walk). Where it takes no step up, down: the risk against the reference
    `gap` (SPLIT_DOWN_GAP) steps of CV_STEP under the lower weight, at c and at c / step; down while the lower is
    less, at most `down` steps. A reference as smooth as
    the weights it compares under-counts their bias (the risk's cross term, module comment): a fixed one left the
    walk short of the peak going up and unable to go down past it (docs/superres.md, "Seventeenth round
    (srover)"). Returns the weight reached (lam itself with steps 0) and every risk evaluated, {(weight,
    reference): risk}."""
    if steps < 1:
        return lam, {}
    gap = SPLIT_DOWN_GAP if gap is None else gap
    risks: dict[tuple[float, float], float] = {}

    def risk(at, ref):
        return split_risk(images, risks, at, ref)

    at = lam
    for _ in range(steps):
        ref = at / CV_STEP**SPLIT_REFERENCE_STEPS
        if not risk(at * step, ref) < risk(at, ref):
            break
        at *= step
    if at == lam:
        for _ in range(down):
            lower = at / step
            ref = lower / CV_STEP**gap
            if not risk(lower, ref) < risk(at, ref):
                break
            at = lower
    return at, risks


# problem.lam_split_stay_climb (opt-in): on frames of 17 to superres_weight.QUASI_OPTIMAL_MIN_FRAME px a side (where
# the climb does not run before the walk), where the walk took no step either way, quasi-optimality's climb from the
# weight in use at the final motion. Why only there: srfk's climb before the walk on these frames gained on FK's cell
# 48^2/16 0.5% (+3.65 dB; the walk had stayed, t -0.58) and lost on two moons and a stained slide (-0.36 to -0.63),
# where the walk from GCV's minimum had already stepped up (docs/superres.md, "The weight on clean, smooth frames
# (srcell)").
# The climb after a stay is kept only where the image's change per log weight fell by at least this share from the
# walk's weight to the climb's end: on 6 seen sets whose walk stayed and whose climb moved, FK's cell fell 0.34 over
# 3 steps of sqrt(2) (+3.69 dB), the five single steps 0.004-0.045 (FG's retina +0.56; FA's stained slide, FE's cat,
# FG's astronaut and camera -0.12 to -0.29): a nearly flat change is no sign of an image ruined by noise.
STAY_CLIMB_MIN_FALL = 0.1


def stay_climb_on(problem) -> bool:
    """Whether the climb after a walk that stayed runs (problem.lam_split_stay_climb, frames of at most
    QUASI_OPTIMAL_MIN_FRAME px a side, problem.lam_quasi_optimal on)."""
    from .superres_weight import QUASI_OPTIMAL_MIN_FRAME
    return (getattr(problem, "weight_stay_climb", False) and problem.weight_quasi_optimal
            and min(problem.model.coarse.m) <= QUASI_OPTIMAL_MIN_FRAME)


def stay_climb(problem, w: torch.Tensor, choice, out: dict) -> float:
    """The weight quasi-optimality's climb reaches from choice.lam at motion w where the image's change per log
    weight fell by STAY_CLIMB_MIN_FALL or more on the way, else choice.lam (the climb's gate as choose()'s on
    these frames: skipped where the fit at its start is not below the noise's level); its readings in `out`
    (lam_split_stay_climb: the weight reached; lam_split_stay_fall: the share by which the image's change per log
    weight fell from the start to there, no new solve; lam_split_stay_skipped: the misfit's ratio to the noise's
    level where the gate skipped it)."""
    from ..optim.parameter_choice import CLIMB_SKIP_RATIO, misfit_ratio, quasi_optimal_above
    from .superres_weight import climb_gated, climb_level, weight_evaluator

    settings = problem.weight_settings
    generator = torch.Generator().manual_seed(int(problem.cfg.lam_seed))
    evaluate, _, _ = weight_evaluator(problem, w, settings, generator)
    if climb_gated(problem):
        ratio = misfit_ratio(evaluate(choice.lam), climb_level(problem, settings))
        if ratio >= CLIMB_SKIP_RATIO:
            out["lam_split_stay_skipped"] = ratio
            return choice.lam
    lam = quasi_optimal_above(evaluate.change, evaluate.image, choice.lam, settings.hi)
    out["lam_split_stay_climb"] = lam
    out["lam_split_stay_fall"] = 1.0 - evaluate.change(lam) / evaluate.change(choice.lam)
    return lam if out["lam_split_stay_fall"] >= STAY_CLIMB_MIN_FALL else choice.lam


def split_readings(images, lam: float, reached: float, step: float = CV_STEP) -> dict[str, float]:
    """The walk's first comparison (at lam and lam * step against the reference lam / CV_STEP), recorded so that
    its moves can be sorted without the truth (docs/superres.md, "When does the split walk's step up help?
    (srwalk)"); it changes no answer and solves nothing new (split_walk evaluated all three weights). Per pixel,
    e = (f_up - f_r)^2 - (f - f_r)^2 + (D_up - D) D_r / 2, so the risk's fall up is -sum e:
    lam_split_fall (that fall), lam_split_bias (its first part, the images' spread, which counts against the
    step), lam_split_var (D_r . D_r / 4, the reference's noise trace estimate: the scale), lam_split_t (the fall
    over its per-pixel standard error, sqrt(n) std e: pixels taken as independent), lam_split_moved (the steps of
    `step` the walk took, < 0 down)."""
    (f, d), (f_up, d_up), (f_r, d_r) = images(lam), images(lam * step), images(lam / CV_STEP)
    spread = ((f_up - f_r).pow(2) - (f - f_r).pow(2)).reshape(-1)
    e = spread + 0.5 * ((d_up - d) * d_r).reshape(-1)
    se = float(e.std() * math.sqrt(e.numel()))
    fall = -float(e.sum())
    return {"lam_split_fall": fall, "lam_split_bias": float(spread.sum()),
            "lam_split_var": 0.25 * float(d_r.pow(2).sum()), "lam_split_t": fall / se if se > 0 else math.nan,
            "lam_split_moved": float(round(math.log(reached / lam) / math.log(step)))}


def frames_split(problem, w: torch.Tensor) -> dict[str, float]:
    """lambda_f=auto, at the solver's final motion w, after the cross-validation's walk: the frame-split risk's
    walk up from the weight in use (problem.lam_split_steps). Sets problem.weight_choice (and the model's weight)
    to the weight found; returns the metrics (lam_split_from: the weight before it; lam_split_coarse: the walk's
    weight before problem.lam_split_refine's or lam_split_refine_down's walk, where that ran;
    lam_split_evaluations: the weights whose images were solved; lam_split_s: CPU seconds). {} where it does not
    run (split_on)."""
    settings, choice, model = problem.weight_cv, problem.weight_choice, problem.model
    if not split_on(problem):
        return {}
    t0 = time.process_time()
    images, cache = split_images(model, w)
    down, gap = split_down(model, settings.split_down, settings.split_down_gap)
    lam, _ = split_walk(images, choice.lam, settings.split_steps, down, gap, step=settings.split_step)
    out = {"lam_split_from": choice.lam, **split_readings(images, choice.lam, lam, settings.split_step)}
    if settings.split_refine > 1 and lam > choice.lam:
        out["lam_split_coarse"] = lam
        lam = split_refine(images, choice.lam, settings.split_refine, settings.split_step)
    elif settings.split_refine_down > 1 and lam < choice.lam:
        out["lam_split_coarse"] = lam
        lam = split_refine(images, choice.lam, settings.split_refine_down, settings.split_step, gap=gap)
    out["lam_split_evaluations"] = float(len(cache))
    if lam == choice.lam and stay_climb_on(problem):
        lam = stay_climb(problem, w, choice, out)
    _adopt(problem, model, choice, lam, "lam_split_from")
    out["lam_split_s"] = time.process_time() - t0
    return out
