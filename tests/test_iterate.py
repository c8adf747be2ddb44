"""The iteration runner: every differentiation mode against finite differences or an exact reference, in
reverse and forward mode, and the memory that checkpointing and implicit differentiation save."""
import pytest
import torch

from regrun.errors import UserError
from regrun.linalg.iterate import AdjointSolve, FixedPointStop, diff_mode, iterate

F64 = torch.float64
N = 300


def _problem(device):
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=F64)
    q = (m @ m.T / 6 + torch.eye(6, dtype=F64)).to(device)
    theta = torch.randn(6, generator=g, dtype=F64).to(device)
    target = torch.randn(6, generator=g, dtype=F64).to(device)
    return q, theta, target


def _step(q):
    """A gradient step on f(z) = z'Qz/2 + sum softplus(z) - theta'z: a contraction with a symmetric
    Jacobian, so both the Neumann series and CG apply in implicit mode."""
    def step(z, theta):
        return z - 0.3 * (q @ z + torch.sigmoid(z) - theta)
    return step


def _loss(z, target):
    return ((z - target) ** 2).sum()


def _run(step, theta, iters, mode, device):
    return iterate(step, torch.zeros(6, dtype=F64, device=device), theta, iters, mode)


def _fd(f, theta, h=1e-6):
    out = torch.zeros_like(theta)
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = h
        out[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return out


def _grad(step, theta, iters, mode, target, device):
    t = theta.clone().requires_grad_()
    g, = torch.autograd.grad(_loss(_run(step, t, iters, mode, device), target), t)
    return g


@pytest.mark.parametrize("kind", ["unrolled", "full", "checkpointed", "implicit_neumann", "implicit_cg"])
def test_exact_modes_match_finite_differences(kind, device):
    q, theta, target = _problem(device)
    step = _step(q)
    if kind.startswith("implicit"):
        mode = diff_mode("implicit", adjoint=AdjointSolve(kind.split("_")[1], 200))
        iters = N  # converged: implicit differentiates the fixed point
    else:
        mode, iters = diff_mode(kind, segment=3), 12  # unrolled: the derivative of the 12th iterate
    plain = diff_mode("none")
    ref = _fd(lambda t: float(_loss(_run(step, t, iters, plain, device), target)), theta)
    grad = _grad(step, theta, iters, mode, target, device)
    assert float((grad - ref).norm() / ref.norm()) < 1e-7
    jac = torch.func.jacfwd(lambda t: _run(step, t, iters, mode, device))(theta)  # forward mode
    assert torch.allclose(2 * (_run(step, theta, iters, plain, device) - target) @ jac, grad, atol=1e-9)


def test_implicit_runs_to_a_fixed_point_tolerance(device):
    """With a FixedPointStop the plain run stops at the first check (every 5 steps) where ||T(z) - z|| / ||z||
    <= tol, the step count being a cap, and reports (steps, residual); the implicit derivative at that point
    matches the finite difference of the same stopped map and forward mode. A cap the tolerance cannot reach
    runs exactly the cap and reports a residual above the tolerance; tol = 0 runs exactly N steps."""
    q, theta, target = _problem(device)
    step = _step(q)
    seen = []

    def mode(tol, check=5):
        stop = FixedPointStop(tol, check, report=lambda k, r: seen.append((k, r)))
        return diff_mode("implicit", adjoint=AdjointSolve("cg", 200, 1e-14), stop=stop)

    grad = _grad(step, theta, 10_000, mode(1e-12), target, device)
    steps, res = seen[-1]
    assert res <= 1e-12 and 0 < steps < 10_000 and steps % 5 == 0
    ref = _fd(lambda t: float(_loss(_run(step, t, 10_000, mode(1e-12), device), target)), theta)
    assert float((grad - ref).norm() / ref.norm()) < 1e-7
    jac = torch.func.jacfwd(lambda t: _run(step, t, 10_000, mode(1e-12), device))(theta)
    assert torch.allclose(2 * (_run(step, theta, 10_000, mode(1e-12), device) - target) @ jac, grad, atol=1e-9)
    _run(step, theta, steps - 5, mode(0.0), device)  # five steps earlier the tolerance was not met
    assert seen[-1][0] == steps - 5 and seen[-1][1] > 1e-12
    _run(step, theta, 20, mode(1e-12), device)  # the cap binds: exactly 20 steps, the residual reported
    assert seen[-1][0] == 20 and seen[-1][1] > 1e-6
    with pytest.raises(UserError, match="fixed-point tol"):
        diff_mode("implicit", stop=FixedPointStop(-1.0))


def test_truncated_differentiates_the_last_steps_only(device):
    q, theta, target = _problem(device)
    step = _step(q)
    z4 = _run(step, theta, 4, diff_mode("none"), device)

    def tail(t):  # the first 4 of 12 steps at the fixed theta, the last 8 in t
        z = z4
        for _ in range(8):
            z = step(z, t)
        return float(_loss(z, target))

    grad = _grad(step, theta, 12, diff_mode("truncated", 8 / 12), target, device)
    ref = _fd(tail, theta)
    assert float((grad - ref).norm() / ref.norm()) < 1e-7
    whole = _grad(step, theta, 12, diff_mode("tail", 1.0), target, device)
    assert torch.allclose(whole, _grad(step, theta, 12, diff_mode("unrolled"), target, device), atol=1e-13)


def test_none_gives_no_derivative(device):
    q, theta, _ = _problem(device)
    t = theta.clone().requires_grad_()
    z = _run(_step(q), t, 5, diff_mode("none"), device)
    assert not z.requires_grad
    jac = torch.func.jacfwd(lambda s: _run(_step(q), s, 5, diff_mode("none"), device))(theta)
    assert torch.count_nonzero(jac) == 0


def test_tuple_state_and_params(device):
    """A two-tensor state (heavy-ball momentum) and two parameters; implicit on the (z, z_prev) pair."""
    q, theta, target = _problem(device)
    scale = torch.tensor(1.3, dtype=F64, device=device)
    base = _step(q)

    def step(s, p):
        z, z_prev = s
        znew = base(z, p[0] * p[1]) + 0.2 * (z - z_prev)
        return (znew, z)

    def loss_of(t, s_, mode, iters):
        z0 = torch.zeros(6, dtype=F64, device=device)
        return _loss(iterate(step, (z0, z0), (t, s_), iters, mode)[0], target)

    implicit = diff_mode("implicit", adjoint=AdjointSolve("neumann", 400))
    for mode, iters in ((diff_mode("unrolled"), 15), (implicit, 400)):
        t, s_ = theta.clone().requires_grad_(), scale.clone().requires_grad_()
        g_t, g_s = torch.autograd.grad(loss_of(t, s_, mode, iters), (t, s_))
        plain = diff_mode("none")
        ref_s = (float(loss_of(theta, scale + 1e-6, plain, iters))
                 - float(loss_of(theta, scale - 1e-6, plain, iters))) / 2e-6
        assert abs(float(g_s) - ref_s) < 1e-6 * max(1.0, abs(ref_s)), mode.kind
        ref_t = _fd(lambda t_, plain=plain, iters=iters: float(loss_of(t_, scale, plain, iters)), theta)
        assert float((g_t - ref_t).norm() / ref_t.norm()) < 1e-6, mode.kind


def _saved_bytes(fn):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total[0]


def test_memory_checkpointed_and_implicit(device):
    """Saved-for-backward bytes: unrolled grows with N, checkpointed like N / segment + segment, implicit
    stores nothing of the run."""
    q, theta, _ = _problem(device)
    step = _step(q)
    t = theta.clone().requires_grad_()
    saved = {k: _saved_bytes(lambda k=k: _run(step, t, 64, diff_mode(k), device))
             for k in ("unrolled", "checkpointed", "implicit")}
    assert saved["checkpointed"] * 3 < saved["unrolled"]
    assert saved["implicit"] * 20 < saved["unrolled"]


def test_unknown_mode_is_one_line_error():
    with pytest.raises(UserError, match="allowed: none, unrolled, truncated, checkpointed, implicit, full, tail"):
        diff_mode("reversible", name="solver.hypergradient")
    with pytest.raises(UserError, match="adjoint method"):
        diff_mode("implicit", adjoint=AdjointSolve("lu"))
