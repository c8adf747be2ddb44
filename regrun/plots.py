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


def _figure(figsize, nrows: int = 1, ncols: int = 1):
    """A figure drawn straight on the Agg canvas, without pyplot (its import and figure manager cost ~0.35 CPU-s
    of a run), and its axes (nrows, ncols)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)
