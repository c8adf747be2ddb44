"""Colour frames (problem.channels): the reader (RGB / RGBA / grey, 8 and 16 bits; PNG's row filters decoded as
the specification says), a folder and an array file reading alike, and a colour run: the motion from the
luminance, each channel's image at that motion equal to a grey run of that channel alone at the same motion."""
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regrun.config import config_section
from regrun.context import RunContext
from regrun.errors import UserError
from regrun.imaging.io import (
    LUMA,
    from_fair_layout,
    read_frames,
    read_image_channels,
    read_png16,
    write_png16,
)
from regrun.imaging.synthetic import superres_burst
from regrun.monitor import Monitor
from regrun.problems.superres import SuperRes
from regrun.solvers.two_stage import TwoStage


@pytest.fixture
def ctx(device):
    return RunContext(device, torch.float64, 0, Path("."))


def filtered_png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit RGB(A) PNG whose rows use PNG's filters 0-4 in turn (what other writers choose row by row)."""
    h, _, c = arr.shape
    bpp = 2 * c
    rows = [np.frombuffer(arr[i].astype(">u2").tobytes(), dtype=np.uint8).astype(np.int64) for i in range(h)]
    out, prior = [], np.zeros_like(rows[0])
    for i, row in enumerate(rows):
        kind = i % 5
        left = np.concatenate((np.zeros(bpp, np.int64), row[:-bpp]))
        upleft = np.concatenate((np.zeros(bpp, np.int64), prior[:-bpp]))
        if kind == 0:
            pred = np.zeros_like(row)
        elif kind == 1:
            pred = left
        elif kind == 2:
            pred = prior
        elif kind == 3:
            pred = (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - upleft)
            pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(bytes([kind]) + ((row - pred) % 256).astype(np.uint8).tobytes())
        prior = row
    write_png16(path, arr)  # the header and chunks; then its data replaced by the filtered rows
    data = path.read_bytes()
    start = data.index(b"IDAT") - 4
    body = zlib.compress(b"".join(out))
    chunk = struct.pack(">I", len(body)) + b"IDAT" + body + struct.pack(">I", zlib.crc32(b"IDAT" + body) & 0xFFFFFFFF)
    end = data.index(b"IEND") - 4
    path.write_bytes(data[:start] + chunk + data[end:])


def test_reader_keeps_colour_and_depth(tmp_path):
    gen = np.random.default_rng(0)
    rgb16 = gen.integers(0, 65536, (5, 7, 3)).astype(np.uint16)
    write_png16(tmp_path / "rgb16.png", rgb16)
    assert np.array_equal(read_png16(tmp_path / "rgb16.png"), rgb16)
    # the reader in FAIR's layout: (channels, m1, m2), low bytes kept
    got = read_image_channels(tmp_path / "rgb16.png")
    assert got.shape == (3, 7, 5) and np.array_equal(from_fair_layout(got), np.moveaxis(rgb16, -1, 0))
    rgba16 = gen.integers(0, 65536, (6, 4, 4)).astype(np.uint16)
    filtered_png16(tmp_path / "rgba16.png", rgba16)
    assert np.array_equal(read_png16(tmp_path / "rgba16.png"), rgba16)  # filters 0-4 decoded
    assert np.array_equal(from_fair_layout(read_image_channels(tmp_path / "rgba16.png")),
                          np.moveaxis(rgba16[..., :3], -1, 0))  # alpha dropped
    rgb8 = gen.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    Image.fromarray(rgb8).save(tmp_path / "rgb8.png")
    Image.fromarray(np.dstack((rgb8, np.full((5, 7), 200, np.uint8)))).save(tmp_path / "rgba8.png")
    for name in ("rgb8.png", "rgba8.png"):
        assert np.array_equal(from_fair_layout(read_image_channels(tmp_path / name)), np.moveaxis(rgb8, -1, 0))
    grey16 = gen.integers(0, 65536, (5, 7)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "grey16.png")
    assert np.array_equal(from_fair_layout(read_image_channels(tmp_path / "grey16.png")), grey16)
    Image.fromarray(np.dstack([rgb8[..., 0]] * 3)).save(tmp_path / "grey_as_rgb.png")
    assert read_image_channels(tmp_path / "grey_as_rgb.png").shape == (7, 5)


def colour_set(root: Path, size=16, frames=4, seed=0):
    """A colour burst as a folder of 16-bit RGB PNGs, the same as one .npz, and each channel alone."""
    truth, stack, w, _, g = superres_burst(size=size, frames=frames, noise=0.01, supersample=4, seed=seed,
                                           gain=(0.8, 1.2), channels=3)
    peak = 1.25 * float(stack.max())
    q16 = np.clip(np.round(stack / peak * 65535), 0, 65535)  # what the PNGs hold
    (root / "png").mkdir(parents=True)
    for j, d in enumerate(q16):
        write_png16(root / "png" / f"frame_{j:02d}.png", np.moveaxis(from_fair_layout(d), 0, -1).astype(np.uint16))
    np.savez(root / "set.npz", frames=np.moveaxis(from_fair_layout(q16), 1, -1),
             truth=np.moveaxis(from_fair_layout(truth / peak * 65535), 0, -1), w=w, gain=g)
    for c in range(3):
        np.savez(root / f"channel{c}.npz", frames=from_fair_layout(q16[:, c]), w=w, gain=g)
    return q16


def test_folder_and_array_file_read_alike(tmp_path):
    q16 = colour_set(tmp_path)
    png, npz = read_frames(tmp_path / "png", colour=True), read_frames(tmp_path / "set.npz", colour=True)
    assert png.shape == (4, 3, 16 // 2, 16 // 2) and np.array_equal(png, npz) and np.array_equal(png, q16)
    lum = read_frames(tmp_path / "png")
    assert lum.shape == (4, 8, 8)
    assert np.allclose(lum, sum(c * q16[:, i] for i, c in enumerate(LUMA)), rtol=1e-14)


def test_colour_run_is_each_channel_at_the_luminance_motion(ctx, tmp_path):
    colour_set(tmp_path)
    base = dict(data="frames", lambda_f=0.1, outside="drop", gain=True)
    p = SuperRes(config_section("problem", "superres", frames=str(tmp_path / "png"),
                                truth=str(tmp_path / "set.npz"), true_motion=str(tmp_path / "set.npz"), **base), ctx)
    assert p.colour.shape == (4, 3, 8, 8) and p.model.frames.shape == (4, 8, 8)
    res = TwoStage(config_section("solver", "two_stage", linear="pcg"), ctx).solve(p, Monitor())
    metrics, arrays = p.evaluate(res)
    est = arrays["reconstruction"]
    assert est.shape == (3, 16, 16) and arrays["reconstruction_luminance"].shape == (16, 16)
    assert np.isfinite(metrics["psnr"]) and arrays["gain"].shape == (4,)
    paths = p.figures(res, metrics, tmp_path)
    assert {q.name for q in paths} >= {"superres.png", "colour.png"} and all(q.is_file() for q in paths)
    w = res.solution["w"]
    for c in range(3):  # a grey run of channel c alone, at the colour run's motion, gives the same image
        grey = SuperRes(config_section("problem", "superres", frames=str(tmp_path / f"channel{c}.npz"), **base), ctx)
        grey.model.settle_outside(w)
        f = grey.model.solve(w, 5000, 1e-12, x0=grey.model.initial_image()).x.reshape(16, 16).cpu().numpy()
        assert np.abs(f - est[c]).max() < 1e-6 * np.abs(f).max()
    # channels=luminance: one grey image; a grey truth for colour frames is refused in one line
    lum = SuperRes(config_section("problem", "superres", frames=str(tmp_path / "png"), channels="luminance",
                                  **base), ctx)
    assert lum.colour is None and lum.model.frames.shape == (4, 8, 8)
    np.savez(tmp_path / "grey_truth.npz", truth=np.zeros((16, 16)))
    with pytest.raises(UserError, match="has 1 channel.*the frames 3.*problem.channels=luminance"):
        SuperRes(config_section("problem", "superres", frames=str(tmp_path / "png"),
                                truth=str(tmp_path / "grey_truth.npz"), **base), ctx)


def test_make_sr_frames_writes_a_colour_burst_with_gains(tmp_path):
    import importlib.util
    import json

    from regrun.config import PACKAGE_DIR
    from regrun.imaging.io import read_gain, read_truth

    spec = importlib.util.spec_from_file_location("make_sr_frames", PACKAGE_DIR.parent / "scripts" / "make_sr_frames.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    kw = dict(size=12, factor=2, frames=3, noise=0.01, supersample=4, seed=1, gain=(0.8, 1.2), channels=3)
    png = make.write_frame_set(tmp_path / "png", "png", **kw)
    npz = make.write_frame_set(tmp_path / "npz", "npz", **kw)
    scale = json.loads(png["true_motion"].read_text())["intensity_scale"]
    a, b = read_frames(png["frames"], colour=True) / scale, read_frames(npz["frames"], colour=True)
    # 16-bit rounding, and the PNGs clip the noise below 0
    assert a.shape == b.shape == (3, 3, 6, 6) and np.abs(a - np.clip(b, 0, None)).max() < 1.0 / scale
    assert read_truth(png["truth"], colour=True).shape == (3, 12, 12)
    g = read_gain(png["true_motion"])
    assert g.shape == (3,) and g[0] == 1.0 and bool(((g[1:] >= 0.8) & (g[1:] <= 1.2)).all())
    with pytest.raises(SystemExit, match="needs --format png"):
        make.write_frame_set(tmp_path / "tiff", "tiff", **kw)
