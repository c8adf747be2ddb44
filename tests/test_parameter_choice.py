"""Regularization weights from the data alone (regrun.optim.parameter_choice): the noise estimators on known noise,
each rule against its closed form on Tikhonov with an explicit matrix, Hutchinson's divergence by forward-mode AD
against the exact trace, the CT and super-resolution hooks, and the bad inputs."""
import math
from dataclasses import replace
from pathlib import Path

import fake_ct
import numpy as np
import pytest
import torch
from scipy.optimize import brentq, minimize_scalar

from cli_in_process import regrun_in_process
from regrun.config import compose, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.linalg.cg import cg
from regrun.monitor import Monitor
from regrun.optim import parameter_choice as pc
from regrun.record import load

F64 = torch.float64


# --- noise estimators ----------------------------------------------------------------------------------------
def test_image_noise_estimate_on_known_noise(device):
    g = torch.Generator().manual_seed(0)
    c = torch.linspace(0, 1, 48, dtype=F64)
    smooth = 50 * torch.sin(3 * c)[:, None] * torch.cos(2 * c)[None, :] + 20 * (c[:, None] > 0.5)  # an edge too
    sigma = 0.7
    frames = (smooth + sigma * torch.randn(4, 48, 48, generator=g, dtype=F64)).to(device)
    assert pc.noise_std_images(frames) == pytest.approx(sigma, rel=0.05)


def test_image_noise_estimate_on_a_sharp_drawing(device):
    # noiseest: a barcode-like drawing of 3-px modules, edges softened by cell averages: every 6x6 block holds an
    # edge, so the block percentile reads them as noise (3.2x); a 3x3 patch fits inside a module (1.00x)
    g = torch.Generator().manual_seed(5)
    modules = (torch.rand(4, 16, 16, generator=g) > 0.5).to(F64) * 100
    img = modules.repeat_interleave(3, 1).repeat_interleave(3, 2)
    img = 0.25 * (img + img.roll(1, 1) + img.roll(1, 2) + img.roll((1, 1), (1, 2)))
    noise = 0.8 * torch.randn(img.shape, generator=g, dtype=F64)
    frames = (img + noise).to(device)
    assert pc.noise_std_blocks(frames) > 2.5 * float(noise.std())
    assert pc.noise_std_images(frames) == pytest.approx(float(noise.std()), rel=0.05)


def test_sinogram_noise_estimate_is_the_rms_of_level_dependent_noise(device):
    g = torch.Generator().manual_seed(1)
    u = torch.linspace(-1, 1, 200, dtype=F64)
    angles = torch.linspace(0, math.pi, 60, dtype=F64)
    clean = 5 * (1 - u[None, :] ** 2).clamp_min(0) ** 1.5 * (1 + 0.3 * torch.cos(angles)[:, None])
    std = 0.02 * torch.exp(0.4 * clean)  # Poisson-like: more noise where more is absorbed
    noisy = (clean + std * torch.randn(clean.shape, generator=g, dtype=F64)).to(device)
    assert pc.noise_std_sinogram(noisy) == pytest.approx(float(std.pow(2).mean().sqrt()), rel=0.1)


# --- rules against closed forms (Tikhonov, explicit matrix) -----------------------------------------------------
class Tikhonov:
    """x(lam) = (A^T A + lam^2 I)^-1 A^T b with its SVD closed forms for the misfit and tr H."""

    def __init__(self, m=90, n=60, sigma=0.05, seed=0):
        g = torch.Generator().manual_seed(seed)
        u, _ = torch.linalg.qr(torch.randn(m, n, generator=g, dtype=F64))
        v, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=F64))
        s = torch.logspace(0, -3, n, dtype=F64)
        self.A = u @ torch.diag(s) @ v.T
        x = v @ (s.sqrt() * torch.randn(n, generator=g, dtype=F64))
        self.sigma = sigma
        self.b = self.A @ x + sigma * torch.randn(m, generator=g, dtype=F64)
        self.m = m
        self.s = s.numpy()
        ub = u.T @ self.b
        self.beta = ub.numpy()
        self.perp = float(self.b.pow(2).sum() - ub.pow(2).sum())

    def solve(self, data, lam):
        gram = self.A.T @ self.A + lam**2 * torch.eye(self.A.shape[1], dtype=F64)
        return torch.cholesky_solve((self.A.T @ data)[:, None], torch.linalg.cholesky(gram))[:, 0]

    def exact(self, lam):
        filt = self.s**2 / (self.s**2 + lam**2)
        return float(((1 - filt) ** 2 * self.beta**2).sum() + self.perp), float(filt.sum())

    def change(self, lam) -> float:
        """The reconstruction's change per unit log lam, ||2 lam^2 s_i beta_i / (s_i^2 + lam^2)^2||."""
        return float(np.linalg.norm(2 * lam**2 * self.s * self.beta / (self.s**2 + lam**2) ** 2))

    def fit(self, lam, trace=None) -> pc.Fit:
        x = self.solve(self.b, lam)
        rss = float((self.A @ x - self.b).pow(2).sum())
        return pc.Fit(rss=rss, m=self.m, trace=self.exact(lam)[1] if trace is None else trace)


def _settings(rule, solves=40):
    return pc.ChoiceSettings(rule=rule, noise=None, lo=1e-4, hi=1.0, solves=solves, probes=1)


@pytest.mark.parametrize("rule", pc.RULES)
def test_each_rule_finds_its_closed_form_minimiser(rule):
    t = Tikhonov()
    sig2 = t.sigma**2

    def closed(loglam):  # the rule's closed form, from the SVD
        rss, tr = t.exact(math.exp(loglam))
        if rule == "gcv":
            return t.m * rss / (t.m - tr) ** 2
        if rule == "sure":
            return (rss - t.m * sig2 + 2 * sig2 * tr) / t.m
        return rss - t.m * sig2

    if rule == "discrepancy":
        ref = math.exp(brentq(closed, math.log(1e-4), math.log(1.0), xtol=1e-10))
    else:
        grid = np.linspace(math.log(1e-4), 0.0, 400)
        i = int(np.argmin([closed(v) for v in grid]))
        ref = math.exp(minimize_scalar(closed, bracket=(grid[i - 1], grid[i], grid[i + 1]), tol=1e-10).x)
    for lam in (1e-3, 0.03, 0.5):  # the criterion from a solve equals the closed form
        rss, tr = t.exact(lam)
        if rule != "discrepancy":
            assert pc.criterion(rule, t.fit(lam), t.sigma) == pytest.approx(
                pc.criterion(rule, pc.Fit(rss, t.m, tr), t.sigma), rel=1e-8)
    choice = pc.choose(t.fit, _settings(rule), t.sigma, "given")
    assert choice.solves <= 40 and not choice.at_edge  # the grid skips weights below a twice-rising stretch
    assert choice.lam == pytest.approx(ref, rel=0.02)
    coarse = pc.choose(t.fit, _settings(rule, 10), t.sigma, "given")  # the default budget: within a fifth
    assert coarse.solves <= 10 and coarse.lam == pytest.approx(ref, rel=0.2)
    table = choice.table()
    assert np.all(np.diff(table["lam"]) > 0) and set(table) == {"lam", "criterion", "rss", "trace"}


def test_grid_runs_from_the_top_and_skips_the_weights_below_a_rise():
    """The dear small weights are solved only until the rule rises on the way down: a minimum at 0.3 on a
    5-point grid over [1e-3, 3] costs 3 solves (3, 0.41, 0.055), a minimum at 0.05 four; a rule still falling
    toward the low end (the minimum may lie there) gets every weight; a dip at the low end behind a rise is not
    looked for."""
    lams = pc.log_grid(1e-3, 3.0, 5)
    seen = []

    def rule(minimum, dip=None):
        def f(lam):
            seen.append(lam)
            return (math.log(lam) - math.log(minimum)) ** 2 - (100.0 if dip is not None and lam < dip else 0.0)
        return f

    top_down = sorted(lams.tolist(), reverse=True)
    values = pc.grid_from_the_top(rule(0.3), lams)
    assert seen == top_down[:3] and (values[:2] == math.inf).all() and np.isfinite(values[2:]).all()
    seen.clear()
    pc.grid_from_the_top(rule(0.05), lams)
    assert seen == top_down[:4]
    seen.clear()
    assert np.isfinite(pc.grid_from_the_top(rule(1e-4), lams)).all() and len(seen) == 5
    seen.clear()
    values = pc.grid_from_the_top(rule(0.3, dip=2e-3), lams)
    assert len(seen) == 3 and int(np.argmin(values)) == 3
    # choose() then refines inside the best grid point's bracket: the same weight as on the whole grid
    full = pc.log_grid(1e-3, 3.0, 5)
    settings = pc.ChoiceSettings(rule="discrepancy", noise=1.0, lo=1e-3, hi=3.0, solves=10, probes=1)
    choice = pc.choose(lambda lam: pc.Fit(rss=float(lam / 0.3) ** 2 * 100, m=100), settings, 1.0, "given")
    assert choice.solves == 8 and min(choice.curve["lam"]) == pytest.approx(full[2])
    assert choice.lam == pytest.approx(0.3, rel=0.2)  # 5 golden-section steps in a bracket of 1.7 decades


def test_lazy_grid_skips_the_grid_weight_below_the_minimum_when_the_golden_point_rises():
    """lazy (super-resolution's PCG path): the grid weight below the lowest value so far is solved only when
    golden_bracket's lower point above it does not already rise; on a curve with one minimum choose() then
    ends at the same weight as without, the weight below not solved, and golden_refine's first point (solved by
    the scan) is not solved twice."""
    lams = pc.log_grid(1e-3, 3.0, 5)
    settings = pc.ChoiceSettings(rule="discrepancy", noise=1.0, lo=1e-3, hi=3.0, solves=10, probes=1)
    for minimum in (0.45, 0.07, 0.01, 0.3):
        runs = {}
        for lazy in (False, True):
            seen = []

            def fit(lam):
                seen.append(lam)
                return pc.Fit(rss=float(lam / minimum) ** 2 * 100, m=100)

            choice = pc.choose(fit, settings, 1.0, "given", lazy=lazy)
            assert len(seen) == len(set(seen)) == choice.solves  # no weight solved twice
            runs[lazy] = (choice.lam, min(seen))
        assert runs[True][0] == runs[False][0]
        below = lams[np.argmin(abs(np.log(lams / minimum))) - 1]  # the grid weight below the best grid weight
        assert runs[False][1] == pytest.approx(below)
        # 0.3: the golden point between 0.055 and the best grid weight 0.41 is lower still, so 0.055 is solved
        assert runs[True][1] > below * 1.01 if minimum != 0.3 else runs[True][1] == pytest.approx(below)


def test_modified_gcv_charges_the_trace_gamma_times_and_smooths_more():
    """gamma = 1 is GCV; gamma > 1 the modified GCV m ||r||^2 / (m - gamma tr H)^2, infinite once gamma tr H
    reaches m, and its minimiser is a larger weight than GCV's (it counts each degree of freedom more)."""
    t = Tikhonov()
    for lam in (1e-3, 0.03, 0.5):
        rss, tr = t.exact(lam)
        fit = pc.Fit(rss, t.m, tr)
        assert pc.criterion("gcv", fit, 1.0, gamma=1.0) == pc.criterion("gcv", fit, 1.0)
        assert pc.criterion("gcv", fit, 1.0, gamma=1.4) == pytest.approx(t.m * rss / (t.m - 1.4 * tr) ** 2,
                                                                            rel=1e-12)
    assert pc.criterion("gcv", pc.Fit(1.0, 10, 8.0), 1.0, gamma=1.4) > 1e20  # 1.4 * 8 > 10
    plain = pc.choose(t.fit, _settings("gcv"), t.sigma, "given")
    modified = pc.choose(t.fit, replace(_settings("gcv"), gamma=1.4), t.sigma, "given")
    assert modified.lam > 1.05 * plain.lam


def test_quasi_optimality_goes_up_from_the_rules_minimum_to_its_own_first_minimum():
    """choose(change=...): the rule's minimum, then up by QO_STEP while ||lam dx/dlam|| falls; its closed form on
    Tikhonov (x = sum_i s_i beta_i / (s_i^2 + lam^2) v_i, so ||lam dx/dlam|| = ||2 lam^2 s_i beta_i /
    (s_i^2 + lam^2)^2||) and, checked against it, the weight lands within one step of the criterion's first
    minimum above the rule's; every weight visited is in the curve with the rule's value and its change."""
    t = Tikhonov()

    change = t.change

    def fit(lam):
        f = t.fit(lam)
        f.change = change(lam)
        return f

    plain = pc.choose(t.fit, _settings("gcv", 10), t.sigma, "given")
    moved = pc.choose(fit, _settings("gcv", 10), t.sigma, "given", change=change)
    assert moved.details["lam_rule_minimum"] == f"{plain.lam:.6g}" and moved.lam >= plain.lam
    up = plain.lam * pc.QO_STEP ** np.arange(40)
    up = up[up <= 1.0]
    values = np.array([change(x) for x in up])
    first = int(np.argmax(values[1:] >= values[:-1])) if (values[1:] >= values[:-1]).any() else len(up) - 1
    assert moved.lam == pytest.approx(up[first], rel=1e-9)
    t_ = moved.table()
    assert set(t_) == {"lam", "criterion", "rss", "trace", "change"} and moved.solves == plain.solves + first + 1
    assert np.isfinite(t_["change"][t_["lam"] >= plain.lam * 0.999]).all()
    # without change: the rule's own minimum, the curve as before
    assert set(plain.table()) == {"lam", "criterion", "rss", "trace"} and "lam_rule_minimum" not in plain.details


def test_the_climb_solves_images_only_and_the_rule_at_the_chosen_weight():
    """choose(image=...): the climb's weights are solved without the rule's inputs (image(lam)), the rule is
    evaluated at the search's weights and at the chosen one only, and the choice and the rule's value there are
    those of the climb with the rule at every weight (NaN in the curve at the weights passed over)."""
    t = Tikhonov()

    change = t.change

    ruled, imaged = [], []

    def fit(lam):
        ruled.append(lam)
        return t.fit(lam)

    def image(lam):
        imaged.append(lam)
        return t.fit(lam, trace=math.nan)

    every = pc.choose(t.fit, _settings("gcv", 10), t.sigma, "given", change=change)
    cut = pc.choose(fit, _settings("gcv", 10), t.sigma, "given", change=change, image=image)
    start = float(every.details["lam_rule_minimum"])
    assert cut.lam == every.lam > start and cut.solves == every.solves
    assert imaged == pytest.approx([start * pc.QO_STEP**k for k in range(1, len(imaged) + 1)], rel=1e-5)  # climb
    assert len(imaged) >= 2 and cut.lam in imaged
    assert ruled[-1] == cut.lam and not set(ruled[:-1]) & set(imaged)  # the rule: the search, then the choice
    a, b = every.table(), cut.table()
    np.testing.assert_array_equal(a["lam"], b["lam"])
    on = b["lam"] == cut.lam
    assert b["criterion"][on] == pytest.approx(a["criterion"][on], rel=1e-12)
    passed = np.isin(b["lam"], imaged) & ~on
    assert passed.any() and np.isnan(b["criterion"][passed]).all()
    assert np.isfinite(np.delete(b["criterion"], np.flatnonzero(passed))).all()


def test_the_marginal_likelihood_is_a_floor_under_the_rules_weight():
    """marginal_floor: where the rule's minimum lies below the generalized maximum likelihood's (here GCV with tr H
    taken as 0: m rss / m^2 rises with lam, its minimum the range's lower edge), the weight is the latter's, whose
    closed form on Tikhonov (R = I, no null space) is log b^T (I - H) b - sum_i log(lam^2 / (s_i^2 + lam^2)) / m;
    recorded in the details, not flagged at the edge; the climb (change) starts there. A rule whose minimum lies
    above it keeps its own; a fit without a log-determinant (a solver with no factor) keeps the rule's."""
    t = Tikhonov()

    def energy_logdet(lam):
        shrink = lam**2 / (t.s**2 + lam**2)
        return float((shrink * t.beta**2).sum() + t.perp), float(np.log(shrink).sum())

    def fit(lam, logdet=True):
        f = t.fit(lam, trace=0.0)
        if logdet:
            x = t.solve(t.b, lam)
            f.energy = f.rss + lam**2 * float(x @ x)
            f.logdet = energy_logdet(lam)[1]
        return f

    for lam in (1e-3, 0.03, 0.5):  # the Fit's energy is b^T (I - H) b
        assert fit(lam).energy == pytest.approx(energy_logdet(lam)[0], rel=1e-8)

    def closed(loglam):
        e, ld = energy_logdet(math.exp(loglam))
        return math.log(e) - ld / t.m

    grid = np.linspace(math.log(1e-4), 0.0, 400)
    i = int(np.argmin([closed(v) for v in grid]))
    assert 0 < i < len(grid) - 1  # an interior minimum
    ref = math.exp(minimize_scalar(closed, bracket=(grid[i - 1], grid[i], grid[i + 1]), tol=1e-10).x)
    for x in (1e-3, 0.03):
        assert pc.criterion(pc.FLOOR_RULE, fit(x), math.nan) == pytest.approx(closed(math.log(x)), rel=1e-9)
    choice = pc.choose(fit, _settings("gcv", 40), t.sigma, "given")
    assert choice.lam == pytest.approx(ref, rel=0.02) and not choice.at_edge
    assert choice.details == {"lam_rule_below_floor": "0.0001", "lam_floor_rule": "gml"}
    climbed = pc.choose(fit, _settings("gcv", 40), t.sigma, "given", change=lambda x: 1.0 / x)
    assert climbed.lam > choice.lam and climbed.details["lam_rule_minimum"] == f"{choice.lam:.6g}"
    # climb_below_noise: no climb where the fit at the rule's minimum is already at the noise's level (GCV ignores
    # sigma: the same start); here without the floor (no log-determinant), the minimum the range's lower edge
    def nofloor(x):
        return fit(x, logdet=False)

    up = pc.choose(nofloor, _settings("gcv", 40), t.sigma, "given", change=lambda x: 1.0 / x)
    assert up.lam > 1e-4 and "lam_rule_below_floor" not in up.details
    for sigma, lam in ((1e-6, pytest.approx(1e-4)), (1e6, up.lam)):
        gated = pc.choose(nofloor, _settings("gcv", 40), sigma, "given", change=lambda x: 1.0 / x,
                          climb_below_noise=True)
        assert gated.lam == lam and ("lam_climb_skipped" in gated.details) == (sigma < 1)
    # the gate's margin (CLIMB_SKIP_RATIO = 2): a fit at 1.5x the noise's level still climbs
    start = nofloor(1e-4)
    sigma = math.sqrt(start.rss / ((start.m - start.trace) * 1.5))
    margin = pc.choose(nofloor, _settings("gcv", 40), sigma, "given", change=lambda x: 1.0 / x, climb_below_noise=True)
    assert margin.lam == up.lam and "lam_climb_skipped" not in margin.details
    # climb_sigma: the gate's own level (superres: the block percentile), not the rule's sigma
    other = pc.choose(nofloor, _settings("gcv", 40), 1e-6, "given", change=lambda x: 1.0 / x, climb_below_noise=True,
                      climb_sigma=sigma)
    assert other.lam == up.lam and other.sigma == 1e-6
    # where the floor binds (the rule's minimum fell below it) the gate does not act: the climb from the floor runs
    # at any misfit (bartarget 64^2/16 0.5%: skipped at 43x the noise's level, -7.7 dB; docs/superres.md, "srbar")
    floored = pc.choose(fit, _settings("gcv", 40), 1e-6, "given", change=lambda x: 1.0 / x, climb_below_noise=True)
    assert floored.lam == climbed.lam and "lam_climb_skipped" not in floored.details
    floor_only = pc.choose(fit, _settings("gcv", 40), t.sigma, "given", floor_change=lambda x: 1.0 / x)
    assert floor_only.lam == climbed.lam  # the floor's own climb, where the rule's is off
    plain = pc.choose(lambda x: fit(x, logdet=False), _settings("gcv", 40), t.sigma, "given")
    assert plain.lam == pytest.approx(1e-4) and plain.at_edge and plain.details == {}
    above = pc.choose(fit, _settings("discrepancy", 40), 100 * t.sigma, "given")  # its minimum: the range's top
    assert above.lam == pytest.approx(1.0) and above.details == {}
    assert pc.choose(fit, _settings("discrepancy", 40), 100 * t.sigma, "given", floor_change=lambda x: 1.0 / x).lam \
        == above.lam  # no floor, no floor climb


def test_quasi_optimality_stops_at_the_range_top():
    seen = []

    def f(lam):
        seen.append(lam)
        return 0.0

    lam = pc.quasi_optimal_above(lambda x: 1.0 / x, f, 0.5, 1.5)  # falls all the way: the last step under hi
    assert lam == pytest.approx(0.5 * pc.QO_STEP**3) and lam * pc.QO_STEP > 1.5
    assert seen == pytest.approx([0.5 * pc.QO_STEP**k for k in (1, 2, 3)])


# --- Hutchinson's divergence -------------------------------------------------------------------------------------
def test_hutchinson_by_jvp_matches_the_exact_trace():
    t = Tikhonov(m=60, n=40)
    lam = 0.02
    predict = lambda d: t.A @ t.solve(d, lam)  # noqa: E731
    probes = pc.rademacher(3000, (t.m,), torch.Generator().manual_seed(0), F64, "cpu")
    est = pc.hutchinson(lambda z: torch.func.jvp(predict, (t.b,), (z,))[1], probes)
    assert est == pytest.approx(t.exact(lam)[1], rel=0.03)


def test_linear_dual_pushes_a_tangent_through_an_iterative_solve():
    import torch.autograd.forward_ad as fwad

    t = Tikhonov(m=50, n=30)
    lam = 0.1
    g = torch.Generator().manual_seed(2)
    z = torch.randn(t.m, generator=g, dtype=F64)
    apply_a = pc.linear_dual(lambda x: t.A @ x)
    apply_at = pc.linear_dual(lambda y: t.A.T @ y)
    with fwad.dual_level():
        data = fwad.make_dual(t.b, z)
        x = cg(lambda v: apply_at(apply_a(v)) + lam**2 * v, apply_at(data), iters=60, rtol=0.0).x
        tangent = fwad.unpack_dual(x).tangent
    assert torch.allclose(tangent, t.solve(z, lam), rtol=1e-8, atol=1e-10)


class FakeCT(fake_ct.FakeCT):
    def __init__(self, device, n=12, rows=90):
        super().__init__(device, n, rows, inner=False)


def test_fista_divergence_fd_and_jvp_agree(device):
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight

    p = FakeCT(device, n=8, rows=40)
    cfg = config_section("solver", "fista_tv", iters=15)
    out = {}
    for div in ("fd", "jvp"):
        s = pc.ChoiceSettings(rule="gcv", noise=0.05, lo=0.01, hi=1.0, solves=3, probes=1)
        out[div] = choose_fista_weight(p, make_fista(p, cfg, None), 15, s, div, torch.Generator().manual_seed(0))
    assert np.allclose(out["fd"].curve["trace"], out["jvp"].curve["trace"], rtol=2e-3)
    assert np.all(out["fd"].curve["trace"] > 0)


@pytest.mark.parametrize("rule,solves,runs", [("cv", 6, 6), ("sure", 5, 10)])
def test_fista_tv_auto_records_the_choice(device, rule, solves, runs):
    from regrun.solvers.fista_tv import FistaTV

    cfg = config_section("solver", "fista_tv", lam="auto", iters=30, lam_solves=5, lam_range=[0.01, 1.0],
                         lam_rule=rule, lam_cv_reference="raw")  # a dense A: no geometry to calibrate kernels on
    res = FistaTV(cfg, RunContext(device, F64, 0, Path("."))).solve(FakeCT(device), Monitor())
    scale = cfg.lam_cv_scale if rule == "cv" else 1  # cv answers its best weight times lam_cv_scale
    assert 0.01 * scale <= res.metrics["lam_chosen"] <= 1.0 * scale and res.metrics["lam_solves"] == solves
    assert res.metrics["lam_fista_runs"] == runs
    assert res.stats["lam_rule"] == rule and res.metrics["noise_sigma"] > 0
    assert len(res.tables["lam_curve"]["lam"]) == 5 and res.solution["x"].device.type == device.type


def test_cv_is_the_default_ct_rule():
    assert compose(["problem=ct_fewview", "solver=fista_tv", "problem.data=file"]).solver.lam_rule == "cv"


def test_view_split_holds_out_every_fold_th_view_between_training_views():
    from regrun.tomography.fista_tv_weight import view_split

    train, held = view_split(10, 4)
    assert held.tolist() == [2, 6] and sorted(train.tolist() + held.tolist()) == list(range(10))
    for fold, views in ((1, 10), (5, 4)):
        with pytest.raises(UserError, match="lam_cv_fold"):
            view_split(views, fold)


def test_view_cv_scores_the_held_out_views_and_answers_with_all_of_them(device):
    """cv's curve is the held-out views' mean squared misfit of a reconstruction from the training views alone
    (recomputed here with the training rows as a dense matrix of their own), the weights are in all-view units,
    and the answer is the fixed-weight run on all the data at the chosen weight; on this problem its pick beats
    both ends of the range against the truth."""
    from regrun.optim.fista import Fista
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight, view_split

    p = FakeCT(device, n=10, rows=60)
    cfg = config_section("solver", "fista_tv", iters=40)
    fista = make_fista(p, cfg, None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=1e-4, hi=100.0, solves=9, probes=1)
    choice = choose_fista_weight(p, fista, 40, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0, power_iters=40,
                                 cv_reference="raw", cv_weight="none")
    assert choice.rule == "cv" and choice.solves == 10 and not choice.at_edge
    train, held = (i.to(device) for i in view_split(60, 4))
    a = p.A.a
    own = fake_ct.DenseA(a[train], p.shape)
    sub = Fista(own.project, own.backproject, p.sinogram[train], p.shape, fista.prox, fista.inner_iters,
                mask=fista.mask, power_iters=200)
    lam = float(choice.curve["lam"][2])
    x = sub.solve(torch.tensor(lam * 45 / 60, dtype=F64, device=device), 40)
    held_err = float((a[held] @ x.reshape(-1) - p.sinogram[held]).pow(2).mean())
    assert choice.curve["criterion"][2] == pytest.approx(held_err, rel=1e-3)  # 1/L by 20 vs 200 power steps
    x_all = fista.solve(torch.tensor(choice.lam, dtype=F64, device=device), 40)
    assert torch.equal(choice.state, x_all)
    loss = lambda x: float(((x - p.truth) * fista.mask).pow(2).sum())  # noqa: E731
    ends = [fista.solve(torch.tensor(v, dtype=F64, device=device), 40) for v in (s.lo, s.hi)]
    assert loss(choice.state) < 0.5 * min(loss(e) for e in ends)


def test_cv_offsets_spread_from_the_interior_fold_and_split_at_an_offset():
    from regrun.tomography.fista_tv_weight import cv_offsets, view_split

    assert cv_offsets(8, 1) == [4] and cv_offsets(8, 2) == [0, 4] and cv_offsets(8, 4) == [0, 2, 4, 6]
    assert cv_offsets(5, 5) == [0, 1, 2, 3, 4]
    with pytest.raises(UserError, match="lam_cv_offsets=9"):
        cv_offsets(8, 9)
    train, held = view_split(15, 8, 0)
    assert held.tolist() == [0, 8] and sorted(train.tolist() + held.tolist()) == list(range(15))
    assert view_split(15, 8, 7)[1].tolist() == [7]


def test_view_cv_first_grid_has_lam_cv_grid_weights(device):
    """lam_cv_grid = 5 of 9 weights: the first five weights tried are the log grid over lam_range (in all-view
    units), then four golden-section steps inside the best grid point's bracket."""
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    p = FakeCT(device, n=8, rows=24)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=10), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=1e-2, hi=100.0, solves=9, probes=1)
    c = choose_by_view_cv(p, fista, 10, s, 8, 20, 1.0, "raw", "none", grid=5)
    lam = c.curve["lam"]
    assert len(lam) == 9 and c.solves == 10 and np.allclose(lam[:5], log_grid(1e-2, 100.0, 5), rtol=1e-12)
    i = int(np.argmin(c.curve["criterion"][:5]))
    lo, hi = lam[max(i - 1, 0)], lam[min(i + 1, 4)]
    assert np.all((lam[5:] > lo) & (lam[5:] < hi))


def test_few_view_scans_pool_offsets_at_the_full_weight_count(device):
    """solver.lam_cv_few_views: on a scan of at most that many views, lam_cv_few_offsets offsets of the fold are
    pooled, each trying every weight the single offset would (the runs times the offsets), and the search is the
    plain lam_cv_offsets search with that many offsets and solves; on more views it is the default's, unchanged."""
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv, choose_fista_weight

    p = FakeCT(device, n=8, rows=15)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=10), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=1e-2, hi=100.0, solves=6, probes=1)

    def auto(few):
        return choose_fista_weight(p, fista, 10, s, "fd", torch.Generator(), cv_fold=8, cv_scale=1.0,
                                   power_iters=20, cv_reference="raw", cv_weight="none", cv_grid=4,
                                   cv_few_views=few, cv_few_offsets=4)

    pooled, above = auto(15), auto(14)
    assert pooled.details["lam_cv_offsets"] == "4" and len(pooled.curve["lam"]) == 6 and pooled.solves == 6 * 4 + 1
    direct = choose_by_view_cv(p, fista, 10, replace(s, solves=24), 8, 20, 1.0, "raw", "none", offsets=4, grid=4)
    assert pooled.lam == direct.lam and np.array_equal(pooled.curve["criterion"], direct.curve["criterion"])
    plain = choose_by_view_cv(p, fista, 10, s, 8, 20, 1.0, "raw", "none", grid=4)
    assert above.details["lam_cv_offsets"] == "1" and above.solves == 7 and above.lam == plain.lam
    assert not np.array_equal(pooled.curve["criterion"], plain.curve["criterion"])


def test_view_cv_pools_the_misfit_of_every_offset(device):
    """With two offsets each weight's criterion is the misfit summed over both folds' held-out views divided by
    their number (the folds recomputed one at a time with one offset each, at the same all-view weights), and
    each weight costs one run per offset."""
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    p = FakeCT(device, n=10, rows=30)
    cfg = config_section("solver", "fista_tv", iters=30)
    fista = make_fista(p, cfg, None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=1e-3, hi=10.0, solves=8, probes=1)
    two = choose_by_view_cv(p, fista, 30, s, 8, 40, 1.0, "raw", "none", offsets=2)
    assert two.solves == 4 * 2 + 1 and len(two.curve["lam"]) == 4 and two.details["lam_cv_offsets"] == "2"
    from regrun.tomography.fista_tv_weight import (
        held_out_misfit,
        training_fista,
        view_split,
    )

    s1 = pc.ChoiceSettings(rule="cv", noise=None, lo=1e-3, hi=10.0, solves=4, probes=1)
    one = {4: choose_by_view_cv(p, fista, 30, s1, 8, 40, 1.0, "raw", "none", offsets=1).curve}  # offset 4 alone
    train, h0 = view_split(30, 8, 0)  # offset 0 alone, by hand: views 0, 8, 16, 24
    sub = training_fista(p, fista, train, 40)
    lams = two.curve["lam"][:4]
    err0 = []
    for lam in lams:
        x = sub.solve(torch.tensor(float(lam) * len(train) / 30, dtype=F64, device=device), 30)
        err0.append(held_out_misfit(p.A.project(x)[h0.to(device)] - p.sinogram[h0.to(device)], "none"))
    held = {0: 4, 4: 4}  # held-out views per offset (4, 12, 20, 28 for offset 4)
    assert np.allclose(one[4]["lam"], lams, rtol=1e-12)
    pooled = (np.array(err0) * held[0] + one[4]["criterion"] * held[4]) / (held[0] + held[4])
    assert np.allclose(two.curve["criterion"][:4], pooled, rtol=1e-10)


def test_view_cv_guard_consults_another_offset_only_when_the_grid_is_lowest_at_the_range_end():
    """view_cv_search's guard: a criterion whose grid is best at lam_range's low end hands the remaining runs to
    the other offset at the grid's lowest weights; its interior minimum wins (the parabola's vertex there), a
    minimum at the same end keeps the low end, and an interior grid minimum never calls it (the search as
    without the guard)."""
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv_weight import view_cv_search

    calls = []

    def other(shape):
        def g(lam):
            calls.append(lam)
            return shape(math.log10(lam))
        return g

    rising = lambda lam: 1.0 + 0.01 * math.log10(lam / 1e-2)  # noqa: E731  lowest at the range's low end
    grid = log_grid(1e-2, 100.0, 5)
    lam, values = view_cv_search(rising, 1e-2, 100.0, 9, 5, other(lambda t: (t - 0.2) ** 2), second_runs=4)
    assert np.allclose(calls, grid[:4], rtol=1e-12) and 0.1 < lam < 10 and int(np.argmin(values)) == 0
    calls.clear()
    lam, _ = view_cv_search(rising, 1e-2, 100.0, 9, 5, other(lambda t: t), second_runs=4)
    assert lam == pytest.approx(1e-2) and len(calls) == 4
    calls.clear()
    bowl = lambda lam: (math.log10(lam) - 0.3) ** 2  # noqa: E731
    with_guard, _ = view_cv_search(bowl, 1e-2, 100.0, 9, 5, other(lambda t: t), second_runs=4)
    without, _ = view_cv_search(bowl, 1e-2, 100.0, 9, 5)
    assert not calls and with_guard == without and with_guard == pytest.approx(10**0.3, rel=0.05)


def test_view_cv_guard_is_recorded_and_costs_no_more_runs(device):
    """lam_cv_guard on a case whose grid is lowest at the range's end: 9 + 1 runs all the same, the other
    offset's misfit in /stats; off or not needed, the search is the one without it."""
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    p = FakeCT(device, n=8, rows=24)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=10), None)
    # [1e-2, 100]: this case's held-out misfit is lowest at 1e-2; [1e-6, 1e-2]: lowest inside
    edge, inside = (pc.ChoiceSettings(rule="cv", noise=None, lo=lo, hi=hi, solves=9, probes=1)
                    for lo, hi in ((1e-2, 100.0), (1e-6, 1e-2)))
    off = choose_by_view_cv(p, fista, 10, edge, 8, 20, 1.0, "raw", "none", grid=5, guard=False)
    on = choose_by_view_cv(p, fista, 10, edge, 8, 20, 1.0, "raw", "none", grid=5, guard=True)
    assert int(np.argmin(off.curve["criterion"][:5])) == 0
    assert on.solves == off.solves == 10 and on.details["lam_cv_guard"].startswith("offset 0: 0.01: ")
    assert len(on.curve["lam"]) == 5  # the curve: the default offset's grid; the guard's four runs in /stats
    assert np.allclose(on.curve["criterion"], off.curve["criterion"][:5], rtol=1e-12)
    assert on.at_edge == (on.lam == pytest.approx(1e-2))  # still at the range's end only if the guard kept it
    off = choose_by_view_cv(p, fista, 10, inside, 8, 20, 1.0, "raw", "none", grid=5, guard=False)
    on = choose_by_view_cv(p, fista, 10, inside, 8, 20, 1.0, "raw", "none", grid=5, guard=True)
    assert on.details["lam_cv_guard"] == "not needed" and on.lam == off.lam and "lam_cv_guard" not in off.details


def test_ramp_weighted_held_out_misfit(device):
    """cv's `ramp` misfit: white noise keeps its variance (the weights' mean is 1), a residual alternating in sign
    along the detector (Nyquist) counts about twice, a smooth one far less; on a 3-D sinogram the weight runs
    along u alone; `none` is the plain mean square."""
    from regrun.tomography.fista_tv_weight import held_out_misfit

    g = torch.Generator().manual_seed(0)
    noise = torch.randn(40, 256, generator=g, dtype=F64).to(device)
    assert held_out_misfit(noise, "ramp") == pytest.approx(float(noise.pow(2).mean()), rel=0.02)
    assert held_out_misfit(noise, "none") == float(noise.pow(2).mean())
    u = torch.arange(256, dtype=F64, device=device)
    nyquist = (-1.0) ** u * torch.ones(3, 1, dtype=F64, device=device)
    assert held_out_misfit(nyquist, "ramp") == pytest.approx(2.0, rel=0.05)
    smooth = torch.exp(-(((u - 128) / 30) ** 2)) * torch.ones(3, 1, dtype=F64, device=device)
    assert held_out_misfit(smooth, "ramp") < 0.1 * held_out_misfit(smooth, "none")
    stack = nyquist[:, :, None] * torch.ones(1, 1, 5, dtype=F64, device=device)  # (views, n_u, n_v)
    assert held_out_misfit(stack, "ramp") == pytest.approx(held_out_misfit(nyquist, "ramp"), rel=1e-12)
    with pytest.raises(UserError, match="solver.lam_cv_weight"):
        held_out_misfit(noise, "hann")


def test_the_runs_time_limit_ends_the_search_with_the_best_weight_so_far():
    """choose(stop=...): once stop() says the run is out of time, no new weight is solved; the choice is the lowest
    rule value among those solved (not a climbed weight's NaN), flagged in the details. Without the stop, the same
    search runs on (test_the_climb_solves_images_only_and_the_rule_at_the_chosen_weight)."""
    t = Tikhonov()

    change = t.change

    every = pc.choose(t.fit, _settings("gcv", 10), t.sigma, "given", change=change)
    for allowed in (1, 3, every.solves - 1):  # in the grid, and (the last) in the climb
        solved = []  # every weight solved: the search's (fit) and the climb's (image)

        def fit(lam):
            solved.append(lam)
            return t.fit(lam)

        def image(lam):
            solved.append(lam)
            return t.fit(lam, trace=math.nan)

        cut = pc.choose(fit, _settings("gcv", 10), t.sigma, "given", change=change, image=image,
                        stop=lambda: len(solved) >= allowed)
        assert cut.solves == allowed < every.solves and "lam_search_stopped" in cut.details
        finite = np.isfinite(cut.curve["criterion"])
        assert cut.lam == cut.curve["lam"][finite][np.argmin(cut.curve["criterion"][finite])]
        assert not cut.at_edge and "change" not in cut.curve
    never = pc.choose(t.fit, _settings("gcv", 10), t.sigma, "given", change=change, stop=lambda: False)
    assert never.lam == every.lam and never.solves == every.solves and "lam_search_stopped" not in never.details


def test_a_superres_run_past_its_time_limit_does_not_search_on(tmp_path):
    """userpass3: `time_limit=5` on lambda_f=auto completed after 131 s, the weight search not asking the limit.
    Now the search stops after its first weight once the limit has passed, and the run says the limit stopped it."""
    from regrun.run import run

    base = ["problem=superres", "solver=varpro_cg", "problem.lambda_f=auto", "problem.size=16", "problem.n_frames=4",
            "figures=false"]
    free = run(compose(base), tmp_path / "free")
    cut = run(compose(base + ["time_limit=1e-9"]), tmp_path / "cut")
    assert free.status == cut.status == "completed", (free.error, cut.error)
    assert free.metrics["lam_solves"] > 2
    assert cut.metrics["lam_solves"] <= 2  # the first search's one weight, the search again's one at its end
    assert cut.stopped.startswith("the solver stopped: time_limit=1e-09 s reached")
    cut_file, free_file = load(tmp_path / "cut"), load(tmp_path / "free")
    assert cut_file["stats"]["lam_search_stopped"] == "time limit, after 1 weight"
    assert "search cut short by time_limit" in cut_file["attrs"]["message"]
    assert "cut short" not in free_file["attrs"]["message"]


def test_superres_auto_sets_the_weight(device):
    from regrun.problems.superres import SuperRes
    from regrun.solvers.two_stage import TwoStage

    ctx = RunContext(device, F64, 0, Path("."))
    cfg = config_section("problem", "superres", size=12, n_frames=3, noise=0.02, lambda_f="auto", lam_solves=4,
                         final_cg_iters=100)
    p = SuperRes(cfg, ctx)
    res = TwoStage(config_section("solver", "two_stage"), ctx).solve(p, Monitor())
    assert res.metrics["lam_chosen"] == p.model.lam and res.metrics["lam_solves"] == 4
    assert "lambda_f: lam=" in res.message and res.stats["noise_source"].startswith("estimated")
    assert res.stats["lam_gcv_gamma"] == "1.2" == f"{p.weight_settings.gamma:g}"  # the YAML default, recorded


# --- defaults and bad input ------------------------------------------------------------------------------------
def test_auto_is_the_default_for_users_data_only():
    assert compose(["problem=superres"]).problem.lambda_f == 0.01
    assert compose(["problem=superres", "problem.data=frames", "problem.frames=x"]).problem.lambda_f == "auto"
    assert compose(["problem=ct_fewview", "solver=fista_tv"]).solver.lam == 1.0
    assert compose(["problem=ct_fewview", "solver=fista_tv", "problem.data=file"]).solver.lam == "auto"


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "x"])
def test_bad_noise_levels(value):
    with pytest.raises(UserError, match="lam_noise"):
        pc.check_noise("solver.lam_noise", value)


def test_bad_rule_range_and_weight():
    with pytest.raises(UserError, match="discrepancy, gcv, sure|allowed"):
        pc.check_rule("solver.lam_rule", "lcurve")
    for bad in ([1.0, 1.0], [2.0, 1.0], [0.0, 1.0], [1.0, float("inf")]):
        with pytest.raises(UserError, match="empty or invalid range"):
            pc.check_range("solver.lam_range", bad)
    with pytest.raises(UserError, match="'auto'"):
        pc.check_weight("solver.lam", "aut")
    assert pc.check_weight("solver.lam", "auto") is None and pc.check_weight("solver.lam", 2) == 2.0


@pytest.mark.parametrize("section,name,overrides,message", [
    ("solver", "fista_tv", {"lam": "auto", "lam_noise": 0}, "solver.lam_noise=0"),
    ("solver", "fista_tv", {"lam_rule": "lcurve"}, "solver.lam_rule"),
    ("solver", "fista_tv", {"lam_divergence": "exact"}, "solver.lam_divergence"),
    ("solver", "fista_tv", {"lam_cv_fold": 1}, "solver.lam_cv_fold"),
    ("solver", "fista_tv", {"lam_cv_scale": 0}, "solver.lam_cv_scale"),
    ("solver", "fista_tv", {"lam_cv_weight": "hann"}, "solver.lam_cv_weight"),
    ("solver", "fista_tv", {"lam_cv_offsets": 0}, "solver.lam_cv_offsets=0"),
    ("solver", "fista_tv", {"lam_cv_offsets": 9}, "solver.lam_cv_offsets=9"),
    ("solver", "fista_tv", {"lam_cv_grid": 2}, "solver.lam_cv_grid=2"),
    ("solver", "fista_tv", {"lam_cv_few_views": 0}, "solver.lam_cv_few_views=0"),
    ("solver", "fista_tv", {"lam_cv_few_offsets": 0}, "solver.lam_cv_few_offsets=0"),
    ("solver", "fista_tv", {"lam_cv_guard": "maybe"}, "solver.lam_cv_guard='maybe'"),
    ("solver", "fista_tv", {"lam_cv_layout": "random"}, "solver.lam_cv_layout"),
    ("solver", "fista_tv", {"lam_cv_blocks": 0}, "solver.lam_cv_blocks"),
    ("solver", "fista_tv", {"lam_cv_weighting": 0}, "solver.lam_cv_weighting=0"),
    ("solver", "fista_tv", {"lam": "often"}, "solver.lam='often'"),
    ("problem", "superres", {"lambda_f": "auto", "lam_noise": float("inf")}, "problem.lam_noise=inf"),
    ("problem", "superres", {"lam_range": [1.0, 0.1]}, "empty or invalid range"),
    ("problem", "superres", {"lam_gcv_gamma": 0.5}, "problem.lam_gcv_gamma=0.5"),
    ("problem", "superres", {"lam_gcv_gamma": float("nan")}, "problem.lam_gcv_gamma=nan"),
    ("problem", "superres", {"lam_cg_rtol": 0.1}, "problem.lam_cg_rtol=0.1"),
    ("problem", "superres", {"lam_quasi_optimal_below_noise": "yes"}, "problem.lam_quasi_optimal_below_noise"),
    ("problem", "superres", {"lam_quasi_optimal_small": "yes"}, "problem.lam_quasi_optimal_small"),
    ("problem", "superres", {"lam_rechoose_after_floor_climb": "yes"}, "problem.lam_rechoose_after_floor_climb"),
])
def test_bad_weight_settings_are_rejected_before_any_solve(section, name, overrides, message):
    from regrun.problems.superres import SuperRes
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(torch.device("cpu"), F64, 0, Path("."))
    cls = FistaTV if name == "fista_tv" else SuperRes
    extra = {} if name == "fista_tv" else {"size": 8, "n_frames": 2}
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        cls(config_section(section, name, **extra, **overrides), ctx)


@pytest.mark.parametrize("args,message", [
    (["problem=ct_fewview", "solver=fista_tv", "solver.lam=auto", "solver.lam_noise=-1", "problem.size=16",
      "problem.views=4"], "solver.lam_noise=-1"),
    (["problem=superres", "problem.lam_range=[1,1]", "problem.size=8", "problem.n_frames=2"], "empty or invalid range"),
])
def test_bad_weight_settings_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    # in this process: the real command's start-up is tested once in tests/test_bad_inputs.py
    proc = regrun_in_process([*args, "progress=false", "figures=false"], tmp_path, monkeypatch, capsys)
    assert proc.returncode == 2, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith("regrun: error: ") and message in first and "Traceback" not in proc.stderr
    results = list((tmp_path / "outputs").glob("*/*/results.h5"))
    assert results and all(load(path)["attrs"]["status"] == "failed" for path in results)


def test_parabola_min_finds_the_vertex_between_unevenly_spaced_weights_and_keeps_ends():
    from regrun.optim.scalar_search import parabola_min

    lams = np.array([9.0, 0.1, 1.3, 0.5, 4.0])  # any order, uneven in log lam
    assert parabola_min(lams, (np.log(lams) - math.log(2.0)) ** 2 + 3) == pytest.approx(2.0)
    assert parabola_min(lams, np.log(lams)) == pytest.approx(0.1)  # the best at an end: itself
    # the vertex of the best three is clipped to the best point's neighbours
    assert 0.5 <= parabola_min(lams, np.array([5.0, 4.0, 1.0, 0.0, 3.0])) <= 1.3


def test_the_floor_is_found_between_the_first_two_grid_weights():
    """marginal_floor where the rule's grid minimum is the range's lowest weight (srclock): the generalized maximum
    likelihood's minimum lies between the first two grid weights and higher at the second than at the first, so the
    two grid weights alone put the parabola's best point at the range's end (the rule's weight, -12.53 dB on clock
    s7321 with the level off); the rule's golden steps there, already solved, show the floor. Where the floor's
    minimum is found by the grid (a lower bottom), the choice is as before."""
    t = Tikhonov()

    def fit(lam):
        f = t.fit(lam, trace=0.0)  # GCV with tr H taken as 0: its minimum the range's lower edge
        x = t.solve(t.b, lam)
        shrink = lam**2 / (t.s**2 + lam**2)
        f.energy, f.logdet = f.rss + lam**2 * float(x @ x), float(np.log(shrink).sum())
        return f

    floor = pc.choose(fit, _settings("gcv", 40), t.sigma, "given").lam  # the floor's minimum, a fine grid's
    lo = floor / 2
    settings = replace(_settings("gcv", 10), lo=lo, hi=lo * 8.0**4)  # 5 grid weights 8x apart
    lams = pc.log_grid(settings.lo, settings.hi, 5)
    gml = [pc.criterion(pc.FLOOR_RULE, fit(x), math.nan) for x in lams[:2]]
    assert gml[1] > gml[0]  # the grid's two lowest weights alone: the floor's best is the range's end
    choice = pc.choose(fit, settings, t.sigma, "given")
    assert choice.lam == pytest.approx(floor, rel=0.05) and choice.details["lam_floor_rule"] == "gml"
    lower = replace(settings, lo=0.3 * floor, hi=0.3 * floor * 8.0**4)  # the floor's minimum above the second weight
    assert pc.choose(fit, lower, t.sigma, "given").lam == pytest.approx(floor, rel=0.05)


def test_summary_names_a_walk_that_moved_the_rules_weight():
    """A walk after the rule (super-resolution's frame-split walk) moved the weight: the one-line summary says so,
    so "by gcv" is not read as GCV's own pick (newuser16's left item); a weight the rule chose alone reads as before."""
    from regrun.optim.parameter_choice import Choice

    plain = Choice(0.2527, "gcv", 0.01, "frames", 12, False)
    assert plain.summary() == "lam=0.2527 by gcv in 12 solves, noise sigma 0.01 (frames)"
    moved = Choice(0.3574, "gcv", 0.01, "frames", 12, False, details={"lam_moved_by": "frame-split walk from 0.253"})
    assert moved.summary() == ("lam=0.3574 by gcv in 12 solves, then the frame-split walk from 0.253, noise sigma "
                               "0.01 (frames)")
