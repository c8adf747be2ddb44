"""solver.lam_cv_pixel_grid: cv's search also on the output's pixel grid against the raw views, kept where it
predicts the held-out views better than the finer unknown's (docs/ct.md "(ctskradon)")."""
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext

F64 = torch.float64


def radon_circle(img: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """scikit-image's radon(img, angles, circle=True), written out (bins, views): each view the column sums of the
    image turned bilinearly about pixel n // 2 (skimage.transform.warp's inverse map); equal to scikit-image's to
    1e-16 where it is installed. Written out because scikit-image is in the bench extra, which CI does not install."""
    from scipy import ndimage

    n = img.shape[0]
    ctr, (r, c) = n // 2, np.mgrid[0:n, 0:n].astype(float)
    views = []
    for a in np.deg2rad(angles_deg):
        co, si = np.cos(a), np.sin(a)
        x, y = co * c + si * r - ctr * (co + si - 1), -si * c + co * r - ctr * (co - si - 1)
        views.append(ndimage.map_coordinates(img, [y, x], order=1, mode="grid-constant", cval=0.0).sum(0))
    return np.stack(views, 1)


def radon_file(path: Path, n: int = 32, views: int = 48) -> Path:
    """A scikit-image radon(circle=True) file of a Shepp-Logan phantom's pixel image (4x4 samples a pixel), 0.5%
    Gaussian noise, saved as a user does (views along rows)."""
    from regrun.tomography.phantoms import shepp_logan

    t = (torch.arange(4 * n, dtype=F64) + 0.5) / (4 * n) * 2 - 1
    pts = torch.stack(torch.meshgrid(t, -t, indexing="xy"), -1)  # rows top to bottom, the phantom's y up
    img = shepp_logan(pts).reshape(n, 4, n, 4).mean((1, 3)).numpy()
    c = np.arange(n) - n // 2
    img = img * (c[:, None] ** 2 + c[None, :] ** 2 <= (n // 2) ** 2)  # radon(circle=True): nothing outside the disk
    s = radon_circle(img, np.arange(views) * 180.0 / views).T
    s = s + 0.005 * s.max() * np.random.default_rng(0).standard_normal(s.shape)
    np.save(path / "s.npy", s)
    return path / "s.npy"


def test_the_written_out_radon_is_scikit_images():
    skt = pytest.importorskip("skimage.transform")
    img = np.random.default_rng(1).random((20, 20))
    c = np.arange(20) - 10
    img *= c[:, None] ** 2 + c[None, :] ** 2 <= 100
    angles = np.arange(12) * 15.0
    assert np.abs(radon_circle(img, angles) - skt.radon(img, angles, circle=True)).max() <= 1e-12 * img.sum()


@pytest.mark.parametrize("data", ["radon", "finer"])
def test_the_pixel_grid_is_kept_where_it_predicts_the_held_out_views_better(device, tmp_path, data):
    """A projection of a pixel image (scikit-image's radon of a 32^2 array): the pixel grid's raw search predicts the
    held-out views better than the 2x unknown's, and its answer (weight and image) replaces the finer grid's; a scan
    simulated on a grid 4x finer (detail below the pixel) keeps the finer grid's answer bit for bit."""
    from regrun.optim import parameter_choice as pc
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight, pixel_grid_check

    ctx = RunContext(device, F64, 0, Path("."))
    if data == "radon":
        cfg = config_section("problem", "ct_fewview", data="file", sinogram=str(radon_file(tmp_path)), views=None,
                             size=32, angle_start=90.0)
    else:
        cfg = config_section("problem", "ct_fewview", size=32, views=48, noise="poisson", photons=1e5, oversample=4)
    p = CTFewView(cfg, ctx)
    solver = config_section("solver", "fista_tv", iters=30)
    fine_grid, pixel_grid = UnknownGrid(p, 2), UnknownGrid(p, 1)
    fistas = {g: make_fista(g, solver, lipschitz(g, solver)) for g in (fine_grid, pixel_grid)}
    settings = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=10.0, solves=5, probes=1)

    def search(grid, reference):
        return choose_fista_weight(grid, fistas[grid], 30, settings, "fd", torch.Generator(), cv_fold=4,
                                   cv_scale=1.0, power_iters=20, cv_reference=reference, cv_weight="none")

    fine = search(fine_grid, "auto")
    fine_lam, fine_state, fine_solves = fine.lam, fine.state.clone(), fine.solves
    ran = []
    choice, on_pixel = pixel_grid_check(fine, lambda: ran.append(search(pixel_grid, "raw")) or ran[0])
    pixel = ran[0]
    a, f = float(pixel.details["lam_cv_raw_min"]), float(fine.details["lam_cv_raw_min"])
    assert on_pixel == (data == "radon") == (a < f)
    # the ramp-weighted minimum beside (solver.lam_cv_pixel_grid_misfit=ramp), from the same runs on both grids
    ramps = [float(c.details["lam_cv_raw_ramp_min"]) for c in (pixel, fine)]
    assert all(r > 0 for r in ramps) and ramps != [a, f]
    # each held-out view's raw misfit at each grid's lowest (48 views, fold 4: 12), their mean the lowest, and the
    # pixel grid's lead read from them (solver.lam_cv_pixel_grid_margin)
    for c, low in ((pixel, a), (fine, f)):
        views = np.array(c.details["lam_cv_raw_views"].split(), dtype=float)
        assert len(views) == 12 and views.mean() == pytest.approx(low, rel=1e-5)
    assert float(choice.details["lam_cv_pixel_grid_ratio"]) == pytest.approx(a / f, rel=1e-5)
    assert "standard errors" in choice.details["lam_cv_pixel_grid_lead"]
    if on_pixel:
        assert choice.details["lam_cv_pixel_grid"].startswith("pixel grid")
        assert choice.lam == pixel.lam and torch.equal(choice.state, pixel.state)
        assert choice.state.shape == (32, 32) and fine_state.shape == (64, 64)
        assert choice is pixel and choice.solves > fine_solves
    else:
        assert choice.details["lam_cv_pixel_grid"].startswith("finer grid kept")
        assert choice.lam == fine_lam and torch.equal(choice.state, fine_state)
        assert choice is fine and choice.solves == fine_solves + pixel.solves


def test_pixel_grid_check_is_on_for_a_users_sinogram_and_checked():
    """On for a user's sinogram (problem.data=file: held-out 7986 +12.26 dB over the 4 of 7 radon files it moved, none
    lower), off for generated data (presets and CI pairs keep their numbers), typed as typed (docs/ct.md
    "(ctskradon)"); a bad value is one line."""
    from regrun.config import compose
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    user = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fista_tv"]
    assert compose(user).solver.lam_cv_pixel_grid is True
    assert compose([*user, "solver.lam_cv_pixel_grid=false"]).solver.lam_cv_pixel_grid is False
    assert compose(["problem=ct_fewview", "solver=fista_tv"]).solver.lam_cv_pixel_grid is False
    bad = config_section("solver", "fista_tv", lam_cv_pixel_grid="maybe")
    with pytest.raises(UserError, match="lam_cv_pixel_grid"):
        FistaTV(bad, RunContext(torch.device("cpu"), F64, 0, Path(".")))


@pytest.mark.parametrize("misfit", ["plain", "ramp"])
def test_the_ramp_misfit_compares_the_ramp_weighted_minimum(misfit):
    """solver.lam_cv_pixel_grid_misfit: plain compares the plain held-out raw misfits, ramp the ramp-weighted ones
    (FB's gear 128^2/60/1e4: the pixel grid lower in the plain misfit, 3.5 dB worse in the image; docs/ct.md
    "(ctcheck)"); where the finer grid has no ramp-weighted misfit, ramp keeps it and runs no pixel search."""
    from regrun.optim.parameter_choice import Choice
    from regrun.tomography.fista_tv_weight import pixel_grid_check

    def choice(lam, plain, ramp):
        details = {"lam_cv_raw_min": plain, **({} if ramp is None else {"lam_cv_raw_ramp_min": ramp})}
        return Choice(lam=lam, rule="cv", sigma=1.0, noise_source="cv", solves=10, at_edge=False, details=details)

    fine = choice(0.977, "1.26", "2.0")
    kept, on_pixel = pixel_grid_check(fine, lambda: choice(0.355, "1.106", "2.5"), misfit)
    assert on_pixel == (misfit == "plain") and kept.lam == (0.355 if misfit == "plain" else 0.977)
    assert ("ramp: 2.5 and 2.0" if misfit == "plain" else "plain: 1.106 and 1.26") in kept.details["lam_cv_pixel_grid"]
    ran = []
    kept, on_pixel = pixel_grid_check(choice(0.977, "1.26", None), lambda: ran.append(1) or choice(0.355, "1.1", "1"),
                                      misfit)
    assert on_pixel == (misfit == "plain") and len(ran) == 1 if misfit == "plain" else (not on_pixel and not ran)


def test_pixel_grid_misfit_is_checked():
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    bad = config_section("solver", "fista_tv", lam_cv_pixel_grid_misfit="rampe")
    with pytest.raises(UserError, match="lam_cv_pixel_grid_misfit.*plain, ramp"):
        FistaTV(bad, RunContext(torch.device("cpu"), F64, 0, Path(".")))


def test_one_se_pick_widens_only_a_curve_flat_below_its_lowest():
    """solver.lam_cv_pixel_grid_pick=one_se (docs/ct.md "(ctpixgrid)"): where the held-out curve at the range's bottom
    is within one standard error (over the held-out views) of its lowest, the largest weight within that error, on
    the straight line in log lam to the first weight above it; a curve rising to the bottom by more keeps its
    lowest (None), as does one lowest at the bottom (the guard's case)."""
    from regrun.tomography.fista_tv_weight import one_se_pick

    lams = np.array([0.01, 0.1, 0.3, 1.0, 10.0])
    spread = np.array([-0.2, 0.2])  # two views, sd 0.283, standard error 0.2
    flat = np.array([1.15, 1.12, 1.10, 1.20, 1.60])[:, None] + spread  # FB gear's shape: flat below, lowest at 0.3
    lam, why = one_se_pick(lams, flat)
    assert lam == pytest.approx(10 ** ((1.30 - 1.20) / (1.60 - 1.20)))  # 1.30: lowest + error; 1 to 10 in log
    assert "flat below" in why and "2 held-out views" in why
    steep = np.array([1.50, 1.12, 1.10, 1.20, 1.60])[:, None] + spread  # the bottom 0.4 above: two errors
    assert one_se_pick(lams, steep)[0] is None
    assert one_se_pick(lams, np.array([1.0, 1.1, 1.2, 1.3, 1.4])[:, None] + spread)[0] is None
    assert one_se_pick(lams, np.array([1.10, 1.10, 1.05, 1.10, 1.10])[:, None] + spread)[0] == 10.0  # never leaves


@pytest.mark.parametrize("pick", ["min", "one_se"])
def test_the_pixel_grid_pick_moves_only_the_pixel_searchs_weight(device, tmp_path, pick):
    """The pick acts in the search it is given to (the solver gives it to the pixel grid's): the same runs, the same
    held-out raw minimum (so the check keeps the same grid), the weight the one-standard-error rule's where it
    applies, the curve's pick beside it; min is the search as before, bit for bit."""
    from regrun.optim import parameter_choice as pc
    from regrun.problems.ct_fewview import CTFewView
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import choose_fista_weight

    ctx = RunContext(device, F64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(radon_file(tmp_path)),
                                 views=None, size=32, angle_start=90.0), ctx)
    solver = config_section("solver", "fista_tv", iters=30)
    g = UnknownGrid(p, 1)
    fista = make_fista(g, solver, lipschitz(g, solver))
    settings = pc.ChoiceSettings(rule="cv", noise=None, lo=0.01, hi=10.0, solves=5, probes=1)

    def search(rule):
        return choose_fista_weight(g, fista, 30, settings, "fd", torch.Generator(), cv_fold=4, cv_scale=1.0,
                                   power_iters=20, cv_reference="raw", cv_weight="none", cv_pick=rule)

    base, other = search("min"), search(pick)
    assert other.details["lam_cv_raw_min"] == base.details["lam_cv_raw_min"]
    assert np.array_equal(other.curve["criterion"], base.curve["criterion"])
    if pick == "min":
        assert other.lam == base.lam and torch.equal(other.state, base.state) and "lam_cv_one_se" not in other.details
        return
    rows = [r.split(": ") for r in other.details["lam_cv_view_misfits"].split("; ")]
    assert len(rows) == len(base.curve["lam"]) and all(len(r[1].split()) == 12 for r in rows)  # 48 views, fold 4
    if "lam_cv_pick_min" in other.details:
        assert float(other.details["lam_cv_pick_min"]) == pytest.approx(float(base.details["lam_cv_pick"]), rel=1e-5)
        assert other.lam > base.lam and "one-standard-error" in other.details["lam_moved_by"]
    else:
        assert other.lam == base.lam and other.details["lam_cv_one_se"].startswith("the lowest stands")


@pytest.mark.parametrize("key, default, bad, allowed", [("lam_cv_pixel_grid_pick", "min", "one-se", "min, one_se"),
                                                         ("lam_cv_pixel_grid_edge", "keep", "fine", "keep, finer, se"),
                                                         ("lam_cv_pixel_grid_margin", "none", 1.5,
                                                          "none, se or a number m with 0 < m <= 1")])
def test_pixel_grid_setting_default_and_checked(key, default, bad, allowed):
    """The pixel-grid check's opt-in settings (ctpixgrid's pick, ctedge's edge, ctmargin's margin): main's behaviour
    by default for a user's file, and a bad value one line naming what is allowed."""
    from regrun.config import compose
    from regrun.errors import UserError
    from regrun.solvers.fista_tv import FistaTV

    user = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "solver=fista_tv"]
    assert compose(user).solver[key] == default
    cfg = config_section("solver", "fista_tv", **{key: bad})
    with pytest.raises(UserError, match=f"{key}.*{allowed}"):
        FistaTV(cfg, RunContext(torch.device("cpu"), F64, 0, Path(".")))


@pytest.mark.parametrize("edge", ["keep", "finer"])
def test_pixel_grid_edge_finer_keeps_the_finer_grid_only_at_the_ranges_bottom(edge):
    """solver.lam_cv_pixel_grid_edge=finer: where the pixel grid's held-out curve is lowest at lam_range's bottom
    (FD bone 128^2/60/1e5: 0.8417 at 0.01 rising to 3.43 at 100, the 2x grid's lowest 0.8762), the finer grid's
    answer stands; a pixel pick inside the range or at its top is kept as under keep (docs/ct.md "(ctedge)")."""
    from regrun.optim.parameter_choice import Choice
    from regrun.tomography.fista_tv_weight import pixel_grid_check

    lams = np.array([0.01, 0.1, 1.0, 10.0, 100.0])

    def choice(lam, raw, crit=None, at_edge=False):
        curve = {} if crit is None else {"lam": lams, "criterion": np.array(crit)}
        return Choice(lam=lam, rule="cv", sigma=1.0, noise_source="cv", solves=10, at_edge=at_edge, curve=curve,
                      details={"lam_cv_raw_min": raw})

    fine = choice(0.42, "0.8762")
    bottom = choice(0.00806, "0.8417", [0.8417, 0.8506, 0.943, 1.385, 3.43], at_edge=True)
    kept, on_pixel = pixel_grid_check(fine, lambda: bottom, "plain", edge)
    assert (kept is fine and not on_pixel and "lam_cv_pixel_grid_edge=finer" in kept.details["lam_cv_pixel_grid"]
            if edge == "finer" else kept is bottom and on_pixel)
    assert kept.solves == 20
    inside = choice(0.355, "0.8417", [0.9, 0.85, 0.8417, 1.385, 3.43])
    top = choice(90.0, "0.8417", [3.43, 1.385, 0.943, 0.8506, 0.8417], at_edge=True)
    for pixel in (inside, top):
        kept, on_pixel = pixel_grid_check(choice(0.42, "0.8762"), lambda: pixel, "plain", edge)
        assert kept is pixel and on_pixel


@pytest.mark.parametrize("margin", ["none", 0.9, "se"])
def test_pixel_grid_margin_keeps_the_finer_grid_where_the_lead_is_small(margin):
    """solver.lam_cv_pixel_grid_margin (docs/ct.md "(ctmargin)"): none moves on any lead; a number m keeps the finer
    grid where the pixel grid's lowest is not below m x the finer grid's; se where the lead is within one standard
    error of the two grids' per-view difference (the same held-out views, paired). A wide lead moves under all."""
    from regrun.optim.parameter_choice import Choice
    from regrun.tomography.fista_tv_weight import pixel_grid_check

    def choice(lam, raw, views):
        details = {"lam_cv_raw_min": raw, **({} if views is None else {"lam_cv_raw_views": views})}
        return Choice(lam=lam, rule="cv", sigma=1.0, noise_source="cv", solves=10, at_edge=False, details=details)

    # differences -0.25 0.15 -0.05 -0.05: the lead 0.05, its standard error 0.0816; the ratio 0.95
    fine, close = choice(1.0, "1.0", "0.8 1.2 1.0 1.0"), choice(0.5, "0.95", "0.55 1.35 0.95 0.95")
    kept, on_pixel = pixel_grid_check(fine, lambda: close, "plain", "keep", margin)
    assert on_pixel == (margin == "none") and kept is (close if margin == "none" else fine) and kept.solves == 20
    assert kept.details["lam_cv_pixel_grid_ratio"] == "0.95"
    assert "0.612 standard errors (0.08165) over 4 held-out views" in kept.details["lam_cv_pixel_grid_lead"]
    if margin != "none":
        assert f"lam_cv_pixel_grid_margin={margin}" in kept.details["lam_cv_pixel_grid"]
    far = choice(0.5, "0.7125", "0.5 0.9 0.7 0.75")  # the lead 0.2875, its error 0.0125: 23 errors; ratio 0.71
    kept, on_pixel = pixel_grid_check(choice(1.0, "1.0", "0.8 1.2 1.0 1.0"), lambda: far, "plain", "keep", margin)
    assert on_pixel and kept is far
    # no per-view misfits (a ray mask's held-out rays): se decides as none
    kept, on_pixel = pixel_grid_check(choice(1.0, "1.0", None), lambda: choice(0.5, "0.95", None), "plain", "keep",
                                      margin)
    assert on_pixel == (margin != 0.9)


def test_pixel_grid_edge_se_keeps_the_finer_grid_at_the_bottom_only_within_one_error():
    """solver.lam_cv_pixel_grid_edge=se (docs/ct.md "(ctbottom)"): at lam_range's bottom the pixel grid is kept only
    where its lead exceeds one standard error of the per-view difference. FD bone 128^2/60/1e5's recorded per-view
    misfits against a finer grid 0.85 errors behind (FD bone's own: 0.94) go back to the finer grid; the same curve
    leading by 78 errors (7986's radon foam led by 4.8) stays, and a pick inside the range with a lead under one error is decided as under keep."""
    from regrun.optim.parameter_choice import Choice
    from regrun.tomography.fista_tv_weight import pixel_grid_check

    lams = np.array([0.01, 0.1, 1.0, 10.0, 100.0])

    def choice(lam, views, crit=None, at_edge=False):
        curve = {} if crit is None else {"lam": lams, "criterion": np.array(crit)}
        raw = f"{np.mean(np.array(views.split(), dtype=float)):.6g}"
        return Choice(lam=lam, rule="cv", sigma=1.0, noise_source="cv", solves=10, at_edge=at_edge, curve=curve,
                      details={"lam_cv_raw_min": raw, "lam_cv_raw_views": views})

    pixel_views = "0.963568 0.659506 0.737142 0.833009 0.71867 1.12305 0.856781"  # FD bone's, as recorded
    rising = [0.8417, 0.8506, 0.943, 1.385, 3.43]
    close = "1.11357 0.579506 0.837142 0.783009 0.83867 1.02305 0.956781"  # the lead 0.0343, its error 0.0401
    far = "1.21357 0.899506 0.977142 1.06301 0.96867 1.36305 1.08678"  # the lead 0.24, its error 0.0031
    for fine_views, edge, on in ((close, "se", False), (close, "keep", True), (far, "se", True)):
        fine = choice(0.42, fine_views)
        bottom = choice(0.00806, pixel_views, rising, at_edge=True)
        kept, on_pixel = pixel_grid_check(fine, lambda: bottom, "plain", edge)
        assert on_pixel == on and kept is (bottom if on else fine) and kept.solves == 20
        if not on:
            assert "lam_cv_pixel_grid_edge=se, ratio 0.9609" in kept.details["lam_cv_pixel_grid"]
            assert "0.855 standard errors" in kept.details["lam_cv_pixel_grid"]
    inside = choice(0.355, pixel_views, [0.9, 0.85, 0.8417, 1.385, 3.43])
    kept, on_pixel = pixel_grid_check(choice(0.42, close), lambda: inside, "plain", "se")
    assert on_pixel and kept is inside
    # no per-view misfits (a ray mask's held-out rays): se decides as keep
    bare = Choice(lam=0.00806, rule="cv", sigma=1.0, noise_source="cv", solves=10, at_edge=True,
                  curve={"lam": lams, "criterion": np.array(rising)}, details={"lam_cv_raw_min": "0.8417"})
    kept, on_pixel = pixel_grid_check(Choice(lam=0.42, rule="cv", sigma=1.0, noise_source="cv", solves=10,
                                             at_edge=False, details={"lam_cv_raw_min": "0.8762"}),
                                      lambda: bare, "plain", "se")
    assert on_pixel and kept is bare
