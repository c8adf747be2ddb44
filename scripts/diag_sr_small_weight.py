#!/usr/bin/env python
"""Why `lambda_f=auto` under-picks on small frames (<= 16 px a side, where the frame-split walk does not run), and
what each truthless signal there would pick (srsmallw, issue 16).

Per grey frame set (bench_lambda_sr.py's sets, supersample 8, written twice: noisy and noiseless): `auto` as the user
runs it (varpro_cg, the problem's defaults), then at the run's final motion and data mask, with the search's own
probes and gamma, on a log grid of weights (--grid lo hi points):
- the image's error against the truth: PSNR, and its squared error split into the band of `--band` fine pixels at
  the image's edge and the interior (their PSNRs' peaks tell whether the edge is where a larger weight pays);
- what GCV estimates: the prediction's squared error against the noiseless frames on the kept pixels (`risk`);
- the truthless signals: GCV (gamma 1.2 and 1), SURE and discrepancy's misfit ratio ||r||^2 / ((m - tr H) sigma^2)
  with the frames' noise estimate, the held-out frames' error (every moved frame left out in turn, closed form), the
  frame-split risk ||f - f_r||^2 + D . D_r / 2 against the fixed reference at the grid's lowest weight;
- from the run's own weight: the frame-split walk as frames over 16 px get it (superres_cv.frames_split's steps,
  references and refinement), GCV's one-standard-error walk at t 0.5 (superres_se.se_walk).
--report prints each signal's pick against the grid's peak.

    PYTHONPATH=. python scripts/diag_sr_small_weight.py --out outputs/srsmallw/dev_A \\
        --set sk:camera@60:400,28,16,0.03,9382,translation
    PYTHONPATH=. python scripts/diag_sr_small_weight.py --report outputs/srsmallw/dev_A.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from bench_lambda_sr import frame_set, parse_set  # scripts/bench_lambda_sr.py: the same frame sets
from diag_sr_black_ground import problem  # scripts/diag_sr_black_ground.py (srlow16): the user's problem
from diag_sr_gcv_se import paired_runs, print_pair_summary  # scripts/diag_sr_gcv_se.py (srse): runs side by side

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import FLOOR_RULE, criterion
from regrun.registration import superres_cv as cvmod
from regrun.registration.superres_se import se_walk
from regrun.registration.superres_weight import evaluate_at, frame_data, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG

SIGNALS = ("gcv", "gcv1", "sure", "cv", "split", "risk")  # minimised over the grid
TRUTH = ("psnr", "psnr_in", "psnr_edge")  # maximised


def write_frames(spec, path: Path, noise: float) -> None:
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], noise, spec["seed"],
                                   supersample=8, motion=spec.get("motion", "affine"))
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})


def split_walk_pick(p, w: torch.Tensor, lam: float) -> float:
    """superres_cv.frames_split's weight from lam at w, whatever the frame size."""
    model, settings = p.model, p.weight_cv
    images, _ = cvmod.split_images(model, w)
    down, gap = cvmod.split_down(model, settings.split_down, settings.split_down_gap)
    at, _ = cvmod.split_walk(images, lam, settings.split_steps, down, gap, step=settings.split_step)
    if settings.split_refine > 1 and at > lam:
        at = cvmod.split_refine(images, lam, settings.split_refine, settings.split_step)
    elif settings.split_refine_down > 1 and at < lam:
        at = cvmod.split_refine(images, lam, settings.split_refine_down, settings.split_step, gap=gap)
    return at


def run_set(spec, root: Path, grid, settings: dict, band: int, auto_only: bool = False) -> dict:
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    stem = f"{root.name}_{spec['kind'].replace(':', '_').replace('@', '_')}_{spec['seed']}"
    paths = {k: root.with_name(f"{stem}_{k}.npz") for k in ("noisy", "clean")}
    write_frames(spec, paths["noisy"], spec["noise"])
    write_frames(spec, paths["clean"], 0.0)
    p = problem(paths["noisy"], ctx, **settings)
    clean = problem(paths["clean"], ctx, **settings)
    if p.colour is not None:
        raise SystemExit(f"diag_sr_small_weight: {spec['kind']} is a colour set; give its grey twin")
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    metrics, _ = p.evaluate(res)
    cpu_run = time.process_time() - t0
    lam_auto = float(p.weight_choice.lam)
    keys = ("lam_chosen", "lam_first", "psnr", "motion_error", "motion_model_chosen", "frames_check_all_ratio",
            "noise_std")
    allm = {**res.metrics, **metrics}
    out = {"set": {k: str(v) for k, v in spec.items()}, "settings": settings, "lam_auto": lam_auto,
           "frame_px": list(map(int, p.model.coarse.m)), "frames": int(p.model.q + 1),
           "details": dict(p.weight_choice.details),
           "run": {k: float(allm[k]) for k in keys if k in allm and not isinstance(allm[k], str)}, "cpu_run": cpu_run}
    if auto_only:  # the run's answer alone (a variant's, beside an earlier output's grid: --variant)
        for path in paths.values():
            path.unlink()
        return out
    w = res.solution["w"].detach()
    s = p.weight_settings
    t0 = time.process_time()
    evaluator, sigma, _ = weight_evaluator(p, w, s, ctx.generator(int(p.cfg.lam_seed)))
    solve, probes = evaluator.solve, evaluator.probes
    d, m = frame_data(p.model)
    mask = p.model.data_mask()
    target = ((clean.model.frames + clean.level - p.level) * mask).reshape(-1)
    truth = p.truth.numpy()
    edge = np.zeros(truth.shape, bool)
    edge[:band], edge[-band:], edge[:, :band], edge[:, -band:] = True, True, True, True
    cv, _ = cvmod.frames_cv_curve(p.model, w, cvmod.held_out(p.model, 0))
    images, _ = cvmod.split_images(p.model, w)
    ref = images(float(grid[0]))
    peak = float(truth.max() - truth.min())
    rows = []
    for lam in map(float, grid):
        fit = evaluate_at(p.model, solve, probes, lam)
        pred, f = solve.prediction(lam)(d)
        err = (f.reshape(p.fine.m).numpy() + p.level - truth) ** 2
        f_s, d_s = images(lam)
        psnr_of = lambda e: 10 * math.log10(peak**2 / e.mean())  # noqa: E731 (psnr's own peak: the truth's range)
        rows.append({"lam": lam, "rss": fit.rss, "trace": fit.trace,
                     "gcv": criterion("gcv", fit, sigma, s.tau, s.gamma), "gcv1": criterion("gcv", fit, sigma, s.tau, 1.0),
                     "gcv15": criterion("gcv", fit, sigma, s.tau, 1.5), "gml": criterion(FLOOR_RULE, fit, sigma),
                     "sure": criterion("sure", fit, sigma, s.tau, s.gamma),
                     "disc": fit.rss / ((fit.m - fit.trace) * sigma**2),
                     "cv": float(cv(lam).sum()), "split": float((f_s - ref[0]).pow(2).sum() + 0.5 * (d_s * ref[1]).sum()),
                     "risk": float((pred.reshape(-1) - target).pow(2).sum()),
                     "sse_edge": float(err[edge].sum()), "sse_in": float(err[~edge].sum()),
                     "psnr": psnr(f.reshape(p.fine.m).numpy() + p.level, truth),
                     "psnr_in": psnr_of(err[~edge]), "psnr_edge": psnr_of(err[edge])})
    p.model.set_weight(lam_auto)

    def terms(lam: float) -> torch.Tensor:
        fit = evaluate_at(p.model, solve, probes, lam)
        return criterion(s.rule, fit, sigma, s.tau, s.gamma) / fit.rss * fit.units

    picks = {"split_walk": split_walk_pick(p, w, lam_auto), "se05": se_walk(terms, lam_auto, 0.5)}
    out.update({"m": m, "gamma": s.gamma, "sigma": sigma, "n": int(truth.size), "n_edge": int(edge.sum()),
                "picks": picks, "cpu_grid": time.process_time() - t0, "rows": rows})
    for path in paths.values():
        path.unlink()
    return out


def interp_psnr(rows, lam: float) -> float:
    """The grid's PSNR at lam (linear in log lam between its points; the ends held)."""
    x = np.log([r["lam"] for r in rows])
    return float(np.interp(math.log(lam), x, [r["psnr"] for r in rows]))


def disc_pick(rows) -> float:
    """Discrepancy with the frames' estimate: the weight (log-interpolated) where the misfit ratio crosses 1."""
    x, y = np.log([r["lam"] for r in rows]), np.log([r["disc"] for r in rows])
    for i in range(len(rows) - 1):
        if y[i] <= 0 < y[i + 1]:
            return float(math.exp(x[i] + (x[i + 1] - x[i]) * (-y[i]) / (y[i + 1] - y[i])))
    return float(rows[0]["lam"] if y[0] > 0 else rows[-1]["lam"])


def report(paths: list[Path]) -> None:
    recs = [r for path in paths for r in json.loads(path.read_text())]
    names = ["auto", *TRUTH[1:], "risk", "gcv", "gcv1", "sure", "disc", "cv", "split", "split_walk", "se05"]
    print("| set | frame px / K | motion error px | peak λ (PSNR) | " + " | ".join(names) + " |")
    print("|---" * (4 + len(names)) + "|")
    sums = {n: [] for n in names}
    for rec in recs:
        rows = rec["rows"]
        pk = max(rows, key=lambda r: r["psnr"])
        cells = []
        for n in names:
            if n == "auto":
                lam, gap = rec["lam_auto"], rec["run"]["psnr"] - pk["psnr"]
            elif n in TRUTH:
                lam = max(rows, key=lambda r: r[n])["lam"]
                gap = interp_psnr(rows, lam) - pk["psnr"]
            elif n in ("split_walk", "se05"):
                lam = rec["picks"][n]
                gap = interp_psnr(rows, lam) - pk["psnr"]
            elif n == "disc":
                lam = disc_pick(rows)
                gap = interp_psnr(rows, lam) - pk["psnr"]
            else:
                lam = min(rows, key=lambda r: r[n])["lam"]
                gap = interp_psnr(rows, lam) - pk["psnr"]
            sums[n].append((gap, math.log2(lam / pk["lam"])))
            cells.append(f"{lam:.3g} ({gap:+.2f})")
        s = rec["set"]
        print(f"| {s['kind']} {s['size']}²/{s['frames']} {float(s['noise']):g} s{s['seed']} | "
              f"{rec['frame_px'][0]} / {rec['frames']} | {rec['run'].get('motion_error', math.nan):.3f} | {pk['lam']:.3g} ({pk['psnr']:.2f}) | " + " | ".join(cells) + " |")
    print(f"\n{len(recs)} sets: each pick's summed Δ to the grid's peak at the final motion (dB; `auto`: its answer),"
          " sets > 0.5 dB under it, median log2(pick / peak)")
    print("\n| pick | summed Δ | sets > 0.5 dB under | median log2(pick/peak) |\n|---|---|---|---|")
    for n in names:
        a = np.array(sums[n])
        print(f"| {n} | {a[:, 0].sum():+.2f} | {int((a[:, 0] < -0.5).sum())} | {np.median(a[:, 1]):+.2f} |")


def compare(main_paths: list[Path], variant_paths: list[Path]) -> None:
    """The run's answer (λ, PSNR, CPU) at main and with the variant's settings, set by set, beside the grid's peak
    at main's final motion."""
    pairs = paired_runs(main_paths, variant_paths)
    print("| set | frame px / K | peak λ (PSNR) | main λ (PSNR, motion px) | variant λ (PSNR, motion px) | Δ dB |")
    print("|---|---|---|---|---|---|")
    for a, b, d in pairs:
        pk = max(a["rows"], key=lambda r: r["psnr"])
        s = a["set"]
        print(f"| {s['kind']} {s['size']}²/{s['frames']} {float(s['noise']):g} s{s['seed']} | {a['frame_px'][0]} / "
              f"{a['frames']} | {pk['lam']:.3g} ({pk['psnr']:.2f}) | {a['lam_auto']:.3g} ({a['run']['psnr']:.2f}, "
              f"{a['run'].get('motion_error', math.nan):.3f}) | {b['lam_auto']:.3g} ({b['run']['psnr']:.2f}, "
              f"{b['run'].get('motion_error', math.nan):.3f}) | {d:+.2f} |")
    print_pair_summary(pairs, "the runs' CPU-s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=parse_set, nargs="+", help="bench_lambda_sr.py sets (grey)")
    ap.add_argument("--grid", type=float, nargs=3, default=[0.025, 1.6, 13], help="lo hi points (log)")
    ap.add_argument("--band", type=int, default=2, help="fine pixels of the image's edge band")
    ap.add_argument("--out", type=Path, help="output prefix (.json written after every set)")
    ap.add_argument("--auto-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="problem settings for the run (values parsed as YAML)")
    ap.add_argument("--auto-only", action="store_true", help="the run's answer alone, no grid (a variant's run)")
    ap.add_argument("--report", type=Path, nargs="+", help="tables from earlier outputs")
    ap.add_argument("--variant", type=Path, nargs="+", help="with --report: --auto-only outputs of the same sets; "
                    "their answers beside the report's")
    args = ap.parse_args(argv)
    if args.report and args.variant:
        compare(args.report, args.variant)
        return
    if args.report:
        report(args.report)
        return
    if not args.set or args.out is None:
        ap.error("give --set and --out, or --report")
    settings = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.auto_set)}
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lo, hi, n = args.grid
    grid = np.exp(np.linspace(math.log(lo), math.log(hi), int(n)))
    out = []
    for spec in args.set:
        rec = run_set(spec, args.out, grid, settings, args.band, args.auto_only)
        out.append(rec)
        print(f"{spec['kind']} s{spec['seed']}: auto {rec['lam_auto']:.4g} ({rec['run']['psnr']:.2f}) "
              f"CPU run {rec['cpu_run']:.1f} grid {rec.get('cpu_grid', 0.0):.1f}", flush=True)
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
