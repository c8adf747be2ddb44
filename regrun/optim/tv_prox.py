"""The TV + nonnegativity prox, problem (6) of seed 003 (Guerrero, Bellens, Dewulf):

    prox(b, mu) = argmin_u  1/2 ||u - b||^2 + mu TV(u) + i_{u >= 0}(u),   TV(u) = sum_i |(grad u)_i|_2,

with the Neumann forward-difference gradient (regrun.linalg.differences), by three dual iterations, each a
step function (state, params) -> state with params = (b, mu) so that the iteration runner
(regrun.linalg.iterate) differentiates it in every mode:

- gp:  gradient projection on the dual (Beck and Teboulle 2009): u = P+(b + mu div p),
       p <- P_B1(p + 1/(mu L) grad u), L = ||grad||^2 bound (8 in 2-D, 12 in 3-D); mu enters both steps.
- cv:  Condat-Vu on (6) with steps (9), as the released code writes it (no extrapolation, no relaxation):
       u = P+(b + div v), v <- P_Bmu(v + sigma grad u), sigma = 1/(tau L) with tau = 1; mu enters only the
       ball's radius. With the steps (7) of the rescaled problem (8) (tau = mu, sigma = 1/(mu L)) the same
       code gives GP's iterates exactly (tests/test_ct_optim.py); with (9) the dual is v = mu p.
- acv: cv with the ball projection as a torch.autograd.Function (`BallProjection`) that stores only the
       pre-projection dual (optionally in float16) and recomputes the rest in the backward pass: the
       generalized Jacobian of P_B (identity inside, r/|v| (I - n n^T) outside) and d/dr P = H(|v| - r) n,
       eq. (12), with the strict Heaviside (0 at the kink).
       paper=True reproduces the released Proj_2: no gradient for v (every chain through earlier duals
       is cut) - a truncated hypergradient, see ../shared/notes/ct_bilevel.md section 1.4.

One prox evaluation (`tv_prox`) starts from a zero dual, runs `iters` dual iterations, then one final
primal step (u, v restart from 0 at every call, as in the paper's FISTA); `TVProx.warm` starts from a given
dual state instead (solver.prox_warm_start).
"""
from __future__ import annotations


import torch
import torch.autograd.forward_ad as fwad

from ..errors import check_choice
from ..linalg.differences import divergence, gradient, gradient_norm_squared_bound
from ..linalg.iterate import DiffMode, diff_mode, iterate

PROX_METHODS = ("gp", "cv", "acv")
CV_STEPS = ("9", "7")


class _PointwiseNorm(torch.autograd.Function):
    """|v|_2 along `dim` (keepdim), computed as sqrt(sum v^2): torch's norm over that short outer axis is 30x
    slower on the CPU (1.9 ms against 0.06 ms at 2 x 128^2, one thread; it was most of a FISTA-TV step).
    Saves what torch.norm saves (the input and the output, so the memory counts of Table 1 are unchanged) and
    has torch.norm's derivative, 0 at v = 0 (a bare sqrt would give 0 * inf = NaN there, and zero duals are
    common: flat regions)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(v, dim):
        return (v * v).sum(dim=dim, keepdim=True).sqrt()

    @staticmethod
    def setup_context(ctx, inputs, output):
        v, ctx.dim = inputs
        ctx.save_for_backward(v, output)
        ctx.save_for_forward(v, output)

    @staticmethod
    def _over(x, norm):
        nonzero = norm > 0
        return torch.where(nonzero, x / torch.where(nonzero, norm, torch.ones_like(norm)), torch.zeros_like(x))

    @staticmethod
    def backward(ctx, g):
        v, norm = ctx.saved_tensors
        return _PointwiseNorm._over(g, norm) * v, None

    @staticmethod
    def jvp(ctx, dv, _):
        v, norm = ctx.saved_tensors
        return _PointwiseNorm._over((v * dv).sum(dim=ctx.dim, keepdim=True), norm)


def pointwise_norm(v: torch.Tensor, ndim: int) -> torch.Tensor:
    """|v_i|_2 over the gradient-component axis (-ndim - 1), keepdim (fast; torch.norm's derivative)."""
    return _PointwiseNorm.apply(v, v.dim() - ndim - 1)


def project_ball(v: torch.Tensor, radius: torch.Tensor | float, ndim: int) -> torch.Tensor:
    """P_B(v)_i = v_i / max(1, |v_i|_2 / r), |.| over the gradient-component axis (-ndim - 1), eq. (13)."""
    norm = pointwise_norm(v, ndim)
    return v / torch.clamp(norm / radius, min=1.0)


class BallProjection(torch.autograd.Function):
    """P_B(v) with radius r, storing only v (in `storage` dtype) and r for the backward pass."""

    @staticmethod
    def forward(ctx, v, radius, ndim: int, storage: torch.dtype | None, drop_v_grad: bool):
        ctx.ndim, ctx.drop_v_grad, ctx.dtype = ndim, drop_v_grad, v.dtype
        ctx.save_for_backward(v.to(storage) if storage is not None else v, radius)
        with torch.no_grad():
            return project_ball(v, radius, ndim)

    @staticmethod
    def backward(ctx, g):
        v, radius = ctx.saved_tensors
        v = v.to(ctx.dtype)
        axis = -ctx.ndim - 1
        norm = pointwise_norm(v, ctx.ndim)
        outside = norm > radius  # strict: at the kink the subgradient 0 is picked, as eq. (12)
        safe = torch.where(outside, norm, torch.ones_like(norm))
        n = v / safe
        grad_r = None
        if ctx.needs_input_grad[1]:
            d_r = torch.where(outside, n, torch.zeros_like(n))  # dP/dr = H(|v| - r) v/|v|
            grad_r = (g * d_r).sum().reshape(radius.shape) if radius.dim() == 0 else \
                (g * d_r).sum_to_size(radius.shape)
        grad_v = None
        if ctx.needs_input_grad[0] and not ctx.drop_v_grad:
            gn = (g * n).sum(axis, keepdim=True)
            grad_v = torch.where(outside, (radius / safe) * (g - n * gn), g)
        return grad_v, grad_r, None, None, None


def positive(x: torch.Tensor) -> torch.Tensor:
    """P+(x), written as a select so that autograd stores only the 1-byte mask (the released code's
    in-place `u[u < 0] = 0`); derivative 0 at the kink."""
    return torch.where(x > 0, x, torch.zeros((), dtype=x.dtype, device=x.device))


def _divergence_into(out: torch.Tensor, tmp: torch.Tensor, v: torch.Tensor, ndim: int, h: float) -> torch.Tensor:
    """divergence(v, ndim, h) written into `out` (`tmp` a buffer of its shape): each axis's term, -(cat(0, c) -
    cat(c, 0)) / h of c the component's first n - 1 entries, as (cat(c, 0) - cat(0, c)) / h (the same numbers: IEEE
    a - b = -(b - a); zeros may differ in sign, which the one use, u - (u - b - div), rounds away as positive() maps
    both to +0), the terms summed in divergence's order."""
    for axis in range(ndim):
        comp = v.select(-ndim - 1, axis)
        dim = comp.dim() - ndim + axis
        n = comp.shape[dim]
        term = out if axis == 0 else tmp
        torch.sub(comp.narrow(dim, 1, n - 2), comp.narrow(dim, 0, n - 2), out=term.narrow(dim, 1, n - 2))
        term.narrow(dim, 0, 1).copy_(comp.narrow(dim, 0, 1))
        term.narrow(dim, n - 1, 1).copy_(torch.rsub(comp.narrow(dim, n - 2, 1), 0.0))
        if h[axis] != 1.0:  # x / 1 is x: divergence's division by a unit spacing changes no number
            term.div_(h[axis])
        if axis:
            out.add_(term)
    return out


def _cv9_in_place(b: torch.Tensor, mu: torch.Tensor, iters: int, ndim: int, h, sigma: float, state=None):
    """TVProx("cv", cv_steps="9").warm(b, mu, iters, state=state) without autograd, in place on buffers allocated
    once: the same floating-point operations in the same order on every entry (tests/test_tv_prox_fast.py compares
    them bit for bit), at about half the memory passes and none of the 4-6 new tensors a step makes (a FISTA-TV
    step's prox was 42% of `auto`'s CPU at 256^2: docs/ct.md "(ctcost)"). A given state is copied, not changed."""
    from ..linalg.differences import _spacing

    h = _spacing(h, ndim)
    if state is None:
        u = torch.zeros_like(b)
        v = b.new_zeros(b.shape[:-ndim] + (ndim,) + b.shape[-ndim:])
    else:
        u, v = (t.clone() for t in state)
    grad = torch.zeros_like(v)  # each component's last slice along its axis stays 0 (Neumann)
    div, tmp, sq = torch.empty_like(b), torch.empty_like(b), torch.empty_like(b)
    norm = torch.empty_like(b).unsqueeze(-ndim - 1)

    def primal(u):  # u <- P+(u - (u - b - div v))
        _divergence_into(div, tmp, v, ndim, h)
        torch.sub(u, b, out=tmp)
        tmp.sub_(div)
        u.sub_(tmp)
        return u.masked_fill_(torch.logical_not(u > 0), 0.0)

    for _ in range(iters):
        primal(u)
        for axis in range(ndim):  # grad u (forward differences, the last one 0), times sigma, added to v
            dim = u.dim() - ndim + axis
            n = u.shape[dim]
            g = grad.select(-ndim - 1, axis).narrow(dim, 0, n - 1)
            torch.sub(u.narrow(dim, 1, n - 1), u.narrow(dim, 0, n - 1), out=g)
            if h[axis] != 1.0:
                g.div_(h[axis])
        v.add_(grad.mul_(sigma))
        n2 = norm.squeeze(-ndim - 1)  # |v|: the components' squares summed in order, as sum() over that axis
        torch.mul(v.select(-ndim - 1, 0), v.select(-ndim - 1, 0), out=n2)
        for axis in range(1, ndim):
            torch.mul(v.select(-ndim - 1, axis), v.select(-ndim - 1, axis), out=sq)
            n2.add_(sq)
        v.div_(norm.sqrt_().div_(mu).clamp_(min=1.0))
    return primal(u.clone()), (u, v)


class TVProx:
    """The step functions of one prox method for images with `ndim` spatial axes (the last ones).

    States: gp the unit-ball dual p; cv / acv the pair (u, v). Condat-Vu is written for the scaled problem
    min 1/(2 s) ||u - b||^2 + c TV(u) + i+ with primal step tau and dual step sigma:
        u <- P+(u - tau ((u - b) / s - div v)),  v <- P_Bc(v + sigma grad u)
    steps (9): s = 1, c = mu, tau = 1, sigma = 1 / (tau L) (or `sigma`); steps (7): s = mu, c = 1, tau = mu,
    sigma = 1 / (mu L).
    """

    def __init__(self, method: str = "cv", ndim: int = 2, h: float = 1.0, cv_steps: str = "9",
                 sigma: float | None = None, storage: torch.dtype | None = None, paper: bool = False):
        check_choice("solver.prox", method, PROX_METHODS)
        check_choice("solver.cv_steps", str(cv_steps), CV_STEPS)
        self.method, self.ndim, self.h = method, ndim, h
        self.L = gradient_norm_squared_bound(ndim, h)
        self.cv_steps = "9" if method == "acv" else str(cv_steps)
        self.sigma = sigma  # cv (9): the dual step; default 1 / L (the released code used 1/18 in 3-D)
        self.storage = storage
        self.paper = paper

    def grad(self, u):
        return gradient(u, self.ndim, self.h)

    def div(self, p):
        return divergence(p, self.ndim, self.h)

    def _cv_primal(self, u, v, b, mu):
        if self.cv_steps == "7":
            return positive(u - mu * ((u - b) / mu - self.div(v)))
        return positive(u - (u - b - self.div(v)))

    def step(self, state, params):
        b, mu = params
        if self.method == "gp":
            p = state
            u = positive(b + mu * self.div(p))
            return project_ball(p + self.grad(u) / (mu * self.L), 1.0, self.ndim)
        u, v = state
        u = self._cv_primal(u, v, b, mu)
        if self.cv_steps == "7":
            return u, project_ball(v + (1.0 / (mu * self.L)) * self.grad(u), 1.0, self.ndim)
        sigma = self.sigma if self.sigma is not None else 1.0 / self.L
        w = v + sigma * self.grad(u)
        if self.method == "acv":
            return u, BallProjection.apply(w, mu, self.ndim, self.storage, self.paper)
        return u, project_ball(w, mu, self.ndim)

    def start(self, b: torch.Tensor):
        v = b.new_zeros(b.shape[:-self.ndim] + (self.ndim,) + b.shape[-self.ndim:])
        return v if self.method == "gp" else (torch.zeros_like(b), v)

    def output(self, state, b, mu) -> torch.Tensor:
        """The final primal step."""
        if self.method == "gp":
            return positive(b + mu * self.div(state))
        return self._cv_primal(state[0], state[1], b, mu)

    def __call__(self, b: torch.Tensor, mu: torch.Tensor, iters: int,
                 mode: DiffMode | None = None) -> torch.Tensor:
        """prox(b, mu) after `iters` dual iterations from zero, then the final primal step."""
        return self.warm(b, mu, iters, mode)[0]

    def warm(self, b: torch.Tensor, mu: torch.Tensor, iters: int, mode: DiffMode | None = None, state=None):
        """(prox(b, mu), the dual state) after `iters` dual iterations from `state` (None: from zero). Fed the
        previous call's state, the duals keep converging across calls (Beck and Teboulle's practice in FISTA,
        where b moves little between steps), so the prox error vanishes as FISTA converges."""
        if self._plain(b, mu, state):
            return _cv9_in_place(b, mu, iters, self.ndim, self.h, self.sigma if self.sigma is not None else 1.0 / self.L,
                                 state)
        state = iterate(self.step, self.start(b) if state is None else state, (b, mu), iters,
                        mode or diff_mode("unrolled"))
        return self.output(state, b, mu), state

    def _plain(self, b: torch.Tensor, mu, state) -> bool:
        """Whether `warm` may take _cv9_in_place: cv with steps (9), nothing to differentiate (no autograd graph, no
        forward-mode tangent: FISTA's runs at a fixed weight and every training run of `auto`'s search), 2-D or 3-D
        images of at least two pixels an axis."""
        tensors = (b, mu) + (tuple(state) if state is not None else ())
        # a step replaced on the instance or in a subclass (scripts/diag_ct_sart_gap.py's box clips the primal step)
        # is that step, which the in-place path would skip: such a prox runs step by step
        own = (not {"_cv_primal", "step", "output"} & vars(self).keys()
               and type(self)._cv_primal is TVProx._cv_primal and type(self).step is TVProx.step)
        return (own and self.method == "cv" and self.cv_steps == "9"
                and not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors if torch.is_tensor(t)))
                and all(not torch.is_tensor(t) or fwad.unpack_dual(t).tangent is None for t in tensors)
                and self.ndim in (2, 3) and b.dim() >= self.ndim and min(b.shape[-self.ndim:]) >= 2)

    def objective(self, u: torch.Tensor, b: torch.Tensor, mu) -> torch.Tensor:
        """1/2 ||u - b||^2 + mu TV(u) (u feasible)."""
        tv = pointwise_norm(self.grad(u), self.ndim).sum()
        return 0.5 * ((u - b) ** 2).sum() + mu * tv
