"""What the CT reconstruction solvers share: FISTA-TV built from a `ct` problem and a solver config, and the
bilevel loss against the problem's ground truth."""
from __future__ import annotations

import math

import torch

from ..errors import UserError, check_choice, check_float, check_int
from ..optim.fista import Fista, power_method
from ..optim.tv_prox import CV_STEPS, PROX_METHODS, TVProx
from .model_resolution import cell_average, finer

STORAGE = ("float32", "float16")
TV_GRID_DATA = ("fine", "pixel")
# solver.tv_grid_auto_above: what tv_grid=auto does above tv_grid_auto_size
TV_GRID_ABOVE = ("output_grid", "pixel", "fine")
TV_GRID_MAX = 4  # the unknown's grid at most 4x finer per axis (16x the pixels in 2-D: the cost grows as k^ndim)
DATA_WEIGHTS = ("none", "poisson")  # solver.data_weight
# solver.data_weight=poisson: a ray's transmission is floored here before it weighs the ray. A ray at or below zero
# transmission (counts clamped or lost: -log gives +inf or NaN) carries no photon statistics to weigh it by; a weight
# of exactly 0 would drop it silently, this floor keeps it in the fit at 1/1000 of an unattenuated ray's say (at 1e4
# photons that is the weight of 10 counts), so it cannot pull the answer and no NaN reaches FISTA
TRANSMISSION_FLOOR = 1e-3


def check_fista_options(cfg) -> None:
    check_choice("solver.prox", cfg.prox, PROX_METHODS)
    check_int("solver.iters", cfg.iters, 1)
    check_int("solver.inner_iters", cfg.inner_iters, 1)
    check_int("solver.power_iters", cfg.power_iters, 1)
    if not isinstance(cfg.prox_warm_start, bool):
        raise UserError(f"solver.prox_warm_start={cfg.prox_warm_start!r}: allowed true, false")
    check_choice("solver.storage", cfg.storage, STORAGE)
    check_choice("solver.cv_steps", str(cfg.cv_steps), CV_STEPS)
    if cfg.cv_sigma is not None:
        check_float("solver.cv_sigma", cfg.cv_sigma, 0.0, strict=True)


def check_data_weight(cfg) -> None:
    """solver.data_weight and data_weight_transmission (fista_tv's; grid_search and bilevel have neither)."""
    check_choice("solver.data_weight", str(cfg.data_weight), DATA_WEIGHTS)
    t = cfg.data_weight_transmission
    if t is not None and not 0 < check_float("solver.data_weight_transmission", t, 0.0, strict=True) < 1:
        raise UserError(f"solver.data_weight_transmission={t}: null (the sinogram is -log(I/I0) itself) or a "
                        "transmission in (0, 1), the share of the photons the largest line integral lets through")


def data_weights(sinogram: torch.Tensor, cfg) -> tuple[torch.Tensor | None, float]:
    """(W, kappa): solver.data_weight=poisson's per-ray weights, the inverse of -log's Poisson variance up to a
    constant (Var p_i ~ 1 / (I0 exp(-kappa p_i)): Sauer and Bouman 1993, Fessler's PWLS), w_i = exp(-kappa p_i)
    from the measured sinogram, the transmission floored at TRANSMISSION_FLOOR, normalised to mean 1 so that lam
    keeps its meaning (a uniform W is plain least squares); on the sinogram's device and dtype. kappa turns the
    sinogram's values into -log(I/I0): 1 (solver.data_weight_transmission null: a scanner's -log of its counts) or
    -log(T) / the sinogram's largest value (T given: data in other units whose densest ray transmits T, as
    regrun's own simulations with problem.min_transmission 0.05). (None, 0.0) for `none`."""
    if cfg.get("data_weight") in (None, "none"):  # grid_search's and bilevel's configs have no such key
        return None, 0.0
    t = cfg.get("data_weight_transmission")
    finite = torch.nan_to_num(sinogram, nan=0.0, posinf=0.0, neginf=0.0)
    top = float(finite.max())
    if t is None:
        kappa = 1.0
    elif top <= 0:
        raise UserError(f"solver.data_weight_transmission={t}: the sinogram's largest value is {top:.4g}, so no "
                        "line integral to scale by it; leave it null or use solver.data_weight=none")
    else:
        kappa = -math.log(float(t)) / top
    trans = torch.exp(-kappa * torch.nan_to_num(sinogram, nan=math.inf))  # NaN: no transmission measured
    w = trans.clamp_min(TRANSMISSION_FLOOR)
    return w / w.mean(), kappa


def check_tv_grid(cfg) -> None:
    """solver.tv_grid (an integer or auto) and tv_grid_data (fista_tv's; grid_search and bilevel keep the
    output's pixel grid)."""
    if str(cfg.tv_grid) == "auto":
        check_int("solver.tv_grid_auto_size", cfg.tv_grid_auto_size, 1)
        check_choice("solver.tv_grid_auto_above", str(cfg.tv_grid_auto_above), TV_GRID_ABOVE)
    elif not 1 <= check_int("solver.tv_grid", cfg.tv_grid, 1) <= TV_GRID_MAX:
        raise UserError(f"solver.tv_grid={cfg.tv_grid}: auto, or 1 (the output's pixel grid) to {TV_GRID_MAX}")
    check_choice("solver.tv_grid_data", cfg.tv_grid_data, TV_GRID_DATA)
    if cfg.get("tv_grid_cache_mb") is not None:
        check_float("solver.tv_grid_cache_mb", cfg.tv_grid_cache_mb, 0.0)


class _UpSample:
    """A problem's projector seen by an unknown on a grid `factor` times finer through its cell average (the
    data model unchanged, TV on the finer grid): project(x) = A B x, backproject = B^T A^T with B^T y = y
    repeated over each cell / factor^ndim (B's transpose). __call__ / adjoint as the projector's (autograd)."""

    def __init__(self, A, factor: int):
        self.A, self.factor = A, factor

    def _up(self, y: torch.Tensor) -> torch.Tensor:
        for k in range(y.ndim):
            y = y.repeat_interleave(self.factor, k)
        return y / self.factor ** y.ndim

    def project(self, x):
        return self.A.project(cell_average(x, self.factor))

    def backproject(self, y):
        return self._up(self.A.backproject(y))

    def __call__(self, x):
        return self.A(cell_average(x, self.factor))

    def adjoint(self, y):
        return self._up(self.A.adjoint(y))


class UnknownGrid:
    """The problem as FISTA-TV sees it when its unknown lies on a grid `factor` times finer than the output (the
    same detector and orbit; solver.tv_grid, docs/ct.md "Eleventh round"): shape, mask and projector on that
    grid, the same sinogram, and `output(x)` the fine image's cell average on the output grid. data `fine`: the
    fine grid's own projector (the data model resolves detail below the output pixel); `pixel`: the output
    grid's projector applied to the cell average (only TV moves to the finer grid). factor 1: the problem itself
    (output is the identity). Anything else (cfg, kind, views, truth on the output grid...) is the problem's.
    `geometry` is the unknown's grid's: the `resolved` reference's kernels are the data at the resolution of
    the model the fit uses. TV on the finer grid is weighted by 1 / factor (`tv_scale`): an edge is factor times
    longer in fine pixels, so lam keeps its units (per output pixel of edge length) across tv_grid."""

    def __init__(self, problem, factor: int = 1, data: str = "fine", cache_mb: float = 0.0):
        self.problem, self.factor, self.data = problem, int(factor), data
        self.tv_scale = 1.0 / self.factor
        if self.factor == 1:
            self.A, self.shape, self.mask = problem.A, problem.shape, problem.mask  # the rest by __getattr__
            return
        self.shape = tuple(n * self.factor for n in problem.shape)
        mask = problem.mask
        for k in range(mask.ndim):
            mask = mask.repeat_interleave(self.factor, k)
        self.mask = mask
        self.geometry = finer(problem.geometry, self.factor)
        if data == "pixel":
            self.A = _UpSample(problem.A, self.factor)
            return
        if type(problem.A).__name__ == "AstraTransform":
            from .astra import AstraTransform

            self.A = AstraTransform(self.geometry)
        else:
            from .xray import XRayTransform

            # no ray cache by default: the fine grid's rays are 2-4x as many per view as the output's
            # (solver.tv_grid_cache_mb; a cache's products differ from the on-the-fly ones in the last bits)
            self.A = XRayTransform(self.geometry, cache_mb=cache_mb)

    def __getattr__(self, name):  # what FISTA does not see differently: the problem's own
        return getattr(self.problem, name)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.factor == 1 else cell_average(x, self.factor)


def tv_grid_choice(cfg, shape) -> tuple[int, str]:
    """(factor, data model) of solver.tv_grid and tv_grid_data for an output of `shape`. auto: 2 with
    tv_grid_data while the output is at most tv_grid_auto_size pixels across (the cost: about 4x per FISTA run in
    2-D with `fine`); above it as tv_grid_auto_above says: `output_grid` the output's pixel grid (1), `pixel` or
    `fine` the 2x grid with that data model (docs/ct.md "Thirteenth round")."""
    if str(cfg.tv_grid) == "auto":
        if max(shape[:2]) <= int(cfg.tv_grid_auto_size):
            return 2, str(cfg.tv_grid_data)
        above = str(cfg.tv_grid_auto_above)
        return (1, str(cfg.tv_grid_data)) if above == "output_grid" else (2, above)
    return int(cfg.tv_grid), str(cfg.tv_grid_data)


def tv_grid_factor(cfg, shape) -> int:
    """solver.tv_grid's factor for an output of `shape` (tv_grid_choice)."""
    return tv_grid_choice(cfg, shape)[0]


def unknown_grid(problem, cfg) -> UnknownGrid:
    """The problem on solver.tv_grid's grid with its data model (tv_grid_choice), its projector's ray cache
    solver.tv_grid_cache_mb (0 where the config has none: grid_search, bilevel)."""
    return UnknownGrid(problem, *tv_grid_choice(cfg, problem.shape), cache_mb=float(cfg.get("tv_grid_cache_mb") or 0))


def lipschitz(problem, cfg) -> float:
    """L ~ ||M A||^2 by the power method on M A^T A from ones (the paper: 20 iterations); M A^T W A with
    solver.data_weight's weights (data_weights)."""
    mask = problem.mask.to(problem.sinogram.dtype)
    ones = torch.ones(problem.shape, dtype=problem.sinogram.dtype, device=problem.sinogram.device)
    w, _ = data_weights(problem.sinogram, cfg)
    weigh = (lambda y: y) if w is None else (lambda y: w * y)
    return power_method(lambda x: mask * problem.A.backproject(weigh(problem.A.project(x))), ones, int(cfg.power_iters))


def make_fista(problem, cfg, L: float, method: str | None = None, paper: bool = False,
               storage: str | None = None, restart: str = "none") -> Fista:
    """FISTA-TV on the problem's data, its misfit weighted by solver.data_weight's weights (data_weights; fista_tv's
    setting, plain least squares where the config has none). paper=True: the released code's graph (projector
    outside autograd, aCV with the dual gradient dropped, float16 storage). restart: regrun.optim.fista.RESTARTS
    (bilevel's solver.restart; fista_tv and grid_search run plain FISTA, as the paper)."""
    method = "acv" if paper else (method or str(cfg.prox))
    storage = "float16" if paper else (storage or str(cfg.storage))
    prox = TVProx(method, len(problem.shape), cv_steps=str(cfg.cv_steps), sigma=cfg.cv_sigma,
                  storage=torch.float16 if storage == "float16" else None, paper=paper)
    mask = problem.mask.to(problem.sinogram.dtype)
    return Fista(problem.A, problem.A.adjoint, problem.sinogram, problem.shape, prox, int(cfg.inner_iters),
                 mask=mask, lipschitz=L, paper=paper, restart="none" if paper else restart,
                 tv_scale=getattr(problem, "tv_scale", 1.0), warm_start=bool(cfg.prox_warm_start),
                 weights=data_weights(problem.sinogram, cfg)[0])


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
