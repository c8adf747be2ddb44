"""What the super-resolution solvers share: the starting motion, and bookkeeping of the current image."""
from __future__ import annotations

import torch

from ..errors import UserError, check_choice
from .superres_motion import motion_excess

INITS = ("preregister", "identity", "truth")


def initial_motion(problem, init: str) -> torch.Tensor:
    """The starting motion as affine w (6q,), in problem.motion_model (start_params mapped to w)."""
    return problem.motion.to_affine(start_params(problem, init))


def start_params(problem, init: str) -> torch.Tensor:
    """The starting motion in problem.motion_model's parameters (each frame's gain after them with problem.gain). preregister: each frame registered to frame 0
    (the paper's choice; the GN/VarPro objective is not convex in large rotations) with that model (on 32-px frames
    the wide edge taper's ladder where it lands elsewhere: wide_edge_start; on 24-31 px frames the frames registered
    again to a fused template where that lands elsewhere and fits better: fused_start, and a second start from
    pairwise registrations where that lands elsewhere: pairwise_start); identity: no motion; truth: the true
    motion (for derivative studies).
    With problem.outside=drop the pre-registration leaves out the points that leave frame 0 (the solver then
    drops the moved frames' pixels that see past the field of view at this motion: SuperResModel.settle_outside;
    varpro_cg again at its final motions: superres_outside.edge_rounds)."""
    check_choice("solver.init", init, INITS)
    motion = problem.motion
    # the candidate starts weighed, each 1 where taken (as the start, or as a second start the solver also runs
    # from), 0 where not: the results file's /metrics/start_*_taken (SuperRes.evaluate)
    problem.start_taken = {}
    if init == "preregister":
        transform = None if motion.is_affine else motion.transform
        w = problem.model.preregister(drop_outside=problem.outside == "drop", transform=transform,
                                      gain=motion.gain)
        w = wide_edge_start(problem, transform, w)
        w = fused_start(problem, transform, w)
        problem.second_start = second_start(problem, transform, w)
        if problem.second_start is None:
            problem.second_start = pairwise_start(problem, transform, w)
        if problem.second_start is None:
            problem.second_start = as_given_start(problem, transform, w)
        problem.second_start = plausible_second_start(problem, problem.second_start, w)
    elif init == "identity":
        w = motion.identity(problem.model.dtype, problem.model.device)
    elif problem.w_true is None:
        raise UserError("solver.init=truth needs the true motion: give problem.true_motion=PATH")
    elif not motion.is_affine:
        raise UserError(f"solver.init=truth starts from the true affine motion; problem.motion_model="
                        f"{motion.name} cannot hold it (use problem.motion_model=affine)")
    elif motion.gain:  # the true motion, and the true gains where known (else 1)
        g = problem.gain_true if problem.gain_true is not None else torch.ones(
            motion.q, dtype=problem.w_true.dtype, device=problem.w_true.device)
        w = torch.cat((problem.w_true.reshape(motion.q, 6), g.reshape(motion.q, 1)), 1).reshape(-1)
    else:
        w = problem.w_true.clone()
    return w


def plausible_second_start(problem, alt: torch.Tensor | None, first: torch.Tensor) -> torch.Tensor | None:
    """alt, or None where it puts a frame further out of the plausible range than the first start does (as the
    solver's MotionGuard refuses a step): no run from it (newuser9's camera at 2 values: a second start zoomed
    11-14x, each of its LM steps 20 s for the 35 x 30 patches; docs/sweeps.md, "srfew"). Kept on the problem:
    problem.second_start_refused, that start's largest excess (0: none refused)."""
    problem.second_start_refused = 0.0
    if alt is None:
        return None
    model, motion = problem.model, problem.motion
    excess = motion_excess(model, motion.to_affine(alt))
    if bool((excess > motion_excess(model, motion.to_affine(first)).clamp(min=1.0)).any()):
        problem.second_start_refused = float(excess.max())
        return None
    return alt


def as_given_start(problem, transform, first: torch.Tensor) -> torch.Tensor | None:
    """With the frames' level taken off (problem.frames_level): the ladder on the frames as given, a second start
    the solver also runs from (superres_weight.second_run keeps the lower objective at the weight in use) where it
    lies SECOND_START_MOVE fine px RMS or more from `first`; else None. start_params tries it last, only where
    neither the stopped ladder's nor the pairwise second start is taken: tried first (candidate C) it took the
    retina 24^2's second start and the solve kept the run 5.8 px off anyway. Why: less the level, a bright sky crop's
    ladder can land 5 px off (SKY's moon@280:340 24^2/16: 5.20 px, 31.99 dB; from the as-given ladder 0.16 px,
    33.84 dB), and the solve's own objective decides, not the ladder's fit, which on bright sky crops picks starts
    the solve ends worse from (docs/superres.md, "srprereg", "srprereg2")."""
    from .superres_model import SECOND_START_MOVE

    if not getattr(problem, "level", 0.0):
        return None
    given = as_given_ladder(problem, transform)
    taken = start_distance(problem, first, given) >= SECOND_START_MOVE
    _record(problem, "start_as_given_taken", taken)
    return given if taken else None


def as_given_ladder(problem, transform) -> torch.Tensor:
    """The pre-registration's ladder on the frames as given (the level put back), problem.motion_model's
    parameters."""
    model = problem.model
    kept = model.frames
    model.frames = kept + problem.level  # the ladder reads only model.frames; the solve's right-hand side is untouched
    try:
        return model.preregister(drop_outside=problem.outside == "drop", transform=transform,
                                 gain=problem.motion.gain)
    finally:
        model.frames = kept


# Frames of WIDE_EDGE_MIN to SMOOTH_EDGE_MIN px a side (32 px: 64^2 at factor 2) with outside=drop: the ladder again
# with the smoothing's wide edge taper (SMOOTH_EDGE), which replaces the narrow taper's end where the two lie
# WIDE_EDGE_MOVE fine px RMS or more apart. On rendered text at 64^2 the frames' edges held the narrow taper's smooth
# scales at the identity and the sharp scales kept frames in basins 1-6 px off (4 seen sets: 1.10-2.12 px RMS; with
# the wide taper 0.24-0.26; SimpleITK's peer 0.30-0.31 on two of them; `auto` +2.0 to +6.0 dB). On 22 other seen
# sets with 32-px frames the two ends lie 0.003-0.25 px apart, and the wide one taken there moved `auto` by up to
# -0.69 dB (weights flipping at motions hundredths of a pixel apart), so there the narrow end stays, to the bit
# (docs/superres.md, "Sharp drawings: the pre-registration's basin (srtext)").
WIDE_EDGE_MIN = 32
WIDE_EDGE_MOVE = 0.5


def wide_edge_start(problem, transform, first: torch.Tensor) -> torch.Tensor:
    """`first` (the ladder's end, problem.motion_model's parameters), or on frames of WIDE_EDGE_MIN to
    SMOOTH_EDGE_MIN px a side with outside=drop the ladder with the wide edge taper where its end lies
    WIDE_EDGE_MOVE fine px RMS or more from `first` (the narrow taper's smooth scales did not move the frames off
    the identity: a basin, not a refinement)."""
    from .superres_model import SMOOTH_EDGE_MIN

    model = problem.model
    if problem.outside != "drop" or not WIDE_EDGE_MIN <= min(model.coarse.m) <= SMOOTH_EDGE_MIN:
        return first
    wide = model.preregister(drop_outside=True, transform=transform, gain=problem.motion.gain, wide_edge=True)
    taken = start_distance(problem, first, wide) >= WIDE_EDGE_MOVE
    _record(problem, "start_wide_edge_taken", taken)
    return wide if taken else first


# Frames of FUSED_MIN to FUSED_MAX px a side (48^2-62^2 at factor 2) with outside=drop, the affine model without
# gains: the frames registered again to the least-squares image of all frames at the first motion
# (superres_fused.fused_motion), taken where it lies FUSED_MOVE fine px RMS or more from the first and fits the
# frames better (superres_fused.fit_objective lower): on sharp drawings there frame 0's aliased spline is no
# template (docs/superres.md, "A fused template for sharp drawings (srtemplate)").
FUSED_MIN = 24
FUSED_MAX = 31
FUSED_MOVE = 0.5


def fused_start(problem, transform, first: torch.Tensor) -> torch.Tensor:
    """`first`, or on frames of FUSED_MIN to FUSED_MAX px a side (outside=drop, affine, no gains) the motion
    registered to the fused template (superres_fused.fused_motion) where it lies FUSED_MOVE fine px RMS or more from
    `first` and its fit objective is the lower."""
    from .superres_fused import fit_objective, fused_motion

    model = problem.model
    if (problem.outside != "drop" or transform is not None or problem.motion.gain
            or not FUSED_MIN <= min(model.coarse.m) <= FUSED_MAX):
        return first
    fused = fused_motion(model, first)
    taken = (start_distance(problem, first, fused) >= FUSED_MOVE
             and fit_objective(model, fused) < fit_objective(model, first))
    _record(problem, "start_fused_taken", taken)
    return fused if taken else first


# The same frames (FUSED_MIN to FUSED_MAX px, outside=drop, affine without gains): every frame registered to every
# other (superres_pairwise.pairwise_motions), one motion made consistent with the pairs by robust least squares
# (consistent_motion) and registered to the fused template (superres_fused.fused_motion): a second start the solver
# also runs from (superres_weight.second_run keeps the lower objective) where it lies PAIR_MOVE fine px RMS or more
# from the first. On sharp text whose first motion is 2-3 px off on most frames the fused template inherits that
# error, the pairs do not (docs/superres.md, "Pairwise registration for sharp drawings (srpair)"). PAIR_MOVE is
# second_start's SECOND_START_MOVE (2 px: a different basin, not a refinement): at 0.5 px a second run that lost
# still moved `auto`'s weight (rendered_text s2503, 0.94 px apart: -0.25 dB).
PAIR_MOVE = 2.0
# An early exit that decides as the full start would: the pairs to reference frames 0..PAIR_EARLY_REFS-1 alone,
# made consistent (no fused rounds), lie under PAIR_EARLY_MOVE fine px RMS from the first start: no second start
# (on srpair's ten dev sets the 4 references' motion lay 0.84-1.21x the full start's distance where that was
# taken, 2.1-3.6 px; it lay under 1.0 px on the three photo crops and the chart, 0.04-0.07 px), else the other
# references' pairs are added to these (the same pairs: the full start as before). Where it exits the run is main's
# to the bit and `auto` 1-5 CPU-s cheaper (on 26 of 46 seen sets, no decision changed: docs/superres.md, "The
# pairwise second start's cost (srpaircost)").
PAIR_EARLY_REFS = 4
PAIR_EARLY_MOVE = 1.0


def pairwise_start(problem, transform, first: torch.Tensor) -> torch.Tensor | None:
    """On frames of FUSED_MIN to FUSED_MAX px a side (outside=drop, affine, no gains): the pairwise registrations'
    consistent motion registered to the fused template, where it lies PAIR_MOVE fine px RMS or more from `first`;
    else None (at once where the pairs to the first PAIR_EARLY_REFS frames lie under PAIR_EARLY_MOVE from it)."""
    from .superres_fused import fused_motion
    from .superres_pairwise import consistent_motion, pairwise_motions

    model = problem.model
    if (problem.outside != "drop" or transform is not None or problem.motion.gain
            or not FUSED_MIN <= min(model.coarse.m) <= FUSED_MAX):
        return None
    pairs = pairwise_motions(model, range(min(PAIR_EARLY_REFS, model.q + 1)))
    if start_distance(problem, first, consistent_motion(model, pairs).reshape(-1)) < PAIR_EARLY_MOVE:
        _record(problem, "start_pairwise_taken", False)
        return None
    pairs.update(pairwise_motions(model, range(PAIR_EARLY_REFS, model.q + 1)))  # the same keys' order as all at once
    w = fused_motion(model, consistent_motion(model, pairs))
    taken = start_distance(problem, first, w) >= PAIR_MOVE
    _record(problem, "start_pairwise_taken", taken)  # as a second start
    return w if taken else None


def second_start(problem, transform, first: torch.Tensor) -> torch.Tensor | None:
    """Small frames with outside=drop (at most PREREG_SMALL_MAX px a side): the pre-registration's ladder stopped
    at PREREG_SMALL_END, a second start the solver also runs from (superres_weight.solve_rounds keeps the lower
    objective), where it lies SECOND_START_MOVE fine pixels RMS or more from the full ladder's end `first` (the
    sharp scales moved the motion by a frame pixel or more: a drift, not a refinement); None elsewhere. Why: on
    10-px frames the sharp scales can drift 1.5-3 px further from the truth, and from there varpro_cg stays
    (docs/superres.md, "Where the peer beats regrun's best at 20² (srpeer)")."""
    from .superres_model import PREREG_SMALL_MAX, SECOND_START_MOVE

    model = problem.model
    if problem.outside != "drop" or max(model.coarse.m) > PREREG_SMALL_MAX:
        return None
    alt = stopped_ladder(problem, transform)
    taken = start_distance(problem, first, alt) >= SECOND_START_MOVE
    _record(problem, "start_stopped_ladder_taken", taken)  # as a second start
    return alt if taken else None


def stopped_ladder(problem, transform) -> torch.Tensor:
    """The pre-registration's ladder stopped at PREREG_SMALL_END (outside=drop), in problem.motion_model's
    parameters."""
    from .superres_model import PREREG_SMALL_END

    ladder = type(problem.model).preregister.__defaults__[0]  # the class's ladder (a caller may replace the method)
    return problem.model.preregister(thetas=tuple(t for t in ladder if t >= PREREG_SMALL_END), drop_outside=True,
                                     transform=transform, gain=problem.motion.gain)


def _record(problem, name: str, taken: bool) -> None:
    """A candidate start weighed: start_params' problem.start_taken[name] (absent where a caller, a diagnosis
    script or a test, weighs one on its own)."""
    if isinstance(getattr(problem, "start_taken", None), dict):
        problem.start_taken[name] = float(taken)


def start_distance(problem, a: torch.Tensor, b: torch.Tensor) -> float:
    """RMS distance in fine pixels between the moved fine cell centres of two motions (problem.motion_model's
    parameters): second_start's gate."""
    model = problem.model
    h = torch.tensor(model.fine.h, dtype=model.dtype, device=model.device)
    to_w = problem.motion.to_affine
    return float(((model.warp_points(to_w(a)) - model.warp_points(to_w(b))) / h).pow(2).sum(-1).mean().sqrt())
