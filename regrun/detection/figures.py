"""The detection run's figures (boxes.png, occurrence.png, trace.png), drawn with PIL rather than matplotlib: they are
an image with boxes, a mosaic of maps and two stem plots, and matplotlib's import and layout were ~0.8 of the
~5.5 CPU-s of a cached half-size `regrun problem=crab_detection` (docs/detection.md, crabfast). Images are shown
pixel for pixel, enlarged by an integer factor (nearest), so a map's pixels stay visible."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..pil_draw import font as _font, nice_ticks as _nice_ticks, save_png as _save, text_size as _text_size

# matplotlib's tab10 colours, by the names the detection code uses
COLOURS = {"tab:blue": (31, 119, 180), "tab:green": (44, 160, 44), "tab:red": (214, 39, 40),
           "black": (0, 0, 0), "white": (255, 255, 255), "grey": (110, 110, 110)}
BOX_COLOURS = {"crab": "tab:blue", "eye_pair": "tab:green"}
# matplotlib's magma at 17 evenly spaced points (0, 1/16, ..., 1), 8-bit; linear in between is within 3/255 of it
MAGMA = np.array([[0, 0, 4], [10, 8, 34], [29, 17, 71], [54, 16, 107], [81, 18, 124], [106, 28, 129],
                  [131, 38, 129], [156, 46, 127], [183, 55, 121], [208, 65, 111], [231, 82, 99], [245, 107, 92],
                  [252, 137, 97], [254, 167, 114], [254, 196, 136], [253, 226, 163], [252, 253, 191]], float)
DECADES = 4  # occurrence maps: drawn relative to their maximum over this many decades


def box_colours(tree: dict, root: str) -> dict[str, str]:
    """Box colours by node of any part tree, as the crab's: the root blue, the other parents green (leaves: red)."""
    return {**{n: "tab:green" for n in tree}, root: "tab:blue"}


def _array(x) -> np.ndarray:
    return np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)


def _rgb8(image) -> np.ndarray:
    """(C, H, W) RGB or (H, W) grey in [0, 1] -> (H, W, 3) uint8."""
    arr = np.clip(_array(image), 0.0, 1.0)
    arr = arr.transpose(1, 2, 0) if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=2)
    return np.round(arr * 255).astype(np.uint8)


def _zoom(shape, target: int) -> int:
    """Integer enlargement that brings the longer side to about `target` px (at least 1)."""
    return max(1, round(target / max(shape[:2])))


def _magma(t: np.ndarray) -> np.ndarray:
    """t in [0, 1] (NaN: white) -> (..., 3) uint8."""
    x = np.nan_to_num(t, nan=0.0) * (len(MAGMA) - 1)
    i = np.clip(np.floor(x).astype(int), 0, len(MAGMA) - 2)
    f = (x - i)[..., None]
    out = np.round(MAGMA[i] * (1 - f) + MAGMA[i + 1] * f).astype(np.uint8)
    out[np.isnan(t)] = 255
    return out


def detection_boxes(scene, boxes: dict[str, np.ndarray], path: Path, title: str = "",
                    colours: dict[str, str] | None = None) -> Path:
    """The scene with each node's box (corners (4, 2) as row/col): parts red, eye pair green, crab blue. Keys
    "node#i" draw instance i's boxes, numbered on the first (its root's)."""
    rgb = _rgb8(scene)
    k = _zoom(rgb.shape, 768)
    h, w = rgb.shape[0] * k, rgb.shape[1] * k
    font, small = _font(14), _font(12)
    top = 26
    img = Image.new("RGB", (w, h + top), COLOURS["white"])
    img.paste(Image.fromarray(rgb).resize((w, h), Image.NEAREST), (0, top))
    draw = ImageDraw.Draw(img)
    numbered = set()

    def xy(row, col):  # pixel centres, as matplotlib's imshow puts them
        return (col + 0.5) * k, (row + 0.5) * k + top

    for name, corners in boxes.items():
        node, _, instance = name.partition("#")
        colour = COLOURS[(colours or BOX_COLOURS).get(node, "tab:red")]  # another template's: box_colours()
        pts = [xy(r, c) for r, c in np.asarray(corners)]
        draw.line([*pts, pts[0]], fill=colour, width=2)
        if instance and instance not in numbered:  # an instance's first box is its root's
            numbered.add(instance)
            x, y = pts[0]
            tw, th = _text_size(draw, instance, small)
            draw.rectangle((x - 1, y - 1, x + tw + 3, y + th + 4), fill=colour)
            draw.text((x + 1, y), instance, fill=COLOURS["white"], font=small)
    img.paste(COLOURS["white"], (0, 0, w, top))  # boxes that leave the image above stop at the title band
    draw.text(((w - _text_size(draw, title, font)[0]) / 2, 5), title, fill=COLOURS["black"], font=font)
    return _save(img, path)


def occurrence_panels(maps: dict, path: Path) -> Path:
    """One tile per node's occurrence map, titled with its sum and maximum. A map is mostly zero with a few sharp
    peaks, so each is drawn relative to its own maximum on a log scale over four decades (a linear scale shows one
    dot on black), all tiles in one image with one colour bar."""
    names = list(maps)
    tiles = [_array(maps[n]) for n in names]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    h0, w0 = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    k = _zoom((h0, w0), 440)
    h, w = h0 * k, w0 * k
    font, small = _font(13), _font(11)
    gap_r, gap_c, bar_w = 24, 10, 18
    width = ncols * (w + gap_c) + bar_w + 90
    height = nrows * (h + gap_r) + 8
    img = Image.new("RGB", (width, height), COLOURS["white"])
    draw = ImageDraw.Draw(img)
    for i, (name, m) in enumerate(zip(names, tiles)):
        r, c = divmod(i, ncols)
        top = float(m.max()) if m.size else 0.0
        rel = np.maximum(m / top, 10.0 ** -DECADES) if top > 0 else np.full(m.shape, 10.0 ** -DECADES)
        t = 1.0 + np.log10(rel) / DECADES  # 1e-4 -> 0, 1 -> 1
        x0, y0 = gap_c + c * (w + gap_c), gap_r + r * (h + gap_r)
        tile = Image.fromarray(_magma(t)).resize((m.shape[1] * k, m.shape[0] * k), Image.NEAREST)
        img.paste(tile, (x0, y0))
        draw.text((x0, y0 - 18), f"{name}: sum {m.sum():.3f}, max {top:.3g}", fill=COLOURS["black"], font=font)
    # the colour bar: 1e-4 (bottom) to 1 (top), labelled at the decades
    bx, by, bh = ncols * (w + gap_c) + 10, gap_r, nrows * (h + gap_r) - gap_r
    ramp = np.linspace(1.0, 0.0, bh)[:, None].repeat(bar_w, 1)
    img.paste(Image.fromarray(_magma(ramp)), (bx, by))
    draw.rectangle((bx, by, bx + bar_w - 1, by + bh - 1), outline=COLOURS["black"])
    for d in range(DECADES + 1):
        y = by + round((bh - 1) * d / DECADES)
        draw.line((bx + bar_w, y, bx + bar_w + 4, y), fill=COLOURS["black"])
        draw.text((bx + bar_w + 7, y - 6), "1" if d == 0 else f"1e-{d}", fill=COLOURS["black"], font=small)
    label = Image.new("RGB", _text_size(draw, "map / its tile's max (log scale)", small), COLOURS["white"])
    ImageDraw.Draw(label).text((0, -2), "map / its tile's max (log scale)", fill=COLOURS["black"], font=small)
    label = label.rotate(90, expand=True)
    img.paste(label, (bx + bar_w + 50, by + (bh - label.size[1]) // 2))
    return _save(img, path)


def _stem_panel(draw, box, y: np.ndarray, xlabel: str, ylabel: str, font, lines=()) -> None:
    """A stem plot of y against its index in box (left, top, right, bottom) of the image: frame, ticks with
    labels, axis labels; `lines` are (value, colour[, label]) horizontal reference lines, a label written on its
    line."""
    left, top, right, bottom = box
    n = max(len(y), 1)
    ymax = max(float(np.max(y)) if len(y) else 0.0, *(line[0] for line in lines), 1e-12) * 1.05
    ymin = min(float(np.min(y)) if len(y) else 0.0, 0.0)
    ymin -= 0.05 * (ymax - ymin)
    xpad = 0.04 * n

    def px(i):
        return left + (i + xpad) / (n - 1 + 2 * xpad) * (right - left)

    def py(v):
        return bottom - (v - ymin) / (ymax - ymin) * (bottom - top)

    for v, colour, *label in lines:
        draw.line((left, py(v), right, py(v)), fill=COLOURS[colour], width=1)
        if label:  # the legend of a reference line: its meaning, at its right end
            tw, th = _text_size(draw, label[0], font)
            at = py(v) - th - 4 if py(v) - th - 4 > top + 2 else py(v) + 2  # under a line at the frame's top
            draw.text((right - 6 - tw, at), label[0], fill=COLOURS[colour], font=font)
    for i in np.flatnonzero(y):
        draw.line((px(i), py(0.0), px(i), py(float(y[i]))), fill=COLOURS["tab:blue"], width=2)
    draw.rectangle(box, outline=COLOURS["black"])
    for v in _nice_ticks(0.0, ymax):
        label = f"{v:.3g}"
        tw, th = _text_size(draw, label, font)
        draw.line((left - 4, py(v), left, py(v)), fill=COLOURS["black"])
        draw.text((left - 7 - tw, py(v) - th / 2 - 2), label, fill=COLOURS["black"], font=font)
    for v in _nice_ticks(0.0, n - 1):
        label = f"{v:.0f}"
        tw, _ = _text_size(draw, label, font)
        draw.line((px(v), bottom, px(v), bottom + 4), fill=COLOURS["black"])
        draw.text((px(v) - tw / 2, bottom + 6), label, fill=COLOURS["black"], font=font)
    tw, _ = _text_size(draw, xlabel, font)
    draw.text(((left + right - tw) / 2, bottom + 24), xlabel, fill=COLOURS["black"], font=font)
    draw.text((left, top - 18), ylabel, fill=COLOURS["black"], font=font)


def trace_plot(root_map, weights, path: Path, title: str = "", root: str = "crab") -> Path:
    """The paper's Fig. 3 inset, two ways: the root's stride weights as stems (a detection is one stem at ~1 and
    nothing else above 0.1; lines at 1, black, and 0.1, red), and the root map summed over rows (its mass spread by the
    sigma0 bumps)."""
    m = _array(root_map)
    w = _array(weights).ravel()
    font = _font(12)
    img = Image.new("RGB", (1100, 290), COLOURS["white"])
    draw = ImageDraw.Draw(img)
    tw, _ = _text_size(draw, title, _font(13))
    draw.text(((1100 - tw) / 2, 4), title, fill=COLOURS["black"], font=_font(13))
    _stem_panel(draw, (70, 50, 530, 235), w, f"{root} stride", "weight", font,
                lines=((1.0, "black", "1: one object at this stride"),
                       (0.1, "tab:red", "0.1: every other stride of a detection below")))
    _stem_panel(draw, (630, 50, 1090, 235), m.sum(0), "column", f"{root} map, summed over rows", font)
    return _save(img, path)
