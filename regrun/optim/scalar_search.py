"""One-dimensional searches over a scalar parameter (a regularisation weight): a log-spaced grid and a golden-section
refinement of its best bracket."""
from __future__ import annotations

import math

import numpy as np


def log_grid(lo: float, hi: float, points: int) -> np.ndarray:
    return np.exp(np.linspace(math.log(lo), math.log(hi), points))


GOLDEN = (math.sqrt(5) - 1) / 2


def golden_bracket(lams: np.ndarray, i: int) -> tuple[float, float, float, float]:
    """(lo, hi, a, b) in log lam: the bracket of grid point i's neighbours and golden_refine's first two points
    in it (a below b)."""
    lo, hi = math.log(lams[max(i - 1, 0)]), math.log(lams[min(i + 1, len(lams) - 1)])
    return lo, hi, hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)


def golden_refine(f, lams: np.ndarray, losses: np.ndarray, evals: int) -> tuple[float, float]:
    """The grid optimum refined by `evals` golden-section steps in log lam inside the bracket of the best
    grid point's neighbours; returns the best (lam, loss) seen (the grid's own best when evals = 0)."""
    i = int(np.argmin(losses))
    best = (float(lams[i]), float(losses[i]))
    if evals <= 0:
        return best
    lo, hi, a, b = golden_bracket(lams, i)
    ratio = GOLDEN
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


def parabola_min(lams, losses) -> float:
    """The vertex, in log lam, of the parabola through the best point and its neighbours on either side among
    the points seen (the step Brent's method takes), clipped to those neighbours; the best point itself when it
    is at an end or the three are not convex. Free: no more evaluations."""
    order = np.argsort(lams)
    x, f = np.log(np.asarray(lams, dtype=float)[order]), np.asarray(losses, dtype=float)[order]
    i = int(np.argmin(f))
    if i == 0 or i == len(f) - 1:
        return float(math.exp(x[i]))
    (x0, x1, x2), (f0, f1, f2) = x[i - 1:i + 2], f[i - 1:i + 2]
    num = (x1 - x0) ** 2 * (f1 - f2) - (x1 - x2) ** 2 * (f1 - f0)
    den = (x1 - x0) * (f1 - f2) - (x1 - x2) * (f1 - f0)
    if not den < 0:  # den < 0 exactly when the parabola through the three opens upward (x0 < x1 < x2)
        return float(math.exp(x1))
    return float(math.exp(min(max(x1 - 0.5 * num / den, x0), x2)))
