"""cv on limited-range scans (regrun.tomography.fista_tv_weight: angular_coverage, solver.lam_cv_coverage_power;
docs/ct.md, "Limited-range scans (ctlimited)"): the share of line directions a scan measures, and the weight's
factor from it, which leaves a full scan's answer untouched."""
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.tomography.geometry import fan_beam, parallel_beam

F64 = torch.float64


def _parallel(deg):
    return parallel_beam((16, 16), torch.tensor(np.radians(deg), dtype=F64), 24)


def test_angular_coverage_of_limited_wedge_and_irregular_scans():
    from regrun.tomography.fista_tv_weight import angular_coverage

    k = np.arange(60)
    assert angular_coverage(_parallel(k * 3.0)) == 1.0  # 180 degrees, even
    assert angular_coverage(_parallel(k * 2.0)) == pytest.approx(120 / 180)  # 0-118: a 120-degree range
    assert angular_coverage(_parallel(k * 2.0 - 60)) == pytest.approx(120 / 180)  # a +-60 tilt series
    t = k * 140 / 60  # a missing wedge 60-100 (the rest of 180 evenly covered)
    assert angular_coverage(_parallel(np.where(t < 60, t, t + 40))) == pytest.approx(140 / 180)
    jit = k[:30] * 6.0 + np.random.default_rng(0).uniform(-2, 2, 30)  # +-2 degrees at 6: a full scan
    assert angular_coverage(_parallel(jit)) == 1.0
    golden = k[:40] * 180 * (math.sqrt(5) - 1) / 2 % 180  # unsorted, three gap sizes within 1.7x
    assert angular_coverage(_parallel(golden)) == 1.0
    fan = lambda deg: fan_beam((16, 16), torch.tensor(np.radians(deg), dtype=F64), 40, 1.0, 32.0, 16.0)
    assert angular_coverage(fan(k * 6.0)) == 1.0  # 360 degrees of sources
    assert angular_coverage(fan(k * 2.5)) == pytest.approx(150 / 180)  # sources over 150 degrees
    assert angular_coverage(fan(k * 4.5)) == 1.0  # 270 degrees of sources: every direction seen


def test_solver_scales_the_weight_by_the_coverage_only_on_a_limited_scan(device):
    """A 16^2, 12-view scan over 120 degrees: lam_cv_coverage_power p multiplies the answer by (2/3) ** -p (the
    search itself unchanged), recorded; over 180 degrees the answer is the one without it, bit for bit; the
    default (null) is the answer without it on the limited scan too."""
    from regrun.errors import UserError
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    out = {}
    for span in (120.0, 180.0):
        problem = CTFewView(config_section("problem", "ct_fewview", size=16, views=12, noise="poisson",
                                           photons=1e4, angle_range=span), ctx)
        for power in (None, 1.0, "default"):
            given = {} if power == "default" else {"lam_cv_coverage_power": power}
            cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=4, lam_cv_grid=3,
                                 lam_cv_fit_cap=None, **given)
            out[span, power] = FistaTV(cfg, ctx).solve(problem, Monitor())
    lam = {k: r.metrics["lam_chosen"] for k, r in out.items()}
    # the default is off since session 23 (docs/ct.md, "Limited-range fan scans and tilt series (ctfan)")
    assert lam[120.0, "default"] == lam[120.0, None] and "lam_cv_coverage" not in out[120.0, "default"].stats
    assert lam[120.0, 1.0] == pytest.approx(lam[120.0, None] * 1.5, rel=1e-9)
    assert "lam_cv_coverage" in out[120.0, 1.0].stats and "lam_cv_coverage" not in out[120.0, None].stats
    assert lam[180.0, 1.0] == lam[180.0, None] and "lam_cv_coverage" not in out[180.0, 1.0].stats
    assert out[180.0, 1.0].solution["x"].device.type == device.type
    with pytest.raises(UserError, match="solver.lam_cv_coverage_power"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_coverage_power=-1.0), ctx)


def test_block_split_holds_out_runs_of_neighbouring_angles():
    """solver.lam_cv_layout=blocks: as many views held out as every fold-th view, in `blocks` runs of neighbouring
    angles (the angles' order, not the file's), none at the range's ends."""
    from regrun.tomography.fista_tv_weight import block_split, view_split

    rng = np.random.default_rng(0)
    angles = np.arange(45) * 150 / 45
    for blocks in (1, 2, 3):
        train, held = block_split(angles, 8, None, blocks)
        assert len(held) == len(view_split(45, 8)[1]) == 6 and len(train) + len(held) == 45
        runs = np.split(held.numpy(), np.nonzero(np.diff(held.numpy()) > 1)[0] + 1)
        assert len(runs) == blocks and 0 not in held and 44 not in held
    assert block_split(angles, 8, None, 1)[1].tolist() == [22, 23, 24, 25, 26, 27]
    perm = rng.permutation(45)  # a file's views out of angle order: the same angles held out
    train, held = block_split(angles[perm], 8, None, 1)
    assert sorted(perm[held.numpy()].tolist()) == [22, 23, 24, 25, 26, 27]


def test_solver_blocks_layout_changes_only_which_views_are_held_out(device):
    """A 16^2, 24-view fan over 150 degrees: the default layout (interleaved) is the solver's answer without the
    setting, bit for bit; blocks (one run of views) and band (a wedge of directions) hold out other data (another
    answer) and say so in the stats."""
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    problem = CTFewView(config_section("problem", "ct_fewview", size=16, views=24, noise="poisson", photons=1e4,
                                       geometry="fan", angle_range=150.0), ctx)
    out = {}
    for layout in ("default", "interleaved", "blocks", "band"):
        given = {} if layout == "default" else {"lam_cv_layout": layout, "lam_cv_blocks": 1}
        cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=4, lam_cv_grid=3, **given)
        out[layout] = FistaTV(cfg, ctx).solve(problem, Monitor())
    lam = {k: r.metrics["lam_chosen"] for k, r in out.items()}
    assert lam["default"] == lam["interleaved"] and "lam_cv_layout" not in out["default"].stats
    assert lam["blocks"] != lam["interleaved"] and "1 run(s)" in out["blocks"].stats["lam_cv_layout"]
    assert lam["band"] not in (lam["interleaved"], lam["blocks"]) and "rays of a band" in out["band"].stats[
        "lam_cv_layout"]
    assert out["blocks"].solution["x"].device.type == device.type
    # auto: on a limited-range fan the larger of the two answers, both searches' runs counted; interleaved on a
    # full fan (bit for bit)
    cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=4, lam_cv_grid=3, lam_cv_layout="auto")
    auto = FistaTV(cfg, ctx).solve(problem, Monitor())
    assert auto.metrics["lam_chosen"] == max(lam["interleaved"], lam["band"])
    # the kept answer's run on all views alone (ctcost): its reconstruction bit for bit, one run fewer than both
    won = out["band" if lam["band"] > lam["interleaved"] else "interleaved"]
    assert torch.equal(auto.solution["x"], won.solution["x"])
    both = out["interleaved"].metrics["lam_solves"] + out["band"].metrics["lam_solves"]
    assert auto.metrics["lam_solves"] == both - 1
    assert "the larger of interleaved" in auto.stats["lam_cv_layout"]
    full = CTFewView(config_section("problem", "ct_fewview", size=16, views=24, noise="poisson", photons=1e4,
                                    geometry="fan"), ctx)
    plain = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=4, lam_cv_grid=3)
    assert (FistaTV(cfg, ctx).solve(full, Monitor()).metrics["lam_chosen"]
            == FistaTV(plain, ctx).solve(full, Monitor()).metrics["lam_chosen"])


def test_band_split_holds_out_a_wedge_of_directions():
    """solver.lam_cv_layout=band: on a parallel beam the rays of block_split's one run of views; on a fan the rays
    of every view whose direction lies in that band, which spreads over more views, and no training ray's
    direction lies inside it."""
    from regrun.tomography.fista_tv_weight import band_split, block_split, ray_directions

    deg = np.arange(40) * 150 / 40
    par = _parallel(deg)
    train, held = band_split(par, 8)
    assert held.shape == (40, 24) and (held.all(1) | ~held.any(1)).all()  # whole views
    assert torch.nonzero(held.any(1)).flatten().tolist() == block_split(par.angles, 8, None, 1)[1].tolist()
    # sources over 50-200 degrees: the band's directions (the source angle + 90) near 40, away from the wrap at pi
    fan = fan_beam((16, 16), torch.tensor(np.radians(deg + 50), dtype=F64), 40, 1.0, 32.0, 16.0)
    train, held = band_split(fan, 8)
    theta = ray_directions(fan)
    assert int(held.any(1).sum()) > 8 and not (held.all(1)).all()  # parts of many views
    inside = theta[held]
    lo, hi = float(inside.min()), float(inside.max())
    assert hi - lo < math.radians(30) and not ((theta[train] > lo) & (theta[train] < hi)).any()
    assert torch.equal(train, ~held)


def test_unmeasured_lines_and_coverage_weights():
    """solver.lam_cv_weighting: a parallel beam over 0-146.25 degrees (its rays' directions 90 on) leaves lines
    only in the directions it misses (56.25-90, less a margin each side) unmeasured, none between its views; a
    full fan none (no weights: unweighted); the held-out rays' weights have mean 1 and are largest in the held-out
    view nearest the range's end."""
    from regrun.tomography.fista_tv_weight import coverage_weights, unmeasured_distance, view_split

    deg = np.arange(40) * 150 / 40
    dist, cell, r, g = unmeasured_distance(_parallel(deg))
    assert g == pytest.approx(8 * math.radians(150 / 40))  # r = 8 px x the view spacing
    rows = torch.nonzero(torch.as_tensor((dist == 0).any(1))).flatten().numpy() * cell / r  # theta of the cells
    assert 0.03 < float((dist == 0).mean()) < 30 / 180
    assert rows.min() > math.radians(56.25) and rows.max() < math.radians(90)
    assert unmeasured_distance(fan_beam((16, 16), torch.tensor(np.radians(np.arange(40) * 9.0), dtype=F64), 40,
                                        1.0, 32.0, 16.0)) is None
    held = view_split(40, 8)[1]  # views 4, 12, ..., 36: 36 nearest the range's end (150 degrees)
    w, note = coverage_weights(_parallel(deg), held, 1.0)
    assert w.shape == (5, 24) and float(w.mean()) == pytest.approx(1.0) and "1 / (1 + d / (1 x" in note
    peak = w.max(1).values
    assert int(peak.argmax()) == 4 and float(peak[4]) > 2 * float(peak[2])


def test_solver_coverage_weighting_is_opt_in(device):
    """A 16^2, 24-view fan over 150 degrees: lam_cv_weighting null (the default) is the solver's answer without it,
    bit for bit; 1 weights the held-out rays (another answer, said in the stats); on a full fan 1 changes nothing."""
    from regrun.errors import UserError
    from regrun.problems.ct_fewview import CTFewView
    from regrun.solvers.fista_tv import FistaTV

    ctx = RunContext(device, F64, 0, Path("."))
    out = {}
    for scan in (150.0, 360.0):
        problem = CTFewView(config_section("problem", "ct_fewview", size=16, views=24, noise="poisson", photons=1e4,
                                           geometry="fan", angle_range=scan), ctx)
        for k in ("default", None, 1.0):
            given = {} if k == "default" else {"lam_cv_weighting": k}
            cfg = config_section("solver", "fista_tv", lam="auto", iters=10, lam_solves=4, lam_cv_grid=3, **given)
            out[scan, k] = FistaTV(cfg, ctx).solve(problem, Monitor())
    lam = {k: r.metrics["lam_chosen"] for k, r in out.items()}
    assert lam[150.0, "default"] == lam[150.0, None] and "lam_cv_weighting" not in out[150.0, "default"].stats
    assert lam[150.0, 1.0] != lam[150.0, None] and "unmeasured line" in out[150.0, 1.0].stats["lam_cv_weighting"]
    assert lam[360.0, 1.0] == lam[360.0, None] and "lam_cv_weighting" not in out[360.0, 1.0].stats
    assert out[150.0, 1.0].solution["x"].device.type == device.type
    with pytest.raises(UserError, match="solver.lam_cv_weighting"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_weighting=-1.0), ctx)
