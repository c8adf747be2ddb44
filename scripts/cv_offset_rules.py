"""Rules for cross-validation over views scored on the curves of scripts/diag_lambda_cv_offsets.py (no more runs):
each rule's pick (the vertex of the parabola through its criterion's best three grid points, in log lambda) and
the all-view PSNR there (a cubic spline of the all-view PSNR curve in log lambda), beside the grid optimum.

Rules: `off4` (one offset, the solver's fold // 2: the default before), `guard` (off4 with the guard of
fista_tv_weight.view_cv_search: offset 0 consulted when off4's grid has its best at the range's low end; needs
@WEIGHTS,POINTS), `avg:K1,K2,..` (the held-out squared
misfit pooled over those offsets: the sum over their held-out views divided by their count), `all` (every
offset run), each optionally `@WEIGHTS,POINTS`: the solver's search (a log grid of POINTS weights over
--range, golden-section steps up to WEIGHTS) simulated on the interpolated curve instead of the grid's vertex. Prints per case and a summary (within 0.5 dB, mean and
worst gap).

    python scripts/cv_offset_rules.py outputs/cvoff/*.json --rules off4 avg:4,0 all
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline


def parabola_pick(lams, crit) -> float:
    from regrun.optim.scalar_search import parabola_min

    return parabola_min(list(lams), list(crit))


def pooled(d, offsets, ref="resolved") -> np.ndarray:
    """The held-out mean squared misfit pooled over `offsets` (each offset's mean times its held-out views)."""
    tot = sum(np.array(d["offsets"][str(k)][ref]) * len(d["offsets"][str(k)]["held"]) for k in offsets)
    return tot / sum(len(d["offsets"][str(k)]["held"]) for k in offsets)


def interpolated(lams, crit):
    """The criterion between the diagnosis' grid points: a cubic spline of log criterion in log lambda, beyond
    the grid growing as lambda (over-regularization) or as 1/lambda (under)."""
    L = np.log(lams)
    spline = CubicSpline(L, np.log(crit))

    def f(lam):
        x = math.log(lam)
        return float(np.exp(spline(min(max(x, L[0]), L[-1])))) * max(1.0, lam / lams[-1]) * max(1.0, lams[0] / lam)

    return f


def simulated_search(lams, crit, lo: float, hi: float, weights: int, points: int, second=None) -> float:
    """The solver's search (fista_tv_weight.view_cv_search: a log grid of `points` weights in [lo, hi],
    golden-section steps up to `weights`, the parabola's vertex; with `second`, another offset's criterion, the
    guard) run on the interpolated criterion: what the search would pick on this curve with this budget."""
    from regrun.tomography.fista_tv_weight import view_cv_search

    g = None if second is None else interpolated(lams, second)
    lam, _ = view_cv_search(interpolated(lams, crit), lo, hi, weights, points, g, weights - points)
    return lam


def offsets_of(rule: str, d) -> list[int]:
    fold = min(d["fold"], d["views"])
    have = sorted(int(k) for k in d["offsets"])
    base = rule.split("@")[0]
    if base == "off4":
        return [fold // 2]
    if base == "guard":  # the default's offset, and offset 0 for the guard
        return [fold // 2, 0]
    if base == "all":
        return have
    if base.startswith("avg:"):
        return [int(k) % fold for k in base[4:].split(",")]
    raise ValueError(rule)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--rules", nargs="+", default=["off4", "avg:4,0", "all"])
    ap.add_argument("--ref", default="resolved")
    ap.add_argument("--scales", type=float, nargs="+", default=[1.0],
                    help="each rule's pick times these (solver.lam_cv_scale), scored separately")
    ap.add_argument("--range", type=float, nargs=2, default=[0.01, 100.0], help="the search's range (solver.lam_range)")
    args = ap.parse_args(argv)
    keyed = [r if sc == 1.0 else f"{r}*{sc:g}" for r in args.rules for sc in args.scales]
    summary = {k: [] for k in keyed}
    for f in args.files:
        d = json.loads(f.read_text())
        lams = np.array(d["lams"])
        L = np.log(lams)
        spline = CubicSpline(L, d["psnr"])
        fine = np.linspace(L[0], L[-1], 2001)
        best = int(np.argmax(spline(fine)))
        opt_lam, opt_psnr = math.exp(fine[best]), float(spline(fine[best]))
        cells = []
        for rule in args.rules:
            offs = offsets_of(rule, d)
            if any(str(k) not in d["offsets"] for k in offs):
                cells.append(f"{rule}: -")
                continue
            crit = pooled(d, offs[:1] if rule.startswith("guard") else offs, args.ref)
            if "@" in rule:  # @WEIGHTS,POINTS: the solver's search with this budget of weights
                weights, points = (int(v) for v in rule.split("@")[1].split(","))
                second = np.array(d["offsets"][str(offs[1])][args.ref]) if rule.startswith("guard") else None
                lam = simulated_search(lams, crit, args.range[0], args.range[1], weights, points, second)
            else:
                lam = parabola_pick(lams, crit)
            for sc in args.scales:
                key = rule if sc == 1.0 else f"{rule}*{sc:g}"
                x = min(max(math.log(lam * sc), L[0]), L[-1])  # the PSNR curve is known on the grid only
                gap = float(spline(x)) - opt_psnr
                summary[key].append(gap)
                cells.append(f"{key} {lam * sc:.3g} ({gap:+.2f})")
        print(f"{d['name']:28s} opt {opt_lam:.3g} ({opt_psnr:.2f}) | " + " | ".join(cells))
    for rule, gaps in summary.items():
        g = np.array(gaps)
        if len(g):
            print(f"{rule:20s} n={len(g)} within 0.5: {(g >= -0.5).sum()} mean {g.mean():+.2f} worst {g.min():+.2f}")


if __name__ == "__main__":
    main()
