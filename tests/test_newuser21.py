"""newuser21's pass on data of their own (session 36): what a fresh user met, each case failing on main
(docs/superres.md, "A new user's pass on data of their own (newuser21)")."""
import numpy as np
import torch
from PIL import Image

from cli_in_process import regrun_in_process
from regrun.problems.superres import two_levels

SEED = 9634


def _sinogram(views: int = 16, bins: int = 30) -> np.ndarray:
    """A parallel scan of an off-centre ellipse and a bar (line integrals, (views, bins)), zero past the object."""
    u = np.arange(bins) - (bins - 1) / 2
    theta = np.deg2rad(np.arange(views) * 180.0 / views)[:, None]
    shift = 3 * np.cos(theta)  # the ellipse's centre projected on the detector
    width = np.sqrt((8 * np.cos(theta)) ** 2 + (5 * np.sin(theta)) ** 2)
    return 2 * 40 / width * np.sqrt(np.clip(width ** 2 - (u - shift) ** 2, 0, None)) / 8


def _run(args, tmp_path, monkeypatch, capsys, device):
    done = regrun_in_process([*args, "figures=false", f"device={device.type}"], tmp_path, monkeypatch, capsys)
    return done.returncode, done.stdout + done.stderr


def test_an_8_bit_sinogram_with_wrapped_negatives_is_named_wrapped(device, tmp_path, monkeypatch, capsys):
    # scaled to 0-255 and saved as uint8, the noise about 0 wrapped to 247-255 beside an object that peaks at 255
    # too: no gap, and the file was refused as "the total attenuation varies by ...% between views ... not line
    # integrals" (newuser20 left it)
    from regrun.problems.ct_fewview import wrapped_negatives

    sino = _sinogram()
    noisy = sino + 0.01 * sino.max() * np.random.default_rng(SEED).standard_normal(sino.shape)
    scaled = np.round(noisy / noisy.max() * 255)
    Image.fromarray(scaled.astype(np.int64).astype(np.uint8)).save(tmp_path / "s8.png")
    code, err = _run(["problem=ct_fewview", "problem.data=file", "problem.sinogram=s8.png", "problem.size=20",
                      "solver=fista_tv", "solver.lam=1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "saved as unsigned 8-bit integers wrap to 256 - |v|" in err and "status failed" in err, err
    # the same scan clipped at 0 first, and a noise-free one, are not called wrapped
    assert wrapped_negatives(np.clip(scaled, 0, 255)) == ""
    assert wrapped_negatives(np.round(sino / sino.max() * 255)) == ""


def test_frames_of_two_values_are_refused_before_the_solve(device, tmp_path, monkeypatch, capsys):
    # a bool array (a mask) and a folder of 1-bit PNGs ran the whole solve (54 s on newuser21's burst) and only then
    # warned that the frames hold 2 distinct values
    rng = np.random.default_rng(SEED + 1)
    scene = np.cumsum(np.cumsum(rng.standard_normal((20, 20)), 0), 1)
    masks = np.stack([np.roll(scene, k, axis=1)[2:16, 2:16] for k in range(4)]) > 0
    np.save(tmp_path / "mask.npy", masks)
    (tmp_path / "onebit").mkdir()
    for k, m in enumerate(masks):
        Image.fromarray(m).save(tmp_path / "onebit" / f"f{k}.png")  # mode "1", read as 0 and 255
    for frames, shown in (("mask.npy", "0 and 1"), ("onebit", "0 and 255")):
        code, err = _run(["problem=superres", "problem.data=frames", f"problem.frames={frames}",
                          "problem.lambda_f=0.1"], tmp_path, monkeypatch, capsys, device)
        assert code == 2, err
        assert f"every frame holds only the values {shown}: a mask or a thresholded" in err, err
        assert "regrun: solve" not in err, err  # refused while the data are read
    two_levels(torch.as_tensor(np.where(masks, 2.0, 0.0) + (np.arange(4) == 2)[:, None, None]), "x")  # 3 values


def _burst(tmp_path, count: int = 4) -> str:
    """A folder of `count` 8-bit PNG frames of a smooth random scene, each moved by a pixel."""
    rng = np.random.default_rng(SEED + 2)
    scene = 128 + 10 * np.cumsum(np.cumsum(rng.standard_normal((20, 20)), 0), 1) / 20
    (tmp_path / "burst").mkdir()
    for k in range(count):
        Image.fromarray(np.clip(scene[k:k + 12, 1:13], 0, 255).astype(np.uint8)).save(tmp_path / "burst" / f"f{k}.png")
    return "problem.frames=burst"


def test_an_empty_path_is_named_empty_not_read_as_the_working_folder(device, tmp_path, monkeypatch, capsys):
    # `problem.frames=$FRAMES` with FRAMES unset: "no image files ... in the frames folder ."; the sinogram's
    # "problem.sinogram: . is a folder"
    for args in (["problem=superres", "problem.data=frames", "problem.frames="],
                 ["problem=ct_fewview", "problem.data=file", "problem.sinogram=", "solver=fista_tv"]):
        code, err = _run(args, tmp_path, monkeypatch, capsys, device)
        assert code == 2, err
        assert "a data path is empty (KEY= with nothing after '=', or a shell variable that was not set" in err, err


def test_a_folder_given_as_the_truth_is_named_a_folder(device, tmp_path, monkeypatch, capsys):
    # the frames' folder typed as problem.truth: "image file not found: burst", though it exists
    frames = _burst(tmp_path)
    code, err = _run(["problem=superres", "problem.data=frames", frames, "problem.truth=burst", "problem.lambda_f=0.1"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "image burst is a folder; give one file in it (it holds f0.png, f1.png, f2.png, f3.png)" in err, err


def test_an_image_given_as_the_true_motion_says_what_a_motion_file_is(device, tmp_path, monkeypatch, capsys):
    # problem.true_motion=truth.png was h5py's "Unable to synchronously open file (file signature not found)"
    frames = _burst(tmp_path)
    Image.fromarray(np.full((24, 24), 90, np.uint8)).save(tmp_path / "truth.png")
    code, err = _run(["problem=superres", "problem.data=frames", frames, "problem.true_motion=truth.png",
                      "problem.lambda_f=0.1"], tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert ("motion file truth.png is not a .json, .npz or .h5/.hdf5 file: the true motion is 'w', 6 numbers per "
            "frame after frame 0") in err and "(an image is problem.truth's)" in err, err
    assert "signature" not in err


def test_a_video_given_as_the_frames_is_named_a_video(device, tmp_path, monkeypatch, capsys):
    # a phone's burst kept as a clip got the list of frame forms alone
    (tmp_path / "burst.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=burst.mp4"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "burst.mp4 is a video, which regrun does not decode: save its frames as images, e.g. ffmpeg -i " \
           "burst.mp4 frames/f%03d.png" in err, err


def test_another_name_for_an_allowed_word_is_pointed_to_it(device, tmp_path, monkeypatch, capsys):
    # `problem.lam_rule=morozov` (the discrepancy principle's name in the literature) listed the rules without a
    # hint; `device=gpu` was told "did you mean 'cpu'?"
    frames = _burst(tmp_path)
    code, err = _run(["problem=superres", "problem.data=frames", frames, "problem.lam_rule=morozov"],
                     tmp_path, monkeypatch, capsys, device)
    assert code == 2, err
    assert "problem.lam_rule='morozov' is not valid; allowed: discrepancy, gcv, sure; did you mean 'discrepancy'?" \
        in err, err
    done = regrun_in_process(["device=gpu"], tmp_path, monkeypatch, capsys)
    assert done.returncode == 2, done.stderr
    assert "unknown device 'gpu'; did you mean 'cuda'?" in done.stderr, done.stderr


def test_colour_frames_stored_with_a_palette_are_warned(tmp_path):
    # newuser21's RGB burst saved with a 64-colour palette per frame (as pngquant or a GIF export writes it) ran
    # without a word at 31.57 dB, 3.0 dB under the same frames as RGB PNGs; a grey palette loses nothing
    from regrun.imaging.io import frame_files, palette_warning

    rng = np.random.default_rng(SEED + 3)
    (tmp_path / "pal").mkdir()
    (tmp_path / "grey").mkdir()
    for k in range(3):
        rgb = rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(tmp_path / "pal" / f"f{k}.png")
        Image.fromarray(rgb[..., 0]).convert("P").save(tmp_path / "grey" / f"f{k}.gif")
    said = palette_warning(frame_files(tmp_path / "pal"))
    assert said.startswith("3 of the 3 frames (f0.png, f1.png, f2.png) are colour images stored with a palette of "
                           "at most 16 colours"), said
    assert palette_warning(frame_files(tmp_path / "grey")) == ""


def test_jpeg_frames_noise_is_not_called_a_bound(device, tmp_path, monkeypatch, capsys):
    # on newuser21's RGB burst saved as JPEG (quality 95) the console said "the luminance's noise is at most about
    # 0.3052": the noise drawn was 1.70, JPEG having smoothed it out of the flat patches the filter reads
    rng = np.random.default_rng(SEED + 4)
    scene = 128 + 60 * np.sin(np.arange(24)[:, None] / 3.0) * np.cos(np.arange(24)[None, :] / 4.0)
    (tmp_path / "jpg").mkdir()
    for k in range(4):
        frame = scene[k % 2:k % 2 + 16, k // 2:k // 2 + 16] + rng.normal(0, 3, (16, 16))
        Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(tmp_path / "jpg" / f"f{k}.jpg", quality=95)
    code, err = _run(["problem=superres", "problem.data=frames", "problem.frames=jpg", "problem.frames_check=false",
                      "problem.motion_model=translation", "problem.lam_split_steps=0", "problem.gain_again=false",
                      "solver.max_iter=2"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "on JPEG frames neither bounds the frames' noise: the compression smooths it out of flat patches" in err, err
    assert "noise is at most about" not in err, err
