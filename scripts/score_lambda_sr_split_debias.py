#!/usr/bin/env python
"""The frame-split risk with its reference's bias removed, replayed on stored curves (curves_lambda_sr_split.py's
--out folders; no solves): srsmooth's ideas (a) and (b), docs/superres.md, "Eighteenth round (srsmooth)".

Against a reference f_r the split risk R_r(lambda) = ||f(lambda) - f_r||^2 + D(lambda) . D_r / 2 is the true error
||f(lambda) - x||^2 up to terms free of lambda, less the cross term 2 b(lambda) . b_r (b = E f - x, the smoothing
bias): a smoothed reference hides part of b(lambda)'s growth (srover). Two readings here, per set:

- `ref j`: R_r's argmin over the grid from the reference up, the reference at auto's x 2^(j/2) (idea (a): a low
  reference has a small b_r; its noise only adds scatter);
- `extrap j rho`: with references r1 = j and r2 = j - 1 (one sqrt(2) step lower), R_r2 - (R_r1 - R_r2) / (rho - 1):
  where the bias is linear in lambda^2 (small weights) b_r1 = 2 b_r2 and rho = 2 removes the cross term exactly
  (idea (b)); argmin over the grid from r1 up.

- `mask j p`: R_r with D . D_r counted on the pixels whose gradient (of f at auto's weight) is under its p-th
  percentile only, times the pixels over those counted (noise is about stationary, the halves' model error sits
  at edges: an edge-robust noise covariance);
- `cross j shift`: ||f_A(lambda) - f_B(r)||^2 + ||f_B(lambda) - f_A(r)||^2, the halves at the stored weights (shift
  0: the half at the whole's weight; 1: one step under it) against the other half at the reference: the halves'
  noise is independent, so the reference's noise adds no lambda-dependent term and no covariance is estimated.

    python scripts/score_lambda_sr_split_debias.py OUT/split/over OUT/split/g1 --ref -2 -3 -4 --extrap -2 -3
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from score_lambda_sr_split import psnr_of  # scripts/score_lambda_sr_split.py


def risks(F, D, r):
    """R_r over the grid (the halves' D read one grid step down already)."""
    return np.array([((F[i] - F[r]) ** 2).sum() + 0.5 * (D[i] * D[r]).sum() for i in range(len(F))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--ref", type=int, nargs="+", default=[-1, -2, -3, -4])
    ap.add_argument("--extrap", type=int, nargs="+", default=[-1, -2, -3])
    ap.add_argument("--rho", type=float, nargs="+", default=[2.0, 1.5])
    ap.add_argument("--mask", type=int, nargs="+", default=[50, 75], help="gradient percentiles for `mask`")
    ap.add_argument("--mask-ref", type=int, nargs="+", default=[-1, -2, -3])
    ap.add_argument("--cross", type=int, nargs="+", default=[-2, -3, -4], help="the reference's j for `cross`")
    ap.add_argument("--window", type=int, default=2, help="the argmin over j = -window .. +window only (a walk's "
                    "reach), not the whole grid above the reference")
    args = ap.parse_args(argv)
    rules = [f"ref {j}" for j in args.ref] + [f"extrap {j} rho {r:g}" for j in args.extrap for r in args.rho]
    rules += [f"mask {j} {pc}" for j in args.mask_ref for pc in args.mask]
    rules += [f"cross {j} {sh}" for sh in (0, 1) for j in args.cross]
    sums = {r: [] for r in rules}
    print("| set | auto λ (PSNR) | peak j (Δ dB) | D on edges | " + " | ".join(rules) + " |")
    print("|---" * (4 + len(rules)) + "|")
    for d in args.dirs:
        for s in json.loads((d / "curves.json").read_text()):
            z = np.load(d / s["npz"])
            F0, A, B, truth = z["full"], z["A"], z["B"], z["truth"]
            js0 = [r["j"] for r in s["rows"]]
            F, js = F0[1:], js0[1:]  # the whole one grid step above the halves: D read at lambda / sqrt(2)
            D = (A - B)[: len(F)]
            p = np.array([psnr_of(f, truth) for f in F])
            ia, ip = js.index(0), int(np.argmax(p))
            window = [i for i, j in enumerate(js) if abs(j) <= args.window]
            cells = []
            side = int(round(F.shape[1] ** 0.5))
            g = F[ia].reshape(side, side)
            grad = np.hypot(*np.gradient(g)).ravel()
            top = grad >= np.percentile(grad, 90)  # a detector's reading: D's share on the 10% steepest pixels
            edges = float((D[ia][top] ** 2).sum() / (D[ia] ** 2).sum())
            for rule in rules:
                parts = rule.split()
                j = int(parts[1])
                if parts[0] == "cross":
                    sh = int(parts[2])
                    if j not in js0:
                        cells.append("off grid")
                        continue
                    r = js0.index(j)
                    est = {i: ((A[i - sh] - B[r]) ** 2).sum() + ((B[i - sh] - A[r]) ** 2).sum()
                           for i in range(len(F0)) if i - sh > r and abs(js0[i]) <= args.window}
                    i = min(est, key=est.get)
                    dd = psnr_of(F0[i], truth) - p[ia]
                    sums[rule].append(dd)
                    cells.append(f"{js0[i]:+d} ({dd:+.2f})")
                    continue
                if j not in js or (parts[0] == "extrap" and j - 1 not in js):
                    cells.append("off grid")
                    continue
                r1 = js.index(j)
                if parts[0] == "ref":
                    est = risks(F, D, r1)
                elif parts[0] == "mask":
                    m = grad <= np.percentile(grad, int(parts[2]))
                    est = np.array([((F[i] - F[r1]) ** 2).sum() + 0.5 * m.size / m.sum() * (D[i][m] * D[r1][m]).sum()
                                    for i in range(len(F))])
                else:
                    rho = float(parts[3])
                    lo, hi = risks(F, D, r1 - 1), risks(F, D, r1)
                    est = lo - (hi - lo) / (rho - 1)
                cand = [i for i in window if i > r1]
                i = min(cand, key=lambda k: est[k])
                sums[rule].append(p[i] - p[ia])
                cells.append(f"{js[i]:+d} ({p[i] - p[ia]:+.2f})")
            print(f"| {s['set']} {s['spec']['size']}²/{s['spec']['frames']} {s['spec']['noise']:g} s{s['spec']['seed']}"
                  f" | {float(z['lams'][1:][ia]):.3g} ({p[ia]:.2f}) | {js[ip]:+d} ({p[ip] - p[ia]:+.2f}) | {edges:.2f} | "
                  + " | ".join(cells) + " |")
    print("| sum of Δ (worst) | | | | " + " | ".join(f"{sum(v):+.2f} ({min(v):+.2f})" for v in sums.values()) + " |")


if __name__ == "__main__":
    main()
