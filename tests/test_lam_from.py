"""A learned weight carried to new data: grid_search / bilevel store the weight they chose (/metrics/lam_learned)
and `solver.lam=from:PATH` (a results file or a run folder) makes fista_tv use it; every way the path can be
wrong is a one-line error."""
import h5py
import pytest

from regrun.config import compose
from regrun.errors import UserError
from regrun.record import learned_lam, load, weight_setting
from regrun.run import run

TINY = ["problem=ct_fewview", "progress=false", "problem.size=16", "problem.views=8", "solver.iters=5",
        "solver.inner_iters=2"]


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    """A tiny grid_search run (the learning step, against the phantom's truth)."""
    out = tmp_path_factory.mktemp("learn")
    cfg = compose(TINY + ["solver=grid_search", "solver.points=3", "solver.refine=2"])
    outcome = run(cfg, out, [])
    assert outcome.status == "completed", outcome.error
    return out, load(outcome.results_path)["metrics"]["lam_learned"]


def test_fista_tv_uses_the_learned_weight_on_another_object(learned, tmp_path):
    run_dir, lam = learned
    for i, where in enumerate((run_dir, run_dir / "results.h5")):
        cfg = compose(TINY + ["solver=fista_tv", f"solver.lam=from:{where}", "problem.phantom=metal_part"])
        outcome = run(cfg, tmp_path / str(i), [])
        assert outcome.status == "completed", outcome.error
        saved = load(outcome.results_path)
        assert saved["metrics"]["lam"] == lam and saved["stats"]["lam_from"] == str(where)


def test_weight_setting_numbers_and_bad_strings():
    assert weight_setting("solver.lam", 2) == (2.0, None)
    # a negative weight names every form the setting takes (it said only ">= 0", hiding auto and from:PATH: ux6)
    with pytest.raises(UserError, match=r"solver.lam=-1.0 must be a number >= 0, auto \(chosen from the data\) or from:"):
        weight_setting("solver.lam", -1.0)
    with pytest.raises(UserError, match=r"number >= 0, auto \(chosen from the data\) or from:PATH"):
        weight_setting("solver.lam", "lots")
    with pytest.raises(UserError, match="give the path after from:"):
        weight_setting("solver.lam", "from:")


def test_each_bad_path_is_one_line_error(learned, tmp_path):
    run_dir, _ = learned
    cases = []
    cases.append((tmp_path / "nowhere", "no such file or folder"))
    (tmp_path / "empty").mkdir()
    cases.append((tmp_path / "empty", "holds no results.h5"))
    (tmp_path / "notes.txt").write_text("lam = 3")
    cases.append((tmp_path / "notes.txt", "not a results file"))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["metrics/lam_learned"] = 1.0
    cases.append((tmp_path / "other.h5", "not a regrun results file"))
    for status in ("failed", "running"):
        path = tmp_path / f"{status}.h5"
        path.write_bytes((run_dir / "results.h5").read_bytes())
        with h5py.File(path, "a") as f:
            f.attrs["status"] = status
        cases.append((path, f"status is '{status}', not 'completed'"))
    path = tmp_path / "fbp.h5"  # a completed run of a solver that learns nothing
    path.write_bytes((run_dir / "results.h5").read_bytes())
    with h5py.File(path, "a") as f:
        del f["metrics/lam_learned"]
        f.attrs["solver"] = "fbp"
    cases.append((path, r"solver fbp\) learned no weight"))
    for where, message in cases:
        with pytest.raises(UserError, match=message) as err:
            learned_lam(where)
        assert "\n" not in str(err.value) and f"solver.lam=from:{where}" in str(err.value)


def test_a_bad_path_stops_the_run_before_it_starts(tmp_path):
    cfg = compose(TINY + ["solver=fista_tv", f"solver.lam=from:{tmp_path / 'nowhere'}"])
    outcome = run(cfg, tmp_path / "out", [])
    assert outcome.status == "failed" and outcome.user_error and "no such file or folder" in outcome.error
