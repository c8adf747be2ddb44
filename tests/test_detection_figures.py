"""The detection figures (PIL): boxes where the corners say, maps on the log colour scale, stems at the weights."""
import numpy as np
import torch
from PIL import Image

from regrun.detection import figures


def test_boxes_are_drawn_at_their_corners_in_their_colours(tmp_path):
    scene = torch.full((3, 48, 64), 0.5)
    box = np.array([[10.0, 10.0], [10.0, 40.0], [30.0, 40.0], [30.0, 10.0]])
    out = figures.detection_boxes(scene, {"crab#1": box, "left_eye#1": box + 4, "off#1": box - 100},
                                  tmp_path / "b.png", "title", figures.box_colours({"crab": ["x"]}, "crab"))
    img = np.asarray(Image.open(out).convert("RGB"))
    k = figures._zoom((48, 64), 768)
    top = img.shape[0] - 48 * k
    row, col = round(20.5 * k) + top, round(10.5 * k)  # the crab box's left edge, half-way down
    assert tuple(img[row, col]) == figures.COLOURS["tab:blue"]
    assert tuple(img[round(24.5 * k) + top, round(14.5 * k)]) == figures.COLOURS["tab:red"]  # a leaf: red
    assert tuple(img[top + 5, 5]) == (128, 128, 128)  # the scene itself


def test_occurrence_maps_on_the_log_scale_and_an_all_zero_map(tmp_path):
    peak = np.zeros((16, 16))
    peak[8, 8], peak[2, 2] = 2.0, 2e-3  # 1 and 1e-3 of the tile's maximum
    out = figures.occurrence_panels({"a": peak, "zero": np.zeros((16, 16))}, tmp_path / "o.png")
    img = np.asarray(Image.open(out).convert("RGB"))
    k = figures._zoom((16, 16), 440)
    y0, x0 = 24, 10  # the first tile's corner (gap_r, gap_c)
    assert tuple(img[y0 + 8 * k + 1, x0 + 8 * k + 1]) == (252, 253, 191)  # the maximum: magma's top
    assert tuple(img[y0 + 2 * k + 1, x0 + 2 * k + 1]) == tuple(figures.MAGMA[4].astype(int))  # 1e-3: a quarter up
    assert tuple(img[y0 + 1, x0 + 1]) == (0, 0, 4)  # zero: the bottom, as the all-zero tile
    assert tuple(img[y0 + 1, x0 + 16 * k + 10 + 1]) == (0, 0, 4)


def test_trace_stems_and_ticks(tmp_path):
    assert np.allclose(figures._nice_ticks(0.0, 1.05), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert np.allclose(figures._nice_ticks(0.0, 767), [0, 200, 400, 600])
    w = np.zeros(100)
    w[40] = 1.0
    out = figures.trace_plot(np.ones((8, 20)), w, tmp_path / "t.png", "t")
    img = np.asarray(Image.open(out).convert("RGB"))
    blue = np.all(img == figures.COLOURS["tab:blue"], axis=2)
    assert blue[:, :550].any(axis=0).sum() == 2  # one stem of width 2 in the weights' panel
    # the reference lines say what they are: text in the red line's colour above it, at the panel's right
    red = np.all(img == figures.COLOURS["tab:red"], axis=2)
    line = int(np.flatnonzero(red[:, 100:500].sum(axis=1) > 300)[0])  # the 0.1 line across the panel
    reddish = (img[..., 0].astype(int) - img[..., 1] > 60) & (img[..., 0] > 120)  # anti-aliased text too
    assert reddish[line - 20:line - 2, 300:530].sum() > 30  # its label
