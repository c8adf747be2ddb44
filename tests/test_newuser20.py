"""newuser20's pass on data of their own (session 35): what a fresh user met, each case failing on main."""
import types

import numpy as np
import torch
from PIL import Image

from cli_in_process import regrun_in_process

SEED = 9570


def _frames(count: int = 4, side: int = 12) -> np.ndarray:
    """A few (count, side, side) frames of a blob shifted by under a pixel, with a little noise."""
    rng = np.random.default_rng(SEED)
    y, x = np.mgrid[0:side, 0:side].astype(float)
    return np.stack([np.exp(-((y - 5 - 0.3 * k) ** 2 + (x - 6 + 0.2 * k) ** 2) / 8) for k in range(count)]) \
        + 0.01 * rng.standard_normal((count, side, side))


def _sinogram(views: int = 12, bins: int = 24) -> np.ndarray:
    """A parallel scan of a centred disk, (views, bins)."""
    u = np.arange(bins) - (bins - 1) / 2
    return np.tile(2 * np.sqrt(np.clip(6.0 ** 2 - u ** 2, 0, None)), (views, 1))


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def test_a_constant_truth_is_refused_before_the_solve(device, tmp_path, monkeypatch, capsys):
    # an all-constant truth ran the whole solve, then failed in the evaluation: "ValueError: math domain error",
    # exit 1 (SR and CT alike)
    np.save(tmp_path / "frames.npy", _frames())
    np.save(tmp_path / "truth.npy", np.full((24, 24), 0.7))
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=frames.npy",
                      "problem.truth=truth.npy", "problem.lambda_f=0.3"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "problem.truth=truth.npy is constant (every value 0.7)" in err, err
    assert "status failed" in err
    np.save(tmp_path / "sino.npy", _sinogram())
    np.save(tmp_path / "ct_truth.npy", np.zeros((16, 16)))
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=sino.npy",
                      "problem.truth_file=ct_truth.npy", "solver=fista_tv", "solver.lam=1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "problem.truth_file=ct_truth.npy is constant (every value 0)" in err, err


def test_an_empty_frame_file_is_named_empty(device, tmp_path, monkeypatch, capsys):
    # a 0-byte frame (a copy cut short) was "cannot identify image file", read as a format regrun lacks
    (tmp_path / "burst").mkdir()
    for k, f in enumerate(_frames(3)):
        Image.fromarray((200 * f.clip(0, 1)).astype(np.uint8)).save(tmp_path / "burst" / f"f{k}.png")
    (tmp_path / "burst" / "f3.png").write_bytes(b"")
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=burst"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "f3.png: the file is empty (0 bytes" in err, err


def test_an_answer_of_channels_a_png_cannot_hold_is_drawn_as_their_luminance(tmp_path):
    # frames of 5 channels (a .npy's last axis) were solved, then the run failed writing reconstruction.png: exit 1,
    # "Cannot handle this data type: (1, 1, 5), |u1"; 2 channels were written as grey and alpha
    from regrun.problems.superres import SuperRes

    grey = np.linspace(0, 200, 6 * 8).reshape(6, 8)
    for channels in (2, 5):
        image = np.stack([grey + 10 * c for c in range(channels)], -1)
        stub = types.SimpleNamespace(colour=torch.full((2, channels, 3, 4), 250.0), frames=None)
        path = SuperRes._answer_png(stub, image, tmp_path)
        with Image.open(path) as png:
            assert png.mode == "L", png.mode
            drawn = np.asarray(png, dtype=float)
        assert np.abs(drawn - np.rint(image.mean(-1))).max() == 0
    rgb = np.stack([grey] * 3, -1)
    stub = types.SimpleNamespace(colour=torch.full((2, 3, 3, 4), 250.0), frames=None)
    with Image.open(SuperRes._answer_png(stub, rgb, tmp_path)) as png:
        assert png.mode == "RGB"


def test_a_sinogram_of_zeros_and_angles_all_alike_are_named_as_such(device, tmp_path, monkeypatch, capsys):
    # an all-zero sinogram was "no view without positive attenuation cannot place the rotation axis ...; set
    # problem.rotation_centre=geometric" (which runs on nothing); 40 angles all 0 "span 0, which reads as radians"
    np.save(tmp_path / "zeros.npy", np.zeros((12, 24)))
    np.savez(tmp_path / "same.npz", sinogram=_sinogram(), angles=np.zeros(12))
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=zeros.npy", "solver=fista_tv",
                      "solver.lam=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "problem.sinogram=zeros.npy: every value is 0: no object was scanned" in err, err
    assert "rotation_centre" not in err, err
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=same.npz", "solver=fista_tv",
                      "solver.lam=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "its 12 'angles' are all 0: one angle per view" in err, err
    assert "radians" not in err, err


def test_a_folder_given_for_an_array_file_is_named_a_folder(device, tmp_path, monkeypatch, capsys):
    # problem.sinogram=data (a folder) was "file not found: data", as if it did not exist; a typo got no hint
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "scan.npy", _sinogram())
    base = ["problem=ct_fewview", "problem.data=file", "solver=fista_tv", "solver.lam=1"]
    code, err = _run([*base, "problem.sinogram=data"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "problem.sinogram: data is a folder; give one file in it (it holds scan.npy)" in err, err
    code, err = _run([*base, "problem.sinogram=data/scan.nyp"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "file not found: data/scan.nyp; did you mean data/scan.npy?" in err, err


def test_grey_frames_with_a_channel_axis_of_one_are_read_as_grey(tmp_path):
    # (frames, rows, columns, 1) ran as a colour burst of 1 channel and failed after the solve (exit 1)
    from regrun.imaging.io import read_frames

    frames = _frames()
    np.save(tmp_path / "f.npy", frames[..., None])
    got = read_frames(tmp_path / "f.npy", colour=True)
    assert got.shape == (4, 12, 12), got.shape
    assert np.array_equal(got, read_frames(_save(tmp_path / "g.npy", frames), colour=True))


def _save(path, arr):
    np.save(path, arr)
    return path


def test_your_frames_with_a_truth_report_bicubics_psnr_beside_the_answers(device, tmp_path):
    # with problem.truth the run gave psnr and no bicubic beside it (CT gives psnr_fbp): the first thing a user
    # compares with; scored against the same truth as psnr, bicubic of frame 0 (the frames' level kept)
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.metrics import psnr
    from regrun.problems.superres import SuperRes
    from regrun.solve_result import SolveResult

    frames = 50 + 100 * _frames()
    np.save(tmp_path / "f.npy", frames)
    np.save(tmp_path / "t.npy", np.kron(frames[0], np.ones((2, 2))) + 1.0)  # rows, columns as stored
    ctx = RunContext(device, torch.float64, 0, tmp_path)
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path / "f.npy"),
                                truth=str(tmp_path / "t.npy"), lambda_f=0.3, factor=2), ctx)
    w = ctx.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0] * 3)
    metrics, _ = p.evaluate(SolveResult(solution={"w": w}, status="converged"))
    up = torch.nn.functional.interpolate(p.frames()[0][None, None], size=tuple(p.fine.m), mode="bicubic",
                                         align_corners=False)[0, 0]
    assert abs(metrics["psnr_bicubic"] - psnr(up.cpu().numpy(), p.truth.cpu().numpy())) < 1e-9, metrics
    assert 20 < metrics["psnr_bicubic"] < metrics["psnr"] + 20


def test_panels_over_one_domain_are_drawn_at_one_size(tmp_path):
    """colour.png and superres.png: a frame (fewer pixels over the same field of view) was drawn at its own integer
    enlargement, smaller than the answer beside it (36-px frames at 252 px against a 72-px answer at 288)."""
    from scipy import ndimage

    from regrun.plots import image_grid

    omega = (0.0, 1.0, 0.0, 1.0)
    panels = [dict(image=np.zeros((52, 72)), omega=omega, title="answer", vmin=0.0, vmax=1.0),
              dict(image=np.zeros((26, 36)), omega=omega, title="frame 0", vmin=0.0, vmax=1.0)]
    path = image_grid(panels, tmp_path / "g.png", ncols=2)
    black = np.asarray(Image.open(path).convert("L")) == 0
    labels, n = ndimage.label(black)
    boxes = sorted(ndimage.find_objects(labels), key=lambda b: -(b[0].stop - b[0].start) * (b[1].stop - b[1].start))
    shapes = [(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in boxes[:2]]
    assert shapes[0] == shapes[1], shapes
    # another domain keeps its own size
    panels.append(dict(image=np.zeros((10, 10)), omega=(0.0, 2.0, 0.0, 2.0), title="elsewhere", vmin=0.0, vmax=1.0))
    from regrun.plots import _shared_domain_sizes
    sizes = _shared_domain_sizes([(72, (288, 208), omega), (36, (252, 182), omega), (10, (260, 260), (0, 2, 0, 2)),
                                  (5, (255, 255), None)])
    assert sizes == [(288, 208), (288, 208), (260, 260), (255, 255)]


def test_a_folder_mixing_jpeg_and_lossless_frames_is_warned(device, tmp_path, monkeypatch, capsys):
    # a folder of PNG and JPEG frames ran without a word, though JPEG's block error is read as data
    (tmp_path / "burst").mkdir()
    for k, f in enumerate(_frames(4)):
        name = tmp_path / "burst" / f"f{k}.{'jpg' if k % 2 else 'png'}"
        Image.fromarray((200 * f.clip(0, 1)).astype(np.uint8)).save(name, **({"quality": 90} if k % 2 else {}))
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=burst", "problem.lambda_f=0.3",
                      "problem.motion_model=affine"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "the frames mix 2 JPEG file(s) (f1.jpg, f3.jpg) with 2 lossless one(s) (f0.png, f2.png)" in err, err
    from pathlib import Path

    from regrun.imaging.io import mixed_jpeg_warning
    assert mixed_jpeg_warning([Path("a.jpg"), Path("b.JPEG")]) == ""
    assert mixed_jpeg_warning([Path("a.png"), Path("b.tif")]) == ""
