#!/usr/bin/env python
"""Replays superres_cv's walk (problem.lam_cv_steps, lam_cv_t) on the curves of scripts/curves_lambda_sr_cv.py
without new solves: per set, the weight the walk ends at from auto's and the PSNR there, against auto's and the
curve's peak, for each (steps, t) asked.

    python scripts/score_lambda_sr_cv.py OUT/cv_*.json --steps 2 3 --t 0 2 3 4
"""
from __future__ import annotations

import argparse
import json
import math

import torch

from regrun.registration.superres_cv import cv_walk


def replay(r, steps: int, t: float, frames: int = 0):
    rows = {round(math.log2(x["lam"] / r["lam_auto"]) * 2): x for x in r["rows"]}  # keyed by j: auto x 2^(j/2)

    def cv(lam):
        x = rows[round(math.log2(lam / r["lam_auto"]) * 2)]
        v = torch.tensor(x["cv_frames"], dtype=torch.float64)
        return v if frames == 0 else v[:frames]

    try:
        lam = cv_walk(cv, r["lam_auto"], steps, t)
    except KeyError:  # the walk left the stored curve
        return math.nan, math.nan
    return lam, rows[round(math.log2(lam / r["lam_auto"]) * 2)]["psnr"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--steps", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--t", type=float, nargs="+", default=[0.0, 2.0, 3.0, 4.0])
    ap.add_argument("--frames", type=int, default=0, help="hold out the first FRAMES moved frames only (0: all)")
    args = ap.parse_args(argv)
    sets = [r for f in args.files for r in json.load(open(f))]
    combos = [(s, t) for s in args.steps for t in args.t]
    print("| set | auto λ (PSNR) | peak λ (PSNR) | " + " | ".join(f"steps {s}, t {t:g}: λ (Δ dB)" for s, t in combos) + " |")
    print("|---" * (3 + len(combos)) + "|")
    total = {c: [] for c in combos}
    for r in sets:
        auto = next(x for x in r["rows"] if abs(math.log(x["lam"] / r["lam_auto"])) < 1e-9)["psnr"]
        cells = []
        for c in combos:
            lam, p = replay(r, *c, frames=args.frames)
            total[c].append(p - auto)
            cells.append(f"{lam:.3g} ({p - auto:+.2f})")
        spec = r["spec"]
        print(f"| {r['set']} {spec['size']}²/{spec['frames']} {spec['noise']:.1%} s{spec['seed']} | {r['lam_auto']:.3g} "
              f"({auto:.2f}) | {r['lam_peak']:.3g} ({r['psnr_peak']:.2f}) | " + " | ".join(cells) + " |")
    print("| sum of Δ (worst) | | | " + " | ".join(f"{sum(v):+.2f} ({min(v):+.2f})" for v in total.values()) + " |")


if __name__ == "__main__":
    main()
