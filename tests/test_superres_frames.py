"""Super-resolution from a user's frames (problem.data=frames): PNG/TIFF folders, .npz and .h5 stacks read
alike, the optional truth and motion, metrics and figures without a truth, and one-line errors for bad input."""
import importlib.util
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from regrun.config import PACKAGE_DIR, config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.io import from_fair_layout, read_frames, read_truth, to_fair_layout
from regrun.monitor import Monitor
from regrun.problems.superres import (EXPOSURE_MOVED, EXPOSURE_STD, SuperRes, exposure_measures, exposure_varies,
                                      exposure_warning)
from regrun.solvers.varpro_cg import VarProCG

SCRIPT = PACKAGE_DIR.parent / "scripts" / "make_sr_frames.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_sr_frames", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The same small frame set (12x12 truth, three 6x6 frames) in every format."""
    make = _script()
    root = tmp_path_factory.mktemp("frames")
    kw = dict(size=12, factor=2, frames=3, noise=0.01, supersample=4, seed=1)
    return {fmt: make.write_frame_set(root / fmt, fmt, **kw) for fmt in ("png", "tiff", "npz", "h5")}


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def frames_problem(ctx, paths, **over):
    cfg = dict(data="frames", frames=str(paths["frames"]))
    return SuperRes(config_section("problem", "superres", **{**cfg, **over}), ctx)


def test_layout_round_trip():
    a = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(from_fair_layout(to_fair_layout(a)), a)
    # FAIR's layout: [i, j] is x1 = column i from the left, x2 = row j from the bottom
    assert to_fair_layout(a)[0, 0, 0] == a[0, -1, 0]


def test_every_format_reads_the_same_frames(sets):
    ref = read_frames(sets["npz"]["frames"])
    assert ref.shape == (3, 6, 6)
    assert np.array_equal(read_frames(sets["h5"]["frames"]), ref)
    # numpy.save of the stack (new-user pass: refused, while an unreadable .h5's message offered .npy)
    with np.load(sets["npz"]["frames"]) as data:
        npy = Path(sets["npz"]["frames"]).with_suffix(".npy")
        np.save(npy, data["frames"])
    assert np.array_equal(read_frames(npy), ref)
    npy.write_bytes(b"not an array")
    with pytest.raises(UserError, match="not a NumPy .npy file"):
        read_frames(npy)
    tiff = read_frames(sets["tiff"]["frames"])
    assert np.allclose(tiff, ref, rtol=1e-6)  # float32 TIFF
    scale = json.loads(Path(sets["png"]["true_motion"]).read_text())["intensity_scale"]
    png = read_frames(sets["png"]["frames"]) / scale  # 16-bit PNG, scaled
    assert np.abs(png - ref).max() < 2 / scale


def test_problem_from_frames_with_truth_and_motion(sets, ctx):
    paths = sets["npz"]
    # 6x6 frames: the user's default edge mask (outside=drop) leaves too few pixels for 2 Gauss-Newton steps to
    # reach this motion bound (0.33 measured); what this test checks is the reading of the files
    p = frames_problem(ctx, paths, truth=str(paths["truth"]), true_motion=str(paths["true_motion"]), outside="keep")
    assert p.fine.m == (12, 12) and p.omega == (0.0, 12.0, 0.0, 12.0) and p.model.q == 2
    assert p.label.endswith("3 frames of 6x6 -> 12x12")  # the figures' title: the frames' size, then the result's
    assert p.truth.shape == (12, 12) and p.w_true.numel() == 12 and p.model.frames.device.type == ctx.device.type
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=10, max_iter=2), ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    assert metrics["psnr"] > 15 and 0 < metrics["rel_error"] < 0.5 and metrics["motion_error"] < 0.3
    assert 0 < metrics["data_rel_residual"] < 0.1 and arrays["data_residual"].shape == (3, 6, 6)
    # gain-free frames: no exposure warning (srgain2: 0.0040 and 0.0208 at most on 41 gain-free dev sets)
    assert metrics["exposure_std"] < EXPOSURE_STD and metrics["exposure_moved_range"] < EXPOSURE_MOVED
    assert exposure_warning(metrics) == []


def test_exposure_measures_name_an_unmodelled_gain(device):
    """Frames 10% brighter and 3% darker than frame 0 against the model's prediction: each measure reads them, and
    the warning says gain=true."""
    gen = torch.Generator().manual_seed(3)
    pred = (50 + 10 * torch.rand(3, 36, generator=gen, dtype=torch.float64)).to(device)
    gains = torch.tensor([1.0, 1.1, 0.97], dtype=torch.float64, device=device)
    data = pred * gains[:, None]
    data[2, :5] = 0.0
    pred[2, :5] = 0.0  # pixels left out (outside=drop) are zero in both and do not count
    m = exposure_measures(pred.reshape(-1), data.reshape(-1), 3)
    assert m["exposure_spread"] == pytest.approx(0.1, abs=1e-12)
    assert m["exposure_std"] == pytest.approx(float((gains / gains.mean()).std()), abs=1e-12)
    assert m["exposure_moved_range"] == pytest.approx(0.13 / 1.035, abs=1e-12)
    assert set(exposure_measures(pred.reshape(-1), pred.reshape(-1), 3).values()) == {0.0}
    assert "problem.gain=true" in exposure_warning(m)[0] and exposure_warning({}) == []


def test_exposure_std_leaves_out_a_frame_moved_wholly_outside(device):
    """A locked first answer can move a frame wholly outside the image (every pixel dropped: zero in the prediction
    and the data): exposure_std compares the other frames and stays finite; NaN marked the run diverged
    (hubble20 s8924, docs/superres.md "srlock2")."""
    gen = torch.Generator().manual_seed(5)
    pred = (50 + 10 * torch.rand(4, 36, generator=gen, dtype=torch.float64)).to(device)
    gains = torch.tensor([1.0, 1.1, 0.97, 1.0], dtype=torch.float64, device=device)
    data = pred * gains[:, None]
    pred[3], data[3] = 0.0, 0.0
    m = exposure_measures(pred.reshape(-1), data.reshape(-1), 4)
    assert math.isfinite(m["exposure_std"])
    assert m["exposure_std"] == pytest.approx(float((gains[:3] / gains[:3].mean()).std()), abs=1e-12)


def test_exposure_std_sees_brightness_not_contrast(device):
    """A gain scales a frame's mean; a misfit of its contrast does not (frame 0's on sharp chessboards: srgain2). The
    contrast moves the least-squares brightness (exposure_spread, which therefore decides nothing), not
    exposure_std; exposure_moved_range leaves frame 0 out."""
    gen = torch.Generator().manual_seed(4)
    pred = (50 + 10 * torch.rand(4, 36, generator=gen, dtype=torch.float64)).to(device)
    mean = pred.mean(-1, keepdim=True)
    contrast = mean + (pred - mean) * torch.tensor([1.5, 1.0, 1.0, 1.0], dtype=torch.float64, device=device)[:, None]
    m = exposure_measures(pred.reshape(-1), contrast.reshape(-1), 4)
    assert m["exposure_spread"] > 1e-3 and m["exposure_std"] == pytest.approx(0.0, abs=1e-14)
    assert m["exposure_moved_range"] == pytest.approx(0.0, abs=1e-14) and exposure_varies(m) is None
    small = {"exposure_spread": 0.05, "exposure_std": 0.9 * EXPOSURE_STD, "exposure_moved_range": 0.9 * EXPOSURE_MOVED}
    assert exposure_varies(small) is None and exposure_warning(small) == []
    assert "exposure_std" in exposure_varies({**small, "exposure_std": EXPOSURE_STD})
    assert "exposure_moved_range" in exposure_varies({**small, "exposure_moved_range": EXPOSURE_MOVED})


def test_wide_frame_sets_are_users_files(tmp_path):
    """make_sr_frames' wide_burst (srwide): non-square, Poisson noise, shifts in frame pixels, 8-bit PNG frames with
    a float TIFF truth in their units, as the frames reader takes them."""
    make = _script()
    paths = make.write_frame_set(tmp_path / "w", "png", 8, {"shape": (8, 12), "shift": (1.0, 2.0), "photons": 100.0,
                                                           "shear": 0.1}, size=12, factor=2, frames=3, supersample=2,
                                 seed=1)
    frames = read_frames(paths["frames"])
    assert frames.shape == (3, 6, 4) and np.array_equal(frames, np.round(frames)) and frames.max() <= 255
    assert read_truth(paths["truth"]).shape == (12, 8)  # FAIR layout: columns, rows
    w = np.array(json.loads(Path(paths["true_motion"]).read_text())["w"]).reshape(2, 6)
    assert np.all(np.abs(w[:, 4:]) > 0.5)  # shifts of 1-2 frame pixels (2-4 fine) about the centre


def test_jpeg_frame_sets(tmp_path):
    """make_sr_frames --format jpeg (srjpeg): 8-bit JPEG frames at the quality asked, colour ones with the chroma
    subsampling asked, read by the frames reader; the same seed's lossless 8-bit PNG twin holds the same scene in the
    same units (the same truth), and the JPEG frames' departure from it grows as the quality falls."""
    from PIL import Image, JpegImagePlugin

    make = _script()
    kw = dict(size=16, factor=2, frames=3, supersample=2, seed=3)
    wide = {"image": "cartoon"}  # generated colour scene: CI has no scikit-image
    png = make.write_frame_set(tmp_path / "png", "png", 8, wide, **kw)
    ref = read_frames(png["frames"], colour=True)
    gaps = []
    for q, chroma in ((95, "420"), (70, "420"), (70, "444")):
        paths = make.write_frame_set(tmp_path / f"{q}_{chroma}", "jpeg", 16, wide, q, chroma, **kw)
        files = sorted(Path(paths["frames"]).iterdir())
        assert [f.name for f in files] == ["frame_00.jpg", "frame_01.jpg", "frame_02.jpg"]
        with Image.open(files[0]) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
            assert JpegImagePlugin.get_sampling(img) == make.CHROMA[chroma]
        frames = read_frames(paths["frames"], colour=True)
        assert frames.shape == ref.shape == (3, 3, 8, 8)
        assert np.array_equal(read_truth(paths["truth"], colour=True), read_truth(png["truth"], colour=True))
        gaps.append(float(np.sqrt(((frames - ref) ** 2).mean())))
    assert 0 < gaps[0] < gaps[1]
    grey = make.write_frame_set(tmp_path / "grey", "jpeg", 16, {"image": "lineart"}, 85, **kw)
    assert read_frames(grey["frames"]).shape == (3, 8, 8)
    with pytest.raises(SystemExit, match="--quality 0"):
        make.write_frame_set(tmp_path / "bad", "jpeg", 8, wide, 0, **kw)
    with pytest.raises(SystemExit, match="--chroma 422"):
        make.write_frame_set(tmp_path / "bad", "jpeg", 8, wide, 85, "422", **kw)


def test_jpeg_dc_share_predicts_the_frame_mean_error(tmp_path):
    """io.jpeg_dc_share (srjpeggain): the RMS share of a JPEG frame's mean that its quantised block means move it
    by, from the file's DC step alone, against the share measured (decoded less stored mean) on 100 dark smooth
    20x12 frames (partial blocks too); 0 for PNG frames."""
    from PIL import Image

    from regrun.imaging.io import frame_files, jpeg_dc_share

    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:20, 0:12]
    for q in (50, 85):
        folder, moved = tmp_path / f"q{q}", []
        folder.mkdir()
        for k in range(100):
            img = 40 + 20 * np.sin(x / 3 + rng.uniform(0, 6)) * np.cos(y / 4 + rng.uniform(0, 6)) + rng.uniform(-5, 5)
            stored = np.clip(np.round(img), 0, 255).astype(np.uint8)
            Image.fromarray(stored).save(folder / f"f{k:03d}.jpg", quality=q)
            with Image.open(folder / f"f{k:03d}.jpg") as back:
                moved.append(np.asarray(back, dtype=np.float64).mean() / stored.mean() - 1)
        share = jpeg_dc_share(frame_files(folder), read_frames(folder))
        assert 0.8 < float(np.std(moved)) / share < 1.4
    Image.fromarray(stored).save(tmp_path / "a.png")
    Image.fromarray(stored).save(tmp_path / "b.png")
    assert jpeg_dc_share([tmp_path / "a.png", tmp_path / "b.png"], np.stack([stored, stored])) == 0.0


def test_user_jpeg_frames_record_their_block_mean_share(ctx, tmp_path):
    """SuperRes reads the share from a JPEG frames folder (n_frames' first frames) and records it beside the
    exposure measures; a lossless folder's is 0 and records nothing."""
    from regrun.imaging.io import frame_files, jpeg_dc_share

    make = _script()
    kw = dict(size=16, factor=2, frames=3, supersample=2, seed=3)
    jpeg = make.write_frame_set(tmp_path / "jpeg", "jpeg", 8, {"image": "lineart"}, 70, **kw)
    png = make.write_frame_set(tmp_path / "png", "png", 8, {"image": "lineart"}, **kw)
    p = frames_problem(ctx, jpeg, n_frames=2)
    expect = jpeg_dc_share(frame_files(Path(jpeg["frames"]))[:2], read_frames(jpeg["frames"])[:2])
    assert p.jpeg_dc == pytest.approx(expect, rel=1e-12) and p.jpeg_dc > 0
    solver = VarProCG(config_section("solver", "varpro_cg", cg_iters=10, max_iter=1), ctx)
    metrics, _ = p.evaluate(solver.solve(p, Monitor()))
    assert metrics["frames_jpeg_dc_share"] == p.jpeg_dc and "exposure_std" in metrics
    q = frames_problem(ctx, png)
    assert q.jpeg_dc == 0.0
    metrics, _ = q.evaluate(solver.solve(q, Monitor()))
    assert "frames_jpeg_dc_share" not in metrics and "exposure_std" in metrics


def test_exposure_bars_allow_for_jpeg_block_means():
    """srjpeggain: on JPEG frames (frames_jpeg_dc_share recorded) both exposure bars rise by their factor times the
    share: dark hubble q70's first answer (std 0.0203, moved range 0.1655, share 0.0094) no longer re-solves, a
    bright JPEG burst with +-1.5% gains (texture: 0.00718, 0.0243, share 0.00023) still does; without the share
    (lossless frames) the bars are srgain2's."""
    from regrun.problems.superres import JPEG_MOVED_FACTOR, JPEG_STD_FACTOR

    dark = {"exposure_std": 0.02026, "exposure_moved_range": 0.1655, "frames_jpeg_dc_share": 0.009373}
    assert exposure_varies(dark) is None
    assert "exposure_std" in exposure_varies({k: v for k, v in dark.items() if k != "frames_jpeg_dc_share"})
    assert "exposure_std 0.00718 >= 0.00707" in exposure_varies(
        {"exposure_std": 0.00718, "exposure_moved_range": 0.02432, "frames_jpeg_dc_share": 0.000227})
    share = 0.001
    at = {"exposure_std": EXPOSURE_STD + JPEG_STD_FACTOR * share, "exposure_moved_range": 0.0,
          "frames_jpeg_dc_share": share}
    assert exposure_varies(at) is not None and exposure_varies({**at, "exposure_std": 0.99 * at["exposure_std"]}) is None
    moved = {"exposure_std": 0.0, "exposure_moved_range": EXPOSURE_MOVED + JPEG_MOVED_FACTOR * share,
             "frames_jpeg_dc_share": share}
    assert exposure_varies(moved) is not None
    assert exposure_varies({**moved, "exposure_moved_range": 0.99 * moved["exposure_moved_range"]}) is None


def test_without_truth_metrics_and_figures_degrade(sets, ctx, tmp_path):
    p = frames_problem(ctx, sets["png"])
    assert p.truth is None and p.w_true is None
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=10, max_iter=1), ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    assert "psnr" not in metrics and "motion_error" not in metrics
    assert np.isfinite(metrics["data_rel_residual"]) and arrays["w"].shape == (12,)
    paths = p.figures(res, metrics, tmp_path)
    assert all(Path(f).is_file() for f in paths)
    with pytest.raises(UserError, match="problem.true_motion"):
        VarProCG(config_section("solver", "varpro_cg", cg_iters=10, init="truth"), ctx).solve(p, Monitor())


def test_bad_frames_inputs(sets, ctx, tmp_path):
    with pytest.raises(UserError, match="frames not found"):
        frames_problem(ctx, {"frames": tmp_path / "nowhere"})
    np.savez(tmp_path / "wrong.npz", images=np.zeros((3, 4, 4)), w=np.zeros(12))
    with pytest.raises(UserError, match="keys found: images, w"):
        frames_problem(ctx, {"frames": tmp_path / "wrong.npz"})
    with h5py.File(tmp_path / "flat.h5", "w") as h5:
        h5["frames"] = np.zeros((4, 4))
    with pytest.raises(UserError, match="3 dimensions"):
        frames_problem(ctx, {"frames": tmp_path / "flat.h5"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files"):
        frames_problem(ctx, {"frames": tmp_path / "empty"})
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    from PIL import Image
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((6, 8), np.uint8)).save(mixed / "b.png")
    with pytest.raises(UserError, match="same size"):
        frames_problem(ctx, {"frames": mixed})
    with pytest.raises(UserError, match="needs problem.frames=PATH"):
        SuperRes(config_section("problem", "superres", data="frames", frames=4), ctx)
    with pytest.raises(UserError, match="add problem.data=frames"):
        SuperRes(config_section("problem", "superres", frames=str(sets["npz"]["frames"])), ctx)
    with pytest.raises(UserError, match="problem.truth is"):
        frames_problem(ctx, sets["npz"], factor=3, truth=str(sets["npz"]["truth"]))
