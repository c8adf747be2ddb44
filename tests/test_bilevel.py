"""Bilevel learning of the TV weight: every exact hypergradient mode against central finite differences of
the loss in float64, the paper mode's deviation, and the Nesterov-Armijo outer loop."""
import math

import pytest
import torch

from regrun.linalg.iterate import AdjointSolve, FixedPointStop
from regrun.optim.bilevel import BilevelLoss, nesterov_armijo
from regrun.optim.fista import Fista, disk_mask
from regrun.optim.tv_prox import TVProx

F64 = torch.float64
N_PIX = 12


def _setup(device, rows, seed=0, method="cv"):
    g = torch.Generator().manual_seed(seed)
    a = (torch.randn(rows, N_PIX * N_PIX, generator=g, dtype=F64) / N_PIX).to(device)
    truth = torch.zeros(N_PIX, N_PIX, dtype=F64)
    truth[3:9, 4:9] = 1
    truth[5:7, 5:7] = 2
    truth = truth.to(device)
    d = a @ truth.reshape(-1) + 0.05 * torch.randn(rows, generator=g, dtype=F64).to(device)
    mask = disk_mask((N_PIX, N_PIX), device=device)

    def fista(prox, paper=False):
        return Fista(lambda x: a @ x.reshape(-1), lambda y: (a.T @ y).reshape(N_PIX, N_PIX), d, (N_PIX, N_PIX),
                     prox, 5, mask=mask, paper=paper)

    exact = fista(TVProx(method, 2))
    paper = fista(TVProx("acv", 2, storage=torch.float16, paper=True), paper=True)
    return exact, paper, truth, mask


def _fd(loss, theta, h=1e-4):
    return (loss.value(theta + h) - loss.value(theta - h)) / (2 * h)


@pytest.mark.parametrize("mode", ["unrolled", "checkpointed"])
def test_unrolled_modes_match_finite_differences(mode, device):
    """Few measurements (60 for 144 unknowns): the derivative of the 20th FISTA iterate."""
    exact, paper, truth, mask = _setup(device, 60)
    loss = BilevelLoss(exact, truth, 20, mode, "log", mask, paper, segment=4)
    theta = math.log(0.05)
    ev = loss.value_and_grad(theta)
    assert abs(ev.grad - _fd(loss, theta)) < 1e-3 * abs(ev.grad)


@pytest.mark.parametrize("method", ["cv", "acv"])
def test_implicit_matches_finite_differences_at_convergence(method, device):
    """Implicit differentiates FISTA's limit: once x_N has converged it matches the loss's derivative (aCV:
    its hand-written projection derivative inside the fixed-point map)."""
    exact, paper, truth, mask = _setup(device, 300, method=method)
    loss = BilevelLoss(exact, truth, 150, "implicit", "log", mask, paper, adjoint=AdjointSolve("gmres", 500, 1e-10))
    theta = math.log(0.05)
    ev = loss.value_and_grad(theta)
    assert abs(ev.grad - _fd(loss, theta)) < 1e-3 * abs(ev.grad)
    assert ev.adjoint_residual <= 1e-10 and 0 < ev.adjoint_iters < 500


def test_implicit_to_a_fixed_point_tolerance_is_the_gradient_of_its_solution_map(device):
    """What solver.hypergradient=implicit runs: the lower level to ||T(x) - x|| / ||x|| <= tol (a cap on the
    iterations). On the 30-measurement problem its gradient matches the central difference of the loss of that
    same stopped lower level to 1e-8 at tol 1e-12 (1e-7 at 1e-10); where the cap binds (20 iterations) the
    residual reached is reported and the gradient is tens of percent off the loss of x_20 (use unrolled)."""
    exact, _, truth, mask = _setup(device, 30)
    exact.restart = "gradient"
    theta = math.log(0.05)
    for tol, bound in ((1e-12, 1e-8), (1e-10, 1e-7)):
        loss = BilevelLoss(exact, truth, 3000, "implicit", "log", mask, adjoint=AdjointSolve("gmres", 1000, 1e-12),
                           stop=FixedPointStop(tol, 10))
        ev = loss.value_and_grad(theta)
        assert ev.fixed_point_residual <= tol and 0 < ev.lower_iters < 3000 and ev.lower_iters % 10 == 0
        assert abs(ev.grad - _fd(loss, theta)) < bound * abs(ev.grad)
    capped = BilevelLoss(exact, truth, 20, "implicit", "log", mask, adjoint=AdjointSolve("gmres", 1000, 1e-12),
                         stop=FixedPointStop(1e-12, 10))
    ev = capped.value_and_grad(theta)
    assert ev.lower_iters == 20 and ev.fixed_point_residual > 1e-4
    assert abs(ev.grad - _fd(capped, theta)) > 0.1 * abs(ev.grad)


@pytest.mark.parametrize("mode", ["unrolled", "checkpointed", "implicit"])
def test_taylor_remainder_is_second_order(mode, device):
    """|loss(theta + h) - loss(theta) - h g| falls like h^2 (by >= 3x per halving of h) while the change
    itself falls like h: g is the derivative of the loss that the line search evaluates, in every exact mode
    (implicit: the lower level run to 1e-13)."""
    exact, _, truth, mask = _setup(device, 60)
    exact.restart = "gradient" if mode == "implicit" else "none"
    loss = BilevelLoss(exact, truth, 3000 if mode == "implicit" else 20, mode, "log", mask, segment=4,
                       adjoint=AdjointSolve("gmres", 1000, 1e-12), stop=FixedPointStop(1e-13, 10))
    theta = math.log(0.05)
    ev = loss.value_and_grad(theta)
    change, remainder = [], []
    for h in (0.1, 0.05, 0.025, 0.0125):
        v = loss.value(theta + h)
        change.append(abs(v - ev.loss))
        remainder.append(abs(v - ev.loss - h * ev.grad))
    for k in range(3):
        assert 1.7 < change[k] / change[k + 1] < 2.3
        assert remainder[k] / remainder[k + 1] > 3


def _dense_implicit_gradient(exact, truth, mask, lam, iters):
    """d loss(x*) / d log lam by the implicit function theorem with dense linear algebra: the Jacobian of the
    fixed-point map T at x_N column by column, then (I - dT/dx) dx = dT/dlog lam by LU."""
    with torch.no_grad():
        x = exact.solve(lam, iters)
    loss = BilevelLoss(exact, truth, iters, "unrolled", "log", mask)
    jac = torch.autograd.functional.jacobian(lambda z: exact.prox_gradient(z, lam).reshape(-1), x).reshape(x.numel(), -1)
    theta = torch.log(lam).requires_grad_()
    dt = torch.autograd.functional.jacobian(lambda t: exact.prox_gradient(x, torch.exp(t)).reshape(-1), theta)
    dx = torch.linalg.solve(torch.eye(x.numel(), dtype=x.dtype, device=x.device) - jac, dt.reshape(-1, 1))
    xg = x.clone().requires_grad_()
    g, = torch.autograd.grad(loss.loss_of(xg), xg)
    return float(g.reshape(-1) @ dx[:, 0])


def test_implicit_adjoint_is_solved_exactly_on_a_few_view_problem(device):
    """30 measurements for 144 unknowns: dT/dx has eigenvalues near 1 on the near-null space, so 100 Neumann
    terms leave the adjoint percent-level wrong (the CT docs' old 49% at 64^2 / 30 views); GMRES to 1e-10
    gives the implicit-function-theorem gradient at x_N to round-off (dense LU reference)."""
    exact, _paper, truth, mask = _setup(device, 30)
    lam = torch.tensor(0.05, dtype=F64, device=device)
    ref = _dense_implicit_gradient(exact, truth, mask, lam, 300)
    theta = math.log(0.05)
    gmres = BilevelLoss(exact, truth, 300, "implicit", "log", mask, adjoint=AdjointSolve("gmres", 1000, 1e-10))
    ev = gmres.value_and_grad(theta)
    assert abs(ev.grad - ref) < 1e-7 * abs(ref)
    assert ev.adjoint_residual <= 1e-10
    neumann = BilevelLoss(exact, truth, 300, "implicit", "log", mask, adjoint=AdjointSolve("neumann", 100))
    ev = neumann.value_and_grad(theta)
    assert abs(ev.grad - ref) > 1e-2 * abs(ref)
    assert ev.adjoint_residual > 1e-2


def test_paper_mode_is_biased_and_linear_parameter(device):
    """The released graph's hypergradient is not the derivative (notes 1.4): here it is more than twice the
    finite difference. The linear parameterization gives dloss/dlam = dloss/dlog(lam) / lam."""
    exact, paper, truth, mask = _setup(device, 60)
    theta = math.log(0.05)
    fd = _fd(BilevelLoss(exact, truth, 20, "unrolled", "log", mask, paper), theta)
    biased = BilevelLoss(exact, truth, 20, "paper", "log", mask, paper).value_and_grad(theta).grad
    assert abs(biased - fd) > abs(fd)
    linear = BilevelLoss(exact, truth, 20, "unrolled", "linear", mask, paper).value_and_grad(0.05)
    assert abs(linear.grad * 0.05 - fd) < 1e-3 * abs(fd)


def test_nesterov_armijo_minimises_and_records_trials():
    calls = []

    def value(x):
        return (x - 3.0) ** 2 + 0.1 * (x - 3.0) ** 4

    def fun(x):
        calls.append(x)

        class E:
            loss, grad, lam = value(x), 2 * (x - 3.0) + 0.4 * (x - 3.0) ** 3, x
        return E

    theta, hist, status = nesterov_armijo(fun, value, 0.0, gamma0=1.0, max_iter=60)
    assert abs(theta - 3.0) < 1e-3 and status.startswith("converged")
    assert hist[0].trials[0][3] is False and any(t[3] for t in hist[0].trials)  # gamma = 1 overshoots
    assert all(len(h.trials) >= 1 for h in hist)


def test_exact_modes_with_the_xray_projector(device):
    """The same check on a real few-view scan: 16x16 Shepp-Logan, 8 parallel views, float64."""
    ct = pytest.importorskip("regrun.problems.ct_fewview")
    from pathlib import Path

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.tomography.fista_tv import lipschitz, make_fista

    problem = ct.CTFewView(config_section("problem", "ct_fewview", size=16, views=8),
                           RunContext(device, F64, 0, Path(".")))
    cfg = config_section("solver", "bilevel", iters=15, inner_iters=3)
    L = lipschitz(problem, cfg)
    exact, paper = make_fista(problem, cfg, L), make_fista(problem, cfg, L, paper=True)
    mask = problem.mask.to(F64)
    theta = math.log(0.3)
    for mode in ("unrolled", "checkpointed"):
        loss = BilevelLoss(exact, problem.truth, 15, mode, "log", mask, paper)
        ev = loss.value_and_grad(theta)
        assert abs(ev.grad - _fd(loss, theta, 1e-5)) < 1e-3 * abs(ev.grad), mode
    # implicit as the solver runs it: restarted FISTA to the configured fixed-point tolerance (cap 3000)
    restarted = make_fista(problem, cfg, L, restart="gradient")
    loss = BilevelLoss(restarted, problem.truth, int(cfg.fixed_point_max_iters), "implicit", "log", mask,
                       adjoint=AdjointSolve("gmres", 1000, 1e-10), stop=FixedPointStop(float(cfg.fixed_point_tol),
                                                                                      int(cfg.fixed_point_check)))
    ev = loss.value_and_grad(theta)
    assert ev.fixed_point_residual <= cfg.fixed_point_tol and ev.lower_iters < cfg.fixed_point_max_iters
    assert abs(ev.grad - _fd(loss, theta, 1e-5)) < 1e-4 * abs(ev.grad)


def test_gradient_restart_reaches_the_same_fixed_point_sooner_and_implicit_then_matches(device):
    """O'Donoghue-Candes restart leaves the map T (so FISTA's limit) unchanged and gets there sooner: on a
    30-measurement problem, after 100 iterations plain FISTA's fixed-point residual leaves the implicit
    gradient several percent off the finite difference; with restart it is within 1e-4 (the CT case in
    docs/ct.md). Unrolling through the restart's select stays exact for x_N."""
    exact, _paper, truth, mask = _setup(device, 30)
    lam, theta = torch.tensor(0.05, dtype=F64, device=device), math.log(0.05)
    errors, residuals = {}, {}
    for restart in ("none", "gradient"):
        exact.restart = restart
        x = exact.solve(lam, 100)
        residuals[restart] = float((exact.prox_gradient(x, lam) - x).norm() / x.norm())
        loss = BilevelLoss(exact, truth, 100, "implicit", "log", mask, adjoint=AdjointSolve("gmres", 1000, 1e-10))
        fd = _fd(loss, theta)
        errors[restart] = abs(loss.value_and_grad(theta).grad - fd) / abs(fd)
    assert residuals["gradient"] < 0.05 * residuals["none"]
    assert errors["none"] > 1e-2 and errors["gradient"] < 1e-4
    exact.restart = "none"
    x_plain = exact.solve(lam, 1000)  # 1.6e-6 from the restarted 300th iterate, 3e-11 at 3000
    exact.restart = "gradient"
    assert float((exact.solve(lam, 300) - x_plain).norm() / x_plain.norm()) < 1e-5
    loss = BilevelLoss(exact, truth, 40, "unrolled", "log", mask)
    ev = loss.value_and_grad(theta)
    assert abs(ev.grad - _fd(loss, theta)) < 1e-3 * abs(ev.grad)


def test_line_search_at_a_flat_optimum_stops_instead_of_halving():
    """A loss flat to round-off near its minimum (float32-like noise) with a gradient that still says 'move':
    the paper's halving spends every trial; with min_move the search stops once a trial would move theta by
    less than the tolerance (status converged_flat), and quadratic backtracking cuts an overshoot in one
    trial where halving needs several."""
    def value(x):
        return 1e-9 * abs(x)  # a kink at 0: no trial decreases the loss, whatever the gradient claims

    def fun(x):
        class E:
            loss, grad, lam = value(x), 1e-3, x
        return E

    _, hist, status = nesterov_armijo(fun, value, 0.0, gamma0=400.0, max_iter=3, max_tries=20)
    assert status == "line_search_failed" and len(hist[0].trials) == 20
    _, hist, status = nesterov_armijo(fun, value, 0.0, gamma0=400.0, max_iter=3, max_tries=20, min_move=1e-3)
    assert status == "converged_flat" and len(hist[0].trials) == 9  # 0.4 / 2^8 < 1e-3 is not tried

    def bowl(x):
        return (x - 1.0) ** 2

    def bowl_fun(x):
        class E:
            loss, grad, lam = bowl(x), 2 * (x - 1.0), x
        return E

    halved = nesterov_armijo(bowl_fun, bowl, 0.0, gamma0=100.0, max_iter=1)[1][0]
    quadratic = nesterov_armijo(bowl_fun, bowl, 0.0, gamma0=100.0, max_iter=1, backtrack="quadratic")[1][0]
    assert len(quadratic.trials) < len(halved.trials)
    assert quadratic.trials[-1][3] and abs(quadratic.trials[-1][1] - 1.0) < 0.5


def test_an_interrupted_learning_keeps_the_memory_it_had_measured(tmp_path, monkeypatch, device):
    """At the paper's size the per-mode memory measurement takes minutes and the learning after it longer: a run
    stopped during the learning (here: Ctrl-C at the first outer step) still has the measured memory in its
    results file, with status `interrupted`."""
    from regrun.config import compose
    from regrun.record import load
    from regrun.run import run
    from regrun.solvers import bilevel

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bilevel, "nesterov_armijo", stopped)
    cfg = compose(["+experiment=ct_bilevel_3d", "problem.size=8", "problem.slices=2", "problem.views=6",
                   "solver.iters=3", f"device={device.type}", "figures=false", "progress=false"])
    outcome = run(cfg, tmp_path / "run", [])
    res = load(outcome.results_path)
    assert outcome.status == "interrupted" and res["attrs"]["status"] == "interrupted"
    for mode in ("paper", "unrolled", "checkpointed", "implicit"):
        assert res["metrics"][f"mem_hypergradient_{mode}_MiB"] > 0
    assert "lam" not in res["metrics"]  # nothing the learning did not finish


def test_memory_per_mode_at_two_inner_counts_is_flat_for_implicit_and_grows_unrolled(tmp_path, device):
    """solver.memory.iters (issue 21): each mode's hypergradient measured at each inner iteration count. The bytes
    autograd saves grow by the same amount per iteration for unrolled (its tape) and not at all for implicit
    (one FISTA step's graph, whatever the count); checkpointed keeps one segment's tape and the segment ends.
    The peak (resident memory on the CPU, the allocator's on CUDA) and the seconds are recorded beside them."""
    from regrun.config import compose
    from regrun.run import run

    cfg = compose(["+experiment=ct_bilevel_3d", "problem.size=8", "problem.slices=2", "problem.views=6",
                   "solver.max_outer=0", "solver.grid.points=0", "solver.compare_paper=false",
                   "solver.memory.iters=[2,4,6]", "solver.memory.modes=[implicit,unrolled,checkpointed]",
                   "solver.adjoint_iters=3", "solver.memory.shape=[4,4,2]",
                   f"device={device.type}", "figures=false", "progress=false"])
    outcome = run(cfg, tmp_path / "run", [])
    assert outcome.status == "completed", outcome.error
    m = outcome.metrics

    def saved(mode, n):
        return m[f"mem_hypergradient_{mode}_n{n}_MiB"]

    assert saved("implicit", 2) == saved("implicit", 6) > 0
    step = saved("unrolled", 4) - saved("unrolled", 2)
    assert step > 0 and saved("unrolled", 6) - saved("unrolled", 4) == pytest.approx(step, rel=1e-6)
    assert saved("implicit", 6) < saved("checkpointed", 6) < saved("unrolled", 6)
    assert "mem_hypergradient_paper_n4_MiB" not in m  # only the modes asked for
    peak = "cuda_peak" if device.type == "cuda" else "rss_peak"
    for mode in ("implicit", "unrolled", "checkpointed"):
        assert m[f"time_hypergradient_{mode}_n6_s"] > 0
        assert (f"{peak}_{mode}_n6_MiB" in m) or peak == "rss_peak"  # where /proc allows the reset


def test_memory_options_are_checked():
    from regrun.errors import UserError
    from regrun.solvers.bilevel import memory_modes

    assert memory_modes(True) == ["paper", "unrolled", "checkpointed", "implicit"] and memory_modes(False) == []
    assert memory_modes(["implicit", "unrolled"]) == ["implicit", "unrolled"]
    with pytest.raises(UserError, match="solver.memory.modes"):
        memory_modes(["unroled"])
    with pytest.raises(UserError, match="solver.memory.modes='implicit' must be a list"):
        memory_modes("implicit")


def test_resident_peak_sees_a_tensor_made_and_freed_inside():
    """In a fresh process with the allocator settings scripts/bench_bilevel_memory.py uses (in a long-lived one,
    such as this test session, memory freed earlier and kept by the allocator is reused without showing)."""
    import os
    import subprocess
    import sys

    code = ("import torch; from regrun.memory import rss_peak_bytes; "
            "print(rss_peak_bytes(lambda: float(torch.ones(8 * 2**20, dtype=torch.float64, device='cpu').sum())))")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="16384", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "None":
        pytest.skip("the kernel does not allow resetting the resident peak (/proc/self/clear_refs)")
    assert 60 * 2**20 <= int(out.stdout) <= 200 * 2**20  # a 64 MiB tensor
