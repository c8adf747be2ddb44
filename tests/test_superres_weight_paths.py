"""The weight search's image solve (registration/superres_weight.ImageSolve) by its three paths: the dense operator
with the trace by forward-mode AD (up to CHOLESKY_MAX_PIXELS, unchanged), the Cholesky factor with the matrix-free
operator and PCG (both with the trace from the probes' own predictions, the map being linear in the frames). The
thresholds are lowered here so a 12^2 image takes each path; they must give the same misfit and trace."""
import math
from pathlib import Path

import pytest
import torch

import regrun.registration.superres_weight as sw
from regrun.config import config_section
from regrun.context import RunContext
from regrun.optim.parameter_choice import noise_std_blocks, rademacher
from regrun.problems.superres import SuperRes

PATHS = {"dense": (10**9, 10**9), "cholesky": (0, 10**9), "pcg": (0, 0)}  # CHOLESKY_MAX, WEIGHT_CHOLESKY_MAX


def problem(device):
    ctx = RunContext(device, torch.float64, 0, Path("."))
    p = SuperRes(config_section("problem", "superres", size=12, n_frames=3, noise=0.02, outside="drop"), ctx)
    w = p.w_true + 0.01 * torch.randn(p.w_true.shape, generator=torch.Generator().manual_seed(1),
                                      dtype=torch.float64).to(device)
    p.model.settle_outside(w)  # some rows dropped: the paths must agree on the masked data too
    return p, w


def solve_by(path, monkeypatch, p, w):
    dense_max, chol_max = PATHS[path]
    monkeypatch.setattr(sw, "CHOLESKY_MAX_PIXELS", dense_max)
    monkeypatch.setattr(sw, "WEIGHT_CHOLESKY_MAX_PIXELS", chol_max)
    s = sw.ImageSolve(p.model, w, 2000, 1e-13)
    assert (s.dense, s.cholesky) == {"dense": (True, True), "cholesky": (False, True), "pcg": (False, False)}[path]
    return s


@pytest.mark.parametrize("path", ["cholesky", "pcg"])
def test_each_path_gives_the_dense_paths_misfit_and_trace(device, monkeypatch, path):
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(3, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = solve_by("dense", monkeypatch, p, w)
    new = solve_by(path, monkeypatch, p, w)
    for lam in (1.0, 0.1, 0.01):  # warm starts carried from weight to weight on the PCG path
        a, b = sw.evaluate_at(p.model, ref, probes, lam), sw.evaluate_at(p.model, new, probes, lam)
        assert b.m == a.m < d.numel()
        assert b.rss == pytest.approx(a.rss, rel=1e-9)
        assert b.trace == pytest.approx(a.trace, rel=1e-9)
        assert torch.allclose(b.state, a.state, rtol=0, atol=1e-8 * float(a.state.abs().max()))
        assert b.state.device.type == device.type and b.state.dtype == torch.float64


def test_regulariser_normal_is_the_gram_matrix_and_self_adjoint(device, monkeypatch):
    """Dot test: h_f L^T L applied matrix-free, and the model's cached dense regulariser_gram (and frame 0's
    pooling_gram), equal the products of the dense difference (pooling) matrices, and <R x, y> = <x, R y>."""
    from regrun.linalg.differences import forward_difference as diff
    from regrun.linalg.differences import pool

    p, w = problem(device)
    s = solve_by("pcg", monkeypatch, p, w)
    m = p.model
    n, (n1, n2), (h1, h2) = m.n, m.fine.m, m.fine.h
    eye = torch.eye(n, dtype=torch.float64, device=device)
    l1, l2 = (diff(eye.unflatten(-1, (n1, n2)), axis, h).flatten(-2) for axis, h in ((-2, h1), (-1, h2)))
    dense = m.fine.cell_volume * (l1 @ l1.T + l2 @ l2.T)
    assert torch.allclose(s.regulariser_normal(eye), dense, rtol=0, atol=1e-12)
    assert torch.allclose(m.regulariser_gram(), dense, rtol=0, atol=1e-12)
    kt = pool(eye.unflatten(-1, (n1, n2)), m.factor).flatten(-2)
    assert torch.allclose(m.pooling_gram(), m.coarse.cell_volume * (kt @ kt.T), rtol=0, atol=1e-12)
    g = torch.Generator().manual_seed(2)
    x, y = (torch.randn(n, generator=g, dtype=torch.float64).to(device) for _ in range(2))
    lhs, rhs = float(s.regulariser_normal(x) @ y), float(x @ s.regulariser_normal(y))
    assert lhs == pytest.approx(rhs, rel=1e-12)


@pytest.mark.parametrize("path", ["cholesky", "pcg"])
def test_the_prediction_is_linear_and_symmetric_in_the_frames(device, monkeypatch, path):
    """The trace beyond the dense path uses d(A_d f)[z] = A_d f(z): checked against a finite difference of the
    prediction at the data (exact up to rounding, the map being linear), and the hat matrix's symmetry
    <z1, H z2> = <H z1, z2> (a dot test); the block of probes gives each probe's own prediction."""
    p, w = problem(device)
    s = solve_by(path, monkeypatch, p, w)
    predict = s.prediction(0.05)
    d = p.model.frames.reshape(-1)
    z = rademacher(2, d.shape, torch.Generator().manual_seed(3), d.dtype, d.device)
    hz = predict(z)[0]
    for eps in (1e-2, 1e-4):
        fd = (predict(d + eps * z[0])[0] - predict(d)[0]) / eps
        assert torch.allclose(fd, hz[0], rtol=0, atol=1e-6 * float(hz[0].abs().max()))
    assert float(z[0] @ hz[1]) == pytest.approx(float(hz[0] @ z[1]), rel=1e-8)
    assert torch.allclose(predict(z[1])[0], hz[1], rtol=0, atol=1e-8 * float(hz[1].abs().max()))


def test_the_block_trace_is_forward_mode_ad_through_the_dense_solve(device, monkeypatch):
    """The trace on every path is the probes' own predictions as one block; on the dense path it was forward-mode AD
    through the solve (torch.func.jvp at the data, in each probe's direction): the same to rounding."""
    p, w = problem(device)
    s = solve_by("dense", monkeypatch, p, w)
    predict = s.prediction(0.05)
    d = p.model.frames.reshape(-1)
    z = rademacher(3, d.shape, torch.Generator().manual_seed(4), d.dtype, d.device)
    by_ad = sum(float((zi * torch.func.jvp(lambda u: predict(u)[0], (d,), (zi,))[1]).sum()) for zi in z) / 3
    assert s.trace(predict, d, z) == pytest.approx(by_ad, rel=1e-10)
    fit = sw.evaluate_at(p.model, s, z, 0.05)
    assert fit.trace == pytest.approx(by_ad, rel=1e-10)
    data = sw.frame_data(p.model)[0]  # the kept pixels (outside=drop): the misfit's data
    assert fit.rss == pytest.approx(float((predict(data)[0] - data).pow(2).sum()), rel=1e-10)


@pytest.mark.parametrize("path", ["cholesky", "pcg"])
def test_the_pcg_path_draws_lam_probes_cg_probes(device, monkeypatch, path):
    """The search's trace: problem.lam_probes probes with a Cholesky factor (triangular solves each),
    problem.lam_probes_cg with PCG (a solve each, as dear as the image's); the same seed's first probes."""
    p, w = problem(device)
    p.lam_probes_cg = 2
    solve_by(path, monkeypatch, p, w)  # the thresholds for this path
    evaluate, _, _ = sw.weight_evaluator(p, w, p.weight_settings, torch.Generator().manual_seed(0))
    count = {"cholesky": p.weight_settings.probes, "pcg": 2}[path]
    assert evaluate.probes.shape == (count, p.model.frames.numel())
    d = p.model.frames.reshape(-1)
    first = rademacher(p.weight_settings.probes, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    assert torch.equal(evaluate.probes, first[:count])


@pytest.mark.parametrize("path", ["dense", "cholesky", "pcg"])
def test_the_images_change_per_log_weight_taylor(device, monkeypatch, path):
    """Taylor test of ImageSolve.change, ||lam df/dlam|| by one more solve (quasi-optimality): against the image's
    finite difference over log lam, (f(lam e^h) - f(lam)) / h, whose error falls as O(h) (by ~10x per decade of
    h); each path the same value."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    s = solve_by(path, monkeypatch, p, w)
    for lam in (0.3, 0.05):
        f = s.prediction(lam)(d)[1]
        g = s.normal_solver(lam)(s.regulariser_normal(f))
        exact = s.change(lam, f)
        assert exact == pytest.approx(float(2 * lam**2 * g.norm()), rel=1e-6)
        errors = []
        for h in (1e-2, 1e-3, 1e-4):
            fd = (s.prediction(lam * math.exp(h))(d)[1] - f) / h
            errors.append(abs(float(fd.norm()) - exact) / exact)
        assert errors[0] > 5 * errors[1] > 25 * errors[2] and errors[2] < 1e-3


def test_quasi_optimality_and_its_gate_only_for_frames_over_their_size_limits():
    """problem.lam_quasi_optimal applies to frames over QUASI_OPTIMAL_MIN_FRAME pixels a side: smaller frames (the
    paper's presets, the CI pairs) keep the rule's own minimum."""
    from types import SimpleNamespace

    ev = SimpleNamespace(change=lambda lam: 0.0)
    for side, on, expected in ((32, True, None), (33, True, ev.change), (48, False, None)):
        model = SimpleNamespace(coarse=SimpleNamespace(m=(side, side + 10)))
        prob = SimpleNamespace(weight_quasi_optimal=on, weight_quasi_optimal_small=False, model=model)
        assert sw.quasi_optimal(prob, ev) is expected
    # problem.lam_quasi_optimal_small (opt-in) lowers the limit to QUASI_OPTIMAL_SMALL_MIN_FRAME
    for side, on, expected in ((16, True, None), (17, True, ev.change), (24, False, None)):
        model = SimpleNamespace(coarse=SimpleNamespace(m=(side, side + 10)))
        prob = SimpleNamespace(weight_quasi_optimal=on, weight_quasi_optimal_small=True, model=model)
        assert sw.quasi_optimal(prob, ev) is expected
    # the gate on the climb (problem.lam_quasi_optimal_below_noise) acts on frames over CLIMB_GATE_MIN_FRAME only
    for side, on, expected in ((16, True, False), (17, True, True), (48, False, False)):
        model = SimpleNamespace(coarse=SimpleNamespace(m=(side + 4, side)))
        prob = SimpleNamespace(weight_climb_below_noise=on, model=model)
        assert sw.climb_gated(prob) is expected
    # its level: the given noise, else the block percentile (noiseest: the margin's estimate), None where off
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(4, 30, 30, generator=g, dtype=torch.float64)
    prob = SimpleNamespace(weight_climb_below_noise=True, model=SimpleNamespace(coarse=SimpleNamespace(m=(30, 30)),
                                                                              frames=frames))
    assert sw.climb_level(prob, SimpleNamespace(noise=0.3)) == 0.3
    assert sw.climb_level(prob, SimpleNamespace(noise=None)) == noise_std_blocks(frames)
    prob.weight_climb_below_noise = False
    assert sw.climb_level(prob, SimpleNamespace(noise=None)) is None


def test_the_climb_solves_to_a_bar_relative_to_the_warm_start(device, monkeypatch):
    """Evaluator.change (quasi-optimality's climb) switches the PCG path to a bar relative to the warm start's own
    residual and solves its starting weight again: a weight next to the last one, warm-started, is then solved
    (relative to ||rhs|| the warm start alone can meet the bar and come back unsolved), matching the dense
    path's image; the Cholesky paths are exact and not switched."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(1, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = solve_by("dense", monkeypatch, p, w)
    s = solve_by("pcg", monkeypatch, p, w)
    s.cg_rtol = 1e-3  # a loose bar, as the search's 1e-5 is at 128^2 against a warm start from a nearby weight
    ev = sw.Evaluator(p.model, s, probes)
    first = ev(0.05)
    assert not s.accurate
    assert math.isnan(first.change)
    ev.change(0.05)
    assert s.accurate and ev.fits[0.05] is not first  # the starting weight solved again, to the new bar
    # the search's curve holds `first`: the climb's start shows its change there (lam_curve's twin axis)
    assert first.change == ev.fits[0.05].change and math.isfinite(first.change)
    for lam in (0.05 * 1.02, 0.05 * 1.04):
        exact = sw.evaluate_at(p.model, ref, probes, lam).state
        got = ev(lam).state
        assert float((got - exact).norm() / exact.norm()) < 1e-4  # 1.2e-3 with the bar relative to ||rhs||


@pytest.mark.parametrize("path", ["cholesky", "pcg"])
def test_the_evaluator_adds_the_trace_to_an_image_solved_alone(device, monkeypatch, path):
    """Evaluator.image (the climb: the image alone) then Evaluator(lam) (the rule's value at the chosen weight):
    the trace's probes solved for the image already there, giving the misfit and trace of one evaluation with
    the probes; the image is not solved again."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(2, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = sw.evaluate_at(p.model, solve_by("dense", monkeypatch, p, w), probes, 0.05)
    ev = sw.Evaluator(p.model, solve_by(path, monkeypatch, p, w), probes)
    alone = ev.image(0.05)
    assert math.isnan(alone.trace) and ev.solves == 1
    full = ev(0.05)
    assert full is alone and ev.solves == 1
    assert full.rss == pytest.approx(ref.rss, rel=1e-9) and full.trace == pytest.approx(ref.trace, rel=1e-9)


@pytest.mark.parametrize("path", ["dense", "cholesky", "pcg"])
def test_the_marginal_likelihoods_inputs_are_the_hat_matrixs(device, monkeypatch, path):
    """evaluate_at's energy and log-determinant (parameter_choice.edge_fallback) on the paths with a factor: the hat
    matrix H of the frames' prediction taken column by column (the map is linear in the frames), energy = d^T (I - H) d
    and log det+(I - H) (its eigenvalues 0, one a constant image the penalty leaves free, left out), up to a
    constant in lam. PCG has no factor: its log det is stochastic Lanczos quadrature's (8 probes here, the same at
    every weight; the default SLQ_PROBES = 2 is for large images, where Hutchinson's relative spread is ~1/sqrt(n)
    smaller than at these 144 pixels), left to Fit.logdet_at until read; its changes over lam within 2% of the exact
    ones (0.04-0.25% measured at 12^2 and 32^2)."""
    monkeypatch.setattr(sw, "SLQ_PROBES", 8)
    p, w = problem(device)
    s = solve_by(path, monkeypatch, p, w)
    ref = solve_by("dense", monkeypatch, p, w)  # the hat matrix's columns by the dense path (PCG's: 144 solves)
    d, m = sw.frame_data(p.model)
    keep = p.model.data_mask().reshape(-1) > 0
    eye = torch.eye(d.numel(), dtype=torch.float64, device=device)[keep]
    logdets, fits = [], []
    for lam in (0.05, 0.3, 2.0):
        fit = sw.evaluate_at(p.model, s, None, lam)
        assert (path == "pcg") == (math.isnan(fit.logdet) and fit.logdet_at is not None)
        fit.resolved()
        hat = ref.prediction(lam)(eye)[0][:, keep]  # rows: H's columns on the data pixels
        i_h = torch.eye(m, dtype=torch.float64, device=device) - hat
        assert torch.allclose(i_h, i_h.T, atol=1e-8)
        assert fit.energy == pytest.approx(float(d[keep] @ i_h @ d[keep]), rel=1e-7)
        ev = torch.linalg.eigvalsh(i_h)
        assert int((ev < 1e-9).sum()) == fit.null == 1
        logdets.append(float(torch.log(ev[ev >= 1e-9]).sum()))
        fits.append(fit)
    for k in (1, 2):
        rel = 2e-2 if path == "pcg" else 1e-6
        assert fits[k].logdet - fits[0].logdet == pytest.approx(logdets[k] - logdets[0], rel=rel)


def test_preconditioner_factor_is_its_square_root(device):
    """M^-1 = E E^T (the model's preconditioner, from the factor SLQ uses), E^T the adjoint of E (dot test), and
    log det M^-1 the dense matrix's, with the outside=drop scaling."""
    p, _ = problem(device)
    m = p.model
    m.set_weight(0.2)
    fac, apply = m.preconditioner_factor(), m.preconditioner()
    eye = torch.eye(m.n, dtype=torch.float64, device=device)
    e = fac.half(eye).T  # columns: E e_i
    assert torch.allclose(fac.half_adjoint(eye).T, e.T, atol=1e-12)
    gen = torch.Generator().manual_seed(3)
    x, y = (torch.randn(m.n, generator=gen, dtype=torch.float64).to(device) for _ in range(2))
    assert float(fac.half(x) @ y) == pytest.approx(float(x @ fac.half_adjoint(y)), rel=1e-12)
    dense = apply(eye).T
    assert torch.allclose(e @ e.T, dense, rtol=0, atol=1e-10 * float(dense.abs().max()))
    assert fac.logdet_inverse() == pytest.approx(float(torch.linalg.slogdet(dense)[1]), rel=1e-9)


def test_search_again_after_a_floors_climb_whatever_the_move_only_when_asked():
    """problem.lam_rechoose_after_floor_climb: a weight climbed from a binding marginal-likelihood floor is searched
    again at the final motion after any move (the threshold 0); a floor that bound without a climb, a climb from
    the rule's own minimum, or the setting off keep problem.lam_rechoose_move."""
    from types import SimpleNamespace

    floor = {"lam_rule_below_floor": "0.0879", "lam_rule_minimum": "0.11"}
    for on, lam, details, expected in ((True, 0.879, floor, 0.0), (False, 0.879, floor, 0.25),
                                       (True, 0.11, floor, 0.25), (True, 0.3, {"lam_rule_minimum": "0.1"}, 0.25)):
        prob = SimpleNamespace(weight_choice=SimpleNamespace(lam=lam, details=details),
                               rechoose=sw.RechooseSettings(times=1, gain=0.2, move=0.25, after_floor_climb=on))
        assert sw.rechoose_move(prob) == expected
