"""The reference GSURE of scripts/diag_sr_gsure_small.py (srgcv20, docs/superres.md "(srgcv20)"): GSURE with a
regularised image f_r in place of the unregularised x_ML. Over noise draws its mean is the exact
E||f - x||^2 + E||f_r - x||^2 - 2 (E f - x).(E f_r - x), and its trace's weight 2 is the one that gives it."""
import pytest
import torch
from script_module import load_script


@pytest.fixture(scope="module")
def diag():
    return load_script("curves_lambda_sr_risk"), load_script("diag_sr_gsure_small")


def test_reference_gsure_mean_is_its_exact_expectation(diag, device):
    """30 data, 15 unknowns, sigma 1, lam 0.3 against a reference at 0.1 (biased: the bias term is not 0); 4000
    draws: the mean within 4 standard errors of the exact expectation, and the trace weighted 1 or 3 misses it."""
    risk, gs = diag
    gen = torch.Generator().manual_seed(3)
    m, n = 30, 15
    A = torch.randn(m, n, generator=gen, dtype=torch.float64).to(device)
    L = torch.diff(torch.eye(n, dtype=torch.float64), dim=0).to(device)
    x = torch.cumsum(torch.randn(n, generator=gen, dtype=torch.float64), 0).to(device)
    G, R = A.T @ A, L.T @ L
    sigma, lam, lam_r, draws = 1.0, 0.3, 0.1, 4000
    U, nu = risk.spectral(G, R)
    M = U.T @ U
    D, D_r = 1 / (1 + lam**2 * nu), 1 / (1 + lam_r**2 * nu)
    K, K_r = torch.linalg.inv(G + lam**2 * R), torch.linalg.inv(G + lam_r**2 * R)
    bias, bias_r = K @ G @ x - x, K_r @ G @ x - x
    exact = float(bias @ bias + sigma**2 * torch.trace(K @ G @ K) + bias_r @ bias_r
                  + sigma**2 * torch.trace(K_r @ G @ K_r) - 2 * bias @ bias_r)
    noise = sigma * torch.randn(draws, m, generator=torch.Generator().manual_seed(5), dtype=torch.float64).to(device)
    terms = torch.tensor([gs.reference_terms(D, D_r, U.T @ (A.T @ (A @ x + e)), M) for e in noise],
                         dtype=torch.float64)
    assert float(terms[:, 1].std()) < 1e-9  # the trace term does not depend on the data
    b = A @ x + noise[0]
    f, f_r = K @ (A.T @ b), K_r @ (A.T @ b)
    assert float(terms[0, 0]) == pytest.approx(float((f - f_r) @ (f - f_r)), rel=1e-8)
    assert float(terms[0, 1]) == pytest.approx(float(torch.trace(K @ G @ K_r)), rel=1e-8)
    spread = float(terms[:, 0].std()) / draws**0.5
    for weight, right in ((2, True), (1, False), (3, False)):
        v = terms[:, 0] + weight * sigma**2 * terms[:, 1]
        assert (abs(float(v.mean()) - exact) < 4 * spread) == right, weight
