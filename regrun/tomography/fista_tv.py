"""What the CT reconstruction solvers share: FISTA-TV built from a `ct` problem and a solver config, and the
bilevel loss against the problem's ground truth."""
from __future__ import annotations

import torch

from ..errors import UserError, check_choice, check_float, check_int
from ..optim.fista import Fista, power_method
from ..optim.tv_prox import CV_STEPS, PROX_METHODS, TVProx

STORAGE = ("float32", "float16")


def check_fista_options(cfg) -> None:
    check_choice("solver.prox", cfg.prox, PROX_METHODS)
    check_int("solver.iters", cfg.iters, 1)
    check_int("solver.inner_iters", cfg.inner_iters, 1)
    check_int("solver.power_iters", cfg.power_iters, 1)
    check_choice("solver.storage", cfg.storage, STORAGE)
    check_choice("solver.cv_steps", str(cfg.cv_steps), CV_STEPS)
    if cfg.cv_sigma is not None:
        check_float("solver.cv_sigma", cfg.cv_sigma, 0.0, strict=True)


def lipschitz(problem, cfg) -> float:
    """L ~ ||M A||^2 by the power method on M A^T A from ones (the paper: 20 iterations)."""
    mask = problem.mask.to(problem.sinogram.dtype)
    ones = torch.ones(problem.shape, dtype=problem.sinogram.dtype, device=problem.sinogram.device)
    return power_method(lambda x: mask * problem.A.backproject(problem.A.project(x)), ones, int(cfg.power_iters))


def make_fista(problem, cfg, L: float, method: str | None = None, paper: bool = False,
               storage: str | None = None, restart: str = "none") -> Fista:
    """FISTA-TV on the problem's data. paper=True: the released code's graph (projector outside autograd,
    aCV with the dual gradient dropped, float16 storage). restart: regrun.optim.fista.RESTARTS (bilevel's
    solver.restart; fista_tv and grid_search run plain FISTA, as the paper)."""
    method = "acv" if paper else (method or str(cfg.prox))
    storage = "float16" if paper else (storage or str(cfg.storage))
    prox = TVProx(method, len(problem.shape), cv_steps=str(cfg.cv_steps), sigma=cfg.cv_sigma,
                  storage=torch.float16 if storage == "float16" else None, paper=paper)
    mask = problem.mask.to(problem.sinogram.dtype)
    return Fista(problem.A, problem.A.adjoint, problem.sinogram, problem.shape, prox, int(cfg.inner_iters),
                 mask=mask, lipschitz=L, paper=paper, restart="none" if paper else restart)


def require_truth(problem, solver: str):
    if getattr(problem, "truth", None) is None:
        raise UserError(f"solver={solver} learns against a ground truth and this problem has none: use "
                        "problem.truth=phantom or dense_fbp (synthetic data) or problem.truth_file=PATH")
    return problem.truth


def masked_loss(x: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> float:
    """1/2 ||M (x - x_gt)||^2 / ||M x_gt||^2, the bilevel loss."""
    r = (x - truth) * mask
    t = truth * mask
    return float(0.5 * (r * r).sum() / (t * t).sum())


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
