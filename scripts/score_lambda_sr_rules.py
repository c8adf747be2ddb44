#!/usr/bin/env python
"""Rules for `problem.lambda_f=auto`'s search again at the final motion, scored on what
scripts/bench_lambda_sr_rules.py stored: each rule's weight per set and the PSNR its answer has (the first run's
when it keeps the first weight; else varpro_cg run again from the final motion at the new weight, interpolated in
log lambda between the stored reruns, below them the exact image at the final motion), against bicubic, regrun's
best grid weight and the peer's best.

    python scripts/score_lambda_sr_rules.py outputs/bench/lambda_sr_rules/*.json
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def interp_log(lams, values, lam: float) -> float:
    x = np.log(np.asarray(lams, dtype=float))
    return float(np.interp(math.log(lam), x, np.asarray(values, dtype=float)))


def answer_psnr(row, lam: float) -> float:
    if math.isclose(lam, row["lam_first"], rel_tol=1e-9):
        return row["psnr_first_run"]
    rerun = row["rerun_w1"]
    if lam >= rerun[0]["lam"]:
        return interp_log([r["lam"] for r in rerun], [r["psnr"] for r in rerun], lam)
    c = row["curve_w1"]
    return interp_log([r["lam"] for r in c], [r["psnr"] for r in c], lam)


def first_support(row, lam: float) -> float:
    """The first search's criterion at lam (interpolated in log lam), over its minimum."""
    s = row["search_first"]
    return interp_log(s["lam"], np.log(s["criterion"]), lam) - math.log(min(s["criterion"]))


def gate(row, gain=0.2) -> bool:
    return row["lam_again"] != row["lam_first"] and row["fall"] > gain


def knee(curve: dict, tau: float) -> float:
    """The largest weight whose misfit is within tau times the least-regularised one's (the search's smallest
    weight): where the misfit stops falling, the rest is what the model cannot fit (noise and model error)."""
    lam, rss = np.asarray(curve["lam"]), np.asarray(curve["rss"])
    floor = rss[np.argmin(lam)]
    ok = lam[rss <= tau * floor]
    return float(ok.max())


def flat_top(curve: list[dict], eps: float) -> float:
    """The largest weight whose GCV is within the share eps of the curve's minimum (log GCV linear in log
    lambda between the stored weights): the most regularised weight the data cannot tell from the best."""
    lam = np.log([c["lam"] for c in curve])
    g = np.log([c["gcv"] for c in curve])
    i = int(np.argmin(g))
    limit = g[i] + math.log1p(eps)
    for j in range(i, len(g) - 1):
        if g[j + 1] > limit:
            t = (limit - g[j]) / (g[j + 1] - g[j])
            return float(math.exp(lam[j] + t * (lam[j + 1] - lam[j])))
    return float(math.exp(lam[-1]))


RULES = {
    "first only (lam_rechoose=0)": lambda r: r["lam_first"],
    "current (gain 0.2)": lambda r: r["lam_again"] if gate(r) else r["lam_first"],
    "always move": lambda r: r["lam_again"],
}
for c in (2.0, 3.0, 4.0, 6.0):
    RULES[f"gain 0.2, move capped x{c:g}"] = (
        lambda r, c=c: float(np.clip(r["lam_again"], r["lam_first"] / c, r["lam_first"] * c)) if gate(r)
        else r["lam_first"])
for delta in (0.1, 0.25, 0.5, 1.0):
    RULES[f"gain 0.2, first curve within {delta:g}"] = (
        lambda r, d=delta: r["lam_again"] if gate(r) and first_support(r, r["lam_again"]) <= math.log1p(d)
        else r["lam_first"])
for tau in (1.5, 2.0, 3.0):
    RULES[f"gain 0.2, knee floor tau {tau:g}"] = (
        lambda r, t=tau: max(r["lam_again"], min(r["lam_first"], knee(r["search_again"], t))) if gate(r)
        else r["lam_first"])
for eps in (0.02, 0.05, 0.1, 0.2):
    RULES[f"flat top {eps:g} at w1, always"] = lambda r, e=eps: flat_top(r["curve_w1"], e)
    RULES[f"flat top {eps:g} at w1, gain 0.2"] = (
        lambda r, e=eps: flat_top(r["curve_w1"], e) if gate(r) else r["lam_first"])
    RULES[f"flat top {eps:g} at w1, gain 0.2, w0 too"] = (
        lambda r, e=eps: flat_top(r["curve_w1"], e) if gate(r) else flat_top(r["curve_w0"], e))


def gcv_gamma(c: dict, gamma: float) -> float:
    return c["m"] * c["rss"] / max(c["m"] - gamma * c["trace"], 1e-12 * c["m"]) ** 2


def argmin_curve(curve: list[dict], gamma: float) -> tuple[float, float]:
    """(weight, value) minimising the modified GCV over the stored weights, a parabola in log lambda through
    the best point and its neighbours."""
    t = np.log([c["lam"] for c in curve])
    v = np.log([gcv_gamma(c, gamma) for c in curve])
    i = int(np.argmin(v))
    if 0 < i < len(v) - 1:
        a, b, c = v[i - 1], v[i], v[i + 1]
        den = a - 2 * b + c
        shift = 0.5 * (a - c) / den if den > 0 else 0.0
        return float(np.exp(t[i] + shift * (t[i + 1] - t[i]))), float(np.exp(b))
    return float(np.exp(t[i])), float(np.exp(v[i]))


def value_at(curve, lam, gamma):
    t = np.log([c["lam"] for c in curve])
    return float(np.exp(np.interp(math.log(lam), t, np.log([gcv_gamma(c, gamma) for c in curve]))))


def modified(r, gamma, gain):
    first, _ = argmin_curve(r["curve_w0"], gamma)
    again, low = argmin_curve(r["curve_w1"], gamma)
    before = value_at(r["curve_w1"], first, gamma)
    return again if (before - low) / before > gain else first


def answer_from_w1(row, lam):
    rerun = row["rerun_w1"]
    if lam >= rerun[0]["lam"]:
        return interp_log([r["lam"] for r in rerun], [r["psnr"] for r in rerun], lam)
    c = row["curve_w1"]
    return interp_log([r["lam"] for r in c], [r["psnr"] for r in c], lam)


for gamma in (1.0, 1.2, 1.4, 1.6, 2.0):
    for gain in (0.0, 0.2):
        RULES[f"modified gcv {gamma:g}, gain {gain:g} (16-pt)"] = lambda r, g=gamma, q=gain: modified(r, g, q)


def score(rows, name, rule, verbose=False):
    d_bic, d_best, d_peer = [], [], []
    for r in rows:
        lam = rule(r)
        a = answer_from_w1(r, lam) if "16-pt" in name else answer_psnr(r, lam)
        d_bic.append(a - r["psnr_bicubic"])
        d_best.append(a - r["psnr_regrun_best"])
        d_peer.append(a - r["psnr_peer_best"])
        if verbose:
            print(f"  {r['image']:15s} {r['size']}² {r['frames']:2d} {r['noise']:.1%} s{r['seed']:<2d} lam {lam:.3g} "
                  f"PSNR {a:.2f}: bicubic {d_bic[-1]:+.2f} best {d_best[-1]:+.2f} peer {d_peer[-1]:+.2f}")
    d_bic, d_best, d_peer = map(np.array, (d_bic, d_best, d_peer))
    miss = int(((d_bic < 0) | (d_best < -0.75) | (d_peer < -0.5)).sum())
    print(f"{name:40s} sets {len(rows)}: below bicubic {int((d_bic < 0).sum())}, best-0.75 miss "
          f"{int((d_best < -0.75).sum())} (worst {d_best.min():+.2f}, mean {d_best.mean():+.2f}), peer-0.5 miss "
          f"{int((d_peer < -0.5).sum())} (worst {d_peer.min():+.2f}); any miss {miss}")


def answer(name, row):
    lam = RULES[name](row)
    return lam, (answer_from_w1(row, lam) if "16-pt" in name else answer_psnr(row, lam))


def markdown(rows, names) -> str:
    """Per set: bicubic, regrun's best grid weight, the peer's best, and each named rule's weight and PSNR with
    its differences to the three."""
    head = "| set | bicubic | regrun best | peer best | " + " | ".join(
        f"{n}: λ_f (PSNR) | − bicubic / best / peer" for n in names) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = []
        for n in names:
            lam, a = answer(n, r)
            cells.append(f"{lam:.3g} ({a:.2f}) | {a - r['psnr_bicubic']:+.2f} / {a - r['psnr_regrun_best']:+.2f} / "
                         f"{a - r['psnr_peer_best']:+.2f}")
        lines.append(f"| {r['image']} {r['size']}² {r['frames']} fr {r['noise']:.1%} s{r['seed']} | "
                     f"{r['psnr_bicubic']:.2f} | {r['regrun_best_lam']:g} ({r['psnr_regrun_best']:.2f}) | "
                     f"{r['peer_best_lam']:g} ({r['psnr_peer_best']:.2f}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--verbose", nargs="*", default=[], help="rules whose per-set numbers are printed")
    ap.add_argument("--table", nargs="*", default=[], help="rules whose per-set markdown table is printed")
    args = ap.parse_args(argv)
    rows = [r for p in args.files for r in json.loads(p.read_text())["rows"]]
    if args.table:
        print(markdown(rows, args.table))
    for name, rule in RULES.items():
        score(rows, name, rule, verbose=name in args.verbose)


if __name__ == "__main__":
    main()
