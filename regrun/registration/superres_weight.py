"""Super-resolution's lambda_f chosen from the frames alone (problem.lambda_f=auto): regrun.optim.parameter_choice
applied to the image solve at the starting motion w0 (the pre-registration, which does not depend on lambda_f):

    f(lam) = argmin_f ||A_d(w0) f - b_d||^2 + lam^2 h_f ||L f||^2,

by a Cholesky factor of A_d^T A_d + lam^2 h_f L^T L up to CHOLESKY_MAX_PIXELS pixels (the data Gram matrix is
formed once; each weight costs one factor), else by CG warm-started from the last weight's image. The rule's
divergence tr d(A_d f)/d(frames) is Hutchinson's estimate with the directional derivative taken by forward-mode
AD (torch.func.jvp) through the solve. The motion estimate's own (6q-dimensional) dependence on the frames is
left out of the divergence: it adds at most 6q degrees of freedom to thousands.

The solver then runs at the chosen weight (the weight enters its motion estimation as usual); with the final
motion the rule is evaluated once more at the chosen weight, so the results file shows whether the curve moved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..linalg.cg import cg
from ..linalg.differences import forward_difference as diff
from ..optim.parameter_choice import (
    Choice,
    Fit,
    choose,
    criterion,
    noise_std_images,
    rademacher,
)
from .superres_projection import CHOLESKY_MAX_PIXELS


def frames_noise(model, settings) -> tuple[float, str]:
    if settings.noise is not None:
        return settings.noise, "given"
    return noise_std_images(model.frames), "estimated: Immerkaer mask on the frames"


def regulariser_gram(model) -> torch.Tensor:
    """h_f L^T L (dense n x n)."""
    n1, n2 = model.fine.m
    h1, h2 = model.fine.h
    eye = torch.eye(model.n, dtype=model.dtype, device=model.device).unflatten(-1, (n1, n2))
    l1, l2 = diff(eye, -2, h1).flatten(-2), diff(eye, -1, h2).flatten(-2)
    return model.fine.cell_volume * (l1 @ l1.T + l2 @ l2.T)


class ImageSolve:
    """f(lam) at a fixed motion and the frames' prediction A_d f, as functions of the frames (for the JVP)."""

    def __init__(self, model, w: torch.Tensor, cg_iters: int, cg_rtol: float):
        self.model, self.w = model, w.detach()
        self.cholesky = model.n <= CHOLESKY_MAX_PIXELS
        model.set_weight(0.0)
        if self.cholesky:
            self.data_gram = model.normal_matrix(self.w)  # A_d^T A_d
            self.reg_gram = regulariser_gram(model)
            self.op = model.dense_operator(self.w)
        else:
            self.op = model.operator(self.w)
        self.cg_iters, self.cg_rtol = cg_iters, cg_rtol
        self.x0 = model.initial_image()

    def _pad(self, frames_flat: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros(self.model.n_reg, dtype=frames_flat.dtype, device=frames_flat.device)
        return torch.cat((self.model.sqrt_hd * frames_flat, zeros))

    def prediction(self, lam: float):
        """frames -> A_d f(frames) / sqrt(h_d) (frame units), at weight lam; linear in the frames."""
        m = self.model
        if self.cholesky:
            factor = torch.linalg.cholesky(self.data_gram + lam**2 * self.reg_gram)

            def solve(frames_flat):
                return torch.cholesky_solve(self.op.rmatvec(self._pad(frames_flat))[:, None], factor)[:, 0]
        else:
            m.set_weight(lam)
            op = m.operator(self.w)
            m.set_weight(0.0)

            def solve(frames_flat):
                return cg(op.normal(), op.rmatvec(self._pad(frames_flat)), self.x0, self.cg_iters, self.cg_rtol).x

        def predict(frames_flat):
            f = solve(frames_flat)
            return self.op.matvec(f)[: m.n_data] / m.sqrt_hd, f

        return predict


def frame_data(model) -> tuple[torch.Tensor, int]:
    """The frames as data (pixels that are no data, problem.outside=drop, set to 0: their rows of A are 0 too,
    so they add nothing to the misfit nor to the trace) and the number of pixels that are data."""
    mask = model.data_mask()
    return (model.frames * mask).reshape(-1), int(mask.sum())


def evaluate_at(model, solve: ImageSolve, probes, lam: float) -> Fit:
    d, m = frame_data(model)
    predict = solve.prediction(lam)
    pred, f = predict(d)
    if not solve.cholesky:
        solve.x0 = f.detach()  # warm start of the next weight's CG
    fit = Fit(rss=float((pred - d).pow(2).sum()), m=m, state=f.detach())
    if probes is not None:
        total = 0.0
        for z in probes:
            _, tangent = torch.func.jvp(lambda u: predict(u)[0], (d,), (z,))
            total += float((z * tangent).sum())
        fit.trace = total / len(probes)
    return fit


def choose_superres_weight(problem, w: torch.Tensor, settings, generator: torch.Generator) -> Choice:
    model = problem.model
    sigma, source = frames_noise(model, settings)
    solve = ImageSolve(model, w, problem.final_iters, problem.final_rtol)
    d = model.frames.reshape(-1)
    probes = rademacher(settings.probes, d.shape, generator, d.dtype, d.device) if settings.needs_trace else None
    choice = choose(lambda lam: evaluate_at(model, solve, probes, lam), settings, sigma, source)
    model.set_weight(choice.lam)
    return choice


@dataclass(frozen=True)
class Carried:
    """lambda_f=from:RUN: a weight another run learned or chose, used here as a fixed weight."""

    lam: float
    path: str


def settle_weight(problem, w0: torch.Tensor, ctx) -> Choice | Carried | None:
    """With problem.lambda_f=auto, choose the weight at the starting motion w0 and put it into the model
    (once per run); Carried for a weight from another run; None for a fixed weight."""
    if problem.lam_from is not None:
        return Carried(problem.lam, problem.lam_from)
    if problem.lam is not None:
        return None
    if problem.weight_choice is None:
        gen = ctx.generator(int(problem.cfg.lam_seed))
        problem.weight_choice = choose_superres_weight(problem, w0, problem.weight_settings, gen)
    return problem.weight_choice


def recheck(problem, w: torch.Tensor, ctx) -> dict[str, float]:
    """The rule at the chosen weight, re-evaluated at the final motion (to see how much the motion moved it)."""
    choice = problem.weight_choice
    if choice is None:
        return {}
    model = problem.model
    settings = problem.weight_settings
    solve = ImageSolve(model, w, problem.final_iters, problem.final_rtol)
    gen = ctx.generator(int(problem.cfg.lam_seed))
    d = model.frames.reshape(-1)
    probes = rademacher(settings.probes, d.shape, gen, d.dtype, d.device) if settings.needs_trace else None
    fit = evaluate_at(model, solve, probes, choice.lam)
    model.set_weight(choice.lam)
    value = criterion(settings.rule, fit, choice.sigma, settings.tau)
    return {"lam_criterion_final_motion": value if math.isfinite(value) else math.nan}


def weight_outputs(choice: Choice | Carried | None) -> tuple[dict, dict, dict, str]:
    """(metrics, stats, tables, message suffix) for a SolveResult."""
    if choice is None:
        return {}, {}, {}, ""
    if isinstance(choice, Carried):
        return ({"lam": choice.lam}, {"lam_from": choice.path}, {},
                f"; lambda_f: {choice.lam:.4g} from {choice.path}")
    return choice.metrics(), choice.stats(), {"lam_curve": choice.table()}, f"; lambda_f: {choice.summary()}"
