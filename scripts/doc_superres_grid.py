#!/usr/bin/env python
"""Draw docs/img/superres_grid.png: regrun's pixel-position convention for super-resolution frames.

    python scripts/doc_superres_grid.py [OUT.png]
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from regrun.imaging.grid import Grid  # noqa: E402
from regrun.imaging.transforms import affine, affine_about  # noqa: E402


def main(out: Path) -> None:
    k, m = 2, 3  # factor, frame pixels per side
    fine = Grid((0.0, k * m, 0.0, k * m), (k * m, k * m))
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.4))
    ax = axes[0]
    for t in range(k * m + 1):
        ax.plot([t, t], [0, k * m], color="0.75", lw=0.8)
        ax.plot([0, k * m], [t, t], color="0.75", lw=0.8)
    for t in range(0, k * m + 1, k):
        ax.plot([t, t], [0, k * m], color="k", lw=2)
        ax.plot([0, k * m], [t, t], color="k", lw=2)
    xc = fine.centres().reshape(-1, 2).numpy()
    ax.plot(xc[:, 0], xc[:, 1], ".", color="tab:blue", ms=7, label="fine cell centres x (reference f)")
    ax.add_patch(plt.Rectangle((0, 0), k, k, color="tab:orange", alpha=0.25,
                               label=f"frame pixel [0, 0] = mean of {k}x{k} fine cells"))
    box = dict(boxstyle="round", fc="white", ec="0.5", lw=0.6)
    ax.annotate("f[0, 0] at (x1, x2) = (0.5, 0.5)", (0.5, 0.5), (1.2, 2.6), fontsize=8, bbox=box,
                arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.annotate(f"f[{k * m - 1}, 0]: bottom right", (k * m - 0.5, 0.5), (3.0, 1.25), fontsize=8, bbox=box,
                arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.annotate(f"f[0, {k * m - 1}]: top left", (0.5, k * m - 0.5), (1.2, 4.6), fontsize=8, bbox=box,
                arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.set_xlabel("x1 (image column, left to right)")
    ax.set_ylabel("x2 (image row, bottom to top)")
    ax.set_title(f"grids: frames {m}x{m} (bold), reference {k * m}x{k * m}, factor {k}", fontsize=10)
    ax.set_xlim(-0.3, k * m + 0.3)
    ax.set_ylim(-0.3, k * m + 0.3)
    ax.set_aspect("equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False)

    ax = axes[1]
    w = affine_about(12.0, (1.0, 1.0), (0.4, -0.3), fine.centre)
    y = affine(w, torch.as_tensor(xc)).numpy()
    for t in range(0, k * m + 1, k):
        ax.plot([t, t], [0, k * m], color="k", lw=2)
        ax.plot([0, k * m], [t, t], color="k", lw=2)
    corners = np.array([[0, 0], [k, 0], [k, k], [0, k], [0, 0]], dtype=float)
    moved = affine(w, torch.as_tensor(corners)).numpy()
    ax.fill(moved[:, 0], moved[:, 1], color="tab:green", alpha=0.25, label="what frame j's pixel [0, 0] sees")
    ax.plot(xc[:, 0], xc[:, 1], ".", color="tab:blue", ms=5, alpha=0.4)
    ax.plot(y[:, 0], y[:, 1], "x", color="tab:green", ms=6, label="y_j(x) = A_j x + b_j: where f is sampled")
    ax.set_title("frame j >= 1: d_j = K I_j(w) f (frame 0: y = x)", fontsize=10)
    ax.set_xlabel("x1")
    ax.set_xlim(-0.8, k * m + 0.8)
    ax.set_ylim(-0.8, k * m + 0.8)
    ax.set_aspect("equal")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "docs/img/superres_grid.png")
