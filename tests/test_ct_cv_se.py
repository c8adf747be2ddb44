"""cv's one-standard-error walk (regrun.tomography.fista_tv_weight: one_se_weight, solver.lam_cv_se): the weight
where the held-out misfit's rise over its lowest crosses k standard errors of the held-out views' own noise, and
the search's use of it (docs/ct.md, "(ctcat15)")."""
import math
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext

F64 = torch.float64


def test_one_se_weight_walks_up_to_where_the_rise_crosses_k_standard_errors(device):
    from regrun.tomography.fista_tv_weight import one_se_weight

    r0 = torch.zeros(2, 50, dtype=F64, device=device)
    d1 = torch.full_like(r0, 0.1)  # the prediction at weight 1 differs from the best's by 0.1 in every bin
    d10 = torch.full_like(r0, 0.5)
    residuals = {0.1: [(r0 + 1.0, 100, 2)], 1.0: [(r0 + 1.0 + d1, 100, 2)], 10.0: [(r0 + 1.0 + d10, 100, 2)],
                 0.01: [(r0 + 3.0, 100, 2)]}
    seen = [(0.01, 9.0), (0.1, 1.0), (1.0, 1.008), (10.0, 1.5)]
    noise = 0.25
    # SE of the rise at a weight: 2 sqrt(noise * sum d^2) / m = 2 sqrt(0.25 * 100 d^2) / 100 = d / 10
    se1, se10 = 0.01, 0.05
    walked, line = one_se_weight(seen, residuals, noise, 1.0)
    g1, g10 = 0.008 - se1, 0.5 - se10  # weight 1 is within one SE (0.008 <= 0.01), weight 10 is not
    t = -g1 / (g10 - g1)
    assert walked == pytest.approx(math.exp(t * math.log(10.0)), rel=1e-9)
    assert line.startswith(f"{walked:.4g} (1 SE above the lowest misfit's 0.1") and "10: +0.5 (0.05)" in line
    # half an SE allowed (0.005 at weight 1): weight 1 is out already, and at the lowest misfit's weight the excess
    # is 0, so the crossing is there
    assert one_se_weight(seen, residuals, noise, 0.5)[0] == pytest.approx(0.1, rel=1e-9)
    # no noise: nothing is within the noise of the lowest misfit, the walk stays at the best weight
    assert one_se_weight(seen, residuals, 1e-30, 1.0)[0] == pytest.approx(0.1)
    # a lot of noise: every weight tried is within it, the walk ends at the largest
    assert one_se_weight(seen, residuals, 1e6, 1.0)[0] == pytest.approx(10.0)


def test_cv_se_moves_the_pick_only_where_the_curve_is_flat_within_the_noise(device, monkeypatch):
    """The search with the walk on: with the held-out views' noise taken as tiny it answers as without it, bit for
    bit (the details add the walk's line); taken as huge, every weight tried is within one SE and the pick is the
    largest weight tried (times the scale), the runs the same; a bad value is one line."""
    from regrun.errors import UserError
    from regrun.optim import parameter_choice as pc
    from regrun.solvers.fista_tv import FistaTV
    from regrun.tomography import fista_tv_weight as fw
    from regrun.tomography.fista_tv import make_fista

    from test_model_resolution import ct_problem

    p = ct_problem(device)
    fista = make_fista(p, config_section("solver", "fista_tv", iters=20), None)
    s = pc.ChoiceSettings(rule="cv", noise=None, lo=0.05, hi=5.0, solves=5, probes=1)

    def run(se, noise):
        monkeypatch.setattr(fw, "noise_variance", lambda b, geometry: (noise, "test"))
        return fw.choose_by_view_cv(p, fista, 20, s, 4, 20, 1.0, "raw", "none", grid=3, se_walk=se)

    off, tiny = run(None, 1e-12), run(1.0, 1e-12)
    assert tiny.lam == off.lam and torch.equal(tiny.state, off.state) and tiny.solves == off.solves
    assert "lam_cv_se_from" not in tiny.details and tiny.details["lam_cv_se"].startswith(
        f"{float(off.curve['lam'][off.curve['criterion'].argmin()]):.4g} (1 SE")
    huge = run(1.0, 1e9)
    assert huge.lam == pytest.approx(max(huge.curve["lam"]), rel=1e-9) and huge.lam > off.lam
    assert huge.details["lam_cv_se_from"] == off.details["lam_cv_pick"] and huge.solves == off.solves
    with pytest.raises(UserError, match="solver.lam_cv_se"):
        FistaTV(config_section("solver", "fista_tv", lam_cv_se=-1.0), RunContext(torch.device("cpu"), F64, 0,
                                                                                 Path(".")))
