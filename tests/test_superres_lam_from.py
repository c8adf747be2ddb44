"""problem.lambda_f=from:RUN: the weight another super-resolution run chose from its frames (lam_chosen) or
learned (lam_learned), carried to new frames through the same reader as solver.lam=from: (regrun.record)."""
import re

import h5py
import pytest

from regrun.config import compose
from regrun.record import load
from regrun.run import run

TINY = ["problem=superres", "progress=false", "figures=false", "problem.size=12", "problem.n_frames=3",
        "problem.noise=0.02", "solver=two_stage"]


@pytest.fixture(scope="module")
def chosen(tmp_path_factory):
    out = tmp_path_factory.mktemp("auto")
    outcome = run(compose(TINY + ["problem.lambda_f=auto", "problem.lam_solves=4"]), out, [])
    assert outcome.status == "completed", outcome.error
    return out, load(outcome.results_path)["metrics"]["lam_chosen"]


def test_lambda_f_from_an_auto_run(chosen, tmp_path):
    run_dir, lam = chosen
    outcome = run(compose(TINY + [f"problem.lambda_f=from:{run_dir}", "problem.data_seed=5"]), tmp_path, [])
    assert outcome.status == "completed", outcome.error
    saved = load(outcome.results_path)
    assert saved["metrics"]["lam"] == lam and saved["stats"]["lam_from"] == str(run_dir)
    assert "lam_chosen" not in saved["metrics"]  # nothing was chosen here


def test_a_learned_weight_wins_over_a_chosen_one(chosen, tmp_path):
    run_dir, _ = chosen
    path = tmp_path / "learned.h5"
    path.write_bytes((run_dir / "results.h5").read_bytes())
    with h5py.File(path, "a") as f:
        f["metrics/lam_learned"] = 0.123
    outcome = run(compose(TINY + [f"problem.lambda_f=from:{path}"]), tmp_path / "out", [])
    assert outcome.status == "completed", outcome.error
    assert load(outcome.results_path)["metrics"]["lam"] == 0.123


@pytest.mark.parametrize("edit, message", [
    ({"problem": "ct_fewview"}, "that run solved problem 'ct_fewview', not 'superres'"),
    ({"drop": "lam_chosen"}, r"learned no weight: none of /metrics/lam_learned, /metrics/lam_chosen"),
])
def test_a_weight_from_the_wrong_run_is_one_line(chosen, tmp_path, edit, message):
    run_dir, _ = chosen
    path = tmp_path / "source.h5"
    path.write_bytes((run_dir / "results.h5").read_bytes())
    with h5py.File(path, "a") as f:
        if "problem" in edit:
            f.attrs["problem"] = edit["problem"]
        else:
            del f[f"metrics/{edit['drop']}"]
    outcome = run(compose(TINY + [f"problem.lambda_f=from:{path}"]), tmp_path / "out", [])
    assert outcome.status == "failed" and outcome.user_error
    assert re.search(message, outcome.error), outcome.error
    assert "\n" not in outcome.error
