#!/usr/bin/env python
"""GCV's curve with its own error bar: would statistics' one-standard-error rule lift `lambda_f=auto`'s weight where
it is low (srse, issue 16)? Per frame set (bench_lambda_sr.py's sets, supersample 8, grey or rgb:): `auto` as the
user runs it (varpro_cg, the problem's defaults), then at the run's final motion and data mask, with the search's
own probes (problem.lam_seed) and gamma, on a log grid of weights: GCV = m sum_k s_k / (m - gamma tr H)^2, where s_k
is frame k's squared misfit (or, `blocks`, that of a quarter of frame k), so GCV is K times the mean of the units'
GCV_k = m s_k / (m - gamma tr H)^2 and its standard error across the units is sd(GCV_k) K / sqrt(K); and the PSNR
against the truth (every channel on colour frames: the luminance's weight, each channel solved at it, as
SuperRes.solve_channels).

The picks, each walking up the grid from GCV's minimum while the next weight's GCV stays within the bar (--report):
`min` (GCV's minimum: no bar); `se1`, `se05` (1 and 0.5 standard errors of the units at the minimum, frames);
`blk1` (1 standard error, quarters of frames); `pair1`, `pair05` (the paired difference GCV(lam) - GCV(min) per frame,
within 1 and 0.5 of its own standard error: t <= 1, 0.5). Each pick's PSNR against the grid's peak and against the
run's own answer (its PSNR, from its metrics).

    PYTHONPATH=. python scripts/diag_sr_gcv_se.py --out outputs/srse/dev_A \\
        --set fair:hands-R@0:0,32,16,0.005,7452,translation sk:astronaut@380:100,32,8,0.01,7951,translation
    PYTHONPATH=. python scripts/diag_sr_gcv_se.py --report outputs/srse/dev_A.json outputs/srse/dev_B.json
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
from bench_lambda_sr import frame_set, is_colour, parse_set  # scripts/bench_lambda_sr.py: the same frame sets
from diag_sr_black_ground import problem  # scripts/diag_sr_black_ground.py (srlow16): the user's problem
from diag_sr_rgb_weight import write_set  # scripts/diag_sr_rgb_weight.py (srrgbweight): colour sets as the bench

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.io import FRAMES_KEY, TRUTH_KEY, from_fair_layout
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import criterion
from regrun.registration.superres_weight import evaluate_at, frame_data, weight_evaluator
from regrun.solvers.varpro_cg import VarProCG

# the picks: (units, bar in standard errors, paired)
PICKS = {"se1": ("frames", 1.0, False), "se05": ("frames", 0.5, False), "blk1": ("blocks", 1.0, False),
         "pair1": ("frames", 1.0, True), "pair05": ("frames", 0.5, True)}


def write_frames(spec, path: Path) -> None:
    if is_colour(spec["kind"]):
        write_set(spec, spec["noise"], path)
        return
    truth, stack, w, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                   supersample=8, motion=spec.get("motion", "affine"))
    np.savez(path, **{FRAMES_KEY: from_fair_layout(stack), TRUTH_KEY: from_fair_layout(truth), "w": w})


def unit_misfits(r: torch.Tensor) -> tuple[list[float], list[float]]:
    """Squared misfit (frames, m1, m2) per frame and per quarter of a frame."""
    h1, h2 = r.shape[1] // 2, r.shape[2] // 2
    quarters = [r[:, :h1, :h2], r[:, :h1, h2:], r[:, h1:, :h2], r[:, h1:, h2:]]
    per_frame = r.pow(2).sum((1, 2))
    per_block = torch.stack([q.pow(2).sum((1, 2)) for q in quarters], 1).reshape(-1)
    return per_frame.tolist(), per_block.tolist()


def run_set(spec, root: Path, grid, settings: dict) -> dict:
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    path = root.with_name(f"{root.name}_{spec['kind'].replace(':', '_').replace('@', '_')}_{spec['seed']}.npz")
    write_frames(spec, path)
    p = problem(path, ctx, **settings)
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    metrics, _ = p.evaluate(res)  # the user's answer (its PSNR: every channel, the final solve)
    cpu_run = time.process_time() - t0
    w = res.solution["w"].detach()
    s = p.weight_settings
    evaluator, sigma, _ = weight_evaluator(p, w, s, ctx.generator(int(p.cfg.lam_seed)))  # the search's probes
    solve, probes = evaluator.solve, evaluator.probes
    d, m = frame_data(p.model)
    mask = p.model.data_mask()
    colour = p.colour is not None
    if colour:
        chan = ((p.colour.movedim(1, 0) - p.level) * mask).reshape(p.colour.shape[1], -1)
        truth = p.truth_colour.numpy()
    else:
        truth = p.truth.numpy()
    rows = []
    t0 = time.process_time()
    for lam in grid:
        lam = float(lam)
        fit = evaluate_at(p.model, solve, probes, lam)
        pred, f = solve.prediction(lam)(d)
        frames, blocks = unit_misfits((pred - d).reshape(mask.shape))
        if colour:
            _, f_c = solve.prediction(lam)(chan)
            value = psnr(f_c.reshape(-1, *p.fine.m).numpy() + p.level, truth)
        else:
            value = psnr(f.reshape(p.fine.m).numpy() + p.level, truth)
        gcv = criterion(s.rule, fit, sigma, s.tau, s.gamma)
        scale = gcv / fit.rss  # m / (m - gamma tr H)^2
        rows.append({"lam": lam, "gcv": gcv, "trace": fit.trace, "scale": scale, "frames": frames,
                     "blocks": blocks, "psnr": value})
    keys = ("lam_chosen", "lam_first", "psnr", "motion_error", "motion_model_chosen", "lam_split_from", "lam_se_from",
            "lam_se_evaluations", "lam_se_s")
    out = {"set": {k: str(v) for k, v in spec.items()}, "settings": settings, "m": m, "colour": colour, "gamma": s.gamma,
           "run": {k: float({**res.metrics, **metrics}[k]) for k in keys if k in {**res.metrics, **metrics}},
           "cpu_run": cpu_run, "cpu_grid": time.process_time() - t0, "rows": rows}
    path.unlink()
    return out


def gcv_units(row: dict, units: str) -> np.ndarray:
    """The units' GCV_k, whose mean times their count is GCV."""
    return row["scale"] * np.asarray(row[units])


def pick(rows: list[dict], units: str, bar: float, paired: bool) -> int:
    """The grid index reached by walking up from GCV's minimum while the next weight's GCV is within `bar`
    standard errors (paired: of the per-unit difference from the minimum; else: of the units at the minimum)."""
    i0 = min(range(len(rows)), key=lambda i: rows[i]["gcv"])
    base = gcv_units(rows[i0], units)
    n = base.size
    i = i0
    while i + 1 < len(rows):
        nxt = gcv_units(rows[i + 1], units)
        diff = (nxt - base) * n  # per unit, in GCV's units (the mean of diff is GCV(next) - GCV(min))
        se = (diff.std(ddof=1) if paired else base.std(ddof=1) * n) / math.sqrt(n)
        if diff.mean() > bar * se:
            break
        i += 1
    return i


def report(paths: list[Path]) -> None:
    recs = [r for path in paths for r in json.loads(path.read_text())]
    names = ["min", *PICKS]
    print("| set | K | auto λ (PSNR) | peak λ (PSNR) | " + " | ".join(names) + " |")
    print("|---" * (4 + len(names)) + "|")
    total = {n: [] for n in names}
    vs_auto = {n: [] for n in names}
    for rec in recs:
        rows = rec["rows"]
        peak = max(rows, key=lambda r: r["psnr"])
        cells = []
        for n in names:
            i = min(range(len(rows)), key=lambda j: rows[j]["gcv"]) if n == "min" else pick(rows, *PICKS[n])
            r = rows[i]
            total[n].append((r["psnr"] - peak["psnr"], math.log2(r["lam"] / peak["lam"])))
            vs_auto[n].append(r["psnr"] - rec["run"]["psnr"])
            cells.append(f"{r['lam']:.3g} ({r['psnr'] - peak['psnr']:+.2f})")
        s = rec["set"]
        run = rec["run"]
        print(f"| {s['kind']} {s['size']}²/{s['frames']} {float(s['noise']):g} s{s['seed']} | {s['frames']} | "
              f"{run['lam_chosen']:.3g} ({run['psnr']:.2f}) | {peak['lam']:.3g} ({peak['psnr']:.2f}) | "
              + " | ".join(cells) + " |")
    auto = np.array([rec["run"]["psnr"] - max(r["psnr"] for r in rec["rows"]) for rec in recs])
    print(f"\n{len(recs)} sets. `auto`'s answer: summed Δ to the grid's peak {auto.sum():+.2f} dB, "
          f"{int((auto < -0.1).sum())} sets > 0.1 dB under it, {int((auto < -0.5).sum())} > 0.5 dB")
    print("\n| pick | summed Δ to the peak (dB) | sets > 0.1 / > 0.5 dB under the peak | median log2(pick/peak) | "
          "summed Δ to `auto`'s answer (dB) | sets > 0.1 dB under / over `auto` |")
    print("|---|---|---|---|---|---|")
    for n in names:
        d, a = np.array(total[n]), np.array(vs_auto[n])
        print(f"| {n} | {d[:, 0].sum():+.2f} | {int((d[:, 0] < -0.1).sum())} / {int((d[:, 0] < -0.5).sum())} | "
              f"{np.median(d[:, 1]):+.2f} | {a.sum():+.2f} | {int((a < -0.1).sum())} / {int((a > 0.1).sum())} |")


def paired_runs(main_paths: list[Path], variant_paths: list[Path]) -> list[tuple[dict, dict, float]]:
    """The sets of two runs' outputs (main's, the variant's) found in both: (main's record, the variant's, the
    variant's PSNR less main's), in main's order."""
    load = lambda paths: {(r["set"]["kind"], r["set"]["seed"]): r for p in paths for r in json.loads(p.read_text())}  # noqa: E731
    main, var = load(main_paths), load(variant_paths)
    return [(a, var[key], var[key]["run"]["psnr"] - a["run"]["psnr"]) for key, a in main.items() if key in var]


def print_pair_summary(pairs: list[tuple[dict, dict, float]], cpu_label: str) -> None:
    d = np.array([p[2] for p in pairs])
    cpu = [sum(p[0]["cpu_run"] for p in pairs), sum(p[1]["cpu_run"] for p in pairs)]
    print(f"\n{d.size} sets: summed {d.sum():+.2f} dB; {int((d < -0.1).sum())} worse / {int((d > 0.1).sum())} better by "
          f"> 0.1 dB; worst {d.min():+.2f}; {cpu_label} {cpu[0]:.1f} -> {cpu[1]:.1f}")


def compare(main_paths: list[Path], variant_paths: list[Path]) -> None:
    """The run's answer (λ, PSNR, CPU) with and without the variant's settings, set by set, and the grid's peak."""
    pairs = paired_runs(main_paths, variant_paths)
    print("| set | peak λ (PSNR) | main λ (PSNR) | variant λ (PSNR) | Δ dB |")
    print("|---|---|---|---|---|")
    for a, b, d in pairs:
        peak = max(a["rows"], key=lambda r: r["psnr"])
        s = a["set"]
        print(f"| {s['kind']} {s['size']}²/{s['frames']} {float(s['noise']):g} s{s['seed']} | {peak['lam']:.3g} "
              f"({peak['psnr']:.2f}) | {a['run']['lam_chosen']:.3g} ({a['run']['psnr']:.2f}) | "
              f"{b['run']['lam_chosen']:.3g} ({b['run']['psnr']:.2f}) | {d:+.2f} |")
    print_pair_summary(pairs, "CPU-s (run + evaluate)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=parse_set, nargs="+", help="bench_lambda_sr.py sets")
    ap.add_argument("--grid", type=float, nargs=3, default=[0.025, 0.64, 15], help="lo hi points (log)")
    ap.add_argument("--out", type=Path, help="output prefix (.json written after every set)")
    ap.add_argument("--auto-set", nargs="+", default=[], metavar="KEY=VALUE",
                    help="problem settings for the run (e.g. lam_se_t=0.5; values parsed as YAML)")
    ap.add_argument("--report", type=Path, nargs="+", help="tables from earlier outputs")
    ap.add_argument("--variant", type=Path, nargs="+", help="with --report: the same sets run with --auto-set; "
                    "their answers against the report's, set by set")
    args = ap.parse_args(argv)
    args.auto_set = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.auto_set)}
    if args.report and args.variant:
        compare(args.report, args.variant)
        return
    if args.report:
        report(args.report)
        return
    if not args.set or args.out is None:
        ap.error("give --set and --out, or --report")
    torch.set_num_threads(1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lo, hi, n = args.grid
    grid = np.exp(np.linspace(math.log(lo), math.log(hi), int(n)))
    out = []
    for spec in args.set:
        out.append(run_set(spec, args.out, grid, args.auto_set))
        rec = out[-1]
        print(f"{spec['kind']} s{spec['seed']}: auto {rec['run']['lam_chosen']:.4g} ({rec['run']['psnr']:.2f}) "
              f"CPU run {rec['cpu_run']:.1f} grid {rec['cpu_grid']:.1f}", flush=True)
        args.out.with_name(args.out.name + ".json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
