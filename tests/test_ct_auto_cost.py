"""What CT's `solver.lam=auto` runs on a user's file (docs/ct.md "(ctcost)"): no FISTA run made twice or made for
an answer not kept, the answers bit for bit those of every search making its own run on all views, and
`/metrics/lam_solves` the FISTA runs actually made."""
from pathlib import Path

import numpy as np
import pytest
import torch
from test_ct_pixel_grid import radon_file

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor

F64 = torch.float64


def counted_solves(monkeypatch) -> list:
    """Every Fista.solve call from here on, one entry each."""
    from regrun.optim.fista import Fista

    calls, solve = [], Fista.solve

    def counting(self, *a, **k):
        calls.append(self.shape)
        return solve(self, *a, **k)

    monkeypatch.setattr(Fista, "solve", counting)
    return calls


def test_the_pixel_grid_check_makes_one_run_on_all_views(device, tmp_path, monkeypatch):
    """A radon file on tv_grid=auto's 2x grid with the pixel-grid check: the two searches' runs on all views were
    both made before (the unkept grid's thrown away); now the kept one's alone, the answer bit for bit the same."""
    import regrun.solvers.fista_tv as solver_module
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(radon_file(tmp_path)),
                                       views=None, size=32, angle_start=90.0), ctx)
    cfg = config_section("solver", "fista_tv", lam="auto", iters=15, lam_solves=5, lam_cv_grid=3, lam_cv_fold=4,
                         tv_grid="auto", lam_cv_pixel_grid=True, lam_cv_reference="auto")
    calls = counted_solves(monkeypatch)
    now = FistaTV(cfg, ctx).solve(problem, Monitor())
    made = len(calls)
    search = solver_module.choose_fista_weight

    def each_its_own(*a, **k):  # every search making its own run on all views, as before
        return search(*a, **{**k, "cv_final": True})

    monkeypatch.setattr(solver_module, "choose_fista_weight", each_its_own)
    before = FistaTV(cfg, ctx).solve(problem, Monitor())
    assert "lam_cv_pixel_grid" in now.stats and now.stats["tv_grid"] == before.stats["tv_grid"]
    assert now.metrics["lam_chosen"] == before.metrics["lam_chosen"]
    assert torch.equal(now.solution["x"], before.solution["x"])
    assert now.metrics["lam_solves"] == made == before.metrics["lam_solves"] - 1 == len(calls) - made - 1


def test_raws_search_takes_resolveds_runs_and_counts_what_it_ran(device, monkeypatch):
    """lam_cv_reference=auto reading raw (a scan simulated on the reconstruction's grid): raw's search reruns none of
    resolved's training runs at the weights both tried, resolved's run on all views is not made, and `solves` is
    the FISTA runs made; the answer is raw's search run alone, bit for bit."""
    from regrun.optim import parameter_choice as pc
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight

    p = CTFewView(config_section("problem", "ct_fewview", size=32, views=48, noise="poisson", photons=1e6,
                                 oversample=1), RunContext(device, F64, 0, Path(".")))
    fista = make_fista(p, config_section("solver", "fista_tv", iters=20), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=10.0, solves=5, probes=1)

    def search(reference, final=True):
        return choose_fista_weight(p, fista, 20, s, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                   power_iters=20, cv_reference=reference, cv_weight="none", cv_final=final)

    calls = counted_solves(monkeypatch)
    auto = search("auto")
    made = len(calls)
    raw = search("raw")
    assert auto.details["lam_cv_reference_auto"].startswith("raw:")
    assert auto.lam == raw.lam and torch.equal(auto.state, raw.state)
    # at least the first grid's three weights (the golden steps too where raw's grid has resolved's best point)
    reused = int(auto.details["lam_cv_runs_reused"].split()[0])
    assert 3 <= reused <= 5 and auto.solves == made == 5 + (5 - reused) + 1 and raw.solves == len(calls) - made == 6
    lazy = search("raw", final=False)
    assert lazy.state is None and lazy.solves == 5 and lazy.lam == raw.lam


@pytest.mark.parametrize("final", [True, False])
def test_final_solve_makes_the_run_once(device, final):
    from regrun.optim import parameter_choice as pc
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import make_fista
    from regrun.tomography.fista_tv_weight import choose_by_view_cv, final_solve

    p = CTFewView(config_section("problem", "ct_fewview", size=16, views=16, noise="gaussian", noise_level=0.01),
                  RunContext(device, F64, 0, Path(".")))
    fista = make_fista(p, config_section("solver", "fista_tv", iters=10), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=10.0, solves=4, probes=1)
    c = choose_by_view_cv(p, fista, 10, s, 4, 20, 1.0, "raw", "none", grid=3, final=final)
    solves, state = c.solves, c.state
    assert final_solve(c, fista, 10, p.sinogram) is c
    assert c.solves == solves + (not final) and (state is None) == (not final)
    if final:
        assert c.state is state
    again = choose_by_view_cv(p, fista, 10, s, 4, 20, 1.0, "raw", "none", grid=3)
    assert torch.equal(c.state, again.state) and c.solves == again.solves


def test_the_pixel_grid_answer_says_what_the_finer_search_did_not_run_again():
    from regrun.optim.parameter_choice import Choice
    from regrun.tomography.fista_tv_weight import pixel_grid_check

    def choice(lam, raw_min, solves, **details):
        return Choice(lam=lam, rule="cv", sigma=1.0, noise_source="cv", solves=solves, at_edge=False,
                      details={"lam_cv_raw_min": str(raw_min), **details})

    fine = choice(1.0, 0.3, 9, lam_cv_runs_reused="9 training run(s) taken from the search before")
    kept, on_pixel = pixel_grid_check(fine, lambda: choice(2.0, 0.2, 10))
    assert on_pixel and kept.solves == 19 and kept.details["lam_cv_runs_reused"] == (
        "the finer grid's search: 9 training run(s) taken from the search before")
    kept, on_pixel = pixel_grid_check(choice(1.0, 0.1, 9, lam_cv_runs_reused="5 x"), lambda: choice(2.0, 0.2, 10))
    assert not on_pixel and kept.solves == 19 and kept.details["lam_cv_runs_reused"] == "5 x"


@pytest.mark.parametrize("tv_grid", ["auto", 1])
def test_auto_bit_for_bit_with_the_in_place_prox_and_the_training_views_projector(device, tmp_path, monkeypatch, tv_grid):
    """session 37's speed-ups (ctcost: the cv prox in place where nothing is differentiated, the training runs' products
    on their own views from the cached matrices) leave `auto`'s answer on a user's radon file bit for bit: the weight,
    the image and the curve, on the 2x grid with the pixel-grid check and on the pixel grid alone."""
    from regrun.optim.tv_prox import TVProx
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV
    from regrun.tomography.xray import XRayTransform

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(radon_file(tmp_path)),
                                       views=None, size=32, angle_start=90.0), ctx)
    cfg = config_section("solver", "fista_tv", lam="auto", iters=15, lam_solves=5, lam_cv_grid=3, lam_cv_fold=4,
                         tv_grid=tv_grid, lam_cv_pixel_grid=True, lam_cv_reference="auto")
    used = []
    products = XRayTransform.view_products

    def counted(self, *a):
        used.append(products(self, *a))
        return used[-1]

    monkeypatch.setattr(XRayTransform, "view_products", counted)
    now = FistaTV(cfg, ctx).solve(problem, Monitor())
    # the pixel grid's folds took the restricted products (the 2x grid's projector caches no matrices: None there)
    assert [p is not None for p in used] == ([False, True] if tv_grid == "auto" else [True])
    monkeypatch.setattr(XRayTransform, "view_products", lambda self, *a: None)
    monkeypatch.setattr(TVProx, "_plain", lambda self, *a: False)
    before = FistaTV(cfg, ctx).solve(problem, Monitor())
    assert now.stats["tv_grid"] == before.stats["tv_grid"] and now.metrics["lam_chosen"] == before.metrics["lam_chosen"]
    assert torch.equal(now.solution["x"], before.solution["x"])
    curve, was = now.tables["lam_curve"], before.tables["lam_curve"]
    assert set(curve) == set(was) and all(np.array_equal(np.asarray(curve[k]), np.asarray(was[k]), equal_nan=True)
                                          for k in curve)


@pytest.mark.parametrize("key, default, bad, says", [("tv_grid_cache_mb", 0, -1, "tv_grid_cache_mb=-1.0 must be >= 0"),
                                                     ("tv_grid_cache_mb", 0, "big", "tv_grid_cache_mb='big' must be a number")])
def test_auto_cost_setting_default_and_checked(key, default, bad, says):
    """ctcost's opt-in setting (session 37): main's behaviour by default for a user's file, a bad value one line."""
    from regrun.config import compose
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    user = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fista_tv"]
    assert compose(user).solver[key] == default
    with pytest.raises(UserError, match=says):
        FistaTV(config_section("solver", "fista_tv", **{key: bad}), RunContext(torch.device("cpu"), F64, 0, Path(".")))


def test_tv_grid_cache_moves_the_answer_by_rounding_only(device, tmp_path, monkeypatch):
    """solver.tv_grid_cache_mb > 0: the 2x grid's projector keeps its matrices; `auto`'s answer on a radon file is the
    on-the-fly one's to rounding (the products differ in the last bits)."""
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV
    from regrun.tomography.xray import XRayTransform

    built, build = [], XRayTransform._build

    def counting(self, *a):
        built.append(self.geometry.volume.shape)
        return build(self, *a)

    monkeypatch.setattr(XRayTransform, "_build", counting)

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(radon_file(tmp_path)),
                                       views=None, size=32, angle_start=90.0), ctx)
    runs = {mb: FistaTV(config_section("solver", "fista_tv", lam="auto", iters=15, lam_solves=5, lam_cv_grid=3,
                                       lam_cv_fold=4, tv_grid=2, lam_cv_reference="resolved", tv_grid_cache_mb=mb),
                        ctx).solve(problem, Monitor()) for mb in (0, 64)}
    assert runs[0].stats["tv_grid"] == runs[64].stats["tv_grid"] == 2
    assert built.count((64, 64)) == 1  # the 2x grid's matrices, built by the cached run alone
    assert runs[64].metrics["lam_chosen"] == pytest.approx(runs[0].metrics["lam_chosen"], rel=1e-9)
    x0, x1 = runs[0].solution["x"], runs[64].solution["x"]
    assert float((x1 - x0).abs().max()) <= 1e-10 * float(x0.abs().max())
