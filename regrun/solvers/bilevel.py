"""Bilevel learning of the TV weight (seed 003, Algorithm 1): Nesterov-accelerated gradient descent with
Armijo backtracking on lam or log lam, the loss being the relative squared error of the FISTA-TV
reconstruction to the ground truth inside the mask, the hypergradient by `solver.hypergradient`
(paper | unrolled | checkpointed | implicit; regrun.optim.bilevel). Records each outer iteration (history),
the line-search trials and each outer iteration's FISTA history (tables), the memory each mode saves for
backward (metrics), and optionally a grid of the loss for comparison (tables/grid, figure)."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError, check_choice, check_float, check_int
from ..linalg.iterate import ADJOINT_METHODS, AdjointSolve
from ..memory import SavedBytes, cuda_peak_bytes, marginal_saved_bytes
from ..optim.bilevel import (
    HYPERGRADIENTS,
    PARAMETERS,
    BACKTRACKS,
    BilevelLoss,
    Evaluation,
    nesterov_armijo,
)
from ..optim.fista import RESTARTS
from ..optim.scalar_search import golden_refine, log_grid
from ..optim.tv_prox import TVProx
from ..record import LEARNED_LAM
from ..registry import register_solver
from ..solve_result import SolveResult
from ..tomography.fista_tv import (
    check_fista_options,
    check_grid,
    lipschitz,
    loss_curve,
    make_fista,
    masked_loss,
    require_truth,
)
from .base import Solver

MiB = 2.0**20


def inner_iteration_bytes(shape, dtype, device) -> dict[str, float]:
    """Saved-for-backward bytes per inner prox iteration (marginal, so one-off tensors cancel) for GP, CV and
    aCV with the dual stored in `dtype` and, for aCV, in float16 (the released code)."""
    g = torch.Generator().manual_seed(0)
    b = torch.rand(tuple(shape), generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    b.requires_grad_(True)
    mu = torch.tensor(0.05, dtype=dtype, device=device, requires_grad=True)
    out = {}
    for name, method, storage in (("gp", "gp", None), ("cv", "cv", None), ("acv", "acv", None),
                                  ("acv_fp16", "acv", torch.float16)):
        prox = TVProx(method, len(shape), storage=storage)
        out[name] = marginal_saved_bytes(lambda n: prox(b, mu, n), k=2, extra=2)
    return out


@register_solver("bilevel")
class Bilevel(Solver):
    needs = frozenset({"ct"})

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        check_fista_options(cfg)
        check_choice("solver.hypergradient", cfg.hypergradient, HYPERGRADIENTS)
        check_choice("solver.parameter", cfg.parameter, PARAMETERS)
        self.lam0 = check_float("solver.lam0", cfg.lam0, 0.0, strict=True)
        self.gamma0 = check_float("solver.gamma0", cfg.gamma0, 0.0, strict=True)
        self.max_outer = check_int("solver.max_outer", cfg.max_outer, 0)
        check_float("solver.armijo_c", cfg.armijo_c, 0.0)
        self.shrink = check_float("solver.shrink", cfg.shrink, 0.0, strict=True)
        if self.shrink >= 1:
            raise UserError(f"solver.shrink={self.shrink} must be in (0, 1)")
        check_int("solver.max_tries", cfg.max_tries, 1)
        check_choice("solver.backtrack", cfg.backtrack, BACKTRACKS)
        check_choice("solver.restart", cfg.restart, ("auto",) + RESTARTS)
        check_float("solver.grow", cfg.grow, 1.0)
        check_float("solver.step_tol", cfg.step_tol, 0.0)
        check_float("solver.theta_tol", cfg.theta_tol, 0.0)
        check_int("solver.segment", cfg.segment, 0)
        check_choice("solver.adjoint", cfg.adjoint, ADJOINT_METHODS)
        check_int("solver.adjoint_iters", cfg.adjoint_iters, 1)
        check_float("solver.adjoint_rtol", cfg.adjoint_rtol, 0.0)
        check_int("solver.adjoint_restart", cfg.adjoint_restart, 1)
        lo, hi = (check_float("solver.lam_box", float(v), 0.0, strict=True) for v in cfg.lam_box)
        if hi <= lo:
            raise UserError(f"solver.lam_box={list(cfg.lam_box)} must be [low, high] with low < high")
        self.box = (lo, hi)
        self.grid = check_grid(cfg.grid, "solver.grid")
        check_int("solver.grid.refine", cfg.grid.refine, 0)
        if cfg.memory.shape is not None:
            for s in cfg.memory.shape:
                check_int("solver.memory.shape", s, 2)

    def restart(self) -> str:
        """solver.restart with auto resolved: implicit differentiates FISTA's fixed point, so its lower level
        restarts to reach it; the other modes differentiate x_N of the plain FISTA that fista_tv runs."""
        if self.cfg.restart != "auto":
            return str(self.cfg.restart)
        return "gradient" if self.cfg.hypergradient == "implicit" else "none"

    def solve(self, problem, monitor) -> SolveResult:
        truth = require_truth(problem, "bilevel")
        cfg = self.cfg
        t0 = time.perf_counter()
        L = lipschitz(problem, cfg)
        exact = make_fista(problem, cfg, L, restart=self.restart())
        paper = make_fista(problem, cfg, L, paper=True)
        iters = int(cfg.iters)
        loss = BilevelLoss(exact, truth, iters, str(cfg.hypergradient), str(cfg.parameter), exact.mask, paper,
                           segment=int(cfg.segment), adjoint=AdjointSolve(
                               str(cfg.adjoint), int(cfg.adjoint_iters), float(cfg.adjoint_rtol),
                               int(cfg.adjoint_restart)))
        dtype, device = problem.sinogram.dtype, problem.sinogram.device
        tables: dict[str, dict[str, np.ndarray]] = {}
        metrics: dict[str, float] = {}
        stats: dict[str, float | int | str] = {"lipschitz": L, "restart": exact.restart}

        if cfg.memory.measure:
            metrics.update(self._memory(problem, loss, exact, paper, dtype, device))

        inner: dict[float, dict[str, list]] = {}

        def value(theta: float) -> float:
            """The loss at theta without a graph, keeping FISTA's history for the tables."""
            lam = torch.tensor(loss.lam_of(theta), dtype=dtype, device=device)
            rows = {"iter": [], "loss": [], "rel_change": []}
            with torch.no_grad():
                state = exact.start(lam)
                for k in range(iters):
                    x_old = state[0]
                    state = exact.step(state, lam)
                    rows["iter"].append(k)
                    rows["loss"].append(masked_loss(state[0], truth, exact.mask))
                    rows["rel_change"].append(float((state[0] - x_old).norm() / state[0].norm().clamp_min(1e-300)))
            inner[theta] = rows
            return rows["loss"][-1]

        evals = []

        def fun(theta: float) -> Evaluation:
            ev = loss.value_and_grad(theta)
            evals.append(ev)
            return ev

        trials = {"outer": [], "gamma": [], "lam": [], "loss": [], "accepted": []}

        def on_step(step):
            for gamma, th, f, ok in step.trials:
                trials["outer"].append(step.k)
                trials["gamma"].append(gamma)
                trials["lam"].append(loss.lam_of(th))
                trials["loss"].append(f)
                trials["accepted"].append(int(ok))
                if ok and th in inner:
                    tables[f"inner_{step.k:03d}"] = {k: np.asarray(v) for k, v in inner[th].items()}
            inner.clear()
            row = dict(iter=step.k, lam=step.lam, loss=step.loss, hypergradient=step.grad, step=step.step,
                       trials=len(step.trials))
            if loss.mode == "implicit":  # how well this step's adjoint system was solved
                row.update(adjoint_iters=evals[-1].adjoint_iters, adjoint_residual=evals[-1].adjoint_residual,
                           fixed_point_residual=evals[-1].fixed_point_residual)
            monitor.step(**row)

        monitor.start(total=self.max_outer, desc=f"bilevel {cfg.hypergradient}", upto=True)
        box = tuple(loss.theta_of(v) for v in self.box)
        theta0 = loss.theta_of(self.lam0)
        theta, history, status = nesterov_armijo(
            fun, value, theta0, self.gamma0, max_iter=self.max_outer, c=float(cfg.armijo_c), shrink=self.shrink,
            max_tries=int(cfg.max_tries), grow=float(cfg.grow), box=box, step_tol=float(cfg.step_tol),
            theta_tol=float(cfg.theta_tol), on_step=on_step, backtrack=str(cfg.backtrack),
            min_move=float(cfg.theta_tol))
        lam = loss.lam_of(theta)
        tables["line_search"] = {k: np.asarray(v) for k, v in trials.items()}
        x = loss.reconstruct(lam) * exact.mask
        metrics.update({"lam": lam, LEARNED_LAM: lam, "loss": masked_loss(x, truth, exact.mask), "outer_iterations": len(history)})

        lo, hi, points = self.grid
        if points:
            lams = log_grid(lo, hi, points)
            losses = np.array(loss_curve(problem, exact, lams, iters))
            tables["grid"] = {"lam": lams, "loss": losses}
            lam_grid, loss_grid = golden_refine(lambda v: loss_curve(problem, exact, [v], iters)[0], lams, losses,
                                                int(cfg.grid.refine))
            metrics.update({"lam_grid": lam_grid, "loss_grid": loss_grid,
                            "lam_vs_grid": lam / lam_grid - 1, "loss_vs_grid": metrics["loss"] / loss_grid - 1})
            if cfg.compare_paper and cfg.hypergradient != "paper":
                metrics.update(self._paper_bias(loss, lam_grid, problem, cfg, L))
        stats["seconds"] = time.perf_counter() - t0
        stats["stop"] = status
        solver_status = {"max_iter": "max_iter", "line_search_failed": "stopped"}.get(status, "converged")
        return SolveResult(
            solution={"x": x, "label": f"bilevel ({cfg.hypergradient}) lam={lam:.4g}",
                      "hypergradient": str(cfg.hypergradient)}, status=solver_status,
            message=f"{status} after {len(history)} outer iterations: lam={lam:.4g}", n_iter=len(history),
            tables=tables, stats=stats, metrics=metrics, figures=_figures)

    def _memory(self, problem, loss, exact, paper, dtype, device) -> dict[str, float]:
        """Saved-for-backward bytes: per inner prox iteration on memory.shape (float32, as the paper) and
        for one hypergradient of each mode on the problem (plus the CUDA peak on a GPU)."""
        cfg = self.cfg
        shape = tuple(cfg.memory.shape) if cfg.memory.shape is not None else tuple(problem.shape)
        out = {f"mem_inner_{k}_MiB": v / MiB for k, v in inner_iteration_bytes(shape, torch.float32, device).items()}
        out["mem_inner_cv_over_gp"] = out["mem_inner_cv_MiB"] / out["mem_inner_gp_MiB"]
        out["mem_inner_acv_over_gp"] = out["mem_inner_acv_MiB"] / out["mem_inner_gp_MiB"]
        if not cfg.memory.modes:
            return out
        theta = loss.theta_of(self.lam0)
        for mode in HYPERGRADIENTS:
            probe = BilevelLoss(exact, loss.truth, loss.iters, mode, loss.parameter, loss.mask, paper,
                                segment=int(cfg.segment), adjoint=loss.diff.adjoint)
            t = torch.tensor(theta, dtype=dtype, device=device, requires_grad=True)
            fista = paper if mode == "paper" else exact
            with SavedBytes() as counter:
                value = probe.loss_of(fista.solve(probe.lam(t), probe.iters, probe.diff))
            out[f"mem_hypergradient_{mode}_MiB"] = counter.total / MiB
            del value
            peak = cuda_peak_bytes(lambda: probe.value_and_grad(theta), device)
            if peak is not None:
                out[f"cuda_peak_{mode}_MiB"] = peak / MiB
        return out

    def _paper_bias(self, loss, lam_grid, problem, cfg, L) -> dict[str, float]:
        """The paper hypergradient beside the exact one at the grid optimum: where the exact one vanishes,
        the paper's points away (its sign says which way it would move lam)."""
        theta = loss.theta_of(lam_grid)
        exact_g = loss.value_and_grad(theta).grad if loss.mode != "paper" else float("nan")
        paper_loss = BilevelLoss(loss.exact, loss.truth, loss.iters, "paper", loss.parameter, loss.mask, loss.paper)
        paper_g = paper_loss.value_and_grad(theta).grad
        return {"hypergradient_at_grid_exact": exact_g, "hypergradient_at_grid_paper": paper_g}


def _figures(problem, result, metrics, fig_dir: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    hist = result.history
    paths = []
    if "lam" in hist and len(hist["lam"]):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        axes[0].semilogy(hist["iter"], hist["loss"], marker="o", markersize=3)
        axes[0].set_xlabel("outer iteration")
        axes[0].set_ylabel("loss")
        axes[1].semilogy(hist["iter"], hist["lam"], marker="o", markersize=3)
        axes[1].set_xlabel("outer iteration")
        axes[1].set_ylabel("lambda")
        if "lam_grid" in metrics:
            axes[1].axhline(metrics["lam_grid"], color="k", linestyle=":", label="grid optimum")
            axes[1].legend()
        for ax in axes:
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        paths.append(fig_dir / "bilevel_outer.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    grid = result.tables.get("grid")
    if grid is not None:
        fig, ax = plt.subplots(figsize=(5, 3.6))
        ax.loglog(grid["lam"], grid["loss"], marker=".", label="grid (FISTA-TV)")
        if "lam_grid" in metrics:
            ax.loglog([metrics["lam_grid"]], [metrics["loss_grid"]], marker="o", markersize=8, linestyle="none",
                      markerfacecolor="none", color="k", label="grid optimum (golden section)")
        ax.loglog([metrics["lam"]], [metrics["loss"]], marker="*", markersize=12, linestyle="none",
                  label=f"learned ({result.solution.get('hypergradient', '?')})")
        ax.set_xlabel("lambda")
        ax.set_ylabel("loss")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        paths.append(fig_dir / "bilevel_loss_vs_lambda.png")
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)
    return paths


