"""A folder a person can read: verdicts against the paper, summary.md and metrics.json in every run folder."""
import json

import pytest

from regrun.config import compose, group_options
from regrun.errors import UserError
from regrun.run import run
from regrun.summary import check_claims, judge

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
    md = (tmp_path / "run" / "summary.md").read_text()
    assert md.startswith("# multiscale_affine with single_scale: completed")
    assert "| tre | 1 |" in md and "**reproduced**" in md and "**differs**" in md
    assert "![registration](figures/registration.png)" in md


def test_a_failed_run_still_says_so_in_its_summary(tmp_path):
    outcome = run(compose(TINY + ["solver.gtol=-1"]), tmp_path / "bad")
    assert outcome.status == "failed"
    md = (tmp_path / "bad" / "summary.md").read_text()
    assert "failed" in md.splitlines()[0] and "Error: solver.gtol" in md
    assert json.loads((tmp_path / "bad" / "metrics.json").read_text())["error"].startswith("solver.gtol")
