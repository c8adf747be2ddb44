"""Covering: certify a motif's pose by trying random poses from the scene's own law until one matches (the
baseline of seed 002's Fig. 1, 'template matching by enumeration'), in batches on the run's device."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..imaging.keys import keys_grid_sample
from .background_model import masked_zncc


@dataclass
class CoverFit:
    samples: int          # poses tried up to and including the first that reached the threshold (or all tried)
    success: bool
    best_zncc: float
    best_index: int


def cover_pose(scene: torch.Tensor, motif: torch.Tensor, support: torch.Tensor, centre, draw: Callable,
               max_samples: int, threshold: float, batch: int = 512) -> CoverFit:
    """Try poses until the ZNCC over the support reaches `threshold` or max_samples were tried.

    scene, motif (C, H, W) and support (H, W) on one canvas; draw(n) -> (A (n, 2, 2), b (n, 2)) generating
    maps x -> A (x - c) + c + b about `centre`, drawn from the scene's law (on the scene's device and dtype);
    each is tried as a pose through its inverse, the map that registers a scene made by it. Poses are tried
    in order, so `samples` is the index of the first success plus one, as if tried one by one; a run that
    never succeeds reports success False and samples = max_samples (a failure, never zero)."""
    keep = support > 0.5
    rows, cols = torch.nonzero(keep, as_tuple=True)
    pts = torch.stack((rows, cols), -1).to(scene.dtype)
    target = motif[:, rows, cols]                                        # (C, N)
    c = torch.tensor(tuple(centre), dtype=scene.dtype, device=scene.device)
    best, best_at, tried = -2.0, -1, 0
    while tried < max_samples:
        n = min(batch, max_samples - tried)
        a, b = draw(n)
        ai = torch.linalg.inv(a)
        bi = -(ai @ b[..., None])[..., 0]
        q = torch.einsum("kij,nj->kni", ai, pts - c) + c + bi[:, None, :]   # (n, N, 2)
        values = keys_grid_sample(scene, q).transpose(0, 1)                      # (n, C, N)
        z = masked_zncc(target.expand_as(values), values, None)
        k = int(torch.argmax(z))
        if float(z[k]) > best:
            best, best_at = float(z[k]), tried + k
        hits = torch.nonzero(z >= threshold).flatten()
        if hits.numel():
            first = tried + int(hits[0])
            return CoverFit(first + 1, True, best, best_at)
        tried += n
    return CoverFit(max_samples, False, best, best_at)
