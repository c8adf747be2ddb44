"""GCV's one-standard-error walk (registration/superres_se.py, problem.lam_se_t): the frames' GCV terms add up to
GCV, the walk's paired bar, a run's metrics and phase, bad settings and the default (off)."""
import math
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion
from regrun.registration.superres_se import SE_MAX_STEPS, SE_STEP, se_walk
from regrun.registration.superres_weight import evaluate_at, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG
from test_superres_cv import problem

F64 = torch.float64


def curve(rise: float, spread: float, frames: int = 6):
    """Per-frame GCV terms: at log-step j above 1 each frame's term rises by `rise` on average, the frames
    disagreeing by +-spread per step."""
    offs = torch.linspace(-1.0, 1.0, frames, dtype=F64) * spread

    def terms(lam: float) -> torch.Tensor:
        j = round(math.log(lam) / math.log(SE_STEP))
        return 10.0 + j * (rise + offs)

    return terms


def test_the_walk_goes_up_while_the_rise_is_within_the_frames_spread():
    """A rise the frames disagree on (mean under t standard errors) is taken, SE_MAX_STEPS at most; one the frames
    agree on is not; a larger bar takes more; one frame (no error bar) never steps."""
    flat = curve(rise=0.01, spread=1.0)  # t of a step: 0.01 / (sd 0.75 / sqrt 6) ~ 0.03
    assert se_walk(flat, 1.0, 0.5) == pytest.approx(SE_STEP**SE_MAX_STEPS)
    assert se_walk(flat, 1.0, 0.5, steps=2) == pytest.approx(SE_STEP**2)
    sharp = curve(rise=1.0, spread=0.1)  # every frame rises: t ~ 33
    assert se_walk(sharp, 1.0, 0.5) == 1.0
    assert se_walk(sharp, 1.0, 100.0) == pytest.approx(SE_STEP**SE_MAX_STEPS)
    # the rise grows with the distance from the start while the spread does too: t constant, ~1.3 here
    middle = curve(rise=0.4, spread=1.0)
    assert se_walk(middle, 1.0, 0.5) == 1.0 and se_walk(middle, 1.0, 2.0) == pytest.approx(SE_STEP**SE_MAX_STEPS)
    assert se_walk(curve(0.0, 1.0, frames=1), 1.0, 0.5) == 1.0


def test_the_frames_terms_add_up_to_gcv(device):
    """evaluate_at's per-frame misfits sum to its rss, so the walk's terms sum to the search's GCV."""
    p = problem(device, lambda_f="auto")
    evaluate, sigma, _ = weight_evaluator(p, p.w_true, p.weight_settings, torch.Generator(device).manual_seed(0))
    s = p.weight_settings
    for lam in (0.02, 0.2):
        fit = evaluate_at(p.model, evaluate.solve, evaluate.probes, lam)
        assert fit.units.shape == (p.model.q + 1,) and fit.units.device.type == device.type
        assert float(fit.units.sum()) == pytest.approx(fit.rss, rel=1e-12)
        gcv = criterion(s.rule, fit, sigma, s.tau, s.gamma)
        assert float((gcv / fit.rss * fit.units).sum()) == pytest.approx(gcv, rel=1e-12)


@pytest.mark.parametrize("t", [None, 0.5, 100.0])
def test_a_run_walks_up_and_records_it(device, t):
    """lambda_f=auto with problem.lam_se_t: the answer's weight is the walk's end, steps of SE_STEP up from the
    weight in use; the metrics, the phase and the message say so. Off (null): no phase, no metrics. (On this small
    set 0.5 took no step on the CPU, 100 takes all four: both paths.)"""
    p = problem(device, lambda_f="auto", lam_se_t=t, lam_solves=6, lam_split_steps=0)
    ctx = RunContext(device, F64, 0, Path("."))
    names, phase = [], ctx.phase
    ctx.phase = lambda name, *a, **k: names.append(name) or phase(name, *a, **k)
    res = VarProCG(config_section("solver", "varpro_cg", max_iter=3), ctx).solve(p, Monitor())
    met = res.metrics
    assert ("lambda_f by GCV's one-standard-error walk" in names) == (t is not None)
    assert ("lam_se_from" in met) == (t is not None)
    if t is None:
        return
    ratio = met["lam_chosen"] / met["lam_se_from"]
    k = round(math.log(ratio) / math.log(SE_STEP))
    assert 0 <= k <= SE_MAX_STEPS and ratio == pytest.approx(SE_STEP**k)
    assert met["lam_chosen"] == pytest.approx(p.model.lam) and met["lam_se_evaluations"] == min(k + 2, SE_MAX_STEPS + 1)
    assert ("one-standard-error walk" in res.message) == (k > 0)
    if t == 100.0:
        assert k == SE_MAX_STEPS
    if k > 0:
        assert p.weight_choice.details["lam_moved_by"] == f"GCV's one-SE walk from {met['lam_se_from']:.3g}"


@pytest.mark.parametrize("value", [-1.0, "half", float("nan")])
def test_bad_settings_are_one_line_errors(value):
    with pytest.raises(UserError, match="problem.lam_se_t"):
        problem(torch.device("cpu"), lam_se_t=value)


def test_the_default_in_yaml_is_off():
    assert config_section("problem", "superres").lam_se_t is None
