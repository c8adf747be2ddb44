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
