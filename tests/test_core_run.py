"""One run in-process: the results file, its statuses, registries and config composition."""
from pathlib import Path

import h5py
import numpy as np
import pytest

from regrun.config import compose, config_dir, config_hash, group_options
from regrun.errors import UserError
from regrun.record import load
from regrun.registry import PROBLEMS, SOLVERS, Registry, check_pair, register_solver
from regrun.run import run
from regrun.solve_result import SolveResult
from regrun.solvers.base import Solver

TINY = ["problem.synthetic.size=16", "solver.max_iter=5", "progress=false", "figures=false"]

ROOT_ATTRS = [
    "schema_version", "regrun_version", "status", "problem", "solver", "device", "dtype", "seed", "run_id",
    "start_time", "end_time", "wall_time", "git_commit", "git_dirty", "python_version", "torch_version",
    "numpy_version", "scipy_version", "h5py_version", "hydra_version", "omegaconf_version", "device_name",
    "cuda_version", "cuda_driver_version",
]


def test_results_file_carries_every_documented_field(tmp_path):
    cfg = compose(TINY[:-1] + ["figures=true"])
    outcome = run(cfg, tmp_path / "run", ["problem.synthetic.size=16"])
    assert outcome.status == "completed", outcome.error
    res = load(outcome.results_path)
    for key in ROOT_ATTRS:
        assert key in res["attrs"], key
    assert res["attrs"]["status"] == "completed"
    assert res["attrs"]["run_id"] == config_hash(cfg)
    assert "problem:" in res["config"]["resolved"] and res["config"]["overrides"] == ["problem.synthetic.size=16"]
    hist = res["history"]
    assert {"iter", "J", "grad_norm", "time"} <= set(hist)
    assert len({len(v) for v in hist.values()}) == 1 and len(hist["iter"]) >= 2
    assert res["result"]["w"].shape == (6,)
    for key in ("J", "J_initial", "rel_reduction", "grad_norm", "tre", "tre_initial", "disp_rmse"):
        assert np.isfinite(res["metrics"][key]), key
    assert res["metrics"]["J"] < res["metrics"]["J_initial"]
    assert res["data"]["template"].shape == (16, 16)
    assert (tmp_path / "run" / "figures" / "registration.png").stat().st_size > 10_000
    assert not (tmp_path / "run" / "results.h5.partial").exists()


def test_config_hash_changes_with_inputs_only():
    a, b = compose(TINY), compose(TINY)
    assert config_hash(a) == config_hash(b)
    assert config_hash(compose(TINY + ["seed=1"])) != config_hash(a)


@register_solver("_test_raises")
class _Raises(Solver):
    """A solver for these tests: raises what its config names, after one recorded iteration."""

    needs = frozenset({"registration"})

    def solve(self, problem, monitor):
        monitor.step(iter=0, J=1.0)
        kind = self.cfg.raise_
        if kind == "nan":
            monitor.step(iter=1, J=float("nan"))
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "bug":
            raise ZeroDivisionError("boom")
        if kind == "user":
            raise UserError("solver.raise_='user' is a bad value")
        return SolveResult({"w": problem.identity, "theta": 0.0}, "converged")


def _run_raising(tmp_path, kind):
    cfg = compose(TINY)
    cfg.solver = {"name": "_test_raises", "raise_": kind}
    return run(cfg, tmp_path / kind)


@pytest.mark.parametrize("kind,status", [("nan", "diverged"), ("interrupt", "interrupted"), ("bug", "failed"),
                                         ("user", "failed"), ("none", "completed")])
def test_every_ending_leaves_a_file_that_says_so(tmp_path, kind, status):
    outcome = _run_raising(tmp_path, kind)
    assert outcome.status == status
    with h5py.File(tmp_path / kind / "results.h5") as f:
        assert f.attrs["status"] == status
        assert f["history/J"].shape[0] >= 1
        if status == "failed":
            assert "boom" in f.attrs["error"] or "bad value" in f.attrs["error"]
            if kind == "bug":
                assert "Traceback" in f.attrs["error"]
    assert outcome.user_error == (kind == "user")


def test_registry_rejects_duplicates_and_names_fitting_solvers():
    reg = Registry("thing", "regrun.problems")

    @reg.register("a")
    class A:
        pass

    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))

    class Picky(Solver):
        needs = frozenset({"telepathy"})

    SOLVERS.register("_test_picky")(Picky)
    with pytest.raises(UserError, match="needs telepathy.*solvers that fit: .*single_scale"):
        check_pair("multiscale_affine", "_test_picky")
    with pytest.raises(UserError, match="unknown problem 'nope'; valid problems: .*multiscale_affine"):
        PROBLEMS.get("nope")


def test_every_config_composes():
    for group in ("problem", "solver", "device"):
        for option in group_options(group):
            cfg = compose([f"{group}={option}"])
            assert cfg[group].name == option, (group, option)
    for option in group_options("experiment"):
        compose([f"+experiment={option}"])


def test_configs_found_and_registered_names_match_files():
    assert (config_dir() / "config.yaml").is_file()
    assert set(group_options("problem")) == set(PROBLEMS.names())
    assert set(group_options("solver")) <= set(SOLVERS.names())


def test_float32_runs(tmp_path):
    outcome = run(compose(TINY + ["dtype=float32"]), tmp_path / "f32")
    assert outcome.status == "completed", outcome.error
    assert load(outcome.results_path)["attrs"]["dtype"] == "float32"


def test_paper_values_follow_the_swept_setting():
    from regrun.config import paper_values

    cfg = compose(["+experiment=superres_fig8", "solver.diff_fraction=0.95"])
    assert paper_values(cfg) == {"rel_error": 0.117}
    assert paper_values(compose(["+experiment=superres_fig8", "solver.diff_fraction=0.5"])) == {}
    assert paper_values(compose(["+experiment=superres_fig10", "cg_iters=25"])) == {"rel_error": 0.110}
    assert paper_values(compose(TINY + ["+paper.J=3"])) == {"J": 3.0}


BAD_VALUES = [
    (["solver.gtol=inf"], "solver.gtol=inf must be a finite number"),
    (["solver=multiscale", "solver.gtol=-inf"], "solver.gtol=-inf must be a finite number"),
    (["problem=superres", "solver=varpro_cg", "solver.gtol=nan"], "solver.gtol=nan must be a finite number"),
    (["problem=superres", "solver=varpro_cg", "problem.lambda_f=inf"],
     "problem.lambda_f=inf must be a finite number >= 0, 'auto' (chosen from the data) or from:RUN (the weight an "
     "earlier run chose or learned)"),
    (["problem=superres", "solver=varpro_cg", "solver.diff_fraction=2"], "solver.diff_fraction=2 must be in (0, 1]"),
    (["problem=superres", "solver=varpro_cg", "solver.jacobian=tail", "solver.diff_fraction=0"],
     "solver.diff_fraction=0.0 must be > 0.0"),
    (["time_limit=nan"], "time_limit=nan must be a finite number or inf"),
]


@pytest.mark.parametrize("overrides,message", BAD_VALUES)
def test_non_finite_and_out_of_range_values_are_user_errors(overrides, message, tmp_path):
    outcome = run(compose(overrides + ["progress=false", "figures=false"]), tmp_path)
    assert outcome.status == "failed" and outcome.user_error and outcome.error == message


def test_time_limit_inf_means_none(tmp_path):
    assert run(compose(TINY + ["time_limit=inf"]), tmp_path).status == "completed"


def test_constant_reference_has_nothing_to_register(tmp_path):
    from PIL import Image

    Image.new("L", (16, 16), 0).save(tmp_path / "blank.png")
    Image.radial_gradient("L").resize((16, 16)).save(tmp_path / "disc.png")
    outcome = run(compose(["problem.data=files", f"problem.template={tmp_path / 'disc.png'}",
                           f"problem.reference={tmp_path / 'blank.png'}", "progress=false"]), tmp_path / "run")
    assert outcome.user_error and outcome.error.startswith("the reference of disc.png -> blank.png is constant")
    assert outcome.error.endswith("there is nothing to register")


def test_registry_lists_every_builtin_module():
    """The registry imports only the module a run names (regrun/registry.py): a module missing from MODULES
    would register nothing."""
    import regrun.problems
    import regrun.solvers

    for package in (regrun.problems, regrun.solvers):
        folder = Path(package.__file__).parent
        files = {p.stem for p in folder.glob("*.py")} - {"__init__", "base"}
        assert set(package.MODULES) == files, package.__name__
