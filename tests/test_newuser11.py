"""A new user's first day from a fresh clone, on data of their own (newuser11): each case failed before its fix
(docs/sweeps.md, "A new user's first day from a fresh clone (newuser11)")."""
from __future__ import annotations

import zipfile

import h5py
import numpy as np
import pytest
from PIL import Image

from cli_in_process import regrun_in_process
from regrun.config import compose
from regrun.errors import UserError
from regrun.imaging.io import read_frames
from regrun.run import run


def _burst(n: int = 3, seed: int = 8213) -> list[np.ndarray]:
    scene = np.random.default_rng(seed).uniform(0, 200, (12, 16))
    return [np.roll(scene, k, 1).astype(np.uint8) for k in range(n)]


@pytest.mark.parametrize("orientation, named", [(6, True), (1, False)])
def test_frames_turned_by_their_exif_orientation_say_so(orientation, named, tmp_path):
    # one phone frame in portrait among landscape ones: "frame f1.jpg is 12x16 pixels, frame f0.jpg 16x12" of files
    # that are all 16x12 as stored (and in every tool that ignores EXIF); the control differs in size for real
    (tmp_path / "frames").mkdir()
    for k, frame in enumerate(_burst()):
        exif = Image.Exif()
        exif[0x0112] = orientation if k == 1 else 1
        image = Image.fromarray(frame if k != 1 or orientation != 1 else frame[:, :-2])
        image.save(tmp_path / "frames" / f"f{k}.jpg", quality=95, exif=exif)
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "frames")
    assert "all frames must have the same size" in str(err.value)
    assert ("(f1.jpg is turned upright by its EXIF orientation 6, as a viewer shows it, and the other is not: save "
            "both with one orientation" in str(err.value)) is named, str(err.value)


def test_a_folder_of_frame_folders_names_them(tmp_path):
    # bursts in subfolders (left/, right/) read as "no image files in the frames folder", as if it were empty
    for side in ("right", "left"):
        (tmp_path / "bursts" / side).mkdir(parents=True)
        for k, frame in enumerate(_burst()):
            Image.fromarray(frame).save(tmp_path / "bursts" / side / f"f{k}.png")
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "bursts")
    assert str(err.value).endswith(f"in the frames folder {tmp_path / 'bursts'}; its subfolders left (3), right (3) "
                                   f"hold image files: regrun reads one folder's frames, e.g. "
                                   f"problem.frames={tmp_path / 'bursts' / 'left'}"), str(err.value)


def test_a_set_folder_with_its_truth_beside_a_frames_folder_names_it(tmp_path):
    # a set's folder (truth image, frames/ subfolder) read the truth as its one frame: "holds 1 frame" (session 28)
    (tmp_path / "set" / "frames").mkdir(parents=True)
    for k, frame in enumerate(_burst()):
        Image.fromarray(frame).save(tmp_path / "set" / "frames" / f"f{k}.png")
    Image.fromarray(_burst()[0]).save(tmp_path / "set" / "truth.png")
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "set")
    assert str(err.value) == (f"{tmp_path / 'set'} holds 1 frame; super-resolution needs at least 2; its subfolders "
                              f"frames (3) hold image files: regrun reads one folder's frames, e.g. "
                              f"problem.frames={tmp_path / 'set' / 'frames'}"), str(err.value)


def test_an_archive_of_frames_says_to_unpack_it(tmp_path):
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as z:
        z.writestr("f0.png", b"")
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "frames.zip")
    assert "regrun does not unpack archives: unpack it and give the folder" in str(err.value)


def test_angles_in_a_file_beside_the_sinogram_are_one_line(device, tmp_path, monkeypatch, capsys):
    # `problem.angles_key=angles.npy` ran with the views spread evenly over 180 degrees and no word of the file
    u = (np.arange(24) + 0.5) / 24
    np.save(tmp_path / "s.npy", np.sin(np.pi * u)[None].repeat(12, 0))
    np.save(tmp_path / "angles.npy", np.linspace(0, 165, 12))
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.npy", "problem.size=16",
                             "problem.angles_key=angles.npy", f"device={device.type}", "figures=false",
                             "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 2, got.stdout + got.stderr
    line = [s for s in got.stderr.splitlines() if s.startswith("regrun: error:")]
    assert line and line[0].startswith(
        "regrun: error: problem.angles_key=angles.npy names a file, but it is the name of the angles' array inside "
        "the sinogram's .npz/.h5 file: regrun reads no angles from a file beside s.npy; save both in one, "
        "numpy.savez('scan.npz', sinogram=S, angles=A)"), got.stderr
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        assert f.attrs["status"] == "failed"


def test_a_collected_report_names_presets_without_runs_and_runs_not_completed(device, tmp_path, capsys):
    # `regrun-report OUT --collect` over a report stopped by Ctrl-C in its first preset: "0 reproduced, 0 better,
    # 0 differs, 0 capped, 0 stopped", exit 0, of a page of empty presets and one interrupted run
    from regrun.report import main

    job = tmp_path / "rep" / "runs" / "multiscale_affine__single_scale" / "0_abc"
    done = run(compose(["+ci=multiscale_affine__single_scale", f"device={device.type}", "figures=false",
                        "progress=false"]), job, [])
    assert done.status == "completed", done.error
    with h5py.File(job / "results.h5", "a") as f:
        f.attrs["status"] = "interrupted"  # as a Ctrl-C leaves it
    presets = ["multiscale_affine__single_scale", "multiscale_affine__multilevel"]
    with pytest.raises(SystemExit) as end:
        main([str(tmp_path / "rep"), "--collect", "--quick", *(a for p in presets for a in ("--preset", p))])
    assert end.value.code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.endswith(f"; 1 of 2 presets without a run, 1 run interrupted: `regrun-report --quick --preset "
                         f"multiscale_affine__single_scale --preset multiscale_affine__multilevel {tmp_path / 'rep'}` "
                         f"runs them (finished jobs are skipped)"), last


def test_a_ctrl_c_that_a_library_turned_into_another_error_is_one_line(tmp_path, monkeypatch, capsys):
    # Ctrl-C at 0.3 s, inside OmegaConf.load's flag_override: its cleanup failed on the half-built node and raised
    # ConfigKeyError "'NoneType' object has no attribute '_invalidate_flags_cache'" during the KeyboardInterrupt:
    # 140 lines of traceback, exit 1
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError

    def interrupted(*a, **k):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ConfigKeyError("'NoneType' object has no attribute '_invalidate_flags_cache'")

    monkeypatch.setattr(OmegaConf, "load", interrupted)
    got = regrun_in_process(["problem=superres"], tmp_path, monkeypatch, capsys)
    assert got.returncode == 130
    assert got.stderr.strip() == ("regrun: interrupted: Ctrl-C while reading the command, before anything ran; "
                                  "nothing was written"), got.stderr


def test_an_error_without_a_ctrl_c_behind_it_is_not_called_an_interrupt(tmp_path, monkeypatch, capsys):
    from omegaconf import OmegaConf

    def broken(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(OmegaConf, "load", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        regrun_in_process(["problem=superres"], tmp_path, monkeypatch, capsys)


def test_a_ctrl_c_while_the_command_sets_up_its_heap_is_one_line(monkeypatch, capsys):
    # the console script's set-up (_keep_heap imports ctypes) ran before main's try: Ctrl-C there was Python's
    # traceback and death by SIGINT (1 of 19 tries at 0.275 s)
    import regrun.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    def exit_now(code):
        raise SystemExit(code)

    monkeypatch.setattr(cli, "_console_script", lambda: True)
    monkeypatch.setattr(cli, "_pause_gc", lambda: None)
    monkeypatch.setattr(cli, "_keep_heap", interrupted)
    monkeypatch.setattr(cli, "_exit_now", exit_now)
    try:
        cli.main()
    except KeyboardInterrupt:  # (pytest would take it for the user's own Ctrl-C and stop the session)
        pytest.fail("the KeyboardInterrupt reached the interpreter: Python's traceback")
    except SystemExit as end:
        assert end.code == 130
    assert capsys.readouterr().err.strip() == ("regrun: interrupted: Ctrl-C while reading the command, before "
                                               "anything ran; nothing was written")


def _tiff64(path, arr: np.ndarray) -> None:
    """A one-strip little-endian TIFF of 64-bit float samples, as tifffile.imwrite writes a float64 array."""
    import struct

    h, w = arr.shape
    data = arr.astype("<f8").tobytes()
    tags = [(256, 3, 1, w), (257, 3, 1, h), (258, 3, 1, 64), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, 8),
            (277, 3, 1, 1), (278, 3, 1, h), (279, 4, 1, len(data)), (339, 3, 1, 3)]
    ifd = struct.pack("<H", len(tags)) + b"".join(
        struct.pack("<HHI", t, k, c) + (struct.pack("<HH", v, 0) if k == 3 else struct.pack("<I", v))
        for t, k, c, v in tags) + struct.pack("<I", 0)
    path.write_bytes(b"II*\0" + struct.pack("<I", 8 + len(data)) + data + ifd)


def test_a_64_bit_float_tiff_says_why_it_cannot_be_read(device, tmp_path, monkeypatch, capsys):
    # tifffile.imwrite of a float64 array: "cannot identify image file", as if the file were broken
    (tmp_path / "frames").mkdir()
    for k, frame in enumerate(_burst()):
        _tiff64(tmp_path / "frames" / f"f{k}.tif", frame / 255.0)
    with pytest.raises(UserError) as err:
        read_frames(tmp_path / "frames")
    assert str(err.value) == (f"cannot read image {tmp_path / 'frames' / 'f0.tif'}: its samples are 64-bit floats, "
                              f"which Pillow (regrun's image reader) does not read: save them as 32-bit "
                              f"(array.astype(numpy.float32)) or the array as .npy")
    _tiff64(tmp_path / "s.tif", np.ones((12, 24)))
    got = regrun_in_process(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s.tif", "problem.size=16",
                             f"device={device.type}", "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 2
    assert "problem.sinogram: cannot read s.tif: its samples are 64-bit floats" in got.stderr, got.stderr


def test_a_pair_aligned_from_the_start_is_not_called_failed(device, tmp_path, monkeypatch, capsys):
    # two noisy exposures of one scene from a tripod (or a photo and its JPEG): nothing beyond the noise to remove,
    # so fit_quality 0.00 read "poor fit: ... the registration has probably failed" at a misfit of 0 px
    rng = np.random.default_rng(8213)
    y, x = np.mgrid[0:64, 0:80] / 64.0
    scene = 150 * ((np.abs(x - 0.4) < 0.12) * (np.abs(y - 0.5) < 0.3) + np.exp(-((x - 0.9) ** 2 + (y - 0.3) ** 2) / 0.01))
    for name in ("T", "R"):
        Image.fromarray(np.clip(scene + 6 * rng.standard_normal(scene.shape) + 40, 0, 255).astype(np.uint8)).save(
            tmp_path / f"{name}.png")
    got = regrun_in_process(["problem.data=files", "problem.template=T.png", "problem.reference=R.png",
                             f"device={device.type}", "figures=false", "progress=false", "hydra.run.dir=run"],
                            tmp_path, monkeypatch, capsys)
    assert got.returncode == 0, got.stderr
    assert "poor fit" not in got.stdout + got.stderr, got.stdout
    with h5py.File(tmp_path / "run" / "results.h5", "r") as f:
        quality, initial = float(f["metrics/fit_quality"][()]), float(f["metrics/misfit_px_initial"][()])
    assert quality < 0.5 and initial < 0.45, (quality, initial)  # the case: a low share of nothing to remove


def test_a_low_fit_quality_still_warns_where_the_start_was_misaligned(tmp_path, device):
    from registration_problem import affine_problem

    p = affine_problem(tmp_path, device, **{"synthetic.size": 32})
    p.cfg.data = "files"
    verdict = {"fit_quality": 0.2, "misfit_px": 0.1}
    assert p.warnings({**verdict, "misfit_px_initial": 0.3}) == []
    assert any("registration has probably failed" in w for w in p.warnings({**verdict, "misfit_px_initial": 2.0}))
    assert any("registration has probably failed" in w for w in p.warnings(verdict))  # recorded before: as it was


def test_a_pair_one_of_them_turned_by_exif_says_so_instead_of_resize(device, tmp_path, monkeypatch, capsys):
    # "template T.jpg is 12x16 but reference R.png is 16x12; use problem.resize=N": resizing would squash the scene
    frame = _burst(1)[0]
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(frame).save(tmp_path / "T.jpg", quality=95, exif=exif)
    Image.fromarray(frame).save(tmp_path / "R.png")
    got = regrun_in_process(["problem.data=files", "problem.template=T.jpg", "problem.reference=R.png",
                             f"device={device.type}", "figures=false", "hydra.run.dir=run"], tmp_path, monkeypatch,
                            capsys)
    assert got.returncode == 2
    assert "(T.jpg is turned upright by its EXIF orientation 6, as a viewer shows it, and the other is not" in got.stderr
    assert "problem.resize" not in got.stderr, got.stderr


def test_frames_saved_twice_under_two_names_are_named(device, tmp_path, monkeypatch, capsys):
    # a burst exported twice into one folder (f0.png and f000.png ...): 6 frames read as 12 without a word
    (tmp_path / "frames").mkdir()
    for k, frame in enumerate(_burst(3)):
        Image.fromarray(frame).save(tmp_path / "frames" / f"f{k}.png")
    Image.fromarray(_burst(3)[1]).save(tmp_path / "frames" / "f001.png")
    args = ["problem=superres", "problem.data=frames", "problem.frames=frames", "figures=false",
            f"device={device.type}", "solver.max_iter=1", "problem.lambda_f=0.1", "problem.motion_model=affine",
            "progress=false"]
    got = regrun_in_process([*args, "hydra.run.dir=run"], tmp_path, monkeypatch, capsys)
    assert ("WARNING: 1 of the 4 frames repeat another's pixels exactly (f001.png = f1.png): a frame saved twice"
            in got.stdout + got.stderr), got.stdout + got.stderr
    (tmp_path / "frames" / "f001.png").unlink()
    got = regrun_in_process([*args, "hydra.run.dir=run2"], tmp_path, monkeypatch, capsys)
    assert "repeat another's pixels" not in got.stdout + got.stderr
