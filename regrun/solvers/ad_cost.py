"""Seed 000 Table 1: the cost of AD derivatives of the registration loss and forward map, relative to the
function itself, for the 6-parameter affine model and a 50-parameter neural-ODE transformation.

Unlike the original scripts, the spline coefficients of T and R are solved once (they do not depend on w), and each
derivative is the fastest of a few torch.func compositions (all are timed and stored, the best is reported):
Hessian as jacrev(jacrev) or jacfwd(jacrev), Jacobian of the forward map as jacfwd or as vmap over pixels of the
gradient of one pixel's value (each pixel depends on w only through its own point, so one reverse sweep per pixel,
batched, replaces p forward tangents through the whole map: 3x faster for the affine map, 5x for the neural ODE).
Functions slower than `max_seconds / repeats` get fewer repeats (at least `min_repeats`); the count is stored.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from torch.func import grad, jacfwd, jacrev, vmap

from ..errors import check_choice, check_float, check_int
from ..imaging import spline
from ..imaging.spline import SplineImage
from ..imaging.transforms import Affine
from ..registration import neural_ode
from ..registration.objective import PointwiseObjective
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver

MODELS = ("affine", "node50")
SAMPLES = ("near_identity", "normal")
# Seed 000 Table 1 (ms, mean and std; the paper's factors), for printing beside the measurements.
PAPER = {
    "affine": {"loss": (2.171, 0.259, 1.0), "gradient": (5.422, 0.409, 2.5), "hessian": (12.44, 1.798, 5.7),
               "forward": (1.054, 0.076, 1.0), "jacobian": (11.59, 1.518, 11.0)},
    "node50": {"loss": (5.012, 2.168, 1.0), "gradient": (13.65, 1.018, 2.7), "hessian": (120.0, 8.737, 24.0),
               "forward": (3.204, 0.149, 1.0), "jacobian": (54.31, 3.240, 17.0)},
}
QUANTITIES = ("loss", "gradient", "hessian", "forward", "jacobian")


def time_calls(fn, sample, repeats: int, warmup: int = 2, max_seconds: float = math.inf,
               min_repeats: int = 10) -> np.ndarray:
    """Milliseconds of fn(w) for up to `repeats` fresh draws of w (the draw itself is not timed)."""
    for _ in range(warmup):  # the first call of a torch.func transform can take seconds (tracing, scripting)
        t0 = time.perf_counter()
        fn(sample())
        per_call = time.perf_counter() - t0
    repeats = max(min(repeats, int(max_seconds / max(per_call, 1e-9))), min(min_repeats, repeats))
    out = np.empty(repeats)
    for i in range(repeats):
        w = sample()
        t0 = time.perf_counter()
        fn(w)
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


@register_solver("ad_cost")
class ADCost(Solver):
    needs = frozenset({"registration"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.repeats = check_int("solver.repeats", cfg.repeats, 2)
        self.theta = check_float("solver.theta", cfg.theta, 0.0)
        check_choice("solver.sample", cfg.sample, SAMPLES)
        self.models = list(cfg.models)
        for m in self.models:
            check_choice("solver.models[]", m, MODELS)
        self.steps = check_int("solver.node_steps", cfg.node_steps, 1)
        self.sigma = check_float("solver.sigma", cfg.sigma, 0.0)
        self.max_seconds = check_float("solver.max_seconds", cfg.max_seconds, 0.0, strict=True,
                                       allow_inf=True)

    def functions(self, problem, model: str):
        base = problem.at_scale(self.theta)
        coef_t, r_values, vol, grid, x = base.coef_t, base.r_values, problem.grid.cell_volume, problem.grid, problem.x
        if model == "affine":
            transformation = Affine()
            w0 = problem.identity
        else:
            transformation = neural_ode.NeuralODEFlow(self.steps)
            w0 = torch.zeros(neural_ode.n_params(), dtype=x.dtype, device=x.device)

        def transform(w, pts=x):
            return transformation.points(w, pts)
        points = x.reshape(-1, 2)
        pixel_grad = vmap(grad(lambda w, pt: spline.evaluate(coef_t, grid, transform(w, pt))), in_dims=(None, 0))

        def forward(w):
            return spline.evaluate(coef_t, grid, transform(w)).reshape(-1)

        def loss(w):
            d = forward(w) - r_values.reshape(-1)
            return vol * (d @ d)

        def loss_with_solves(w):  # the original scripts' set-up: both coefficient solves inside every call
            ct = spline.coefficients(problem.template, self.theta)
            cr = spline.coefficients(problem.reference, self.theta)
            d = spline.evaluate(ct, grid, transform(w)) - spline.evaluate(cr, grid, x)
            return vol * (d * d).sum()

        gen = self.ctx.generator(17 if model == "affine" else 29)

        def sample():
            z = torch.randn(w0.shape, generator=gen, dtype=torch.float64).to(w0)
            return z if self.cfg.sample == "normal" else w0 + self.sigma * z

        # T at point i depends on w only through y_i: the registration kernel's Jacobian of the forward map
        # (reference 0, scale 1) is one reverse sweep of sum_i T(y_i) and the chain rule with dy/dw (analytic for
        # the affine, forward mode through the flow for the neural ODE)
        forward_map = PointwiseObjective(SplineImage.from_coefficients(coef_t, grid), transformation,
                                         points, torch.zeros_like(points[:, 0]))

        def pointwise_jacobian(w):
            return forward_map.jacobian(w)

        gradients = {"grad": grad(loss)}
        hessians = {"jacrev(jacrev)": jacrev(jacrev(loss)), "jacfwd(jacrev)": jacfwd(jacrev(loss))}
        if model == "affine":  # dy/dw is constant, so J's derivatives need only the spatial ones of T
            gradients["pointwise"] = base.value_and_grad
            hessians["pointwise"] = base.hessian
        variants = {
            "loss": {"direct": loss},
            "loss_with_solves": {"direct": loss_with_solves},
            "gradient": gradients,
            "hessian": hessians,
            "forward": {"direct": forward},
            "jacobian": {"jacfwd": jacfwd(forward), "vmap(grad)": lambda w: pixel_grad(w, points),
                         "pointwise": pointwise_jacobian},
        }
        return variants, sample, w0

    def solve(self, problem, monitor):
        rows = {k: [] for k in ("model", "quantity", "method", "mean_ms", "std_ms", "n", "factor", "best",
                                "paper_mean_ms", "paper_std_ms", "paper_factor")}
        samples, metrics = {}, {}
        monitor.start(total=None, desc="timing AD derivatives")
        for model in self.models:
            variants, sample, w0 = self.functions(problem, model)
            means: dict[str, float] = {}
            for quantity, fns in variants.items():
                timed = {}
                for method, fn in fns.items():
                    t = time_calls(fn, sample, self.repeats, max_seconds=self.max_seconds)
                    samples[f"{model}/{quantity}/{method}"] = t
                    timed[method] = t
                    monitor.step(model=MODELS.index(model), quantity=list(variants).index(quantity),
                                 mean_ms=float(t.mean()))
                best = min(timed, key=lambda m: timed[m].mean())
                means[quantity] = float(timed[best].mean())
                for method, t in timed.items():
                    denom = "forward" if quantity in ("forward", "jacobian") else "loss"
                    rows["model"].append(model)
                    rows["quantity"].append(quantity)
                    rows["method"].append(method)
                    rows["mean_ms"].append(float(t.mean()))
                    rows["std_ms"].append(float(t.std(ddof=1)))
                    rows["n"].append(len(t))
                    rows["factor"].append(float(t.mean()) / means.get(denom, math.nan))
                    rows["best"].append(float(method == best))
                    p = PAPER[model].get(quantity, (math.nan,) * 3)
                    rows["paper_mean_ms"].append(p[0])
                    rows["paper_std_ms"].append(p[1])
                    rows["paper_factor"].append(p[2])
                    if method == best:
                        metrics[f"time_{quantity}_{model}"] = float(t.mean())
                        metrics[f"std_{quantity}_{model}"] = float(t.std(ddof=1))
            for q, denom in (("gradient", "loss"), ("hessian", "loss"), ("jacobian", "forward"),
                             ("loss_with_solves", "loss")):
                metrics[f"factor_{q}_{model}"] = means[q] / means[denom]
        tables = {"timing": {k: np.asarray(v) for k, v in rows.items()},
                  "samples": {k.replace("/", "__").replace("(", "_").replace(")", ""): v
                              for k, v in samples.items()}}
        print(format_table(rows, self.repeats))
        return SolveResult(
            # nothing was registered: the problem reports no fit verdict for this w
            solution={"w": problem.identity.clone(), "theta": self.theta, "registers": False}, metrics=metrics,
            status="converged", message=f"timed {len(rows['model'])} functions x {self.repeats} repeats",
            tables=tables, stats={"repeats": self.repeats, "threads": torch.get_num_threads()},
        )


def format_table(rows, repeats: int) -> str:
    lines = [f"AD cost (ms, mean +- std over {repeats} repeats; factor vs loss, or vs forward for the Jacobian; "
             f"* = fastest variant, used for the factor)",
             f"{'model':7} {'quantity':17} {'method':15} {'measured':>18} {'factor':>7}   {'paper':>17} {'factor':>7}"]
    for i in range(len(rows["model"])):
        pm, ps, pf = rows["paper_mean_ms"][i], rows["paper_std_ms"][i], rows["paper_factor"][i]
        paper = f"{pm:8.3f} +- {ps:6.3f} {pf:6.1f}x" if math.isfinite(pm) else f"{'-':>17} {'-':>7}"
        star = "*" if rows["best"][i] else " "
        lines.append(f"{rows['model'][i]:7} {rows['quantity'][i]:17} {rows['method'][i]:15}{star}"
                     f"{rows['mean_ms'][i]:8.3f} +- {rows['std_ms'][i]:6.3f} {rows['factor'][i]:6.1f}x   {paper}"
                     f"  n={rows['n'][i]}")
    return "\n".join(lines)
