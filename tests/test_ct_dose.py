"""cv's dose-aware scale (regrun.tomography.fista_tv_weight: noise_variance_view_sums, dose_scale,
solver.lam_cv_dose): the noise from the spread of the views' sums on known level-dependent noise, the scale's
limits, and the solver's record of it (docs/ct.md, "Sixth round")."""
import math
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor

F64 = torch.float64


def shifted_profiles(views: int, n_u: int, device, rows: int | None = None):
    """A sinogram whose every view sums to the same mass (a profile shifted along u inside zeros), Poisson-like
    noise (larger where more is absorbed), and the noise's mean variance."""
    g = torch.Generator().manual_seed(0)
    u = torch.arange(n_u, dtype=F64)
    shift = torch.randint(-8, 9, (views,), generator=g).to(F64)
    clean = 30 * (1 - ((u[None, :] - n_u / 2 - shift[:, None]) / (n_u / 3)) ** 2).clamp_min(0)
    if rows is not None:  # (views, n_u, n_v): the same in each detector row
        clean = clean[..., None].expand(-1, -1, rows)
    std = 0.05 * torch.exp(clean / 30)
    noisy = clean + std * torch.randn(clean.shape, generator=g, dtype=F64)
    return noisy.to(device), float(std.pow(2).mean())


@pytest.mark.parametrize("rows", [None, 3])
def test_view_sums_spread_is_the_mean_noise_variance(device, rows):
    from regrun.tomography.fista_tv_weight import noise_variance_view_sums

    sino, truth = shifted_profiles(600, 64, device, rows)
    # 600 views: the estimate's relative sd is sqrt(2 / 599) = 6% (sqrt(2 / (599 * 3)) over three rows)
    assert noise_variance_view_sums(sino, "parallel") == pytest.approx(truth, rel=0.2)
    # the object's shape, whatever it is, does not enter (unlike the second differences across the bins)
    assert noise_variance_view_sums(sino + 50 * (torch.arange(64, device=device) % 2).to(F64).reshape(
        (1, 64) + (1,) * (sino.ndim - 2)), "parallel") == pytest.approx(noise_variance_view_sums(sino, "parallel"))
    assert noise_variance_view_sums(sino, "fan") is None and noise_variance_view_sums(sino, None) is None
    assert noise_variance_view_sums(sino[:3], "parallel") is None


def test_fan_pairs_noise_is_the_mean_noise_variance(device):
    """Fan beam (the problem's: source 2 widths from the axis, detector 1 behind, 360 degrees): neighbouring views'
    1/sin-weighted sums agree on regrun's own projection of an object off centre to a small fraction of the noise
    below, and their differences give the noise variance; a detector that misses part of the volume: None."""
    from regrun.tomography.fista_tv_weight import noise_variance, noise_variance_fan_pairs
    from regrun.tomography.geometry import covering_detector, fan_beam, uniform_angles
    from regrun.tomography.xray import XRayTransform

    n, views = 16, 400
    dets, du = covering_detector((n, n), 1.0, 2.0 * n, 1.0 * n)
    geo = fan_beam((n, n), uniform_angles(views, True), dets[0], du, 2.0 * n, 1.0 * n)
    i = torch.arange(n, dtype=F64, device=device) - (n - 1) / 2
    # a smooth blob off centre: the plain view sums vary by 26% over the orbit. (Sharp pixel edges leave more of
    # the object in the pairs' differences with regrun's projector, a ray per bin: 0.28x this noise at 200 views,
    # 0.03x at 800; the bin-averaged exact projections of scripts/heldout_ct_sinograms.py leave 1e-6 to 0.09x of
    # their Poisson noise: docs/ct.md, "Seventh round")
    x = 2 * torch.exp(-((i[:, None] - 3) ** 2 + (i[None, :] + 2) ** 2) / 8)
    clean = XRayTransform(geo).project(x)
    g = torch.Generator().manual_seed(0)
    std = 0.05 * torch.exp(clean / clean.max())  # larger where more is absorbed, as Poisson noise
    noisy = clean + std * torch.randn(clean.shape, generator=g, dtype=F64).to(device)
    est, how = noise_variance(noisy, geo)
    # 400 pairs (each view in two): the estimate's relative sd about 7%; w^2 varies across the fan, so the
    # weighted mean of the bins' variances differs a little from the plain one
    assert est == pytest.approx(float(std.pow(2).mean()), rel=0.25) and "1/sin" in how
    assert noise_variance_fan_pairs(clean, geo) < 0.05 * float(std.pow(2).mean())
    sums = clean.sum(1)
    assert float(sums.max() / sums.min()) > 1.2  # why the parallel beam's estimate does not apply
    short = fan_beam((n, n), uniform_angles(views, True), dets[0] // 2, du, 2.0 * n, 1.0 * n)
    assert noise_variance_fan_pairs(noisy[:, : dets[0] // 2], short) is None
    assert noise_variance_fan_pairs(noisy, None) is None



def test_cone_epipolar_pairs_noise_is_the_mean_noise_variance(device):
    """Cone beam (the problem's circular orbit, flat detector): neighbouring views' 1/sin-weighted sums along the
    lines where the planes through both sources meet the detectors (rows interpolated) agree on regrun's
    projection of a smooth object off centre to a small fraction of the noise, and their differences give the
    noise variance; the fan's estimate is the same code with one row (test_fan_pairs_noise_...)."""
    from regrun.tomography.fista_tv_weight import noise_variance, noise_variance_source_pairs
    from regrun.tomography.geometry import cone_beam, covering_detector, uniform_angles
    from regrun.tomography.xray import XRayTransform

    n, views = 12, 120
    dets, du = covering_detector((n, n, n), 1.0, 2.0 * n, 1.0 * n)
    geo = cone_beam((n, n, n), uniform_angles(views, True), dets, du, 2.0 * n, 1.0 * n)
    i = torch.arange(n, dtype=F64, device=device) - (n - 1) / 2
    x = 2 * torch.exp(-((i[:, None, None] - 2) ** 2 + (i[None, :, None] + 1.5) ** 2
                        + (i[None, None, :] - 1) ** 2 / 2) / 6)
    clean = XRayTransform(geo, cache_mb=0).project(x)  # one projection: no matrix worth caching
    g = torch.Generator().manual_seed(0)
    std = 0.05 * torch.exp(clean / clean.max())  # larger where more is absorbed, as Poisson noise
    noisy = clean + std * torch.randn(clean.shape, generator=g, dtype=F64).to(device)
    est, how = noise_variance(noisy, geo)
    # 120 pairs x about 15 planes: the estimate within a few %, the weighted mean differs a little from the plain
    assert est == pytest.approx(float(std.pow(2).mean()), rel=0.25) and "epipolar" in how
    assert noise_variance_source_pairs(clean, geo) < 0.05 * float(std.pow(2).mean())
    short = cone_beam((n, n, n), uniform_angles(views, True), (dets[0] // 2, dets[1]), du, 2.0 * n, 1.0 * n)
    assert noise_variance_source_pairs(noisy[:, : dets[0] // 2], short) is None  # the volume not covered
    assert noise_variance_source_pairs(noisy[..., 0], geo) is None  # not a cone beam's sinogram

def test_dose_scale_fades_with_the_noise_share():
    from regrun.tomography.fista_tv_weight import NOISE_LIMITED_SHARE, dose_scale

    assert dose_scale(0.8, None, 1.0, 2.0)[0] == 0.8  # no estimate: the scale as given
    assert dose_scale(0.8, 0.0, 1.0, 2.0)[0] == pytest.approx(0.8)
    half = NOISE_LIMITED_SHARE / 2  # half-way to noise-limited: half the correction, in log lam
    assert dose_scale(0.8, half, 0.5, 0.5)[0] == pytest.approx(math.sqrt(0.8))
    assert dose_scale(0.8, NOISE_LIMITED_SHARE, 1.0, 1.0)[0] == 1.0
    used, line = dose_scale(0.8, 5.0, 1.0, 2.0)  # more noise than misfit (an estimate's scatter): the scale off
    assert used == 1.0 and "2.500 of the held-out misfit" in line


def test_solver_records_the_dose_scale(device):
    """A 16^2, 16-view Poisson scan: /stats/lam_cv_dose holds the share and the scale, the weight is the pick
    times it; lam_cv_dose=false answers the pick times lam_cv_scale from the same search."""
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", size=16, views=16, noise="poisson",
                                       photons=1e3), ctx)
    out = {}
    for dose in (True, False):
        cfg = config_section("solver", "fista_tv", lam="auto", iters=20, lam_solves=5, lam_cv_grid=3,
                             lam_cv_dose=dose)
        out[dose] = FistaTV(cfg, ctx).solve(problem, Monitor())
    on, off = out[True], out[False]
    pick = float(on.stats["lam_cv_pick"])
    assert pick == pytest.approx(float(off.stats["lam_cv_pick"]), rel=1e-9)
    used = float(on.stats["lam_cv_dose"].rsplit("= ", 1)[1])
    assert 0.8 <= used <= 1.0 and "spread of the views' sums" in on.stats["lam_cv_dose"]
    assert on.metrics["lam_chosen"] == pytest.approx(pick * used, rel=1e-3)
    assert off.metrics["lam_chosen"] == pytest.approx(pick * 0.8, rel=1e-5) and "lam_cv_dose" not in off.stats
    # the default weighting (dose) records the plain misfit's pick and the ramp's power, the share over 1/2
    share = float(on.stats["lam_cv_dose"].split(" = ")[1].split(" of")[0])
    assert on.stats["lam_cv_weight"] == "dose" and "lam_cv_pick_plain" in on.stats
    assert float(on.stats["lam_cv_ramp_power"]) == pytest.approx(min(1.0, 2 * share), abs=2e-3)



def test_solver_records_the_cone_noise_estimate(device):
    """A cone beam (8^3, 16 views, Poisson): `auto` estimates the noise from the epipolar pairs and records it in
    /stats/lam_cv_dose, the weight being the pick times the scale it gives (it had no estimate before)."""
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", geometry="cone", size=8, views=16,
                                       noise="poisson", photons=1e3), ctx)
    cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=3, lam_cv_grid=3)
    out = FistaTV(cfg, ctx).solve(problem, Monitor())
    line = out.stats["lam_cv_dose"]
    assert "epipolar planes" in line and "not estimated" not in line
    used = float(line.rsplit("= ", 1)[1])
    assert out.metrics["lam_chosen"] == pytest.approx(float(out.stats["lam_cv_pick"]) * used, rel=1e-3)

def test_lam_cv_dose_must_be_a_bool():
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    with pytest.raises(UserError, match="solver.lam_cv_dose='maybe'"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_dose="maybe"), RunContext(torch.device("cpu"), F64, 0,
                                                                                       Path(".")))


@pytest.mark.parametrize("rows", [None, 3])
def test_weighted_misfit_runs_from_plain_to_the_ramp(device, rows):
    """|frequency| ** power along u: power 0 is the plain mean square, 1 the ramp (|f| / its mean 1/4 over
    [0, 1/2], each interior rfft bin counted twice); white noise keeps its variance at any power."""
    from regrun.tomography.fista_tv_weight import held_out_misfit, residual_spectrum, weighted_misfit

    g = torch.Generator().manual_seed(1)
    shape = (40, 64) if rows is None else (40, 64, rows)
    r = torch.randn(shape, generator=g, dtype=F64).to(device)
    spec = residual_spectrum(r)
    assert weighted_misfit(spec, 0.0, r.numel()) == pytest.approx(float(r.pow(2).mean()), rel=1e-10)
    full = torch.fft.rfft(r, n=128, dim=1).abs().pow(2)
    f = torch.fft.rfftfreq(128, dtype=F64).to(device)
    fold = torch.full_like(f, 2.0)
    fold[0] = fold[-1] = 1.0
    ramp = float((full * (fold * f / 0.25).reshape((1, -1) + (1,) * (r.ndim - 2))).sum()) / 128 / r.numel()
    assert weighted_misfit(spec, 1.0, r.numel()) == pytest.approx(ramp, rel=1e-10)
    assert held_out_misfit(r, "ramp") == pytest.approx(ramp, rel=1e-10)
    assert held_out_misfit(r, "dose") == pytest.approx(float(r.pow(2).mean()), rel=1e-10)  # the search's: plain
    for power in (0.3, 0.5, 1.0):  # white noise: 2560-7680 samples, the estimate within 10%
        assert weighted_misfit(spec, power, r.numel()) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("noise, power", [(0.0, 0.0), (1e9, 1.0)])
def test_view_cv_dose_weight_reweights_the_same_runs(device, monkeypatch, noise, power):
    """`lam_cv_weight=dose`: the search is the plain misfit's (same weights, same curve, its pick recorded as
    lam_cv_pick_plain); the pick is then the parabola's vertex of the misfit weighted by |f| ** (the noise share
    over NOISE_LIMITED_SHARE, at most 1): no noise, the plain pick; noise-limited, the ramp's on the same weights
    (a grid of three, no golden-section steps, so `ramp`'s own search visits the same weights)."""
    from regrun.optim import parameter_choice as pc
    from regrun.tomography import fista_tv_weight as fw
    from regrun.tomography.fista_tv import make_fista

    from test_model_resolution import ct_problem

    p = ct_problem(device)
    cfg = config_section("solver", "fista_tv", iters=20)
    fista = make_fista(p, cfg, None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    monkeypatch.setattr(fw, "noise_variance", lambda b, geometry: (noise, "test"))

    def run(weight):
        return fw.choose_fista_weight(p, fista, 20, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                      power_iters=20, cv_reference="raw", cv_weight=weight, cv_grid=3)

    out = {w: run(w) for w in ("none", "ramp", "dose")}
    dose = out["dose"]
    assert dose.curve["lam"].tolist() == out["none"].curve["lam"].tolist()
    assert dose.curve["criterion"].tolist() == pytest.approx(out["none"].curve["criterion"].tolist(), rel=1e-10)
    assert float(dose.details["lam_cv_pick_plain"]) == pytest.approx(float(out["none"].details["lam_cv_pick"]))
    assert float(dose.details["lam_cv_ramp_power"]) == power
    expected = out["none"] if power == 0 else out["ramp"]
    assert float(dose.details["lam_cv_pick"]) == pytest.approx(float(expected.details["lam_cv_pick"]), rel=1e-5)
    assert dose.lam == pytest.approx(expected.lam, rel=1e-5)



def test_repick_guarded_runs_the_ramp_re_pick_where_the_guard_was_consulted(device, monkeypatch):
    """solver.lam_cv_repick_guarded (docs/ct.md, "(ctguard)"): a plain misfit lowest at the range's bottom, the
    guard's other offset agreeing: off, the bottom stands (the re-pick skipped, as before); on, the pick is the
    ramp's parabola on the same grid runs (what weight `ramp` picks there), the runs and the guard's record the
    same. Where the guard was not needed, or found the other offset's minimum inside, on and off are the same
    answer."""
    from regrun.errors import UserError
    from regrun.optim import parameter_choice as pc
    from regrun.solvers.fista_tv import FistaTV
    from regrun.tomography import fista_tv_weight as fw
    from regrun.tomography.fista_tv import make_fista

    from test_model_resolution import ct_problem

    p = ct_problem(device)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=20), None)
    monkeypatch.setattr(fw, "noise_variance", lambda b, geometry: (1e9, "test"))  # noise-limited: ramp power 1

    def run(lo, hi, weight="dose", solves=6, **kw):
        s = pc.ChoiceSettings(rule="cv", noise=None, lo=lo, hi=hi, solves=solves, probes=1)
        return fw.choose_by_view_cv(p, fista, 20, s, 4, 20, 1.0, "raw", weight, grid=3, guard=True, **kw)

    off, on = run(0.15, 3.0), run(0.15, 3.0, repick_guarded=True)
    ramp = run(0.15, 3.0, "ramp", solves=3)  # the same three grid weights, no golden-section steps
    # the re-pick moves the pick (and says so, lam_moved_by: newuser19); every other detail the same
    moved = {k: v for k, v in on.details.items() if k != "lam_moved_by"}
    assert off.details["lam_cv_guard"].startswith("offset 0: ") and off.details == {
        **moved, "lam_cv_pick": off.details["lam_cv_pick"]}
    assert on.details["lam_moved_by"].startswith("ramp-weighted re-pick") and "lam_moved_by" not in off.details
    assert off.lam == pytest.approx(0.15) and off.at_edge
    assert 0.2 < on.lam == pytest.approx(ramp.lam, rel=1e-5) and not on.at_edge and on.solves == off.solves == 7
    inside = run(0.01, 3.0), run(0.01, 3.0, repick_guarded=True)
    assert inside[0].details["lam_cv_guard"] == "not needed" and inside[0].lam == inside[1].lam
    search = fw.view_cv_search  # the other fold's minimum inside (its runs made, their values a bowl at 0.5):

    def bowl_guard(f, lo, hi, weights, points, second=None, second_runs=0):
        return search(f, lo, hi, weights, points, lambda lam: second(lam) * 0 + math.log(lam / 0.5) ** 2,
                      second_runs)

    monkeypatch.setattr(fw, "view_cv_search", bowl_guard)
    found = run(0.15, 3.0), run(0.15, 3.0, repick_guarded=True)  # the guard's answer stands either way
    assert 0.2 < found[0].lam == found[1].lam < 3.0 and found[1].details["lam_cv_guard"].startswith("offset 0: ")
    with pytest.raises(UserError, match="solver.lam_cv_repick_guarded='maybe'"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_repick_guarded="maybe"),
                RunContext(torch.device("cpu"), F64, 0, Path(".")))

def test_fit_cap_weight_is_where_the_training_misfit_rises_by_tau_held_out_misfits():
    """solver.lam_cv_fit_cap (docs/ct.md, "Fifteenth round"): the largest weight whose training misfit stays within
    tau x the held-out misfit of its lowest, log-linear between the weights tried."""
    from regrun.tomography.fista_tv_weight import fit_cap_weight

    fits = {0.1: 1.0, 1.0: 1.2, 10.0: 3.2, 100.0: 9.0}
    # limit 1.0 + 0.5 x 2.4 = 2.2: half-way from 1.2 (lam 1) to 3.2 (lam 10) in log lam
    assert fit_cap_weight(fits, 2.4, 0.5) == pytest.approx(math.sqrt(10.0))
    assert fit_cap_weight(fits, 100.0, 0.5) == 100.0  # never beyond: the range's top, not binding
    assert fit_cap_weight(fits, 2e-3, 0.5) == pytest.approx(0.1 * 10 ** (0.001 / 0.2))
    assert fit_cap_weight({1.0: 1.0}, 1.0, 0.5) == 1.0


def test_fit_cap_rise_widens_below_the_noise_share_floor():
    """solver.lam_cv_fit_cap_share: the rise (noise variance + tau x the held-out misfit's part that is not noise)
    is divided by min(1, share / floor): unchanged at or above the floor, widened by floor / share below it."""
    from regrun.tomography.fista_tv_weight import fit_cap_rise

    base = 0.1 + 0.25 * (1.0 - 0.1 * 2.0)  # noise 0.1, gain 2, held-out 1: share 0.2
    assert fit_cap_rise(0.25, 0.1, 2.0, 1.0) == (pytest.approx(base), 1.0)
    assert fit_cap_rise(0.25, 0.1, 2.0, 1.0, 0.2) == (pytest.approx(base), 1.0)
    rise, widen = fit_cap_rise(0.25, 0.1, 2.0, 1.0, 0.8)
    assert widen == pytest.approx(4.0) and rise == pytest.approx(4.0 * base)
    assert fit_cap_rise(0.25, None, 2.0, 1.0, 0.8) == (0.25, 1.0)  # no noise estimate: tau x the held-out misfit


def test_solver_caps_the_pick_by_the_training_fit(device, monkeypatch):
    """A 16^2, 16-view Poisson scan, its noise estimate set tiny: the training misfit per weight is recorded;
    lam_cv_fit_cap, where the cap is below the pick (a tiny tau: almost no rise allowed), answers the cap; off (null, the default) the pick stands. A bad value is one
    line."""
    from regrun.errors import UserError
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV
    from regrun.tomography.fista_tv_weight import fit_cap_weight

    import regrun.tomography.fista_tv_weight as fw

    monkeypatch.setattr(fw, "noise_variance", lambda b, geometry: (1e-9, "set by the test"))
    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", size=16, views=16, noise="poisson",
                                       photons=1e3), ctx)
    out = {}
    for cap, share in ((None, None), (1e-3, None), (1e-3, 0.05)):
        cfg = config_section("solver", "fista_tv", lam="auto", iters=20, lam_solves=5, lam_cv_grid=3,
                             lam_cv_fit_cap=cap, lam_cv_fit_cap_share=share)
        out[cap, share] = FistaTV(cfg, ctx).solve(problem, Monitor())
    off, on, widened = out[None, None], out[1e-3, None], out[1e-3, 0.05]
    # lam_cv_fit_cap_share: the noise (1e-9) is no part of the held-out misfit, so the rise is widened far beyond
    # any training misfit and the cap does not bind (the low-noise scans the cap lost on: "Sixteenth round")
    assert "lam_cv_fit_cap_widened" in widened.stats and "not binding" in widened.stats["lam_cv_fit_cap"]
    assert widened.metrics["lam_chosen"] == pytest.approx(off.metrics["lam_chosen"], rel=1e-9)
    assert "lam_cv_fit_cap_widened" not in on.stats
    fits = {float(a): float(v) for a, v in (kv.split(": ") for kv in off.stats["lam_cv_train_fit"].split(", "))}
    assert len(fits) == 5 and fits[max(fits)] > fits[min(fits)]  # more TV, a worse fit of the training views
    assert "lam_cv_fit_cap" not in off.stats and on.stats["lam_cv_train_fit"] == off.stats["lam_cv_train_fit"]
    assert "capped" in on.stats["lam_cv_fit_cap"]
    assert float(on.stats["lam_cv_uncapped"]) == pytest.approx(off.metrics["lam_chosen"], rel=1e-5)
    rise = float(on.stats["lam_cv_fit_cap"].split("misfit ")[1].split(" ")[0])  # noise var + 1e-3 x the rest
    noise = float(on.stats["lam_cv_fit_cap"].split("noise variance ")[1].split(" ")[0])
    held = float(on.stats["lam_cv_fit_cap"].split("held-out misfit ")[1].split(" ")[0])
    assert noise == 1e-9 and rise == pytest.approx(1e-9 + 1e-3 * held, rel=1e-3)
    assert on.metrics["lam_chosen"] == pytest.approx(fit_cap_weight(fits, rise, 1.0), rel=2e-2)
    assert on.metrics["lam_chosen"] < off.metrics["lam_chosen"]
    with pytest.raises(UserError, match="solver.lam_cv_fit_cap"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_fit_cap=-1.0), ctx)
