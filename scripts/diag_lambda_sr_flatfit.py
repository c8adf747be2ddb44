#!/usr/bin/env python
"""Is `lambda_f=auto`'s over-smoothing of flat drawings visible with a trustworthy noise level (srflat; issue 16)?

Per frame set (bench_lambda_sr's sets): `auto` as the user runs it (diag_lambda_sr_steps.auto_run: the bench's
pre-registration fixed, the frame-split walk on), then at its final motion, over lambda = auto's x 2^(j/2)
(--steps), each weight's rule inputs as the search reads them (the misfit ||r||^2, the Hutchinson trace tr H with
the search's own probes, the marginal likelihood's value) and the PSNR of its exact image against the truth; beside
them the frames' noise estimates: the weak-texture patches (noise_std_images, what `discrepancy`/`sure` read), the
block percentile (noise_std_blocks, the climb gate's), the fit's (Wahba's at auto's weight) and the noise the
bench added. No rule is changed: --table replays candidate rules on the stored curves (the argmin over the
steps of each rule's value) and prints, per set and per rule, the dB from auto's weight at the same motion.

    python scripts/diag_lambda_sr_flatfit.py --out OUT/flat/seen.json --set barcode,64,16,0.005,1203,translation
    python scripts/diag_lambda_sr_flatfit.py --table OUT/flat/seen.json
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import describe, parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import write  # scripts/curves_lambda_sr_cv.py
from diag_lambda_sr_gate import true_sigma  # scripts/diag_lambda_sr_gate.py
from diag_lambda_sr_steps import auto_run, run_sets  # scripts/diag_lambda_sr_steps.py

from regrun.metrics import psnr
from regrun.optim.parameter_choice import FLOOR_RULE, Fit, criterion, noise_std_blocks, noise_std_images
from regrun.registration.superres_weight import weight_evaluator


def one_set(ctx, tmp: Path, spec, steps, supersample: int = 4) -> dict:
    (tmp / "noisy").mkdir(exist_ok=True)
    path = write(tmp / "noisy", spec, supersample)
    p, res, w0, cpu = auto_run(ctx, path, spec)
    if p.truth.dim() != 2:
        raise SystemExit(f"{spec['kind']}: grey sets only (the search's image is scored against a grey truth)")
    m = res.metrics
    w = res.solution["w"].detach()
    lam_auto = float(m["lam_chosen"])
    settings = p.weight_settings
    frames = p.model.frames
    row = {"set": describe({"image": spec["kind"], **spec, "channels": 1}), "spec": spec, "cpu_auto": cpu,
           "lam_auto": lam_auto, "psnr_answer": float(m.get("psnr", math.nan)),
           "sigma_new": noise_std_images(frames), "sigma_block": noise_std_blocks(frames),
           "sigma_true": true_sigma({"image": spec["kind"], **spec, "supersample": supersample}),
           "frame_px": int(min(p.model.coarse.m)), "gamma": settings.gamma,
           "details": [dict(ch.details) for ch in p.weight_searches]}
    # the rule's inputs at the final motion, with the search's own probes (lam_seed), on auto's weight x 2^(j/2)
    evaluate, _, _ = weight_evaluator(p, w, settings, ctx.generator(int(p.cfg.lam_seed)))
    curve = []
    for j in steps:
        lam = lam_auto * 2 ** (j / 2)
        fit = evaluate(lam)
        f = fit.state.reshape(p.fine.m)  # the search's own image (its PSNR within 0.005 dB of a refit's)
        curve.append({"j": j, "lam": lam, "rss": fit.rss, "m": fit.m, "trace": fit.trace,
                      "gml": criterion(FLOOR_RULE, fit, math.nan) if fit.has_logdet() else math.nan,
                      "psnr": psnr(f.cpu().numpy(), p.truth.reshape(p.fine.m).cpu().numpy())})
    row["curve"] = curve
    return row


# --- replay: candidate rules on the stored curves --------------------------------------------------------
def rule_values(row, name: str) -> np.ndarray:
    c = row["curve"]
    rss = np.array([x["rss"] for x in c])
    tr = np.array([x["trace"] for x in c])
    m = c[0]["m"]
    if name.startswith("gcv"):
        gamma = float(name[3:] or row["gamma"])
        return np.array([criterion("gcv", Fit(rss=r, m=m, trace=t), 1.0, 1.0, gamma) for r, t in zip(rss, tr)])
    if name.startswith("sure_"):  # SURE with a named noise estimate
        s = row[f"sigma_{name[5:]}"]
        return (rss - m * s**2 + 2 * s**2 * tr) / m
    if name.startswith("disc_"):
        s = row[f"sigma_{name[5:]}"]
        return np.abs(np.log(rss / (m * s**2)))
    if name == "gml":
        return np.array([x["gml"] for x in c])
    raise SystemExit(f"unknown rule {name}")


def pick(row, name: str) -> int:
    v = rule_values(row, name)
    v = np.where(np.isfinite(v), v, np.inf)
    return int(np.argmin(v))


RULES = ("gcv1", "gcv", "sure_new", "sure_true", "disc_new", "gml")


def features(row) -> dict:
    c = row["curve"]
    k0 = next(i for i, x in enumerate(c) if x["j"] == 0)
    a = c[k0]
    fit_new = a["rss"] / ((a["m"] - a["trace"]) * row["sigma_new"] ** 2)
    return {"fit/new": fit_new, "block/new": row["sigma_block"] / row["sigma_new"],
            "new/true": row["sigma_new"] / row["sigma_true"],
            "fitsig/new": math.sqrt(a["rss"] / (a["m"] - a["trace"])) / row["sigma_new"]}


def table(rows) -> str:
    head = ["set", "frame px", "auto λ", "peak j (Δ dB)", "σ̂ new × truth", "block / new", "σ̂_fit / new",
            *[f"{r}: j (Δ)" for r in RULES]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    sums = {r: [] for r in RULES}
    for row in rows:
        c = row["curve"]
        k0 = next(i for i, x in enumerate(c) if x["j"] == 0)
        ps = [x["psnr"] for x in c]
        kp = int(np.argmax(ps))
        ft = features(row)
        cells = []
        for r in RULES:
            k = pick(row, r)
            d = ps[k] - ps[k0]
            sums[r].append(d)
            cells.append(f"{c[k]['j']:+d} ({d:+.2f})")
        lines.append(f"| {row['set']} | {row['frame_px']} | {row['lam_auto']:.3g} | {c[kp]['j']:+d} "
                     f"({ps[kp] - ps[k0]:+.2f}) | {ft['new/true']:.2f} | {ft['block/new']:.2f} | "
                     f"{ft['fitsig/new']:.2f} | " + " | ".join(cells) + " |")
    lines.append("| sum (worst) | | | | | | | " + " | ".join(f"{sum(v):+.2f} ({min(v):+.2f})" for v in sums.values())
                 + " |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-6, 3)))
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the replay table of these --out files")
    args = ap.parse_args(argv)
    run_sets(args, table, lambda ctx, tmp, spec: one_set(ctx, tmp, spec, args.steps, args.supersample),
             lambda rows: table(rows).splitlines()[-2])


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
