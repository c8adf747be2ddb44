"""newuser19's pass on data of their own (session 34): what a fresh user met, each case failing on main."""
import numpy as np
from PIL import Image

from cli_in_process import regrun_in_process

SEED = 7978


def _two_disks_sinogram(views: int = 12, bins: int = 24) -> np.ndarray:
    """A parallel scan of a disk with numpy alone: (views, bins), every view the same chord lengths."""
    u = np.arange(bins) - (bins - 1) / 2
    chord = 2 * np.sqrt(np.clip(6.0 ** 2 - u ** 2, 0, None))
    return np.tile(chord, (views, 1)) + 0.01 * np.random.default_rng(SEED).standard_normal((views, bins))


def test_a_stack_of_slices_for_a_parallel_beam_is_told_how_to_take_one_slice(tmp_path, monkeypatch, capsys):
    # a TIFF stack was told "save a 3-D array as .npy", and that .npy was refused for a parallel beam ("needs 2
    # dimensions"): each message now says how to take one slice's (views, n_u) sinogram out of either layout
    sino = _two_disks_sinogram()
    pages = [Image.fromarray(row[None, :].astype(np.float32).repeat(3, 0), mode="F") for row in sino]
    pages[0].save(tmp_path / "proj.tif", save_all=True, append_images=pages[1:])  # 12 pages of (3 rows, 24 bins)
    np.save(tmp_path / "stack.npy", np.stack([sino, sino]))
    for name in ("proj.tif", "stack.npy"):
        done = regrun_in_process(["problem=ct_fewview", "problem.data=file", f"problem.sinogram={name}",
                                  "solver=fista_tv", "solver.lam=1", "figures=false"], tmp_path, monkeypatch, capsys)
        err = done.stdout + done.stderr
        assert done.returncode == 2, err
        assert "a[:, k, :] if it is a detector's projections (views, rows, n_u)" in err, err
        assert "a[k] if the stack a is (slices, views, n_u)" in err, err
        assert "status failed" in err


def test_a_long_frame_title_is_wrapped_inside_its_cell_not_run_into_the_next(tmp_path):
    # a phone burst's names (IMG_20261207_081502_BURST001.png) ran each SR frame title into its neighbours'
    from PIL import ImageDraw

    from regrun.pil_draw import font, text_size
    from regrun.plots import image_grid

    image = np.random.default_rng(SEED).uniform(0, 1, (28, 20))
    short = [dict(image=image, title=f"frame {k}") for k in range(3)]
    long = [dict(image=image, title=f"frame {k}: IMG_20261207_081502_BURST00{k + 1}.png" + (" (reference pose)"
                                                                                           if k == 0 else ""))
            for k in range(3)]
    one = Image.open(image_grid(short, tmp_path / "short.png", ncols=3))
    wrapped = Image.open(image_grid(long, tmp_path / "long.png", ncols=3))
    assert wrapped.size[0] == one.size[0] and wrapped.size[1] > one.size[1]  # more title lines, cells as wide
    # every title pixel stays inside its own cell: the columns between cells (the colour bars' labels' right
    # margin, 10 px at each cell's right) hold no ink above the images
    cell_w = (one.size[0] - 10) // 3
    band = np.asarray(wrapped.convert("L"))[: wrapped.size[1] - one.size[1] + 22]
    for c in (1, 2):
        assert band[:, c * cell_w: c * cell_w + 10].min() == 255
    draw = ImageDraw.Draw(wrapped)
    from regrun.plots import _title_lines
    lines = _title_lines(draw, "IMG_20261207_081502_BURST001_a_very_long_name_without_spaces.png", font(13), 120)
    assert len(lines) == 1 and "..." in lines[0] and text_size(draw, lines[0], font(13))[0] <= 120
