"""The continuation solvers: classical multiscale and the paper's predictor-corrector (seed 000 section 3), both
on the level loop of regrun.registration.continuation, with optional baselines compared on the same pair."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..registration.continuation import PathResult, ScalePath, value_and_grad_norm
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver


class ContinuationSolver(Solver):
    """multiscale (predict=False) and predictor_corrector (predict=True) on one ScalePath."""

    needs = frozenset({"registration", "scale_path"})
    predict = False

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.path = ScalePath(cfg, predict=self.predict)
        self.thetas = self.path.thetas

    def solve(self, problem, monitor):
        main = self.path.run_path(problem, monitor, predict=self.predict)
        tables = {"levels": {k: np.asarray(v) for k, v in main.levels.items()}}
        theta = self.thetas[-1]
        extra_metrics = {"time_path": main.time, "n_levels": float(len(main.levels["level"])),
                         "n_iter_total": float(main.n_iter)}
        results = {self.name: main}
        offset = len(self.thetas)
        for b in self.cfg.baselines or []:
            if b == self.name:
                continue
            if b == "single_scale":
                res = self.path.single_scale(problem, monitor, level=-1)
            else:
                res = self.path.run_path(problem, monitor, predict=(b == "predictor_corrector"), level_offset=offset)
                offset += len(self.thetas)
            results[b] = res
            tables[f"levels_{b}"] = {k: np.asarray(v) for k, v in res.levels.items()}
        if len(results) > 1:
            extra_metrics.update(_compare(problem, theta, results))
        hook = _comparison_figure if len(results) > 1 else None
        return SolveResult(
            solution={"w": main.w, "theta": theta, "paths": {k: r.w for k, r in results.items()}},
            metrics=extra_metrics, figures=hook,
            status=main.status, message=main.message, n_iter=main.n_iter, tables=tables,
            stats={"n_iter": main.n_iter, "time_path": main.time},
        )



def _compare(problem, theta: float, results: dict[str, PathResult]) -> dict[str, float]:
    """Final J (at the finest theta), wall time and landmark/displacement error of every method run."""
    scale = problem.at_scale(theta)
    out = {}
    for name, res in results.items():
        out[f"J_{name}"], out[f"grad_{name}"] = value_and_grad_norm(scale, res.w)
        out[f"time_{name}"] = res.time
        if problem.ref_landmarks is not None:
            out[f"tre_{name}"] = problem.tre(res.w)
        if problem.w_true is not None:
            out[f"disp_rmse_{name}"] = problem.displacement_rmse(res.w)
    if "single_scale" in results:
        best = min(out[f"J_{n}"] for n in results if n != "single_scale")
        out["J_ratio_single_over_best"] = out["J_single_scale"] / best if best > 0 else math.inf
        # The paper's Fig. 2 claim as 0/1: single scale converges (grad ~ 0) to a different, worse minimum,
        # here meaning a final J more than 10% above the best continuation's.
        out["single_scale_fails"] = float(out["J_ratio_single_over_best"] > 1.1)
    return out


def _comparison_figure(problem, result, metrics, fig_dir):
    """Template, reference and every method's registered template (the paper's Figure 2)."""
    from ..plots import image_grid

    om = problem.grid.omega
    t, r = problem.template.cpu().numpy(), problem.reference.cpu().numpy()
    lo, hi = float(min(t.min(), r.min())), float(max(t.max(), r.max()))
    fine = problem.at_scale(0.0)
    panels = [dict(image=t, omega=om, title="template T", vmin=lo, vmax=hi),
              dict(image=r, omega=om, title="reference R", vmin=lo, vmax=hi)]
    labels = {"predictor_corrector": "predictor-corrector", "multiscale": "multiscale",
              "single_scale": "single scale"}
    for name, w in result.solution["paths"].items():
        with torch.no_grad():
            reg = fine.warped(w.to(problem.x)).cpu().numpy()
        j = metrics.get(f"J_{name}", math.nan)
        panels.append(dict(image=reg, omega=om, vmin=lo, vmax=hi,
                           title=f"{labels.get(name, name)}: J={j:.3g}"))
    return [image_grid(panels, fig_dir / "methods.png", ncols=len(panels),
                       suptitle=f"{problem.label}: registered templates at theta={result.solution['theta']:g}")]


@register_solver("multiscale")
class Multiscale(ContinuationSolver):
    predict = False


@register_solver("predictor_corrector")
class PredictorCorrector(ContinuationSolver):
    predict = True
