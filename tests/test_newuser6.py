"""A run's whole life as a new user meets it (newuser6): the ETA's lead, a line or a dot as an image, the results
file read with h5py alone, a killed run in regrun-collect, a Ctrl-C while the command is read; each failed before
its fix (docs/sweeps.md, "A new user's day (newuser6)")."""
from __future__ import annotations

import os
import platform

import h5py
import numpy as np
import pytest

from regrun.errors import UserError


def test_a_parts_set_up_is_lead_not_a_rate():
    # a 4000x4000 photo's first leaf spent 6-10 s building and blurring its scene and the scene's FFTs before its
    # first chunk: charged to that chunk, the first ETA said 46 min where 6.7 were left
    from regrun.monitor import WorkETA

    now = [0.0]
    eta = WorkETA({"a": [("fft", 1.0)], "b": [("fft", 1.0)]}, clock=lambda: now[0])
    eta.start("a")
    now[0] = 10.0
    eta.advance(0.0)  # set-up done (the registrar's report before its first chunk)
    assert eta.remaining() is None  # nothing measured: no ETA rather than a guess
    now[0] = 11.0
    eta.advance(0.1)  # 0.1 predicted s in 1 s: rate 10
    # a: 0.9 left at rate 10; b: its lead (10 s, the mean so far) and 1.0 at rate 10
    assert eta.remaining() == pytest.approx(9.0 + 10.0 + 10.0)
    now[0] = 20.0
    eta.advance(1.0)
    eta.start("b")
    now[0] = 25.0  # 5 s into b's lead: 5 s of it left, then its work
    assert eta.remaining() == pytest.approx(5.0 + 10.0)


def test_a_line_or_a_dot_is_not_an_image(tmp_path):
    # a 64x1 pair failed with torch's "negative strides" ValueError and frames 1 px wide with an IndexError (exit 1)
    from PIL import Image

    from regrun.imaging.io import read_frames, read_image, to_fair_layout

    assert to_fair_layout(np.zeros((1, 8))).strides[0] > 0  # a flipped row is copied, not a negative stride
    Image.fromarray(np.full((1, 64), 9, np.uint8)).save(tmp_path / "line.png")
    with pytest.raises(UserError, match=r"line.png is 64x1 pixels \(width x height\): regrun needs at least 4"):
        read_image(tmp_path / "line.png")
    (tmp_path / "f").mkdir()
    for k in range(3):
        Image.fromarray(np.full((32, 1), k, np.uint8)).save(tmp_path / "f" / f"f{k}.png")
    with pytest.raises(UserError, match=r"frames are 1x32 pixels \(width x height\)"):
        read_frames(tmp_path / "f")
    Image.fromarray(np.full((4, 4), 9, np.uint8)).save(tmp_path / "four.png")
    assert read_image(tmp_path / "four.png").shape == (4, 4)


def test_every_dataset_says_what_it_holds(tmp_path):
    # read with h5py alone, none of a burst run's 64 datasets said its meaning or unit
    from regrun.record import ResultsFile

    rf = ResultsFile(tmp_path)
    rf.begin({"problem": "superres"}, "a: 1\n", ["a=1"], versions=False)
    rf.write("history", {"iter": np.arange(3), "time": np.zeros(3), "J": np.ones(3)})
    rf.write("metrics", {"psnr": 30.0, "init_s": 0.5, "frames_check_gap_1": 0.1})
    rf.write("tables", {"lam_curve": {"lam": np.ones(2), "gcv": np.ones(2)}})
    path = rf.finish("completed", 1.0)
    with h5py.File(path) as f:
        datasets = []
        f.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert all("description" in f[d].attrs for d in datasets), [d for d in datasets if "description" not in f[d].attrs]
        assert "dB" in f["metrics/psnr"].attrs["description"]
        assert "seconds" in f["history/time"].attrs["description"]
        assert "in seconds" in f["metrics/init_s"].attrs["description"]
        assert "docs/superres.md" in f["metrics/frames_check_gap_1"].attrs["description"]
        assert "lockstep" in f["history"].attrs["description"]
        assert f.attrs["pid"] == os.getpid() and f.attrs["host"] == platform.node()
        assert "wall_time: seconds" in f.attrs["about"]


def test_collect_calls_a_killed_run_killed_and_a_live_one_running(tmp_path):
    # a run killed by SIGKILL (its results.h5.partial still "running") was listed "interrupted", a Ctrl-C's end
    import subprocess
    import sys

    from regrun.collect import read_run

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for name, pid in (("killed", gone.pid), ("running", os.getpid())):
        (tmp_path / name).mkdir()
        with h5py.File(tmp_path / name / "results.h5.partial", "w") as f:
            f.attrs.update({"status": "running", "pid": pid, "host": platform.node(), "run_id": name})
        run = read_run(tmp_path / name / "results.h5.partial", with_history=False)
        assert run.attrs["status"] == name
    assert "killed outright" in read_run(tmp_path / "killed" / "results.h5.partial", False).attrs["error"]


def test_ctrl_c_while_the_command_is_read_is_one_line(monkeypatch, capsys):
    # a Ctrl-C in the first 1-2 s (Hydra's parser, OmegaConf) printed Python's traceback of whatever was loading
    from regrun import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_main", interrupted)
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["regrun: interrupted: Ctrl-C while reading the command, before anything ran; nothing was written"]


def test_an_eta_from_the_first_node_only_says_so():
    # on a 4000x4000 photo the ETA while only the first leaf had run was 0.39-0.83x the time left, later 0.66-1.10x
    import io

    from regrun.monitor import Progress, Reporter
    from regrun.solvers.hierarchical import NodeProgress

    bar = Progress(Reporter(stream=io.StringIO(), interactive=False, every=0.0), 100, "detection", every=0.0)
    now = [0.0]
    progress = NodeProgress(bar, {"a": 1.0, "b": 1.0}, clock=lambda: now[0])
    progress("detect a")
    now[0] = 1.0
    progress.inside(0.0, "set-up")
    assert "ETA" not in bar.line()  # nothing measured yet
    now[0] = 2.0
    progress.inside(0.5, "coarse search")
    assert "(first node only)" in bar.line()
    now[0] = 3.0
    progress("detect b")
    now[0] = 4.0
    progress.inside(0.5, "coarse search")
    assert "ETA" in bar.line() and "first node" not in bar.line()
