"""Figure helpers (matplotlib, Agg backend). Images are in FAIR's layout: [i, j] = (x1_i, x2_j)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np

# The figures here are drawn on the Agg canvas without pyplot (_figure): pyplot's import costs ~0.3-0.5 CPU-s more
# than matplotlib's (docs/detection.md, "Start-up"), in every run that draws a figure. The backend is still set
# here, before any pyplot import elsewhere (scripts, studies).
matplotlib.use("Agg")


DIVERGING = ("RdBu_r", "RdBu", "coolwarm", "bwr", "seismic", "PiYG", "PRGn", "BrBG")


def show_image(ax, image, omega=None, title="", cmap="gray", vmin=None, vmax=None, colorbar=True, norm=None):
    """Draw an image with x1 to the right and x2 upwards over its domain, with a colour bar (a reader must be able
    to tell zero from clipped). A diverging colour map without limits gets symmetric ones, so white is zero."""
    image = np.asarray(image)
    extent = None if omega is None else (omega[0], omega[1], omega[2], omega[3])
    if image.ndim == 3:  # colour (m1, m2, channels): shown as RGB between vmin and vmax, no colour bar
        lo = float(image.min()) if vmin is None else vmin
        hi = float(image.max()) if vmax is None else vmax
        rgb = np.clip((image - lo) / ((hi - lo) or 1.0), 0.0, 1.0).transpose(1, 0, 2)
        im = ax.imshow(rgb, origin="lower", extent=extent, interpolation="nearest", aspect="equal")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        return im
    if cmap in DIVERGING and vmin is None and vmax is None and norm is None:
        finite = image[np.isfinite(image)]
        vmax = float(np.abs(finite).max()) if finite.size else 1.0
        vmax = vmax or 1.0
        vmin = -vmax
    im = ax.imshow(image.T, origin="lower", extent=extent, cmap=cmap, vmin=None if norm else vmin,
                   vmax=None if norm else vmax, norm=norm, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        bar = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        bar.ax.tick_params(labelsize=7)
    return im


def difference_panel(diff, omega=None, title="", limit=None) -> dict:
    """An image_grid panel for a signed difference: white is zero, red positive, blue negative, symmetric limits
    (`limit`, shared between the panels that are compared, e.g. before and after), and the largest |value| in
    the title so a near-white panel still says how small it is."""
    diff = np.asarray(diff)
    peak = float(np.abs(diff[np.isfinite(diff)]).max()) if np.isfinite(diff).any() else 0.0
    limit = float(limit) if limit else (peak or 1.0)
    return dict(image=diff, omega=omega, title=f"{title} (max |.| {peak:.3g})", cmap="RdBu_r", vmin=-limit,
                vmax=limit)


def image_grid(panels: Sequence[dict], path: Path, ncols: int = 3, suptitle: str = "") -> Path:
    """Save a grid of image panels, each with its colour bar; each panel is a dict of show_image keyword arguments
    plus optional `points` (list of (array (n, 2), marker style dict)) and `legend` (a label per points entry,
    drawn as the panel's legend). Panels of images alone (grey or RdBu_r, or colour) are drawn with PIL
    (_image_grid_pil: the same panels, titles and colour bars, each image pixel for pixel), the others with
    matplotlib."""
    if all(_pil_panel(p) for p in panels):
        return _image_grid_pil(panels, path, ncols, suptitle)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = _figure((3.9 * ncols, 3.6 * nrows), nrows, ncols)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        panel = dict(panel)
        points = panel.pop("points", [])
        labels = panel.pop("legend", None)
        show_image(ax, **panel)
        for k, (pts, style) in enumerate(points):
            pts = np.asarray(pts)
            label = labels[k] if labels and k < len(labels) else None
            ax.plot(pts[:, 0], pts[:, 1], linestyle="none", label=label, **style)
        if labels:
            ax.legend(fontsize=7, loc="lower right", framealpha=0.7)
    if suptitle:
        fig.suptitle(suptitle)
    # leave the suptitle its own band (about 0.45 inch), so it never sits on the first row's titles
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()) if suptitle else None)
    fig.savefig(path, dpi=120)
    return path


def _iteration_axis(history: dict, xkey: str) -> tuple[np.ndarray, str, list[float]]:
    """x values, their label and where levels start. A continuation restarts `iter` at every level, which drawn
    against `iter` is a zigzag: then the x axis counts iterations over all levels, with a mark per level."""
    n = len(next(iter(history.values()), []))
    x = np.asarray(history.get(xkey, np.arange(n)), dtype=float)
    if x.size > 1 and np.any(np.diff(x) < 0):
        starts = [float(i) for i in np.flatnonzero(np.diff(x) < 0) + 1]
        return np.arange(x.size, dtype=float), f"{xkey} (all levels; dotted: a new level)", starts
    return x, {"iter": "iteration", "time": "time (s)"}.get(xkey, xkey), []


def convergence(history: dict[str, np.ndarray], path: Path, keys: Sequence[str] = ("J", "grad_norm"),
                title: str = "", xkey: str = "iter", methods: dict[str, np.ndarray] | None = None) -> Path:
    """Semilog-y curves of history columns against iterations, one axis per key. `methods` (label -> boolean mask
    over the history's rows): rows of several methods run one after the other (a continuation and its baselines,
    seed 000 Fig. 2), each drawn in its own colour with a legend; one colour for all read as one zigzag path."""
    keys = [k for k in keys if k in history]
    fig, axes = _figure((4.5 * max(len(keys), 1), 3.4 + (0.3 if methods else 0.0)), 1, max(len(keys), 1))
    x, xlabel, starts = _iteration_axis(history, xkey)
    n = len(x)
    groups = [(label, np.asarray(mask, dtype=bool)) for label, mask in methods.items()] if methods \
        else [(None, np.ones(n, dtype=bool))]
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for ax, key in zip(axes.flat, keys):
        y = np.asarray(history[key], dtype=float)
        positive = np.all(y[np.isfinite(y)] > 0)
        draw = ax.semilogy if positive else ax.plot
        cuts = sorted({0, *[int(b) for b in starts], len(y)})
        for g, (label, mask) in enumerate(groups):
            first = True
            for a, b in zip(cuts[:-1], cuts[1:]):  # one segment per level: no line across a jump
                rows = np.flatnonzero(mask[a:b]) + a
                if rows.size == 0:
                    continue
                draw(x[rows], y[rows], marker="o", markersize=3, color=colours[g % len(colours)],
                     label=(label or key) if first else None)
                first = False
        for s in starts:
            ax.axvline(s - 0.5, color="0.6", linestyle=":", linewidth=0.8)
        ax.set_xlabel(xlabel)
        if xkey == "iter":  # whole iterations: three of them were ticked 0, 0.5, 1, 1.5, 2
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        ax.set_title(f"{key} per iteration", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    if methods:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1) if methods else None)
    fig.savefig(path, dpi=120)
    return path


def _figure(figsize, nrows: int = 1, ncols: int = 1):
    """A figure drawn straight on the Agg canvas, without pyplot (its import and figure manager cost ~0.35 CPU-s
    of a run), and its axes (nrows, ncols)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


# --- image grids with PIL ----------------------------------------------------------------------------------------
# matplotlib's layout, resampling and PNG writing of a grid of images took 1.7 of the ~2.3 CPU-s of a super-resolution
# run's figures at 256x256 from 16 frames (19 panels; docs/superres.md, "Eleventh round"); PIL draws the same panels
# in a tenth of that, each image's pixels shown as they are (enlarged by an integer factor, not resampled).
PIL_PANEL_KEYS = frozenset({"image", "omega", "title", "cmap", "vmin", "vmax", "colorbar"})
# matplotlib's RdBu_r: ColorBrewer's 11 RdBu colours reversed, linear between them (as its 256-entry table)
RDBU_R = np.array([[5, 48, 97], [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
                   [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43], [103, 0, 31]], float)
PANEL_SIDE = 256  # an image panel's longer side in pixels (enlarged by an integer factor up to about this)


def _pil_panel(panel: dict) -> bool:
    """Whether _image_grid_pil draws this panel as show_image would: an image alone, grey or RdBu_r or colour."""
    image = np.asarray(panel.get("image"))
    return (set(panel) <= PIL_PANEL_KEYS and image.ndim in (2, 3)
            and (image.ndim == 3 or panel.get("cmap", "gray") in ("gray", "RdBu_r")))


def _limits(image: np.ndarray, cmap: str, vmin, vmax) -> tuple[float, float]:
    """show_image's limits: given, else the finite values' range (a diverging map: symmetric about zero)."""
    finite = image[np.isfinite(image)]
    if cmap in DIVERGING and vmin is None and vmax is None:
        top = float(np.abs(finite).max()) if finite.size else 1.0
        return -(top or 1.0), top or 1.0
    lo = float(finite.min()) if vmin is None and finite.size else (0.0 if vmin is None else float(vmin))
    hi = float(finite.max()) if vmax is None and finite.size else (1.0 if vmax is None else float(vmax))
    return lo, hi


def _colours(t: np.ndarray, cmap: str) -> np.ndarray:
    """t in [0, 1] (NaN: white, as matplotlib leaves it on a white figure) -> (..., 3) uint8 by the colour map."""
    x = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
    if cmap == "gray":
        out = np.repeat(np.round(x * 255)[..., None], 3, -1).astype(np.uint8)
    else:
        x = x * (len(RDBU_R) - 1)
        i = np.clip(np.floor(x).astype(int), 0, len(RDBU_R) - 2)
        f = (x - i)[..., None]
        out = np.round(RDBU_R[i] * (1 - f) + RDBU_R[i + 1] * f).astype(np.uint8)
    out[np.isnan(t)] = 255
    return out


def _panel_pixels(panel: dict) -> tuple[np.ndarray, tuple[float, float] | None, str]:
    """(rows, cols, 3) uint8 as show_image shows the image (x1 to the right, x2 upwards), its colour bar's
    limits (None: no bar) and colour map."""
    image = np.asarray(panel["image"], dtype=np.float64)
    if image.ndim == 3:  # colour (m1, m2, channels) between vmin and vmax, no colour bar
        lo, hi = _limits(image, "", panel.get("vmin"), panel.get("vmax"))
        rgb = np.clip((image[..., :3] - lo) / ((hi - lo) or 1.0), 0.0, 1.0)
        return np.round(rgb.transpose(1, 0, 2)[::-1] * 255).astype(np.uint8), None, ""
    cmap = panel.get("cmap", "gray")
    lo, hi = _limits(image, cmap, panel.get("vmin"), panel.get("vmax"))
    t = (image.T[::-1] - lo) / ((hi - lo) or 1.0)
    return _colours(t, cmap), ((lo, hi) if panel.get("colorbar", True) else None), cmap


TITLE_LINE_H = 17  # px between the lines of a wrapped panel title (the font is 13 px)


def _title_lines(draw, title: str, font, width: int) -> list[str]:
    """`title` in lines of at most `width` px, broken at spaces; a word wider than a line alone is shortened in its
    middle ("IMG_2026...BURST001.png")."""
    from .pil_draw import text_size

    lines: list[str] = []
    for word in title.split(" "):
        if text_size(draw, word, font)[0] > width:
            keep = len(word)
            while keep > 2 and text_size(draw, word[:keep // 2] + "..." + word[len(word) - keep // 2:], font)[0] > width:
                keep -= 1
            word = word[:keep // 2] + "..." + word[len(word) - keep // 2:]
        if lines and text_size(draw, f"{lines[-1]} {word}", font)[0] <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _shared_domain_sizes(panels: Sequence[tuple]) -> list[tuple[int, int]]:
    """Each panel's drawn size from (columns, own size, omega): panels over one domain (the same omega) at one size,
    the finest one's. A frame has fewer pixels than the answer over the same field of view, and its own integer
    enlargement drew it smaller (36-px frames at 252 px beside a 72-px answer at 288; newuser20's colour.png)."""
    key = lambda omega: None if omega is None else tuple(round(float(v), 9) for v in omega)  # noqa: E731
    finest = {}
    for cols, size, omega in panels:
        k = key(omega)
        if k is not None and (k not in finest or cols > finest[k][0]):
            finest[k] = (cols, size)
    return [size if omega is None else finest[key(omega)][1] for _, size, omega in panels]


def _image_grid_pil(panels: Sequence[dict], path: Path, ncols: int, suptitle: str) -> Path:
    """image_grid of image panels with PIL: per panel its title, the image (its domain's aspect, as imshow's
    extent) and a colour bar with round ticks; the suptitle above. Written with fast zlib."""
    from PIL import Image, ImageDraw

    from .pil_draw import font as _font, nice_ticks as _nice_ticks, save_png as _save, text_size as _text_size

    font, small, big = _font(13), _font(10), _font(16)
    shown = []
    for panel in panels:
        pixels, bar, cmap = _panel_pixels(panel)
        rows, cols = pixels.shape[:2]
        omega = panel.get("omega")
        aspect = 1.0 if omega is None else ((omega[3] - omega[2]) / rows) / ((omega[1] - omega[0]) / cols)
        k = max(1, round(PANEL_SIDE / max(cols, rows * aspect)))
        size = (cols * k, max(1, round(rows * aspect * k)))
        shown.append((pixels, size, omega, bar, cmap, panel.get("title", "")))
    sizes = _shared_domain_sizes([(pixels.shape[1], size, omega) for pixels, size, omega, *_ in shown])
    shown = [(Image.fromarray(pixels).resize(drawn, Image.NEAREST), bar, cmap, title)
             for (pixels, _, _, bar, cmap, title), drawn in zip(shown, sizes)]
    bar_w, gap, title_h, label_w = 14, 10, 22, 52
    cell_w = max(im.size[0] for im, *_ in shown) + gap + bar_w + label_w
    # a title wider than its cell is wrapped (newuser19: a phone's burst, IMG_20261207_081502_BURST001.png, ran
    # each frame's title into its neighbours')
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    titles = [_title_lines(measure, title, font, cell_w - gap) for *_, title in shown]
    title_h += TITLE_LINE_H * (max(len(lines) for lines in titles) - 1)
    cell_h = max(im.size[1] for im, *_ in shown) + title_h + gap
    ncols = min(ncols, len(shown))
    nrows = -(-len(shown) // ncols)
    top = 34 if suptitle else 4
    img = Image.new("RGB", (ncols * cell_w + gap, top + nrows * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if suptitle:
        draw.text(((img.size[0] - _text_size(draw, suptitle, big)[0]) / 2, 8), suptitle, fill=(0, 0, 0), font=big)
    for n, ((im, bar, cmap, _), lines) in enumerate(zip(shown, titles)):
        r, c = divmod(n, ncols)
        x0, y0 = gap + c * cell_w, top + r * cell_h + title_h
        w, h = im.size
        for k, line in enumerate(lines):  # centred over the image, kept inside the cell
            tw = _text_size(draw, line, font)[0]
            x = min(max(x0 + (w - tw) / 2, x0), x0 + cell_w - gap - tw)
            draw.text((x, y0 - title_h + 2 + k * TITLE_LINE_H), line, fill=(0, 0, 0), font=font)
        img.paste(im, (x0, y0))
        draw.rectangle((x0 - 1, y0 - 1, x0 + w, y0 + h), outline=(0, 0, 0))
        if bar is None:
            continue
        lo, hi = bar
        bx = x0 + w + gap
        ramp = _colours(np.linspace(1.0, 0.0, h)[:, None].repeat(bar_w, 1), cmap)
        img.paste(Image.fromarray(ramp), (bx, y0))
        draw.rectangle((bx, y0, bx + bar_w - 1, y0 + h - 1), outline=(0, 0, 0))
        for v in (_nice_ticks(lo, hi) if hi > lo else [lo]):
            y = y0 + (h - 1) * (1.0 - ((v - lo) / (hi - lo) if hi > lo else 0.5))
            label = f"{v:.4g}"
            draw.line((bx + bar_w, y, bx + bar_w + 3, y), fill=(0, 0, 0))
            draw.text((bx + bar_w + 5, y - _text_size(draw, label, small)[1] / 2 - 2), label, fill=(0, 0, 0),
                      font=small)
    return _save(img, path)
