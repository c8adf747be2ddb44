"""Stochastic Lanczos quadrature (regrun.linalg.slq): the log-determinant of a matrix given by its products."""
import math

import pytest
import torch

from regrun.linalg.slq import lanczos_logdet
from regrun.optim.parameter_choice import rademacher


def spd(n, device, lo=0.1, hi=10.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    ev = torch.logspace(math.log10(lo), math.log10(hi), n, dtype=torch.float64) * (1 + 0.3 * torch.rand(
        n, generator=gen, dtype=torch.float64))
    return (q @ torch.diag(ev) @ q.T).to(device), ev.to(device)


def test_quadrature_is_exact_with_n_steps(device):
    """With as many Lanczos steps as unknowns (full reorthogonalization) the Gauss quadrature is exact: the
    estimate is the probes' own mean z^T log(A) z (to 1e-8 relative), whatever the probes."""
    n = 40
    a, _ = spd(n, device)
    ev, u = torch.linalg.eigh(a)
    log_a = u @ torch.diag(ev.log()) @ u.T
    z = rademacher(3, (n,), torch.Generator().manual_seed(1), torch.float64, device)
    res = lanczos_logdet(lambda x: x @ a, z, steps=n, tol=0.0)
    exact = float(torch.einsum("kn,nm,km->k", z, log_a, z).mean())
    assert res.logdet == pytest.approx(exact, rel=1e-8)


def test_estimate_against_the_dense_log_det(device):
    """64 Rademacher probes, spectrum over two decades (n = 300): within 4 standard deviations of Hutchinson's
    estimator (sqrt(2 / probes) ||log A||_F, 0.06 per unknown here) of the Cholesky factor's log det, and the
    quadrature converged (its last change under tol * n) in far fewer than n steps."""
    n = 300
    a, ev = spd(n, device)
    exact = 2 * float(torch.log(torch.diagonal(torch.linalg.cholesky(a))).sum())
    z = rademacher(64, (n,), torch.Generator().manual_seed(2), torch.float64, device)
    res = lanczos_logdet(lambda x: x @ a, z, steps=80, tol=1e-6)
    std = math.sqrt(2 / 64) * float(ev.log().norm())
    assert abs(res.logdet - exact) < 4 * std
    assert res.steps < 60 and res.change <= 1e-6 * n
