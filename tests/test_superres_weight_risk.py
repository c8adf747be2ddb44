"""The image's-error estimate of scripts/curves_lambda_sr_risk.py (srunder, docs/superres.md "Fifteenth round"):
its spectral form equals the direct inverse, and generalized SURE equals its brute-force formula and, averaged over
noise draws, the exact expected image error."""
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def risk():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import curves_lambda_sr_risk
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return curves_lambda_sr_risk


def small_problem(device, m=60, n=15):
    """A (m x n) full column rank, R a 1-D second-difference penalty with the constants as its null space."""
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(m, n, generator=gen, dtype=torch.float64).to(device)
    L = torch.diff(torch.eye(n, dtype=torch.float64), dim=0).to(device)
    x = torch.cumsum(torch.randn(n, generator=gen, dtype=torch.float64), 0).to(device)
    return A, A.T @ A, L.T @ L, x


def test_spectral_form_and_gsure_equal_the_direct_formulas(risk, device):
    A, G, R, x = small_problem(device)
    b = A @ x + 0.3 * torch.randn(A.shape[0], generator=torch.Generator().manual_seed(4),
                                  dtype=torch.float64).to(device)
    U, nu = risk.spectral(G, R)
    beta, MP = U.T @ (A.T @ b), U.T @ U
    x_ml = torch.linalg.solve(G, A.T @ b)
    for lam in (0.05, 0.5, 3.0):
        B = torch.linalg.inv(G + lam**2 * R)
        D = 1 / (1 + lam**2 * nu)
        assert torch.allclose(U @ torch.diag(D) @ U.T, B, rtol=1e-8, atol=1e-10)
        fit, tr = risk.gsure_terms(D, beta, MP)
        f = B @ (A.T @ b)
        assert fit == pytest.approx(float(f @ f - 2 * f @ x_ml), rel=1e-8)
        assert tr == pytest.approx(float(torch.trace(B)), rel=1e-8)


def test_gsure_is_unbiased_for_the_image_error(risk, device):
    """Over 4000 noise draws the mean of GSURE + ||x||^2 is the exact E||f - x||^2 = ||(B G - I) x||^2 +
    sigma^2 tr(B G B) within 4 standard errors (30 data, 15 unknowns, sigma 1, lam 0.3: the trace term counts), and
    the test can tell: the trace weighted 1 or 3 instead of 2 misses by over 4 standard errors."""
    A, G, R, x = small_problem(device, m=30)
    sigma, lam, draws = 1.0, 0.3, 4000
    U, nu = risk.spectral(G, R)
    D, MP = 1 / (1 + lam**2 * nu), U.T @ U
    B = torch.linalg.inv(G + lam**2 * R)
    eye = torch.eye(G.shape[0], dtype=G.dtype, device=device)
    exact = float(((B @ G - eye) @ x).pow(2).sum() + sigma**2 * torch.trace(B @ G @ B))
    noise = sigma * torch.randn(draws, A.shape[0], generator=torch.Generator().manual_seed(5),
                                dtype=torch.float64).to(device)
    terms = torch.tensor([risk.gsure_terms(D, U.T @ (A.T @ (A @ x + e)), MP) for e in noise], dtype=torch.float64)
    spread = float((terms[:, 0] + 2 * sigma**2 * terms[:, 1]).std()) / draws**0.5  # the mean's standard error
    for weight, unbiased in ((2, True), (1, False), (3, False)):
        v = terms[:, 0] + weight * sigma**2 * terms[:, 1] + float(x @ x)
        assert (abs(float(v.mean()) - exact) < 4 * spread) == unbiased, weight
    # and it is not the prediction error the rules estimate: E||A (f - x)||^2 is far from it
    pred = float((A @ ((B @ G - eye) @ x)).pow(2).sum() + sigma**2 * torch.trace(A @ B @ G @ B @ A.T))
    assert abs(pred - exact) > 10 * spread
