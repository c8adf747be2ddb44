"""`regrun --explain KEY [KEY ...] [overrides]` (ux4's new user named six keys and got the first one only)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def explain(*args, cwd):
    code = "from regrun.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "--explain", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def test_every_key_named_is_explained_and_none_reads_null(tmp_path):
    proc = explain("problem.resize", "problem.template", "problem.views", "problem=ct_fewview", "problem.data=file",
                   cwd=tmp_path)
    # problem.resize and problem.template are multiscale_affine's: named as such, after problem.views is explained
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout.startswith("problem.views = null"), proc.stdout  # YAML's word, not Python's None
    assert proc.stderr.count("regrun: error: problem.") == 2 and "it is one of problem=multiscale_affine" in proc.stderr
    proc = explain("problem.resize", "problem.template", "seed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [line.split(" = ")[0] for line in proc.stdout.splitlines() if " = " in line and not line.startswith(" ")] \
        == ["problem.resize", "problem.template", "seed"]
    assert "problem.resize = null" in proc.stdout
