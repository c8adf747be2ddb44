"""The console scripts' entry points (`regrun`, `regrun-collect`, `regrun-report`): a module that imports nothing
heavy, so that a Ctrl-C while Python is still loading the command's module (hydra, torch, h5py, matplotlib: the
first 0.3-2 s) is one line and exit 130 instead of the traceback of whatever was being imported (newuser7)."""
from __future__ import annotations

import importlib
import os
import signal
import sys

INTERRUPTED_EXIT = 130
STARTING = "Ctrl-C while reading the command, before anything ran; nothing was written"


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


def reader_left() -> int:
    """`regrun --help | head`, `regrun-collect DIR | head`: the reader left, which is no error to show (it was a
    traceback). stdout goes to /dev/null so that the flush at exit does not fail again; 141 is what a command
    killed by SIGPIPE returns."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def _load(prog: str, module: str):
    """The command's `main`, imported under the one-line SIGINT handler, then Python's handler back (the command
    records a Ctrl-C as KeyboardInterrupt). A process that ignores SIGINT (a background job of a script) keeps
    ignoring it while it loads, as Python's start-up leaves it."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, _exit_on_sigint(prog, STARTING))
    main = importlib.import_module(module).main
    if previous is not None:  # None: a handler not set from Python, which cannot be put back
        signal.signal(signal.SIGINT, previous)
    return main


def regrun() -> None:
    _load("regrun", "regrun.cli")()


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
