"""Super-resolution's lambda_f chosen from the frames alone (problem.lambda_f=auto): regrun.optim.parameter_choice
applied to the image solve at the starting motion w0 (the pre-registration, which does not depend on lambda_f):

    f(lam) = argmin_f ||A_d(w0) f - b_d||^2 + lam^2 h_f ||L f||^2,

by a Cholesky factor of A_d^T A_d + lam^2 h_f L^T L up to WEIGHT_CHOLESKY_MAX_PIXELS pixels (the Gram matrices
formed once; each weight costs one factor), else by preconditioned CG (the model's cosine-basis preconditioner at
that weight) warm-started from the last weight's images. The rule's divergence tr d(A_d f)/d(frames) is
Hutchinson's estimate. The directional derivative is the prediction of the probe itself (f is linear in the
frames, so d(A_d f)[z] = A_d f(z)), all probes as one block, at every size (up to the solvers'
CHOLESKY_MAX_PIXELS it was forward-mode AD through the solve until the thirteenth round: the same trace, at 70% of
`auto`'s CPU at 32^2). The earlier path beyond 32^2, forward-mode AD through plain CG to a relative residual of 1e-12, took minutes of CPU per search at 48^2
(docs/superres.md). The motion estimate's own (6q-dimensional) dependence
on the frames is left out of the divergence: it adds at most 6q degrees of freedom to thousands.

The solver then runs at the chosen weight (the weight enters its motion estimation as usual). The motion it ends
at is better than the pre-registration, and with a better motion less smoothing is best (FAIR hands 32^2, 0.5%
noise: the rule picks 0.25 at the pre-registered motion, 0.11 at varpro_cg's final one, +1.3 dB): `solve_rounds`
searches the weight again at the final motion (problem.lam_rechoose times at most) and, when the rule's value
there falls by more than the share problem.lam_rechoose_gain from the weight in use to the new one, runs the
solver again from there at the new weight; not at all when no frame's point moved more than
problem.lam_rechoose_move fine pixels from the last search's motion (256x256: ~0.01 px, the same curve). At the
end the rule is evaluated once more at the weight used (`recheck`), so the results file shows where the curve
stands.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
from torch.autograd import forward_ad

from ..errors import UserError, check_bool, check_float, check_int
from ..linalg.differences import forward_difference as diff
from ..linalg.differences import forward_difference_adjoint as diff_adjoint
from ..linalg.krylov import pcg
from ..linalg.slq import lanczos_logdet
from ..monitor import RunRows
from ..optim.parameter_choice import (
    Choice,
    ChoiceSettings,
    Fit,
    choose,
    criterion,
    noise_std_blocks,
    noise_std_images,
    rademacher,
)
from .superres_projection import CHOLESKY_MAX_PIXELS


def frame_weight_settings(cfg, frame_side: int | None = None) -> ChoiceSettings:
    """The search's settings (problem.lam_*) with problem.lam_gcv_gamma, the modified GCV's weight of the trace:
    at the final motion plain GCV under-smooths, its misfit being mostly model error (docs/superres.md). Where
    frame_side (the frames' largest side, pixels) lies in SMALL_GAMMA_FRAMES and problem.lam_gcv_gamma_small is
    set, that gamma instead: GCV scores the frames' prediction, whose error on such frames is least at weights
    2-3x under the image's own error's least (docs/superres.md, "(srsmallw)"). Both settings are checked either way."""
    settings = ChoiceSettings.from_config(cfg, "problem")
    gamma = check_float("problem.lam_gcv_gamma", cfg.lam_gcv_gamma, 1.0, maximum=10.0)
    small = cfg.lam_gcv_gamma_small
    if small is not None:
        small = check_float("problem.lam_gcv_gamma_small", small, 1.0, maximum=10.0)
        if frame_side is not None and SMALL_GAMMA_FRAMES[0] <= frame_side <= SMALL_GAMMA_FRAMES[1]:
            gamma = small
    return replace(settings, gamma=gamma)


def floor_gamma(cfg, frame_side: int | None = None) -> float | None:
    """problem.lam_gcv_gamma_small_floor: where the small gamma acts (frame_weight_settings) and this is on,
    problem.lam_gcv_gamma, the gamma of a second search whose weight is taken where it is the larger (search_weight);
    else None. Checked either way."""
    on = check_bool("problem.lam_gcv_gamma_small_floor", cfg.lam_gcv_gamma_small_floor)
    if on and cfg.lam_gcv_gamma_small is None:
        raise UserError("problem.lam_gcv_gamma_small_floor=true reads a second search against the small frames' "
                        "gamma: set problem.lam_gcv_gamma_small too (e.g. 1.5), or leave this false")
    settings = frame_weight_settings(cfg, frame_side)
    gamma = check_float("problem.lam_gcv_gamma", cfg.lam_gcv_gamma, 1.0, maximum=10.0)
    return gamma if on and settings.gamma != gamma else None


def search_weight(problem, evaluate: Evaluator, settings: ChoiceSettings, sigma: float, source: str,
                  **kwargs) -> Choice:
    """choose() with the problem's settings; where problem.weight_floor_gamma is set (floor_gamma), choose() again
    on the same fits with that gamma, and the larger weight of the two. Why: on frames of 13-16 px the small gamma
    lifts GCV's minimum toward the image's best, but where GCV at lam_gcv_gamma falls far below it the marginal
    likelihood's floor takes a weight above both, and the small gamma's minimum, above the floor's trigger, lost it
    (ET's cell 28^2/16 0.5%: 0.139 by the floor at 1.2, 0.0612 at 1.5, -1.84 dB; docs/superres.md, "(srsmall16)")."""
    choice = choose(evaluate, settings, sigma, source, **kwargs)
    gamma = getattr(problem, "weight_floor_gamma", None)
    if gamma is None or settings.rule != "gcv":
        return choice
    other = choose(evaluate, replace(settings, gamma=gamma), sigma, source, **kwargs)
    record_gamma(other, replace(settings, gamma=gamma))
    if other.lam > choice.lam:
        other.details["lam_small_gamma_weight"] = f"{choice.lam:.6g}"
        return other
    choice.details["lam_floor_gamma_weight"] = f"{other.lam:.6g}"
    return choice


# problem.lam_gcv_gamma_small's frames (pixels a side, the largest): up to 16, where the frame-split walk (an estimate
# of the image's own error, which corrects GCV's weight on larger frames) does not run (superres_cv.SPLIT_MIN_FRAME);
# from 13: on 16 seen sets gamma 1.5 gained on 8 of 10 with 14-16 px frames (+0.17 to +0.57 dB) and lost on 5 of 6
# with 10-12 px ones (-0.03 to -0.37; a misregistered page +1.58), where the fit is mostly misregistration
# (docs/superres.md, "(srsmallw)")
SMALL_GAMMA_FRAMES = (13, 16)


# colour frames: the weight is chosen on their luminance (problem.channels), and so is the noise estimated; a
# channel's own noise is larger (1/0.668 = 1.50x for noise independent in each channel, Rec. 601's weights). newuser19:
# RGB frames with 1% noise in each channel (2.55 of 255) were told "the frames' noise is at most about 1.793"
LUMINANCE_NOISE = "' luminance, which the weight is chosen on (one channel's own noise is larger: 1.5x where each " \
    "channel's is independent)"


def frames_noise(model, settings) -> tuple[float, str]:
    if settings.noise is not None:
        return settings.noise, "given"
    # once per frames (each search again asks): 0.26 CPU-s on 16 frames of 128^2 (a 256^2 run), 10x the block
    # percentile's (docs/superres.md, "noiseest")
    frames = model.frames
    cached = getattr(model, "_noise_estimate", None)  # (the frames tensor itself, its version, the estimate)
    if cached is None or cached[0] is not frames or cached[1] != frames._version:
        cached = model._noise_estimate = (frames, frames._version, noise_std_images(frames))
    return cached[2], "estimated: weak-texture patches of the frames"


# Largest image (fine pixels) whose weight search factors A_d^T A_d + lam^2 h_f L^T L, one factor per weight
# (64^2: 0.8 s CPU a factor on one thread); beyond it PCG. Larger than the solvers' CHOLESKY_MAX_PIXELS: the
# search solves at ten weights down to 1e-3, where A_d^T A_d is nearly singular and PCG takes ~1000 iterations
# (24^2 from 8 frames at lam = 0.003: 1116 to a relative residual of 1e-12, 3.3 s CPU against 0.08 s with the
# factor, the same RSS and trace to 11 digits). 48^2, not 64^2: at 64^2 each weight forms and factors dense 4096^2
# matrices (134 MB each, page faults, 4-8 s of system time a run) and PCG from its warm starts was 2.2-2.3x cheaper on
# the four 64^2 sets measured (burst grey / RGB 16 frames, hubble 8, coffee 16: 29.8 -> 10.6 CPU-s, 17.7 -> 8.4, 29.0 ->
# 13.0, 32.2 -> 13.6), the same weight on three (hubble's within the trace's probes' spread), PSNR the same or
# higher (hubble +0.06 dB); at 40^2-48^2 where
# GCV falls low (the GML floor binding: retina 48^2 / 16, immunohistochemistry 40^2 / 16) PCG at small weights took
# 1.5-2x the factor's CPU. The marginal likelihood's log det beyond the factor: Lanczos quadrature (SLQ_* below).
# docs/superres.md, "Thirteenth round (srlarge)".
WEIGHT_CHOLESKY_MAX_PIXELS = 2304

# The marginal likelihood's log det(A_d^T A_d + lam^2 h_f L^T L) beyond the factor: stochastic Lanczos quadrature on
# the preconditioned matrix E^T (.) E (M^-1 = E E^T, the model's cosine-basis preconditioner at lam, whose log det is
# exact), SLQ_PROBES Rademacher probes drawn once from SLQ_SEED (the same at every weight and motion: common random
# numbers, so the curve over lam is smooth), Lanczos to SLQ_TOL log det units per pixel or SLQ_STEPS steps. Two probes
# suffice: the floor compares log det / m between weights, and at 256^2 from 16 frames (burst phantom, true motion)
# 2 probes to 1e-4 gave the changes over lam = 0.4, 0.57, 0.8 within 0.02% of 8 probes' to 1e-5 (22461 / 24787
# against 22456 / 24788; 5 log det units are 2e-5 of the criterion, whose changes there are ~0.3), at 0.46 CPU-s a
# log det against 3.3 (15 and 20 Lanczos steps; docs/superres.md, "Thirteenth round (srlarge)").
SLQ_PROBES = 2
SLQ_STEPS = 60
SLQ_TOL = 1e-4
SLQ_SEED = 20261205


# The PCG path's bar for the trace's probes, in multiples of problem.lam_cg_rtol (the image's). The rule's value
# reads the probes only through the trace, which a looser solve barely moves: at 256^2 from 16 frames (motorcycle
# RGB, the pre-registered motion) 10x looser moved every trace of the search by at most 1.2 of 48000 (2.5e-5; one
# probe's own spread is ~1%) and GCV's values by at most 1.6e-5 relative, a twelfth of the smallest difference
# between two of its points there (0.250416 / 0.250616), for 354 probe PCG iterations instead of 553; 100x moved
# them by 2e-4 relative, as much as that difference, and is not used. The image keeps lam_cg_rtol: the misfit
# reads its solve's error directly (at that bar from another start it moved by 1e-3 relative: warm_start), see
# docs/superres.md, "Fifteenth round (srcolour)".
PROBE_RTOL_FACTOR = 10.0

# The PCG path's first, looser bar for the probes' block (multiples of problem.lam_cg_rtol), and the share above the
# lowest rule value solved so far by which a weight's value read at that bar must lie to be kept (GCV only): such
# a weight is no candidate for the minimum, and its value only has to stay above the points the search compares
# it with. Otherwise the block goes on from that answer to PROBE_RTOL_FACTOR's bar. See docs/superres.md,
# "Eighteenth round (srfast4)".
PROBE_LOOSE_FACTOR = 1000.0
PROBE_LOOSE_MARGIN = 0.02


class ImageSolve:
    """f(lam) at a fixed motion and the frames' prediction A_d f, as functions of the frames (for the trace)."""

    def __init__(self, model, w: torch.Tensor, cg_iters: int, cg_rtol: float):
        self.model, self.w = model, w.detach()
        model.reference_weight(self.w)  # problem.gain_anchor=mean: the weight searched here is the image's here
        self.cholesky = model.n <= WEIGHT_CHOLESKY_MAX_PIXELS
        # the dense operator (and the trace by AD) up to the solvers' CHOLESKY_MAX_PIXELS: unchanged there
        self.dense = model.n <= CHOLESKY_MAX_PIXELS
        model.set_weight(0.0)
        if self.dense:
            self.data_gram = model.normal_matrix(self.w)  # A_d^T A_d
            self.reg_gram = model.regulariser_gram()
            self.op = model.dense_operator(self.w)
        else:  # A_d (zero regulariser rows at weight 0), the merged stencil: many products at one w
            self.op = model.operator(self.w, fixed=True, many=True)  # hundreds of products: the Gram matrix now
            if self.cholesky:  # both Gram matrices from sparse products (n x n memory, no n^3 product)
                self.data_gram = model.normal_matrix(self.w)
                self.reg_gram = model.regulariser_gram()
        self.cg_iters, self.cg_rtol = cg_iters, cg_rtol
        self.x0 = model.initial_image()
        self.z0 = None  # PCG: the probes' images at the last weight (warm start of the next)
        self.solved_probes: dict[float, torch.Tensor] = {}  # PCG: the probes' images by weight (warm_start)
        self.accurate = False  # PCG: the bar relative to the warm start's residual (quasi-optimality's climb)
        self._adjoints: list[tuple[torch.Tensor, int, torch.Tensor]] = []  # (frames, mask version, A_d^T frames)

    def _pad(self, frames_flat: torch.Tensor) -> torch.Tensor:
        zeros = torch.zeros(*frames_flat.shape[:-1], self.model.n_reg, dtype=frames_flat.dtype,
                            device=frames_flat.device)
        return torch.cat((self.model.sqrt_hd * frames_flat, zeros), -1)

    def adjoint(self, frames_flat: torch.Tensor) -> torch.Tensor:
        """A_d^T frames (the normal equations' right-hand side), kept for each input and data mask: every weight
        asks again for the frames' and the same probes' (256^2 from 16 frames: a gather-and-scatter product of
        ~25 ms each, two a weight), and A_d does not depend on the weight. The same operation on the same input,
        so the same bits; checked by content (torch.equal), as the probes' block is stacked anew each time. Not
        for an input that autograd or torch.func tracks (the dense path's trace by forward mode, a test's jvp):
        torch.equal compares values only, and the kept answer would carry another input's tangent."""
        if frames_flat.requires_grad or torch._C._functorch.is_functorch_wrapped_tensor(frames_flat) or \
                forward_ad.unpack_dual(frames_flat).tangent is not None:
            return self.op.rmatvec(self._pad(frames_flat))
        version = self.model._mask_version
        for x, v, out in self._adjoints:
            if v == version and x.shape == frames_flat.shape and torch.equal(x, frames_flat):
                return out
        out = self.op.rmatvec(self._pad(frames_flat))
        self._adjoints = [a for a in self._adjoints if a[1] == version][-1:] + [(frames_flat, version, out)]
        return out

    def regulariser_normal(self, f: torch.Tensor) -> torch.Tensor:
        """h_f L^T L f, matrix-free (batched over leading dimensions): regulariser_gram's product."""
        m = self.model
        n1, n2 = m.fine.m
        h1, h2 = m.fine.h
        img = f.unflatten(-1, (n1, n2))
        out = diff_adjoint(diff(img, -2, h1), -2, h1) + diff_adjoint(diff(img, -1, h2), -1, h2)
        return m.sqrt_hf**2 * out.flatten(-2)

    def factor(self, lam: float) -> torch.Tensor:
        """Cholesky factor of A_d^T A_d + lam^2 h_f L^T L, formed and factored in one n x n buffer kept across
        weights: a fresh n x n sum per weight cost about a third of a factor's CPU at 48^2 (page faults of the
        new allocation; docs/superres.md, "Cost")."""
        if getattr(self, "_buffer", None) is None:
            self._buffer = torch.empty_like(self.data_gram)
        torch.add(self.data_gram, self.reg_gram, alpha=lam**2, out=self._buffer)
        factor, info = torch.linalg.cholesky_ex(self._buffer, out=(self._buffer, torch.empty(
            (), dtype=torch.int32, device=self._buffer.device)))
        if int(info) != 0:
            raise torch.linalg.LinAlgError(f"A_d^T A_d + lam^2 h_f L^T L is not positive definite at lam={lam:g}")
        return factor

    def factor_at(self, lam: float) -> torch.Tensor:
        """The Cholesky factor at lam, kept for the weight last solved (normal_solver)."""
        if getattr(self, "_factor_lam", None) != lam:
            self._factor, self._factor_lam = self.factor(lam), lam
        return self._factor

    def normal_solver(self, lam: float):
        """rhs -> (A_d^T A_d + lam^2 h_f L^T L)^-1 rhs at weight lam (batched over leading dimensions with the
        factor; PCG: from `start`, or from the last weight's image for one right-hand side, its probes' for a
        block)."""
        m = self.model
        if self.cholesky:
            factor = self.factor_at(lam)  # one factor a weight, kept for change() and the log-determinant at it

            def solve(rhs, start=None, bar=None):  # columns in the leading dimensions
                if rhs.dim() == 1:
                    return torch.cholesky_solve(rhs[:, None], factor)[:, 0]
                return torch.cholesky_solve(rhs.reshape(-1, rhs.shape[-1]).T, factor).T.reshape(rhs.shape)

            return solve
        m.set_weight(lam)
        precond = m.preconditioner()  # at this weight
        m.set_weight(0.0)
        normal = self.normal_at(lam)

        def solve(rhs, start=None, bar=None):
            if start is None and rhs.dim() > 1 and not self.accurate:  # the climb keeps its starts (its bar is
                start = self.warm_start(lam)  # relative to them), the image its own: see warm_start
            if start is None:
                start = self.x0 if rhs.dim() == 1 else self.z0
            ref = None
            if self.accurate and start is not None:
                # the bar relative to the warm start's own residual: relative to ||rhs|| a warm start from a
                # nearby weight already meets 1e-5 below ~0.03 and is returned unsolved (ellipses 128^2 0.3%: the
                # same misfit at five weights), so the image's change over lam would be the solver's noise
                ref = (rhs - normal(start.expand_as(rhs))).norm(dim=-1, keepdim=True)
            # the probes' block (more than one dimension) to a bar PROBE_RTOL_FACTOR looser, but in the climb
            if bar is None:
                bar = PROBE_RTOL_FACTOR if rhs.dim() > 1 and not self.accurate else 1.0
            return pcg(normal, rhs, precond, start, self.cg_iters, self.cg_rtol * bar, ref=ref).x

        return solve

    def warm_start(self, lam: float) -> torch.Tensor | None:
        """PCG's start at lam for the probes' block, from their images at the weights solved to the search's bar:
        between the nearest solved below and above, linear in log lam; else the nearest. The search's
        golden-section steps land between weights it solved, not next to the last one (at 256^2 from 16 frames the
        last solved lay 1.6-2.6x away where a neighbour lay 1.2x away): from the last weight the four golden steps'
        probe solves took 274 PCG iterations, from this start 188, the trace the same to 6 digits. The image keeps
        the last weight's image: from this start its solves took 22 iterations instead of 63, but stopped at the
        bar with the misfit 1e-3 higher (33272 against 33238 at lam 0.11), as much as GCV's two lowest points differ
        there (docs/superres.md, "Fifteenth round (srcolour)")."""
        done = self.solved_probes
        if not done:
            return None
        x = math.log(lam)
        below = [k for k in done if k < lam]
        above = [k for k in done if k > lam]
        if below and above:
            a, b = max(below), min(above)
            return torch.lerp(done[a], done[b], (x - math.log(a)) / (math.log(b) - math.log(a)))
        return done[min(done, key=lambda k: abs(math.log(k) - x))]

    def normal_at(self, lam: float):
        """f -> (A_d^T A_d + lam^2 h_f L^T L) f, matrix-free (the PCG path's operator; batched over leading
        dimensions). The fixed operator's own normal product at weight lam (the same stencil and Gram matrix as
        self.op's, its regulariser by two in-place difference updates): the product at weight 0 plus
        regulariser_normal's (four new tensors) was 0.6 ms more a product at 256^2, ~1000 products a search
        (docs/superres.md, "Colour 256^2 with a margin (srspeed3)")."""
        if not self.dense:
            m = self.model
            m.set_weight(lam)
            normal = m.operator(self.w, fixed=True).normal()
            m.set_weight(0.0)
            return normal
        data_normal = self.op.normal()

        def normal(f):
            return data_normal(f) + lam**2 * self.regulariser_normal(f)

        return normal

    def logdet_normal(self, lam: float) -> float:
        """log det(A_d^T A_d + lam^2 h_f L^T L): from the weight's Cholesky factor (exact), else by stochastic
        Lanczos quadrature on E^T (A_d^T A_d + lam^2 h_f L^T L) E, E the preconditioner's factor at lam
        (log det = log det(E^T . E) - log det(E E^T); regrun.linalg.slq)."""
        if self.cholesky:
            return 2 * float(torch.log(torch.diagonal(self.factor_at(lam))).sum())
        m = self.model
        m.set_weight(lam)
        half = m.preconditioner_factor()
        m.set_weight(0.0)
        if getattr(self, "slq_probes", None) is None:
            gen = torch.Generator().manual_seed(SLQ_SEED)
            self.slq_probes = rademacher(SLQ_PROBES, (m.n,), gen, self.x0.dtype, self.x0.device)
        normal = self.normal_at(lam)
        res = lanczos_logdet(lambda x: half.half_adjoint(normal(half.half(x))), self.slq_probes, SLQ_STEPS, SLQ_TOL)
        self.slq_steps = getattr(self, "slq_steps", 0) + res.steps
        return res.logdet - half.logdet_inverse()

    def marginal_logdet(self, lam: float) -> float:
        """Fit.logdet: log det+(I - H) up to a constant in lam, (n - 1) log lam^2 - log det(A_d^T A_d + lam^2 R):
        det+(I - H) = det+(lam^2 R) / det(A^T A + lam^2 R) up to constants; R's null space the constant images."""
        return (self.model.n - 1) * math.log(lam**2) - self.logdet_normal(lam)

    def prediction(self, lam: float, bar: float | None = None, start: torch.Tensor | None = None):
        """frames -> (A_d f(frames) / sqrt(h_d) (frame units), f) at weight lam; linear in the frames, batched
        over leading dimensions with PCG (bar: its bar in multiples of the image's, start: its start; None:
        normal_solver's)."""
        m = self.model
        normal_solve = self.normal_solver(lam)
        self.lam_solving = lam  # the weight trace() stores the probes' images under

        def predict(frames_flat):
            f = normal_solve(self.adjoint(frames_flat), start=start, bar=bar)
            return self.op.matvec(f)[..., : m.n_data] / m.sqrt_hd, f

        return predict

    def change(self, lam: float, f: torch.Tensor) -> float:
        """||lam df/dlam|| at weight lam for the image f = f(lam): differentiating (A_d^T A_d + lam^2 R) f = A_d^T b
        gives lam df/dlam = -2 lam^2 (A_d^T A_d + lam^2 R)^-1 R f (R = h_f L^T L): one more solve with the
        weight's factor or PCG (warm-started from the last weight's answer)."""
        g = self.normal_solver(lam)(self.regulariser_normal(f), start=getattr(self, "g0", None))
        if not self.cholesky:
            self.g0 = g.detach()
        return float(2 * lam**2 * g.norm())

    def trace(self, predict, d: torch.Tensor, probes) -> float:
        """Hutchinson's tr d(A_d f)/d(frames) over the probes: the probes' own predictions (the map is linear in
        the frames, so d(A_d f)[z] = A_d f(z)), as one block (PCG: warm-started from the last weight's). On the
        dense path too: forward-mode AD through the solve there gave the same trace (to rounding) at 70% of
        `auto`'s CPU at 32^2 (clock 32^2/8: 121 of 173 profiled s in 136 jvps; docs/superres.md, "Thirteenth
        round (srsmall)")."""
        total = 0.0
        block = torch.stack(list(probes))
        tangents, images = predict(block)
        self.z0 = images.detach()
        if not self.accurate:
            self.solved_probes[self.lam_solving] = self.z0
        for z, tangent in zip(block, tangents):
            total += float((z * tangent).sum())
        return total / len(probes)


def frame_data(model) -> tuple[torch.Tensor, int]:
    """The frames as data (pixels that are no data, problem.outside=drop, set to 0: their rows of A are 0 too,
    so they add nothing to the misfit nor to the trace) and the number of pixels that are data."""
    mask = model.data_mask()
    return (model.frames * mask).reshape(-1), int(mask.sum())


def channel_misfit(solve: ImageSolve, lam: float, f: torch.Tensor, joint: torch.Tensor) -> tuple[float, float]:
    """(misfit, misfit + lam^2 h_f ||L f||^2 over h_d) of the channels' frames `joint` (channels, data: each as
    frame_data) at lam, each the mean over the channels: GCV and the marginal likelihood of the channels stacked
    (the operator and so the trace are the same for each) read with the luminance's m and trace. One more block
    solve a weight, to the image's bar from the luminance's image."""
    preds, images = solve.prediction(lam, bar=1.0, start=f.detach().expand(joint.shape[0], -1).clone())(joint)
    rss = float((preds - joint).pow(2).sum()) / joint.shape[0]
    reg = float((images * solve.regulariser_normal(images)).sum()) / joint.shape[0]
    return rss, rss + lam**2 * reg / float(solve.model.sqrt_hd) ** 2


def evaluate_at(model, solve: ImageSolve, probes, lam: float, decided=None, joint=None) -> Fit:
    """The image and the rule's inputs at lam. decided(rss, m, trace) -> bool (PCG path, the search's own bar):
    whether the rule's value read with the probes solved to PROBE_LOOSE_FACTOR's bar lies far enough above the
    lowest solved so far; if not, the probes' block goes on from there to the search's bar. joint: the colour
    channels' frames (SuperRes.weight_channels), whose misfit the rule reads instead of the luminance's
    (channel_misfit); the image (the climb's change, the warm starts) stays the luminance's."""
    d, m = frame_data(model)
    predict = solve.prediction(lam)
    if solve.cholesky and probes is not None:
        # the frames and the probes as one block: one pass over the factor for all right-hand sides
        preds, images = predict(torch.stack((d, *probes)))
        pred, f = preds[0], images[0]
        trace = sum(float((z * t).sum()) for z, t in zip(probes, preds[1:])) / len(probes)
        misfit = channel_misfit(solve, lam, f, joint) if joint is not None else None
    else:
        pred, f = predict(d)
        misfit = channel_misfit(solve, lam, f, joint) if joint is not None else None
        if probes is None:
            trace = math.nan
        elif decided is not None and not solve.accurate:
            trace = solve.trace(solve.prediction(lam, bar=PROBE_LOOSE_FACTOR), d, probes)
            rss = misfit[0] if misfit is not None else float((pred - d).pow(2).sum())
            if not decided(rss, m, trace):
                trace = solve.trace(solve.prediction(lam, start=solve.z0), d, probes)
        else:
            trace = solve.trace(predict, d, probes)
    if not solve.cholesky:
        solve.x0 = f.detach()  # warm start of the next weight's CG
    fit = Fit(rss=float((pred - d).pow(2).sum()), m=m, state=f.detach(),
              units=(pred - d).reshape(model.frames.shape).pow(2).sum((-2, -1)).detach())
    if probes is not None:
        fit.trace = trace
    # the marginal likelihood's inputs (parameter_choice.marginal_floor). frame units: the solve minimises
    # h_d ||A f - d||^2 + lam^2 h_f ||L f||^2; regulariser_normal is h_f L^T L
    fit.energy = fit.rss + lam**2 * float((f * solve.regulariser_normal(f)).sum()) / float(solve.model.sqrt_hd) ** 2
    if misfit is not None:
        fit.rss, fit.energy = misfit
    fit.null = 1
    if solve.cholesky:  # from the weight's factor, at hand now
        fit.logdet = solve.marginal_logdet(lam)
    else:  # by Lanczos quadrature (as dear as a few solves), only where the floor reads it
        fit.logdet_at = lambda: solve.marginal_logdet(lam)
    return fit


class Evaluator:
    """evaluate(lam) -> Fit at one motion, each weight solved once: the search at the final motion often visits
    the weight in use, and recheck asks for the chosen weight again (2 of 20 image solves at 48^2). value(fit):
    the rule's value (GCV's, on the PCG path: the probes' first bar, PROBE_LOOSE_FACTOR), else None."""

    def __init__(self, model, solve: ImageSolve, probes, value: Callable[[Fit], float] | None = None,
                 joint: torch.Tensor | None = None):
        self.model, self.solve, self.probes, self.value, self.joint = model, solve, probes, value, joint
        self.fits: dict[float, Fit] = {}
        # the climb's start weight and its Fit as the search solved it, before change() solved it again
        self.first_solve: tuple[float, Fit | None] = (math.nan, None)

    @property
    def solves(self) -> int:
        return len(self.fits)

    def __call__(self, lam: float) -> Fit:
        """The image and the rule's inputs at lam: where the image alone was solved (`image`, the climb), the
        trace's probes only."""
        lam = float(lam)
        fit = self.fits.get(lam)
        if fit is None:
            fit = self.fits[lam] = evaluate_at(self.model, self.solve, self.probes, lam,
                                               self.decided if self.value is not None else None, self.joint)
        elif self.probes is not None and math.isnan(fit.trace):
            # a climbed weight's trace (the chosen one's): to the search's own bar and from its probes' images at
            # the weights around it, as every trace on the curve was solved (from the climb's last weight, to
            # the bar relative to that start, it took 66 PCG iterations at 256^2 from 16 frames; 18 so)
            accurate, self.solve.accurate = self.solve.accurate, False
            try:
                fit.trace = self.solve.trace(self.solve.prediction(lam), frame_data(self.model)[0], self.probes)
            finally:
                self.solve.accurate = accurate
        return fit

    def decided(self, rss: float, m: int, trace: float) -> bool:
        """Whether the rule's value from (rss, trace) lies more than PROBE_LOOSE_MARGIN above the lowest value
        solved so far (not a candidate for the minimum)."""
        values = [self.value(f) for f in self.fits.values() if math.isfinite(f.trace)]
        lowest = min((v for v in values if math.isfinite(v)), default=math.nan)
        return lowest > 0 and self.value(Fit(rss=rss, m=m, trace=trace)) > lowest * (1 + PROBE_LOOSE_MARGIN)

    def image(self, lam: float) -> Fit:
        """The image alone at lam (no trace: the climb reads only its change; choose(image=...))."""
        lam = float(lam)
        if lam not in self.fits:
            self.fits[lam] = evaluate_at(self.model, self.solve, None, lam, joint=self.joint)
        return self.fits[lam]

    def change(self, lam: float) -> float:
        """||lam df/dlam|| at lam (quasi-optimality; one more solve, once per weight). From the first call on (the
        climb above the rule's minimum) the PCG path solves to its bar relative to the warm start's residual, and
        the weight it starts from is solved again so (the search's curve keeps its first solve): the climb
        compares like with like."""
        if not self.solve.cholesky and not self.solve.accurate:
            self.solve.accurate = True
            # the image again, not the probes: the climb compares images, and the rule's value here is known
            known = self.fits.get(float(lam))
            fit = evaluate_at(self.model, self.solve, None, float(lam), joint=self.joint)
            if known is not None:
                fit.trace = known.trace
            self.fits[float(lam)] = fit
            self.first_solve = (float(lam), known)
        fit = self.image(lam)
        if math.isnan(fit.change):
            fit.change = self.solve.change(float(lam), fit.state)
        start, first = self.first_solve
        if start == float(lam) and first is not None:  # the search's curve holds that first Fit
            first.change = fit.change
        return fit.change


def weight_evaluator(problem, w: torch.Tensor, settings, generator: torch.Generator):
    """(evaluate(lam) -> Fit at motion w, sigma, noise source): one image-solve setup (Gram matrix, probes)
    shared by a search and any further weight evaluated at the same motion. The trace's probes: problem.lam_probes
    with the Cholesky factor (they cost triangular solves), problem.lam_probes_cg with PCG (each probe a solve
    as dear as the image's, and the trace of more data varies less: docs/superres.md, "Eighth round")."""
    model = problem.model
    sigma, source = frames_noise(model, settings)
    if getattr(problem, "colour", None) is not None and not source.startswith("given"):
        source += LUMINANCE_NOISE
    solve = ImageSolve(model, w, problem.final_iters, problem.lam_rtol)
    d = model.frames.reshape(-1)
    count = settings.probes if solve.cholesky else problem.lam_probes_cg
    probes = rademacher(count, d.shape, generator, d.dtype, d.device) if settings.needs_trace else None
    value = None
    if settings.rule == "gcv" and not solve.cholesky and PROBE_LOOSE_FACTOR > PROBE_RTOL_FACTOR:
        def value(fit: Fit) -> float:
            return criterion(settings.rule, fit, sigma, settings.tau, settings.gamma)
    channels = getattr(problem, "weight_channels", None)
    joint = channels() if channels is not None else None
    return Evaluator(model, solve, probes, value, joint), sigma, source


def _solved(bar):
    """choose()'s progress hook as a step of a phase's progress (None: no progress shown)."""
    return None if bar is None else (lambda lam, value: bar.update(1, lam=lam))


# Frames of at most this many pixels a side keep the rule's own minimum (problem.lam_quasi_optimal applies above):
# the paper's presets and the CI pairs keep their numbers, and on the curves of 20^2-32^2 sets measured the step up
# to quasi-optimality's minimum was no better (0 to -0.27 dB at the final motion: docs/superres.md, "Eleventh
# round"). The same size as the pre-registration's global start (superres_model.PYRAMID_MIN).
QUASI_OPTIMAL_MIN_FRAME = 32
# problem.lam_quasi_optimal_small (opt-in): the climb also on frames over this many pixels a side. Held-out FK's cell
# 48^2/16 0.5% (24 px frames): GCV's minimum 0.0879 (47.28 dB) against quasi-optimality's first minimum above it at
# 0.2, the PSNR's peak (51.27); the frames of 17-32 px also get the split walk (superres_cv.SPLIT_MIN_FRAME), from
# the climbed weight; opt-in: seen moons and a stained slide lost 0.36-0.63 dB (docs/superres.md, "The three misses
# of held-out FK (srfk)").
QUASI_OPTIMAL_SMALL_MIN_FRAME = 16


def quasi_optimal(problem, evaluate: "Evaluator", bar=None):
    """choose()'s `change` (the image's change per unit log lambda) when the weight goes up from the rule's minimum
    to quasi-optimality's (problem.lam_quasi_optimal, frames over QUASI_OPTIMAL_MIN_FRAME a side, or over
    QUASI_OPTIMAL_SMALL_MIN_FRAME with problem.lam_quasi_optimal_small), else None.
    The climb's length is not known in advance and lies beyond the search's cap: at its first step the progress
    bar turns open-ended (no total, no ETA) rather than show a cap and an ETA the climb overruns."""
    limit = QUASI_OPTIMAL_SMALL_MIN_FRAME if problem.weight_quasi_optimal_small else QUASI_OPTIMAL_MIN_FRAME
    on = problem.weight_quasi_optimal and min(problem.model.coarse.m) > limit
    return _climb(evaluate, bar) if on else None


def _climb(evaluate: "Evaluator", bar=None):
    """evaluate.change, turning the progress bar open-ended at the climb's first step."""
    if bar is None:
        return evaluate.change
    started = []

    def change(lam: float) -> float:
        if not started:
            started.append(True)
            bar.open_ended("up to quasi-optimality's minimum")
        return evaluate.change(lam)

    return change


# Frames of at most this many pixels a side: the climb is not gated (problem.lam_quasi_optimal_below_noise acts
# above). There only a binding marginal-likelihood floor climbs, and at the pre-registered motion the fit's misfit is
# mostly misregistration (the motion then moves 4-6 fine px): the gate read it as a fit at the noise's level
# (6-15x) and kept the floor, which the search again at the final motion then took lower. Measured (docs/superres.md,
# "Twentieth round (srspec)"): on 8 smooth photo crops at 20^2-32^2 (clock, moon, retina; 0.5-1%) ungated +1.09 dB
# summed, +0.24 to +0.33 on the 4 the gate acted on, no loss; the gate acted on none of 27 seen sets of batches E, G,
# H and I at 20^2-32^2 (no answer changed). The gate was chosen on frames of 24-64 px (srgate), which this keeps.
CLIMB_GATE_MIN_FRAME = 16


def climb_gated(problem) -> bool:
    """choose()'s climb_below_noise: problem.lam_quasi_optimal_below_noise, on frames over CLIMB_GATE_MIN_FRAME."""
    return problem.weight_climb_below_noise and min(problem.model.coarse.m) > CLIMB_GATE_MIN_FRAME


def climb_level(problem, settings) -> float | None:
    """choose()'s climb_sigma: the noise level the gate compares the fit with. Given (problem.lam_noise): that.
    Estimated: the block percentile of Immerkaer's responses (parameter_choice.noise_std_blocks), not the frames'
    noise estimate (noise_std_images): the gate's margin CLIMB_SKIP_RATIO was chosen with it (srgate), and with the
    nearer estimate the gate skips climbs that seen sets need: handwriting 96^2 / 16 1% -0.35 dB, logo2 96^2 / 8
    -0.11, for +0.25 / +0.20 on lineart / grace_hopper 128^2 / 8, and no margin separates them (fit/noise at the
    climb's start 3.27 on logo2, which needs the climb, 2.62 on lineart, which gains by the skip; docs/superres.md,
    "noiseest"). None where the gate is off."""
    if not climb_gated(problem):
        return None
    return settings.noise if settings.noise is not None else noise_std_blocks(problem.model.frames)


def floor_climb(problem, evaluate: "Evaluator", bar=None):
    """choose()'s `floor_change`: the climb to quasi-optimality from the marginal likelihood's floor where it binds
    (parameter_choice.marginal_floor), at every frame size (problem.lam_quasi_optimal): that floor lies under the
    image's best weight (0.3-0.7x the PSNR's peak on batch E's ruined sets), where GCV's own minimum on frames of
    32 px and less did not need the climb (docs/superres.md, "Twelfth round (srheldE)")."""
    return _climb(evaluate, bar) if problem.weight_quasi_optimal else None


def choose_superres_weight(problem, w: torch.Tensor, settings, generator: torch.Generator, bar=None,
                           stop=None) -> Choice:
    """stop: the run's time limit (RunContext.out_of_time), which ends the search with what it has."""
    evaluate, sigma, source = weight_evaluator(problem, w, settings, generator)
    choice = search_weight(problem, evaluate, settings, sigma, source, progress=_solved(bar),
                           lazy=not evaluate.solve.cholesky, change=quasi_optimal(problem, evaluate, bar),
                           image=evaluate.image, floor_change=floor_climb(problem, evaluate, bar), stop=stop,
                           climb_below_noise=climb_gated(problem), climb_sigma=climb_level(problem, settings))
    problem.weight_image_solves = evaluate.solves
    record_gamma(choice, settings)
    record_fit_noise(choice, evaluate)
    problem.model.set_weight(choice.lam)
    return choice


def record_gamma(choice: Choice, settings: ChoiceSettings) -> None:
    """The gamma the choice was searched with (kept where search_weight already recorded its own)."""
    if settings.rule == "gcv":
        choice.details.setdefault("lam_gcv_gamma", f"{settings.gamma:g}")


def record_fit_noise(choice: Choice, evaluate: Evaluator) -> None:
    """The frames' noise level as the fit at the chosen weight reads it, beside the filter's sigma (frames_noise):
    Wahba's residual estimate sigma_fit^2 = ||r||^2 / (m - tr H), r the frames' residual, m the data, tr H the
    search's own Hutchinson trace (its probes, no solve more). Recorded in /stats (noise_std_fit, noise_fit_trace,
    noise_fit_data), read by nothing that decides: the filter reads sharp drawings' edges as noise (5.5-17x the
    added noise on graphic sets, docs/superres.md "srgate"), the fit reads what the model cannot fit as noise
    (docs/superres.md, "The noise level from the fit (srnoisefit)"); a ratio far from 1 says which one to doubt."""
    fit = evaluate.fits.get(float(choice.lam))
    if fit is None or not math.isfinite(fit.trace) or fit.m - fit.trace <= 0:
        return  # no trace at the weight (a rule that reads none, a search cut short before it): nothing to record
    sigma = math.sqrt(fit.rss / (fit.m - fit.trace))
    choice.details.update(noise_std_fit=f"{sigma:.6g}", noise_fit_trace=f"{fit.trace:.6g}", noise_fit_data=str(fit.m))
    residual = residual_noise(evaluate, fit)
    if residual is not None:
        choice.details["noise_std_residual"] = f"{residual:.6g}"
        if not choice.noise_source.startswith("given"):
            # the frames' noise as best read here: the smaller of the filter's and the residual's, each of which
            # only adds (scene detail, model error); deciding nothing (docs/superres.md, "(srnoise)")
            choice.details["noise_std_frames"] = f"{min(choice.sigma, residual):.6g}"


def residual_noise(evaluate: Evaluator, fit) -> float | None:
    """The frames' noise level from the fit's residual frames at the chosen weight, read by the weak-texture
    patches (noise_std_images) where Wahba's estimate (record_fit_noise) pools every pixel: what the model cannot fit
    (a photo's sharpest detail, aliased texture) sits in some parts of the frames, the noise in all, so the quietest
    patches of the residual carry the noise alone. The residual of white noise is (I - H) n, whose variance per
    datum is about sigma^2 (1 - tr H / m) (Wahba's own reading): divided by that. Frame pixels that are no data
    (problem.outside=drop: their residual is 0) are left out of the patches. None without the image or the trace."""
    model = evaluate.model
    if fit.state is None or not fit.m > fit.trace:
        return None
    d, _ = frame_data(model)
    pred = evaluate.solve.op.matvec(fit.state)[..., : model.n_data] / model.sqrt_hd
    residual = (pred - d).reshape(model.frames.shape)
    valid = model.data_mask().expand(model.frames.shape) > 0
    return noise_std_images(residual, valid) / math.sqrt(1.0 - fit.trace / fit.m)


def fit_noise_note(choice: Choice, jpeg: bool = False) -> str:
    """The summary line's words for record_fit_noise's estimate, beside the filter's, and what the two are worth:
    each only adds to the noise (the filter reads scene detail, the fit what the model cannot fit), so the smaller
    is an upper bound. Measured (docs/superres.md, "srnoise2"): on 74 frame sets with the noise drawn known, the
    smaller was never below 0.91x the noise drawn, and 1-134x above it (textures, drawings, small crops at low
    noise); a user's frames give no way to tell how far above."""
    if "noise_std_fit" not in choice.details:
        return ""
    fit = float(choice.details["noise_std_fit"])
    ratio = f" (the frames' estimate {choice.sigma / fit:.3g}x it)" if fit > 0 else ""
    note = f"; noise sigma from the fit's residual at lam={choice.lam:.4g}: {fit:.4g}{ratio}"
    if choice.noise_source.startswith("given"):
        return note
    whose = "the luminance's" if "luminance" in choice.noise_source else "the frames'"
    if jpeg:
        # JPEG's quantisation smooths the noise out of flat blocks, where the filter reads it: on newuser21's RGB
        # burst at quality 95 the filter read 0.305 against the 1.70 drawn (0.18x), and "at most about 0.305" was
        # false; the 74 sets that bound rests on were lossless
        return (note + f"; on JPEG frames neither bounds {whose} noise: the compression smooths it out of flat "
                "patches, where the filter reads it, so the camera's noise may be several times larger")
    return (note + f"; both read scene detail or model error as noise, so {whose} noise is at most about "
            f"{min(fit, choice.sigma):.4g} (how far below, the frames cannot tell)")


@dataclass(frozen=True)
class Carried:
    """lambda_f=from:RUN: a weight another run learned or chose, used here as a fixed weight."""

    lam: float
    path: str


def announced_solves(settings: ChoiceSettings) -> int:
    """The search's cap on its progress bar: the rule's budget (settings.solves: parameter_choice.choose's log
    grid of half of it, at least 3, then golden-section steps with the rest) and the marginal likelihood's floor's
    golden-section steps where it binds (marginal_floor: as many as the rule's). Quasi-optimality's climb, whose
    length is not known, turns the bar open-ended when it starts. The bar announced settings.solves alone: 10 on
    tif16, whose search ran 19 with an ETA that was minutes short (docs/sweeps.md, "Third new-user pass"). The
    search again at the final motion can also solve grid weights above its start that the rule's scan skipped
    (parameter_choice.grid_from_the_top's `top`): past the cap the bar says so."""
    points = max(3, settings.solves // 2)  # choose()'s split of the budget
    if settings.solves - points < 2:
        points = settings.solves
    return settings.solves + settings.solves - points


def settle_weight(problem, w0: torch.Tensor, ctx) -> Choice | Carried | None:
    """With problem.lambda_f=auto, choose the weight at the starting motion w0 and put it into the model
    (once per run); Carried for a weight from another run; None for a fixed weight."""
    if problem.lam_from is not None:
        return Carried(problem.lam, problem.lam_from)
    if problem.lam is not None:
        return None
    if problem.weight_choice is None:
        gen = ctx.generator(int(problem.cfg.lam_seed))
        settings = problem.weight_settings  # many image solves: a phase with their progress
        # a cap: the grid skips the weights below a rise (parameter_choice.grid_from_the_top)
        with ctx.phase(f"lambda_f choice ({settings.rule})", total=announced_solves(settings), upto=True) as bar:
            problem.weight_choice = choose_superres_weight(problem, w0, settings, gen, bar, ctx.out_of_time)
        problem.weight_searches = [problem.weight_choice]
        problem.weight_search_motion = w0.detach().clone()
        problem.weight_runs = 1
    return problem.weight_choice


def recheck(problem, w: torch.Tensor, ctx) -> dict[str, float]:
    """The rule at the chosen weight, re-evaluated at the final motion (to see how much the motion moved it)."""
    choice = problem.weight_choice
    if choice is None:
        return {}
    model = problem.model
    settings = problem.weight_settings
    # gain_anchor=mean: k(g) at the final motion over k where the weight was last searched (1 without gains), then
    # the weight referenced here, whichever way the rule is read below: the answer, its colour channels and the frames
    # check all at lambda exactly at the final gains. Before, only a new set-up here moved the reference, and a run
    # that read the last search's value kept lambda times this factor (0.9985-1.0060 on 12 dev sets: srgainmean2)
    drift = {"lam_gain_drift": float(model.weight_scale(w.detach()))} if model.mean_anchor else {}
    model.reference_weight(w.detach())
    last = getattr(problem, "weight_last_search", None)
    problem.weight_last_search = None  # its Gram matrices (n x n each) are let go here
    if last is not None and torch.equal(last[0], w.detach()):  # the last search's motion: its set-up, same probes
        evaluate = last[1]
        fit = evaluate(choice.lam)
    elif problem.weight_moves and problem.weight_moves[-1] <= rechoose_move(problem):
        # not searched again, as the motion moved at most lam_rechoose_move since the last search: that search's
        # own value at the weight (a set-up and a solve at the final motion, ~5 CPU-s at 256x256, for a value
        # the move cannot have changed much)
        model.set_weight(choice.lam)
        t = choice.table()
        at = np.flatnonzero(t["lam"] == choice.lam)
        # a walk (cross-validation, the frame-split risk) moved the weight off the search's curve, or onto a point
        # of it the rule never valued (the climb's probes carry no criterion): no value to report, as a NaN metric
        # marks the whole run diverged (a 128^2 run from 16 frames exited 3 with its answer fine)
        value = float(t["criterion"][at[0]]) if at.size else math.nan
        return {**drift, **({"lam_criterion_final_motion": value} if math.isfinite(value) else {})}
    else:
        evaluate, _, _ = weight_evaluator(problem, w, settings, ctx.generator(int(problem.cfg.lam_seed)))
        fit = evaluate(choice.lam)
    if evaluate.solve.cholesky:
        # the factor of the normal matrix at the final motion and weight, kept for the problem's held-out frames
        # check (superres_check), which would otherwise form the Gram matrix and factor it again (64^2: 4-5 CPU-s)
        problem.weight_final_factor = (w.detach().clone(), choice.lam, evaluate.solve.factor_at(choice.lam))
    model.set_weight(choice.lam)
    value = criterion(settings.rule, fit, choice.sigma, settings.tau, settings.gamma)
    return {**drift, "lam_criterion_final_motion": value if math.isfinite(value) else math.nan}


@dataclass(frozen=True)
class RechooseSettings:
    """problem.lam_rechoose (searches again at a solver's final motion, at most) and problem.lam_rechoose_gain
    (the share by which the rule's value must fall there, from the weight in use to the new one, for the solver
    to run again; problem.lam_rechoose_gain_with_gains with problem.gain: the gains found at the first weight
    carry the image's brightness that its smoothing took off, docs/superres.md, "srdarkgain")."""

    times: int
    gain: float
    move: float  # problem.lam_rechoose_move: fine pixels the motion must have moved for a search again
    image: bool = True  # problem.lam_rechoose_image: under the gain, the answer's image at the new weight
    after_floor_climb: bool = False  # problem.lam_rechoose_after_floor_climb: any move, after a floor's climb
    climb_after_floor_climb: bool = False  # problem.lam_rechoose_climb: the search again climbs, after a floor's climb

    @classmethod
    def from_config(cls, cfg) -> "RechooseSettings":
        # both checked whatever problem.gain is: the exposure check's second solve turns gains on mid-run
        with_gains = check_float("problem.lam_rechoose_gain_with_gains", cfg.lam_rechoose_gain_with_gains, 0.0,
                                 maximum=1.0)
        without = check_float("problem.lam_rechoose_gain", cfg.lam_rechoose_gain, 0.0, maximum=1.0)
        return cls(times=check_int("problem.lam_rechoose", cfg.lam_rechoose, 0),
                   gain=with_gains if bool(cfg.gain) else without,
                   move=check_float("problem.lam_rechoose_move", cfg.lam_rechoose_move, 0.0, maximum=1e3),
                   image=check_bool("problem.lam_rechoose_image", cfg.lam_rechoose_image),
                   after_floor_climb=check_bool("problem.lam_rechoose_after_floor_climb",
                                                cfg.lam_rechoose_after_floor_climb),
                   climb_after_floor_climb=check_bool("problem.lam_rechoose_climb", cfg.lam_rechoose_climb))


def rechoose_move(problem) -> float:
    """The fine pixels the motion must have moved for a search again at the final motion: problem.lam_rechoose_move,
    or 0 (any move) with problem.lam_rechoose_after_floor_climb where the weight in use was climbed from a binding
    marginal-likelihood floor: that climb read quasi-optimality at the pre-registered motion, where the image's
    change falls slowly on misregistered text (held-out FK's text 24^2/16 1%: 0.110 -> 0.879, 21.05 dB; searched
    again at the final motion, 0.244 px away, 0.110 and 24.74; opt-in: held-out FKH's coins 20^2/16 lost 0.67 dB,
    where the climb had been right: docs/superres.md, "(srfk)")."""
    return 0.0 if floor_climbed(problem.weight_choice) and problem.rechoose.after_floor_climb else problem.rechoose.move


def floor_climbed(choice) -> bool:
    """Whether a search's weight was climbed (quasi-optimality) from a binding marginal-likelihood floor."""
    details = getattr(choice, "details", None) or {}
    return "lam_rule_below_floor" in details and choice.lam > float(details.get("lam_rule_minimum", math.inf))


def rechoose_change(problem, evaluate: "Evaluator", bar=None):
    """The search again's `change` (choose()'s climb from the rule's minimum): quasi_optimal's, or with
    problem.lam_rechoose_climb, where the weight in use was climbed from a binding floor, the climb at any frame size
    even where no floor binds at the final motion. Why: on frames of 32 px and less only a binding floor climbs, and
    at the final motion GCV's minimum can lie flat with the floor at it (held-out FM's horse 28^2/16 1%, 14 px frames:
    0.311 by the floor's climb at the pre-registered motion, 0.0612 at the final one with GCV within 0.05% over
    0.05-0.088, 27.02 dB; quasi-optimality's minimum there 0.2, the PSNR's peak 30.04: docs/superres.md, "(srfm)")."""
    if problem.rechoose.climb_after_floor_climb and floor_climbed(problem.weight_choice):
        return floor_climb(problem, evaluate, bar)
    return quasi_optimal(problem, evaluate, bar)


def motion_move(model, w_from: torch.Tensor, w_to: torch.Tensor) -> float:
    """How far the motion moved from w_from to w_to: the largest distance, in fine pixels, by which any moved
    frame's fine point moved (gains left out)."""
    h = torch.as_tensor(model.fine.h, dtype=w_to.dtype, device=w_to.device)
    step = (model.warp_points(w_to.detach()) - model.warp_points(w_from.detach())) / h
    return float(step.norm(dim=-1).max()) if step.numel() else 0.0


def rechoose(problem, w: torch.Tensor, ctx, bar=None) -> bool:
    """lambda_f=auto, after a solve that ended at motion w: the rule's whole search again at w (same probes),
    and the rule at w for the weight in use (one more image solve). The search joins problem.weight_searches.
    When the rule's value falls by more than the share problem.rechoose.gain from the weight in use to the new
    one, the new weight becomes the one in use (problem.weight_choice, the model's weight) and True is returned:
    the solver should run again from w. Otherwise the solver does not run again, and the answer's image at w is
    solved at the new weight (problem.lam_rechoose_image, the default) or at the weight in use (false: the
    behaviour before; runs again of the solver at such weights lost 0.02-0.22 dB on the tuning split,
    docs/superres.md)."""
    used, settings = problem.weight_choice, problem.weight_settings
    evaluate, sigma, source = weight_evaluator(problem, w, settings, ctx.generator(int(problem.cfg.lam_seed)))
    new = search_weight(problem, evaluate, settings, sigma, source, progress=_solved(bar), top=used.lam,
                        lazy=not evaluate.solve.cholesky, change=rechoose_change(problem, evaluate, bar),
                        image=evaluate.image, floor_change=floor_climb(problem, evaluate, bar), stop=ctx.out_of_time,
                        climb_below_noise=climb_gated(problem), climb_sigma=climb_level(problem, settings))
    record_gamma(new, settings)
    record_fit_noise(new, evaluate)
    if floor_climbed(used):
        new.details["lam_after_floor_climb"] = "1"
    searched = evaluate.solves
    if "lam_small_gamma_weight" in new.details:  # search_weight took the second gamma's weight: the fall on its curve
        settings = replace(settings, gamma=problem.weight_floor_gamma)
    before = criterion(settings.rule, evaluate(used.lam), sigma, settings.tau, settings.gamma)
    problem.weight_image_solves += evaluate.solves
    if bar is not None and evaluate.solves > searched:  # the weight in use, solved at w (not tried by the search)
        bar.update(1)
    # the rule's value at the new weight (its minimum, or above it where quasi-optimality moved the weight up)
    after = criterion(settings.rule, evaluate(new.lam), sigma, settings.tau, settings.gamma)
    fall = (before - after) / abs(before) if before != 0 and math.isfinite(before) else math.inf
    problem.weight_searches.append(new)
    problem.weight_search_motion = w.detach().clone()
    problem.weight_falls.append(fall)
    # recheck() at the end evaluates the rule at this motion again when no second run follows: the same set-up
    # (building it is most of a search's cost at 64x64: the Gram matrices) and the same probes serve
    problem.weight_last_search = (w.detach().clone(), evaluate)
    moved = new.lam != used.lam and fall > problem.rechoose.gain
    # a fall under the gate: the solver does not run again (its motion at a new weight is what lost before), but
    # with problem.lam_rechoose_image the answer's image, solved at this final motion, takes the new weight: the
    # rule's choice at the motion the image is made at (at the pre-registered one, misregistration reads as noise
    # and over-smooths: microaneurysms 20^2 0.453 -> 0.363, +0.25 dB; docs/superres.md, "Small frames")
    problem.weight_choice = new if moved or problem.rechoose.image else used
    problem.model.set_weight(problem.weight_choice.lam)
    return moved


@dataclass
class Rounds:
    """The last solver run's output, with how many runs there were and their iterations in all."""

    last: Any
    runs: int
    n_iter: int


def solve_rounds(problem, ctx, start, monitor, run: Callable, motion: Callable[[Any], torch.Tensor],
                 n_iter: Callable[[Any], int], restart: Callable[[Any], Any],
                 objective: Callable[[Any], float] | None = None) -> Rounds:
    """run(start, monitor) -> out at the weight in use. With lambda_f=auto (problem.weight_choice a Choice), the
    weight is then searched again at the motion the run ended at, motion(out), up to problem.rechoose.times
    times; each time it moved, run(restart(out), ...) once more from there at the new weight, and with
    `objective` (out -> the solver's objective at the weight in use, all outs judged after both runs, so on the
    same edge mask) also run(start, ...) from the first start, keeping the run with the lower objective
    (`two_starts`). Fixed and carried weights: one run with the solver's own monitor (unchanged history). Where
    problem.second_start is set (small frames: superres_start.second_start), the first run is followed by one from
    it and the lower objective kept (second_run), before any search again."""
    if not isinstance(problem.weight_choice, Choice):
        out = run(start, monitor)
        out, extra = second_run(problem, out, RunRows(monitor, n_iter(out) + 1), run, objective)
        return Rounds(out, 1 + (extra is not None), n_iter(out) + (0 if extra is None else n_iter(extra)))
    rows = RunRows(monitor, 0, lambda_f=problem.model.lam)
    out = run(start, rows)
    runs, iters = 1, n_iter(out)
    if getattr(problem, "second_start", None) is not None:
        rows = RunRows(monitor, rows.next_iter, lambda_f=problem.model.lam)
        out, extra = second_run(problem, out, rows, run, objective)
        if extra is not None:
            runs, iters = runs + 1, iters + n_iter(extra)
    for _ in range(problem.rechoose.times):
        w = motion(out)
        problem.weight_moves.append(motion_move(problem.model, problem.weight_search_motion, w))
        if problem.weight_moves[-1] <= rechoose_move(problem):
            # the motion the weight was searched at is (nearly) the final one: the same curve again, a search's
            # CPU (half of auto's at 256x256 from 16 frames) for nothing (docs/superres.md, "Eighth round")
            break
        with ctx.phase("lambda_f at the final motion", total=announced_solves(problem.weight_settings) + 1,
                       upto=True) as bar:
            moved = rechoose(problem, w, ctx, bar)
        if not moved:
            break
        rows = RunRows(monitor, rows.next_iter, lambda_f=problem.model.lam)
        out = run(restart(out), rows)
        runs, iters = runs + 1, iters + n_iter(out)
        if objective is not None:
            out, extra, rows = two_starts(problem, out, start, monitor, rows, run, objective)
            runs, iters = runs + 1, iters + n_iter(extra)
    problem.weight_runs = runs
    # the leave-frames-out cross-validation's walk from the weight in use at the final motion (problem.lam_cv_steps;
    # imported here: superres_cv builds on this module's dense limit)
    from .superres_cv import frames_cv, frames_split, split_on
    from .superres_se import gcv_se, se_on

    if se_on(problem):  # GCV's one-standard-error walk up (problem.lam_se_t; off by default)
        with ctx.phase("lambda_f by GCV's one-standard-error walk"):
            problem.weight_cv_metrics = {**problem.weight_cv_metrics, **gcv_se(problem, motion(out), ctx)}
    if problem.weight_cv.steps >= 1:  # off by default: no phase line for a step that does not run
        with ctx.phase("lambda_f by leave-frames-out cross-validation"):
            problem.weight_cv_metrics = frames_cv(problem, motion(out))
    if split_on(problem):  # then the frame-split risk's walk up (problem.lam_split_steps; frames over 16 px)
        with ctx.phase("lambda_f by the frame-split risk"):
            problem.weight_cv_metrics = {**problem.weight_cv_metrics, **frames_split(problem, motion(out))}
    return Rounds(out, runs, iters)


def second_run(problem, out, rows, run: Callable, objective: Callable[[Any], float] | None):
    """The run again from problem.second_start (small frames: superres_start.second_start) where there is one:
    (the run with the lower objective at the weight in use, judged after both runs so on the same edge mask; the
    other or None). Where the first run is kept, the data mask goes back to the one it ended with: the second run's
    edge rounds (superres_outside) drop the pixels its own motion sees past the edge, and left in place they stay
    dropped for the weight's search again and the answer (brick 24^2/8, the level on: a second run that ended 13 px
    off dropped 514 of 3976 data pixels, and the search at the first run's final motion chose 0.0879 instead of
    0.245; docs/superres.md, "srbrick"). Kept on the problem for diagnostics: problem.second_start_kept (1 the second start's run, 0
    the first's; NaN: none)."""
    alt = getattr(problem, "second_start", None)
    problem.second_start_kept = float("nan")
    if alt is None or objective is None:
        return out, None
    mask = problem.model.outside_state()
    other = run(alt, rows)
    fresh = objective(other) < objective(out)
    problem.second_start_kept = float(fresh)
    if not fresh:  # the first run kept: its own mask, not the one the discarded run's edge rounds shrank
        problem.model.restore_outside(mask)
    return (other, out) if fresh else (out, other)


def two_starts(problem, out, start, monitor, rows, run: Callable, objective: Callable[[Any], float]):
    """After a run again at a new weight from the motion fitted at the old one (`out`), the same run from the
    first start (the pre-registration, which does not depend on the weight); of the two, the one with the lower
    objective at the new weight is kept: (kept, the other, the monitor's rows). Why: the motion fitted at the old weight lies in that
    weight's basin, and at 20^2 the basins differ (retina 20^2/8 1%, batch E: the run from the motion fitted at
    0.57 ended 0.69 px off at 0.158, 28.75 dB; from the pre-registration 30.97), while from the pre-registration
    the run can fall into a worse one (hubble 20^2/16 3%: 23.36 -> 20.88 dB). Both are minima of the same
    objective, the problem's own without the truth: the lower one fits the frames better under the new weight.
    Recorded: problem.weight_restarts (the kept start per run again: 0 the fitted motion, 1 the first start)
    and the two objectives."""
    rows = RunRows(monitor, rows.next_iter, lambda_f=problem.model.lam)
    mask = problem.model.outside_state()
    other = run(start, rows)
    j_out, j_other = objective(out), objective(other)
    fresh = j_other < j_out
    problem.weight_restarts.append((float(fresh), j_out, j_other))
    if not fresh:  # as second_run: the discarded run's edge rounds leave no pixels dropped (srbrick)
        problem.model.restore_outside(mask)
    return (other, out, rows) if fresh else (out, other, rows)


def weight_outputs(choice: Choice | Carried | None, problem=None) -> tuple[dict, dict, dict, str]:
    """(metrics, stats, tables, message suffix) for a SolveResult. With `problem` (solvers that search the
    weight again at their final motion, solve_rounds): also the first weight (`lam_first`, at the pre-registered
    motion), the last search's (`lam_rechosen`, at the motion of the last run but one or the last), the searches
    and solver runs, every weight tried in all (`lam_solves`), and the last search's curve."""
    if choice is None:
        return {}, {}, {}, ""
    if isinstance(choice, Carried):
        return ({"lam": choice.lam}, {"lam_from": choice.path}, {},
                f"; lambda_f: {choice.lam:.4g} from {choice.path}")
    if problem is not None:
        choice = problem.weight_choice  # the weight in use after the last search
    metrics, stats, tables = choice.metrics(), choice.stats(), {"lam_curve": choice.table()}
    note = f"; lambda_f: {choice.summary()}"
    searches = getattr(problem, "weight_searches", None) or []
    if len(searches) > 1:
        first, last = searches[0], searches[-1]
        tables = {"lam_curve": first.table(), "lam_curve_final_motion": last.table()}
        solves = problem.weight_image_solves  # each search's weights and the weight in use, each solved once
        metrics.update(lam_first=first.lam, lam_rechosen=last.lam, lam_searches=float(len(searches)),
                       lam_solves=float(solves), solver_runs=float(problem.weight_runs),
                       lam_criterion_fall=problem.weight_falls[-1])
        # 1 where the search again followed a floor's climb (problem.lam_rechoose_climb's trigger, on or off: srfm)
        metrics["lam_after_floor_climb"] = float(any("lam_after_floor_climb" in c.details for c in searches))
        note = (f"; lambda_f: {choice.lam:.4g} by {choice.rule} (searched {len(searches)} times: "
                f"{' -> '.join(f'{c.lam:.3g}' for c in searches)} at the pre-registered then the solver's final "
                f"motions; {solves} solves of the image, solver runs: "
                f"{problem.weight_runs}), noise sigma {choice.sigma:.4g} ({choice.noise_source})")
        if any("lam_search_stopped" in c.details for c in searches):
            note += " (a search cut short by time_limit: the best weight of those solved)"
    restarts = getattr(problem, "weight_restarts", None) or []
    if restarts:  # solve_rounds' two starts at the last run again: which was kept and both objectives
        kept, j_fitted, j_first = restarts[-1]
        metrics.update(lam_rerun_from_start=kept, lam_rerun_objective_fitted=j_fitted,
                       lam_rerun_objective_start=j_first)
        note += f"; run again from the {'pre-registration' if kept else 'fitted motion'} (lower objective)"
    cv = getattr(problem, "weight_cv_metrics", None) or {}
    if cv:  # the cross-validation's and the frame-split risk's walks at the final motion (superres_cv)
        metrics.update(cv)
        if "lam_cv_from" in cv and cv["lam_cv_from"] != choice.lam:
            note += (f"; moved from {cv['lam_cv_from']:.4g} by leave-frames-out cross-validation "
                     f"({int(cv['lam_cv_frames'])} frames held out)")
    if "lam_se_from" in cv and cv["lam_se_from"] != choice.lam:
        note += f"; moved from {cv['lam_se_from']:.4g} by GCV's one-standard-error walk"
    said = len(searches) <= 1 and choice.details.get("lam_moved_by", "").startswith("frame-split walk")
    if "lam_split_from" in cv and cv["lam_split_from"] != choice.lam and not said:  # said: choice.summary() did
        note += f"; moved from {cv['lam_split_from']:.4g} by the frame-split risk"
    moves = getattr(problem, "weight_moves", None) or []
    if moves:  # fine pixels the motion moved from the last search's to the run's end (searched again above
        # problem.lam_rechoose_move)
        metrics["lam_motion_move"] = moves[-1]
        if moves[-1] <= rechoose_move(problem):
            note += f" (not searched again: the motion moved {moves[-1]:.2g} px since)"
    return metrics, stats, tables, note + fit_noise_note(choice, getattr(problem, "jpeg_dc", 0.0) > 0)
