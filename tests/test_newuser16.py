"""newuser16's fresh-clone pass (docs/sweeps.md, "newuser16"): each test is a case that was wrong on main."""
import pytest

from regrun.explain import explain, job_yaml


def test_explain_of_a_solver_lists_the_keys_of_the_blocks_its_defaults_include():
    # `regrun --explain solver solver=grid_search` listed `solver.defaults = ''` and `solver.name` alone: every key
    # of common/fista.yaml and common/lam_grid.yaml, which the run reads, was missing
    text = explain("solver", ["solver=grid_search", "problem=ct_fewview"])
    for key in ("iters", "inner_iters", "prox", "lam_min", "lam_max", "points", "refine"):
        assert f"  solver.{key} " in text, key
    assert "solver.defaults" not in text
    assert "grid points (log-spaced)" in text


@pytest.mark.parametrize("key, overrides, meaning, where", [
    ("solver.points", ["solver=grid_search"], "grid points (log-spaced)", "configs/solver/common/lam_grid.yaml"),
    ("solver.iters", ["solver=fista_tv"], "FISTA iterations", "configs/solver/common/fista.yaml"),
    # bilevel writes grid.points itself, without a comment: the meaning is the block's, the default bilevel's
    ("solver.grid.points", ["solver=bilevel"], "grid points (log-spaced)", "configs/solver/bilevel.yaml"),
    ("solver.grid.lam_min", ["solver=bilevel"], "log-spaced grid", "configs/solver/common/lam_grid.yaml"),
])
def test_explain_of_a_key_from_a_shared_block_gives_its_description(key, overrides, meaning, where):
    # main: "(no description in the YAML: please add one)" for every key a solver takes from a shared block
    text = explain(key, overrides + ["problem=ct_fewview"])
    assert "no description" not in text
    assert meaning in text and where in text


def test_cfg_job_describes_a_block_under_its_package():
    # `regrun --cfg job solver=bilevel`: the keys of common/lam_grid@grid (solver.grid.lam_min ...) had no comment
    text = job_yaml(["solver=bilevel", "problem=ct_fewview"])
    block = text[text.index("\n  grid:"):]
    assert "lam_min: 0.01  # log-spaced grid" in block
