"""The cv prox's in-place path (regrun.optim.tv_prox._cv9_in_place, taken where nothing is differentiated: FISTA-TV
at a fixed weight and `auto`'s training runs) gives TVProx's step-by-step iterates bit for bit (docs/ct.md
"What `auto` costs on a user's sinogram, and where (ctcost)")."""
import pytest
import torch

from regrun.linalg.iterate import diff_mode, iterate
from regrun.optim.fista import Fista
from regrun.optim.tv_prox import TVProx

F64 = torch.float64


def stepwise(prox: TVProx, b, mu, iters, state=None):
    """TVProx.warm as written before the in-place path: the step function through the iteration runner."""
    state = iterate(prox.step, prox.start(b) if state is None else state, (b, mu), iters, diff_mode("unrolled"))
    return prox.output(state, b, mu), state


@pytest.mark.parametrize("shape, ndim, h, sigma", [((40, 36), 2, 1.0, None), ((3, 17, 20), 2, 1.0, 0.1),
                                                   ((9, 11, 12), 3, 1.0, None), ((16, 18), 2, (0.5, 2.0), None),
                                                   ((2, 2), 2, 1.0, None)])
def test_in_place_prox_is_the_stepwise_one_bit_for_bit(device, shape, ndim, h, sigma):
    g = torch.Generator().manual_seed(9676)
    b = torch.randn(shape, generator=g, dtype=F64).to(device)
    b[..., :2] = 0.0  # flat patches: zero duals and zero differences (the signed zeros' case)
    prox = TVProx("cv", ndim, h=h, sigma=sigma)
    mu = torch.tensor(0.3, dtype=F64, device=device)
    with torch.no_grad():
        assert prox._plain(b, mu, None)
        fast, fast_state = prox.warm(b, mu, 5)
        slow, slow_state = stepwise(prox, b, mu, 5)
        assert torch.equal(fast, slow)
        assert all(torch.equal(a, c) for a, c in zip(fast_state, slow_state))
        kept = [t.clone() for t in slow_state]  # warm start: the state given is read, not changed
        fast2, state2 = prox.warm(b * 1.1, mu, 3, state=slow_state)
        slow2, slow_state2 = stepwise(prox, b * 1.1, mu, 3, state=kept)
        assert all(torch.equal(a, c) for a, c in zip(slow_state, kept))
        assert torch.equal(fast2, slow2) and all(torch.equal(a, c) for a, c in zip(state2, slow_state2))


def test_fista_tv_run_unchanged_and_derivatives_keep_the_stepwise_path(device):
    """A whole FISTA-TV run on a small tomography-like problem (a random matrix) is the step-by-step prox's bit for
    bit; where lam is differentiated the step-by-step path (autograd) runs and gives a derivative."""
    g = torch.Generator().manual_seed(7992)
    A = torch.randn(50, 144, generator=g, dtype=F64).to(device)
    d = A @ torch.rand(144, generator=g, dtype=F64).to(device)

    def make():
        return Fista(lambda x: A @ x.reshape(-1), lambda y: (A.T @ y).reshape(12, 12), d, (12, 12), TVProx("cv", 2),
                     5, power_iters=10)

    lam = torch.tensor(0.7, dtype=F64, device=device)
    fast = make().solve(lam, 30)
    slow_fista = make()
    slow_fista.prox.warm = lambda b, mu, iters, mode=None, state=None: stepwise(slow_fista.prox, b, mu, iters, state)
    assert torch.equal(fast, slow_fista.solve(lam, 30))
    lam_g = lam.clone().requires_grad_(True)
    prox = make().prox
    assert not prox._plain(torch.ones(12, 12, dtype=F64, device=device), lam_g, None)
    x = make().solve(lam_g, 5, diff_mode("unrolled"))
    (grad,) = torch.autograd.grad(x.sum(), lam_g)
    assert torch.isfinite(grad) and grad != 0


def test_a_prox_whose_primal_step_is_replaced_runs_that_step(device):
    # scripts/diag_ct_sart_gap.py clips the primal step to a box on the instance; the in-place path skipped it
    # (CI, session 37: the box's bound was exceeded 2x)
    g = torch.Generator().manual_seed(9676)
    b = torch.randn((20, 18), generator=g, dtype=F64).to(device).abs() * 3
    prox = TVProx("cv", 2)
    mu = torch.tensor(0.05, dtype=F64, device=device)
    plain = prox._cv_primal
    prox._cv_primal = lambda u, v, b, mu: plain(u, v, b, mu).clamp_max(1.0)
    with torch.no_grad():
        assert not prox._plain(b, mu, None)
        out, _ = prox.warm(b, mu, 5)
    assert float(out.max()) <= 1.0 < float(b.max())
