"""A new user's first day (newuser15): each case failed before its fix (docs/sweeps.md, "A new user's first day
from a fresh clone (newuser15)")."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from cli_in_process import regrun_in_process

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


def test_collect_has_a_column_for_the_affine_each_registration_run_found(device, tmp_path, monkeypatch, capsys):
    # w_affine is the answer of a registration, not a metric: runs.csv, summary.md and metrics.json of a sweep of
    # the default pair over the solver's theta listed misfits and wall times, never the affine each run found
    import csv
    import json

    from regrun import collect

    found = {}
    for theta in ("0.001", "0.01"):
        got = regrun_in_process([f"solver.theta={theta}", f"device={device.type}", "figures=false", "progress=false",
                                 f"hydra.run.dir=sw/{theta}"], tmp_path, monkeypatch, capsys)
        assert got.returncode == 0, got.stderr
        with h5py.File(tmp_path / "sw" / theta / "results.h5") as f:
            found[theta] = f["result/w_affine"][()]
    collect.main([str(tmp_path / "sw")])
    out = tmp_path / "sw" / "collected"
    with open(out / "runs.csv") as f:
        table = {r["solver.theta"]: r for r in csv.DictReader(f)}
    for theta, affine in found.items():
        row = [float(table[theta][f"w_affine.{part}"]) for part in ("a11", "a12", "a21", "a22", "b1", "b2")]
        assert row == affine.tolist(), (row, affine)
    summary = (out / "summary.md").read_text()
    assert "| w_affine (a11 a12 a21 a22 b1 b2) |" in summary, summary
    assert " ".join(f"{x:.4g}" for x in found["0.01"]) in summary, summary
    runs = json.loads((out / "metrics.json").read_text())["runs"]
    assert sorted(r["w_affine"][4] for r in runs) == sorted(a[4] for a in found.values())


def _readme_pair(folder: Path, n: int = 64) -> np.ndarray:
    """The README's pair (a bar, a blob and a ring; the template its quarter turn) at n x n, 8-bit."""
    y, x = np.mgrid[0:n, 0:n] / n
    r = (np.abs(x - 0.3) < 0.08) * (np.abs(y - 0.5) < 0.3) + np.exp(-((x - 0.7) ** 2 + (y - 0.3) ** 2) / 0.004) \
        + 0.5 * (np.abs(np.hypot(x - 0.65, y - 0.72) - 0.12) < 0.03)
    r = (200 * r / r.max()).astype(np.uint8)
    Image.fromarray(r).save(folder / "R.png")
    Image.fromarray(r.astype(np.uint16) * 257).save(folder / "R16.png")
    Image.fromarray(np.rot90(r).astype(np.uint16) * 257).save(folder / "T16.png")
    return r


@pytest.mark.parametrize("reference", ["R.png", "R16.png"])
def test_a_16_bit_template_against_an_8_bit_reference_is_measured_in_one_unit(reference, device, tmp_path,
                                                                             monkeypatch, capsys):
    # w_affine was right, but J, residual_rms and rel_reduction were in the 16-bit image's units: rel_reduction
    # 0.004 and residual_rms 16557 at the README's pair, which read as a failed registration. The control, R16.png:
    # both images 16-bit, one depth, nothing rescaled or said
    _readme_pair(tmp_path)
    got = regrun_in_process(["problem.data=files", "problem.template=T16.png", f"problem.reference={reference}",
                             f"device={device.type}", "figures=false", "progress=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    said = ("regrun: template T16.png has 16 bits per sample, R.png 8: the template is read in 8-bit units (its "
            "values / 257)")
    assert (said in got.stdout) == (reference == "R.png"), got.stdout
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        assert f["metrics/rel_reduction"][()] > 0.99
        # in grey levels of the 8-bit reference (16557 before), or of the 16-bit files
        assert (f["metrics/residual_rms_initial"][()] < 255) == (reference == "R.png")


def test_angles_saved_as_a_matlab_row_are_one_angle_per_view(device, tmp_path, monkeypatch, capsys):
    # scipy.io.loadmat gives a MATLAB vector as a row, (1, n): "its 'angles' holds 24 angles (shape (1, 24)) but its
    # 'sinogram' 24 views: one angle per view", exit 2, for a file that holds exactly that
    from test_newuser12 import _ct, _scan

    sino, angles = _scan(seed=SEED)
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles[None, :] + 1.0)  # off the even spread: read, not assumed
    got = _ct(["problem.sinogram=s.npz"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5") as f:
        np.testing.assert_allclose(f["data/angles_deg"][()], angles + 1.0)


def test_a_matlab_sinogram_is_told_to_keep_its_angles(tmp_path, monkeypatch, capsys):
    # the line to convert a .mat saved the sinogram alone: its angles were dropped, and the run that followed spread
    # the views evenly over 180 degrees
    import scipy.io

    from test_newuser12 import _scan

    sino, angles = _scan(seed=SEED)
    scipy.io.savemat(tmp_path / "scan.mat", {"sino": sino, "theta": angles})
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=scan.mat",
                             "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stderr
    assert ("numpy.savez('scan.npz', sinogram=scipy.io.loadmat('scan.mat')['sino'], "
            "angles=scipy.io.loadmat('scan.mat')['theta'].ravel()) (angles in degrees") in got.stderr, got.stderr


def test_a_weight_from_a_sweep_of_typed_weights_says_they_were_typed(tmp_path):
    # `solver.lam=from:SWEEP` of a sweep over solver.lam=0.5,2: "none completed with a weight: give the run folder
    # of one that has it", where no run could have one
    from omegaconf import OmegaConf

    from regrun.errors import UserError
    from regrun.record import ResultsFile, learned_lam

    for k, lam in enumerate((0.5, 2.0)):
        results = ResultsFile(tmp_path / "sw" / f"{k}_run")
        config = {"problem": {"name": "ct_fewview"}, "solver": {"name": "fista_tv", "lam": lam}}
        results.begin({"problem": "ct_fewview", "solver": "fista_tv", "run_id": str(k) * 64},
                      OmegaConf.to_yaml(OmegaConf.create(config)), [f"solver.lam={lam}"])
        results.write("metrics", {"psnr": 30.0 + k})
        results.finish("completed", wall_time=1.0)
    with pytest.raises(UserError) as exc:
        learned_lam(tmp_path / "sw", problem="ct_fewview")
    assert ("sweep's folder of 2 runs (0_run, 1_run) whose weights were typed (solver.lam = 0.5, 2), none learned "
            "(/metrics/lam_learned): type the one you choose, e.g. solver.lam=0.5") in str(exc.value), str(exc.value)


def test_a_saturated_frame_in_a_folder_is_named_by_its_file(device, tmp_path, monkeypatch, capsys):
    # "frame 3 is constant (every pixel 255)": which file is frame 3 was the user's to work out
    from test_newuser13 import _burst, _sr

    (tmp_path / "burst").mkdir()
    for k, frame in enumerate(_burst(6, seed=SEED)):
        Image.fromarray(np.full_like(frame, 255) if k in (3, 5) else frame).save(tmp_path / "burst" / f"img{k}.png")
    got = _sr(["problem.frames=burst"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert ("problem.frames=burst: frame 3 (img3.png) is constant (every pixel 255) (and 1 more: 5); frames must "
            "show the scene: leave a blank or saturated frame out") in got.stderr, got.stderr


def test_cfg_job_says_what_an_interpolated_default_is_here(tmp_path, monkeypatch, capsys):
    # `lambda_f: ${weight_for_data:${.data},1.0e-2}`: nothing said that a user's frames get auto (--resolve does)
    got = regrun_in_process(["--cfg", "job", "problem=superres", "problem.data=frames"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 0, got.stderr
    line = next(s for s in got.stdout.splitlines() if s.strip().startswith("lambda_f:"))
    assert line.startswith("  lambda_f: ${weight_for_data:${.data},1.0e-2}  # = auto here; weight of the"), line
    synthetic = regrun_in_process(["--cfg", "job", "problem=superres"], tmp_path, monkeypatch, capsys)
    assert "lambda_f: ${weight_for_data:${.data},1.0e-2}  # = 0.01 here;" in synthetic.stdout, synthetic.stdout


def test_a_clipped_frame_is_named_and_a_sky_every_frame_shares_is_not(device):
    """newuser15 left: one frame of 16 over-exposed x2 and clipped ran with a warning naming the frames the check held
    out, not the clipped one. clipped_frames_warning names it by its file; 8-bit noise alone, and a bright region at
    255 in every frame (a sky), say nothing."""
    import torch

    from regrun.problems.superres import clipped_frames_warning

    g = torch.Generator().manual_seed(30)
    scene = torch.rand(16, 20, 20, generator=g, dtype=torch.float64) * 200 + 20
    frames = (scene + torch.randn(16, 20, 20, generator=g, dtype=torch.float64)).round().clamp(0, 255).to(device)
    assert clipped_frames_warning(frames, None) == ""
    sky = frames.clone()
    sky[:, :6] = 255
    assert clipped_frames_warning(sky, None) == ""
    hot = frames.clone()
    hot[5] = (hot[5] * 2).clamp(max=255)
    said = clipped_frames_warning(hot, [f"f{k:02d}.png" for k in range(16)])
    assert said.startswith("1 of the 16 frames look clipped (f05.png:") and "highest value 255" in said
    dark = frames.clone()
    dark[2] = (dark[2] - 120).clamp(min=0)
    assert "frame 2:" in clipped_frames_warning(dark, None) and "lowest value 0" in clipped_frames_warning(dark, None)
