"""The `regrun` command run inside the test process (no interpreter start-up per case): what a one-line error
test needs, exit code and both streams. tests/test_bad_inputs.py still runs the real command once."""
import subprocess
import sys
from pathlib import Path

from regrun import cli


def regrun_in_process(args, cwd, monkeypatch, capsys) -> subprocess.CompletedProcess:
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["regrun", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out.out, out.err)


def ct_file_fbp(args, size: int, cwd, monkeypatch, capsys, device):
    """FBP of a user's CT file at `size` (the readers' tests: counts, flats): (exit code, the console on success or
    stderr on failure, the run folder or None)."""
    done = regrun_in_process(["problem=ct_fewview", "problem.data=file", "solver=fbp", "figures=false",
                              f"problem.size={size}", f"device={device.type}", *args], cwd, monkeypatch, capsys)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        return done.returncode, done.stderr, None
    return done.returncode, out, Path(out.split(" -> ")[-1].split()[0])
