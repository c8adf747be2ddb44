#!/usr/bin/env python
"""Rules for `problem.lambda_f=auto` replayed on the curves scripts/curves_lambda_sr.py stored (the rule's inputs
and the exact image's PSNR over a log grid of weights at `auto`'s final motion): each rule's weight per set (the
search as `choose` runs it: from the largest weight down to the first rise, then the minimum refined by a parabola
in log lambda through its neighbours), its PSNR (interpolated in log lambda) against the curve's peak. No solves.

    python scripts/score_lambda_sr_curves.py outputs/bench/srgcv/*.json [--table]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def first_min_from_top(lam, value) -> float:
    """The weight `choose` would settle on: the grid scanned from the top down to the first rise, the minimum so
    far refined by a parabola in log lambda through it and its two neighbours."""
    x, v = np.log(np.asarray(lam)), np.asarray(value, dtype=float)
    k = len(v) - 1
    while k > 0 and v[k - 1] <= v[k]:
        k -= 1
    if 0 < k < len(v) - 1:
        a, b, c = v[k - 1], v[k], v[k + 1]
        den = a - 2 * b + c
        if den > 0:
            t = 0.5 * (a - c) / den  # offset in grid steps (uniform grid in log lambda)
            step = 0.5 * (x[k + 1] - x[k - 1])
            return float(math.exp(x[k] + max(-1.0, min(1.0, t)) * step))
    return float(math.exp(x[k]))


def interp_log(lam, values, at: float) -> float:
    return float(np.interp(math.log(at), np.log(np.asarray(lam)), np.asarray(values, dtype=float)))


def columns(row):
    c = row["curve_w1"]
    lam = np.array([r["lam"] for r in c])
    rss, tr, m = (np.array([r[k] for r in c], dtype=float) for k in ("rss", "trace", "m"))
    return lam, rss, tr, m, np.array([r["psnr"] for r in c])


def gcv(gamma):
    def rule(row):
        lam, rss, tr, m, _ = columns(row)
        return first_min_from_top(lam, m * rss / np.maximum(m - gamma * tr, 1e-12 * m) ** 2)
    return rule


def qo_values(row):
    """Quasi-optimality: the image's change per unit log lambda between neighbours of the stored grid,
    ||f_k - f_(k-1)|| / (log lam_k - log lam_(k-1)) (a finite difference of ||lam df/dlam||), placed at the
    pair's log-midpoint."""
    lam = np.array([r["lam"] for r in row["curve_w1"]])
    step = np.array([r["step2"] for r in row["curve_w1"]])
    dl = np.diff(np.log(lam))
    return np.sqrt(lam[1:] * lam[:-1]), np.sqrt(step[1:]) / dl


def qo(row):
    lam, v = qo_values(row)
    return first_min_from_top(lam, v)


def qo_global(row):
    lam, v = qo_values(row)
    return float(lam[int(np.argmin(v))])


def qo_up(base, ratio=math.sqrt(2)):
    """`base`'s weight, then up by `ratio` while the quasi-optimality value (interpolated in log lambda on the
    stored finite differences) falls: the first minimum of QO at or above the base rule's weight."""
    def rule(row):
        lam, v = qo_values(row)
        q = lambda x: interp_log(lam, v, x)  # noqa: E731
        x = base(row)
        while x * ratio <= lam[-1] and q(x * ratio) < q(x):
            x *= ratio
        return x
    return rule


def combo(a, b, how):
    def rule(row):
        x, y = a(row), b(row)
        return {"max": max(x, y), "geo": math.sqrt(x * y)}[how]
    return rule


def with_sigma(rule_name, which):
    """discrepancy (|log(||r||^2 / (m sigma^2))|) or SURE ((||r||^2 - m sigma^2 + 2 sigma^2 tr H) / m) with the
    estimated (Immerkaer's, what `auto` would use) or the true noise sigma of the frames."""
    def rule(row):
        lam, rss, tr, m, _ = columns(row)
        s2 = row["sigma_hat" if which == "estimated" else "sigma_true"] ** 2
        if rule_name == "discrepancy":
            return float(lam[int(np.argmin(np.abs(np.log(rss / (m * s2)))))])
        return first_min_from_top(lam, (rss - m * s2 + 2 * s2 * tr) / m)
    return rule


RULES = {f"gcv {g:g}": gcv(g) for g in (1.0, 1.2, 1.4, 1.6, 2.0, 2.5, 3.0)}
RULES.update({f"{r} ({w} sigma)": with_sigma(r, w) for r in ("discrepancy", "sure") for w in ("estimated", "true")})
RULES.update({"qo": qo, "qo global": qo_global, "max(gcv 1.2, qo)": combo(gcv(1.2), qo, "max"),
              "geo(gcv 1.2, qo)": combo(gcv(1.2), qo, "geo"), "gcv 1.2 then qo up": qo_up(gcv(1.2)),
              "gcv 1.2 then qo up x1.2": qo_up(gcv(1.2), 1.2), "gcv 1 then qo up": qo_up(gcv(1.0))})


def score(rows, rules):
    out = {}
    for name, rule in rules.items():
        res = []
        for r in rows:
            lam_c, *_, ps = columns(r)
            lam = rule(r)
            res.append((lam, interp_log(lam_c, ps, lam), float(ps.max()), float(lam_c[np.argmax(ps)])))
        out[name] = res
    return out


def label(r) -> str:
    extra = [r["motion"]] if r["motion"] != "affine" else []
    extra += ["RGB"] if r["channels"] > 1 else []
    extra += [f"gain {r['gain'][0]:g}-{r['gain'][1]:g}"] if r.get("gain") else []
    return (f"{r['image']}{' (' + ', '.join(extra) + ')' if extra else ''} {r['size']}²/{r['frames']} "
            f"{r['noise']:.1%} s{r['seed']}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+")
    ap.add_argument("--table", action="store_true", help="per set, every rule's weight and PSNR")
    ap.add_argument("--rules", nargs="+", help="only these (names as in the summary)")
    args = ap.parse_args(argv)
    rows = [r for f in args.files for r in json.loads(f.read_text())["rows"]]
    rules = {k: v for k, v in RULES.items() if not args.rules or k in args.rules}
    res = score(rows, rules)
    print(f"{len(rows)} sets; PSNR of the rule's weight at the final motion minus the curve's peak")
    for name, rs in res.items():
        d = np.array([p - best for _, p, best, _ in rs])
        print(f"{name:28s} > 0.75 dB under the peak on {int((d < -0.75).sum()):2d}, > 0.5 on {int((d < -0.5).sum()):2d}"
              f" (worst {d.min():+.2f}, mean {d.mean():+.2f})")
    if args.table:
        names = list(res)
        print("| set | sigma (est) | model error / sigma² | peak λ (PSNR) | " + " | ".join(names) + " |")
        print("|---|---|---|---|" + "---|" * len(names))
        for i, r in enumerate(rows):
            lam_p, best = res[names[0]][i][3], res[names[0]][i][2]
            cells = " | ".join(f"{res[n][i][0]:.3g} ({res[n][i][1] - best:+.2f})" for n in names)
            print(f"| {label(r)} | {r['sigma_true']:.3g} ({r['sigma_hat']:.3g}) | "
                  f"{r['model_error_w1'] / r['m'] / r['sigma_true'] ** 2:.2f} | {lam_p:.3g} ({best:.2f}) | {cells} |")


if __name__ == "__main__":
    main()
