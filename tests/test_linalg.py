"""Matrix-free operators, the adjoint test, CG and its differentiation modes on small dense problems."""
import pytest
import torch
from conftest import host_reads

from regrun.errors import UserError
from regrun.linalg.cg import cg, diff_mode, solve_normal
from regrun.linalg.dottest import dot_test
from regrun.linalg.krylov import gmres
from regrun.linalg.operator import LinearOperator, compose, vstack

G = torch.Generator().manual_seed(0)


def dense(m, n, device=None):
    a = torch.randn(m, n, generator=G, dtype=torch.float64).to(device)
    return a, LinearOperator((m, n), lambda x: x @ a.T, lambda y: y @ a, device=device)


def test_dot_test_explicit_vjp_stack_compose(device):
    a, op = dense(7, 5, device)
    assert dot_test(op) < 1e-14
    auto = LinearOperator((7, 5), lambda x: x @ a.T, device=device)  # adjoint from reverse-mode AD
    y = torch.randn(7, dtype=torch.float64, device=device)
    assert torch.allclose(auto.rmatvec(y), a.T @ y)
    b, op2 = dense(5, 4, device)
    assert dot_test(compose(op, op2)) < 1e-14
    assert dot_test(vstack([op, auto.scaled(2.0)])) < 1e-14
    wrong = LinearOperator((7, 5), lambda x: x @ a.T, lambda y: 1.01 * (y @ a), device=device)
    assert dot_test(wrong) > 1e-4


def test_cg_batched_columns():
    a, op = dense(12, 6)
    rhs = torch.randn(3, 6, dtype=torch.float64)
    res = cg(op.normal(), rhs, iters=50, rtol=1e-13)
    assert torch.allclose(res.x, torch.linalg.solve(a.T @ a, rhs.T).T, atol=1e-9)
    assert res.n_iter <= 50 and res.rel_residual <= 1e-13


def test_bad_modes_are_user_errors():
    with pytest.raises(UserError, match="none, unrolled, truncated, checkpointed, implicit, full, tail"):
        diff_mode("unroled")
    assert diff_mode("full").kind == "unrolled" and diff_mode("tail", 0.5).kind == "truncated"
    with pytest.raises(UserError):
        diff_mode("tail", 1.5)
    with pytest.raises(UserError):
        diff_mode("tail", 0.0)
    assert diff_mode("tail", 0.7).split(200) == (60, 140)


def parametric(theta):
    """A(theta): a small dense matrix depending smoothly on two parameters."""
    base = torch.arange(30, dtype=torch.float64).reshape(10, 3) / 10
    a = torch.cos(base * theta[0]) + torch.sin(base**2 * theta[1]) + torch.eye(10, 3, dtype=torch.float64)
    return LinearOperator((10, 3), lambda x: x @ a.T, lambda y: y @ a)


B = torch.linspace(-1, 1, 10, dtype=torch.float64)
THETA = torch.tensor([0.7, -0.3], dtype=torch.float64)


def exact(theta):
    a = parametric(theta).matvec(torch.eye(3, dtype=torch.float64)).T
    return torch.linalg.lstsq(a, B).solution


def test_full_and_implicit_match_exact_derivative():
    jac_exact = torch.func.jacfwd(exact)(THETA)
    full = torch.func.jacfwd(lambda t: solve_normal(parametric, t, B, diff_mode("full"), 3))(THETA)
    assert torch.allclose(full, jac_exact, atol=1e-8)  # 3 CG iterations are exact for 3 unknowns
    implicit = diff_mode("implicit")
    dx = torch.func.jacfwd(lambda t: solve_normal(parametric, t, B, implicit, 3))(THETA)
    assert torch.allclose(dx, jac_exact, atol=1e-8)
    g = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    for mode in (implicit, diff_mode("full"), diff_mode("checkpointed", segment=2)):
        theta = THETA.clone().requires_grad_()
        grad, = torch.autograd.grad(g @ solve_normal(parametric, theta, B, mode, 3), theta)
        assert torch.allclose(grad, g @ jac_exact, atol=1e-8), mode.kind
    checkpointed = torch.func.jacfwd(lambda t: solve_normal(parametric, t, B, diff_mode("checkpointed"), 3))
    assert torch.allclose(checkpointed(THETA), jac_exact, atol=1e-8)
    tail = torch.func.jacfwd(lambda t: solve_normal(parametric, t, B, diff_mode("tail", 1.0), 3))(THETA)
    assert torch.allclose(tail, full, atol=1e-12)


def test_none_blocks_forward_tangents():
    jac = torch.func.jacfwd(lambda t: solve_normal(parametric, t, B, diff_mode("none"), 3))(THETA)
    assert torch.count_nonzero(jac) == 0


def test_diff_fraction_checked_in_every_mode():
    for kind in ("none", "full", "implicit", "tail"):
        with pytest.raises(UserError, match=r"solver.diff_fraction=2 must be in \(0, 1\]"):
            diff_mode(kind, 2.0, name="solver.jacobian")
        with pytest.raises(UserError, match="solver.diff_fraction=nan must be a finite number"):
            diff_mode(kind, float("nan"), name="solver.jacobian")
    assert diff_mode("none", 0.5, name="solver.jacobian").kind == "none"


@pytest.mark.parametrize("restart", [5, 60])
def test_gmres_solves_a_nonsymmetric_system(restart, device):
    """Restarted GMRES on I - J, J nonsymmetric with spectral radius near 1 (the implicit adjoint's case): the
    solution to its tolerance, the true residual reported, restarts included."""
    g = torch.Generator().manual_seed(3)
    n = 40
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    j = (q @ torch.diag(torch.linspace(-0.5, 0.99, n, dtype=torch.float64)) @ q.T
         + 0.05 * torch.randn(n, n, generator=g, dtype=torch.float64)).to(device)
    a = torch.eye(n, dtype=torch.float64, device=device) - j
    b = torch.randn(n, generator=g, dtype=torch.float64).to(device)
    res = gmres(lambda v: a @ v, b, iters=2000, rtol=1e-12, restart=restart)
    x = torch.linalg.solve(a, b)
    assert float((res.x - x).norm() / x.norm()) < 1e-9
    assert res.rel_residual <= 1e-12
    assert float((b - a @ res.x).norm() / b.norm()) == pytest.approx(res.rel_residual, rel=1e-6, abs=1e-15)
    if restart >= n:  # one cycle, no restart: the space is exhausted after n steps, the breakdown guard
        assert res.n_iter == restart  # zeroes the rest of the basis and the pseudo-inverse ignores it
    short = gmres(lambda v: a @ v, b, iters=3, rtol=1e-12, restart=restart)
    assert short.n_iter == 3 and short.rel_residual > 1e-6
    assert res.x.device == b.device and short.x.device == b.device


def test_gmres_reads_the_device_once_per_cycle(device):
    """GMRES keeps its basis, Hessenberg matrix and least squares on the run's device: on a GPU, CUDA's sync
    debug mode counts the reads back to the host, which must be one per cycle (+ the right-hand side's norm),
    not one per Arnoldi step. On the CPU the same code runs and must give the same answer."""
    g = torch.Generator().manual_seed(5)
    n = 30
    a = (torch.eye(n, dtype=torch.float64) + 0.3 * torch.randn(n, n, generator=g, dtype=torch.float64) / n**0.5)
    a, b = a.to(device), torch.randn(n, generator=g, dtype=torch.float64).to(device)
    res, syncs = host_reads(lambda: gmres(lambda v: a @ v, b, iters=40, rtol=1e-30, restart=10), device)
    if syncs is not None:
        assert len(syncs) <= 1 + 4, [str(w.message) for w in syncs]  # b's norm, then one per cycle (4 cycles)
    assert res.n_iter == 40
    x = torch.linalg.solve(a, b)
    assert float((res.x - x).norm() / x.norm()) < 1e-10
