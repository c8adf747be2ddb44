"""FISTA with the TV + nonnegativity prox at a fixed weight lam (seed 003's lower level)."""
from __future__ import annotations

import time

import torch

from ..errors import check_float
from ..registry import register_solver
from ..solve_result import SolveResult
from .base import Solver
from .ct_common import check_fista_options, lipschitz, make_fista, masked_loss


@register_solver("fista_tv")
class FistaTV(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_fista_options(cfg)
        self.lam = check_float("solver.lam", cfg.lam, 0.0)

    def solve(self, problem, monitor) -> SolveResult:
        t0 = time.perf_counter()
        L = lipschitz(problem, self.cfg)
        fista = make_fista(problem, self.cfg, L)
        lam = torch.tensor(self.lam, dtype=problem.sinogram.dtype, device=problem.sinogram.device)
        iters = int(self.cfg.iters)
        mask = fista.mask
        truth = problem.truth
        monitor.start(total=iters, desc=f"fista_tv {self.cfg.prox} lam={self.lam:g}")
        state = fista.start(lam)
        with torch.no_grad():
            for k in range(iters):
                x_old = state[0]
                state = fista.step(state, lam)
                x = state[0]
                row = {"iter": k, "objective": fista.objective(x, lam),
                       "rel_change": float((x - x_old).norm() / x.norm().clamp_min(1e-300))}
                if truth is not None:
                    row["loss"] = masked_loss(x, truth, mask)
                if monitor.step(**row):
                    break
        x = state[0] * mask
        label = f"FISTA-TV ({self.cfg.prox}), lam={self.lam:g}"
        return SolveResult(solution={"x": x, "label": label}, status="max_iter",
                           message=f"{k + 1} FISTA iterations x {self.cfg.inner_iters} {self.cfg.prox} iterations",
                           n_iter=k + 1, stats={"lipschitz": L, "tau": fista.tau, "seconds": time.perf_counter() - t0})
