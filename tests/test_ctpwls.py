"""solver.data_weight=poisson: FISTA-TV's misfit weighted by the inverse of -log's Poisson variance (penalised
weighted least squares; docs/ct.md "Poisson weights in FISTA-TV's data term (ctpwls)"): the weights, the weighted
operator's adjoint, the weighted objective's gradient, auto's training runs weighted, `none` bit for bit the plain
least squares, bad values."""
import math
from pathlib import Path

import pytest
import torch

from cli_in_process import regrun_in_process
from regrun.config import config_section
from regrun.context import RunContext
from regrun.optim.fista import Fista
from regrun.problems.ct_fewview import CTFewView
from regrun.tomography.fista_tv import TRANSMISSION_FLOOR, data_weights, lipschitz, make_fista, unknown_grid
from regrun.tomography.fista_tv_weight import training_fista, view_split

F64 = torch.float64


def _problem(device, **kw):
    base = dict(phantom="shepp_logan", size=16, views=10, oversample=2, noise="poisson", photons=1e3)
    return CTFewView(config_section("problem", "ct_fewview", **{**base, **kw}), RunContext(device, F64, 0, Path(".")))


def _cfg(**kw):
    return config_section("solver", "fista_tv", **{"lam": 1.0, "tv_grid": 1, **kw})


def test_weights_are_the_transmission_floored_and_of_mean_one(device):
    """w = exp(-kappa p) / its mean, kappa 1 for a -log(I/I0) sinogram or -log T / max p; no transmission measured
    (+inf, NaN) gets the floor; on the sinogram's device and dtype."""
    p = torch.tensor([[0.0, 1.0, 2.0, math.inf], [float("nan"), 0.5, 3.0, 0.0]], dtype=F64, device=device)
    w, kappa = data_weights(p, _cfg(data_weight="poisson"))
    assert kappa == 1.0 and w.device == p.device and w.dtype == F64
    t = torch.exp(-p.nan_to_num(nan=math.inf)).clamp_min(TRANSMISSION_FLOOR)
    assert torch.allclose(w, t / t.mean(), rtol=1e-14) and abs(float(w.mean()) - 1) < 1e-14
    assert float(w[0, 3]) == float(w[1, 0]) == pytest.approx(TRANSMISSION_FLOOR / float(t.mean()))
    w5, kappa5 = data_weights(p, _cfg(data_weight="poisson", data_weight_transmission=0.05))
    assert kappa5 == pytest.approx(-math.log(0.05) / 3.0)
    assert float(w5[1, 2] / w5[0, 0]) == pytest.approx(0.05)  # the largest value transmits T
    assert data_weights(p, _cfg()) == (None, 0.0)  # the default: no weights


@pytest.mark.parametrize("tv_grid, geometry", [(1, "parallel"), (2, "parallel"), (1, "fan")])
def test_weighted_operator_adjoint(device, tv_grid, geometry):
    """The operator the weighted gradient and step use, M A^T W A M, is symmetric (dot test), on all views and
    on a cv fold's training views (their own products), on the finer tv_grid and a fan beam too."""
    pr = _problem(device, size=12, geometry=geometry)
    cfg = _cfg(data_weight="poisson", data_weight_transmission=0.05, tv_grid=tv_grid)
    g = unknown_grid(pr, cfg)
    fista = make_fista(g, cfg, lipschitz(g, cfg))
    assert fista.weights is not None and float(fista.weights.std()) > 0.1  # the weights do vary here
    sub = training_fista(g, fista, view_split(pr.sinogram.shape[0], 4, 1)[0], 20)
    gen = torch.Generator().manual_seed(3)
    x, z = (torch.rand(g.shape, generator=gen, dtype=F64).to(device) for _ in range(2))
    for f in (fista, sub):
        normal = lambda v: f._masked(f.backproject(f._weighted(f.project(f._masked(v)))))  # noqa: E731
        lhs, rhs = (normal(x) * z).sum(), (x * normal(z)).sum()
        assert torch.isclose(lhs, rhs, rtol=1e-10), (float(lhs), float(rhs))


def test_weighted_objective_gradient_taylor(device):
    """FISTA's data gradient M A^T W (A y - d) is the derivative of 1/2 (A y - d)^T W (A y - d) along masked
    directions: the first-order remainder falls as h^2."""
    pr = _problem(device)
    cfg = _cfg(data_weight="poisson", data_weight_transmission=0.05)
    fista = make_fista(pr, cfg, lipschitz(pr, cfg))
    gen = torch.Generator().manual_seed(4)
    y = torch.rand(pr.shape, generator=gen, dtype=F64).to(device)
    v = torch.randn(pr.shape, generator=gen, dtype=F64).to(device) * fista.mask
    f = lambda z: 0.5 * (fista.weights * (pr.A.project(z) - pr.sinogram) ** 2).sum()  # noqa: E731
    slope = (fista.data_gradient(y) * v).sum()
    r = [float((f(y + h * v) - f(y) - h * slope).abs()) for h in (1e-2, 5e-3)]
    assert 3.5 < r[0] / r[1] < 4.5, r
    assert fista.objective(y, 0.0) == pytest.approx(float(f(y)), rel=1e-12)


def test_step_from_the_weighted_normal_operator(device):
    """L is ||M A^T W A|| by the power method, not ||M A^T A||: with the weights below 1 on the dense rays and
    their mean 1, the two differ."""
    pr = _problem(device)
    plain, weighted = lipschitz(pr, _cfg()), lipschitz(pr, _cfg(data_weight="poisson",
                                                                 data_weight_transmission=0.05))
    fista = make_fista(pr, _cfg(data_weight="poisson", data_weight_transmission=0.05), weighted)
    ones = torch.ones(pr.shape, dtype=F64, device=device)
    from regrun.optim.fista import power_method

    mask = pr.mask.to(F64)
    ref = power_method(lambda x: mask * pr.A.backproject(fista.weights * pr.A.project(x)), ones, 20)
    assert weighted == pytest.approx(ref, rel=1e-12) and abs(weighted / plain - 1) > 1e-3


def test_none_is_the_plain_least_squares_bit_for_bit(device):
    """data_weight=none: make_fista and lipschitz give the Fista the code built before the setting existed (no
    weights), the same iterates to the last bit, also on the finer tv_grid and in a cv fold's training run."""
    pr = _problem(device)
    for tv_grid in (1, 2):
        cfg = _cfg(tv_grid=tv_grid)
        g = unknown_grid(pr, cfg)
        mask = g.mask.to(F64)
        ones = torch.ones(g.shape, dtype=F64, device=device)
        from regrun.optim.fista import power_method
        from regrun.optim.tv_prox import TVProx

        L_old = power_method(lambda x: mask * g.A.backproject(g.A.project(x)), ones, int(cfg.power_iters))
        assert lipschitz(g, cfg) == L_old
        new = make_fista(g, cfg, L_old)
        old = Fista(g.A, g.A.adjoint, g.sinogram, g.shape, TVProx(str(cfg.prox), 2, cv_steps=str(cfg.cv_steps),
                    sigma=cfg.cv_sigma), int(cfg.inner_iters), mask=mask, lipschitz=L_old, tv_scale=g.tv_scale)
        lam = torch.tensor(0.5, dtype=F64, device=device)
        assert new.weights is None and torch.equal(new.solve(lam, 15), old.solve(lam, 15))
        train = view_split(pr.sinogram.shape[0], 4, 1)[0]
        a, b = training_fista(g, new, train, 20), training_fista(g, old, train, 20)
        assert a.L == b.L and torch.equal(a.solve(lam, 10), b.solve(lam, 10))


def test_auto_runs_its_training_folds_weighted(device):
    """auto (cv): every training run carries the weights of its own views (the training objective is the
    all-view one restricted), and the run records the setting and its kappa."""
    from regrun.monitor import Monitor
    from regrun.solvers.fista_tv import FistaTV
    import regrun.tomography.fista_tv_weight as fw

    pr = _problem(device, size=12, views=8)
    cfg = _cfg(data_weight="poisson", data_weight_transmission=0.05, lam="auto", iters=8, lam_solves=5,
               lam_cv_pixel_grid=False)
    seen = []
    real = fw.training_fista

    def spy(problem, fista, train, power_iters):
        sub = real(problem, fista, train, power_iters)
        seen.append((sub.weights, fista.weights[train.to(fista.weights.device)]))
        return sub

    mp = pytest.MonkeyPatch()
    mp.setattr(fw, "training_fista", spy)
    try:
        ctx = RunContext(device, F64, 0, Path("."))
        res = FistaTV(cfg, ctx).solve(pr, Monitor())
    finally:
        mp.undo()
    assert seen and all(w is not None and torch.equal(w, ref) for w, ref in seen)
    assert res.stats["data_weight"] == "poisson"
    assert res.stats["data_weight_kappa"] == pytest.approx(-math.log(0.05) / float(pr.sinogram.max()))


@pytest.mark.parametrize("bad, said", [("solver.data_weight=poison", "solver.data_weight"),
                                       ("solver.data_weight_transmission=1.5", "solver.data_weight_transmission=1.5")])
def test_bad_settings_are_one_line(bad, said, tmp_path, monkeypatch, capsys):
    run = regrun_in_process(["problem=ct_fewview", "problem.size=16", "problem.views=8", "solver=fista_tv", bad,
                             f"hydra.run.dir={tmp_path}"], tmp_path, monkeypatch, capsys)
    assert run.returncode == 2 and said in run.stderr, run.stderr
    assert len([ln for ln in run.stderr.splitlines() if ln.strip()]) == 1, run.stderr
