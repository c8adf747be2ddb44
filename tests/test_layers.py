"""The layers of the package, checked from the source (AST): imports point down, packages form no cycle, problems
do not import problems and solvers do not import solvers. A failure names the offending import."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "regrun"

# Bottom up. A module may import its own layer's modules (inside its package, or between the domain packages as
# long as they form no cycle) and any lower layer, never a higher one.
LAYERS = (
    ("core", {"errors", "context", "monitor", "memory", "config", "solve_result", "plots", "pil_draw", "registry",
              "record", "__init__"}),
    ("linalg", {"linalg"}),
    ("optim", {"optim"}),
    # metrics: image-quality measures (PSNR, SSIM on imaging's Gaussian filter), used by problems and peers only
    ("imaging", {"imaging", "metrics"}),
    ("domains", {"registration", "tomography", "detection"}),
    ("problems and solvers", {"problems", "solvers"}),
    ("entry points", {"console", "run", "second_solve", "cli", "sweep", "collect", "summary", "report", "peers", "explain", "slurm",
                      "calibrate"}),
)
RANK = {name: rank for rank, (_, names) in enumerate(LAYERS) for name in names}


def top(module: str) -> str:
    """regrun.a.b -> a (the package, or the core module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every regrun import in the file, `from .x import y` resolved to the module y
    where y is a module."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("regrun")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("regrun"):
                continue
            for alias in node.names:
                sub = PACKAGE.parent.joinpath(*target.split("."), alias.name)
                found.append((node.lineno, f"{target}.{alias.name}" if sub.with_suffix(".py").exists()
                              or sub.is_dir() else target))
    return found


def all_imports():
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, target in imports_of(path):
            yield path, line, module_name(path), target


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(PACKAGE.parent)}:{line}"


def test_every_package_has_a_layer():
    packages = {top(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert packages <= set(RANK), f"give these a layer in tests/test_layers.py: {sorted(packages - set(RANK))}"


def test_imports_point_down():
    bad = [f"{where(p, line)} {src} imports {dst} ({top(dst)} is above {top(src)})"
           for p, line, src, dst in all_imports() if RANK.get(top(dst), -1) > RANK.get(top(src), -1)]
    assert not bad, "\n".join(bad)


def test_no_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for p, line, src, dst in all_imports():
        a, b = top(src), top(dst)
        if a != b:
            edges.setdefault(a, set()).add(b)
            lines.setdefault((a, b), where(p, line))

    def cycle_from(start):
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    return trail + [start]
                if nxt not in trail:
                    stack.append((nxt, trail + [nxt]))
        return None

    for start in sorted(edges):
        cyc = cycle_from(start)
        assert cyc is None, "package cycle " + " -> ".join(cyc) + ": " + ", ".join(
            lines[(a, b)] for a, b in zip(cyc, cyc[1:]))


@pytest.mark.parametrize("family", ["problems", "solvers"])
def test_no_problem_or_solver_imports_another(family):
    bad = [f"{where(p, line)} {src} imports {dst}" for p, line, src, dst in all_imports()
           if src.startswith(f"regrun.{family}.") and dst.startswith(f"regrun.{family}.")
           and dst != f"regrun.{family}.base"]
    assert not bad, "shared code belongs in a domain package or optim, not beside the " + family + ":\n" + \
        "\n".join(bad)


def test_problems_and_solvers_do_not_import_each_other():
    bad = [f"{where(p, line)} {src} imports {dst}" for p, line, src, dst in all_imports()
           if {top(src), top(dst)} == {"problems", "solvers"}]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """The test above can fail: a linalg module importing a solver is reported with its line."""
    fake = tmp_path / "regrun"
    (fake / "linalg").mkdir(parents=True)
    (fake / "solvers").mkdir()
    (fake / "solvers" / "x.py").write_text("")
    (fake / "linalg" / "y.py").write_text("import math\nfrom ..solvers import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    found = [(src, dst, line) for p, line, src, dst in all_imports()]
    assert found == [("regrun.linalg.y", "regrun.solvers.x", 2)]
    with pytest.raises(AssertionError, match=r"linalg/y.py:2 .*solvers is above linalg"):
        test_imports_point_down()
