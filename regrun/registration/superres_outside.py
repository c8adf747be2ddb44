"""The edge mask of super-resolution (problem.outside=drop) following the motion: decided again after a
Gauss-Newton run at the motion it ended at, and the run repeated from there while the mask drops more pixels.

The mask (SuperResModel.settle_outside) leaves out every moved frame's pixel that sees past the reconstructed
field of view. It is held fixed during a run so the objective stays smooth in the motion; decided once, at the
pre-registered motion, it is only as good as that motion: where the start is a pixel or more off, pixels that
see beyond the edge stay in the data, and their misfit holds the motion near the start (rocket 48^2, 8 frames,
3% noise: 0.89 px RMS motion error and 32.95 dB with the mask of the start; with the mask decided at the true
motion the same run ends 0.19 px off from the same start, 35.80 dB; docs/superres.md, "The edge").

Pixels once dropped stay dropped (the mask only shrinks), so the rounds end; at most `rounds` more runs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..monitor import RunRows

# Another run only when the decision dropped more than this share of the moved frames' pixels: rocket 48^2 and
# 64^2 (8 frames) drop 10-17 of 4032-7168 pixels in all (1.4e-3-4.2e-3) and gain up to 0.8 dB from the runs;
# 256^2 from 16 frames drops 2 of 245760 (8e-6), and that second LM run cost 5 CPU-s for nothing (0.0089 px
# against 0.0088). A share, not a count, so it means the same at every size; set between the two, not tuned.
RERUN_SHARE = 1e-4


def edge_rounds(model, rounds: int, start, monitor, run: Callable[[Any, Any], Any],
                motion: Callable[[Any], torch.Tensor], restart: Callable[[Any], Any],
                n_iter: Callable[[Any], int], edge_log: list) -> tuple[Any, int]:
    """run(start, monitor) -> out; then, with outside=drop and while rounds remain, the mask decided again at
    motion(out) (pixels dropped before stay dropped) and, when that drops more than RERUN_SHARE of the moved
    frames' pixels, run(restart(out), ...) again (fewer are dropped without another run). edge_log gets the pixels each decision dropped. Returns (the last run's out, iterations of all runs).
    With outside=keep or rounds = 0: the one run with the solver's own monitor (unchanged history)."""
    if model.outside != "drop" or rounds == 0:
        out = run(start, monitor)
        return out, n_iter(out)
    rows = RunRows(monitor, 0, edge_round=0.0)
    out = run(start, rows)
    total = n_iter(out)
    moved_pixels = model.q * model.coarse.m[0] * model.coarse.m[1]
    for k in range(1, rounds + 1):
        dropped = model.settle_outside(motion(out), accumulate=True)
        edge_log.append(dropped)
        if dropped <= RERUN_SHARE * moved_pixels:
            break
        rows = RunRows(monitor, rows.next_iter, edge_round=float(k))
        out = run(restart(out), rows)
        total += n_iter(out)
    return out, total
