"""Small frames' second start (superres_start.second_start, superres_weight.second_run): the pre-registration's
ladder stopped at PREREG_SMALL_END on frames of at most PREREG_SMALL_MAX px with outside=drop, and of the two
solver runs the one with the lower objective kept."""
from types import SimpleNamespace

import torch

import regrun.registration.superres_model as sm
from regrun.registration.superres_start import start_distance, start_params, stopped_ladder
from regrun.monitor import Monitor
from regrun.registration.superres_weight import second_run, two_starts
from regrun.solve_result import SolveResult
from test_superres_check import problem


def test_second_start_is_the_stopped_ladder_on_small_frames(device, monkeypatch):
    p = problem(device, size=16, n_frames=3)  # frames of 8 px, outside=drop
    monkeypatch.setattr(sm, "SECOND_START_MOVE", 0.0)  # every move passes the gate
    first = start_params(p, "preregister")
    thetas = tuple(t for t in type(p.model).preregister.__defaults__[0] if t >= sm.PREREG_SMALL_END)
    assert thetas[-1] == sm.PREREG_SMALL_END and len(thetas) < 6
    alt = p.model.preregister(thetas=thetas, drop_outside=True)
    assert torch.equal(p.second_start, alt)
    h = torch.tensor(p.model.fine.h, dtype=alt.dtype)
    moved = float(((p.model.warp_points(first) - p.model.warp_points(alt)) / h).pow(2).sum(-1).mean().sqrt())
    assert start_distance(p, first, alt) == moved and torch.equal(stopped_ladder(p, None), alt)  # the gate's parts
    assert p.start_taken == {"start_stopped_ladder_taken": 1.0}  # what the results file says was weighed and taken
    monkeypatch.setattr(sm, "SECOND_START_MOVE", 1.01 * moved)  # the stopped ladder too close: no second run
    start_params(p, "preregister")
    assert p.second_start is None and p.start_taken == {"start_stopped_ladder_taken": 0.0}
    monkeypatch.setattr(sm, "SECOND_START_MOVE", 0.0)
    monkeypatch.setattr(sm, "PREREG_SMALL_MAX", 7)  # these frames are 8 px: no second start
    start_params(p, "preregister")
    assert p.second_start is None
    monkeypatch.setattr(sm, "PREREG_SMALL_MAX", 16)
    keep = problem(device, size=16, n_frames=3, outside="keep")  # generated data, the presets: one start
    start_params(keep, "preregister")
    assert keep.second_start is None and keep.start_taken == {}


def test_the_results_say_which_starts_were_weighed_and_taken(device):
    p = problem(device, size=16, n_frames=3)
    w = start_params(p, "identity")
    p.start_taken, p.second_start_kept = {"start_stopped_ladder_taken": 1.0}, 0.0
    metrics, _ = p.evaluate(SolveResult(solution={"w": w}, status="converged"))
    assert metrics["start_stopped_ladder_taken"] == 1.0 and metrics["second_start_kept"] == 0.0
    p.start_taken, p.second_start_kept = {}, float("nan")  # nothing weighed, no second run: nothing said
    metrics, _ = p.evaluate(SolveResult(solution={"w": w}, status="converged"))
    assert not any(k.startswith(("start_", "second_start")) for k in metrics)


def test_second_run_keeps_the_lower_objective():
    runs = {"a": 2.0, "b": 1.0}
    model = SimpleNamespace(outside_state=lambda: None, restore_outside=lambda state: None)  # no mask here
    p = SimpleNamespace(second_start="b", model=model)
    assert second_run(p, "a", None, lambda start, rows: start, runs.get) == ("b", "a")
    assert p.second_start_kept == 1.0
    runs["b"] = 3.0
    assert second_run(p, "a", None, lambda start, rows: start, runs.get) == ("a", "b")
    assert p.second_start_kept == 0.0
    p.second_start = None
    assert second_run(p, "a", None, lambda start, rows: start, runs.get) == ("a", None)


def test_a_discarded_second_run_leaves_no_pixels_dropped(device):
    """The second run's edge rounds shrink the data mask at its own motion (accumulated: pixels once dropped stay
    dropped); where the first run is kept, its own mask comes back, with the fixed operators' Gram matrices marked
    stale (srbrick: brick 24^2/8 kept 514 fewer data pixels and its weight fell from 0.245 to 0.0879). Where the
    second run is kept, its mask stays."""
    p = problem(device, size=16, n_frames=3)
    m, w = p.model, p.w_true
    mask, version = m.data_mask().clone(), m._mask_version
    far = w.clone().reshape(m.q, 6)
    far[:, 4:] += 3.0  # 3 fine px off: moved frames' pixels near the edge see past it
    far = far.reshape(-1)

    def run(start, rows):
        m.settle_outside(start, accumulate=True)  # as superres_outside.edge_rounds does at a run's end
        return start

    objective = {id(w): 1.0, id(far): 2.0}
    kept, other = second_run(SimpleNamespace(second_start=far, model=m), w, None, run, lambda o: objective[id(o)])
    assert kept is w and other is far
    assert torch.equal(m.data_mask(), mask) and m._mask_version > version  # the first run's own mask
    assert torch.equal(m.b, m.rhs(m.frames))  # the data rows follow the mask
    objective[id(far)] = 0.5
    kept, _ = second_run(SimpleNamespace(second_start=far, model=m), w, None, run, lambda o: objective[id(o)])
    assert kept is far and m.data_mask().sum() < mask.sum()  # the second run kept: the mask it shrank


def test_a_discarded_run_from_the_first_start_leaves_no_pixels_dropped(device):
    """two_starts (the run again at a new weight from the first start beside the one from the fitted motion): as
    second_run, where the fitted motion's run is kept, the discarded run's edge rounds leave the mask as it was."""
    p = problem(device, size=16, n_frames=3)
    m, w = p.model, p.w_true
    mask = m.data_mask().clone()
    far = w.clone().reshape(m.q, 6)
    far[:, 4:] += 3.0
    far = far.reshape(-1)

    def run(start, rows):
        m.settle_outside(start, accumulate=True)
        return start

    objective = {id(w): 1.0, id(far): 2.0}
    host = SimpleNamespace(model=m, weight_restarts=[])
    rows = SimpleNamespace(next_iter=0)
    kept, other, _ = two_starts(host, w, far, Monitor(), rows, run, lambda o: objective[id(o)])
    assert kept is w and other is far and host.weight_restarts[0][0] == 0.0
    assert torch.equal(m.data_mask(), mask)
