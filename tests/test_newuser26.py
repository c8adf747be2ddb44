"""newuser26's pass on frames as they come (session 39): stacks, clips, real sizes; each case fails on main
(docs/superres.md, "Frames as they come: stacks, videos, real sizes (newuser26)")."""
import numpy as np
from PIL import Image

from test_newuser22 import _run  # the CLI in process, with figures off, on the device fixture's device

SEED = 9789

FRAMES = ["problem=superres", "problem.data=frames", "time_limit=1", "problem.motion_model=translation",
          "problem.gain_again=false", "problem.lambda_f=0.1", "problem.frames_check=false"]


def _scene(count: int = 4, side: int = 16) -> np.ndarray:
    """`count` RGB frames in 0-255 of one random colour scene, frame k moved k pixels down, as uint8."""
    rng = np.random.default_rng(SEED)
    field = rng.standard_normal((side + 8, side + 8, 3)).cumsum(0).cumsum(1)
    field = 255 * (field - field.min()) / np.ptp(field)
    return np.stack([field[k:k + side, 2:side + 2] for k in range(count)]).astype(np.uint8)


def test_a_colour_animated_gif_is_warned_for_its_palette(device, tmp_path, monkeypatch, capsys):
    # a phone clip saved as an animated GIF: every page snapped to a palette of 256 colours at most, read without a
    # word, where a folder of such frames is warned (newuser21); Pillow hands the pages after the first over as RGB
    pages = [Image.fromarray(f).quantize(64).convert("RGB") for f in _scene()]
    pages[0].save(tmp_path / "clip.gif", save_all=True, append_images=pages[1:], duration=40)
    code, err = _run([*FRAMES, "problem.frames=clip.gif"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "4 of the 4 frames of clip.gif (page 0, page 1, page 2, ...) are colour images stored with a palette" in err, err
    # a grey clip's palette holds grey levels alone, which lose nothing: not warned
    grey = [Image.fromarray(f[..., 1]) for f in _scene()]
    grey[0].save(tmp_path / "grey.gif", save_all=True, append_images=grey[1:], duration=40)
    code, err = _run([*FRAMES, "problem.frames=grey.gif"], tmp_path, monkeypatch, capsys, device)
    assert code == 0, err
    assert "palette" not in err, err


def test_a_frame_fitted_far_worse_is_named_where_the_check_passes(device, tmp_path):
    # 12 frames of 128^2, frame 7 blurred 5 px along the rows: the answer stayed above bicubic, so the frames check
    # passed (0.46) and the frame, fitted 4.57 times worse than the others, went unnamed: 31.50 dB against 33.94
    # with it left out (newuser26)
    import torch

    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.superres import SuperRes

    scene = np.random.default_rng(SEED).uniform(40, 200, (14, 14))
    for k in range(5):
        Image.fromarray(np.roll(scene, k, axis=1)[1:13, 1:13].astype(np.uint8)).save(tmp_path / f"IMG_{k + 1}.png")
    p = SuperRes(config_section("problem", "superres", data="frames", frames=str(tmp_path)),
                 RunContext(device, torch.float64, 0, tmp_path))
    metrics = {"frames_check_ratio": 0.46, "frames_check_ratio_1": 0.51, "frames_check_ratio_2": 0.42,
               "frames_misfit_worst": 3.0, "frames_misfit_worst_ratio": 4.57}
    said = " ".join(p.warnings(metrics))
    assert ("frame 3 (IMG_4.png) is fitted 4.57 times worse (RMS residual) than the median of the other frames "
            "(frames_misfit_worst), though the frames check passes" in said and "leave it out" in said), said
    metrics.update(frames_misfit_worst_ratio=1.05)  # clean frames: 1.01-1.05 on newuser26's 9 sets
    assert "is fitted" not in " ".join(p.warnings(metrics))
