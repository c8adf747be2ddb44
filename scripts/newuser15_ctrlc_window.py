"""When does a Ctrl-C at a run's start leave no results file? A terminal's Ctrl-C (SIGINT to the process group) sent
to a real `regrun` console script at each of a list of delays after it was started; prints one JSON row per try
and a count by outcome (docs/sweeps.md, "A new user's first day ... (newuser15)").

    python scripts/newuser15_ctrlc_window.py --exe PATH/TO/regrun --work DIR [--delays 0.005 0.01 ...] [ARGS ...]

`--exe` is the console script to judge (pip's wrapper of `regrun.console:regrun`; with PYTHONPATH=CHECKOUT it runs
that checkout's code); ARGS are the run's overrides (default: none, the default registration). Each try runs in
DIR/tN (its own `hydra.run.dir`). Outcomes: `traceback` (Python's lines: the interrupt landed outside regrun's
handlers), `killed` (ended by the signal itself, before Python took SIGINT), `no file` (one line, exit 130, no
results file), `recorded` (a results file whose status is `interrupted`), `completed` (the run ended before the
signal).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import h5py

DELAYS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2]


def _status(folder: Path) -> str | None:
    files = sorted(folder.rglob("results.h5")) + sorted(folder.rglob("results.h5.partial"))
    if not files:
        return None
    with h5py.File(files[0], "r") as f:
        return f"{files[0].name}: {f.attrs.get('status')}"


def one_try(exe: str, args: list[str], folder: Path, delay: float) -> dict:
    proc = subprocess.Popen([exe, *args, f"hydra.run.dir={folder}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.perf_counter()
    time.sleep(max(0.0, delay - (time.perf_counter() - t0)))
    sent = time.perf_counter() - t0
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    _, err = proc.communicate(timeout=300)
    status = _status(folder)
    lines = err.strip().splitlines()
    if "Traceback" in err or "Fatal Python error" in err:
        outcome = "traceback"
    elif proc.returncode == -signal.SIGINT:
        outcome = "killed"
    elif proc.returncode == 0:
        outcome = "completed"
    elif status and status.endswith("interrupted"):
        outcome = "recorded"
    else:
        outcome = "no file"
    # where a traceback landed: Python's `site` (the .pth files, before any statement of the command) or later
    where = "site" if "init_import_site" in err else "after site" if outcome == "traceback" else ""
    return {"delay": delay, "sent_at": round(sent, 4), "rc": proc.returncode, "stderr_lines": len(lines),
            "traceback_in": where,
            "last_line": lines[-1][:160] if lines else "", "results": status, "outcome": outcome}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exe", required=True, help="the regrun console script to judge")
    ap.add_argument("--work", type=Path, required=True, help="a folder for the tries' run folders")
    ap.add_argument("--delays", type=float, nargs="+", default=DELAYS, help="seconds after the start")
    ap.add_argument("args", nargs="*", help="the run's overrides")
    opts = ap.parse_args()
    rows = []
    for n, delay in enumerate(opts.delays):
        rows.append(one_try(opts.exe, opts.args, opts.work / f"t{n}", delay))
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps(dict(Counter(r["outcome"] + (f" ({r['traceback_in']})" if r["traceback_in"] else "")
                                  for r in rows))))


if __name__ == "__main__":
    main()
