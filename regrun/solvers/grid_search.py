"""Grid search of the TV weight: FISTA-TV at log-spaced lam, the bilevel loss (relative squared error to the
ground truth inside the mask) at each; the baseline that bilevel learning must match."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..errors import UserError, check_int
from ..optim.scalar_search import golden_refine, log_grid
from ..record import LEARNED_LAM
from ..registry import register_solver
from ..solve_result import SolveResult
from ..tomography.fista_tv import (
    check_fista_options,
    check_grid,
    lipschitz,
    loss_curve,
    make_fista,
    require_truth,
)
from .base import Solver


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
        metrics = {"lam": refined, LEARNED_LAM: refined, "loss": loss_refined, "lam_grid_best": float(lams[best]),
                   "loss_grid_best": float(losses[best])}
        return SolveResult(solution={"x": x, "label": f"FISTA-TV at the grid optimum lam={refined:.4g}"},
                           status="converged" if len(losses) == self.points else "stopped",
                           message=f"{len(losses)} of {self.points} grid points, {self.cfg.refine} golden-section steps: "
                                   f"lam={refined:.4g}",
                           n_iter=len(losses), metrics=metrics, stats={"seconds": time.perf_counter() - t0})
