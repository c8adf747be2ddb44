"""cv's held-out views with one looking along a crack (docs/ct.md "(ctcore)"): solver.lam_cv_view_outlier=R leaves a
held-out view whose misfit at the best weight is over R x the held-out views' median out of the pick. Off (null) by
default, main's answer bit for bit; a bad value one line."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext

F64 = torch.float64
N, V, ALIGNED = 48, 32, 12  # the crack runs along view 12's rays, held out at the fold's default offset (4, 12, ...)


def test_outlier_views_reads_each_view_against_the_median():
    from regrun.tomography.fista_tv_weight import outlier_views

    out, read = outlier_views(np.array([1.0, 5.9, 1.2, 0.9, 1.1, 1.0, 0.8]), 3.0)
    assert out.tolist() == [False, True, False, False, False, False, False]
    assert read.startswith("held-out view(s) 1 left out") and "(limit 3)" in read
    out, read = outlier_views(np.array([1.0, 2.9, 1.2, 0.9]), 3.0)  # under the limit
    assert not out.any() and read.startswith("none left out")
    assert not outlier_views(np.array([1.0, 9.0, 1.1]), 3.0)[0].any()  # 3 views held out: too few to tell
    assert not outlier_views(np.array([1.0, 9.0, 8.0, 1.1]), 3.0)[0].any()  # 2 of 4 out would keep 2: none


def _cracked(device, crack=True):
    """A 48^2 disk of 0.5 with two inclusions and a one-pixel crack along view 12's rays, 32 views, Gaussian noise."""
    from regrun.problems.ct_fewview import CTFewView

    ctx = RunContext(device, F64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", size=N, views=V, noise="none", oversample=1), ctx)
    c = (torch.arange(N, dtype=F64, device=device) + 0.5) / N * 2 - 1
    x1, x2 = torch.meshgrid(c, c, indexing="ij")
    img = 0.5 * (x1**2 + x2**2 < 0.8**2).to(F64)
    img = torch.where((x1 - 0.2) ** 2 / 0.09 + (x2 + 0.1) ** 2 / 0.04 < 1, 1.0, img)
    img = torch.where((x1 + 0.3) ** 2 + (x2 - 0.3) ** 2 < 0.04, 0.8, img)
    t = float(p.geometry.angles[ALIGNED])
    if crack:
        img = torch.where((math.cos(t) * x1 + math.sin(t) * x2 - 0.05).abs() < 1.0 / N, 0.0, img)
    p.truth = img * p.mask
    g = torch.Generator().manual_seed(8036)
    clean = p.A.project(p.truth)
    p.sinogram = clean + 0.02 * torch.randn(clean.shape, generator=g, dtype=F64).to(device)
    return p


def _search(p, **kw):
    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    cfg = config_section("solver", "fista_tv", lam=1.0, iters=40, tv_grid=1)
    ug = UnknownGrid(p, 1)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=100.0, solves=9, probes=1)
    return ug, fista, cfg, choose_by_view_cv(ug, fista, 40, s, 8, int(cfg.power_iters), kw.pop("scale", 0.8), "raw",
                                             kw.pop("weight", "dose"), grid=5, **kw)


def test_the_view_along_the_crack_is_left_out_and_the_pick_is_the_other_views(device):
    """The held-out view that looks along the crack reads tens of times the others' misfit and is left out; the
    pick is then the parabola's through the other three views' mean misfit, checked against the held-out residuals
    computed here from the training runs (plain misfit, no scale, no cap: the pick itself)."""
    from regrun.optim.scalar_search import parabola_min
    from regrun.tomography.fista_tv_weight import training_fista, view_split

    p = _cracked(device)
    ug, fista, cfg, off = _search(p, weight="none", scale=1.0)
    on = _search(p, weight="none", scale=1.0, view_outlier=3.0)[3]
    assert "lam_cv_view_outlier" not in off.details and "lam_cv_pick_all_views" not in off.details
    assert on.details["lam_cv_view_outlier"].startswith("held-out view(s) 1 left out")  # view 12 of 4, 12, 20, 28
    assert float(on.details["lam_cv_pick_all_views"]) == pytest.approx(off.lam, rel=1e-5)  # 6 digits
    assert "(lam_cv_view_outlier)" in on.details["lam_moved_by"]
    train, held = view_split(V, 8, 4)
    assert held.tolist() == [4, 12, 20, 28]
    sub = training_fista(ug, fista, train, int(cfg.power_iters))
    lams = sorted(off.curve["lam"].tolist())
    kept = []
    for lam in lams:
        with torch.no_grad():
            x = sub.solve(torch.tensor(lam * len(train) / V, dtype=F64, device=device), 40)
        r = ug.A.project(x)[held] - p.sinogram[held]
        kept.append(float(r.pow(2).mean(1)[[0, 2, 3]].mean()))
    assert on.lam == pytest.approx(parabola_min(lams, kept), rel=1e-9)
    assert on.lam != pytest.approx(off.lam, rel=1e-3)


def test_the_noise_share_reads_the_kept_views_and_off_is_bit_for_bit(device):
    """With the default's dose weight and scale, the noise share (lam_cv_dose) reads the kept views' lowest misfit,
    not the crack view's; without a crack nothing is left out and the answer is the one with the setting off."""
    p = _cracked(device)
    off = _search(p, dose=True, fit_cap=0.25, fit_cap_share=0.1)[3]
    on = _search(p, dose=True, fit_cap=0.25, fit_cap_share=0.1, view_outlier=3.0)[3]
    share = lambda c: float(c.details["lam_cv_dose"].split(" = ")[1].split(" of")[0])  # noqa: E731
    assert share(on) > 2 * share(off)
    # what the pixel-grid check compares (every held-out view, plain and ramp-weighted) is not trimmed
    assert on.details["lam_cv_raw_min"] == off.details["lam_cv_raw_min"]
    assert on.details["lam_cv_raw_ramp_min"] == off.details["lam_cv_raw_ramp_min"]
    plain = _cracked(device, crack=False)
    base = _search(plain, dose=True, fit_cap=0.25)[3]
    same = _search(plain, dose=True, fit_cap=0.25, view_outlier=3.0)[3]
    assert same.details["lam_cv_view_outlier"].startswith("none left out")
    assert same.lam == base.lam and torch.equal(same.state, base.state)


def test_view_outlier_off_by_default_and_checked():
    from regrun.config import compose
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    user = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fista_tv"]
    assert compose(user).solver.lam_cv_view_outlier is None
    cfg = config_section("solver", "fista_tv", lam_cv_view_outlier=1.0)
    with pytest.raises(UserError, match="solver.lam_cv_view_outlier=1.0 must be > 1"):
        FistaTV(cfg, RunContext(torch.device("cpu"), F64, 0, Path(".")))


def test_the_views_table_is_what_the_search_minimises(tmp_path):
    """scripts/ctcore_files.py's dev draw and its twins, and scripts/ctcore_views.py's per-view misfits: their mean at
    offset 4 is the held-out misfit cv's search computes at the same all-view weights (raw views, pixel grid)."""
    from script_module import load_script

    from regrun.optim import parameter_choice as pc
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv

    files, views = load_script("ctcore_files"), load_script("ctcore_views")
    files.main(["--seed", "8036", "--out", str(tmp_path), "--scans", "24:16:1e4:3:npz"])
    name = tmp_path / "core_24_16_803600_npz"
    notch = np.load(f"{name}_notch.npz")
    assert notch["notch"].shape == (16,) and notch["notch"].max() > 3 * np.median(notch["notch"])
    assert np.load(f"{name}_li.npz")["sinogram"].shape == np.load(f"{name}_hand.npz")["sinogram"].shape
    table = views.views_table(Path(f"{name}_counts.npz"), [4], points=3, lo=0.1, hi=10.0, iters=10)
    per = np.array(table["offsets"]["4"]["per_view"])
    assert table["offsets"]["4"]["held"] == [4, 12] and per.shape == (3, 2)
    p, _ = load_script("bench_lambda_ct").case_from_file(Path(f"{name}_counts.npz"))
    cfg = config_section("solver", "fista_tv", lam=1.0, iters=10, tv_grid=1)
    ug = UnknownGrid(p, 1)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.1, hi=10.0, solves=3, probes=1)
    c = choose_by_view_cv(ug, make_fista(ug, cfg, lipschitz(ug, cfg)), 10, s, 8, int(cfg.power_iters), 1.0, "raw",
                          "none", grid=3)
    assert list(c.curve["criterion"]) == pytest.approx(per.mean(1).tolist(), rel=1e-10)
    r = views.picks(table, "4")
    assert set(r["picks"]) == {"mean", "median", "geometric", "without_worst"} and len(r["ratios"]) == 2
