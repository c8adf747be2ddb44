"""A new user's afternoon from a fresh clone (newuser9): newuser8's leftovers and what this pass found; each case
failed before its fix (docs/sweeps.md, "A new user's afternoon from a fresh clone (newuser9)")."""
from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pytest

from cli_in_process import regrun_in_process


def _fan_sinogram(path, views=24, n_u=40):
    # an object inside the detector: its ends read air (0), as a scan not truncated does (newuser27's check)
    u = ((np.arange(n_u) + 0.5) / n_u - 0.1) / 0.8
    np.save(path, np.clip(np.sin(math.pi * u), 0, None)[None].repeat(views, 0) * 3.0)


def test_a_fan_beam_file_is_not_warned_about_the_default_axis(tmp_path, monkeypatch, capsys):
    # every fan-beam file warned "problem.rotation_centre=auto estimates parallel beams only", a default's limit
    # about a setting the user never typed; the choice is one plain line and the results file's rotation_axis
    _fan_sinogram(tmp_path / "fan.npy")
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=fan.npy",
                             "problem.geometry=fan", "problem.size=16", "figures=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert "WARNING" not in got.stdout + got.stderr, got.stdout
    assert "problem.rotation_centre=auto: this fan beam's axis is taken at the detector's centre" in got.stdout
    assert "WARNING" not in json.loads((tmp_path / "run" / "metrics.json").read_text())["message"]


def test_each_further_solver_run_counts_its_own_steps():
    # a user's 8-level frames ran 61 LM steps over several runs (edge rounds, the weight searched again, a second
    # start) for 4 minutes under one line, `varpro_cg, then past its cap of 10: 33`, as if the cap were ignored
    from regrun.monitor import Monitor, ProgressBar, Reporter, RunRows

    out = io.StringIO()
    monitor = Monitor([ProgressBar(reporter=Reporter(None, stream=out, interactive=False, every=0.0))])
    monitor.start(total=10, desc="varpro_cg", upto=True)
    first = RunRows(monitor, 0, lambda_f=0.2)
    for k in range(10):
        first.step(iter=k, J=1.0)
    again = RunRows(monitor, first.next_iter, lambda_f=0.3)  # a run at a re-chosen weight, with an edge round
    edge = RunRows(again, 0, edge_round=0.0)
    for k in range(4):
        edge.step(iter=k, J=1.0)
    edge = RunRows(again, edge.next_iter, edge_round=1.0)
    for k in range(3):
        edge.step(iter=k, J=1.0)
    lines = [s for s in out.getvalue().splitlines() if s.startswith("  varpro_cg")]
    assert not any("past its cap" in s for s in lines), lines
    assert lines[-1].startswith("  varpro_cg, run 3: 3/<=10 (30%), "), lines[-1]
    assert any(s.startswith("  varpro_cg, run 2: 4/<=10 (40%), ") for s in lines), lines
    assert list(monitor.history.as_arrays()["iter"]) == list(range(17))  # the rows still numbered on


def _quantised(noise: float, k: int):
    import torch

    rng = np.random.default_rng(25920)
    scene = np.cumsum(np.cumsum(rng.standard_normal((40, 40)), 0), 1)
    scene = (scene - scene.min()) / np.ptp(scene)
    frames = np.stack([np.roll(np.roll(scene, k, 0), 2 * k, 1)[4:36, 4:36] for k in range(6)])
    return torch.as_tensor((np.clip(frames + noise * rng.standard_normal(frames.shape), 0, 1) * k).round())


def test_frames_of_a_few_values_are_warned_by_what_their_steps_cost():
    # newuser8 warned at <= 16 distinct values: a text crop at 17 values lost 5.8 dB and coins at 24 2.7 dB
    # without a word, and noisy frames of 12 values, whose noise dithers the steps, were warned
    from regrun.problems.superres import few_levels_warning

    coarse = few_levels_warning(_quantised(0.005, 23))  # 23 values, little noise
    assert coarse.startswith("the frames hold only 23 distinct values (0, 1, 2, 3, ...), and their steps' noise"), \
        coarse
    assert few_levels_warning(_quantised(0.005, 40)).startswith("the frames hold only 40 distinct values")
    assert few_levels_warning(_quantised(0.06, 11)) == ""  # 12 values under 6% noise
    assert few_levels_warning(_quantised(0.005, 255)) == ""  # 8-bit: 231 values


@pytest.mark.parametrize("factor, warned", [(65535 / 50.0, True), (1.0, False), (0.9, False)])
def test_a_truth_in_other_units_than_the_sinogram_is_named(factor, warned, tmp_path, monkeypatch, capsys):
    # a sinogram saved as a 16-bit PNG (scaled to fill its range) beside a truth in the object's units: PSNR -57 dB,
    # rel_error 1218, without a word (the same scan as .npy: 24 dB)
    import torch

    from regrun.tomography.geometry import parallel_beam
    from regrun.tomography.phantoms import phantom_function, render
    from regrun.tomography.xray import XRayTransform

    n, views = 24, 36
    truth = render(phantom_function("shepp_logan", 0), (n, n), sub=2, device=torch.device("cpu"))
    geo = parallel_beam((n, n), torch.arange(views, dtype=torch.float64) * (math.pi / views), 36, 1.0, 1.0)
    np.save(tmp_path / "sino.npy", (XRayTransform(geo, cache_mb=0).project(truth) * factor).numpy())
    np.save(tmp_path / "truth.npy", truth.numpy())
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=sino.npy",
                             f"problem.size={n}", "problem.truth_file=truth.npy", "problem.rotation_centre=geometric",
                             "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    said = "times problem.truth_file (rel_error"
    assert (said in got.stderr) == warned, got.stderr
    if warned:  # the least-squares scale, FBP's own bias of a few views at 24^2 in it
        said = float(re.search(r"the reconstruction is ([0-9.e+]+) times", got.stderr).group(1))
        assert 0.7 * factor < said < 1.1 * factor, said


def test_a_run_marked_diverged_by_a_nan_metric_says_which(tmp_path, monkeypatch, capsys):
    # 3-level frames: the solver converged, first_solve_exposure_std was NaN (a frame whose prediction summed to 0),
    # and the end line read "regrun: diverged: diverged"
    from regrun.config import compose
    from regrun.registry import SOLVERS
    from regrun.run import run
    from regrun.solve_result import SolveResult
    from regrun.solvers.base import Solver

    class NanMetric(Solver):
        needs = frozenset({"registration"})

        def solve(self, problem, monitor):
            monitor.step(iter=0, J=1.0)
            return SolveResult({"w": problem.identity, "theta": 0.0}, "converged", message="done",
                               metrics={"exposure_std": float("nan")})

    if "_test_nan_metric" not in SOLVERS.names():
        SOLVERS.register("_test_nan_metric")(NanMetric)
    cfg = compose(["problem.synthetic.size=16", "progress=false", "figures=false"])
    cfg.solver = {"name": "_test_nan_metric"}
    outcome = run(cfg, tmp_path / "run")
    assert outcome.status == "diverged"
    assert outcome.error == "solver converged: done; not finite: exposure_std = nan", outcome.error


def test_a_border_fixed_in_every_frame_is_named():
    # 6 frames with a black border 2-3 px wide ran as scene: the exposure check read it as the brightness varying
    # ("solved again with problem.gain=true") and nothing said the border was there
    import torch

    from regrun.problems.superres import fixed_border_warning

    rng = np.random.default_rng(25921)
    frames = torch.as_tensor(rng.uniform(0.2, 1.0, (6, 21, 33)))
    assert fixed_border_warning(frames) == ""
    bordered = frames.clone()
    bordered[:, :3] = 0.0
    bordered[:, :, -2:] = 0.0
    said = fixed_border_warning(bordered)
    assert said.startswith("the frames' outer 3 px on 2 of their 4 edges (3, 0, 0, 2 px) hold one value in every "
                           "frame"), said
    moving = frames.clone()  # a dark edge that moves with the scene is scene
    moving[0, :3] = 0.0
    assert fixed_border_warning(moving) == ""


@pytest.mark.parametrize("args, said", [(["--cfg", "jobb"], "--cfg jobb: allowed job, hydra, all; did you mean --cfg job?"),
                                        (["--cfg=hydr"], "--cfg hydr: allowed job, hydra, all; did you mean --cfg hydra?")])
def test_a_flag_given_a_word_it_does_not_take_is_one_line(args, said, tmp_path, monkeypatch, capsys):
    # argparse printed its usage (two lines) before "invalid choice: 'jobb' (choose from 'job', 'hydra', 'all')"
    got = regrun_in_process(args, tmp_path, monkeypatch, capsys)
    assert got.returncode == 2 and got.stderr == f"regrun: error: {said}\n", got.stderr


def test_hydras_info_into_a_reader_that_left_is_quiet(tmp_path):
    # `regrun --info defaults | head -2`: a "--- Logging error --- BrokenPipeError" call stack per record after it
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from regrun.cli import main; sys.argv = ['regrun', "
                             "'--info', 'defaults']; main()"], stdout=write, stderr=subprocess.PIPE, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    os.close(write)
    os.read(read, 10)  # a reader that takes the first bytes and leaves
    os.close(read)
    _, err = proc.communicate(timeout=120)
    assert b"Logging error" not in err and b"Traceback" not in err, err.decode()[-2000:]
