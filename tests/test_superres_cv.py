"""Leave-frames-out cross-validation of lambda_f (registration/superres_cv.py, problem.lam_cv_steps): the CV equals
refitting without each frame by brute force (closed form and PCG refit), the walk from the rule's weight, the
run's metrics, and bad settings. The frame-split risk (problem.lam_split_steps): the two halves' data terms add up
to the whole's, its walk, a run's metrics and bad settings."""
from pathlib import Path

import pytest
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.registration.superres_cv import (CV_STEP, cv_walk, frames_cv_curve, half_model, held_out, mask_model,
                                            paired_t, split_walk)
from test_superres_check import problem as check_problem

F64 = torch.float64


def problem(device, **cfg):
    """test_superres_check's small frame set, with 6 frames."""
    return check_problem(device, **{"n_frames": 6, **cfg})


def brute_force_cv(m, w, lam: float) -> float:
    """Each moved frame left out in turn: the exact image from the others' rows (dense normal equations), its
    prediction of the left-out frame's kept pixels."""
    m.set_weight(lam)
    gram, rhs = m.normal_matrix(w), m.dense_operator(w).rmatvec(m.b)
    frames = list(range(1, m.q + 1))
    rows, hd = m.moved_rows(w, frames), m.coarse.cell_volume
    data = (m.frames * m.data_mask())[frames].reshape(len(frames), -1)
    total = 0.0
    for p_k, d_k in zip(rows, data):
        f_k = torch.linalg.solve(gram - hd * p_k.T @ p_k, rhs - hd * p_k.T @ d_k)
        total += float((d_k - p_k @ f_k).pow(2).sum())
    return total


@pytest.mark.parametrize("dense", [True, False])
def test_cv_is_the_brute_force_refit_without_each_frame(device, monkeypatch, dense):
    """CV(lam) over every moved frame: the closed form (dense path) and the PCG refit beyond the dense limit both
    equal refitting without each frame, at three weights."""
    import regrun.registration.superres_cv as cvmod

    p = problem(device, lambda_f=0.05)
    m, w = p.model, p.w_true
    if not dense:
        monkeypatch.setattr(cvmod, "CV_DENSE_MAX_PIXELS", 0)
    cv, values = frames_cv_curve(m, w, held_out(m, 0))
    lams = (0.02, 0.05, 1.0)  # (at 0.003 the refit to REFIT_RTOL agrees to 6e-5 only: the system is near singular)
    got = [float(cv(lam).sum()) for lam in lams]
    want = [brute_force_cv(m, w, lam) for lam in lams]
    for g, b in zip(got, want):
        assert g == pytest.approx(b, rel=1e-9 if dense else 1e-5)
    assert len(values) == 3 and float(cv(0.05).sum()) == got[1] and len(values) == 3  # each weight solved once


def test_held_out_frames_setting():
    p = problem(torch.device("cpu"), lambda_f=0.05)
    assert held_out(p.model, 0) == [1, 2, 3, 4, 5]
    assert held_out(p.model, 2) == [1, 2] and held_out(p.model, 99) == [1, 2, 3, 4, 5]


def test_the_walk_goes_downhill_by_steps_of_sqrt2_where_the_frames_agree():
    """From lam: one step either way; on towards the passing side while each step's per-frame falls pass the paired
    t test, `steps` steps at most; a fall the frames disagree on is not taken."""
    import math

    def bowl(centre, spread=0.0):  # five frames' errors, each a bowl in log lam; spread: frames that disagree
        offs = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=F64) * spread
        return lambda lam: (math.log(lam / centre)) ** 2 + offs * math.log(lam) + 10.0

    assert cv_walk(bowl(1.0), 1.0, 3) == 1.0  # at the minimum: stays
    assert cv_walk(bowl(0.25), 1.0, 3) == pytest.approx(1 / CV_STEP**3)  # capped at 3 steps down
    assert cv_walk(bowl(0.25), 1.0, 8) == pytest.approx(0.25)  # stops at the minimum (4 steps)
    assert cv_walk(bowl(2.1), 1.0, 5) == pytest.approx(2.0)  # up, the nearest step to the minimum
    assert cv_walk(bowl(0.25), 1.0, 0) == 1.0  # off
    # the mean falls by a step but the frames disagree (some rise): t ~ 0.5, under the bar
    assert paired_t(bowl(0.7, 1.0)(1.0), bowl(0.7, 1.0)(1 / CV_STEP)) < 3
    assert cv_walk(bowl(0.7, 1.0), 1.0, 3, t=3.0) == 1.0
    assert cv_walk(bowl(0.7, 1.0), 1.0, 3, t=0.0) == pytest.approx(1 / CV_STEP)
    seen = []
    cv_walk(lambda lam: seen.append(lam) or bowl(1.0)(lam), 1.0, 3)
    assert len(seen) == 3  # the weight and its two neighbours only
    assert math.isnan(paired_t(torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)))  # one frame: no test


def test_a_run_moves_the_weight_to_the_lower_cv_and_records_it(device):
    """lambda_f=auto with problem.lam_cv_steps: the weight the answer uses is the walk's end, CV there no higher
    than at the rule's weight; the metrics say from where and at what cost."""
    import math

    from regrun.monitor import Monitor
    from regrun.registration.superres_weight import recheck
    from regrun.solvers.varpro_cg import VarProCG

    p = problem(device, lambda_f="auto", lam_cv_steps=3, lam_cv_t=0.0, lam_solves=6, lam_split_steps=0)
    ctx = RunContext(device, F64, 0, Path("."))
    res = VarProCG(config_section("solver", "varpro_cg", max_iter=3), ctx).solve(p, Monitor())
    met = res.metrics
    met.update(recheck(p, res.solution["w"], ctx))
    # every metric finite: a NaN marks the run diverged (the rule's value at a weight the walk moved off its curve)
    assert all(math.isfinite(v) for v in met.values() if isinstance(v, float))
    assert met["lam_chosen"] == pytest.approx(p.model.lam)
    assert met["lam_cv_frames"] == p.model.q and 3 <= met["lam_cv_evaluations"] <= 5
    assert met["lam_cv_fall"] >= 0
    ratio = met["lam_chosen"] / met["lam_cv_from"]
    assert any(ratio == pytest.approx(CV_STEP**k) for k in range(-3, 4))
    if ratio != pytest.approx(1.0):
        assert "leave-frames-out cross-validation" in res.message
        assert p.weight_choice.details["lam_moved_by"] == f"cross-validation from {met['lam_cv_from']:.3g}"


@pytest.mark.parametrize("steps", [0, 1])
def test_the_walk_announces_its_phase_only_when_it_runs(device, steps, monkeypatch):
    """With the walk off (problem.lam_cv_steps: 0, the default) the run's log has no line for it (it said
    "... cross-validation done in 0.0 s" on every auto run); on, the phase is announced."""
    from regrun.monitor import Monitor
    from regrun.solvers.varpro_cg import VarProCG

    import regrun.registration.superres_cv as cv_module

    monkeypatch.setattr(cv_module, "SPLIT_MIN_FRAME", 0)  # the test's 8 px frames: the walk run as on larger ones
    p = problem(device, lambda_f="auto", lam_cv_steps=steps, lam_solves=4, lam_split_steps=steps)
    ctx = RunContext(device, F64, 0, Path("."))
    names, phase = [], ctx.phase
    ctx.phase = lambda name, *a, **k: names.append(name) or phase(name, *a, **k)
    res = VarProCG(config_section("solver", "varpro_cg", max_iter=2), ctx).solve(p, Monitor())
    assert ("lambda_f by leave-frames-out cross-validation" in names) == (steps == 1)
    assert ("lambda_f by the frame-split risk" in names) == (steps == 1)
    met = res.metrics
    assert ("lam_split_from" in met) == (steps == 1)
    if steps == 1:  # the split's walk: from the weight CV left, one step down (its reference) to one up at most,
        ratio = met["lam_chosen"] / met["lam_split_from"]  # a move up walked again in quarter steps (lam_split_refine)
        assert any(ratio == pytest.approx(CV_STEP**k) for k in (-1, 0, 0.5, 1))
        assert met["lam_chosen"] == pytest.approx(p.model.lam) and met["lam_split_evaluations"] in (3.0, 4.0, 5.0, 6.0)
        assert ("then the frame-split walk from" in res.message) == (ratio != pytest.approx(1.0))
    assert any(n.startswith("lambda_f choice") for n in names)  # the recorder saw the search's own phases


@pytest.mark.parametrize("key,value", [("lam_cv_steps", -1), ("lam_cv_steps", 1.5), ("lam_cv_frames", "all"),
                                       ("lam_cv_t", -1.0), ("lam_cv_t", float("nan")), ("lam_split_steps", -1),
                                       ("lam_split_steps", 1.5), ("lam_split_down", -1), ("lam_split_down", "two"),
                                       ("lam_split_max_frame", 16), ("lam_split_max_frame", 64.5),
                                       ("lam_split_step", 1.0), ("lam_split_step", "two"),
                                       ("lam_split_refine", 0), ("lam_split_refine", 2.0),
                                       ("lam_split_refine_down", 0), ("lam_split_refine_down", "two"),
                                       ("lam_split_down_gap", -1), ("lam_split_down_gap", 1.5)])
def test_bad_settings_are_one_line_errors(key, value):
    with pytest.raises(UserError, match=f"problem.{key}"):
        problem(torch.device("cpu"), **{key: value})


@pytest.mark.parametrize("bounds", [(16, 64), (0, 4)])
def test_the_split_walk_skips_small_and_large_frames(device, monkeypatch, bounds):
    """Frames of 16 px a side or less (superres_cv.SPLIT_MIN_FRAME; the test's are 8 px) or over
    problem.lam_split_max_frame keep the weight in use: no metrics."""
    import regrun.registration.superres_cv as cv_module
    from regrun.monitor import Monitor
    from regrun.solvers.varpro_cg import VarProCG

    monkeypatch.setattr(cv_module, "SPLIT_MIN_FRAME", bounds[0])
    p = problem(device, lambda_f="auto", lam_solves=4, lam_split_steps=2, lam_split_max_frame=bounds[1])
    ctx = RunContext(device, F64, 0, Path("."))
    res = VarProCG(config_section("solver", "varpro_cg", max_iter=2), ctx).solve(p, Monitor())
    assert "lam_split_from" not in res.metrics


def test_the_default_in_yaml():
    cfg = config_section("problem", "superres")
    assert isinstance(cfg.lam_cv_steps, int) and cfg.lam_cv_frames == 0
    assert isinstance(cfg.lam_split_steps, int) and cfg.lam_split_steps >= 0
    assert cfg.lam_split_step == CV_STEP  # the walk's step at the default is the grid's, bit for bit
    assert cfg.lam_split_refine == 2  # quarter steps where the walk moved up (srwalk3)
    assert cfg.lam_split_refine_down == 1  # a move down kept at sqrt(2) (srdown)
    assert cfg.lam_split_down_gap == 0  # the step down against the step up's reference, the lower weight (srdown)


def test_the_halves_data_terms_add_up_to_the_whole(device):
    """half_model keeps frames 0, 2, ... or 1, 3, ... (and mask_model a checkerboard of each frame's pixels or its
    complement): with no frame (the regulariser alone) beside the whole, the halves' normal operators and right-hand
    sides add up to the whole's (each data row in exactly one half), and a
    half's normal equations are those of a model built from its frames alone (frame 0 kept: the same reference)."""
    from regrun.registration.superres_model import SuperResModel

    p = problem(device)
    m = p.model
    w = m.identity + 0.05 * torch.randn(m.n_params, dtype=F64, generator=torch.Generator().manual_seed(3)).to(device)
    whole, a, b, none = m, half_model(m, [0, 2, 4]), half_model(m, [1, 3, 5]), half_model(m, [])
    x = torch.randn(m.n, dtype=F64, generator=torch.Generator().manual_seed(4)).to(device)
    normal = {k: v.operator(w, fixed=True).normal()(x) for k, v in dict(whole=whole, a=a, b=b, none=none).items()}
    assert torch.allclose(normal["whole"] + normal["none"], normal["a"] + normal["b"], rtol=1e-10, atol=1e-10)
    rhs = {k: v.operator(w, fixed=True).rmatvec(v.b) for k, v in dict(whole=whole, a=a, b=b).items()}
    assert torch.allclose(rhs["whole"], rhs["a"] + rhs["b"], rtol=1e-10, atol=1e-10)
    # mask_model with a checkerboard of each frame's pixels and its complement (srsplit's pixel split): the same sums
    odd = (torch.arange(m.frames.shape[-2], device=device)[:, None] + torch.arange(m.frames.shape[-1], device=device)
           + torch.arange(m.q + 1, device=device)[:, None, None]) % 2
    pa, pb = (mask_model(m, (odd == s).to(F64)) for s in (0, 1))
    ops = [h.operator(w, fixed=True) for h in (pa, pb)]
    assert torch.allclose(normal["whole"] + normal["none"], ops[0].normal()(x) + ops[1].normal()(x), rtol=1e-10,
                          atol=1e-10)
    assert torch.allclose(rhs["whole"], ops[0].rmatvec(pa.b) + ops[1].rmatvec(pb.b), rtol=1e-10, atol=1e-10)
    alone = SuperResModel(m.frames[[0, 2, 4]], m.fine, m.factor, m.lam, m.outside, m.gain)
    alone.keep = m.keep[[0, 2, 4]] if m.keep is not None else None  # outside=drop's mask, as the whole's
    alone.b = alone.rhs(alone.frames)
    w_alone = w.reshape(m.q, m.stride)[[1, 3]].reshape(-1)  # frame j's motion is row j - 1
    op_half, op_alone = a.operator(w, fixed=True), alone.operator(w_alone, fixed=True)
    assert torch.allclose(op_half.normal()(x), op_alone.normal()(x), rtol=1e-10, atol=1e-10)
    assert torch.allclose(op_half.rmatvec(a.b), op_alone.rmatvec(alone.b), rtol=1e-10, atol=1e-10)


def test_the_split_walk_moves_its_reference_up_and_goes_down_against_a_lower_one():
    """risk(at, ref) = ||f(at) - f(ref)||^2 + D(at) . D(ref) / 2. Up: against the reference one step under the
    weight reached (it moves with the walk: a fixed one stops a step short here), capped at `steps`. Without a step
    up, down: against a reference SPLIT_DOWN_GAP (2) steps under the lower weight, capped at `down`; steps 0
    evaluates nothing."""
    import math

    from regrun.registration.superres_cv import SPLIT_DOWN_GAP

    assert SPLIT_DOWN_GAP == 2
    lam0 = 0.2
    u = torch.tensor([1.0, 0.0], dtype=F64)

    def curve(a):  # step k (lam0 sqrt2^k) -> (a_k u, 0): risk(k, r) = (a_k - a_r)^2
        def images(lam):
            k = round(math.log(lam / lam0) / math.log(CV_STEP))
            return a[k] * u, 0 * u
        return images

    up = {-1: 0.0, 0: 4.0, 1: 2.0, 2: 3.0, 3: 0.0}  # against -1: 1 (4) < 0 (16); against 0: 2 (1) < 1 (4); against
    lam, risks = split_walk(curve(up), lam0, 3)  # 1: 3 (4) > 2 (1). Against a fixed -1, 2 (9) would not beat 1 (4)
    assert lam == pytest.approx(lam0 * CV_STEP**2) and sorted(risks.values()) == [1.0, 1.0, 4.0, 4.0, 4.0, 16.0]
    assert split_walk(curve(up), lam0, 1)[0] == pytest.approx(lam0 * CV_STEP)  # capped at one step up
    # no step up (against -1, step 1's risk 1 equals step 0's); down against -3: -1 (1) < 0 (4); then -2 (25)
    # against -4 does not beat -1 (1)
    down = {-4: 0.0, -3: 0.0, -2: 5.0, -1: 1.0, 0: 2.0, 1: 2.0}
    assert split_walk(curve(down), lam0, 2, down=2)[0] == pytest.approx(lam0 / CV_STEP)
    assert split_walk(curve(down), lam0, 2, down=0)[0] == pytest.approx(lam0)
    assert split_walk(curve(down), lam0, 2, down=1, gap=1)[0] == pytest.approx(lam0)  # against -2: 16 > 9, stays
    assert split_walk(curve(down), lam0, 0) == (lam0, {})
    from types import SimpleNamespace

    from regrun.registration.superres_cv import split_down
    # halves of 8 at factor 2: down against a reference two under; fewer: srburst's one step to its own reference
    assert [split_down(SimpleNamespace(q=q, factor=2), 3) for q in (7, 14, 15)] == [(1, 0), (1, 0), (3, 2)]
    assert split_down(SimpleNamespace(q=7, factor=2), 0) == (0, 0)
    # gap 0 (the reference is the lower weight itself): risk(-1, -1) = b_-1^2 / 2 against risk(0, -1); where the
    # reference's own noise term is the larger, it stays; one step at most below the gate even with down=3 above
    assert split_walk(curve(down), lam0, 2, *split_down(SimpleNamespace(q=7, factor=2), 3))[0] == pytest.approx(
        lam0 / CV_STEP)  # against -1: 0 < 1
    noisy = {-1: 1.0, 0: 2.0, 1: 2.0}  # d: 2 at -1, 0 elsewhere: risk(-1, -1) = 2 > risk(0, -1) = 1: stays

    def curve_d(a, b):
        def images(lam):
            k = round(math.log(lam / lam0) / math.log(CV_STEP))
            return a[k] * u, b.get(k, 0.0) * torch.tensor([0.0, 1.0], dtype=F64)
        return images

    assert split_walk(curve_d(noisy, {-1: 2.0}), lam0, 2, 1, 0)[0] == pytest.approx(lam0)
    assert split_walk(curve_d(noisy, {-1: 1.0}), lam0, 2, 1, 0)[0] == pytest.approx(lam0 / CV_STEP)  # 0.5 < 1


def test_the_split_walk_takes_steps_of_its_own_factor_against_a_reference_a_sqrt2_under():
    """problem.lam_split_step: the walk compares c * step with c against the reference c / sqrt(2) and moves by
    step; the readings read that first comparison and count its steps in it."""
    import math

    from regrun.registration.superres_cv import split_readings

    lam0, q = 0.2, 2**0.25
    u = torch.tensor([1.0, 0.0], dtype=F64)
    a = {-2: 0.0, -1: 0.0, 0: 4.0, 1: 3.0, 2: 2.0, 3: 5.0}  # quarter steps: against -2, 1 (9) < 0 (16); against -1,

    def images(lam):  # 2 (4) < 1 (9). With steps of sqrt(2) the walk would ask for 2 against -2: a different pair
        k = round(math.log(lam / lam0) / math.log(q))
        return a[k] * u, 0 * u

    lam, risks = split_walk(images, lam0, 2, step=q)
    assert lam == pytest.approx(lam0 * q**2) and sorted(risks.values()) == [4.0, 9.0, 9.0, 16.0]
    assert split_walk(images, lam0, 1, step=q)[0] == pytest.approx(lam0 * q)
    got = split_readings(images, lam0, lam, q)
    assert got["lam_split_fall"] == pytest.approx(16.0 - 9.0) and got["lam_split_moved"] == 2.0


def test_recheck_reports_no_rule_value_where_the_walk_landed_on_a_point_the_rule_never_valued():
    """The frame-split walk can end on a weight the search probed without the rule's value (the climb's points:
    criterion NaN); recheck then reports nothing there, never a NaN (which marked the run diverged, exit 3)."""
    from types import SimpleNamespace

    import numpy as np

    from regrun.optim.parameter_choice import Choice
    from regrun.registration.superres_weight import recheck

    curve = {"lam": np.array([0.4, 0.57]), "criterion": np.array([0.34, np.nan]),
             "rss": np.ones(2), "trace": np.ones(2)}
    weights = []
    model = SimpleNamespace(set_weight=weights.append, mean_anchor=False, reference_weight=lambda w: None)  # no gains
    problem = SimpleNamespace(model=model, weight_settings=None, weight_last_search=None, weight_moves=[0.08],
                              rechoose=SimpleNamespace(move=0.25))
    for lam, expected in [(0.57, {}), (0.4, {"lam_criterion_final_motion": 0.34}), (0.7, {})]:
        problem.weight_choice = Choice(lam=lam, rule="gcv", sigma=0.01, noise_source="given", solves=2,
                                       at_edge=False, curve=curve)
        assert recheck(problem, torch.zeros(1), None) == expected
    assert weights == [0.57, 0.4, 0.7]


def test_the_split_walks_readings_are_its_first_comparison():
    """split_readings: the risk's fall up from lam against the reference lam / CV_STEP is risk(lam) - risk(lam
    CV_STEP) as split_walk computes them; its parts, the noise trace D_r . D_r / 4, the per-pixel t and the steps
    taken (changes no answer: the walk's weight is the same)."""
    import math

    from regrun.registration.superres_cv import split_readings

    lam0, g = 0.2, torch.Generator().manual_seed(5)
    table = {k: (torch.randn(7, dtype=F64, generator=g), torch.randn(7, dtype=F64, generator=g)) for k in range(-4, 3)}

    def images(lam):
        return table[round(math.log(lam / lam0) / math.log(CV_STEP))]

    reached, risks = split_walk(images, lam0, 1)
    r = split_readings(images, lam0, reached)
    ref = lam0 / CV_STEP
    assert r["lam_split_fall"] == pytest.approx(risks[lam0, ref] - risks[lam0 * CV_STEP, ref], rel=1e-12)
    (f, d), (f_up, d_up), (f_r, d_r) = table[0], table[1], table[-1]
    assert r["lam_split_bias"] == pytest.approx(float((f_up - f_r).pow(2).sum() - (f - f_r).pow(2).sum()))
    assert r["lam_split_var"] == pytest.approx(0.25 * float(d_r.pow(2).sum()))
    e = (f_up - f_r).pow(2) - (f - f_r).pow(2) + 0.5 * (d_up - d) * d_r
    assert r["lam_split_t"] == pytest.approx(-float(e.sum()) / float(e.std() * math.sqrt(7)))
    assert r["lam_split_moved"] == {lam0 / CV_STEP: -1.0, lam0: 0.0, lam0 * CV_STEP: 1.0}[reached]
    assert split_readings(images, lam0, lam0 / CV_STEP)["lam_split_moved"] == -1.0


def split_at(monkeypatch, images, settings, frames: int = 15, lam0: float = 0.2):
    """superres_cv.frames_split from lam0 on a stub model of `frames` + 1 frames at factor 2 whose split images are
    `images` (lam -> (f, D)): (the weight adopted, the metrics less lam_split_s); the model's weight is set once,
    to it."""
    from types import SimpleNamespace

    import regrun.registration.superres_cv as cv_module
    from regrun.optim.parameter_choice import Choice
    from regrun.registration.superres_cv import frames_split

    monkeypatch.setattr(cv_module, "split_images", lambda model, w: (images, {}))
    weights = []
    model = SimpleNamespace(q=frames, factor=2, coarse=SimpleNamespace(m=(20, 20)), set_weight=weights.append)
    problem = SimpleNamespace(model=model, weight_cv=settings,
                              weight_choice=Choice(lam=lam0, rule="gcv", sigma=0.01, noise_source="given", solves=2,
                                                   at_edge=False, curve=None))
    out = frames_split(problem, torch.zeros(1))
    out.pop("lam_split_s")
    assert weights == [problem.weight_choice.lam]
    return problem.weight_choice.lam, out


def test_the_refined_walk_quarters_only_a_move_up(monkeypatch):
    """problem.lam_split_refine N: where the sqrt(2) walk moved up from lam0, the walk again from lam0 in steps of
    sqrt(2)^(1/N), each against the reference c / sqrt(2) under the weight c reached, at most N (the last lands on
    lam0 sqrt(2) itself, the first walk's image); where it stayed or went down, its answer and metrics are the
    walk's (N = 1, the default, never runs it)."""
    import math

    from regrun.registration.superres_cv import CVSettings, split_refine

    lam0, q = 0.2, 2**0.25
    u = torch.tensor([1.0, 0.0], dtype=F64)

    def curve(a, asked):  # quarter step k (lam0 q^k) -> (a_k u, 0): risk(k, r) = (a_k - a_r)^2
        def images(lam):
            asked.append(lam)
            k = round(math.log(lam / lam0) / math.log(q))
            return a[k] * u, 0 * u
        return images

    # sqrt(2) walk: 2 against -2 (9) < 0 (16): up; 4 against 0 (9216) > 2 (1): stops at one step (index 2).
    # Quarters: 1 against -2 (4) < 0 (16): up; 2 against -1 (9) > 1 (4): stops at index 1
    one = {-2: 0.0, -1: 0.0, 0: 4.0, 1: 2.0, 2: 3.0, 4: 99.0}
    assert split_refine(curve(one, []), lam0, 2) == pytest.approx(lam0 * q)
    both = {**one, 2: 1.0, 4: 99.0}  # 2 against -1 (1) < 1 (4): the second quarter too, onto lam0 sqrt(2) exactly
    asked = []
    assert split_refine(curve(both, asked), lam0, 2) == lam0 * CV_STEP and lam0 * CV_STEP in asked
    assert split_refine(curve({**one, 1: 5.0}, []), lam0, 2) == lam0  # the first quarter loses: lam0, never below

    def run(a, refine):
        return split_at(monkeypatch, curve(a, []), CVSettings(0, 0, 0.0, split_steps=2, split_refine=refine))

    lam, out = run(one, 2)
    assert lam == pytest.approx(lam0 * q) and out["lam_split_coarse"] == pytest.approx(lam0 * CV_STEP)
    assert run(one, 1)[0] == pytest.approx(lam0 * CV_STEP) and "lam_split_coarse" not in run(one, 1)[1]
    # the walk stays (2 against -2: 16 > 0, no step up; down (halves of 8: against two sqrt(2) steps under the
    # lower weight): -2 against -6, 16 = 16, stays) or goes down (-2 against -6: 0 < 16)
    stays = {-6: 0.0, -2: 4.0, 0: 4.0, 2: 8.0}
    down = {-6: 0.0, -2: 0.0, 0: 4.0, 2: 8.0}
    for a in (stays, down):
        assert run(a, 2) == run(a, 1)
    assert run(stays, 1)[0] == lam0 and run(down, 1)[0] == pytest.approx(lam0 / CV_STEP)


def test_the_refined_walk_down_quarters_only_a_move_down(monkeypatch):
    """problem.lam_split_refine_down N: where the sqrt(2) walk moved down from lam0, the walk again from lam0 down
    in steps of sqrt(2)^(1/N), each against the step down's reference (SPLIT_DOWN_GAP sqrt(2) steps under the
    lower weight with halves of 8 frames, the lower weight itself with fewer), at most N (the last lands on
    lam0 / sqrt(2) itself, the first walk's weight); where it stayed or went up, its answer and metrics are the
    walk's (N = 1 never runs it). Fails without lam_split_refine_down."""
    import math

    from regrun.registration.superres_cv import CVSettings, split_refine

    lam0, q = 0.2, 2**0.25
    u = torch.tensor([1.0, 0.0], dtype=F64)

    def curve(a):  # quarter step k (lam0 q^k) -> (a_k u, 0): risk(k, r) = (a_k - a_r)^2
        def images(lam):
            k = round(math.log(lam / lam0) / math.log(q))
            return a[k] * u, 0 * u
        return images

    # sqrt(2) walk: no step up (2 against -2: 64 > 16); down: -2 against -6 (0.25) < 0 (12.25). Quarters, each
    # against the reference 4 quarters under the lower weight: -1 against -5 (0) < 0 (12.25): down; -2 against -6
    # (0.25) > -1 (0): stops at index 1
    one = {-6: 0.5, -5: 0.5, -2: 0.0, -1: 0.5, 0: 4.0, 2: 12.0}
    assert split_refine(curve(one), lam0, 2, gap=2) == pytest.approx(lam0 / q)
    both = {**one, -6: 0.0, -1: 0.5}  # -1 against -5 (0) < 0 (12.25); -2 against -6 (0) < -1 (0.25): onto lam0 / sqrt(2)
    assert split_refine(curve(both), lam0, 2, gap=2) == lam0 / CV_STEP
    assert split_refine(curve({**one, -1: 5.0}), lam0, 2, gap=2) == lam0  # the first quarter loses: lam0
    # gap 0 (fewer frames): each quarter against the lower weight itself: -1 against -1 (0) < 0 (12.25); -2
    # against -2 (0) < -1 (0.25)
    assert split_refine(curve(one), lam0, 2, gap=0) == lam0 / CV_STEP

    def run(a, refine_down):
        return split_at(monkeypatch, curve(a), CVSettings(0, 0, 0.0, split_steps=2, split_refine=2,
                                                          split_refine_down=refine_down))

    lam, out = run(one, 2)
    assert lam == pytest.approx(lam0 / q) and out["lam_split_coarse"] == pytest.approx(lam0 / CV_STEP)
    assert run(one, 1)[0] == pytest.approx(lam0 / CV_STEP) and "lam_split_coarse" not in run(one, 1)[1]
    # a stay (-2 against -6 no better than 0) and a move up (2 against -2 better than 0): as N = 1's, bit for bit
    stays = {-6: 0.0, -5: 0.0, -2: 4.0, -1: 0.0, 0: 4.0, 2: 8.0}
    up = {-6: 0.0, -5: 0.0, -4: 0.0, -3: 0.0, -2: 0.0, -1: 0.0, 0: 4.0, 1: 2.0, 2: 1.0, 4: 99.0}
    for a in (stays, up):
        assert run(a, 2) == run(a, 1)
    assert run(stays, 1)[0] == lam0 and run(up, 1)[0] > lam0


def test_the_step_downs_reference_gap_is_a_setting(monkeypatch):
    """problem.lam_split_down_gap: with halves of 8 frames and more the step down compares the lower weight and the
    weight in use against a reference that many sqrt(2) steps under the lower weight (2, SPLIT_DOWN_GAP, the
    default: main's walk bit for bit; 0: the lower weight itself, the step up's reference); with fewer frames the
    walk keeps srburst's gap 0 whatever the setting. Fails without lam_split_down_gap."""
    import math
    from types import SimpleNamespace

    from regrun.registration.superres_cv import SPLIT_DOWN_GAP, CVSettings, split_down

    assert SPLIT_DOWN_GAP == 2 and CVSettings(0, 0, 0.0).split_down_gap == SPLIT_DOWN_GAP
    assert split_down(SimpleNamespace(q=15, factor=2), 1, 0) == (1, 0)
    assert split_down(SimpleNamespace(q=7, factor=2), 1, 3) == (1, 0)  # fewer frames: gap 0 whatever the setting
    lam0 = 0.2

    def images(lam):  # sqrt(2) step k -> (a_k, d_k): risk(k, r) = (a_k - a_r)^2 + d_k d_r / 2
        a, d = {-3: 0.0, -1: 1.5, 0: 2.0, 1: 2.0}, {-1: 2.0}
        k = round(math.log(lam / lam0) / math.log(CV_STEP))
        return torch.tensor([a[k], 0.0], dtype=F64), torch.tensor([0.0, d.get(k, 0.0)], dtype=F64)

    def run(gap, frames):
        return split_at(monkeypatch, images, CVSettings(0, 0, 0.0, split_steps=2, split_down_gap=gap), frames)[0]

    # no step up (against -1: 1's 0.25 equals 0's); halves of 8: against -3 (gap 2) -1 (2.25) < 0 (4): down; against
    # -1 itself (gap 0) -1 (its noise term 2) > 0 (0.25): stays. With halves of 4, gap 0 whatever the setting
    assert run(2, 15) == pytest.approx(lam0 / CV_STEP) and run(0, 15) == lam0
    assert run(2, 7) == lam0 and run(0, 7) == lam0
