"""The data at the pixel model's resolution (regrun.tomography.model_resolution) and cross-validation over views
against it (solver.lam_cv_reference=resolved, the default of solver.lam_rule=cv)."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.tomography import model_resolution as mr
from regrun.tomography.geometry import (
    cone_beam,
    fan_beam,
    parallel_beam,
    uniform_angles,
)
from regrun.tomography.phantoms import phantom_function, render
from regrun.tomography.xray import XRayTransform

F64 = torch.float64


def test_apply_kernels_is_a_symmetric_convolution_per_view_with_zeros_beyond_the_detector(device):
    g = torch.Generator().manual_seed(0)
    b = torch.randn(3, 9, generator=g, dtype=F64).to(device)
    h = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.2, 0.05], [0.0, 0.0, 1.0]], dtype=F64, device=device)
    out = mr.apply_kernels(b, h)
    assert torch.equal(out[0], b[0])
    kernel = torch.tensor([0.05, 0.2, 0.5, 0.2, 0.05], dtype=F64, device=device)
    want = torch.nn.functional.conv1d(b[1].reshape(1, 1, -1), kernel.reshape(1, 1, -1), padding=2).flatten()
    assert torch.allclose(out[1], want)
    assert out[2, 0] == b[2, 2] and out[2, 4] == b[2, 2] + b[2, 6] and out[2, 8] == b[2, 6]


def test_kernels_halve_the_model_error_of_a_finer_object_and_keep_its_mass(device):
    """A part drawn on a grid 2x finer than the reconstruction, projected there (how the benchmark's data is
    made; the kernels are calibrated at 4x, so they do not know it): h * (its projection) is closer to the
    projection of its cell average than the projection itself is, in parallel and fan beam, and each kernel
    sums to about 1 (a blur: line integrals of constants are kept)."""
    n, views = 32, 12
    fine = render(phantom_function("metal_part", 3), (2 * n, 2 * n), sub=2).to(device)
    for geo in (parallel_beam((n, n), uniform_angles(views, False), 46),
                fan_beam((n, n), uniform_angles(views, True), 64, 1.5, 60.0, 30.0)):
        A = XRayTransform(geo)
        measured = XRayTransform(mr.finer(geo, 2)).project(fine)
        model = A.project(mr.cell_average(fine, 2))
        h = mr.resolution_kernels(A.project, geo, F64, device)
        assert h.shape == (views, 1 + mr.TAPS) and h.device.type == device.type
        assert (h[:, 0] + 2 * h[:, 1:].sum(1)).sub(1).abs().max() < 0.05
        before = float((measured - model).norm())
        after = float((mr.apply_kernels(measured, h) - model).norm())
        assert after < 0.7 * before, (after, before)


def test_kernels_in_3d_filter_both_detector_axes(device):
    geo = cone_beam((8, 8, 4), uniform_angles(5, True), (12, 6), 1.5, 30.0, 15.0)
    h = mr.resolution_kernels(XRayTransform(geo).project, geo, F64, device)
    assert h.shape == (5, 1 + 2 * mr.TAPS) and torch.isfinite(h).all()
    b = torch.ones(5, 12, 6, dtype=F64, device=device)
    assert mr.apply_kernels(b, h).shape == b.shape


def ct_problem(device, views=16):
    from regrun.problems.ct_fewview import CTFewView

    ctx = RunContext(device, F64, 0, Path("."))
    return CTFewView(config_section("problem", "ct_fewview", size=24, views=views, noise="poisson", photons=1e5,
                                    phantom="shepp_logan"), ctx)


def test_view_cv_against_the_resolved_data_scores_the_held_out_views_against_h_times_b(device):
    """The curve of `resolved` is the held-out views' misfit against h * b (recomputed here from the training
    reconstruction), and the answer is still the fixed-weight run on all the raw data."""
    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import (
        choose_fista_weight,
        training_fista,
        view_split,
    )

    p = ct_problem(device)
    cfg = config_section("solver", "fista_tv", iters=20)
    fista = make_fista(p, cfg, None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    out = {}
    for ref in ("resolved", "raw"):
        out[ref] = choose_fista_weight(p, fista, 20, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                       power_iters=20, cv_reference=ref, cv_weight="none")
    choice = out["resolved"]
    assert "resolution" in choice.noise_source and "resolution" not in out["raw"].noise_source
    assert choice.stats()["lam_cv_reference"] == "resolved" and out["raw"].stats()["lam_cv_reference"] == "raw"
    train, held = view_split(16, 4)
    sub = training_fista(p, fista, train, 20)
    lam = float(choice.curve["lam"][1])
    x = sub.solve(torch.tensor(lam * len(train) / 16, dtype=F64, device=device), 20)
    target = mr.apply_kernels(p.sinogram, mr.resolution_kernels(p.A.project, p.geometry, F64, device))
    held = held.to(device)
    err = float((p.A.project(x)[held] - target[held]).pow(2).mean())
    assert choice.curve["criterion"][1] == pytest.approx(err, rel=1e-9)
    assert out["raw"].curve["criterion"][1] != pytest.approx(err, rel=1e-3)
    assert torch.equal(choice.state, fista.solve(torch.tensor(choice.lam, dtype=F64, device=device), 20))


def test_an_unknown_cv_reference_is_one_line():
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(torch.device("cpu"), F64, 0, Path("."))
    with pytest.raises(UserError, match="solver.lam_cv_reference"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_reference="smooth"), ctx)


def test_fista_tv_auto_defaults_to_resolved_cross_validation_and_records_it(device):
    from regrun.monitor import Monitor
    from regrun.solvers.fista_tv import FistaTV

    cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=3, lam_range=[0.1, 10.0])
    res = FistaTV(cfg, RunContext(device, F64, 0, Path("."))).solve(ct_problem(device), Monitor())
    assert res.stats["lam_rule"] == "cv" and res.stats["lam_cv_reference"] == "resolved"
    assert res.stats["lam_cv_scale"] == "0.8" and res.metrics["lam_fista_runs"] == 4
    assert 0.1 * 0.8 <= res.metrics["lam_chosen"] <= 10.0 * 0.8  # the held-out views' best weight times the scale


def test_view_cv_ramp_scores_the_ramp_weighted_held_out_misfit(device):
    """`lam_cv_weight=ramp`: the curve is the ramp-weighted misfit (fista_tv_weight.held_out_misfit) of the same
    training reconstructions, recorded in the stats; `none` gives a different curve on the same weights."""
    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import (
        choose_fista_weight,
        held_out_misfit,
        training_fista,
        view_split,
    )

    p = ct_problem(device)
    cfg = config_section("solver", "fista_tv", iters=20)
    fista = make_fista(p, cfg, None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    out = {w: choose_fista_weight(p, fista, 20, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                  power_iters=20, cv_reference="raw", cv_weight=w) for w in ("none", "ramp")}
    assert out["ramp"].stats()["lam_cv_weight"] == "ramp" and out["none"].stats()["lam_cv_weight"] == "none"
    train, held = view_split(16, 4)
    sub = training_fista(p, fista, train, 20)
    lam = float(out["ramp"].curve["lam"][1])
    assert lam == float(out["none"].curve["lam"][1])
    x = sub.solve(torch.tensor(lam * len(train) / 16, dtype=F64, device=device), 20)
    held = held.to(device)
    residual = p.A.project(x)[held] - p.sinogram[held]
    assert out["ramp"].curve["criterion"][1] == pytest.approx(held_out_misfit(residual, "ramp"), rel=1e-6)
    assert out["none"].curve["criterion"][1] == pytest.approx(float(residual.pow(2).mean()), rel=1e-6)
    assert out["ramp"].curve["criterion"][1] != pytest.approx(out["none"].curve["criterion"][1], rel=1e-3)


def test_view_cv_with_a_fold_above_the_view_count_holds_out_one_view(device):
    """solver.lam_cv_fold (8) larger than the scan's views: one view is held out, and the stats say so."""
    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight

    p = ct_problem(device, views=6)
    cfg = config_section("solver", "fista_tv", iters=10)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    choice = choose_fista_weight(p, make_fista(p, cfg, None), 10, s, "fd", torch.Generator(), cv_fold=8,
                                 cv_scale=1.0, power_iters=10, cv_reference="raw", cv_weight="none")
    assert choice.stats()["lam_cv_fold"] == "6" and choice.solves == 4
    assert config_section("solver", "fista_tv").lam_cv_fold == 8


@pytest.mark.parametrize("oversample, reads", [(1, "raw"), (4, "resolved")])
def test_view_cv_reference_auto_reads_raw_on_data_with_no_detail_below_the_pixel(device, oversample, reads):
    """solver.lam_cv_reference=auto: a scan simulated on the reconstruction's own grid (oversample 1: no detail
    below the pixel, as a projection of a pixel image) is predicted better against its raw views beyond their noise,
    and auto runs raw's search (its answer and runs: resolved's and raw's, those at the weights both tried run once,
    resolved's run on all views not made); one with detail below the pixel (oversample 4) keeps resolved's, bit for
    bit (docs/ct.md "(ctsmallw)", "(ctcost)")."""
    from regrun.optim import parameter_choice as pc
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight

    p = CTFewView(config_section("problem", "ct_fewview", size=32, views=48, noise="poisson", photons=1e6,
                                 oversample=oversample), RunContext(device, F64, 0, Path(".")))
    fista = make_fista(p, config_section("solver", "fista_tv", iters=30), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=10.0, solves=5, probes=1)
    out = {ref: choose_fista_weight(p, fista, 30, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                    power_iters=20, cv_reference=ref, cv_weight="none")
           for ref in ("auto", reads)}
    assert out["auto"].details["lam_cv_reference_auto"].startswith(f"{reads}: the held-out misfit less its noise")
    assert out["auto"].lam == out[reads].lam and torch.equal(out["auto"].state, out[reads].state)
    if reads == "raw":  # raw's search reran none of resolved's training runs at the weights both tried (ctcost)
        reused = int(out["auto"].details["lam_cv_runs_reused"].split()[0])
        assert reused >= 3 and out["auto"].solves == 2 * out["raw"].solves - 1 - reused
    else:
        assert out["auto"].solves == out["resolved"].solves and "lam_cv_runs_reused" not in out["auto"].details


def test_a_users_parallel_sinogram_reads_its_reference_from_the_data_by_default():
    """problem.data=file, parallel: lam_cv_reference auto (raw where the same runs predict the raw views better beyond
    their noise: ctsmallw's held-out 9085-9090 +3.21 dB on the two it reads raw, the lead's 4x-simulated EX
    bit-identical, where raw itself moved all six, -0.02 dB; docs/ct.md "(ctsmallw)"); generated data and fans keep
    resolved; typed, as typed."""
    from regrun.config import compose

    user = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fista_tv"]
    assert compose(user).solver.lam_cv_reference == "auto"
    assert compose(["problem=ct_fewview", "solver=fista_tv"]).solver.lam_cv_reference == "resolved"
    assert compose([*user, "solver.lam_cv_reference=resolved"]).solver.lam_cv_reference == "resolved"
    assert compose([*user, "problem.geometry=fan"]).solver.lam_cv_reference == "resolved"  # fans: not measured
