"""A new user's pass from a fresh clone, on data of their own (newuser17): each case failed before its fix
(docs/ct.md, "A new user's pass on data of their own (newuser17, 2026-12-07, session 32)")."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from cli_in_process import regrun_in_process

from regrun.config import compose
from regrun.run import run

TINY_FILE_CT = ["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=16",
                "progress=false"]


def _scan(tmp_path, scale=1.0):
    """A 16-bin parallel scan of a centred disk of radius 5 px (its line integrals 2 sqrt(25 - u^2)), 12 views."""
    u = np.arange(16) - 7.5
    np.save(tmp_path / "s.npy", scale * 2 * np.sqrt(np.clip(25 - u ** 2, 0, None))[None].repeat(12, 0))


@pytest.mark.parametrize("figures", ["true", "false"])
def test_a_ct_run_on_your_sinogram_writes_its_reconstruction_beside_the_results_file(device, tmp_path, monkeypatch,
                                                                                     capsys, figures):
    # CT's answer was only inside results.h5 (super-resolution of frames writes reconstruction.npy); it is now the
    # same file, in the layout problem.truth_file is compared in, with or without figures, named in summary.md
    _scan(tmp_path)
    got = regrun_in_process(TINY_FILE_CT + [f"device={device.type}", f"figures={figures}", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        held = f["result/reconstruction"][()]
    written = np.load(tmp_path / "run" / "reconstruction.npy")
    assert written.dtype == np.float64 and np.array_equal(written, held)
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "- `reconstruction.npy`: the reconstruction in the layout `problem.truth_file` is read and compared in" \
        in summary


def test_a_phantom_ct_run_writes_no_answer_file(device, tmp_path):
    # the answer file is for a user's own data, as super-resolution's is for frames only
    got = run(compose(["problem=ct_fewview", "solver=fbp", "problem.size=16", "problem.views=8", "progress=false", "figures=false",
                       f"device={device.type}"]), tmp_path / "run", [])
    assert got.status == "completed", got.error
    assert not (tmp_path / "run" / "reconstruction.npy").exists()
    assert "## Result as an array" not in (tmp_path / "run" / "summary.md").read_text()


def test_the_ct_figure_of_a_scan_without_truth_is_drawn_in_its_own_range(device, tmp_path):
    # without a truth the panels were drawn on 0-1: a sinogram 0.02 times the pixel-unit one (attenuation in other
    # units) gave a black figure; the range is now 0 to the reconstruction's top inside the mask
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    _scan(tmp_path, scale=0.02)
    p = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(tmp_path / "s.npy"), size=16),
                  RunContext(device, torch.float64, 0, tmp_path))
    rec = (p.fbp() * p.mask).cpu().numpy()
    lo, hi = p.display_range(rec)
    assert lo == 0.0 and hi == pytest.approx(float(rec[p.mask.cpu().numpy()].max()))
    assert 0.005 < hi < 0.1  # the disk's attenuation, 0.02 per pixel, not 1


def test_fan_distances_typed_in_pixels_are_named_in_a_warning(device, tmp_path):
    # problem.source_origin=300 problem.origin_detector=200 (pixels, for a 128-pixel grid) ran as 300 grid widths
    # away, a nearly parallel beam: 16.35 dB against 27.63 with the distances in widths, without a word
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    def fan(**over):
        return CTFewView(config_section("problem", "ct_fewview", geometry="fan", size=16, views=8, **over),
                         RunContext(device, torch.float64, 0, tmp_path))

    [warning] = fan(source_origin=40, origin_detector=25).warnings({})
    assert warning.startswith("problem.source_origin=40 counts in grid widths (problem.size x problem.voxel = 16): "
                              "the source stands 640 from the axis and the fan spreads 1.4 degrees over the grid")
    assert "type problem.source_origin=2.5 problem.origin_detector=1.562" in warning
    assert fan(source_origin=25, origin_detector=1).warnings({}) == []  # 1.15 degrees: a real, narrow fan
    assert fan().warnings({}) == []  # the defaults, 2 and 1 widths


def test_regrun_calibrate_is_a_command_of_the_package_with_one_line_errors(tmp_path, monkeypatch, capsys):
    # the calibration step was `python scripts/calibrate_crab.py`, a file of the source tree only: a pip-installed
    # regrun had no way to calibrate a template of one's own. It is now regrun.calibrate, the console command
    # regrun-calibrate; the script runs the same main
    from regrun import calibrate, console

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        calibrate.main(["--template", "my/thing.yaml"])
    assert exc.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("regrun-calibrate: ") and "my/thing.yaml" in line
    assert callable(console.calibrate)
    from script_module import load_script

    assert load_script("calibrate_crab").main is calibrate.main


def test_a_registration_of_your_pair_writes_the_registered_template_as_your_images_are_stored(device, tmp_path,
                                                                                            monkeypatch, capsys):
    # the registered template was only /result/registered, in FAIR's layout (a quarter turn against the PNGs); the
    # run now writes registered.npy beside results.h5 as the images are stored, through the shared answer writer
    from PIL import Image

    y, x = np.mgrid[0:36, 0:44] / 36.0  # 44 wide, 36 tall: a turn or a transpose changes the shape
    ref = 200 * np.exp(-((x - 0.5) ** 2 + (y - 0.45) ** 2) / 0.02) + 80 * (np.abs(x - 0.9) < 0.1) * (y < 0.6)
    Image.fromarray(ref.astype(np.uint8)).save(tmp_path / "R.png")
    Image.fromarray(np.roll(ref, (2, 3), (0, 1)).astype(np.uint8)).save(tmp_path / "T.png")
    got = regrun_in_process(["problem.data=files", "problem.template=T.png", "problem.reference=R.png",
                             f"device={device.type}", "figures=false", "progress=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        held = f["result/registered"][()]
    written = np.load(tmp_path / "run" / "registered.npy")
    assert written.shape == (36, 44) and np.array_equal(written, np.flipud(held.T))
    stored = np.asarray(Image.open(tmp_path / "R.png"), dtype=np.float64)
    inside = (slice(4, -4), slice(4, -4))  # the rolled-in border is no part of the reference
    assert np.corrcoef(written[inside].ravel(), stored[inside].ravel())[0, 1] > 0.95
    assert "- `registered.npy`: the template moved onto the reference" in (tmp_path / "run" / "summary.md").read_text()


def test_a_ctrl_c_at_start_lets_no_library_log_info_lines_at_exit(tmp_path, monkeypatch, capsys):
    # `timeout -s INT 4 regrun ...` at load 6-9: a Ctrl-C inside `import torch` left torch's loggers unset, and
    # torch's exit hook logged "FakeTensor cache stats" (3 INFO lines) to the console and as regrun.log's only lines
    import logging

    from omegaconf import OmegaConf

    from regrun import cli

    torch_log = logging.getLogger("torch._subclasses.fake_tensor")
    torch_root, root = logging.getLogger("torch"), logging.getLogger()
    levels = torch_root.level, root.level
    monkeypatch.setattr(cli, "_CLAIMED", None)
    try:  # setLevel, not a plain attribute: it clears the loggers' cached answers
        torch_root.setLevel(logging.NOTSET)  # as a half-done `import torch` leaves it
        root.setLevel(logging.INFO)  # Hydra's job logging
        assert torch_log.isEnabledFor(logging.INFO)
        with pytest.raises(SystemExit) as exc:
            cli._interrupted_at_start(OmegaConf.create({}), KeyboardInterrupt(), 0.0)
        assert exc.value.code == 130 and not torch_log.isEnabledFor(logging.INFO)
    finally:
        torch_root.setLevel(levels[0])
        root.setLevel(levels[1])
    assert capsys.readouterr().err == "regrun: interrupted: interrupted by Ctrl-C\n"


def test_frames_in_an_h5_group_are_read_with_problem_frames_key(tmp_path):
    # an .h5 with the frames at data/frames was refused with "link yours under that name: with h5py.File(PATH, 'a')
    # as f: f['frames'] = f['data/frames']", a change to the user's own file; sinograms have problem.sinogram_key
    from regrun.errors import UserError
    from regrun.imaging.io import read_frames, to_fair_layout

    stack = np.random.default_rng(9194).uniform(0, 255, (3, 12, 14))
    with h5py.File(tmp_path / "burst.h5", "w") as f:
        f["data/frames"] = stack
    got = read_frames(tmp_path / "burst.h5", key="data/frames")
    assert np.array_equal(got, np.stack([to_fair_layout(a) for a in stack]))
    with pytest.raises(UserError, match=r"name it with problem.frames_key=NAME, e.g. problem.frames_key=data/frames"):
        read_frames(tmp_path / "burst.h5")


def test_the_ct_figure_of_a_truth_on_another_scale_draws_the_reconstruction_in_its_own_range(device, tmp_path):
    # an 8-bit PNG truth (0-255) beside a reconstruction in the sinogram's units (0-1): the warning named the scale,
    # but the reconstruction's panels were drawn on the truth's 0-255, black
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    _scan(tmp_path)
    u, v = np.meshgrid(np.arange(16) - 7.5, np.arange(16) - 7.5, indexing="ij")
    np.save(tmp_path / "t.npy", 255.0 * (u ** 2 + v ** 2 < 25))
    p = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(tmp_path / "s.npy"), size=16,
                                 truth_file=str(tmp_path / "t.npy")), RunContext(device, torch.float64, 0, tmp_path))
    x = p.fbp() * p.mask
    assert "times problem.truth_file" in p._truth_scale(x)
    rec = x.cpu().numpy()
    assert p.display_range(rec) == (0.0, pytest.approx(float(rec[p.mask.cpu().numpy()].max())))
    assert p.display_range(rec)[1] < 2  # the disk's attenuation, 1 per pixel, not 255
