"""One mechanism to differentiate through an inner iteration z_{k+1} = step(z_k, params), k < N.

Every iterative inner solver (CG on the normal equations, FISTA, the TV prox loops) is written as a step
function and run by `iterate`, so every differentiation mode applies to each of them and a caller writes
`torch.autograd.grad(loss, params)` (or `torch.func.jacfwd`) the same way whatever the mode:

- none:         no derivative flows through the iteration (the result is a constant);
- unrolled:     AD through every step (exact derivative of the N-th iterate); memory O(N) in reverse mode;
- truncated:    the first (1 - p) N steps run without derivatives, the last p N with them (`fraction` = p);
                the tracked part continues from the constant state, or from `resume(state, params)`;
- checkpointed: unrolled, but through torch.utils.checkpoint over segments of `segment` steps (default
                round(sqrt(N))): only the segment boundaries are stored and each segment is recomputed in
                the backward pass, memory O(N / segment + segment), about twice the compute. Forward mode
                stores nothing, so there the segments simply run (same derivative);
- implicit:     the N steps run without derivatives to (near) the fixed point z* = T(z*, params) (with a
                `FixedPointStop`: until ||T(z) - z|| / ||z|| <= tol, N being the cap); its derivative comes
                from the implicit function theorem, dz* = (I - dT/dz)^-1 dT/dparams,
                through a torch.autograd.Function over the fixed-point map T (reverse: one adjoint solve
                (I - dT/dz)^T w = g per cotangent, by autograd on one graph of T; forward: one solve per
                tangent, by torch.func.jvp, so T must then be functorch-compatible). Nothing of the run is
                stored: memory O(1) in N. The solve is a Neumann series (needs the spectral radius of dT/dz
                below 1, as for any contraction; a fixed number of terms, so it is truncated where that radius
                is near 1), CG (needs I - dT/dz symmetric positive definite, as for a gradient step on a convex
                quadratic) or restarted GMRES (any nonsingular I - dT/dz; stops at a relative residual), with
                its own iteration count; `AdjointSolve.report` receives each solve's products and residual.

`full` and `tail` are accepted as aliases of unrolled and truncated (older configs and sweeps).

Design after theseus' BackwardMode (unroll / truncated / implicit selected per solve, not per caller) and
deepinv's implicit backward for fixed-point layers (the Jacobian-free adjoint solve at the fixed point).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.checkpoint import checkpoint

from ..errors import UserError, check_choice, check_float, check_int
from .krylov import cg, gmres

MODES = ("none", "unrolled", "truncated", "checkpointed", "implicit")
ALIASES = {"full": "unrolled", "tail": "truncated"}
ADJOINT_METHODS = ("neumann", "cg", "gmres")

State = torch.Tensor | Sequence[torch.Tensor]
Params = torch.Tensor | Sequence[torch.Tensor]


@dataclass(frozen=True)
class AdjointSolve:
    """How implicit mode solves its linear system with I - dT/dz."""
    method: str = "neumann"
    iters: int = 100
    rtol: float = 0.0  # cg: a column stops at ||r|| <= rtol ||r_0|| (held by a select, vmap-safe); gmres: the
    #                    solve stops at ||r|| <= rtol ||rhs||
    restart: int = 50  # gmres: Krylov vectors kept before a restart (memory: restart + 1 image-sized vectors)
    # called after every solve with (method, products with dT/dz, true relative residual ||r|| / ||rhs||), so
    # a caller can record how well each adjoint was solved; not part of the settings' identity
    report: Callable | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class FixedPointStop:
    """Implicit mode's forward run: how close to the fixed point it must get before it is differentiated.
    The implicit derivative is that of the fixed point, so it is exact only when the run has reached it; with
    tol > 0 the run stops once ||T(z) - z|| / ||z|| <= tol (checked every `check` steps, one extra T each:
    1/check more work), the iteration count becoming a cap. `report(steps, residual)` receives the steps run
    and the residual reached (also with tol = 0: one more T after the last step)."""
    tol: float = 0.0
    check: int = 10
    report: Callable | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class DiffMode:
    kind: str                  # one of MODES (aliases resolved)
    fraction: float = 1.0      # truncated: the share of the steps that is differentiated
    restart: bool = False      # truncated: the caller's resume() restarts the tracked part
    segment: int = 0           # checkpointed: steps per segment, 0 = round(sqrt(N))
    adjoint: AdjointSolve = field(default_factory=AdjointSolve)
    name: str = ""             # as the user gave it (alias kept for labels)
    stop: FixedPointStop = field(default_factory=FixedPointStop)  # implicit: the forward run's stop

    def split(self, iters: int) -> tuple[int, int]:
        """(steps without derivatives, steps with derivatives) out of `iters`."""
        if self.kind in ("none", "implicit"):
            return iters, 0
        if self.kind == "truncated":
            tracked = round(self.fraction * iters)
            return iters - tracked, tracked
        return 0, iters


def diff_mode(kind: str, fraction: float | None = None, name: str = "mode", allowed: Sequence[str] | None = None,
              restart: bool = False, segment: int = 0, adjoint: AdjointSolve | None = None,
              stop: FixedPointStop | None = None) -> DiffMode:
    """Validated differentiation mode; a bad value is a UserError naming what is allowed."""
    allowed = tuple(MODES + tuple(ALIASES)) if allowed is None else tuple(allowed)
    check_choice(name, kind, allowed)
    canonical = ALIASES.get(kind, kind)
    segment = check_int("segment", segment, 0)
    adjoint = adjoint or AdjointSolve()
    check_choice("adjoint method", adjoint.method, ADJOINT_METHODS)
    check_int("adjoint iters", adjoint.iters, 1)
    check_float("adjoint rtol", adjoint.rtol, 0.0)
    check_int("adjoint restart", adjoint.restart, 1)
    stop = stop or FixedPointStop()
    check_float("fixed-point tol", stop.tol, 0.0)
    check_int("fixed-point check", stop.check, 1)
    if fraction is not None:  # checked whatever the mode, so a bad value is never silently ignored
        key = f"{name.rpartition('.')[0]}.diff_fraction".lstrip(".")  # solver.jacobian -> solver.diff_fraction
        fraction = check_float(key, fraction, 0.0, strict=True)
        if fraction > 1:
            raise UserError(f"{key}={fraction:g} must be in (0, 1]")
    if canonical == "truncated":
        if fraction is None:
            raise UserError(f"{name}={kind} needs a differentiated fraction in (0, 1]")
        return DiffMode(canonical, fraction, bool(restart), segment, adjoint, kind, stop)
    return DiffMode(canonical, 1.0, False, segment, adjoint, kind, stop)


def _tuple(x) -> tuple:
    return (x,) if isinstance(x, torch.Tensor) else tuple(x)


def _like(template, items: tuple):
    """`items` in the structure of `template`: a tensor, a tuple/list, or a NamedTuple."""
    if isinstance(template, torch.Tensor):
        return items[0]
    if hasattr(template, "_fields"):
        return type(template)(*items)
    return type(template)(items)


def _detach(x):
    return _like(x, tuple(t.detach() for t in _tuple(x)))


def iterate(step: Callable, init, params: Params, iters: int, mode: DiffMode, *,
            output: Callable | None = None, fixed_point: Callable | None = None,
            resume: Callable | None = None):
    """Run `iters` steps state <- step(state, params) and return output(state) (default: the state),
    differentiable in `params` as `mode` says.

    init:        the initial state (a tensor or tuple of tensors), or a callable init(params) when the start
                 depends on the parameters (it is called with detached parameters for an undifferentiated
                 first part);
    output:      the differentiated result z = output(state) (default identity);
    fixed_point: implicit mode's map z <- T(z, params) whose fixed point is the result (default: `step`,
                 which needs output to be the identity);
    resume:      truncated mode: resume(state, params) starts the tracked part from the constant state of
                 the untracked part (default: continue with the state as it is).
    """
    out = output or (lambda s: s)
    p_const = _detach(params)
    n_plain, n_tracked = mode.split(iters)
    start = init if callable(init) else (lambda p: init)
    if mode.kind == "implicit" and fixed_point is None and output is not None:
        raise ValueError("implicit mode with an output map needs the fixed-point map of the output")
    if n_plain > 0:
        with torch.no_grad():  # detaching the parameters also blocks forward-mode tangents
            state = start(p_const)
            if mode.kind == "implicit" and (mode.stop.tol > 0 or mode.stop.report is not None):
                state, steps, res = run_to_fixed_point(step, state, p_const, n_plain, fixed_point or step, out,
                                                       mode.stop.tol, mode.stop.check)
                if mode.stop.report is not None:
                    mode.stop.report(steps, res)
            else:
                for _ in range(n_plain):
                    state = step(state, p_const)
        state = _detach(state)
        if mode.kind == "none":
            return _detach(out(state))
        if mode.kind == "implicit":
            return fixed_point_solution(fixed_point or step, _detach(out(state)), params, mode.adjoint)
        if resume is not None:
            state = resume(state, params)
    else:
        if mode.kind in ("none", "implicit"):  # zero iterations: the start itself
            state = start(p_const)
            return _detach(out(state))
        state = start(params)
    if mode.kind == "checkpointed":
        state = _checkpointed(step, state, params, n_tracked, mode.segment)
    else:
        for _ in range(n_tracked):
            state = step(state, params)
    return out(state)


def fixed_point_residual(fmap: Callable, z, params) -> float:
    """||T(z) - z|| / ||z|| over all of z's tensors (one application of T, no graph; reads one value)."""
    with torch.no_grad():
        zs, tz = _tuple(z), _tuple(fmap(z, params))
        diff = sum(float(((a - b) ** 2).sum()) for a, b in zip(tz, zs))
        norm = sum(float((b * b).sum()) for b in zs)
    return math.sqrt(diff / norm) if norm > 0 else math.sqrt(diff)


def run_to_fixed_point(step: Callable, state, params, iters: int, fmap: Callable, output: Callable | None = None,
                       tol: float = 0.0, check: int = 10, on_step: Callable | None = None):
    """At most `iters` steps (no graph), stopping at the first multiple of `check` steps where the output
    z = output(state) has ||fmap(z) - z|| / ||z|| <= tol (tol = 0: exactly `iters` steps). on_step(k, state)
    after each step. Returns (state, steps run, the residual at the returned state)."""
    out = output or (lambda s: s)
    res = math.inf
    k = 0
    with torch.no_grad():
        while k < iters:
            state = step(state, params)
            k += 1
            if on_step is not None:
                on_step(k, state)
            if tol > 0 and k % check == 0 and k < iters:
                res = fixed_point_residual(fmap, out(state), params)
                if res <= tol:
                    return state, k, res
        res = fixed_point_residual(fmap, out(state), params)
    return state, k, res


def _checkpointed(step, state, params, n: int, segment: int):
    seg = segment or max(1, round(math.sqrt(n)))
    s_items, p_items = _tuple(state), _tuple(params)
    ns = len(s_items)

    def run(k, *tensors):
        s = _like(state, tensors[:ns])
        p = _like(params, tensors[ns:])
        for _ in range(k):
            s = step(s, p)
        return _tuple(s)

    # Under a torch.func transform (jacfwd's vmap of JVPs) there is no tape to shrink, and torch 2.11's
    # non-reentrant checkpoint cannot be vmapped (_NoopSaveInputs has no vmap rule): run the segments plainly.
    tape = torch.is_grad_enabled() and torch._C._functorch.maybe_current_level() is None
    done = 0
    while done < n:
        k = min(seg, n - done)
        if tape:
            s_items = checkpoint(run, k, *s_items, *p_items, use_reentrant=False)
        else:
            s_items = run(k, *s_items, *p_items)
        s_items = _tuple(s_items)
        done += k
    return _like(state, s_items)


# ---------------------------------------------------------------------------------------------------------
# implicit differentiation at a fixed point


def _flat(items) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in items])


def _unflat(vec: torch.Tensor, like) -> tuple:
    out, i = [], 0
    for t in like:
        out.append(vec[i:i + t.numel()].view_as(t))
        i += t.numel()
    return tuple(out)


def _solve_identity_minus(apply_j: Callable, rhs: tuple, adjoint: AdjointSolve) -> tuple:
    """w with w - J w = rhs, J given by its product apply_j (tuples of tensors)."""
    def system(v):
        vs = _unflat(v, rhs)
        return v - _flat(apply_j(vs))

    if adjoint.method == "neumann":
        w = rhs
        for _ in range(adjoint.iters):
            w = tuple(r + j for r, j in zip(rhs, apply_j(w)))
        if adjoint.report is not None:  # one more product, only to report how far the series got
            b = _flat(rhs)
            adjoint.report("neumann", adjoint.iters,
                           float((b - system(_flat(w))).norm() / b.norm().clamp_min(torch.finfo(b.dtype).tiny)))
        return w
    if adjoint.method == "gmres":
        res = gmres(system, _flat(rhs), iters=adjoint.iters, rtol=adjoint.rtol, restart=adjoint.restart)
        if adjoint.report is not None:
            adjoint.report("gmres", res.n_iter, res.rel_residual)
        return _unflat(res.x, rhs)
    res = cg(system, _flat(rhs), iters=adjoint.iters, rtol=adjoint.rtol, freeze=adjoint.report is None)
    if adjoint.report is not None:
        adjoint.report("cg", res.n_iter, res.rel_residual)
    return _unflat(res.x, rhs)


class _FixedPoint(torch.autograd.Function):
    """Identity on the fixed point z* in the forward pass; derivatives by the implicit function theorem
    over the map T. Inputs: T, the number of z tensors, the adjoint settings, then z* and params tensors."""

    generate_vmap_rule = True

    @staticmethod
    def forward(fmap, nz, adjoint, *tensors):
        return tuple(t.clone() for t in tensors[:nz])

    @staticmethod
    def setup_context(ctx, inputs, output):
        fmap, nz, adjoint, *tensors = inputs
        ctx.fmap, ctx.nz, ctx.adjoint = fmap, nz, adjoint
        ctx.save_for_backward(*tensors)
        ctx.save_for_forward(*tensors)

    @staticmethod
    def backward(ctx, *grads):
        tensors = ctx.saved_tensors
        z, p = tensors[:ctx.nz], tensors[ctx.nz:]
        g = tuple(torch.zeros_like(t) if gi is None else gi for t, gi in zip(z, grads))
        # One graph of T at the fixed point, reused by every product with (dT/dz)^T: plain autograd rather
        # than torch.func.vjp, so that operators written as old-style autograd.Functions (the projector)
        # work inside T.
        with torch.enable_grad():
            zg = tuple(t.detach().requires_grad_() for t in z)
            pg = tuple(t.detach().requires_grad_(t.is_floating_point()) for t in p)
            out = ctx.fmap(zg, pg)
            wrt = zg + tuple(t for t in pg if t.requires_grad)

            def pull(v):
                got = torch.autograd.grad(out, wrt, v, retain_graph=True, allow_unused=True)
                return tuple(torch.zeros_like(t) if d is None else d for t, d in zip(wrt, got))

            w = _solve_identity_minus(lambda v: pull(v)[:len(zg)], g, ctx.adjoint)
            grads_p = iter(pull(w)[len(zg):])
        grad_p = tuple(next(grads_p) if t.requires_grad else None for t in pg)
        return (None, None, None) + (None,) * ctx.nz + grad_p

    @staticmethod
    def jvp(ctx, _fmap, _nz, _adjoint, *tangents):
        tensors = ctx.saved_tensors
        z, p = tensors[:ctx.nz], tensors[ctx.nz:]
        dp = tuple(torch.zeros_like(t) if d is None else d for t, d in zip(p, tangents[ctx.nz:]))
        rhs = torch.func.jvp(lambda q: ctx.fmap(z, q), (p,), (dp,))[1]

        def apply_j(v):
            return torch.func.jvp(lambda u: ctx.fmap(u, p), (z,), (v,))[1]

        return _solve_identity_minus(apply_j, tuple(rhs), ctx.adjoint)


def fixed_point_solution(fmap: Callable, z, params: Params, adjoint: AdjointSolve = AdjointSolve()):
    """z (a fixed point of fmap(., params), as a constant) returned with its implicit derivative in params."""
    z_items, p_items = _tuple(z), _tuple(params)

    def flat_map(zs: tuple, ps: tuple) -> tuple:
        return _tuple(fmap(_like(z, zs), _like(params, ps)))

    out = _FixedPoint.apply(flat_map, len(z_items), adjoint, *z_items, *p_items)
    return _like(z, tuple(out))


def cached_by_params(build: Callable) -> Callable:
    """build(params) remembered for the last params object, so a step function can rebuild an operator from
    its parameters once per phase of a run instead of once per step."""
    last: dict = {}

    def get(params):
        if last.get("key") is not params:
            last["key"], last["value"] = params, build(params)
        return last["value"]

    return get
