"""A new user's first day from a fresh clone, on data of their own (newuser12): each case failed before its fix
(docs/sweeps.md, "A new user's first day from a fresh clone (newuser12)")."""
from __future__ import annotations

import h5py
import numpy as np
import pytest

from cli_in_process import regrun_in_process
from regrun.errors import UserError
from regrun.tomography.axis import estimate_axis

SEED = 8963


def _scan(views: int = 24, n_u: int = 34, seed: int = SEED, span: float = 180.0) -> tuple[np.ndarray, np.ndarray]:
    """Line integrals of a few off-centre discs (parallel beam, every bin varying with the view) and the angles
    (degrees, over `span`: test_newuser13.py's 360-degree scans too)."""
    rng = np.random.default_rng(seed)
    angles = np.arange(views) * span / views
    u = np.arange(n_u) - (n_u - 1) / 2
    sino = np.zeros((views, n_u))
    for x, y, r in zip(rng.uniform(-6, 6, 3), rng.uniform(-6, 6, 3), rng.uniform(3, 6, 3)):
        t = np.deg2rad(angles)[:, None]
        d = u[None] - (x * np.cos(t) + y * np.sin(t))
        sino += 2 * np.sqrt(np.clip(r**2 - d**2, 0, None))
    return sino + rng.normal(0, 0.01, sino.shape), angles


def _ct(args, tmp_path, monkeypatch, capsys, device):
    return regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.size=24", f"device={device.type}",
                              "figures=false", "hydra.run.dir=run", *args], tmp_path, monkeypatch, capsys)


def test_dead_detector_bins_are_named_in_a_warning(device, tmp_path, monkeypatch, capsys):
    # three bins stuck at 0 through every view: FBP drew rings (64-px scan: 34.1 -> 11.2 dB) and said nothing
    sino, angles = _scan()
    sino[:, [14, 15, 25]] = 0.0
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    # problem.dead_bins=keep: read as they are, warned (the default, fill, interpolates them: test_newuser27)
    got = _ct(["problem.sinogram=s.npz", "problem.rotation_centre=geometric", "problem.dead_bins=keep"], tmp_path,
              monkeypatch, capsys, device)
    assert got.returncode == 0, got.stderr
    assert ("s.npz: detector bins 14, 15, 25 (of 34) read 0 in every view while bins on both sides vary: dead or "
            "stuck detector pixels, which draw rings") in got.stderr, got.stderr


def test_a_dead_view_is_named_in_a_warning_and_where_it_stops_the_axis_estimate(device, tmp_path, monkeypatch,
                                                                              capsys):
    sino, angles = _scan()
    sino[7] = 0.0
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    got = _ct(["problem.sinogram=s.npz", "problem.rotation_centre=geometric"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 0 and "view 7 (of 24) read one value in every bin: a view the detector missed" \
        in got.stderr, got.stderr
    # the axis estimate's refusal named no view, and told the user to give up the estimate instead
    with pytest.raises(UserError, match=r"view 7 \(of 24: a view the detector missed\? leave it out of the file "
                                        r"with its angle\) without positive attenuation"):
        estimate_axis(sino, np.deg2rad(angles))


@pytest.mark.parametrize("kind", ["clean", "symmetric", "edges"])
def test_a_scan_without_dead_readings_is_not_warned(kind):
    from regrun.problems.ct_fewview import dead_readings

    sino, _ = _scan()
    if kind == "symmetric":  # a disc on the axis: every bin the same in every view, none of them dead
        sino = np.tile(sino[:1], (sino.shape[0], 1))
    if kind == "edges":  # rays that miss the object read exactly 0 at both ends of the detector
        sino[:, :3] = 0.0
        sino[:, -3:] = 0.0
    assert dead_readings(sino, "s") == ""


def test_a_file_given_as_cts_problem_truth_points_to_truth_file(device, tmp_path, monkeypatch, capsys):
    # superres takes problem.truth=PATH; CT answered "is not valid; allowed: phantom, dense_fbp, none"
    sino, angles = _scan()
    np.savez(tmp_path / "s.npz", sinogram=sino, angles=angles)
    np.save(tmp_path / "truth.npy", np.zeros((24, 24)))
    got = _ct(["problem.sinogram=s.npz", "problem.truth=truth.npy"], tmp_path, monkeypatch, capsys, device)
    assert got.returncode == 2, got.stderr
    assert got.stderr.startswith("regrun: error: problem.truth=truth.npy names a file, but for CT problem.truth is "
                                 "the kind of truth (phantom, dense_fbp, none); a truth of your own goes in "
                                 "problem.truth_file=truth.npy"), got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        assert f.attrs["status"] == "failed"


def test_collect_plots_the_truths_metrics_within_its_cap_and_says_what_it_left_out(tmp_path, capsys):
    # a superres sweep with a truth: 42 metrics in the file's (alphabetical) order, and the 12-panel cap dropped
    # psnr, ssim and rel_error from the plot without a word, a metric equal in every run taking a panel
    from omegaconf import OmegaConf

    from regrun import collect
    from regrun.record import ResultsFile

    for i in range(2):
        res = ResultsFile(tmp_path / "sweep" / str(i))
        config = {"problem": {"name": "superres", "lambda_f": 0.1 * (i + 1)}, "solver": {"name": "varpro_cg"}}
        res.begin({"problem": "superres", "solver": "varpro_cg", "run_id": str(i) * 64},
                  OmegaConf.to_yaml(OmegaConf.create(config)), [])
        res.write("metrics", {**{f"a{j:02d}": float(j + i) for j in range(20)}, "psnr": 30.0 + i,
                              "ssim": 0.9 + 0.01 * i, "b_same": 1.0})
        res.finish("completed", wall_time=1.0)
    collect.main([str(tmp_path / "sweep")])
    out = capsys.readouterr().out
    assert out.rstrip().endswith("regrun-collect: 11 of the 23 metrics not plotted (equal in every run, or past 12 "
                                 "panels: the paper's, the truth's and the answer's own (weight, checks) first, then in the "
                                 "files' order); "
                                 "--plot-metric NAME plots the ones you name"), out
    runs = [collect.read_run(path, False) for path in collect.find_results([tmp_path / "sweep"])]
    chosen = collect.plotted_metrics(runs, collect.metric_names(runs, None), None)
    # a metric equal in every run took a panel and drew none: 11 panels of 12
    assert chosen[:3] == ["psnr", "ssim", "a00"] and len(chosen) == 12 and "b_same" not in chosen
    # summary.md's table in the same order (psnr was its 30th column); runs.csv keeps the files' order
    assert "| wall (s) | psnr | ssim | a00 |" in (tmp_path / "sweep" / "collected" / "summary.md").read_text()


@pytest.mark.parametrize("installed", [True, False])
def test_a_slurm_sweep_on_a_machine_without_a_cluster_is_one_line(installed, tmp_path, monkeypatch, capsys):
    # sbatch installed but no controller: each job failed alone after ~20 s, "2 failed" and the jobs' error in a
    # table, exit 1, and a sweep folder of nothing
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if installed:
        fake = bin_dir / "scontrol"
        fake.write_text("#!/bin/sh\necho 'slurm_load_ctl_conf error: Unable to contact slurm controller (connect "
                        "failure)' >&2\nexit 1\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    got = regrun_in_process(["-m", "hydra/launcher=slurm", "+ci=multiscale_affine__single_scale", "seed=1,2",
                             "hydra.sweep.dir=sweep"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stdout + got.stderr
    said = ("no Slurm controller answers from this machine (scontrol: slurm_load_ctl_conf error: Unable to contact "
            "slurm controller (connect failure))" if installed else
            "Slurm's commands are not installed here (no scontrol on the PATH)")
    assert got.stderr.strip() == f"regrun: error: hydra/launcher=slurm, but {said}: run the sweep on the cluster's " \
        "login node, or here without hydra/launcher=slurm (hydra/launcher=joblib hydra.launcher.n_jobs=2 runs two " \
        "jobs at a time); no job started", got.stderr
    assert not (tmp_path / "sweep").exists()


def test_a_stray_thumbnail_among_the_frames_is_the_one_named(tmp_path):
    # a_thumb.png (16x12) sorted before eight 32x24 frames: "frame frame_00.png is 32x24 ..., frame a_thumb.png
    # 16x12", the true frame named as the odd one
    from PIL import Image

    from regrun.imaging.io import read_frames

    scene = np.random.default_rng(SEED).uniform(0, 200, (24, 32)).astype(np.uint8)
    (tmp_path / "frames").mkdir()
    for k in range(8):
        Image.fromarray(np.roll(scene, k, 1)).save(tmp_path / "frames" / f"frame_{k:02d}.png")
    Image.fromarray(scene[::2, ::2]).save(tmp_path / "frames" / "a_thumb.png")
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "frames")
    assert str(err.value) == ("frame a_thumb.png is 16x12 pixels (width x height), frame frame_00.png 32x24 pixels: "
                              "all frames must have the same size and channels; the other 8 frames are all of "
                              "frame_00.png's size: leave a_thumb.png out of the folder (a thumbnail or another "
                              "picture?)")


def test_frames_saved_last_that_the_shape_cannot_tell_are_named_in_a_warning(device, tmp_path, monkeypatch,
                                                                             capsys):
    # 6 frames of 16x12 saved (12, 16, 6) ran as 12 frames of 6x16 and ended diverged, blamed on "the motion or
    # lambda_f"; the layout check refuses frames last only where the last axis is 4x under both others
    from regrun.problems.superres import frames_layout_warning

    scene = np.random.default_rng(SEED).uniform(0, 200, (12, 22))
    frames = np.stack([scene[:, k:k + 16] for k in range(6)])  # (frames, rows, columns)
    np.save(tmp_path / "last.npy", np.moveaxis(frames, 0, -1))
    got = regrun_in_process(["problem=superres", "problem.data=frames", "problem.frames=last.npy",
                             f"device={device.type}", "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch,
                            capsys)
    assert ("regrun: WARNING: last.npy, shape (12, 16, 6), was read as (frames, rows, columns): 12 frames of 6x16 "
            "pixels (width x height); if it holds 6 frames of 16x12, stacked last as numpy.dstack and MATLAB do, save "
            "numpy.moveaxis(frames, -1, 0)") in got.stderr, got.stderr
    # the same frames saved (frames, rows, columns) read as 6 frames of 16x12, FAIR's (frames, columns, rows)
    assert frames_layout_warning("first.npy", (6, 16, 12)) == ""


def test_a_report_stopped_before_its_page_says_that_no_page_was_written(tmp_path, monkeypatch, capsys):
    # the first line named OUT/report.html, and a Ctrl-C in a preset left none without a word of it
    from regrun import report

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "run_preset", ctrl_c)
    with pytest.raises(SystemExit) as end:
        report.main([str(tmp_path / "rep"), "--quick", "--preset", "superres_fig5", "device=cpu"])
    assert end.value.code == 130
    captured = capsys.readouterr()
    rep = tmp_path / "rep"
    assert f"regrun-report: 1 preset -> {rep / 'report.html'} (written once the last has run)" in captured.out
    assert captured.err.strip().endswith(
        f"; no {rep / 'report.html'} was written: `regrun-report --collect --quick --preset superres_fig5 {rep} "
        "device=cpu` writes the page of the runs finished"), captured.err
    assert not (rep / "report.html").exists()


def test_frames_larger_than_any_run_measured_are_told_so_before_the_run(device, tmp_path):
    # 8 frames of 1024x1024 ran 106 s without leaving the pre-registration, with no word of time or memory
    from pathlib import Path

    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    lines = []

    class Said:
        def line(self, text, **kwargs):
            lines.append(text)

    def problem(side):
        scene = np.random.default_rng(SEED).uniform(0, 200, (side, side + 3))
        np.save(tmp_path / f"f{side}.npy", np.stack([scene[:, k:k + side] for k in range(3)]))
        cfg = config_section("problem", "superres", data="frames", frames=str(tmp_path / f"f{side}.npy"))
        SuperRes(cfg, RunContext(device, torch.float64, 0, Path("."), reporter=Said()))

    problem(256)  # a 512x512 image: the largest measured, no line
    assert not [s for s in lines if "the largest run measured" in s], lines
    problem(300)
    assert ("regrun: 3 frames of 300x300 -> a 600x600 image: 1.37x the pixels of the largest run measured here (a "
            "512x512 image from 8 frames: 51.6 CPU-s, 2.1 GB peak at a fixed lambda_f; docs/superres.md \"Scaling\"), "
            "so expect more time and memory than that, by how much not measured; a crop of the frames runs faster"
            ) in lines, lines
