"""TV + nonnegativity prox (GP, CV, aCV) and FISTA: identities of the paper's step sizes, convergence, the
ball projection's derivative, and FISTA on a small dense operator."""
import pytest
import torch

from regrun.optim.fista import Fista, disk_mask, power_method
from regrun.optim.tv_prox import BallProjection, TVProx, project_ball

F64 = torch.float64


def _image(shape, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(shape, dtype=F64)
    sl = tuple(slice(s // 4, 3 * s // 4) for s in shape)
    x[sl] = 1.0
    return (x + 0.3 * torch.randn(shape, generator=g, dtype=F64)).to(device)


@pytest.mark.parametrize("shape", [(12, 10), (5, 6, 7)])
def test_gp_equals_cv_with_steps_7(shape, device):
    """Claim C1: CV with tau = mu, sigma = 1/(mu L) on (8) has GP's iterates; CV with (9) and sigma = 1/L
    too, its dual scaled by mu."""
    b, mu, nd = _image(shape, device), torch.tensor(0.15, dtype=F64, device=device), len(shape)
    gp, cv7, cv9 = TVProx("gp", nd), TVProx("cv", nd, cv_steps="7"), TVProx("cv", nd, cv_steps="9")
    p, s7, s9 = gp.start(b), cv7.start(b), cv9.start(b)
    for _ in range(25):
        p, s7, s9 = gp.step(p, (b, mu)), cv7.step(s7, (b, mu)), cv9.step(s9, (b, mu))
        assert float((s7[1] - p).norm()) <= 1e-12 * float(p.norm())
        assert float((s9[1] - mu * p).norm()) <= 1e-12 * float((mu * p).norm())
    u = gp.output(p, b, mu)
    assert float((cv7.output(s7, b, mu) - u).norm()) <= 1e-12 * float(u.norm())


@pytest.mark.parametrize("method", ["gp", "cv", "acv"])
def test_prox_solves_problem_6(method, device):
    """Claim C2: the prox objective falls to the optimum; the result is nonnegative."""
    b, mu = _image((16, 16), device), torch.tensor(0.2, dtype=F64, device=device)
    prox = TVProx(method, 2)
    ref = TVProx("gp", 2)(b, mu, 3000)
    f_ref = float(prox.objective(ref, b, mu))
    values = [float(prox.objective(prox(b, mu, k), b, mu)) for k in (5, 50, 500)]
    assert values[0] > values[1] > values[2] and values[2] - f_ref < 1e-4 * abs(f_ref)
    assert float(prox(b, mu, 5).min()) >= 0


def test_ball_projection_derivative(device):
    """Claim C3: the hand-written backward (generalized Jacobian, eq. (12) for the radius) equals autograd
    of the plain projection, away from the kink; gradcheck in float64."""
    g = torch.Generator().manual_seed(1)
    v = torch.randn(2, 7, 5, generator=g, dtype=F64).to(device).requires_grad_()
    r = torch.tensor(0.9, dtype=F64, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, c: BallProjection.apply(a, c, 2, None, False), (v, r))
    w = torch.randn(2, 7, 5, generator=g, dtype=F64).to(device)
    ga = torch.autograd.grad((BallProjection.apply(v, r, 2, None, False) * w).sum(), (v, r))
    gb = torch.autograd.grad((project_ball(v, r, 2) * w).sum(), (v, r))
    assert all(torch.allclose(a, c, atol=1e-14) for a, c in zip(ga, gb))
    gv, gr = torch.autograd.grad((BallProjection.apply(v, r, 2, None, True) * w).sum(), (v, r),
                                 allow_unused=True)
    assert gv is None and torch.allclose(gr, gb[1])  # paper: the v-gradient is dropped, eq. (12) kept


def test_acv_fp32_storage_is_exact_and_fp16_close(device):
    b, mu = _image((16, 16), device), torch.tensor(0.2, dtype=F64, device=device, requires_grad=True)
    w = torch.randn(16, 16, generator=torch.Generator().manual_seed(2), dtype=F64).to(device)

    def grad(prox):
        return torch.autograd.grad((prox(b, mu, 5) * w).sum(), mu)[0]

    exact = grad(TVProx("cv", 2))
    assert torch.allclose(grad(TVProx("acv", 2)), exact, rtol=1e-12)
    assert torch.allclose(grad(TVProx("acv", 2, storage=torch.float16)), exact, rtol=1e-2)


def _dense_ct(device, n=8, m=70, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, n * n, generator=g, dtype=F64).to(device) / n
    truth = _image((n, n), device, seed=3).clamp(min=0)
    d = a @ truth.reshape(-1) + 0.05 * torch.randn(m, generator=g, dtype=F64).to(device)
    return a, truth, d


def test_power_method_and_fista_converge(device):
    a, truth, d = _dense_ct(device)
    L = power_method(lambda x: (a.T @ (a @ x.reshape(-1))).reshape(x.shape),
                     torch.ones(8, 8, dtype=F64, device=device), 200)
    assert abs(L - float(torch.linalg.matrix_norm(a, 2)) ** 2) < 1e-6 * L
    fista = Fista(lambda x: a @ x.reshape(-1), lambda y: (a.T @ y).reshape(8, 8), d, (8, 8), TVProx("cv", 2),
                  inner_iters=10)
    lam = torch.tensor(0.05, dtype=F64, device=device)
    state, xs = fista.start(lam), {}
    for k in range(1, 301):
        state = fista.step(state, lam)
        xs[k] = state[0]
    objs = [fista.objective(xs[k], lam) for k in (5, 50, 250)]
    assert objs[0] > objs[1] > objs[2]
    assert float(xs[300].min()) >= 0 and float((xs[300] - xs[250]).norm()) < 1e-4 * float(xs[300].norm())
    assert torch.equal(fista.solve(lam, 300), xs[300])


def test_disk_mask():
    m = disk_mask((2, 10, 10))
    assert m.shape == (2, 10, 10) and float(m[0, 5, 5]) == 1 and float(m[1, 0, 0]) == 0
    assert torch.equal(m[0], m[1])


def test_pointwise_norm_is_torch_norm_with_its_derivatives_and_memory():
    """The fast dual norm of the TV prox: torch.norm's values, first and second derivatives, forward mode,
    derivative 0 at v = 0, and the same saved-for-backward bytes (so Table 1's counts hold)."""
    from regrun.memory import SavedBytes
    from regrun.optim.tv_prox import pointwise_norm

    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(pointwise_norm(w, 2), w.norm(dim=1, keepdim=True), rtol=1e-15, atol=0)
    assert torch.autograd.gradcheck(lambda a: pointwise_norm(a, 2), (w,))
    assert torch.autograd.gradgradcheck(lambda a: pointwise_norm(a, 2), (w,))
    d = torch.randn(w.shape, generator=g, dtype=torch.float64)
    ours = torch.func.jvp(lambda a: pointwise_norm(a, 2), (w.detach(),), (d,))[1]
    ref = torch.func.jvp(lambda a: a.norm(dim=1, keepdim=True), (w.detach(),), (d,))[1]
    assert torch.allclose(ours, ref, rtol=1e-13, atol=0)
    z = torch.zeros(2, 3, 3, dtype=torch.float64, requires_grad=True)
    grad, = torch.autograd.grad(pointwise_norm(z, 2).sum(), z)
    assert not grad.isnan().any() and float(grad.abs().max()) == 0.0
    saved = []
    for fn in (lambda a: pointwise_norm(a, 2) / 2 + a, lambda a: a.norm(dim=1, keepdim=True) / 2 + a):
        with SavedBytes() as counter:
            fn(w)
        saved.append(counter.total)
    assert saved[0] == saved[1]


@pytest.mark.parametrize("method", ["gp", "cv"])
def test_warm_started_prox_reaches_the_cold_prox(method, device):
    """solver.prox_warm_start's prox: 5 dual iterations a call, each call from the last one's dual: after 300
    calls, the prox of 1505 cold iterations (the dual carries all the state: at these steps the primal iterate is
    recomputed from it), within 2e-4 of the converged prox where 5 cold iterations are 0.1 off. From no state,
    the cold prox."""
    b, mu = _image((16, 16), device), torch.tensor(0.2, dtype=F64, device=device)
    prox = TVProx(method, 2)
    ref = TVProx("gp", 2)(b, mu, 20000)
    u, state = prox.warm(b, mu, 5)
    assert torch.equal(u, prox(b, mu, 5))
    for _ in range(300):
        u, state = prox.warm(b, mu, 5, state=state)
    assert float((u - prox(b, mu, 1505)).norm()) < 1e-12 * float(ref.norm())
    assert float((u - ref).norm()) < 2e-4 * float(ref.norm())
    assert float((prox(b, mu, 5) - ref).norm()) > 5e-2 * float(ref.norm())


def _warm_fista(device, warm=True, inner=5):
    a, _, d = _dense_ct(device)
    return Fista(lambda x: a @ x.reshape(-1), lambda y: (a.T @ y).reshape(8, 8), d, (8, 8), TVProx("cv", 2),
                 inner_iters=inner, warm_start=warm)


def test_fista_with_warm_prox_converges_to_the_exact_prox_limit(device):
    """FISTA with the warm-started 5-iteration prox comes within 3e-4 of FISTA with a 400-iteration cold prox
    (near the exact prox's limit); with the paper's cold 5-iteration prox it stops 13 % away."""
    lam = torch.tensor(0.5, dtype=F64, device=device)
    exact = _warm_fista(device, warm=False, inner=400).solve(lam, 150)
    warm = _warm_fista(device).solve(lam, 150)
    cold = _warm_fista(device, warm=False).solve(lam, 150)
    assert float((warm - exact).norm()) < 1e-3 * float(exact.norm())
    assert float((cold - exact).norm()) > 5e-2 * float(exact.norm())


def test_fista_warm_prox_derivative_in_every_mode_but_implicit(device):
    """d x_N / d lam with the warm-started prox: a Taylor test in unrolled mode (second-order remainder), the
    same derivative checkpointed and truncated at fraction 1 (a finite one at 0.5), implicit mode refused with
    one line."""
    from regrun.errors import UserError
    from regrun.linalg.iterate import diff_mode

    fista = _warm_fista(device)
    w = torch.randn(8, 8, generator=torch.Generator().manual_seed(4), dtype=F64).to(device)
    loss = lambda lam, mode="none": (fista.solve(lam, 30, diff_mode(mode)) * w).sum()
    lam = torch.tensor(0.5, dtype=F64, device=device, requires_grad=True)
    g = torch.autograd.grad(loss(lam, "unrolled"), lam)[0]
    assert torch.allclose(torch.autograd.grad(loss(lam, "checkpointed"), lam)[0], g, rtol=1e-10)
    tail = lambda fraction: (fista.solve(lam, 30, diff_mode("truncated", fraction)) * w).sum()
    assert torch.allclose(torch.autograd.grad(tail(1.0), lam)[0], g, rtol=1e-10)
    assert torch.isfinite(torch.autograd.grad(tail(0.5), lam)[0])
    with torch.no_grad():
        f0 = loss(lam.detach())
        rem = [abs(float(loss(lam.detach() + h) - f0 - h * g)) for h in (1e-4, 1e-5)]
    assert rem[1] < 0.05 * rem[0] and abs(float(g)) > 0  # 0.01 measured (second order); a wrong g gives 0.1
    with pytest.raises(UserError, match="prox_warm_start"):
        fista.solve(lam, 30, diff_mode("implicit"))


def test_prox_warm_start_setting(device):
    """Off by default (the paper's cold prox, bit-identical to a FISTA built without it); a non-boolean is
    refused with one line."""
    from regrun.config import config_section
    from regrun.errors import UserError
    from regrun.tomography.fista_tv import check_fista_options

    cfg = config_section("solver", "fista_tv")
    assert cfg.prox_warm_start is False
    check_fista_options(cfg)
    with pytest.raises(UserError, match="solver.prox_warm_start"):
        check_fista_options(config_section("solver", "fista_tv", prox_warm_start="yes"))
    lam = torch.tensor(0.5, dtype=F64, device=device)
    a, _, d = _dense_ct(device)
    plain = Fista(lambda x: a @ x.reshape(-1), lambda y: (a.T @ y).reshape(8, 8), d, (8, 8), TVProx("cv", 2), 5)
    assert torch.equal(_warm_fista(device, warm=False).solve(lam, 50), plain.solve(lam, 50))
    assert len(_warm_fista(device, warm=False).start(lam)) == 3
