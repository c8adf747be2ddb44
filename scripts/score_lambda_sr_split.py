#!/usr/bin/env python
"""Truthless rules for lambda_f from frame-split images, replayed on stored curves (curves_lambda_sr_split.py's
--out folders) without solves: each rule's weight and its PSNR against `auto`'s and the PSNR's peak.

With f_i the image from every frame at the grid's weight lambda_i (increasing, steps of sqrt(2)) and f_A, f_B those
from the two halves: a half has half the data term, so at lambda / sqrt(2) it smooths as the full image does at
lambda ((G / 2 + lambda^2 R / 2) = (G + lambda^2 R) / 2); D_i = f_A,i-1 - f_B,i-1 (the halves one grid step down)
is then 2 H (A_A^T n_A - A_B^T n_B) and V_i = ||D_i||^2 / 4 estimates the full image's noise energy
E||f_i - E f_i||^2 (the halves independent; --shift 0 reads the halves at the same weight instead). Rules:

- `lepski K` (the balancing principle, Lepskii 1990; Mathe 2006 for regularization): the largest lambda_i such that
  ||f_i - f_j||^2 <= K^2 V_j for every lambda_j below it on the grid (from j = --from on): the bias-variance
  balance of the image, with the image's own noise measured by the split instead of a known sigma;
- `walk S down N gap G` (superres_cv.split_walk itself, problem.lam_split_steps=S, lam_split_down=N,
  SPLIT_DOWN_GAP=G): up by `risk` against a reference one step under the weight reached, while it falls, at most S
  steps; without a step up, down against a reference G steps under the lower weight, at most N steps.
- `risk j0`: argmin of ||f_i - f_j0||^2 + D_i . D_j0 / 2, the image's error against the
  less-smoothed image f_j0 with the noise covariance between the two estimated by the split (2 tr Cov(f_i, f_j0)
  ~ D_i . D_j0 / 2): a GSURE whose noise level and reference come from the frames.

    python scripts/score_lambda_sr_split.py OUT/split/g1 OUT/split/g2 --kappa 1 1.5 2 3
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def psnr_of(f, truth):
    rng = truth.max() - truth.min()
    return 10 * math.log10(rng**2 / np.mean((f - truth) ** 2))


def lepski(F, V, kappa, first):
    """The largest i >= first with ||F_i - F_j||^2 <= kappa^2 V_j for all first <= j < i (the grid increasing)."""
    chosen = first
    for i in range(first + 1, len(F)):
        if all(((F[i] - F[j]) ** 2).sum() <= kappa**2 * V[j] for j in range(first, i)):
            chosen = i
        else:
            break
    return chosen


def split_risk(F, D, j0):
    est = [((F[i] - F[j0]) ** 2).sum() + 0.5 * (D[i] * D[j0]).sum() for i in range(len(F))]
    return int(np.argmin(est[j0:])) + j0, est


def split_walk_replay(F, D, lams, i0, steps, down=1, gap=None):
    """superres_cv.split_walk itself on the stored grid (its images looked up, no solves): the index of its weight;
    None where it reads past the stored grid."""
    import torch

    from regrun.registration.superres_cv import split_walk

    def images(lam):
        i = int(np.argmin(np.abs(np.log(lams / lam))))
        if abs(math.log(lams[i] / lam)) > 1e-6:
            raise IndexError(lam)
        return torch.as_tensor(F[i]), torch.as_tensor(D[i])

    try:
        lam, _ = split_walk(images, float(lams[i0]), steps, down, gap)
    except IndexError:
        return None
    return int(np.argmin(np.abs(np.log(lams / lam))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--kappa", type=float, nargs="+", default=[1.0, 1.5, 2.0, 3.0])
    ap.add_argument("--from", dest="first", type=int, nargs="+", default=[-4, -2],
                    help="the lowest grid step j (auto's x 2^(j/2)) the rules read")
    ap.add_argument("--walk", type=int, nargs="+", default=[2, 3], help="the walk's step caps (lam_split_steps)")
    ap.add_argument("--down", type=int, nargs="+", default=[1], help="the walk's steps down at most (lam_split_down)")
    ap.add_argument("--gap", type=int, nargs="+", default=[1], help="going down, the reference's steps under the lower "
                    "weight (superres_cv.SPLIT_DOWN_GAP)")
    ap.add_argument("--shift", type=int, default=1, help="grid steps the halves are read below the full image")
    args = ap.parse_args(argv)
    rules = [(f"lepski {k:g} from {j}", "lepski", k, j) for j in args.first for k in args.kappa]
    rules += [(f"risk from {j}", "risk", None, j) for j in args.first]
    rules += [(f"walk {k} down {dn} gap {g}", "walk", (k, dn, g), 0) for k in args.walk for dn in args.down
              for g in args.gap]
    sums = {r[0]: [] for r in rules}
    print("| set | auto λ (PSNR) | peak λ (PSNR) | V/err at auto | " + " | ".join(r[0] for r in rules) + " |")
    print("|---" * (4 + len(rules)) + "|")
    for d in args.dirs:
        for s in json.loads((d / "curves.json").read_text()):
            z = np.load(d / s["npz"])
            F, A, B, truth, lams = z["full"], z["A"], z["B"], z["truth"], z["lams"]
            js = [r["j"] for r in s["rows"]]
            sh = args.shift  # the full image's grid from index sh on, the halves' D from index 0
            F, lams, js = F[sh:], lams[sh:], js[sh:]
            D = (A - B)[: len(F)]
            V = (D**2).sum(1) / 4
            p = [psnr_of(f, truth) for f in F]
            ia, ip = js.index(0), int(np.argmax(p))
            err = ((F - truth) ** 2).sum(1)
            cells = []
            for name, kind, k, j in rules:
                first = js.index(j) if j in js else 0
                if kind == "walk":
                    i = split_walk_replay(F, D, lams, js.index(0), *k)
                    if i is None:
                        cells.append("off grid")
                        continue
                else:
                    i = lepski(F, V, k, first) if kind == "lepski" else split_risk(F, D, first)[0]
                sums[name].append(p[i] - p[ia])
                cells.append(f"{lams[i]:.3g} ({p[i] - p[ia]:+.2f})")
            print(f"| {s['set']} {s['spec']['size']}²/{s['spec']['frames']} {s['spec']['noise']:g} s{s['spec']['seed']}"
                  f" | {lams[ia]:.3g} ({p[ia]:.2f}) | {lams[ip]:.3g} ({p[ip]:.2f}) | {V[ia] / err[ia]:.2f} | "
                  + " | ".join(cells) + " |")
    print("| sum of Δ (worst) | | | | " + " | ".join(f"{sum(v):+.2f} ({min(v):+.2f})" for v in sums.values()) + " |")


if __name__ == "__main__":
    main()
