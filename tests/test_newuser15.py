"""A new user's first day (newuser15): each case failed before its fix (docs/sweeps.md, "A new user's first day
from a fresh clone (newuser15)")."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parents[1]
SEED = 30151

# `regrun` as pip's console script runs it (`from regrun.console import regrun`), sent a real SIGINT by the process
# itself when the command first imports each module named: a terminal's Ctrl-C while the run starts (Python's
# imports, Hydra's composition), at a fixed point instead of a timed one.
CONSOLE = r"""
import importlib.abc, os, signal, sys
AT = sys.argv[1].split(",")

class CtrlC(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in AT:
            AT.remove(name)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
from regrun.console import regrun
sys.argv = ["regrun", *sys.argv[2:]]
sys.exit(regrun())
"""


def _ctrl_c_at_start(at: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CONSOLE, at, *args], capture_output=True, text=True, cwd=tmp_path,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_ctrl_c_while_a_run_starts_leaves_a_results_file_that_says_interrupted(device, tmp_path):
    # SIGINT while regrun.cli imported hydra (0.06-0.45 s after the start at load 1): "nothing was written", exit
    # 130 and no results file, where a Ctrl-C a moment later left one with status interrupted
    got = _ctrl_c_at_start("hydra", tmp_path, f"device={device.type}", "hydra.run.dir=run")
    assert got.returncode == 130, got.stderr
    lines = got.stderr.splitlines()
    assert lines[0].startswith("regrun: Ctrl-C: stopping once the command is read"), got.stderr
    assert lines[-1].startswith("regrun: interrupted: interrupted by Ctrl-C while starting, before the run began "
                                "(results file: "), got.stderr
    assert "Traceback" not in got.stderr, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        assert f.attrs["status"] == "interrupted"
        assert "interrupted by Ctrl-C" in f.attrs["error"]
    assert not (tmp_path / "run" / "results.h5.partial").exists()


def test_a_second_ctrl_c_while_a_run_starts_stops_it_at_once(tmp_path):
    # the escape from the wait: one line, exit 130, and the first statement's promise taken back
    got = _ctrl_c_at_start("yaml,hydra", tmp_path, "hydra.run.dir=run")
    assert got.returncode == 130, got.stderr
    assert got.stderr.splitlines()[-1] == ("regrun: interrupted: Ctrl-C while reading the command, before anything "
                                           "ran; nothing was written"), got.stderr
    assert not (tmp_path / "run").exists()


def test_a_ctrl_c_while_help_loads_still_stops_at_once(tmp_path):
    # the control: nothing to record for --help, so nothing is held (test_newuser7 holds the other commands)
    got = _ctrl_c_at_start("hydra", tmp_path, "--help")
    assert got.returncode == 130 and got.stdout == "", got.stderr
    assert got.stderr == ("regrun: interrupted: Ctrl-C while reading the command, before anything ran; nothing was "
                          "written\n")
