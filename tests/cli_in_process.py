"""The `regrun` command run inside the test process (no interpreter start-up per case): what a one-line error
test needs, exit code and both streams. tests/test_bad_inputs.py still runs the real command once."""
import subprocess
import sys

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
