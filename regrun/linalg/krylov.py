"""Conjugate gradients on a symmetric positive (semi)definite system, columns in the leading dimensions.

Iterations run either a fixed count (rtol = 0) or until ||r_k|| <= rtol ||r_0|| for every column. A fixed
count keeps x(theta) smooth in theta; an absolute early stop makes it piecewise (seed 000 notes 6.4). The
tolerance check reads tensor values, so it cannot run inside torch.func.vmap: there, `freeze=True` keeps the
count fixed and stops each converged column by a select instead (no value is read).
The differentiable solve of the normal equations (modes none / unrolled / truncated / checkpointed /
implicit) is regrun.linalg.cg, on the iteration runner regrun.linalg.iterate.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .operator import Apply


@dataclass
class CGState:
    x: torch.Tensor
    r: torch.Tensor
    p: torch.Tensor
    rr: torch.Tensor  # (..., 1): r.r per column


@dataclass
class CGResult:
    x: torch.Tensor
    n_iter: int
    rel_residual: float  # max over columns of ||r_k|| / ||r_0|| (recursive residual)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(-1, keepdim=True)


def cg_start(normal: Apply, rhs: torch.Tensor, x0: torch.Tensor | None = None,
             search: torch.Tensor | None = None) -> CGState:
    """Initial state; `search` keeps a given search direction (to continue a run) instead of p = r."""
    x = torch.zeros_like(rhs) if x0 is None else x0.expand_as(rhs)
    r = rhs - normal(x) if x0 is not None else rhs
    p = r if search is None else search
    return CGState(x, r, p, _dot(r, r))


def cg_steps(normal: Apply, state: CGState, iters: int, rtol: float = 0.0,
             freeze: bool = False) -> tuple[CGState, int]:
    """`iters` CG iterations (fewer if rtol > 0 and every column has converged; with freeze=True always
    `iters`, a converged column held by a select). Division by zero is avoided with a select, so an exactly
    converged column stays put and its derivatives stay finite."""
    x, r, p, rr = state.x, state.r, state.p, state.rr
    stop2 = None
    if rtol > 0:
        stop2 = (rtol**2) * (rr.detach() if freeze else rr.detach().max())
    done = 0
    for _ in range(iters):
        if stop2 is not None and not freeze and float(rr.detach().max()) <= float(stop2):
            break
        q = normal(p)
        pq = _dot(p, q)
        ok = pq > 0
        active = rr > stop2 if (stop2 is not None and freeze) else None
        if active is not None:
            ok = ok & active
        alpha = torch.where(ok, rr / torch.where(ok, pq, torch.ones_like(pq)), torch.zeros_like(pq))
        x = x + alpha * p
        r = r - alpha * q
        rr_new = _dot(r, r)
        okr = rr > 0
        beta = torch.where(okr, rr_new / torch.where(okr, rr, torch.ones_like(rr)), torch.zeros_like(rr))
        p = r + beta * p if active is None else torch.where(active, r + beta * p, p)
        rr = rr_new
        done += 1
    return CGState(x, r, p, rr), done


def cg(normal: Apply, rhs: torch.Tensor, x0: torch.Tensor | None = None, iters: int = 50,
       rtol: float = 0.0, freeze: bool = False) -> CGResult:
    """Solve normal(x) = rhs (symmetric positive (semi)definite), columns in the leading dimensions. With
    freeze=True nothing reads tensor values (vmap-safe) and rel_residual is NaN."""
    state = cg_start(normal, rhs, x0)
    r0 = state.rr.detach().clamp_min(torch.finfo(rhs.dtype).tiny)
    state, n = cg_steps(normal, state, iters, rtol, freeze)
    if freeze:
        return CGResult(state.x, n, float("nan"))
    rel = float((state.rr.detach() / r0).max().sqrt())
    return CGResult(state.x, n, rel)


@dataclass
class GMRESResult:
    x: torch.Tensor
    n_iter: int           # operator products in the Arnoldi steps
    rel_residual: float   # true ||b - A x|| / ||b||, computed from one more product after each cycle


def gmres(apply: Apply, rhs: torch.Tensor, iters: int = 200, rtol: float = 1e-10, restart: int = 50,
          x0: torch.Tensor | None = None) -> GMRESResult:
    """Restarted GMRES(restart) for apply(x) = rhs, one flat vector (no symmetry needed: the adjoint of a
    fixed-point map's Jacobian is not symmetric). Everything stays on rhs's device: the Krylov basis is one
    (restart + 1, n) tensor, Arnoldi orthogonalises by classical Gram-Schmidt done twice (CGS2: as orthogonal as
    modified Gram-Schmidt with re-orthogonalisation, in matrix products), and the small Hessenberg least-squares
    problem min ||beta e1 - H y|| is solved on the device by Givens rotations (accumulated in a dense
    orthogonal matrix) and a triangular solve; a breakdown zeroes the rest of the basis, whose zero columns
    get unit pivots. Nothing is read back inside a cycle: each cycle runs its `restart` products, then the true
    residual ||rhs - A x|| is computed and read once (one device sync per cycle) to decide whether to restart.
    The price is up to restart - 1 products past the point where the residual estimate met the tolerance,
    in the last cycle. Stops when the true residual reaches rtol ||rhs|| or after `iters` products.
    Memory: restart + 1 vectors. Reads tensor values, so it is not vmap-safe (the CG above is, with
    freeze=True)."""
    b_norm = float(rhs.norm())
    x = torch.zeros_like(rhs) if x0 is None else x0.clone()
    if b_norm == 0.0:
        return GMRESResult(x, 0, 0.0)
    target = rtol * b_norm
    done = 0
    r = rhs - apply(x) if x0 is not None else rhs.clone()
    beta = r.norm()
    beta_f = b_norm if x0 is None else float(beta)  # from zero the residual is rhs: no second read
    tiny = torch.finfo(rhs.dtype).tiny
    # a new direction this much smaller than A v is round-off: the Krylov space is invariant (breakdown)
    breakdown = 64 * torch.finfo(rhs.dtype).eps
    while done < iters and beta_f > target:
        m = min(restart, iters - done)
        basis = torch.zeros(m + 1, rhs.numel(), dtype=rhs.dtype, device=rhs.device)
        basis[0] = r / beta
        # Givens rotations accumulated in one orthogonal matrix: rotating a new Hessenberg column is one
        # matrix-vector product instead of k small steps, and R and Q beta e1 stay on the device
        rot = torch.eye(m + 1, dtype=rhs.dtype, device=rhs.device)
        tri = torch.zeros(m + 1, m, dtype=rhs.dtype, device=rhs.device)
        h = torch.zeros(m + 1, dtype=rhs.dtype, device=rhs.device)
        for k in range(m):
            w = apply(basis[k])
            done += 1
            w_norm = w.norm()
            h.zero_()
            for _ in range(2):  # classical Gram-Schmidt, twice
                c = basis[:k + 1] @ w
                h[:k + 1] += c
                w = w - c @ basis[:k + 1]
            h_next = w.norm()
            alive = h_next > breakdown * w_norm
            h[k + 1] = torch.where(alive, h_next, torch.zeros_like(h_next))
            basis[k + 1] = torch.where(alive, w / h_next.clamp_min(tiny), torch.zeros_like(w))
            col = rot @ h
            a, b = col[k], col[k + 1]
            rho = torch.sqrt(a * a + b * b)
            nonzero = rho > 0
            cs = torch.where(nonzero, a / rho.clamp_min(tiny), torch.ones_like(rho))
            sn = torch.where(nonzero, b / rho.clamp_min(tiny), torch.zeros_like(rho))
            row_k, row_k1 = rot[k].clone(), rot[k + 1].clone()
            rot[k], rot[k + 1] = cs * row_k + sn * row_k1, cs * row_k1 - sn * row_k
            col[k] = rho
            col[k + 1].zero_()  # not `= 0.0`: a Python scalar written into a CUDA tensor is a host copy
            tri[:, k] = col
        g = beta * rot[:m, 0]  # Q beta e1; |(Q beta e1)_m| is the residual estimate
        r_mat = tri[:m]
        # a column that is zero (after a breakdown) has a zero pivot; it multiplies a zero basis vector, so
        # any y there will do: a unit pivot keeps the triangular solve finite
        diag = r_mat.diagonal()
        r_mat = r_mat + torch.diag(torch.where(diag == 0, torch.ones_like(diag), torch.zeros_like(diag)))
        y = torch.linalg.solve_triangular(r_mat, g[:, None], upper=True)[:, 0]
        x = x + y @ basis[:m]
        r = rhs - apply(x)
        beta = r.norm()
        beta_f = float(beta)  # the one read of this cycle
    return GMRESResult(x, done, beta_f / b_norm)


def pcg(normal: Apply, rhs: torch.Tensor, precond: Apply, x0: torch.Tensor | None = None, iters: int = 200,
        rtol: float = 1e-8, ref: torch.Tensor | None = None) -> CGResult:
    """Preconditioned CG on normal(x) = rhs, columns in the leading dimensions, from x0 (a warm start) until
    every column has ||r_k|| <= rtol ||rhs|| (relative to the right-hand side, not to the first residual, so a
    good warm start stops early) or `iters` iterations. `precond` applies M^-1 (symmetric positive definite).
    ref: each column's norm (..., 1) that rtol and the returned relative residual are measured against instead
    of ||rhs|| (a caller's own bar per right-hand side, e.g. the residual of a fixed starting image).
    Not differentiated: callers differentiate the solution implicitly (solve again for the derivative)."""
    x = torch.zeros_like(rhs) if x0 is None else x0.expand_as(rhs).clone()
    r = rhs - normal(x) if x0 is not None else rhs.clone()
    ref2 = _dot(rhs, rhs) if ref is None else ref.square()
    stop2 = (rtol ** 2) * ref2
    z = precond(r)
    p = z
    rz = _dot(r, z)
    n = 0
    # each update one kernel (addcmul) and each guarded ratio three: on a GPU a PCG iteration's time is its
    # number of small kernels (the superres final solve: ~150 iterations); a zero curvature or rz (a converged
    # column) takes no step, the unused quotient is discarded by where
    while n < iters and bool((_dot(r, r) > stop2).any()):
        q = normal(p)
        pq = _dot(p, q)
        alpha = torch.where(pq > 0, rz / pq, 0.0)
        x = x.addcmul(alpha, p)
        r = r.addcmul(alpha, q, value=-1.0)
        z = precond(r)
        rz_new = _dot(r, z)
        beta = torch.where(rz > 0, rz_new / rz, 0.0)
        p = torch.addcmul(z, beta, p)
        rz = rz_new
        n += 1
    rel = float((_dot(r, r) / ref2.clamp_min(torch.finfo(rhs.dtype).tiny)).max().sqrt())
    return CGResult(x, n, rel)
