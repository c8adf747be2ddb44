"""One default per setting, in YAML (issue 15): Python reads the composed config and writes no fallback of its
own. Checked from the source (AST) and against the shipped configs; a failure names the file and line."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from regrun.config import compose, config_section, group_options

PACKAGE = Path(__file__).resolve().parents[1] / "regrun"

# Names a config section goes by in the code (cfg, a solver's node sections, a leaf round, the device spec, the
# sweep's first job config).
CONFIG_NAMES = {"cfg", "section", "sub", "spec", "sc", "u", "r", "first"}
# `.get(key, fallback)` reads that are not setting defaults: the results file's labels of a hand-made group file
# that lacks a `name` (config.run_identity). collect.py reads results files and its own optional `collect:` entries, not configs.
ALLOWED = {("config.py", "name")}
NOT_CONFIG_READERS = {"collect.py"}
# DictConfig methods and Python attributes, not config keys.
NOT_KEYS = {"get", "items", "keys", "values", "copy", "pop", "setdefault", "__class__"}


def _receiver(node: ast.AST) -> str:
    """`cfg`, `self.cfg`, `cfg.problem` ... as text (empty when not a name/attribute chain)."""
    try:
        return ast.unparse(node)
    except Exception:  # pragma: no cover - unparse handles every expression node
        return ""


def _is_config(receiver: str) -> bool:
    parts = receiver.split(".")
    if parts[0] == "self":
        parts = parts[1:]
    return bool(parts) and parts[0] in CONFIG_NAMES and "attrs" not in parts  # h5py attributes are no config


def python_fallbacks() -> list[str]:
    """Every `<config>.get("key", default)` in the package, as 'file:line key'."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name in NOT_CONFIG_READERS:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and len(node.args) == 2 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str) and _is_config(_receiver(node.func.value))):
                rel = path.relative_to(PACKAGE).as_posix()
                if (rel, node.args[0].value) not in ALLOWED:
                    found.append(f"regrun/{rel}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_config_default_is_written_in_python():
    found = python_fallbacks()
    assert not found, ("config defaults written in Python (put the default in configs/ and read cfg.key):\n"
                       + "\n".join(found))


def _registered(group: str) -> dict[str, list[str]]:
    """problems/*.py or solvers/*.py -> the names it registers (@register_problem / @register_solver)."""
    out = {}
    decorator = f"register_{group[:-1]}"
    for path in sorted((PACKAGE / group).glob("*.py")):
        tree = ast.parse(path.read_text())
        names = [d.args[0].value for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 for d in node.decorator_list if isinstance(d, ast.Call) and getattr(d.func, "id", "") ==
                 decorator and d.args and isinstance(d.args[0], ast.Constant)]
        if names:
            out[path.name] = names
    return out


def _solver_modules() -> dict[str, list[str]]:
    return _registered("solvers")


def _keys_read(path: Path) -> set[str]:
    """The keys a module reads as `cfg.KEY` or `self.cfg.KEY`."""
    keys = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and _receiver(node.value) in ("cfg", "self.cfg"):
            keys.add(node.attr)
    return keys - NOT_KEYS


@pytest.mark.parametrize("module", sorted(_solver_modules()))
def test_every_key_a_solver_reads_is_in_its_yaml(module):
    """A key the solver module reads from its section is written in that solver's YAML (else it would need a
    Python fallback, or fail with a traceback)."""
    keys = _keys_read(PACKAGE / "solvers" / module)
    for name in _solver_modules()[module]:
        section = compose([f"solver={name}"]).solver
        missing = sorted(k for k in keys if k not in section)
        assert not missing, f"solvers/{module} reads solver.{missing} that configs/solver/{name}.yaml lacks"


@pytest.mark.parametrize("module", sorted(_registered("problems")))
def test_every_key_a_problem_reads_is_in_its_yaml(module):
    keys = _keys_read(PACKAGE / "problems" / module)
    for name in _registered("problems")[module]:
        section = compose([f"problem={name}"]).problem
        missing = sorted(k for k in keys if k not in section)
        assert not missing, f"problems/{module} reads problem.{missing} that configs/problem/{name}.yaml lacks"


# the keys each shared block holds, and the solver files that include it (their defaults: lists)
SHARED_BLOCKS = {"fista": ("fista_tv", "grid_search", "bilevel"), "continuation": ("multiscale", "predictor_corrector"),
                 "lam_grid": ("grid_search",)}


@pytest.mark.parametrize("block", sorted(SHARED_BLOCKS))
def test_shared_blocks_are_written_once(block):
    """configs/solver/common/BLOCK.yaml is included, not copied: the solver files that use it do not repeat its
    keys at the same value, and the composed sections carry every key of it."""
    from regrun.config import config_dir

    common = OmegaConf.load(config_dir() / "solver" / "common" / f"{block}.yaml")
    for name in SHARED_BLOCKS[block]:
        own = OmegaConf.load(config_dir() / "solver" / f"{name}.yaml")
        repeated = [k for k in common if k in own and own[k] == common[k]]
        assert not repeated, f"configs/solver/{name}.yaml repeats {repeated} of common/{block}.yaml"
        section = compose([f"solver={name}"]).solver
        assert all(k in section for k in common)
    bilevel = compose(["solver=bilevel"]).solver.grid
    assert set(OmegaConf.load(config_dir() / "solver" / "common" / "lam_grid.yaml")) <= set(bilevel)


def test_solver_group_lists_no_shared_block():
    assert "common" not in group_options("solver") and not any(n.startswith("_") for n in group_options("solver"))


def test_unrolled_settings_come_from_the_yaml():
    """UnrolledSettings has no defaults of its own (it used to contradict hierarchical.yaml: spike_blur 3.0 vs
    0.0, dedup 3.0 vs 6.0, leaf_dtype run vs float32): every field is the YAML's, converted."""
    from regrun.detection.unrolled_registrar import UnrolledSettings
    from regrun.solvers.hierarchical import KEYS_A, make_registrar

    defaults = [f.name for f in dataclasses.fields(UnrolledSettings)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
    assert defaults == ["max_points"]  # a memory bound, not a setting of the method
    cfg = config_section("solver", "hierarchical", registrar="descent")
    u = cfg.descent
    st = make_registrar(cfg, 2).settings
    assert st.spike_blur == u.spike_blur / 2 and st.dedup == u.dedup / 2 and st.rtol == u.rtol
    assert st.leaf_dtype == (None if u.leaf_dtype == "run" else torch.float32)
    assert st.spike_dtype == (None if u.spike_dtype == "run" else torch.float32)
    assert st.keys_a == KEYS_A[u.interpolation] and st.quadrature == u.quadrature
    assert st.spike_coarse_pool == max(1, int(cfg.sigma0 / 2 / u.spike_coarse_sigma))  # half size: 1
    assert [(r.sigma * 2, r.sigma_in * 2, r.iters, r.keep, r.one_start) for r in st.leaf_rounds] == \
        [(r.sigma, r.sigma_in, r.iters, r.keep, r.one_start) for r in u.leaf_rounds]


def test_config_section_overrides_reach_the_defaults_that_follow_them():
    """A script's config_section(..., data="frames") gets the defaults a user's `problem.data=frames` gets on the
    command line (outside=drop, rotation_centre=auto), not the generated data's."""
    assert config_section("problem", "superres").outside == "keep"
    assert config_section("problem", "superres", data="frames").outside == "drop"
    assert config_section("problem", "ct_fewview").rotation_centre == "geometric"
    assert config_section("problem", "ct_fewview", data="file").rotation_centre == "auto"
    assert config_section("problem", "ct_fewview", data="file", rotation_centre="index").rotation_centre == "index"
