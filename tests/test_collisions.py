"""Identical runs and sweeps started together each get their own folder and a complete results file."""
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from regrun.config import compose, quote_value
from regrun.record import claim_folder, load
from regrun.sweep import own_sweep_dir

TINY = ["problem.synthetic.size=16", "solver.max_iter=2", "progress=false", "figures=false"]


def _claim(path):
    return str(claim_folder(path))


def test_claim_folder_is_exclusive_under_concurrency(tmp_path):
    target = tmp_path / "runs" / "same_name"
    with multiprocessing.get_context("fork").Pool(8) as pool:
        folders = pool.map(_claim, [target] * 20)
    assert len(set(folders)) == 20
    assert sorted(Path(f).name for f in folders) == sorted(["same_name"] + [f"same_name_{n}" for n in range(2, 21)])
    for folder in folders:  # each claimed folder already holds a readable file saying "running"
        with h5py.File(Path(folder) / "results.h5.partial", "r") as f:
            assert f.attrs["status"] == "running"


def test_claim_folder_takes_an_empty_folder_but_not_a_used_one(tmp_path):
    (tmp_path / "empty").mkdir()
    assert claim_folder(tmp_path / "empty") == tmp_path / "empty"
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "results.h5").write_bytes(b"")
    assert claim_folder(tmp_path / "used") == tmp_path / "used_2"


def test_two_sweeps_in_the_same_second_get_two_folders(tmp_path):
    base = compose(["hydra/sweeper=regrun"])
    pattern = tmp_path / "multirun" / "12-00-00"
    first = own_sweep_dir(base, None, pattern)
    second = own_sweep_dir(compose([]), None, pattern)
    assert first == pattern and second == pattern.with_name("12-00-00_2")
    assert str(base.hydra.sweep.dir) == str(first)


@pytest.mark.parametrize("value", ["/tmp/ä b/c", "/tmp/it's", "x\\y", "end\\", "a\\'b"])
def test_quote_value_round_trips_through_hydra(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_override(f"key={quote_value(value)}").value() == value


def _forked_runs(count, cwd):
    """`count` regrun commands forked from this process (torch and Hydra already imported, so no interpreter
    start-up each), held at a pipe until all exist and then released at once: a tighter race for the output
    folder than interpreters whose imports spread their starts over seconds. Returns the exit codes."""
    import logging

    from regrun import cli

    ready_r, ready_w = os.pipe()
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # the child: wait for the start, run the command, leave without pytest's exit handlers
            code = 1
            try:
                os.close(ready_w)
                os.read(ready_r, 1)
                os.chdir(cwd)
                sys.argv = ["regrun", *TINY]
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                try:
                    cli.main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                logging.shutdown()
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(ready_r)
    os.close(ready_w)  # every child's read returns now: all start together
    codes, deadline = {}, time.monotonic() + 600  # the interpreters' communicate(timeout=600): never hang the suite
    while len(codes) < count:
        for pid in (p for p in pids if p not in codes):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
        if len(codes) < count and time.monotonic() > deadline:
            for pid in (p for p in pids if p not in codes):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            raise AssertionError(f"{count - len(codes)} of {count} forked runs still running after 600 s")
        time.sleep(0.05)
    return [codes[pid] for pid in pids]


@pytest.mark.parametrize("count", [4, pytest.param(20, marks=pytest.mark.slow)])
def test_identical_runs_started_together_give_complete_files(tmp_path, count):
    """4 `regrun` interpreters (what a user starts), and 20 runs forked from this process released at one
    instant (the same race, denser, without 20 interpreter start-ups: ~2.5 CPU-s each)."""
    if count == 4:
        procs = [subprocess.Popen([sys.executable, "-m", "regrun.cli", *TINY], cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
        outs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0] * count, [o for p, o in zip(procs, outs) if p.returncode]
    else:
        assert _forked_runs(count, tmp_path) == [0] * count
    folders = sorted((tmp_path / "outputs").glob("*/*"))
    assert len(folders) == count
    for folder in folders:
        res = load(folder / "results.h5")
        assert res["attrs"]["status"] == "completed" and res["attrs"]["out_dir"] == str(folder)
        assert "resolved" in res["config"] and res["data"] and len(res["attrs"]["run_id"]) == 64
        assert not (folder / "results.h5.partial").exists()
