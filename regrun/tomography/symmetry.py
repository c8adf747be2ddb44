"""Views of a 2-D scan that are copies of one another under the symmetries of the square grid.

A grid centred at the origin is mapped onto itself by the eight signed permutations G of the axes (rotations by
multiples of 90 degrees and the reflections; the four that swap the axes only when the grid is square). If G
carries view k's rays onto view k''s (source, detector centre and pixel step for fan beams; the same lines for
parallel beams), the rows of the system matrix agree, A_k'[r', X] = A_k[r, G^T X], with r' = r or, where G
reverses the detector, n_u - 1 - r. A circular scan of V equally spaced views over 360 degrees (fan) or 180
degrees (parallel, where lines do not care about direction) falls into orbits of up to 8 (fan) or 4 (parallel)
views, so the matrix of one view per orbit holds the whole operator (`XRayTransform` caches it where the whole
one does not fit). Views are matched by their vector rows, to 1e-9 of the largest entry, so user geometries
get the same treatment as the circular constructors'; a shifted rotation axis breaks the symmetry and is found
to have none.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .geometry import Geometry, from_vectors

MATCH = 1e-9  # relative tolerance on the vector rows of two views that are copies of one another


def _elements(shape) -> list[torch.Tensor]:
    """The signed permutations of the axes that map the grid `shape` onto itself, identity first."""
    out = []
    for perm in ((0, 1), (1, 0)):
        if perm == (1, 0) and shape[0] != shape[1]:
            continue
        for s0 in (1.0, -1.0):
            for s1 in (1.0, -1.0):
                g = torch.zeros(2, 2, dtype=torch.float64)
                g[0, perm[0]], g[1, perm[1]] = s0, s1
                out.append(g)
    return out


@dataclass
class ViewOrbits:
    """One representative view per orbit (`reps`, the sub-geometry `geometry` holds their rows in this order),
    the group elements `elements` (S of them), and per orbit and element the view it lands on (`views` (R, S),
    -1 where none or already counted) and whether the detector is reversed (`reversed` (R, S))."""

    geometry: Geometry
    reps: list[int]
    elements: list[torch.Tensor]
    views: torch.Tensor
    reversed: torch.Tensor

    def sinogram_index(self, n_u: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(flat sinogram index (R * n_u, S) of the ray that row r of representative i becomes under element s,
        -1 where no view; the mask of the valid entries)."""
        r = torch.arange(n_u, dtype=torch.int64)
        v, rev = self.views[:, None, :], self.reversed[:, None, :]
        ray = torch.where(rev, n_u - 1 - r[None, :, None], r[None, :, None])
        idx = torch.where(v >= 0, v * n_u + ray, -1).reshape(-1, len(self.elements))
        return idx.to(device), (idx >= 0).to(device)

    def pixel_maps(self, shape, device, inverse: bool) -> list[torch.Tensor]:
        """Per element G, the flat pixel index of G^T X (inverse=False: where the back-projection of the
        representative is read for pixel X) or of G X (inverse=True: where the forward product reads the volume)
        for every pixel X in flat order. Exact: doubled centred coordinates are integers."""
        axes = [2 * torch.arange(n, dtype=torch.float64) - (n - 1) for n in shape]
        x = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
        out = []
        for g in self.elements:
            y = x @ g if not inverse else x @ g.T  # rows: (G^T x)^T = x^T G
            ij = ((y + torch.tensor([shape[0] - 1, shape[1] - 1], dtype=torch.float64)) / 2).round().long()
            out.append((ij[:, 0] * shape[1] + ij[:, 1]).to(device))
        return out


def view_orbits(geometry: Geometry) -> ViewOrbits | None:
    """The orbits of a 2-D scan's views under the grid's symmetries, or None when no two views are copies (3-D
    scans are not searched)."""
    if geometry.volume.ndim != 2:
        return None
    vec = torch.tensor(geometry.vectors, dtype=torch.float64)
    p, c, u = vec[:, 0:2], vec[:, 2:4], vec[:, 4:6]
    tol = MATCH * float(vec.abs().max())
    elements = _elements(geometry.volume.shape)
    if geometry.kind == "parallel":
        p = p / p.norm(dim=1, keepdim=True)

    def matches(g, k):
        """Views that g carries view k onto, and whether the detector runs the other way there."""
        gp, gc, gu = g @ p[k], g @ c[k], g @ u[k]
        if geometry.kind == "parallel":  # the same lines: direction up to sign, centres along the direction
            same = ((p - gp).abs().amax(1) < MATCH) | ((p + gp).abs().amax(1) < MATCH)
            dc = gc - c
            same &= (dc[:, 0] * p[:, 1] - dc[:, 1] * p[:, 0]).abs() < tol
        else:
            same = ((p - gp).abs().amax(1) < tol) & ((c - gc).abs().amax(1) < tol)
        forward, backward = (u - gu).abs().amax(1) < tol, (u + gu).abs().amax(1) < tol
        return torch.nonzero(same & (forward | backward)).reshape(-1).tolist(), backward

    n_views = geometry.views
    covered = [False] * n_views
    reps, views, rev = [], [], []
    for k in range(n_views):
        if covered[k]:
            continue
        row_v, row_r = [-1] * len(elements), [False] * len(elements)
        for s, g in enumerate(elements):
            found, backward = matches(g, k)
            for k2 in found:
                if not covered[k2]:
                    covered[k2] = True
                    row_v[s], row_r[s] = k2, bool(backward[k2])
                    break
        reps.append(k)
        views.append(row_v)
        rev.append(row_r)
    if len(reps) == n_views:
        return None
    views, rev = torch.tensor(views, dtype=torch.int64, device="cpu"), torch.tensor(rev, device="cpu")
    # an element that brings no orbit a new view (parallel: -G draws G's lines; views off the axes: the
    # reflections) would be an all-zero column in every product: dropped
    used = (views >= 0).any(0)
    elements = [g for g, keep in zip(elements, used.tolist()) if keep]
    sub = from_vectors(geometry.kind, geometry.volume.shape, vec[reps], geometry.detector, geometry.volume.voxel)
    return ViewOrbits(sub, reps, elements, views[:, used], rev[:, used])
