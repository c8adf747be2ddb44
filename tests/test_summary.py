"""A folder a person can read: verdicts against the paper, summary.md and metrics.json in every run folder."""
import json

import pytest
from cli_in_process import regrun_in_process

from regrun.config import compose, group_options
from regrun.errors import UserError
from regrun.run import run
from regrun.summary import check_claims, claims_for, judge, stop_reason

TINY = ["problem.synthetic.size=16", "solver.max_iter=5", "progress=false"]


@pytest.mark.parametrize("spec,measured,verdict", [
    ({"tol": 0.01}, 0.105, "reproduced"),
    ({"tol": 0.01}, 0.085, "differs"),
    ({"tol": 0.01, "better": "lower"}, 0.085, "better"),
    ({"tol": 0.01, "better": "lower"}, 0.2, "differs"),
    ({"rel": 0.1, "better": "higher"}, 0.095, "reproduced"),   # within 10% of 0.1
    ({"bound": "min"}, 5.0, "reproduced"),                      # the paper's 0.1 is a lower bound
    ({"bound": "max"}, 5.0, "differs"),
    (None, 0.1, "reproduced"),                                  # no claim entry: exact
    (None, float("nan"), "missing"),
])
def test_verdicts(spec, measured, verdict):
    assert judge("m", 0.1, measured, spec).verdict == verdict


def test_a_verdict_that_is_not_reproduced_carries_its_documented_reason():
    c = judge("rel_error", 0.107, 0.0968, {"rel": 0.05, "better": "lower", "why": "regulariser rows"})
    assert (c.verdict, c.why, c.tolerance) == ("better", "regulariser rows", "± 5%, lower is better")
    assert judge("rel_error", 0.107, 0.107, {"tol": 0.01, "why": "x"}).why == ""


@pytest.mark.parametrize("cap,measured,verdict", [
    (8, 8, "capped"),        # stopped at max_outer=8, below the paper's 30: says nothing of the paper's count
    (30, 30, "capped"),      # at the paper's count, stopped there: not a reproduction either
    (8, 6, "better"),        # stopped on its own before the cap: fewer outer steps, measured
    (60, 60, "differs"),     # stopped at a cap beyond the paper's 30 + 5: more steps than the paper, certainly
    (None, 8, "better"),     # no cap known (collect without the config): judged as before
])
def test_a_run_stopped_at_its_cap_is_capped_not_better(cap, measured, verdict):
    spec = {"tol": 5, "better": "lower", "cap": "solver.max_outer", "why": "fewer outer steps"}
    c = judge("outer_iterations", 30, measured, spec, cap)
    assert c.verdict == verdict
    if verdict == "capped":
        assert c.why == (f"the run stopped at its cap solver.max_outer={cap}, not above the paper's 30: "
                         "not comparable")


def test_claims_read_the_cap_from_the_config():
    config = {"solver.max_outer": 8}
    rows = claims_for({"outer_iterations": 30.0}, {"outer_iterations": 8.0},
                      {"outer_iterations": {"tol": 5, "better": "lower", "cap": "solver.max_outer"}}, config.get)
    assert [r.verdict for r in rows] == ["capped"]
    rows = claims_for({"outer_iterations": 30.0}, {"outer_iterations": 8.0},
                      {"outer_iterations": {"tol": 5, "better": "lower", "cap": "solver.max_outer"}}, {}.get)
    assert [r.verdict for r in rows] == ["better"]  # the key unset: no cap to judge by
    with pytest.raises(UserError, match="claims.outer_iterations.cap=3 must name a config key"):
        check_claims({"outer_iterations": {"cap": 3}})


def test_bad_claims_are_one_line_errors():
    with pytest.raises(UserError, match="claims.rel_error.tolerance is not a claim field"):
        check_claims({"rel_error": {"tolerance": 0.1}})
    with pytest.raises(UserError, match="better='smaller' is not valid; allowed: lower, higher"):
        check_claims({"rel_error": {"better": "smaller"}})


@pytest.mark.parametrize("name", group_options("experiment"))
def test_every_paper_value_of_every_preset_has_a_stated_tolerance(name):
    cfg = compose([f"+experiment={name}"])
    check_claims(cfg.claims)
    names = set(cfg.paper)
    missing = names - set(cfg.claims)
    assert not missing, f"{name}: paper values without a claims entry: {sorted(missing)}"


def test_every_run_folder_has_summary_and_metrics_json(tmp_path):
    cfg = compose(TINY + ["+paper.tre=1.0", "+claims.tre={tol: 100.0}", "+paper.J=1.0"])
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    data = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert data["status"] == "completed" and data["problem"] == "multiscale_affine"
    assert data["metrics"]["tre"] == pytest.approx(outcome.metrics["tre"])
    assert {c["metric"]: c["verdict"] for c in data["claims"]} == {"tre": "reproduced", "J": "differs"}
    assert set(data["phases_s"]) >= {"data", "solve", "evaluation", "figures"}
    # CPU per phase too (ux5: under load the wall time says little of the work); at most 2x wall on 2 cores
    assert set(data["phases_cpu_s"]) == set(data["phases_s"])
    assert 0 < data["phases_cpu_s"]["solve"] <= 2 * data["phases_s"]["solve"] + 0.05
    md = (tmp_path / "run" / "summary.md").read_text()
    assert "- CPU time: data " in md
    assert md.startswith("# multiscale_affine with single_scale: completed")
    assert "| tre | 1 |" in md and "**reproduced**" in md and "**differs**" in md
    assert "![registration](figures/registration.png)" in md


def test_a_failed_run_still_says_so_in_its_summary(tmp_path):
    outcome = run(compose(TINY + ["solver.gtol=-1"]), tmp_path / "bad")
    assert outcome.status == "failed"
    md = (tmp_path / "bad" / "summary.md").read_text()
    assert "failed" in md.splitlines()[0] and "Error: solver.gtol" in md
    assert json.loads((tmp_path / "bad" / "metrics.json").read_text())["error"].startswith("solver.gtol")


def test_an_interrupted_run_says_interrupted_not_error_under_one_blank_line(tmp_path):
    from regrun.summary import write_run_summary

    write_run_summary(tmp_path, status="interrupted", message="", error="interrupted by Ctrl-C",
                      facts={"problem": "p", "solver": "s"}, metrics={}, paper={}, claims={}, wall_time=1.0)
    lines = (tmp_path / "summary.md").read_text().splitlines()
    assert lines[:3] == ["# p with s: interrupted", "", "Interrupted: interrupted by Ctrl-C"]


def test_a_bilevel_run_stopped_at_max_outer_says_capped_in_its_summary(tmp_path):
    """Issue 19 end to end: the run folder's verdict reads solver.max_outer from the run's own config."""
    cfg = compose(["+ci=ct_fewview__bilevel", "solver.memory.measure=false", "figures=false",
                   "solver.grid.points=0", "+paper.outer_iterations=30",
                   "+claims.outer_iterations={tol: 5, better: lower, cap: solver.max_outer}"])
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    assert outcome.metrics["outer_iterations"] == cfg.solver.max_outer == 2
    (claim,) = json.loads((tmp_path / "run" / "metrics.json").read_text())["claims"]
    assert claim["verdict"] == "capped" and "solver.max_outer=2" in claim["why"]
    assert "1 capped." in (tmp_path / "run" / "summary.md").read_text()


def test_a_run_whose_solver_stopped_on_a_failure_is_stopped_not_better():
    """Issue 19: a failure (the solver's status "stopped") is named beside every verdict, never reproduced/better;
    the verdict the value alone would get follows it."""
    why = stop_reason("completed", "line search failed at outer step 6 of solver.max_outer=12 (...)")
    assert why == "the solver stopped: line search failed at outer step 6 of solver.max_outer=12 (...)"
    spec = {"tol": 5, "better": "lower", "cap": "solver.max_outer"}
    c = judge("outer_iterations", 30, 6, spec, 12, stopped=why)
    assert (c.verdict, c.why) == ("stopped", f"{why}; the value alone would read better")
    assert judge("lam_vs_grid", 0.0, 0.01, {"tol": 0.1}, stopped=why).why.endswith("would read reproduced")
    assert judge("lam_vs_grid", 0.0, float("nan"), {"tol": 0.1}, stopped=why).verdict == "missing"
    rows = claims_for({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 9.0}, {}, None, why)
    assert [r.verdict for r in rows] == ["stopped", "stopped"]


@pytest.mark.parametrize("status,solver_stop,message,error,expected", [
    ("completed", "", "solver converged: ok", "", ""),
    ("completed", "", "solver max_iter: reached max_iter=5", "", ""),  # a budget: the cap rule judges it
    # optimizers stalled in round-off at their answer: status "stopped", not a failure
    ("completed", "", "solver stopped: damping 1e+16 too large: no step reduces J", "", ""),
    ("completed", "", "solver stopped: A bad approximation caused failure to predict improvement.", "", ""),
    ("completed", "time_limit=5 s reached (stopped by a callback)", "solver stopped: stopped by a callback", "",
     "the solver stopped: time_limit=5 s reached"),
    ("completed", None, "solver stopped: line_search_failed after 6 outer iterations: lam=3", "",  # an older file
     "the solver stopped: line_search_failed after 6"),
    ("completed", None, "solver stopped: stopped by a callback", "", ""),  # an older file: not told apart
    ("diverged", "", "solver diverged: J is nan", "", "the run diverged: solver diverged: J is nan"),
    ("interrupted", None, "", "time limit: Slurm's warning", "the run interrupted: time limit: Slurm's warning"),
    ("failed", None, "", "RuntimeError: boom\ntraceback", "the run failed: RuntimeError: boom"),
])
def test_every_stop_reason_that_is_a_failure_is_named(status, solver_stop, message, error, expected):
    why = stop_reason(status, solver_stop, message, error)
    assert why.startswith(expected) and (why == "") == (expected == "")


def test_a_run_cut_short_by_the_time_limit_is_stopped(tmp_path):
    """Issue 19: the time limit is a failure the verdicts name (the solve did not end on its own)."""
    cfg = compose(TINY + ["time_limit=1e-9", "+paper.J=1.0", "+claims.J={tol: 1.0e9}"])
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    assert outcome.stopped.startswith("the solver stopped: time_limit=1e-09 s reached")
    (claim,) = json.loads((tmp_path / "run" / "metrics.json").read_text())["claims"]
    assert claim["verdict"] == "stopped" and claim["why"].endswith("the value alone would read reproduced")


def test_a_bilevel_run_whose_line_search_fails_says_so_in_its_summary(tmp_path):
    """Issue 19 end to end: one trial per line search from a step far too long fails at the first outer step,
    before solver.max_outer; summary.md, metrics.json and the results file name it, no claim reads better."""
    import h5py

    from regrun import collect

    cfg = compose(["+ci=ct_fewview__bilevel", "solver.memory.measure=false", "figures=false",
                   "solver.grid.points=0", "solver.max_outer=5", "solver.max_tries=1", "solver.gamma0=1e6",
                   "+paper.outer_iterations=30", "+claims.outer_iterations={tol: 5, better: lower, cap: solver.max_outer}"])
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    assert outcome.metrics["outer_iterations"] == 1 < cfg.solver.max_outer
    assert outcome.stopped.startswith("the solver stopped: line search failed at outer step 1 of "
                                      "solver.max_outer=5 (no Armijo decrease in 1 trials); loss ")
    (claim,) = json.loads((tmp_path / "run" / "metrics.json").read_text())["claims"]
    assert claim["verdict"] == "stopped" and claim["why"].endswith("the value alone would read better")
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "1 stopped." in summary and "Stopped on a failure: the solver stopped: line search failed" in summary
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        assert f.attrs["solver_status"] == "stopped"
    (c,) = collect.run_claims(collect.read_run(tmp_path / "run" / "results.h5", with_history=False))
    assert (c.verdict, c.why) == (claim["verdict"], claim["why"])


def test_regruns_end_lines_say_stopped_with_the_reason(tmp_path, monkeypatch, capsys):
    """Issue 19: the verdict beside a metric on the console is the run folder's (stopped), and a warning names
    why."""
    out = regrun_in_process(["+ci=ct_fewview__bilevel", "solver.memory.measure=false", "figures=false",
                             "solver.grid.points=0", "solver.max_outer=5", "solver.max_tries=1", "solver.gamma0=1e6",
                             "+paper.outer_iterations=30", f"hydra.run.dir={tmp_path / 'run'}",
                             "+claims.outer_iterations={tol: 5, better: lower, cap: solver.max_outer}"],
                            tmp_path, monkeypatch, capsys)
    assert out.returncode == 0, out.stderr
    assert "(paper: 30, ± 5, lower is better: stopped)" in out.stdout
    assert ("regrun: WARNING: the solver stopped: line search failed at outer step 1 of solver.max_outer=5"
            in out.stderr and "no paper value reads reproduced or better" in out.stderr)
