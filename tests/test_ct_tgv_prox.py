"""The TGV and diagonal-TV prox for FISTA (regrun.optim.tgv_prox): the new operators' adjoints, the prox's
convergence and its bound by TV's, FISTA with it, its derivative, the fine grid's weights."""
import pytest
import torch

from regrun.errors import UserError
from regrun.linalg.dottest import dot_test
from regrun.linalg.iterate import diff_mode
from regrun.linalg.operator import LinearOperator
from regrun.optim.fista import Fista
from regrun.optim.tgv_prox import (TGVProx, diagonal_differences, diagonal_differences_adjoint,
                                   symmetrized_gradient, symmetrized_gradient_adjoint)
from regrun.optim.tv_prox import TVProx

F64 = torch.float64


@pytest.mark.parametrize("which", ["symmetrized", "diagonal"])
def test_new_operators_pass_the_dot_test(which, device):
    n1, n2 = 7, 9
    if which == "symmetrized":
        shape_in, shape_out, fwd, adj = (2, n1, n2), (3, n1, n2), symmetrized_gradient, symmetrized_gradient_adjoint
    else:
        shape_in, shape_out, fwd, adj = (n1, n2), (2, n1, n2), diagonal_differences, diagonal_differences_adjoint
    size = lambda s: s[0] * s[1] * (s[2] if len(s) > 2 else 1)
    op = LinearOperator((size(shape_out), size(shape_in)), lambda x: fwd(x.reshape(shape_in)).reshape(-1),
                        lambda y: adj(y.reshape(shape_out)).reshape(-1), F64, device)
    assert dot_test(op, torch.Generator().manual_seed(2)) < 1e-13


def test_symmetrized_gradient_of_a_constant_field_vanishes_inside(device):
    """E (backward differences, the divergence's boundary rows) of a constant vector field is 0 away from the
    first and last rows and columns: an affine image's gradient costs TGV's second term nothing there."""
    w = torch.ones(2, 6, 6, dtype=F64, device=device)
    e = symmetrized_gradient(w)
    assert float(e[:, 1:-1, 1:-1].abs().max()) < 1e-15 and float(e.abs().max()) > 0.5


def _noisy_ramp(device, n=16):
    g = torch.Generator().manual_seed(0)
    i = torch.arange(n, dtype=F64)
    x = (i[:, None] + 0.5 * i[None, :]) / n
    x[4:9, 5:11] += 1.0
    return (x + 0.1 * torch.randn(n, n, generator=g, dtype=F64)).to(device)


@pytest.mark.parametrize("reg", ["tgv", "tv2"])
def test_warm_prox_converges_and_tgv_is_below_tv(reg, device):
    """Repeated warm calls settle on the prox (the objective moves < 5e-3 (tgv: w builds up slowly from zero;
    in FISTA the warm start carries it) or 1e-5 (tv2) relative between 1500 and 3000 iterations, u >= 0);
    TGV's prox objective is below TV's exact prox objective (w = 0 is feasible: TGV <= TV), and on a noisy
    ramp clearly (the ramp costs TGV's first term nothing)."""
    b, mu = _noisy_ramp(device), torch.tensor(0.3, dtype=F64, device=device)
    prox = TGVProx(reg)
    u1, s1 = prox.warm(b, mu, 1500)
    u2, s2 = prox.warm(b, mu, 1500, state=s1)
    w1, w2 = (s1[1], s2[1]) if reg == "tgv" else (None, None)
    o1, o2 = float(prox.objective(u1, b, mu, w1)), float(prox.objective(u2, b, mu, w2))
    assert o2 <= o1 and o1 - o2 < (5e-3 if reg == "tgv" else 1e-5) * o2 and float(u2.min()) >= 0
    if reg == "tgv":
        tv = TVProx("gp", 2)
        u_tv = tv(b, mu, 3000)
        assert o2 < float(tv.objective(u_tv, b, mu)) - 0.05, (o2, float(tv.objective(u_tv, b, mu)))


def test_fista_with_the_tgv_prox_reaches_its_fixed_point(device):
    """FISTA with 20 warm iterations of the TGV prox per step ends at a fixed point of the exact prox-gradient
    map (x = prox(x - tau grad f(x)), the prox to 1500 iterations) to 1e-3; with 5 per step it is 1e-2 off."""
    from test_ct_optim import _dense_ct

    a, _, d = _dense_ct(device)
    lam = torch.tensor(0.5, dtype=F64, device=device)
    residual = []
    for inner in (20, 5):
        f = Fista(lambda x: a @ x.reshape(-1), lambda y: (a.T @ y).reshape(8, 8), d, (8, 8), TGVProx("tgv"), inner,
                  warm_start=True)
        x = f.solve(lam, 100)
        exact = f.prox(x - f.tau * f.data_gradient(x), lam * f.tau, 1500)
        residual.append(float((exact - x).norm() / x.norm()))
    assert residual[0] < 1e-3 < 1e-2 < residual[1]


def test_tgv_prox_derivative_taylor(device):
    """d prox / d mu by unrolling: the first-order remainder shrinks 4x (second order) for a 2x smaller step."""
    b, prox = _noisy_ramp(device), TGVProx("tgv")
    c = torch.randn(b.shape, generator=torch.Generator().manual_seed(4), dtype=F64).to(device)
    f = lambda mu: (c * prox(b, mu, 60, diff_mode("unrolled"))).sum()
    mu = torch.tensor(0.3, dtype=F64, device=device, requires_grad=True)
    (g,) = torch.autograd.grad(f(mu), mu)
    with torch.no_grad():
        rem = [abs(float(f(mu + h) - f(mu) - h * g)) for h in (1e-3, 5e-4)]
    assert rem[1] < 0.35 * rem[0]


def test_weights_follow_the_unknowns_grid():
    """FISTA passes mu = lam tau scale: TGV's first-order radius is mu, E's ratio mu / scale (ratio lam tau)."""
    assert TGVProx("tgv", ratio=2.0, scale=0.5)._radii(1.0) == (1.0, 4.0)
    assert TGVProx("tv2")._radii(1.0)[0] == 0.5


def test_three_dimensional_images_refused(device):
    with pytest.raises(UserError, match="2-D only"):
        TGVProx("tgv").start(torch.zeros(2, 6, 6, dtype=F64, device=device))

