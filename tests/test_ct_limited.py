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
