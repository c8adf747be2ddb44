"""A new user's pass from a fresh clone, on data of their own (newuser10): each case failed before its fix
(docs/sweeps.md, "A new user's pass on data of their own (newuser10)")."""
from __future__ import annotations

import errno
import json

import h5py
import numpy as np
import pytest
from PIL import Image

from cli_in_process import regrun_in_process
from regrun.config import compose
from regrun.record import disk_full, os_reason
from regrun.run import run

TINY_CT = ["problem=ct_fewview", "progress=false", "figures=false", "problem.size=16", "problem.views=8",
           "solver.iters=5", "solver.inner_iters=2"]


def _message(out) -> str:
    return json.loads((out / "metrics.json").read_text())["message"]


def test_a_fixed_or_carried_ct_weight_is_named_in_the_status(device, tmp_path):
    # `solver.lam=from:RUN` said only "solver max_iter: 5 FISTA iterations x 2 cv iterations": which weight, and
    # from where, was in /metrics and /stats alone (lambda_f=from:RUN's message says both)
    learn = run(compose(TINY_CT + [f"device={device.type}", "solver=grid_search", "solver.points=3",
                                   "solver.refine=1"]), tmp_path / "learn", [])
    assert learn.status == "completed", learn.error
    lam = float(h5py.File(learn.results_path, "r")["metrics/lam_learned"][()])
    carried = run(compose(TINY_CT + [f"device={device.type}", "solver=fista_tv",
                                     f"solver.lam=from:{tmp_path / 'learn'}"]), tmp_path / "carried", [])
    assert carried.status == "completed", carried.error
    assert f"lam={lam:.4g} from {tmp_path / 'learn'} (that run's /metrics/lam_learned)" in _message(tmp_path / "carried")
    typed = run(compose(TINY_CT + [f"device={device.type}", "solver=fista_tv", "solver.lam=0.7"]),
                tmp_path / "typed", [])
    assert typed.status == "completed", typed.error
    assert "lam=0.7 as given; 5 FISTA iterations" in _message(tmp_path / "typed")


def test_a_sinogram_without_angles_says_which_angles_it_took(device, tmp_path, monkeypatch, capsys):
    # a file without angles ran on an even spread over 180 degrees that neither the console nor the results file
    # named (a fan-beam scan over 360 degrees read as parallel: 30.1 dB against 36.7 without a word)
    u = (np.arange(24) + 0.5) / 24
    np.save(tmp_path / "s.npy", np.sin(np.pi * u)[None].repeat(12, 0))
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=16",
                             "problem.angle_start=10", f"device={device.type}", "figures=false",
                             "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert ("the file holds no angles: the views are spread evenly over 180 degrees from 10 (problem.angle_range, "
            "problem.angle_start; /data/angles_deg)") in got.stdout
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        np.testing.assert_allclose(f["data/angles_deg"][()], 10 + 15 * np.arange(12), atol=1e-9)
        assert "in degrees" in f["data/angles_deg"].attrs["description"]


def test_a_file_beside_the_frames_that_is_no_frame_is_named(device, tmp_path, monkeypatch, capsys):
    # a frame saved as .webp beside the PNGs (and any other file) was left out of the run without a word
    rng = np.random.default_rng(26104)
    scene = rng.uniform(0, 200, (12, 12))
    (tmp_path / "frames").mkdir()
    for k in range(3):
        Image.fromarray(np.roll(scene, k, 1).astype(np.uint8)).save(tmp_path / "frames" / f"f{k}.png")
    (tmp_path / "frames" / "f3.webp").write_bytes(b"RIFF0000WEBP")
    (tmp_path / "frames" / "notes.txt").write_text("ISO 400")
    got = regrun_in_process(["problem=superres", "problem.data=frames", "problem.frames=frames", "figures=false",
                             f"device={device.type}", "solver.max_iter=1", "problem.lambda_f=0.1",
                             "problem.motion_model=affine", "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert "not read as frames (not .png, .tif, .tiff, .jpg, .jpeg, .bmp, .gif): f3.webp, notes.txt in frames" \
        in got.stdout, got.stdout + got.stderr


@pytest.mark.parametrize("exc, reason", [
    (OSError(30, "Unable to synchronously create file (unable to open file: name = 'x', errno = 30, error message = "
                 "'Read-only file system', flags = 15, o_flags = c2)"), "Read-only file system"),
    (OSError("3456 requested and 3056 written"), "No space left on device"),
    (OSError("something else"), "something else")])
def test_an_os_error_is_said_in_the_systems_words(exc, reason):
    # an existing read-only output folder read "cannot create the output folder /ro: Unable to synchronously
    # create file (unable to open file: name = '/ro/results.h5.partial', errno = 30, ...)"
    assert os_reason(exc) == reason


def test_a_read_only_output_folder_that_exists_is_one_plain_line(tmp_path, monkeypatch, capsys):
    import regrun.record

    def refuse(path, mode="r", *a, **k):
        raise OSError(errno.EROFS, f"Unable to synchronously create file (unable to open file: name = '{path}', "
                                   "errno = 30, error message = 'Read-only file system', flags = 15, o_flags = c2)")

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(regrun.record.h5py, "File", refuse)
    got = regrun_in_process(["hydra.run.dir=ro"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2
    assert got.stderr.strip() == ("regrun: error: cannot write in the output folder ro: Read-only file system; "
                                  "choose a writable place with hydra.run.dir=PATH")


def test_a_full_disk_during_the_run_is_one_line_naming_the_folder(tmp_path, monkeypatch, capsys):
    # a full disk while the answer was saved: "failed: OSError: 3456 requested and 3056 written", exit 1
    import regrun.problems.multiscale_affine as problem

    def full(*a, **k):
        raise OSError("3456 requested and 3056 written")

    monkeypatch.setattr(problem.MultiscaleAffine, "figures", full)
    got = regrun_in_process(["hydra.run.dir=run", "progress=false"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stderr
    line = [s for s in got.stderr.splitlines() if s.startswith("regrun: error:")]
    assert line and line[0].startswith(f"regrun: error: the disk of the output folder {tmp_path / 'run'} is full "
                                       "(No space left on device): free space there or choose another place with "
                                       "hydra.run.dir=PATH"), got.stderr
    assert "Traceback" not in got.stderr
    assert disk_full(RuntimeError("wrapped")) is False


@pytest.mark.parametrize("args", [["problem.data=fair", "problem.pair=hands"], ["problem=superres", "problem.data=hands"]])
def test_fair_data_not_found_says_where_it_looked_and_where_it_comes_from(args, tmp_path, monkeypatch, capsys):
    # the README's second command in a fresh clone (no ../shared beside it) said "problem.data_dir=
    # '../shared/fair_data': folder not found (it should hold FAIR's images, e.g. ../shared/fair_data)"
    got = regrun_in_process([*args, "problem.data_dir=../nowhere/fair_data", "progress=false"], tmp_path,
                            monkeypatch, capsys)
    assert got.returncode == 2
    line = got.stderr.strip().splitlines()[0]
    assert line.startswith(f"regrun: error: problem.data_dir=../nowhere/fair_data: no such folder (looked for from "
                           f"{tmp_path} and from the checkout "), line
    assert "the folder kernel/data of github.com/C4IR/FAIR.m): give problem.data_dir=PATH" in line


def test_regrun_report_takes_overrides_after_its_flags(tmp_path, capsys):
    # `regrun-report OUT --quick --preset superres_fig5 problem.data_dir=...` was argparse's usage and
    # "unrecognized arguments: problem.data_dir=..."; it reaches the preset check now (nothing run)
    from regrun.report import main

    with pytest.raises(SystemExit) as end:
        main([str(tmp_path / "rep"), "--quick", "--preset", "nope", "device=cpu"])
    assert end.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" not in err and "unknown quick preset(s) nope" in err, err


def test_the_motion_guard_rejects_a_non_finite_trial_step_without_raising(device):
    # a trial step with NaN (from a non-finite Jacobian) raised "linalg.svd: ... non-finite values" inside the
    # guard, the run "failed" with a traceback; it is a non-finite residual, which LM rejects as a rise
    from regrun.imaging.grid import Grid
    from regrun.registration.superres_model import SuperResModel
    from regrun.registration.superres_motion import MotionGuard

    import torch

    frames = torch.rand(4, 8, 8, dtype=torch.float64, device=device)
    model = SuperResModel(frames, Grid((0.0, 8.0, 0.0, 16.0), (16, 16)), 2, 0.1)
    built = []
    guard = MotionGuard(model, type("Affine", (), {"to_affine": staticmethod(lambda p: p)})(),
                        lambda p: built.append(p) or torch.zeros(4, dtype=p.dtype, device=p.device), model.identity)
    trial = model.identity.clone()
    trial[7] = float("nan")
    got = guard(trial)
    assert got.device.type == device.type and not torch.isfinite(got).any()
    assert built == [] and guard.refused == 0
    assert torch.isfinite(guard(model.identity)).all() and len(built) == 1


@pytest.mark.parametrize("units, warned", [(1.0, False), (255.0, True)])
def test_a_truth_in_other_units_than_the_frames_is_named(units, warned, device, tmp_path, monkeypatch, capsys):
    # frames saved as floats in 0-1 beside a truth of 0-255: PSNR 3.02 dB (bicubic's 3.02 too) without a word
    rng = np.random.default_rng(26105)
    fine = np.kron(rng.uniform(0.2, 0.8, (6, 6)), np.ones((4, 4)))  # 24 x 24, a blocky scene
    frames = np.stack([np.roll(fine, k, 1).reshape(12, 2, 12, 2).mean((1, 3)) for k in range(3)])
    np.save(tmp_path / "frames.npy", frames)
    np.save(tmp_path / "truth.npy", units * fine)
    got = regrun_in_process(["problem=superres", "problem.data=frames", "problem.frames=frames.npy",
                             "problem.truth=truth.npy", "figures=false", f"device={device.type}", "solver.max_iter=1",
                             "problem.lambda_f=0.1", "problem.motion_model=affine", "hydra.run.dir=run"], tmp_path,
                            monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    said = "times problem.truth (rel_error" in got.stderr
    assert said == warned, got.stderr
    if warned:
        assert "regrun: WARNING: the answer is 0.00" in got.stderr and "not in the truth's units" in got.stderr


@pytest.mark.parametrize("geometry, warned", [("parallel", False), ("fan", True)])
def test_a_fan_beam_file_read_as_parallel_is_named(geometry, warned, device, tmp_path, monkeypatch, capsys):
    # a fan-beam scan over 360 degrees run without problem.geometry=fan: FBP 30.1 dB against 36.7 with it, and no
    # word; its views 180 degrees apart do not mirror each other as a parallel beam's do (axis.opposite_views)
    from regrun.config import compose
    from regrun.record import load
    from regrun.run import run

    scan = run(compose(["problem=ct_fewview", "solver=fbp", f"problem.geometry={geometry}", "problem.size=32",
                        "problem.views=60", "problem.angle_range=360", "problem.noise=gaussian",
                        "problem.noise_level=0.002", f"device={device.type}", "figures=false", "progress=false"]),
               tmp_path / "scan", [])
    assert scan.status == "completed", scan.error
    data = load(scan.results_path)["data"]
    np.savez(tmp_path / "s.npz", sinogram=data["sinogram"], angles=data["angles_deg"])
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npz", "problem.size=32",
                             f"problem.detector={data['sinogram'].shape[1]}", f"device={device.type}",
                             "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    said = "but the sinogram's views 180 degrees apart do not mirror each other as a parallel beam's do" in got.stderr
    assert said == warned, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        assert f["data/opposite_views/pairs"][()] == 30
        assert (f["data/opposite_views/whiteness"][()] > 1.25) == warned
