"""GCV's one-standard-error walk at the solver's final motion (problem.lam_se_t; issue 16, srse).

Statistics' one-standard-error rule takes the largest weight whose score is within one standard error of the
minimum's. GCV's misfit is a sum over the frames, so GCV = sum_k GCV_k with GCV_k = m ||r_k||^2 / (m - gamma tr H)^2
(frame k's squared misfit r_k, the trace shared), and the frames' terms give GCV's curve an error bar from the data
themselves. Paired: from the weight in use (the rule's minimum), the weight walks up by SE_STEP while the next
weight's rise over it, GCV(next) - GCV(start), is at most problem.lam_se_t standard errors of the per-frame rises
GCV_k(next) - GCV_k(start) (the paired t statistic), SE_MAX_STEPS steps at most. Where the curve is flat within
the frames' disagreement the weight moves up; where the minimum is sharp it stays. The answer's image at the final
motion takes the weight found (the solver is not run again, as problem.lam_rechoose_image). Measured on 46 seen sets
and a held-out batch (off by default: it lost on both), docs/superres.md, "GCV's one-standard-error rule on your
frames (srse)".
"""
from __future__ import annotations

import time

import torch

from ..optim.parameter_choice import Choice, criterion
from .superres_cv import _adopt, paired_t
from .superres_weight import weight_evaluator

# the diagnosis's grid step (2^(1/3), 15 weights over 0.025-0.64), on which the bar was chosen
SE_STEP = 2.0 ** (1.0 / 3.0)
# on the 46 dev sets the walk at t 0.5 took at most 2 steps (37 none, 8 one, 1 two): a bound on its solves
SE_MAX_STEPS = 4


def se_on(problem) -> bool:
    """Whether the walk runs: lambda_f=auto (a Choice), lam_rule gcv, problem.lam_se_t set."""
    return (problem.weight_se_t is not None and isinstance(problem.weight_choice, Choice)
            and problem.weight_settings.rule == "gcv")


def se_walk(terms, lam: float, t: float, steps: int = SE_MAX_STEPS) -> float:
    """From lam, up by SE_STEP while the per-frame GCV terms there (terms(weight): a tensor whose sum is GCV) rise
    over lam's with a paired t statistic of at most t, at most `steps` steps; the weight reached."""
    base = terms(lam)
    at = lam
    for _ in range(steps):
        if not paired_t(terms(at * SE_STEP), base) <= t:  # nan (fewer than 2 frames): no step
            break
        at *= SE_STEP
    return at


def gcv_se(problem, w: torch.Tensor, ctx) -> dict[str, float]:
    """At the solver's final motion w: se_walk from the weight in use, with the last search's set-up and probes
    where it was at w (else the search's own, built again). Sets problem.weight_choice (and the model's weight) to
    the weight found; returns the metrics (lam_se_from: the weight before; lam_se_evaluations: the weights whose
    GCV the walk read; lam_se_s: CPU seconds). {} where it does not run (se_on)."""
    if not se_on(problem):
        return {}
    t0 = time.process_time()
    settings, choice, model = problem.weight_settings, problem.weight_choice, problem.model
    last = getattr(problem, "weight_last_search", None)
    if last is not None and torch.equal(last[0], w.detach()):
        evaluate, sigma = last[1], choice.sigma
    else:
        evaluate, sigma, _ = weight_evaluator(problem, w, settings, ctx.generator(int(problem.cfg.lam_seed)))
    seen = []

    def terms(lam: float) -> torch.Tensor:
        fit = evaluate(lam)
        seen.append(lam)
        return criterion(settings.rule, fit, sigma, settings.tau, settings.gamma) / fit.rss * fit.units

    lam = se_walk(terms, choice.lam, problem.weight_se_t)
    out = {"lam_se_from": choice.lam, "lam_se_evaluations": float(len(set(seen)))}
    _adopt(problem, model, choice, lam, "lam_se_from")
    out["lam_se_s"] = time.process_time() - t0
    return out
