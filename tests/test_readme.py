"""The README's examples as written: every `regrun ...` command composes (no run), its 90-degree snippet needs
only the core dependencies, and scripts/make_sr_frames.py prints the README's command."""
import re
import shlex
from pathlib import Path

import pytest

from regrun.config import compose

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
PLACEHOLDER = re.compile(r"NAME|DIR\b|<|\.\.\.|MY\.png|PATH")


def readme_commands() -> list[str]:
    """`regrun ...` commands from indented code blocks (with `\\` continuations) and from `code` spans."""
    found = []
    lines = README.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("    regrun ") or line.strip() == "regrun" and line.startswith("    "):
            cmd = line.strip()
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1] + " " + lines[i].strip()
            found.append(cmd.split("  #")[0].split(" # ")[0].strip())
        i += 1
    found += re.findall(r"`(regrun (?:-m )?[^`]*?)`", README)
    return list(dict.fromkeys(found))


def overrides_of(cmd: str) -> list[str] | None:
    """The overrides a command composes with; None for commands that are not runs (--help, --cfg, ...)."""
    if PLACEHOLDER.search(cmd) or "|" in cmd:
        return None
    words = shlex.split(cmd)[1:]
    if any(w.startswith("--") for w in words):
        return None
    out = []
    for w in words:
        if w in ("-m", "--multirun"):
            continue
        key, _, value = w.partition("=")
        # a sweep's comma list composes like its first value; range(...) like its start
        value = value.split(",")[0] if "," in value and "[" not in value and "{" not in value else value
        out.append(f"{key}={value}")
    return out


COMMANDS = [c for c in readme_commands() if overrides_of(c) is not None]


def test_the_readme_has_commands():
    assert len(COMMANDS) >= 20 and "regrun" in COMMANDS


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_command_composes(cmd):
    from regrun.cli import _implied_solver

    overrides = overrides_of(cmd)
    solver = _implied_solver(overrides)  # `regrun problem=superres` runs the problem's default solver
    compose(overrides + ([f"solver={solver}"] if solver else []))


def test_no_readme_command_pipes_in_a_shell():
    for cmd in readme_commands():
        assert not re.search(r"=\w+\|\w+", cmd.replace("\\|", "|")), f"pasted into a shell this pipes: {cmd}"


def test_ninety_degree_snippet_needs_only_core_dependencies(tmp_path, monkeypatch):
    block = README[README.index("    python - <<'PY'\n") + len("    python - <<'PY'\n"):]
    code = "\n".join(ln[4:] for ln in block[: block.index("\n    PY\n")].splitlines())
    assert "skimage" not in code and "T.png" in code
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README snippet", "exec"), {})
    from PIL import Image
    import numpy as np

    r, t = np.asarray(Image.open("R.png")), np.asarray(Image.open("T.png"))
    assert r.shape == t.shape == (128, 128) and np.array_equal(np.rot90(r), t)
    assert README.index("T.png") >= README.index("    python - <<'PY'")  # made before it is used


def test_make_sr_frames_prints_the_readme_command(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sr_frames", ROOT / "scripts" / "make_sr_frames.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "sr_frames"
    mod.main([str(out), "--size", "8", "--supersample", "2", "--frames", "3"])
    printed = " ".join(capsys.readouterr().out.replace("\\\n", " ").split())
    readme = next(c for c in readme_commands() if "problem.data=frames problem.frames=sr_frames" in c and "problem.truth=" in c)
    assert " ".join(readme.split()) == printed.replace(str(out), "sr_frames")


def test_a_users_problem_starting_from_a_shipped_one_keeps_its_default_solver(tmp_path):
    """The README's `my_configs/problem/mine.yaml` with `defaults: [superres, _self_]`: `regrun --config-dir
    my_configs problem=mine` paired superres with single_scale (the file alone names no default_solver) and
    stopped; new-user pass."""
    from regrun.cli import _implied_solver

    (tmp_path / "problem").mkdir()
    (tmp_path / "problem" / "mine.yaml").write_text("defaults: [superres, _self_]\nn_frames: 6\n")
    (tmp_path / "problem" / "own.yaml").write_text("defaults: [mine, _self_]\ndefault_solver: two_stage\n")
    assert _implied_solver(["problem=mine"], (tmp_path,)) == "varpro_cg"
    assert _implied_solver(["problem=own"], (tmp_path,)) == "two_stage"  # its own value wins (_self_ last)
    assert _implied_solver(["problem=mine", "solver=joint_gn"], (tmp_path,)) is None
