"""A run that says what it does: the reporter's phases and progress, plain lines off a terminal, regrun.log."""
import io
import time

from regrun.config import compose
from regrun.monitor import Monitor, ProgressBar, Reporter
from regrun.run import run
from regrun.solve_result import SolveResult
from regrun.registry import register_solver
from regrun.solvers.base import Solver

TINY = ["problem.synthetic.size=16", "solver.max_iter=5", "figures=false"]


def test_phases_and_plain_progress_off_a_terminal(tmp_path):
    out = io.StringIO()
    rep = Reporter(tmp_path / "regrun.log", stream=out, interactive=False, every=0.0)
    with rep.phase("solve"):
        with rep.phase("pre-registration", total=3) as prog:
            for _ in range(5):  # two more steps than announced: the total follows, never `5/3`
                prog.update(1, J=1.5)
        bar = rep.progress_bar(4, "inner")
        bar.update(2)
        bar.close()
    rep.close()
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert lines[0] == "regrun: solve ..."  # a nested phase ends the open line first
    assert lines[1] == "regrun: solve > pre-registration ..."
    assert "  pre-registration: 5/5 (100%)" in text and "J=1.500e+00" in text and "5/3" not in text
    assert text.count("  inner: 2/4 (50%)") == 1 and "ETA" in text
    assert lines[-1].startswith("regrun: solve done in")
    log = (tmp_path / "regrun.log").read_text()
    for line in ("regrun: solve ...", "regrun: solve > pre-registration done in", "inner: 2/4"):
        assert line in log, line


def test_short_phase_is_one_line_and_a_failed_one_says_so(tmp_path):
    out = io.StringIO()
    rep = Reporter(None, stream=out, interactive=False)
    with rep.phase("data"):
        pass
    try:
        with rep.phase("figures"):
            raise RuntimeError("x")
    except RuntimeError:
        pass
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("regrun: data ... done in ") and lines[0].endswith(" s")
    assert lines[1].startswith("regrun: figures ... stopped after ")


def test_progress_lines_are_rate_limited(tmp_path):
    out = io.StringIO()
    rep = Reporter(None, stream=out, interactive=False, every=3600.0)
    monitor = Monitor([ProgressBar(reporter=rep)])
    monitor.start(total=100, desc="solver")
    for i in range(100):
        monitor.step(iter=i, J=1.0)
    monitor.close()
    assert out.getvalue() == ""  # a quick loop prints nothing; a slow one a line every `every` seconds


def test_a_capped_total_says_its_eta_is_an_upper_bound():
    """Iterations that stop at convergence (upto=True: LM, trust region, bilevel) show the cap as `<=` and the ETA as
    an upper bound; a counted total shows neither."""
    out = io.StringIO()
    rep = Reporter(None, stream=out, interactive=False, every=0.0)
    monitor = Monitor([ProgressBar(reporter=rep)])
    monitor.start(total=10, desc="varpro_cg", upto=True)
    for i in range(3):
        monitor.step(iter=i, J=1.0)
    monitor.close()
    monitor.start(total=4, desc="grid_search")
    monitor.step(iter=0, lam=1.0)
    monitor.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("  varpro_cg: 1/<=10 (10%), ") and "ETA <= " in lines[1]
    assert lines[-1].startswith("  grid_search: 1/4 (25%), ") and "<=" not in lines[-1] and "ETA " in lines[-1]


def test_an_open_ended_climb_drops_the_cap_and_the_eta():
    """A phase whose work goes on past its cap until a test says stop (lambda_f=auto's climb above GCV's minimum):
    after open_ended() a line shows the count, no total, no ETA, and says what follows."""
    out = io.StringIO()
    rep = Reporter(None, stream=out, interactive=False, every=0.0)
    with rep.phase("lambda_f choice (gcv)", total=10, upto=True) as bar:
        for _ in range(9):
            bar.update(1, lam=0.1)
        bar.open_ended("up to quasi-optimality's minimum")
        for _ in range(3):
            bar.update(1, lam=0.2)
    lines = [s for s in out.getvalue().splitlines() if s.startswith("  lambda_f")]
    assert lines[8].startswith("  lambda_f choice (gcv): 9/<=10 (90%), ") and "ETA <= " in lines[8]
    after = lines[-1]
    assert after.startswith("  lambda_f choice (gcv), then up to quasi-optimality's minimum: 12, "), after
    assert "ETA" not in after and "/" not in after.split(":")[1].split(",")[0]


@register_solver("_test_talks")
class _Talks(Solver):
    needs = frozenset({"registration"})

    def solve(self, problem, monitor):
        with self.ctx.phase("pre-registration"):
            print("a table a solver prints")
        monitor.start(total=2, desc="talks")
        monitor.step(iter=0, J=1.0)
        time.sleep(0.01)
        monitor.step(iter=1, J=0.5)
        return SolveResult({"w": problem.identity, "theta": 0.0}, "converged")


def test_run_writes_every_line_to_regrun_log(tmp_path, capsys):
    cfg = compose(TINY)
    cfg.solver = {"name": "_test_talks"}
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "completed", outcome.error
    printed = capsys.readouterr().out
    log = (tmp_path / "run" / "regrun.log").read_text()
    assert printed.splitlines()[0] == f"regrun: multiscale_affine with _test_talks on cpu (float64), seed 0 -> {tmp_path / 'run'}"
    for text in ("regrun: data done", "regrun: solve > pre-registration done", "a table a solver prints",
                 "regrun: evaluation done"):
        assert text in log, text
    assert "regrun: solve > pre-registration ..." in printed


def test_crab_detection_nodes_as_progress_lines(tmp_path):
    """The detector's per-node hook (called as each node starts) as a phase's progress: the node starting is shown,
    the one before counted; finish() counts the last one and shows nothing running."""
    from regrun.solvers.hierarchical import NodeProgress

    out = io.StringIO()
    rep = Reporter(tmp_path / "regrun.log", stream=out, interactive=False, every=0.0)
    with rep.phase("detection", total=3, every=0.0) as bar:
        hook = NodeProgress(bar)
        for node in ("left_eye", "eye_pair", "crab"):
            hook(f"detect {node}")
        hook.finish()
    with rep.phase("extraction", total=3) as bar:  # a cached extraction runs no node: no progress line
        hook = NodeProgress(bar)
        hook.finish()
    rep.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[1:5] == ["  detection: 0/3 (0%), 0.0 s, now=detect left_eye",
                          "  detection: 1/3 (33%), 0.0 s, ETA 0.0 s, now=detect eye_pair",
                          "  detection: 2/3 (67%), 0.0 s, ETA 0.0 s, now=detect crab",
                          "  detection: 3/3 (100%), 0.0 s"]
    assert lines[-1].startswith("regrun: extraction ... done in")
    assert "detection: 3/3 (100%)" in (tmp_path / "regrun.log").read_text()
    NodeProgress(None)("detect crab")  # progress=false: the hook does nothing


def test_crab_detection_progress_weighs_nodes_by_their_predicted_work(tmp_path):
    """With predicted costs (issue 19) the phase counts percent of the time: a node starting moves the bar to the
    share of the nodes before it, its registrar's reports move it inside the node (a fake clock on which the work
    runs as predicted: the share of the time is the share of the predicted work, the ETA the work left)."""
    from regrun.solvers.hierarchical import PERCENT, NodeProgress

    now = [0.0]
    out = io.StringIO()
    rep = Reporter(tmp_path / "regrun.log", stream=out, interactive=False, every=0.0)
    with rep.phase("detection", total=PERCENT, every=0.0) as bar:
        hook = NodeProgress(bar, {"left_eye": 1.0, "crab": 3.0}, clock=lambda: now[0])
        hook("detect left_eye")
        now[0] = 0.5
        hook.inside(0.5, "descent round 2/3")
        now[0] = 1.0
        hook("detect crab")
        now[0] = 2.5
        hook.inside(0.5, "coarse search")
        now[0] = 4.0
        hook.finish()
        hook.inside(0.9, "late")  # after finish: nothing
    rep.close()
    lines = out.getvalue().splitlines()
    assert lines[1:6] == ["  detection: 0/100 (0%), 0.0 s, now=detect left_eye",
                          "  detection: 12/100 (12%), 0.0 s, ETA 3.5 s (first node only), "
                          "now=detect left_eye: descent round 2/3",
                          "  detection: 25/100 (25%), 0.0 s, ETA 3.0 s, now=detect crab",
                          "  detection: 62/100 (62%), 0.0 s, ETA 1.5 s, now=detect crab: coarse search",
                          "  detection: 100/100 (100%), 0.0 s"]


def test_work_past_its_cap_drops_the_cap_and_the_eta():
    """userpass3: lambda_f=auto on 6 TIFF frames 27x33 at factor 3 announced a cap of 10 solves and ran 19; the
    lines read `11/<=11 (100%)` ... `18/<=18 (100%)` after `7/<=10 (70%), ETA <= 5.2 s` with 3 minutes left.
    Past the cap a line shows the count, says the cap was passed, and gives no total or ETA."""
    out = io.StringIO()
    rep = Reporter(None, stream=out, interactive=False, every=0.0)
    with rep.phase("lambda_f choice (gcv)", total=10, upto=True) as bar:
        for _ in range(13):
            bar.update(1, lam=0.1)
    lines = [s for s in out.getvalue().splitlines() if s.startswith("  lambda_f")]
    assert lines[9].startswith("  lambda_f choice (gcv): 10/<=10 (100%), ")
    assert all("(100%)" not in s and "ETA" not in s for s in lines[10:]), lines[10:]
    assert lines[-1].startswith("  lambda_f choice (gcv), then past its cap of 10: 13, "), lines[-1]
