"""Gauss-Newton with Levenberg-Marquardt damping for J(x) = ||r(x)||^2 (Nielsen's damping update), batched.

One loop (`lm_batched`) serves every least-squares solver in regrun: B independent problems advance together,
each with its own damping, and an item that has converged (or stopped) is frozen by a per-item mask while the
others go on; the loop ends when every item is done or at max_iter. Every attempted step counts as an
iteration, accepted or not, as in the paper's `lsq_lma`. What differs between solvers is how a linearization
solves the damped normal equations: densely (`DenseLinearization`: Gauss-Newton, or damped gradient descent)
or matrix-free (joint super-resolution, through `lm_loop` for one unbatched problem).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import torch

from ..monitor import Monitor
from .result import OptimResult

_MAX_DAMPING = 1e16
ResidualJacobian = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
STEP_KINDS = ("gauss_newton", "gradient")


class Linearization(Protocol):
    """The model r + J s of the residuals of a batch at one point: r (B, n), jtr = J^T r (B, p)."""

    r: torch.Tensor
    jtr: torch.Tensor

    def initial_damping(self, tau: float) -> torch.Tensor:
        """(B,) starting damping."""

    def step(self, damping: torch.Tensor) -> torch.Tensor:
        """(B, p) solutions (exact or approximate) of (J^T J + damping D) s = -J^T r, damping (B,)."""

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        """J s, (B, n)."""


class DenseLinearization:
    """Dense Jacobians jac (B, n, p). `kind="gauss_newton"`: (J^T J + mu I) s = -J^T r, mu starting at
    tau * max diag(J^T J). `kind="gradient"`: damped gradient descent, mu s = -J^T r (the model without its
    curvature), mu starting at tau * trace(J^T J), an upper bound of the largest curvature, so tau = 1 starts
    with a step the quadratic model can trust."""

    def __init__(self, r: torch.Tensor, jac: torch.Tensor, kind: str = "gauss_newton"):
        if kind not in STEP_KINDS:
            raise ValueError(f"kind={kind!r} must be one of {STEP_KINDS}")
        self.r, self.jac, self.kind = r, jac, kind
        self.jtr = (jac.transpose(-1, -2) @ r.unsqueeze(-1)).squeeze(-1)
        self.jtj = jac.transpose(-1, -2) @ jac

    def initial_damping(self, tau: float) -> torch.Tensor:
        diag = torch.diagonal(self.jtj, dim1=-2, dim2=-1)
        scale = diag.sum(-1) if self.kind == "gradient" else diag.max(-1).values
        return tau * scale.to(torch.float64)

    def step(self, damping: torch.Tensor) -> torch.Tensor:
        mu = damping.to(self.jtj.dtype)
        if self.kind == "gradient":
            return -self.jtr / mu[:, None]
        eye = torch.eye(self.jtj.shape[-1], dtype=self.jtj.dtype, device=self.jtj.device)
        lhs = self.jtj + mu[:, None, None] * eye
        sol, info = torch.linalg.solve_ex(lhs, self.jtr)
        bad = info != 0
        if bool(bad.any()):  # singular items: least squares instead
            sol = sol.clone()
            sol[bad] = torch.linalg.lstsq(lhs[bad], self.jtr[bad].unsqueeze(-1)).solution.squeeze(-1)
        return -sol

    def apply(self, s: torch.Tensor) -> torch.Tensor:
        return (self.jac @ s.unsqueeze(-1)).squeeze(-1)


@dataclass
class BatchedResult:
    """Per-item outcome of lm_batched; history columns are (n_rows, B), row 0 the starting point."""

    w: torch.Tensor
    J: torch.Tensor
    grad_norm: torch.Tensor
    n_iter: torch.Tensor
    status: list[str]
    message: list[str]
    history: dict[str, torch.Tensor]
    linearization: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LMState:
    """What a step callback sees after each iteration (all per item, shape (B,) unless said)."""

    n: int
    x: torch.Tensor  # (B, p)
    loss: torch.Tensor
    grad_norm: torch.Tensor
    damping: torch.Tensor
    accepted: torch.Tensor
    active: torch.Tensor
    linearization: Any


def _sumsq(r: torch.Tensor) -> torch.Tensor:
    return (r * r).sum(-1).to(torch.float64)


def lm_batched(
    linearize: Callable[[torch.Tensor], Linearization],
    residual: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    max_iter: int = 100,
    gtol: float | torch.Tensor = 1e-5,
    xtol: float = 1e-10,
    tau: float = 1e-3,
    ftol: float = 0.0,
    on_step: Callable[[LMState], bool] | None = None,
) -> BatchedResult:
    """Minimise ||r_b(x_b)||^2 for every item b of x0 (B, p). An item converges when ||grad J|| = 2 ||J^T r||
    < gtol (a float or one per item), when an accepted step is shorter than xtol (||x|| + xtol), or when a
    rejected step's predicted decrease is below the round-off of J, or when an accepted step lowers J by at most
    ftol J (0: never); it stops when its damping blows up; the
    rest end at max_iter attempted steps, or all stop when on_step returns True. `linearize` and `residual`
    see the whole batch; items that are done keep their point, so their values do not change."""
    x = x0.clone()
    roundoff = 8 * torch.finfo(x0.dtype).eps  # of J, in the run's dtype (float32 rounds 2^29 times coarser)
    n_batch = x.shape[0]
    f64 = dict(dtype=torch.float64, device=x.device)
    gtol = torch.as_tensor(gtol, **f64).expand(n_batch)
    lin = linearize(x)
    loss = _sumsq(lin.r)
    grad_norm = 2 * lin.jtr.norm(dim=-1).to(torch.float64)
    damping = lin.initial_damping(tau).to(**f64)
    nu = torch.full((n_batch,), 2.0, **f64)
    active = torch.ones(n_batch, dtype=torch.bool, device=x.device)
    n_iter = torch.zeros(n_batch, dtype=torch.long, device=x.device)
    rows = {"J": [loss], "grad_norm": [grad_norm], "damping": [damping], "accepted": [active.to(torch.float64)]}
    # which test stopped each item, kept on the device and read once at the end: on a GPU a read per test and
    # step was most of the host syncs of a batched registration (the pre-registration: ~6 of ~9 a step)
    stopped = []  # (items the test stopped, kind, message(*an item's values), the values (B,) of that step)

    def finish(mask: torch.Tensor, kind: str, text: Callable[..., str], *values: torch.Tensor):
        stopped.append((mask & active, kind, text, values))
        active.logical_and_(~mask)

    if on_step is not None:
        on_step(LMState(0, x, loss, grad_norm, damping, active.clone(), active.clone(), lin))
    for it in range(1, max_iter + 2):
        finish(grad_norm < gtol, "converged", lambda g, t: f"||grad J|| = {g:.3e} < gtol = {t:g}", grad_norm, gtol)
        if not bool(active.any()) or it > max_iter:
            break
        n_iter = torch.where(active, it, n_iter)
        step = torch.where(active[:, None], lin.step(damping), torch.zeros_like(x))
        r_trial = residual(x + step)
        loss_trial = _sumsq(r_trial)
        # ||r||^2 - ||r + J s||^2 = -2 s^T J^T r - ||J s||^2 for the step actually returned (an iterative solve
        # need not be exact), without the cancellation of subtracting two nearly equal sums: its sign and size
        # stay meaningful down to round-off, which the stopping test below relies on
        predicted = -(2 * (step * lin.jtr).sum(-1).to(torch.float64) + _sumsq(lin.apply(step)))
        rho = torch.where(predicted > 0, (loss - loss_trial) / predicted, torch.full_like(loss, -1.0))
        accepted = active & (rho > 0) & torch.isfinite(loss_trial)
        rejected = active & ~accepted
        loss_before = loss
        if bool(accepted.any()):
            x = torch.where(accepted[:, None], x + step, x)
            # every item is linearized again; an item that did not move gets the same linearization back
            lin = linearize(x)
            loss = torch.where(accepted, _sumsq(lin.r), loss)
            grad_norm = torch.where(accepted, 2 * lin.jtr.norm(dim=-1).to(torch.float64), grad_norm)
            damping = torch.where(accepted, damping * (1.0 - (2.0 * rho - 1.0) ** 3).clamp(min=1.0 / 3.0), damping)
            nu = torch.where(accepted, torch.full_like(nu, 2.0), nu)
        damping = torch.where(rejected, damping * nu, damping)
        nu = torch.where(rejected, nu * 2.0, nu)
        for key, val in (("J", loss), ("grad_norm", grad_norm), ("damping", damping),
                         ("accepted", accepted.to(torch.float64))):
            rows[key].append(val)
        stop = on_step(LMState(it, x, loss, grad_norm, damping, accepted, active.clone(), lin)) if on_step else False
        step_norm = step.norm(dim=-1).to(torch.float64)
        x_norm = x.norm(dim=-1).to(torch.float64)
        finish(accepted & (step_norm <= xtol * (x_norm + xtol)), "converged",
               lambda s: f"step {s:.2e} below xtol = {xtol:g} (relative)", step_norm)
        if ftol > 0:  # a step that lowers J by less than ftol J (e.g. the noise's share of it) changes nothing seen
            decrease = loss_before - loss
            finish(accepted & (decrease <= ftol * loss_before), "converged",
                   lambda d, j: f"J fell by {d:.2e} <= ftol J = {ftol * j:.2e}", decrease, loss_before)
        # the linear model promises less than J's own rounding error: nothing is left to gain
        finish(rejected & (predicted >= 0) & (predicted <= roundoff * loss), "converged",
               lambda p, j: f"predicted decrease {p:.1e} is below round-off of J = {j:.3e}", predicted, loss)
        finish(damping > _MAX_DAMPING, "stopped", lambda d: f"damping {d:.1e} too large: no step reduces J",
               damping)
        if stop:
            finish(torch.ones_like(active), "stopped", lambda: "stopped by a callback")
        # whether any item is left is read once a step, at the loop's top (after the gradient test)
    history = {k: torch.stack(v) for k, v in rows.items()}
    status = ["max_iter"] * n_batch
    message = [f"reached max_iter={max_iter}"] * n_batch
    if stopped:  # the one read of the stopping tests: which items each stopped, and the values its message names
        host = torch.stack([m.to(torch.float64) for m, _, _, _ in stopped]
                           + [v.to(torch.float64).expand(n_batch) for _, _, _, vals in stopped for v in vals]).tolist()
        values = iter(host[len(stopped):])
        for row, (_, kind, text, vals) in zip(host, stopped):
            item_values = [next(values) for _ in vals]
            for b in (b for b, h in enumerate(row) if h):
                status[b], message[b] = kind, text(*(v[b] for v in item_values))
    return BatchedResult(w=x, J=loss, grad_norm=grad_norm, n_iter=n_iter, status=status, message=message,
                         history=history, linearization=lin)


class _BatchOfOne:
    """An unbatched Linearization (r (n,), float damping) seen as a batch of one."""

    def __init__(self, lin):
        self.lin = lin
        self.r, self.jtr = lin.r.unsqueeze(0), lin.jtr.unsqueeze(0)

    def initial_damping(self, tau):
        return torch.tensor([float(self.lin.initial_damping(tau))], dtype=torch.float64, device=self.r.device)

    def step(self, damping):
        return self.lin.step(float(damping[0])).unsqueeze(0)

    def apply(self, s):
        return self.lin.apply(s[0]).unsqueeze(0)


def _report(monitor: Monitor | None, extra_row):
    """An lm_batched callback giving a monitor one row per iteration of a batch of one."""
    if monitor is None:
        return None

    def on_step(state: LMState) -> bool:
        lin = state.linearization
        extra = extra_row(state.x[0], getattr(lin, "lin", lin)) if extra_row else {}
        return monitor.step(iter=state.n, J=float(state.loss[0]), grad_norm=float(state.grad_norm[0]),
                            damping=float(state.damping[0]), accepted=float(state.accepted[0]), **extra)

    return on_step


def _single(out: BatchedResult, extra: dict) -> OptimResult:
    return OptimResult(w=out.w[0], J=float(out.J[0]), grad_norm=float(out.grad_norm[0]), n_iter=int(out.n_iter[0]),
                       status=out.status[0], message=out.message[0], extra=extra)


def lm_loop(
    linearize: Callable[[torch.Tensor], Any],
    residual: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    max_iter: int = 100,
    gtol: float = 1e-5,
    xtol: float = 1e-10,
    tau: float = 1e-3,
    ftol: float = 0.0,
    monitor: Monitor | None = None,
    extra_row: Callable[[torch.Tensor, Any], dict] | None = None,
) -> OptimResult:
    """lm_batched for one problem with an unbatched linearization (r (n,), jtr (p,), step(float damping)),
    e.g. joint_gn's matrix-free one. The result's extra holds the last "linearization"."""
    out = lm_batched(lambda z: _BatchOfOne(linearize(z[0])), lambda z: residual(z[0]).unsqueeze(0),
                     x0.unsqueeze(0), max_iter=max_iter, gtol=gtol, xtol=xtol, tau=tau, ftol=ftol,
                     on_step=_report(monitor, extra_row))
    return _single(out, {"linearization": out.linearization.lin})


def levenberg_marquardt(
    residual_and_jacobian: ResidualJacobian,
    w0: torch.Tensor,
    *,
    max_iter: int = 100,
    gtol: float = 1e-5,
    xtol: float = 1e-10,
    tau: float = 1e-3,
    ftol: float = 0.0,
    monitor: Monitor | None = None,
    residual: Callable[[torch.Tensor], torch.Tensor] | None = None,
    extra_row: Callable[[torch.Tensor], dict] | None = None,
) -> OptimResult:
    """Dense LM for one problem: `residual_and_jacobian(w)` -> (r (n,), J (n, p)); `residual(w)` evaluates r
    alone for trial points (defaults to the first output of residual_and_jacobian). The result's extra holds
    the last "jacobian" and "residual"."""
    residual = residual or (lambda w: residual_and_jacobian(w)[0])

    def linearize(z):
        r, jac = residual_and_jacobian(z[0])
        return DenseLinearization(r.unsqueeze(0), jac.unsqueeze(0))

    out = lm_batched(linearize, lambda z: residual(z[0]).unsqueeze(0), w0.unsqueeze(0), max_iter=max_iter,
                     gtol=gtol, xtol=xtol, tau=tau, ftol=ftol,
                     on_step=_report(monitor, (lambda w, lin: extra_row(w)) if extra_row else None))
    lin = out.linearization
    return _single(out, {"jacobian": lin.jac[0], "residual": lin.r[0]})
