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
from ..linalg.iterate import (
    ADJOINT_METHODS,
    AdjointSolve,
    FixedPointStop,
    run_to_fixed_point,
)
from ..memory import SavedBytes, cuda_peak_bytes, marginal_saved_bytes, rss_peak_bytes
from ..optim.bilevel import (
    BACKTRACKS,
    HYPERGRADIENTS,
    PARAMETERS,
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
        out[name] = marginal_saved_bytes(lambda n, prox=prox: prox(b, mu, n), k=2, extra=2)
    return out


def memory_modes(value) -> list[str]:
    """solver.memory.modes: true (every mode), false (none) or a list of modes (measured in that order)."""
    if isinstance(value, bool):
        return list(HYPERGRADIENTS) if value else []
    modes = _as_list("solver.memory.modes", value)
    for mode in modes:
        check_choice("solver.memory.modes", mode, HYPERGRADIENTS)
    return [str(m) for m in modes]


def _as_list(name: str, value) -> list:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise UserError(f"{name}={value!r} must be a list")
    return list(value)


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
        check_float("solver.fixed_point_tol", cfg.fixed_point_tol, 0.0)
        check_int("solver.fixed_point_max_iters", cfg.fixed_point_max_iters, 1)
        check_int("solver.fixed_point_check", cfg.fixed_point_check, 1)
        lo, hi = (check_float("solver.lam_box", float(v), 0.0, strict=True) for v in cfg.lam_box)
        if hi <= lo:
            raise UserError(f"solver.lam_box={list(cfg.lam_box)} must be [low, high] with low < high")
        self.box = (lo, hi)
        self.grid = check_grid(cfg.grid, "solver.grid")
        check_int("solver.grid.refine", cfg.grid.refine, 0)
        if cfg.memory.shape is not None:
            for s in cfg.memory.shape:
                check_int("solver.memory.shape", s, 2)
        self.memory_modes = memory_modes(cfg.memory.modes)
        self.memory_iters = None if cfg.memory.get("iters") is None else [
            check_int("solver.memory.iters", n, 1) for n in _as_list("solver.memory.iters", cfg.memory.iters)]

    def restart(self) -> str:
        """solver.restart with auto resolved: implicit differentiates FISTA's fixed point, so its lower level
        restarts to reach it; the other modes differentiate x_N of the plain FISTA that fista_tv runs."""
        if self.cfg.restart != "auto":
            return str(self.cfg.restart)
        return "gradient" if self.cfg.hypergradient == "implicit" else "none"

    def lower_iters(self) -> int:
        """FISTA iterations of the lower level: implicit with a tolerance runs to it, fixed_point_max_iters
        being the cap; every other mode (and implicit with fixed_point_tol = 0) runs exactly `iters`."""
        if self.cfg.hypergradient == "implicit" and float(self.cfg.fixed_point_tol) > 0:
            return int(self.cfg.fixed_point_max_iters)
        return int(self.cfg.iters)

    def solve(self, problem, monitor) -> SolveResult:
        truth = require_truth(problem, "bilevel")
        cfg = self.cfg
        t0 = time.perf_counter()
        L = lipschitz(problem, cfg)
        exact = make_fista(problem, cfg, L, restart=self.restart())
        paper = make_fista(problem, cfg, L, paper=True)
        iters = self.lower_iters()
        implicit = cfg.hypergradient == "implicit"
        tol, check = float(cfg.fixed_point_tol), int(cfg.fixed_point_check)
        loss = BilevelLoss(exact, truth, iters, str(cfg.hypergradient), str(cfg.parameter), exact.mask, paper,
                           segment=int(cfg.segment), adjoint=AdjointSolve(
                               str(cfg.adjoint), int(cfg.adjoint_iters), float(cfg.adjoint_rtol),
                               int(cfg.adjoint_restart)), stop=FixedPointStop(tol, check))
        dtype, device = problem.sinogram.dtype, problem.sinogram.device
        tables: dict[str, dict[str, np.ndarray]] = {}
        metrics: dict[str, float] = {}
        stats: dict[str, float | int | str] = {"lipschitz": L, "restart": exact.restart}
        if implicit:
            stats.update(fixed_point_tol=tol, fixed_point_cap=iters)

        if cfg.memory.measure:
            metrics.update(self._memory(problem, loss, exact, paper, dtype, device))
            self.ctx.keep(metrics)  # at the paper's size the learning after it can outlast a job's time

        inner: dict[float, dict[str, list]] = {}
        reached: dict[float, tuple[int, float]] = {}  # implicit: theta -> (FISTA iterations, residual)

        def value(theta: float) -> float:
            """The loss at theta without a graph by the lower level the hypergradient differentiates (implicit:
            FISTA to the fixed-point tolerance), keeping FISTA's history for the tables."""
            lam = torch.tensor(loss.lam_of(theta), dtype=dtype, device=device)
            rows = {"iter": [], "loss": [], "rel_change": []}
            x_old = [None]

            def record(k: int, state) -> None:
                rows["iter"].append(k - 1)
                rows["loss"].append(masked_loss(state[0], truth, exact.mask))
                rows["rel_change"].append(float((state[0] - x_old[0]).norm() / state[0].norm().clamp_min(1e-300)))
                x_old[0] = state[0]

            with torch.no_grad():
                state = exact.start(lam)
                x_old[0] = state[0]
                if implicit:
                    _, steps, res = run_to_fixed_point(exact.step, state, lam, iters, exact.prox_gradient,
                                                       lambda s: s[0], tol, check, on_step=record)
                    reached[theta] = (steps, res)
                else:
                    for k in range(iters):
                        state = exact.step(state, lam)
                        record(k + 1, state)
            inner[theta] = rows
            return rows["loss"][-1]

        evals = []

        def fun(theta: float) -> Evaluation:
            ev = loss.value_and_grad(theta)
            evals.append(ev)
            return ev

        trials = {"outer": [], "gamma": [], "lam": [], "loss": [], "accepted": []}
        if implicit:
            trials.update(lower_iters=[], fixed_point_residual=[])
        unconverged: list[float] = []  # implicit: the residuals of outer steps above the tolerance

        def on_step(step):
            for gamma, th, f, ok in step.trials:
                trials["outer"].append(step.k)
                trials["gamma"].append(gamma)
                trials["lam"].append(loss.lam_of(th))
                trials["loss"].append(f)
                trials["accepted"].append(int(ok))
                if implicit:
                    trials["lower_iters"].append(reached[th][0])
                    trials["fixed_point_residual"].append(reached[th][1])
                if ok and th in inner:
                    tables[f"inner_{step.k:03d}"] = {k: np.asarray(v) for k, v in inner[th].items()}
            inner.clear()
            reached.clear()
            row = {"iter": step.k, "lam": step.lam, "loss": step.loss, "hypergradient": step.grad,
                   "step": step.step, "trials": len(step.trials)}
            if implicit:  # how close the lower level got to the point differentiated, how well the adjoint
                ev = evals[-1]  # was solved
                row.update(lower_iters=ev.lower_iters, fixed_point_residual=ev.fixed_point_residual,
                           adjoint_iters=ev.adjoint_iters, adjoint_residual=ev.adjoint_residual)
                if not ev.fixed_point_residual <= tol:
                    if not unconverged:
                        self.ctx.reporter.line(f"regrun: WARNING: {_unconverged_warning(ev, tol, iters)}", err=True)
                    unconverged.append(ev.fixed_point_residual)
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
            if implicit:  # the loss of the lower level implicit learns on: FISTA to its tolerance
                def curve(vs):
                    return [loss.value(loss.theta_of(float(v))) for v in vs]
            else:
                def curve(vs):
                    return loss_curve(problem, exact, vs, iters)
            losses = np.array(curve(lams))
            tables["grid"] = {"lam": lams, "loss": losses}
            lam_grid, loss_grid = golden_refine(lambda v: curve([v])[0], lams, losses, int(cfg.grid.refine))
            metrics.update({"lam_grid": lam_grid, "loss_grid": loss_grid,
                            "lam_vs_grid": lam / lam_grid - 1, "loss_vs_grid": metrics["loss"] / loss_grid - 1})
            if cfg.compare_paper and cfg.hypergradient != "paper":
                metrics.update(self._paper_bias(loss, lam_grid, problem, cfg, L))
        at = {lam: value(theta)}
        for name, near in (("loss_lam_third", lam / NEIGHBOUR_FACTOR), ("loss_lam_triple", lam * NEIGHBOUR_FACTOR)):
            if self.box[0] <= near <= self.box[1]:  # outside the box: not a weight the loop could reach
                at[near] = metrics[name] = value(loss.theta_of(near))
        neighbour = neighbour_warning(lam, at, (history[0].lam, history[1].lam) if len(history) > 1 else None)
        stats["seconds"] = time.perf_counter() - t0
        stats["stop"] = status
        message = f"{status} after {len(history)} outer iterations: lam={lam:.4g}"
        if neighbour:  # the console drops a solver message's warnings (cli._say_answer): said here, as the
            self.ctx.reporter.line(f"regrun: WARNING: {neighbour}", err=True)  # implicit mode's is
            message += f"; WARNING: {neighbour}"
        if implicit:
            stats["fixed_point_unconverged_steps"] = len(unconverged)
            if unconverged:
                stats["fixed_point_residual_max"] = max(unconverged)
                message += (f"; WARNING: the lower level stayed above solver.fixed_point_tol={tol:g} in "
                            f"{len(unconverged)} of {len(history)} outer steps (largest residual "
                            f"{max(unconverged):.1e}): the implicit hypergradient is not exact there")
        solver_status = {"max_iter": "max_iter", "line_search_failed": "stopped"}.get(status, "converged")
        stop = ""
        if status == "line_search_failed":  # named beside every verdict of the run (issue 19)
            stop = (f"line search failed at outer step {len(history)} of solver.max_outer={self.max_outer} "
                    f"(no Armijo decrease in {len(history[-1].trials)} trials); loss {metrics['loss']:.4g} "
                    f"reached at lam={lam:.4g}")
        return SolveResult(
            solution={"x": x, "label": f"bilevel ({cfg.hypergradient}) lam={lam:.4g}",
                      "hypergradient": str(cfg.hypergradient)}, status=solver_status,
            message=message, n_iter=len(history), stop=stop,
            tables=tables, stats=stats, metrics=metrics, figures=_figures)

    def _memory(self, problem, loss, exact, paper, dtype, device) -> dict[str, float]:
        """Saved-for-backward bytes: per inner prox iteration on memory.shape (float32, as the paper) and
        for one hypergradient of each mode on the problem (plus the CUDA peak on a GPU)."""
        cfg = self.cfg
        shape = tuple(cfg.memory.shape) if cfg.memory.shape is not None else tuple(problem.shape)
        out = {f"mem_inner_{k}_MiB": v / MiB for k, v in inner_iteration_bytes(shape, torch.float32, device).items()}
        out["mem_inner_cv_over_gp"] = out["mem_inner_cv_MiB"] / out["mem_inner_gp_MiB"]
        out["mem_inner_acv_over_gp"] = out["mem_inner_acv_MiB"] / out["mem_inner_gp_MiB"]
        theta = loss.theta_of(self.lam0)
        cuda = device.type == "cuda"
        for mode in self.memory_modes:
            for n in self.memory_iters or [int(cfg.iters)]:
                tag = mode if self.memory_iters is None else f"{mode}_n{n}"
                # n FISTA iterations in every mode, implicit without its tolerance: what implicit saves does
                # not depend on how many iterations ran
                probe = BilevelLoss(exact, loss.truth, n, mode, loss.parameter, loss.mask, paper,
                                    segment=int(cfg.segment), adjoint=loss.diff.adjoint)
                t = torch.tensor(theta, dtype=dtype, device=device, requires_grad=True)
                fista = paper if mode == "paper" else exact
                try:
                    with SavedBytes() as counter:
                        value = probe.loss_of(fista.solve(probe.lam(t), probe.iters, probe.diff))
                    out[f"mem_hypergradient_{tag}_MiB"] = counter.total / MiB
                    del value
                    # the peak of one whole hypergradient (forward and backward): on CUDA always, on the CPU
                    # (resident memory, a second hypergradient's time) only when memory.iters asks for the scaling
                    if cuda or self.memory_iters is not None:
                        start = time.perf_counter()
                        if cuda:
                            peak = cuda_peak_bytes(lambda probe=probe: probe.value_and_grad(theta), device)
                        else:
                            peak = rss_peak_bytes(lambda probe=probe: probe.value_and_grad(theta))
                        if self.memory_iters is not None:
                            out[f"time_hypergradient_{tag}_s"] = time.perf_counter() - start
                        if peak is not None:
                            out[f"{'cuda' if cuda else 'rss'}_peak_{tag}_MiB"] = peak / MiB
                except torch.OutOfMemoryError:  # the measurement's answer for this mode and count: it does not fit
                    out[f"oom_{tag}"] = 1.0
                    torch.cuda.empty_cache()
                    self.ctx.keep(out)
                    break  # more iterations would not fit either
                self.ctx.keep(out)  # one by one: at the paper's size each takes minutes
        return out

    def _paper_bias(self, loss, lam_grid, problem, cfg, L) -> dict[str, float]:
        """The paper hypergradient beside the exact one at the grid optimum: where the exact one vanishes,
        the paper's points away (its sign says which way it would move lam)."""
        theta = loss.theta_of(lam_grid)
        exact_g = loss.value_and_grad(theta).grad if loss.mode != "paper" else float("nan")
        # the released graph at `iters` FISTA iterations (loss.iters is implicit's cap when it runs to a tolerance)
        paper_loss = BilevelLoss(loss.exact, loss.truth, int(cfg.iters), "paper", loss.parameter, loss.mask,
                                 loss.paper)
        paper_g = paper_loss.value_and_grad(theta).grad
        return {"hypergradient_at_grid_exact": exact_g, "hypergradient_at_grid_paper": paper_g}


# The learned weight is checked against the loss at lam / 3 and 3 lam (three lower-level solves, no graph). On
# newuser16's 96^2 scan of coins (a file with its truth) the paper's first Armijo step took lam from 0.1 to 17.8
# (log lam + 5.2), where the loss of x_N is flat (0.0152 over 17.8-21.6), and the loop "converged" at 20.4 while the
# grid's optimum is 1.31 (loss 0.0049; at 6.8, a third of 20.4, the grid's curve is below 0.0067): PSNR 19.2 dB
# against FBP's 24.8, and 20.8 on the next scan through from:RUN. A neighbour lower by NEIGHBOUR_MARGIN names it.
NEIGHBOUR_FACTOR = 3.0
NEIGHBOUR_MARGIN = 0.02  # relative; the presets end within 1% of the grid's lam, where a third is far worse


def neighbour_warning(lam: float, at: dict[float, float], first: tuple[float, float] | None = None) -> str:
    """A warning where the loss at a neighbour of the learned lam (at: {lam: loss}, the learned one included) is
    lower by more than NEIGHBOUR_MARGIN: the outer loop stopped where the loss does not have its minimum; first:
    the outer loop's first two lams."""
    base = at[lam]
    best = min(at, key=at.get)
    if best == lam or not at[best] < base * (1 - NEIGHBOUR_MARGIN):
        return ""
    jump = f" (its first step took lam from {first[0]:.4g} to {first[1]:.4g})" if first else ""
    return (f"the learned lam={lam:.4g} is not where the loss is lowest along lam: at lam={best:.4g} it is "
            f"{at[best]:.4g}, against {base:.4g}: the outer loop stopped on a flat stretch{jump}; check with "
            f"solver=grid_search (from:RUN reads its lam_learned as this run's) or start nearer, solver.lam0={best:.3g}")


def _unconverged_warning(ev: Evaluation, tol: float, cap: int) -> str:
    if tol > 0:
        how = (f"after its cap of {ev.lower_iters} FISTA iterations, above solver.fixed_point_tol={tol:g}")
        fix = "raise solver.fixed_point_max_iters, run in float64 (float32 stalls near 1e-6)"
    else:
        how = f"after exactly {ev.lower_iters} FISTA iterations (solver.fixed_point_tol=0 runs solver.iters)"
        fix = "set solver.fixed_point_tol (the default 1e-10) to run FISTA to the fixed point"
    return (f"implicit differentiates FISTA's fixed point, but at lam={ev.lam:.4g} the lower level stopped at "
            f"||T(x) - x|| / ||x|| = {ev.fixed_point_residual:.1e} {how}: the hypergradient is not exact (on 64^2 CT "
            f"2e3-2e4 times that residual, relative; docs/ct.md). To fix: {fix}, or use "
            "solver.hypergradient=unrolled or checkpointed (exact for x_N)")


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


