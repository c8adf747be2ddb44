"""log det of a symmetric positive definite matrix given only by its products: stochastic Lanczos quadrature
(Golub and Meurant; Ubaru, Chen and Saad 2017).

tr log B = E[z^T log(B) z] over probes z with E[z z^T] = I (Rademacher), and z^T log(B) z is the Gauss quadrature
of log against the spectral measure of B seen from z: the Lanczos tridiagonal T_k of B from z / ||z||, with
eigenpairs (theta_i, u_i), gives ||z||^2 sum_i u_i[0]^2 log theta_i, exact once k reaches the number of distinct
eigenvalues and in practice within a few dozen steps when B's spectrum is clustered (a preconditioned matrix
E^T A E). The probes run as one block (columns in the leading dimension, one product per step for all), with full
reorthogonalization against the probe's own Lanczos vectors: without it, rounding repeats converged Ritz values
("ghosts") that count an eigenvalue twice in the quadrature.

Where a dense factor is cheap, its log det is exact and preferred (superres_weight.py keeps the Cholesky path); this
is for the sizes where nothing of n x n can be formed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class SLQResult:
    logdet: float  # the estimate of log det B = tr log B
    steps: int  # Lanczos steps taken (products of B, each for every probe at once)
    change: float  # |last estimate - the one before| (the quadrature's convergence, in log det units)


def lanczos_logdet(apply: Callable[[torch.Tensor], torch.Tensor], probes: torch.Tensor, steps: int = 50,
                   tol: float = 1e-6, check_every: int = 5) -> SLQResult:
    """tr log B by stochastic Lanczos quadrature. apply(X) = B X row by row (X: (k, n)); probes (k, n), e.g. Rademacher.
    Stops after `steps` Lanczos steps or once the estimate, checked every `check_every` steps, changes by less than
    tol * n (log det units per unknown: the log det of B enters the marginal likelihood divided by the number of
    data, so a per-unknown tolerance is what its value sees)."""
    k, n = probes.shape
    norms2 = (probes * probes).sum(-1)  # (k,)
    # the Lanczos vectors in one buffer (k, steps, n), filled row by row: the full reorthogonalization reads a view
    # of the rows so far (stacking the list afresh each step copied them all: at 256^2 with 2 probes, 40 steps
    # took 1.4 CPU-s with a diagonal `apply`, 0.3 so; docs/superres.md, "Fifteenth round (srcolour)")
    basis = torch.empty(k, steps, n, dtype=probes.dtype, device=probes.device)
    basis[:, 0] = probes / norms2.sqrt()[:, None]
    q = basis[:, 0]
    alphas: list[torch.Tensor] = []
    betas: list[torch.Tensor] = []
    prev_q = torch.zeros_like(q)
    beta = torch.zeros(k, dtype=probes.dtype, device=probes.device)
    estimate, change, done = math.nan, math.inf, 0
    for j in range(steps):
        w = apply(q) - beta[:, None] * prev_q
        alpha = (w * q).sum(-1)
        w = w - alpha[:, None] * q
        stacked = basis[:, : j + 1]  # (k, j + 1, n): full reorthogonalization, twice (Kahan's "twice is enough")
        for _ in range(2):
            w = w - torch.bmm(torch.bmm(stacked, w[:, :, None]).transpose(1, 2), stacked)[:, 0]
        alphas.append(alpha)
        done = j + 1
        beta = w.norm(dim=-1)
        last = j + 1 == steps or bool((beta <= 1e-12 * alpha.abs()).any())
        if done % check_every == 0 or last:
            new = _quadrature(alphas, betas, norms2)
            change = abs(new - estimate) if math.isfinite(estimate) else math.inf
            estimate = new
            if change <= tol * n or last:
                break
        betas.append(beta)
        prev_q = q
        basis[:, j + 1] = w / beta[:, None]
        q = basis[:, j + 1]
    return SLQResult(logdet=estimate, steps=done, change=change)


def _quadrature(alphas: list[torch.Tensor], betas: list[torch.Tensor], norms2: torch.Tensor) -> float:
    """mean over probes of ||z||^2 e_1^T log(T) e_1, T the Lanczos tridiagonal of each probe."""
    a = torch.stack(alphas, -1)  # (k, j)
    t = torch.diag_embed(a)
    if betas:
        b = torch.stack(betas[: a.shape[-1] - 1], -1)
        t = t + torch.diag_embed(b, 1) + torch.diag_embed(b, -1)
    theta, u = torch.linalg.eigh(t)
    return float((norms2 * (u[:, 0, :] ** 2 * theta.clamp_min(torch.finfo(theta.dtype).tiny).log()).sum(-1)).mean())
