"""The weight search's cost (registration/superres_weight): its PCG starts (ImageSolve.warm_start: the trace's
probes start from their images at the weights solved around the new one, linear in log lam between the nearest
below and above, else the nearest; the climbed weight's trace is solved to the search's own bar), which change how
many iterations a solve takes, not what it converges to (the traces stay the dense path's); and the cap its
progress bar announces (announced_solves)."""
import math

import numpy as np
import pytest
import torch
from test_parameter_choice import Tikhonov, _settings
from test_superres_weight_paths import problem, solve_by

import regrun.optim.parameter_choice as pc

import regrun.registration.superres_weight as sw
from regrun.optim.parameter_choice import rademacher


def test_the_probes_start_between_the_weights_around_it(device, monkeypatch):
    p, w = problem(device)
    s = solve_by("pcg", monkeypatch, p, w)
    assert s.warm_start(0.1) is None  # nothing solved yet: the caller's own start
    a, b = torch.ones(2, 5, dtype=torch.float64, device=device), torch.full((2, 5), 3.0, dtype=torch.float64,
                                                                            device=device)
    s.solved_probes = {0.01: a, 1.0: b}
    mid = s.warm_start(0.1)  # halfway in log lam
    assert torch.allclose(mid, torch.full_like(a, 2.0), rtol=0, atol=1e-14) and mid.device == a.device
    assert torch.allclose(s.warm_start(10 ** -1.5), torch.full_like(a, 1.5), rtol=0, atol=1e-14)
    assert s.warm_start(3.0) is b and s.warm_start(1e-3) is a  # one side only: the nearest


def test_the_traces_are_the_dense_paths_from_any_start(device, monkeypatch):
    """A scan down then a step between (the golden section's order): the probes at 0.1 start between 1 and 0.01,
    and every trace is the dense path's; the probes' images are kept by weight."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(2, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = solve_by("dense", monkeypatch, p, w)
    s = solve_by("pcg", monkeypatch, p, w)
    ev = sw.Evaluator(p.model, s, probes)
    for lam in (1.0, 0.01, 0.1):
        exact = sw.evaluate_at(p.model, ref, probes, lam)
        got = ev(lam)
        assert got.trace == pytest.approx(exact.trace, rel=1e-9)
        assert got.rss == pytest.approx(exact.rss, rel=1e-9)
    assert sorted(s.solved_probes) == [0.01, 0.1, 1.0]
    assert all(z.shape == (2, p.model.n) and z.device.type == device.type for z in s.solved_probes.values())


def test_a_climbed_weights_trace_is_solved_to_the_searchs_bar(device, monkeypatch):
    """After the climb switched the PCG path to a bar relative to its starts, the chosen weight's trace (its image
    solved alone by the climb) is solved as the curve's were: from the probes around it, to the search's bar (the
    flag back on afterwards), and it is the dense path's trace."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(1, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = solve_by("dense", monkeypatch, p, w)
    s = solve_by("pcg", monkeypatch, p, w)
    s.cg_rtol = 1e-12
    ev = sw.Evaluator(p.model, s, probes)
    ev(0.05), ev(0.2)
    ev.change(0.05)
    assert s.accurate
    climbed = ev.image(0.05 * math.sqrt(2))
    assert math.isnan(climbed.trace)
    seen = []
    pcg = sw.pcg

    def spy(normal, rhs, precond, x0=None, iters=200, rtol=1e-8, ref=None):
        seen.append((rhs.dim(), ref, x0))
        return pcg(normal, rhs, precond, x0, iters, rtol, ref=ref)

    monkeypatch.setattr(sw, "pcg", spy)
    between = s.warm_start(0.05 * math.sqrt(2))  # from 0.05 and 0.2, as the curve solved them
    assert between is not None
    full = ev(0.05 * math.sqrt(2))
    assert s.accurate  # the climb's bar restored
    (dim, bar, start), = [x for x in seen if x[0] == 2]  # the probes' solve
    assert bar is None  # relative to ||rhs||, as the curve's traces
    assert torch.equal(start, between)
    exact = sw.evaluate_at(p.model, ref, probes, 0.05 * math.sqrt(2))
    assert full.trace == pytest.approx(exact.trace, rel=1e-8)


@pytest.mark.parametrize("budget", [4, 6, 10, 12])
def test_the_announced_cap_holds_the_floors_solves(budget):
    """Where the marginal likelihood's floor binds (GCV with tr H taken as 0 on Tikhonov: its minimum the range's
    lower edge, test_parameter_choice's case) the floor's golden-section steps come on top of the rule's budget:
    the search solves exactly the announced cap (15 for the default 10), no more."""
    t = Tikhonov()

    def fit(lam):
        f = t.fit(lam, trace=0.0)
        x = t.solve(t.b, lam)
        shrink = lam**2 / (t.s**2 + lam**2)
        f.energy, f.logdet = f.rss + lam**2 * float(x @ x), float(np.log(shrink).sum())
        return f

    settings = _settings("gcv", budget)
    choice = pc.choose(fit, settings, t.sigma, "given")
    assert choice.details.get("lam_floor_rule") == pc.FLOOR_RULE
    assert choice.solves == sw.announced_solves(settings)
    assert sw.announced_solves(_settings("gcv", 10)) == 15


def test_the_probes_bar_is_looser_but_in_the_climb(device, monkeypatch):
    """The PCG path solves the trace's probes to PROBE_RTOL_FACTOR times lam_cg_rtol and the image to lam_cg_rtol;
    in the climb (bars relative to the starts) both keep lam_cg_rtol."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(1, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    s = solve_by("pcg", monkeypatch, p, w)
    s.cg_rtol = 1e-9
    seen = []
    pcg = sw.pcg

    def spy(normal, rhs, precond, x0=None, iters=200, rtol=1e-8, ref=None):
        seen.append((rhs.dim(), rtol))
        return pcg(normal, rhs, precond, x0, iters, rtol, ref=ref)

    monkeypatch.setattr(sw, "pcg", spy)
    ev = sw.Evaluator(p.model, s, probes)
    ev(0.05)
    assert seen == [(1, 1e-9), (2, 1e-9 * sw.PROBE_RTOL_FACTOR)] and sw.PROBE_RTOL_FACTOR > 1
    seen.clear()
    s.accurate = True
    sw.evaluate_at(p.model, s, probes, 0.07)
    assert seen == [(1, 1e-9), (2, 1e-9)]


def test_a_weight_far_above_the_lowest_keeps_its_probes_loose_bar(device, monkeypatch):
    """With the rule's value (Evaluator's `value`: GCV on the PCG path) the probes are solved first to
    PROBE_LOOSE_FACTOR times lam_cg_rtol; a weight whose value then lies over PROBE_LOOSE_MARGIN above the lowest
    solved so far keeps that trace, any other goes on from that answer to the search's bar (and stays the dense
    path's trace). A_d^T of the frames and of the probes is formed once for all weights (ImageSolve.adjoint)."""
    p, w = problem(device)
    d = p.model.frames.reshape(-1)
    probes = rademacher(1, d.shape, torch.Generator().manual_seed(0), d.dtype, d.device)
    ref = solve_by("dense", monkeypatch, p, w)
    s = solve_by("pcg", monkeypatch, p, w)
    s.cg_rtol = 1e-10
    seen, pads = [], []
    pcg, pad = sw.pcg, s._pad

    def spy(normal, rhs, precond, x0=None, iters=200, rtol=1e-8, ref=None):
        out = pcg(normal, rhs, precond, x0, iters, rtol, ref=ref)
        seen.append((rhs.dim(), rtol / s.cg_rtol, x0, out.x))
        return out

    monkeypatch.setattr(sw, "pcg", spy)
    monkeypatch.setattr(s, "_pad", lambda x: pads.append(x.dim()) or pad(x))
    ev = sw.Evaluator(p.model, s, probes, lambda fit: pc.criterion("gcv", fit, math.nan))
    near = ev(0.05)  # nothing solved before: not decided, so on to the search's bar from the loose answer
    (_, bar1, _, loose), (_, bar2, start, _) = [x for x in seen if x[0] == 2]
    assert (bar1, bar2) == (sw.PROBE_LOOSE_FACTOR, sw.PROBE_RTOL_FACTOR) and torch.equal(start, loose)
    assert near.trace == pytest.approx(sw.evaluate_at(p.model, ref, probes, 0.05).trace, rel=1e-8)
    seen.clear()
    far = ev(30.0)  # far above 0.05's value: the loose trace kept
    assert ev.value(far) > (1 + sw.PROBE_LOOSE_MARGIN) * ev.value(near)
    assert [x[:2] for x in seen] == [(1, 1.0), (2, sw.PROBE_LOOSE_FACTOR)]
    assert sorted(pads) == [1, 2]  # the frames' and the probes' A_d^T once each, for both weights
