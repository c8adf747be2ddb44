"""One-dimensional searches over a scalar parameter (a regularisation weight): a log-spaced grid and a golden-section
refinement of its best bracket."""
from __future__ import annotations

import math

import numpy as np


def log_grid(lo: float, hi: float, points: int) -> np.ndarray:
    return np.exp(np.linspace(math.log(lo), math.log(hi), points))


def golden_refine(f, lams: np.ndarray, losses: np.ndarray, evals: int) -> tuple[float, float]:
    """The grid optimum refined by `evals` golden-section steps in log lam inside the bracket of the best
    grid point's neighbours; returns the best (lam, loss) seen (the grid's own best when evals = 0)."""
    i = int(np.argmin(losses))
    best = (float(lams[i]), float(losses[i]))
    if evals <= 0:
        return best
    lo, hi = math.log(lams[max(i - 1, 0)]), math.log(lams[min(i + 1, len(lams) - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = f(math.exp(a)), f(math.exp(b))
    seen = [best, (math.exp(a), fa), (math.exp(b), fb)]
    for _ in range(evals - 2):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = f(math.exp(a))
            seen.append((math.exp(a), fa))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = f(math.exp(b))
            seen.append((math.exp(b), fb))
    return min(seen, key=lambda p: p[1])
