"""Figure helpers (matplotlib, Agg backend). Images are in FAIR's layout: [i, j] = (x1_i, x2_j)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def show_image(ax, image, omega=None, title="", cmap="gray", vmin=None, vmax=None, colorbar=False):
    """Draw an image with x1 to the right and x2 upwards over its domain."""
    image = np.asarray(image)
    extent = None if omega is None else (omega[0], omega[1], omega[2], omega[3])
    im = ax.imshow(image.T, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    if colorbar:
        plt.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def image_grid(panels: Sequence[dict], path: Path, ncols: int = 3, suptitle: str = "") -> Path:
    """Save a grid of image panels; each panel is a dict of show_image keyword arguments plus optional
    `points` (list of (array (n, 2), marker style dict)) to overlay."""
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.6 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels):
        panel = dict(panel)
        points = panel.pop("points", [])
        show_image(ax, **panel)
        for pts, style in points:
            pts = np.asarray(pts)
            ax.plot(pts[:, 0], pts[:, 1], linestyle="none", **style)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def convergence(history: dict[str, np.ndarray], path: Path, keys: Sequence[str] = ("J", "grad_norm"),
                title: str = "", xkey: str = "iter") -> Path:
    """Semilog-y curves of history columns against iterations, one axis per key."""
    keys = [k for k in keys if k in history]
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4.5 * max(len(keys), 1), 3.4), squeeze=False)
    x = history.get(xkey, np.arange(len(next(iter(history.values()), []))))
    for ax, key in zip(axes.flat, keys):
        y = np.asarray(history[key], dtype=float)
        positive = np.all(y[np.isfinite(y)] > 0)
        (ax.semilogy if positive else ax.plot)(x, y, marker="o", markersize=3)
        ax.set_xlabel(xkey)
        ax.set_ylabel(key)
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---- detection (images in row/col layout, (C, H, W) RGB or (H, W) maps) ------------------------------------------
def _rgb(image) -> np.ndarray:
    arr = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, dtype=np.float64)
    return np.clip(arr.transpose(1, 2, 0), 0, 1) if arr.ndim == 3 else arr


BOX_COLOURS = {"crab": "tab:blue", "eye_pair": "tab:green"}


def _bare(ax, title: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig, path: Path, dpi: int) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def detection_boxes(scene, boxes: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """The scene with each node's box (corners (4, 2) as row/col): parts red, eye pair green, crab blue. Keys
    "node#i" draw instance i's boxes, numbered on the first (its root's)."""
    fig, ax = plt.subplots(figsize=(7, 5.5))
    ax.imshow(_rgb(scene), interpolation="nearest")
    numbered = set()
    for name, corners in boxes.items():
        c = np.vstack((corners, corners[:1]))
        node, _, instance = name.partition("#")
        colour = BOX_COLOURS.get(node, "tab:red")
        ax.plot(c[:, 1], c[:, 0], color=colour, linewidth=1.5)
        if instance and instance not in numbered:  # an instance's first box is its root's
            numbered.add(instance)
            ax.text(corners[0, 1], corners[0, 0], instance, color="white", fontsize=9,
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 1})
    _bare(ax, title)
    return _save(fig, path, 120)


def occurrence_panels(maps: dict, path: Path) -> Path:
    """One panel per node's occurrence map, with its sum."""
    names = list(maps)
    ncols = 3
    nrows = int(np.ceil(len(names) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        m = _rgb(maps[name])
        ax.imshow(m, cmap="magma", interpolation="nearest")
        _bare(ax, f"{name}: sum {m.sum():.3f}")
    return _save(fig, path, 110)


def trace_plot(root_map, weights, path: Path, title: str = "") -> Path:
    """The paper's Fig. 3 inset, two ways: the root's stride weights as stems (a detection is one stem at ~1 and
    nothing else above 0.1), and the root map summed over rows (its mass spread by the sigma0 bumps)."""
    m = _rgb(root_map)
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64)
    fig, axes = plt.subplots(1, 2, figsize=(10, 2.6))
    axes[0].stem(np.arange(w.size), w, markerfmt=" ", basefmt=" ")
    axes[0].axhline(1.0, color="k", linewidth=0.8, linestyle="--")
    axes[0].axhline(0.1, color="tab:red", linewidth=0.6, linestyle=":")
    axes[0].set_xlabel("crab stride")
    axes[0].set_ylabel("weight")
    col = m.sum(0)
    axes[1].stem(np.arange(col.size), col, markerfmt=" ", basefmt=" ")
    axes[1].set_xlabel("column")
    axes[1].set_ylabel("crab map, summed over rows")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, 110)
