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
    drawn as the panel's legend)."""
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
                title: str = "", xkey: str = "iter") -> Path:
    """Semilog-y curves of history columns against iterations, one axis per key."""
    keys = [k for k in keys if k in history]
    fig, axes = _figure((4.5 * max(len(keys), 1), 3.4), 1, max(len(keys), 1))
    x, xlabel, starts = _iteration_axis(history, xkey)
    for ax, key in zip(axes.flat, keys):
        y = np.asarray(history[key], dtype=float)
        positive = np.all(y[np.isfinite(y)] > 0)
        draw = ax.semilogy if positive else ax.plot
        bounds = [0, *[int(b) for b in starts], len(y)]
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):  # one segment per level: no line across a jump
            draw(x[a:b], y[a:b], marker="o", markersize=3, color="tab:blue", label=key if k == 0 else None)
        for s in starts:
            ax.axvline(s - 0.5, color="0.6", linestyle=":", linewidth=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(key)
        ax.set_title(f"{key} per iteration", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


# ---- detection (images in row/col layout, (C, H, W) RGB or (H, W) maps) ------------------------------------------
def _rgb(image) -> np.ndarray:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float64)
    return np.clip(arr.transpose(1, 2, 0), 0, 1) if arr.ndim == 3 else arr


BOX_COLOURS = {"crab": "tab:blue", "eye_pair": "tab:green"}


def box_colours(tree: dict, root: str) -> dict[str, str]:
    """Box colours by node of any part tree, as the crab's: the root blue, the other parents green (leaves: red)."""
    return {**{n: "tab:green" for n in tree}, root: "tab:blue"}


def _bare(ax, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _figure(figsize, nrows: int = 1, ncols: int = 1):
    """A figure drawn straight on the Agg canvas, without pyplot (its import and figure manager cost ~0.35 CPU-s
    of a detection run), and its axes (nrows, ncols)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig, path: Path, dpi: int, margins: dict | None = None) -> Path:
    """Save; with `margins` (subplots_adjust's) the layout is fixed instead of tight_layout's, which measures every
    label and tick by drawing the figure once more (0.3-0.6 CPU-s for the detection figures)."""
    if margins is None:
        fig.tight_layout()
    else:
        fig.subplots_adjust(**margins)
    fig.savefig(path, dpi=dpi)
    return path


def detection_boxes(scene, boxes: dict[str, np.ndarray], path: Path, title: str = "",
                    colours: dict[str, str] | None = None) -> Path:
    """The scene with each node's box (corners (4, 2) as row/col): parts red, eye pair green, crab blue. Keys
    "node#i" draw instance i's boxes, numbered on the first (its root's)."""
    fig, axes = _figure((7, 5.5))
    ax = axes[0, 0]
    ax.imshow(_rgb(scene), interpolation="nearest")
    numbered = set()
    for name, corners in boxes.items():
        c = np.vstack((corners, corners[:1]))
        node, _, instance = name.partition("#")
        colour = (colours or BOX_COLOURS).get(node, "tab:red")  # another template's: box_colours(tree, root)
        ax.plot(c[:, 1], c[:, 0], color=colour, linewidth=1.5)
        if instance and instance not in numbered:  # an instance's first box is its root's
            numbered.add(instance)
            ax.text(corners[0, 1], corners[0, 0], instance, color="white", fontsize=9,
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 1})
    _bare(ax, title)
    return _save(fig, path, 120, {"left": 0.01, "right": 0.99, "bottom": 0.01, "top": 0.95})


def occurrence_panels(maps: dict, path: Path) -> Path:
    """One tile per node's occurrence map, titled with its sum and maximum. A map is mostly zero with a few sharp
    peaks, so each is drawn relative to its own maximum on a log scale over four decades (a linear scale shows one
    dot on black), all tiles in one image with one colour bar: six panels with six colour bars were 12 axes to lay
    out and draw, ~0.5 CPU-s of a 6-7 CPU-s half-size run; the mosaic costs about half (docs/detection.md)."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import NullLocator

    names = list(maps)
    tiles = [_rgb(maps[n]) for n in names]
    ncols = min(3, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    gap_r, gap_c = max(h // 8, 4), max(w // 40, 3)  # room for each tile's title above it
    big = np.full((nrows * (h + gap_r), ncols * (w + gap_c) - gap_c), np.nan)  # NaN: drawn blank
    fig, axes = _figure((4.3 * ncols + 0.8, 3.4 * nrows))
    ax = axes[0, 0]
    for i, (name, m) in enumerate(zip(names, tiles)):
        r, c = divmod(i, ncols)
        top = float(m.max())
        r0, c0 = r * (h + gap_r) + gap_r, c * (w + gap_c)
        big[r0:r0 + m.shape[0], c0:c0 + m.shape[1]] = np.maximum(m / top, 1e-4) if top > 0 else 1e-4
        ax.text(c0, r0 - 1, f"{name}: sum {m.sum():.3f}, max {top:.3g}", fontsize=9, va="bottom")
    im = ax.imshow(big, cmap="magma", norm=LogNorm(vmin=1e-4, vmax=1.0, clip=True), interpolation="nearest")
    bar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    bar.ax.tick_params(labelsize=7)
    bar.ax.yaxis.set_minor_locator(NullLocator())
    bar.set_label("map / its tile's max (log scale)", fontsize=8)
    ax.axis("off")
    return _save(fig, path, 110, {"left": 0.01, "right": 0.95, "bottom": 0.01, "top": 0.99})


def trace_plot(root_map, weights, path: Path, title: str = "", root: str = "crab") -> Path:
    """The paper's Fig. 3 inset, two ways: the root's stride weights as stems (a detection is one stem at ~1 and
    nothing else above 0.1), and the root map summed over rows (its mass spread by the sigma0 bumps)."""
    m = _rgb(root_map)
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64)
    fig, axes = _figure((10, 2.6), 1, 2)
    axes = axes[0]
    axes[0].stem(np.arange(w.size), w, markerfmt=" ", basefmt=" ")
    axes[0].axhline(1.0, color="k", linewidth=0.8, linestyle="--")
    axes[0].axhline(0.1, color="tab:red", linewidth=0.6, linestyle=":")
    axes[0].set_xlabel(f"{root} stride")
    axes[0].set_ylabel("weight")
    col = m.sum(0)
    axes[1].stem(np.arange(col.size), col, markerfmt=" ", basefmt=" ")
    axes[1].set_xlabel("column")
    axes[1].set_ylabel(f"{root} map, summed over rows")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, 110, {"left": 0.07, "right": 0.99, "bottom": 0.19, "top": 0.86, "wspace": 0.3})
