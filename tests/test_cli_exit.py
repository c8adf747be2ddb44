"""The `regrun` command ends without the interpreter's module teardown (regrun/cli.py, _exit_now): its exit codes
and its output, flushed, must be those of a normal exit."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("regrun") is None, reason="the regrun command is not installed (pip install -e .)")
def test_the_command_exits_with_its_code_and_all_its_output(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    bad = subprocess.run(["regrun", "problem=crab_detection", "problem.scale=3", f"hydra.run.dir={tmp_path / 'bad'}"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert bad.returncode == 2, bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "problem.scale=3" in bad.stderr
    shown = subprocess.run(["regrun", "problem=crab_detection", "--cfg", "job"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "name: hierarchical" in shown.stdout and shown.stdout.endswith("\n")


def test_python_m_regrun_cli_is_the_command(monkeypatch):
    """`python -m regrun.cli` (the benches' form) ends as the `regrun` command does (no teardown, start-up without
    the collector); a program that imported regrun.cli does not."""
    import importlib.machinery
    import sys
    import types

    from regrun import cli

    monkeypatch.setattr(sys, "argv", ["cli.py", "problem=crab_detection"])
    assert not cli._console_script()  # pytest is __main__
    as_m = types.ModuleType("__main__")
    as_m.__file__ = cli.__file__
    as_m.__spec__ = importlib.machinery.ModuleSpec("regrun.cli", None)
    monkeypatch.setitem(sys.modules, "__main__", as_m)
    assert cli._console_script()
    monkeypatch.setattr(sys, "argv", ["cli.py", "-m", "problem=crab_detection"])
    assert not cli._console_script()  # a sweep ends as usual
