"""problem.motion_model=auto: the frames' motion model (translation, rigid or affine) chosen from the frames after
the affine answer, without the truth.

The smaller models are nested in the affine one. At the affine answer's weight, varpro_cg is run with each smaller
model from its own pre-registration; then every model's final motion is scored on one data mask (the pixels every
one of those motions keeps) by the data misfit RSS_M of its least-squares image. Where a smaller model holds the
motion, what the larger one's extra parameters take off the misfit is noise and model error, a little per parameter
in units of sigma^2 (regrun's noise estimate from the frames, in the data rows' units; on 10-12 px frames it reads
texture too, 2-84x the true noise on the sets measured, so z is a misfit ratio, not a chi-square); where it does
not, far more. So
    z(small, big) = (RSS_small - RSS_big) / (sigma^2 h (d_big - d_small) q)
is read from the top: affine where z(rigid, affine) is above problem.motion_model_z, else rigid where
z(translation, rigid) is, else translation. On 12 dev sets with 10-24 px frames (photo crops 8x finer than the
reference, each kind of motion) the sets drawn with the smaller models read z <= 1.4 on the pair that decides
(one rigid set 31.5: affine kept, to no loss), the affine ones 6.6-4100; on held-out batch HM an affine 20^2 set read
3.1, so the bar is 2 (AIC's, were sigma the noise), not the first 4 (docs/superres.md, "The motion model chosen
from the frames (srmodel)").
Where the misfit is mostly model error, not noise (sharp scenes: at the drawn motion 10x the noise's), every parameter
takes some off and z(rigid, affine) passes the bar on rigid frames (rocket s9110: 123, affine kept, -0.77 dB); so
affine is also read only where its extra parameters take off more than 1/problem.motion_model_ratio of what rigid's
rotation took off a parameter (pick; affine draws read z(translation, rigid) / z(rigid, affine) 6.0-14.7, rigid
ones 493-11100 where z kept affine: docs/superres.md, "srmotionsel").
Where the affine answer's area scales are implausible (locked: srscale's detector), the affine end is left out:
the choice is between the smaller models, scored on the mask their two ends keep (docs/superres.md, "srlock2").
"""
from __future__ import annotations

import math
import time

import torch

from ..monitor import Monitor
from ..optim.parameter_choice import noise_std_images
from .superres_motion import MOTION_MODELS

PARAMS = {"none": 0, "translation": 2, "rigid": 3, "affine": 6}  # each model's parameters per frame (none: no motion)
SMALLER = ("translation", "rigid")  # the candidates run beside the affine answer


def data_misfits(problem, ends: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each affine motion's data misfit ||A_d(w) f(w) - b_d||^2 (regulariser rows apart) of the least-squares image
    f(w) at the model's weight, all on one mask: the model's, narrowed to the pixels every motion in `ends` keeps
    (SuperResModel.settle_outside, accumulated). The model's mask is changed: a candidate's problem, not the
    answer's."""
    model = problem.model
    for w in ends.values():
        model.settle_outside(w, accumulate=True)
    out = {}
    for name, w in ends.items():
        x = model.solve(w, problem.final_iters, problem.final_pcg_rtol, x0=model.initial_image()).x
        r = model.residual(w, x)[: model.n_data]
        out[name] = float(r @ r)
    return out


def shift_misfits(problem, translation: torch.Tensor) -> dict[str, float]:
    """data_misfits of no motion (every frame's identity) and of the translation end, on `problem`'s mask (after
    data_misfits: the choice's own) narrowed by the pixels no motion keeps: the shifts' gain, the scale
    problem.motion_model_shift_ratio reads the larger models' against."""
    none = problem.motion.to_affine(problem.motion.identity(translation.dtype, translation.device))
    return data_misfits(problem, {"none": none, "translation": translation})


def misfit_z(misfits: dict[str, float], sigma: float, cell: float, q: int) -> dict[str, float]:
    """z(small, big) for the nested pairs (none, translation), (translation, rigid) and (rigid, affine) both of whose
    misfits are given: the misfit a larger model's extra parameters take off, per parameter, in units of sigma^2
    (the noise estimate; cell: the data rows' weight h)."""
    unit = sigma ** 2 * cell * q
    return {f"{a}_{b}": (misfits[a] - misfits[b]) / (unit * (PARAMS[b] - PARAMS[a]))
            for a, b in (("none", "translation"), ("translation", "rigid"), ("rigid", "affine"))
            if a in misfits and b in misfits}


def pick(z: dict[str, float], bar: float, ratio: float | None = None, shift_ratio: float | None = None) -> str:
    """The smallest model no larger one fits better than noise would: read from the top (affine only where scored).
    ratio (problem.motion_model_ratio; None: off): affine also only where its extra parameters take off more than
    1/ratio of the misfit per parameter that rigid's rotation took off (z(translation, rigid) / z(rigid, affine) <
    ratio): where the misfit is mostly model error, not noise, every parameter takes some of it off, far more than
    the bar (rocket s9110: the drawn rigid motion's misfit 1.2x the rigid answer's, z(rigid, affine) 126), so z alone
    keeps affine; the rotation's own gain is the frames' scale for a parameter that matters (affine_dropped).
    shift_ratio (problem.motion_model_shift_ratio; None: off): the like one step down, read where z holds
    none_translation (the shifts' gain: the misfit at no motion against the translation end's, per parameter):
    translation where neither larger model's extra parameters take off more than 1/shift_ratio of it a parameter
    (shift_dropped). Not a bar on each step: an affine draw's z(rigid, affine) is 6-15x under its z(translation,
    rigid), so the affine step against the shifts would drop affine draws (clock s9462: z(none, translation) /
    z(rigid, affine) 254, docs/superres.md "srtrans")."""
    if shift_dropped(z, shift_ratio):
        return "translation"
    if affine_dropped(z, bar, ratio):
        return "rigid"
    if z.get("rigid_affine", -math.inf) > bar:
        return "affine"
    return "rigid" if z["translation_rigid"] > bar else "translation"


def shift_dropped(z: dict[str, float], shift_ratio: float | None) -> bool:
    """Whether problem.motion_model_shift_ratio keeps translation: the shifts' gain scored and at least shift_ratio
    times both larger models' (z(none, translation) >= shift_ratio * max(z(translation, rigid), z(rigid, affine)))."""
    if shift_ratio is None or "none_translation" not in z:
        return False
    return z["none_translation"] >= shift_ratio * max(z["translation_rigid"], z.get("rigid_affine", -math.inf))


def gap_dropped(z: dict[str, float], gaps: dict[str, float], gap_ratio: float | None, ratio: float | None) -> bool:
    """Whether problem.motion_model_gap_ratio keeps translation: the rigid end lies at least gap_ratio times as far
    from the affine answer as the translation end does (end_gaps: the rotation takes none of the affine answer's move
    beyond the shifts), and neither larger model's extra parameters take off more than 1/ratio
    (problem.motion_model_ratio) of what the shifts took off a parameter (z(none, translation), scored). On text and
    line art drawn with shifts the extra parameters fit the sharp edges' model error (7-16% of the misfit, z far
    over its bar) with 0.05-0.28 fine px of linear motion in no direction a rotation takes (gap ratio 0.98-1.09,
    shifts' gain 330-970x theirs), where a rigid draw's rotation brings the rigid end near the affine answer (dev:
    +-10 deg 0.015-0.52, turned +-0.2-0.45 deg 0.47-0.71; but held-out text turned +-0.3 deg 0.89), and an affine
    draw turned +-0.5 deg whose scales no rotation takes (ratio 1.20) reads the shifts' gain 27x its own. Off by
    default: held-out XT lost 0.63 dB on a page, the translation answer's weight searched again lower
    (docs/superres.md, "srtext")."""
    if gap_ratio is None or ratio is None or "none_translation" not in z:
        return False
    t, r = gaps.get("motion_model_end_gap_translation"), gaps.get("motion_model_end_gap_rigid")
    return (t is not None and r is not None and t > 0 and r >= gap_ratio * t
            and z["none_translation"] >= ratio * max(z["translation_rigid"], z.get("rigid_affine", -math.inf)))


def affine_dropped(z: dict[str, float], bar: float, ratio: float | None) -> bool:
    """Whether problem.motion_model_ratio drops an affine answer z alone would keep: z(rigid, affine) over the bar,
    but under z(translation, rigid) / ratio (so rigid's rotation is needed: z(translation, rigid) > ratio * bar)."""
    za = z.get("rigid_affine", -math.inf)
    return ratio is not None and za > bar and z["translation_rigid"] >= ratio * za


def choice_noise(problem) -> float:
    """The noise sigma z is scaled by (problem.motion_model_noise): images, the frames' estimate
    (noise_std_images); smaller, the smaller of it and the affine answer's fit (superres_weight.record_fit_noise,
    Wahba's ||r||^2 / (m - tr H) at its weight); fit, the fit's alone (an F test's scale: noise and model error);
    larger, the larger of the two.
    The filter reads a texture with no weak patch as noise (14x on texture 32^2/32), the fit what the model cannot
    fit (sharp edges); each only adds, so the smaller is the nearer to the noise (docs/superres.md, "srnoise2").
    residual: the weak-texture patches of the affine answer's residual frames (superres_weight.residual_noise).
    No fit recorded (a fixed weight): the frames' estimate."""
    sigma = noise_std_images(problem.model.frames)
    details = getattr(problem.weight_choice, "details", {})
    fit = details.get("noise_std_residual" if problem.motion_noise == "residual" else "noise_std_fit")
    if problem.motion_noise == "images" or fit is None or not float(fit) > 0:
        return sigma
    if problem.motion_noise == "residual":
        return float(fit)
    pick = {"smaller": min, "larger": max, "fit": lambda a, b: b}[problem.motion_noise]
    return pick(sigma, float(fit))


def choose_motion_model(problem, result, solver, candidate, bar: float, locked: bool = False,
                        ratio: float | None = None, shift_ratio: float | None = None,
                        gap_ratio: float | None = None) -> tuple[str, dict[str, float]]:
    """(the chosen model, metrics) after the affine answer `result`: candidate(changes) builds the problem again
    with those config changes; `solver` runs each smaller model at the answer's weight. locked: the affine answer's
    areas are implausible, so it is not scored (motion_model_affine_dropped; no rigid_affine z). The metrics (the
    results file's /metrics): motion_model_chosen (its index in MOTION_MODELS), motion_model_z_<small>_<big>,
    motion_model_rss_<model>, the noise sigma used and the choice's CPU seconds. shift_ratio: where z alone would
    keep a larger model than translation, the shifts' gain is scored too (shift_misfits: two more image solves;
    motion_model_z_none_translation) and pick reads it (motion_model_shift_dropped where it changes the model).
    gap_ratio: where the pick is still rigid or affine, translation if gap_dropped (motion_model_gap_dropped; the
    ratio of the ends' gaps recorded as motion_model_end_gap_ratio; the shifts' gain scored as for shift_ratio);
    never where the affine answer is locked (its gaps measure a motion off by pixels, not its linear part)."""
    t0 = time.process_time()
    given = problem.cfg.get("lam_noise")
    sigma = float(given) if given is not None else choice_noise(problem)
    if not sigma > 0:  # frames of a few grey values can show no noise: no scale to score a model's misfit against
        return "affine", {"motion_model_chosen": float(MOTION_MODELS.index("affine")), "motion_model_sigma": sigma,
                          "motion_model_choice_s": time.process_time() - t0}
    lam = float(problem.model.lam)
    ends = {"affine": result.solution["w"].detach()}
    last = None
    for name in SMALLER:
        last = candidate({"motion_model": name, "lambda_f": lam})
        ends[name] = solver.solve(last, Monitor()).solution["w"].detach()
    gaps = end_gaps(problem.model, ends)
    if locked:  # its mask, narrowed by a motion 6-51 px off, scored rigid over translation on retina s8408 ("srlock2")
        del ends["affine"]
    misfits = data_misfits(last, ends)
    z = misfit_z(misfits, sigma, problem.model.sqrt_hd ** 2, problem.model.q)
    before = pick(z, bar, ratio)
    if (shift_ratio is not None or gap_ratio is not None) and before != "translation":
        z.update(misfit_z(shift_misfits(last, ends["translation"]), sigma, problem.model.sqrt_hd ** 2,
                          problem.model.q))
    chosen = pick(z, bar, ratio, shift_ratio)
    shifted = chosen != before
    gap_record = {}
    if gap_ratio is not None and not locked and chosen != "translation":
        t = gaps["motion_model_end_gap_translation"]
        gap_record["motion_model_end_gap_ratio"] = gaps["motion_model_end_gap_rigid"] / t if t > 0 else math.nan
        if gap_dropped(z, gaps, gap_ratio, ratio):
            chosen = "translation"
            gap_record["motion_model_gap_dropped"] = 1.0
    metrics = {"motion_model_chosen": float(MOTION_MODELS.index(chosen)), "motion_model_sigma": sigma,
               **({"motion_model_affine_dropped": 1.0} if locked else {}),
               **({"motion_model_ratio_dropped": 1.0} if affine_dropped(z, bar, ratio) else {}),
               **({"motion_model_shift_dropped": 1.0} if shifted else {}),
               **gap_record,
               **{f"motion_model_z_{k}": v for k, v in z.items()},
               **{f"motion_model_rss_{k}": v for k, v in misfits.items()},
               **gaps, "motion_model_choice_s": time.process_time() - t0}
    return chosen, metrics


def end_gaps(model, ends: dict[str, torch.Tensor]) -> dict[str, float]:
    """How far each smaller model's end lies from the affine answer's, as the RMS distance (fine px) of their moved
    fine cell centres over the moved frames: motion_model_end_gap_<model>. Without the truth, how well the frames pin
    the motion: where the models' ends, each a minimum at one weight, lie a few hundredths of a pixel apart the data
    decide the motion, where they lie tenths apart they do not (a nearly flat crop: docs/superres.md, "(srflat)")."""
    h = torch.as_tensor(model.fine.h, dtype=model.dtype, device=model.device)
    ref = model.warp_points(ends["affine"])
    return {f"motion_model_end_gap_{k}": float(((model.warp_points(w) - ref) / h).pow(2).sum(-1).mean().sqrt())
            for k, w in ends.items() if k != "affine"}


def choice_line(chosen: str, metrics: dict[str, float], bar: float, ratio: float | None = None,
                shift_ratio: float | None = None, gap_ratio: float | None = None) -> str:
    """The run's log line: the model and each pair's score (none where the frames' noise estimate is 0)."""
    if "motion_model_z_translation_rigid" not in metrics:
        return (f"motion model {chosen}, not chosen (problem.motion_model=auto): the frames' noise estimate is "
                f"{metrics['motion_model_sigma']:.3g}, no scale to score the smaller models' misfit against")
    top = (f"rigid -> affine {metrics['motion_model_z_rigid_affine']:.3g}, "
           if "motion_model_z_rigid_affine" in metrics else "")
    shifts = (f", no motion -> translation {metrics['motion_model_z_none_translation']:.3g}"
              if "motion_model_z_none_translation" in metrics else "")
    dropped = (" (the affine answer not scored: its area scales leave the plausible range, a locked motion)"
               if metrics.get("motion_model_affine_dropped") else
               f" (the larger models' extra parameters take off under 1/{shift_ratio:g} of what the shifts take off a "
               f"parameter: problem.motion_model_shift_ratio)" if metrics.get("motion_model_shift_dropped") else
               f" (the rigid end lies {metrics['motion_model_end_gap_ratio']:.3g}x as far from the affine answer as the "
               f"translation end, at least {gap_ratio:g}, and the larger models' extra parameters take off under "
               f"1/{ratio:g} of what the shifts take off a parameter: problem.motion_model_gap_ratio)"
               if metrics.get("motion_model_gap_dropped") else
               f" (affine's extra parameters take off under 1/{ratio:g} of what rigid's rotation takes off a "
               f"parameter: problem.motion_model_ratio)" if metrics.get("motion_model_ratio_dropped") else "")
    return (f"motion model {chosen}, chosen from the frames (problem.motion_model=auto){dropped}: the misfit a larger "
            f"model takes off per extra parameter, in units of the frames' noise estimate: {top}translation -> rigid "
            f"{metrics['motion_model_z_translation_rigid']:.3g}{shifts} (the larger model where above {bar:g})")
