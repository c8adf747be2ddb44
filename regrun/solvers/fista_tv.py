"""FISTA with the TV + nonnegativity prox at a fixed weight lam (seed 003's lower level)."""
from __future__ import annotations

import time

import torch

from ..record import weight_setting
from ..registry import register_solver
from ..solve_result import SolveResult
from ..tomography.fista_tv import (
    check_fista_options,
    lipschitz,
    make_fista,
    masked_loss,
)
from .base import Solver


@register_solver("fista_tv")
class FistaTV(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_fista_options(cfg)
        self.lam, self.lam_from = weight_setting("solver.lam", cfg.lam)  # a number, or from:RUN (learned)
        self.compare_gp = bool(cfg.compare_gp)

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
        # compare_gp: the same FISTA with the GP prox beside, to show that the prox iterates agree
        gp = make_fista(problem, self.cfg, L, method="gp") if self.compare_gp else None
        gp_state = gp.start(lam) if gp is not None else None
        metrics = {"lam": self.lam}
        with torch.no_grad():
            for k in range(iters):
                x_old = state[0]
                state = fista.step(state, lam)
                x = state[0]
                row = {"iter": k, "objective": fista.objective(x, lam),
                       "rel_change": float((x - x_old).norm() / x.norm().clamp_min(1e-300))}
                if truth is not None:
                    row["loss"] = masked_loss(x, truth, mask)
                if gp is not None:
                    gp_state = gp.step(gp_state, lam)
                    row["rel_diff_vs_gp"] = float((x - gp_state[0]).norm() / gp_state[0].norm().clamp_min(1e-300))
                    metrics["max_rel_diff_vs_gp"] = max(metrics.get("max_rel_diff_vs_gp", 0.0), row["rel_diff_vs_gp"])
                if monitor.step(**row):
                    break
        x = state[0] * mask
        label = f"FISTA-TV ({self.cfg.prox}), lam={self.lam:g}" + (" (learned)" if self.lam_from else "")
        stats = {"lipschitz": L, "tau": fista.tau, "seconds": time.perf_counter() - t0}
        if self.lam_from:
            stats["lam_from"] = self.lam_from
        return SolveResult(solution={"x": x, "label": label}, status="max_iter",
                           message=f"{k + 1} FISTA iterations x {self.cfg.inner_iters} {self.cfg.prox} iterations",
                           n_iter=k + 1, metrics=metrics,
                           stats=stats)
