"""Grid search of the TV weight: FISTA-TV at log-spaced lam, the bilevel loss (relative squared error to the
ground truth inside the mask) at each; the baseline that bilevel learning must match."""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..errors import UserError, check_float, check_int
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver
from ..tomography.fista_tv import check_fista_options, lipschitz, make_fista, masked_loss, require_truth


def log_grid(lo: float, hi: float, points: int) -> np.ndarray:
    return np.exp(np.linspace(math.log(lo), math.log(hi), points))


def golden_refine(f, lams: np.ndarray, losses: np.ndarray, evals: int) -> tuple[float, float]:
    """The grid optimum refined by `evals` golden-section steps in log lam inside the bracket of the best
    grid point's neighbours; returns the best (lam, loss) seen (the grid's own best when evals = 0)."""
    i = int(np.argmin(losses))
    best = (float(lams[i]), float(losses[i]))
    if evals <= 0:
        return best
    lo, hi = math.log(lams[max(i - 1, 0)]), math.log(lams[min(i + 1, len(lams) - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(math.exp(a)), f(math.exp(b))
    seen = [best, (math.exp(a), fa), (math.exp(b), fb)]
    for _ in range(evals - 2):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = f(math.exp(a))
            seen.append((math.exp(a), fa))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(math.exp(b))
            seen.append((math.exp(b), fb))
    return min(seen, key=lambda p: p[1])


def loss_curve(problem, fista, lams, iters: int, monitor=None, offset: int = 0) -> list[float]:
    truth, mask = problem.truth, fista.mask
    losses = []
    dtype, device = problem.sinogram.dtype, problem.sinogram.device
    for j, lam in enumerate(lams):
        with torch.no_grad():
            x = fista.solve(torch.tensor(float(lam), dtype=dtype, device=device), iters)
        losses.append(masked_loss(x, truth, mask))
        if monitor is not None and monitor.step(iter=offset + j, lam=float(lam), loss=losses[-1]):
            break
    return losses


def check_grid(cfg, name: str = "solver") -> tuple[float, float, int]:
    lo = check_float(f"{name}.lam_min", cfg.lam_min, 0.0, strict=True)
    hi = check_float(f"{name}.lam_max", cfg.lam_max, 0.0, strict=True)
    points = check_int(f"{name}.points", cfg.points, 0)
    if points and hi <= lo:
        raise UserError(f"{name}.lam_max={hi} must exceed {name}.lam_min={lo}")
    return lo, hi, points


@register_solver("grid_search")
class GridSearch(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_fista_options(cfg)
        self.lo, self.hi, self.points = check_grid(cfg)
        if self.points < 3:
            raise UserError(f"solver.points={self.points} must be >= 3")
        check_int("solver.refine", cfg.refine, 0)

    def solve(self, problem, monitor) -> SolveResult:
        require_truth(problem, "grid_search")
        t0 = time.perf_counter()
        fista = make_fista(problem, self.cfg, lipschitz(problem, self.cfg))
        lams = log_grid(self.lo, self.hi, self.points)
        monitor.start(total=len(lams), desc="grid_search")
        losses = np.array(loss_curve(problem, fista, lams, int(self.cfg.iters), monitor))
        lams = lams[:len(losses)]
        best = int(np.argmin(losses))
        iters = int(self.cfg.iters)
        refined, loss_refined = golden_refine(lambda lam: loss_curve(problem, fista, [lam], iters)[0], lams, losses,
                                              int(self.cfg.refine))
        dtype, device = problem.sinogram.dtype, problem.sinogram.device
        with torch.no_grad():
            x = fista.solve(torch.tensor(refined, dtype=dtype, device=device), iters) * fista.mask
        metrics = {"lam": refined, "loss": loss_refined, "lam_grid_best": float(lams[best]),
                   "loss_grid_best": float(losses[best])}
        return SolveResult(solution={"x": x, "label": f"FISTA-TV at the grid optimum lam={refined:.4g}"},
                           status="converged" if len(losses) == self.points else "stopped",
                           message=f"{len(losses)} of {self.points} grid points, {self.cfg.refine} golden-section steps: "
                                   f"lam={refined:.4g}",
                           n_iter=len(losses), metrics=metrics, stats={"seconds": time.perf_counter() - t0})
