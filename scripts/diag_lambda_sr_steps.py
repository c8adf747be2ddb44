#!/usr/bin/env python
"""Which step of `lambda_f=auto` puts the weight where it is (srgraphic; issue 16).

Per frame set (bench_lambda_sr's sets, grey): `auto` as the user runs it (the bench's pre-registration fixed, the
frame-split walk on), then the weight each step of its chain reached, read from its searches' curves and details:
GCV's minimum at gamma 1 (plain) and at lam_gcv_gamma (the rule's), the marginal likelihood's floor where it
binds, quasi-optimality's climb (the search's answer), the search again at the final motion, the walk. Each of
those weights is scored by the PSNR of the exact regularized image at the final motion, beside the PSNR's peak
over lambda = auto's x 2^(j/2) (--steps). With --true the same search runs at the true motion, and its steps and
peak are scored at the true motion: where it still over-picks, the motion is not the cause.

    python scripts/diag_lambda_sr_steps.py --true --out OUT/steps/seen.json --set barcode,128,8,0.01,1204,rigid
    python scripts/diag_lambda_sr_steps.py --table OUT/steps/seen.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import describe, parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import write  # scripts/curves_lambda_sr_cv.py

from regrun.config import config_section
from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.optim.parameter_choice import Fit, criterion
from regrun.problems.superres import SuperRes
from regrun.registration.superres_check import REFIT_ITERS, REFIT_RTOL
from regrun.registration.superres_start import start_params
from regrun.registration.superres_weight import choose_superres_weight, frame_data
from regrun.solvers.varpro_cg import VarProCG


def steps_of(choice, sigma_gamma, m: int) -> dict:
    """The weights of one search's chain, from its curve (lam, rss, trace) and details."""
    c, d = choice.curve, choice.details
    out = {}
    ok = np.isfinite(c["criterion"])
    for name, gamma in sigma_gamma:
        vals = [criterion("gcv", Fit(rss=float(r), m=m, trace=float(t)), choice.sigma, 1.0, gamma)
                for r, t in zip(c["rss"], c["trace"])]
        vals = np.where(ok, vals, np.inf)
        out[name] = float(c["lam"][int(np.argmin(vals))])
    if "lam_rule_below_floor" in d:  # the floor bound; where the gate then skipped the climb, the floor is the answer
        out["floor"] = float(d.get("lam_rule_minimum", choice.lam))
    out["climb"] = float(choice.lam)
    return out


def image_psnr(p, w, lam, f0=None):
    p.model.set_weight(lam)
    f = p.model.solve(w, REFIT_ITERS, REFIT_RTOL, x0=f0 if f0 is not None else p.model.initial_image()).x.detach()
    return psnr(f.reshape(p.fine.m).cpu().numpy(), p.truth.cpu().numpy()), f


def scored(p, w, lams: dict, grid: list[float]) -> dict:
    """PSNR at each named weight and over the grid, at motion w."""
    peak, f = {}, None
    for lam in grid:
        peak[lam], f = image_psnr(p, w, lam, f)
    best = max(peak, key=peak.get)
    named = {k: image_psnr(p, w, v, f)[0] for k, v in lams.items()}
    return {"weights": lams, "psnr": named, "peak_lam": best, "peak_psnr": peak[best],
            "grid": {f"{k:.6g}": v for k, v in peak.items()}}


def auto_run(ctx, path: Path, spec) -> tuple:
    """The user's `auto` run (varpro_cg) on a bench set's file, its pre-registration computed once and kept (so
    later solves on the same problem start there): (problem, result, pre-registered motion, CPU-s of the solve)."""
    cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                         true_motion=str(path), lambda_f="auto", gain=spec["gain"] is not None)
    p = SuperRes(cfg, ctx)
    w0 = start_params(p, "preregister")
    p.model.preregister = lambda **_: w0.clone()
    c0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg", cg_iters=50), ctx).solve(p, Monitor())
    return p, res, w0, time.process_time() - c0


def one_set(ctx, tmp: Path, spec, steps, true: bool, supersample: int = 4) -> dict:
    (tmp / "noisy").mkdir(exist_ok=True)
    path = write(tmp / "noisy", spec, supersample)
    p, res, w0, cpu = auto_run(ctx, path, spec)
    m = res.metrics
    w = res.solution["w"].detach()
    lam_auto = float(m["lam_chosen"])
    settings = p.weight_settings
    gammas = (("gcv1", 1.0), ("gcv", settings.gamma))
    m_data = frame_data(p.model)[1]  # the rule's data count (criterion's m)
    lams = {}
    for k, ch in enumerate(p.weight_searches):
        for name, v in steps_of(ch, gammas, m_data).items():
            lams[f"s{k}_{name}"] = v
    lams["auto"] = lam_auto
    grid = [lam_auto * 2 ** (j / 2) for j in steps]
    out = {"set": describe({"image": spec["kind"], **spec, "channels": 1}), "spec": spec, "cpu_auto": cpu,
           "metrics": {k: float(v) for k, v in m.items() if k.startswith("lam_") and isinstance(v, (int, float))},
           "details": [dict(ch.details) for ch in p.weight_searches],
           "curves": [{k: [float(x) for x in v] for k, v in ch.curve.items()} for ch in p.weight_searches],
           "estimated": scored(p, w, lams, grid)}
    if true:
        wt = p.w_true.to(w)
        gen = ctx.generator(int(p.cfg.lam_seed))
        ch = choose_superres_weight(p, wt, replace(settings), gen)
        t_lams = {f"t_{k}": v for k, v in steps_of(ch, gammas, m_data).items()}
        out["true"] = scored(p, wt, t_lams, [ch.lam * 2 ** (j / 2) for j in steps])
        out["true_details"] = dict(ch.details)
        out["true_curve"] = {k: [float(x) for x in v] for k, v in ch.curve.items()}
    return out


def table(rows) -> str:
    lines = ["| set | auto λ (PSNR) | peak λ (PSNR) | step: λ (Δ dB from peak) ... | true motion: steps (Δ dB) | true peak |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        e = r["estimated"]
        cells = [f"{k} {e['weights'][k]:.3g} ({e['psnr'][k] - e['peak_psnr']:+.2f})" for k in e["weights"]]
        t = r.get("true")
        tc = "; ".join(f"{k[2:]} {t['weights'][k]:.3g} ({t['psnr'][k] - t['peak_psnr']:+.2f})" for k in t["weights"]) \
            if t else ""
        tp = f"{t['peak_lam']:.3g} ({t['peak_psnr']:.2f})" if t else ""
        lines.append(f"| {r['set']} | {e['weights']['auto']:.3g} ({e['psnr']['auto']:.2f}) | "
                     f"{e['peak_lam']:.3g} ({e['peak_psnr']:.2f}) | {'; '.join(cells)} | {tc} | {tp} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-6, 3)))
    ap.add_argument("--true", action="store_true", help="also the search at the true motion")
    ap.add_argument("--supersample", type=int, default=4, help="bench_lambda_sr's --supersample the sets were drawn "
                    "with (4: batches E-O; 8: batch P)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--table", type=Path, nargs="+", help="no runs: the markdown table of these --out files")
    args = ap.parse_args(argv)
    run_sets(args, table, lambda ctx, tmp, spec: one_set(ctx, tmp, spec, args.steps, args.true, args.supersample),
             lambda rows: table(rows).splitlines()[-1])


def run_sets(args, table, one, show) -> None:
    """The loop the SR diagnosis scripts share: with --table, print the markdown of stored --out files; else run
    `one(ctx, tmp, spec)` per --set on one CPU thread, its CPU seconds added, the rows rewritten to --out after each
    set (a long run stopped keeps what it measured) and `show(last_rows)` printed."""
    if args.table:
        print(table([r for f in args.table for r in json.loads(f.read_text())]))
        return
    if not args.sets or args.out is None:
        raise SystemExit("--set and --out are needed (or --table)")
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            c0 = time.process_time()
            rows.append(one(ctx, Path(tmp), spec))
            rows[-1]["cpu_s"] = time.process_time() - c0
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(rows, indent=1, default=float))
            print(show(rows[-1:]), flush=True)


if __name__ == "__main__":
    main()
