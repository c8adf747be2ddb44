"""The console scripts' entry points (`regrun`, `regrun-collect`, `regrun-report`, `regrun-calibrate`): a module
that imports nothing heavy, so that a Ctrl-C while Python is still loading the command's module (hydra, torch, h5py,
matplotlib: the first 0.3-2 s) is one line and exit 130 instead of the traceback of whatever was being imported
(newuser7)."""
from __future__ import annotations

import importlib
import os
import signal
import sys

INTERRUPTED_EXIT = 130
STARTING = "Ctrl-C while reading the command, before anything ran; nothing was written"
_INFORMATIONAL = ("--help", "-h", "--hydra-help", "--info", "--cfg", "-c", "--shell-completion")
_CTRL_C_HELD: list[bool] = []  # a Ctrl-C came while _hold_sigint held it
_HOLDING: list = []  # the holding handler and the one it replaced


def informational(argv: list[str]) -> bool:
    """Whether the command line asks what regrun would do (help, info, the config) rather than to run."""
    return any(a in _INFORMATIONAL or a.startswith("--info") for a in argv)


def _one_run(argv: list[str]) -> bool:
    """Whether the command line asks for a single run, the one command whose Ctrl-C at start-up has a results file
    to go in (a sweep records its jobs; help and --explain write nothing)."""
    return not informational(argv) and not any(a in ("-m", "--multirun") or a.startswith("--explain")
                                               for a in argv)


def _exit_on_sigint(prog: str, message: str):
    """A SIGINT handler that says `prog: interrupted: message` and ends the process at once: an interrupt raised
    inside an import (or inside a weakref callback of the collector, where Python only prints "Exception ignored"
    and goes on) cannot be caught where it lands."""
    def handler(signum, frame):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os.write(2, f"{prog}: interrupted: {message}\n".encode())
        os._exit(INTERRUPTED_EXIT)
    return handler


def _hold_sigint(prog: str):
    """A single run's SIGINT handler from its first statement until its folder is claimed (Python's imports, Hydra's
    composition: 0.06-0.45 s here at load 1, seconds on a loaded machine): a Ctrl-C there ended with "nothing was
    written" and no results file (newuser15). The first is noted and the start goes on, to be recorded as the run's
    `interrupted` once its folder exists (`held_ctrl_c`); a second stops at once, unrecorded."""
    def handler(signum, frame):
        if _CTRL_C_HELD:
            _exit_on_sigint(prog, STARTING)(signum, frame)
        _CTRL_C_HELD.append(True)
        os.write(2, f"{prog}: Ctrl-C: stopping once the command is read, to record the run as interrupted "
                    "(Ctrl-C again to stop at once, unrecorded)\n".encode())
    return handler


def held_ctrl_c() -> bool:
    """Python's own SIGINT handler (KeyboardInterrupt) back where _hold_sigint held it; whether a Ctrl-C came
    meanwhile."""
    if _HOLDING and signal.getsignal(signal.SIGINT) is _HOLDING[0]:
        signal.signal(signal.SIGINT, _HOLDING[1] if _HOLDING[1] is not None else signal.default_int_handler)
    return bool(_CTRL_C_HELD)


def reader_left() -> int:
    """`regrun --help | head`, `regrun-collect DIR | head`: the reader left, which is no error to show (it was a
    traceback). stdout goes to /dev/null so that the flush at exit does not fail again; 141 is what a command
    killed by SIGPIPE returns."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def _load(prog: str, module: str, hold: bool = False):
    """The command's `main`, imported under the one-line SIGINT handler, then Python's handler back (the command
    records a Ctrl-C as KeyboardInterrupt); with `hold`, under _hold_sigint, which the command takes back itself. A
    process that ignores SIGINT (a background job of a script) keeps ignoring it while it loads, as Python's
    start-up leaves it."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        handler = _hold_sigint(prog) if hold else _exit_on_sigint(prog, STARTING)
        if hold:
            _HOLDING[:] = [handler, previous]
        signal.signal(signal.SIGINT, handler)
    main = importlib.import_module(module).main
    if previous is not None and not hold:  # None: a handler not set from Python, which cannot be put back
        signal.signal(signal.SIGINT, previous)
    return main


def regrun() -> None:
    _load("regrun", "regrun.cli", hold=_one_run(sys.argv[1:]))()


def collect() -> None:
    main = _load("regrun-collect", "regrun.collect")
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        # regrun-collect only reads results files and rewrites its own tables: stopping at once loses nothing
        signal.signal(signal.SIGINT, _exit_on_sigint(
            "regrun-collect", "Ctrl-C; the tables and plots being written may be incomplete: run the same command "
            "again (the results files are only read)"))
    try:
        main()
    except BrokenPipeError:  # `regrun-collect DIR | head` (newuser7)
        sys.exit(reader_left())


def report() -> None:
    main = _load("regrun-report", "regrun.report")  # the page's sweeps record their own Ctrl-C; report says so
    try:
        main()
    except BrokenPipeError:
        sys.exit(reader_left())


def calibrate() -> None:
    # a Ctrl-C mid-calibration loses only the file not yet written: one line, as the other commands
    main = _load("regrun-calibrate", "regrun.calibrate")
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _exit_on_sigint(
            "regrun-calibrate", "Ctrl-C; no calibration file was written: run the same command again"))
    main()
