"""A view missing from a parallel scan saved without angles (ctgap).

A parallel beam's views obey the Helgason-Ludwig conditions: each view's centre of mass along the detector is
a cos(theta) + b sin(theta) + c. A file without angles is read as its n views spread evenly over the range; where a
view was left out of n + 1, the evenly spread angles drift from the true ones by up to half a spacing and jump at
the gap, so the centres of mass fit the sinusoid better with the gap put back. The fits are compared by their
likelihood ratio (Gaussian residuals of unknown variance: n log(RSS_even / RSS_gap)), less a Bonferroni-like
penalty for the positions tried; numbers and calibration in docs/ct.md, "A view missing from a scan without angles
(ctgap)". An object centred on the axis draws no sinusoid (a = b = 0): nothing can be told there, and nothing is
said.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# the likelihood ratio, less 2 log(positions tried), above which a gap is named: the most any of 176 gap-free dev
# files reached was 2.2 (docs/ct.md, ctgap), so the bar sits far above it
GAP_BAR = 30.0
# and the residual must halve: a scan whose centres of mass follow no sinusoid (a fan beam read as parallel, a
# moving object) may fit a gap somewhat better without any view missing. 4 as first set kept silent on three dev
# files of 120 and 30 views whose gap scored 31-148 (one cost 3.7 dB)
GAP_RATIO = 2.0
MIN_VIEWS = 12  # fewer views leave too few residual degrees of freedom to weigh a gap against noise
MAX_PAIR_VIEWS = 200  # two separate gaps are tried up to this many views (n^2 / 2 fits)


@dataclass
class Gap:
    after: tuple[int, ...]  # the file's views after which a view seems missing (0-based; repeated for a run of two)
    total: int  # the views the scan had: n + len(after)
    score: float  # the likelihood ratio less the positions' penalty
    ratio: float  # RSS of the even spread over RSS with the gap(s) put back
    angles: np.ndarray  # the file's views' angles in degrees, from 0, with the gap(s) put back


def centres_of_mass(sino: np.ndarray) -> np.ndarray | None:
    """Each view's centre of mass along the detector (bins); None where a view's total is not positive."""
    sums = sino.sum(axis=1)
    if not np.all(sums > 0):
        return None
    return (sino @ np.arange(sino.shape[1], dtype=np.float64)) / sums


def _rss(theta: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Residual sum of squares of m fitted by a cos + b sin + c, one fit per row of theta (P, n)."""
    c, s = np.cos(theta), np.sin(theta)
    one = np.ones_like(c)
    cols = (c, s, one)
    gram = np.stack([np.stack([(u * v).sum(1) for v in cols], -1) for u in cols], -2)
    rhs = np.stack([(u * m).sum(1) for u in cols], -1)
    coef = np.linalg.solve(gram, rhs[..., None])[..., 0]
    fit = coef[:, 0:1] * c + coef[:, 1:2] * s + coef[:, 2:3]
    return ((m - fit) ** 2).sum(1)


def _slots(n: int, skips: np.ndarray) -> np.ndarray:
    """Rows of each view's slot among n + k evenly spread ones, with a view missing before each index in a row of
    skips (P, k): view i sits at slot i + (the skips <= i)."""
    i = np.arange(n)
    return i[None, :] + (skips[:, :, None] <= i[None, None, :]).sum(1)


def find_gap(sino: np.ndarray, span_deg: float) -> tuple[Gap | None, float]:
    """The best gap hypothesis for a (views, n_u) parallel scan read as spread evenly over span_deg: one view
    missing after any view, two or three in a row, or two apart (up to MAX_PAIR_VIEWS views). Returns (the gap where
    it passes GAP_BAR and GAP_RATIO else None, the best score found, for calibration)."""
    n = sino.shape[0]
    m = centres_of_mass(np.asarray(sino, dtype=np.float64)) if n >= MIN_VIEWS else None
    if m is None:
        return None, -math.inf
    span = math.radians(span_deg)
    rss0 = float(_rss((np.arange(n) * span / n)[None, :], m)[0])
    one = np.arange(1, n + 1)[:, None]  # a view missing before view j of the file, j = n: after the last
    families = [one, np.repeat(one, 2, 1), np.repeat(one, 3, 1)]
    if n <= MAX_PAIR_VIEWS:
        a, b = np.triu_indices(n, 1)
        families.append(np.stack([a + 1, b + 1], 1))
    best, best_score = None, -math.inf
    for skips in families:
        k = skips.shape[1]
        rss = np.concatenate([_rss(_slots(n, part) * (span / (n + k)), m)
                              for part in np.array_split(skips, max(1, len(skips) // 2000))])
        with np.errstate(divide="ignore"):
            lr = n * np.log(max(rss0, 1e-300) / np.maximum(rss, 1e-300))
        scores = lr - 2.0 * math.log(len(skips))
        p = int(np.argmax(scores))
        if scores[p] > best_score:
            best_score = float(scores[p])
            best = Gap(tuple(int(s) - 1 for s in skips[p]), n + k, best_score, rss0 / max(float(rss[p]), 1e-300),
                       _slots(n, skips[p:p + 1])[0] * (span_deg / (n + k)))
    if best is None or best.score < GAP_BAR or best.ratio < GAP_RATIO:
        return None, best_score
    return best, best_score


def gap_warning(sino: np.ndarray, span_deg: float, what: str) -> tuple[str, Gap | None]:
    """The one-line warning naming the view(s) after which a view seems missing and the angles to save; ''."""
    gap, _ = find_gap(sino, span_deg)
    if gap is None:
        return "", None
    n = sino.shape[0]
    where = " and ".join(f"view {a}" for a in sorted(set(gap.after)))
    count = len(gap.after)
    lost = f"{count} views" if count > 1 else "a view"
    slots = sorted(set(range(gap.total)) - set(np.rint(gap.angles * gap.total / span_deg).astype(int).tolist()))
    return (f"{what}: its {n} views were spread evenly over {span_deg:g} degrees (the file holds no angles), but "
            f"their centres of mass along the detector fit the sinusoid a parallel beam draws {gap.ratio:.0f} times "
            f"better (the residual; a likelihood ratio of {gap.score:.0f} after the positions tried, the bar "
            f"{GAP_BAR:g}) with {lost} missing after "
            f"{where} (counted from 0), {gap.total} views in all: if so, save the angles with the views, "
            f"numpy.savez('scan.npz', sinogram=S, angles=numpy.delete(numpy.arange({gap.total}) * {span_deg:g} / "
            f"{gap.total}, {slots})), and give problem.sinogram=scan.npz"), gap
