#!/usr/bin/env python
"""Estimation-domain weight rules on small frames (srgcv20, issue 16): does a risk of the IMAGE, estimated without
the truth, pick nearer the image's best weight than GCV (the frames' prediction risk) where GCV under-picks?

Per grey frame set (bench_lambda_sr.py's sets, supersample 8, written noisy and noiseless): `auto` as the user runs it
(varpro_cg, the problem's defaults: diag_sr_small_weight.run_set's run), then at its final motion, exactly (dense:
the fine image up to WEIGHT_CHOLESKY_MAX_PIXELS), on a log grid of weights, through one generalized eigendecomposition
(curves_lambda_sr_risk.spectral: (G + lam^2 R)^-1 = U diag(1 / (1 + lam^2 nu)) U^T, G = A^T A, R = h_f L^T L):
- the truth's: PSNR, and the prediction's error against the noiseless frames (`risk`, what GCV estimates);
- GCV (gamma 1.2, the rule `auto` uses) with the exact trace;
- generalized SURE of the image's error (Eldar 2009), GSURE = ||P f||^2 - 2 f^T P x_ML + 2 s^2 tr(P (G + lam^2 R)^-1),
  x_ML = G^-1 A^T b (the system is overdetermined: frames x pixels > fine pixels), P = I or the projection on G's
  eigenvectors above tau x the largest (Giryes, Elad and Eldar 2011), with s^2 from four noises: the truth's
  (the noisy frames less the noiseless ones: an oracle, to tell the estimator's error from the noise's), the least
  squares residual ||b - A x_ML||^2 / (m - n) (its degrees of freedom), the frames' estimate the rule uses, and the
  fit's residual ||r||^2 / (m - tr H) at GCV's minimum;
- GSURE with a regularised reference in place of x_ML (whose amplified model error sinks GSURE: srunder):
  ||f - f_r||^2 + 2 s^2 tr Cov(f, f_r) / sigma^2, f_r = f at REFS x GCV's minimum or at `auto`'s weight (its bias
  taken as small; rgsure_KEY_auto, with the noises above and the fit's residual at auto's weight, res_auto, and the
  smaller of that and the frames' estimate, min_auto);
- GCV on the estimation error: n ||x_ML - f||^2 / (n - tr H)^2 (the residual weighted by (A^T A)^-1 A^T) and its
  projected form.
The model error ||A x - b||^2 / (m s^2) (1 where the frames are the model's prediction of the truth plus noise)
is printed beside. --report prints each pick's gap to the grid's PSNR peak.

    PYTHONPATH=. python scripts/diag_sr_gsure_small.py --out OUT/dev_A --set sk:camera@60:400,28,16,0.03,9382,translation
    PYTHONPATH=. python scripts/diag_sr_gsure_small.py --report OUT/dev_A.json OUT/dev_B.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from bench_lambda_sr import parse_set  # scripts/bench_lambda_sr.py: the same frame sets
from curves_lambda_sr_risk import spectral  # scripts/curves_lambda_sr_risk.py (srunder): the exact spectral form
from diag_sr_black_ground import problem  # scripts/diag_sr_black_ground.py (srlow16): the user's problem
from diag_sr_small_weight import interp_psnr, write_frames  # scripts/diag_sr_small_weight.py (srsmallw)

from regrun.config import config_section
from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.monitor import Monitor
from regrun.registration.superres_weight import WEIGHT_CHOLESKY_MAX_PIXELS, frame_data
from regrun.solvers.varpro_cg import VarProCG

TAUS = (0.0, 1e-3, 1e-2)
NOISES = ("true", "ls", "est", "res")
REFS = (0.25, 0.5, 1.0)  # the reference image's weight, x GCV's minimum on the grid


def reference_terms(D: torch.Tensor, D_r: torch.Tensor, beta: torch.Tensor, M: torch.Tensor) -> tuple[float, float]:
    """(||f - f_r||^2, tr Cov(f, f_r) / s^2) in spectral() coordinates: f = U (D beta), f_r = U (D_r beta),
    M = U^T U; Cov(f, f_r) = s^2 (G + lam^2 R)^-1 G (G + lam_r^2 R)^-1 = s^2 U diag(D D_r) U^T (U^T G U = I).
    The reference GSURE is the first + 2 s^2 the second: E of it = E||f - x||^2 + E||f_r - x||^2
    - 2 (E f - x).(E f_r - x), the image's error up to a constant where the reference is unbiased."""
    dc = (D - D_r) * beta
    return float(dc @ (M @ dc)), float((D * D_r * M.diagonal()).sum())


def run_set(spec, root: Path, grid, spectra: Path | None = None) -> dict:
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    stem = f"{root.name}_{spec['kind'].replace(':', '_').replace('@', '_')}_{spec['seed']}"
    paths = {k: root.with_name(f"{stem}_{k}.npz") for k in ("noisy", "clean")}
    write_frames(spec, paths["noisy"], spec["noise"])
    write_frames(spec, paths["clean"], 0.0)
    p, clean = problem(paths["noisy"], ctx), problem(paths["clean"], ctx)
    if p.colour is not None:
        raise SystemExit(f"diag_sr_gsure_small: {spec['kind']} is a colour set; give its grey twin")
    if p.model.n > WEIGHT_CHOLESKY_MAX_PIXELS:
        raise SystemExit(f"diag_sr_gsure_small: {p.model.n} fine pixels, over the dense limit {WEIGHT_CHOLESKY_MAX_PIXELS}")
    t0 = time.process_time()
    res = VarProCG(config_section("solver", "varpro_cg"), ctx).solve(p, Monitor())
    metrics, _ = p.evaluate(res)
    cpu_run = time.process_time() - t0
    t0 = time.process_time()
    w = res.solution["w"].detach()
    model = p.model
    model.reference_weight(w)
    model.set_weight(0.0)
    G, R = model.normal_matrix(w), model.regulariser_gram()
    op = model.operator(w, fixed=True)
    d, m = frame_data(model)
    n = model.n
    zeros = torch.zeros(model.n_reg, dtype=d.dtype)
    hd = model.sqrt_hd**2
    b = model.sqrt_hd * d
    Atb = op.rmatvec(torch.cat((b, zeros)))
    mask = model.data_mask()
    target = ((clean.model.frames + clean.level - p.level) * mask).reshape(-1)  # the noiseless frames, p's level
    truth = p.truth.numpy()
    x = torch.as_tensor(truth - p.level, dtype=d.dtype).reshape(-1)
    U, nu = spectral(G, R)
    beta = U.T @ Atb  # x_ML = U beta
    x_ml = U @ beta
    bb = float(b @ b)
    rss_ls = (bb - 2 * float(x_ml @ Atb) + float(x_ml @ (G @ x_ml))) / hd
    # the noises, frame units: the truth's (noisy less noiseless frames on the kept pixels), the least squares
    # residual's with its degrees of freedom, the frames' estimate the rule uses
    s_true = float(((d - target) ** 2).sum() / m) ** 0.5
    sig = {"true": s_true, "ls": (rss_ls / (m - n)) ** 0.5, "est": float(p.weight_choice.sigma)}
    model_error = float(((op.matvec(x)[: model.n_data] - b) ** 2).sum()) / hd / (m * s_true**2)
    ev, V = torch.linalg.eigh(G)
    proj = {}
    for tau in TAUS:
        Vk = V[:, ev > tau * float(ev.max())] if tau > 0 else None
        Q = U if Vk is None else Vk.T @ U
        # diag(U^T G P U): tr(P H_x) = sum D_i of it, H_x = (G + lam^2 R)^-1 G (U^T G U = I)
        gp = torch.ones(n, dtype=d.dtype) if Vk is None else ((Q**2) * ev[ev > tau * float(ev.max())][:, None]).sum(0)
        proj[tau] = (Q.T @ Q, Vk, gp)
    rows = []
    for lam in map(float, grid):
        D = 1 / (1 + lam**2 * nu)
        c = D * beta
        f = U @ c
        trH = float(D.sum())
        rss = (bb - 2 * float(f @ Atb) + float(f @ (G @ f))) / hd
        pred = op.matvec(f)[: model.n_data] / model.sqrt_hd
        row = {"lam": lam, "psnr": psnr(f.reshape(p.fine.m).numpy() + p.level, truth), "rss": rss, "trH": trH,
               "gcv": m * rss / (m - 1.2 * trH) ** 2, "risk": float(((pred - target) ** 2).sum()),
               "err": float(((f - x) ** 2).sum())}
        for tau, (MP, Vk, gp) in proj.items():
            fit = float(c @ (MP @ c)) - 2 * float(c @ (MP @ beta))
            tr = float((D * MP.diagonal()).sum())
            row[f"fit_{tau:g}"], row[f"tr_{tau:g}"] = fit, tr
            resid = (1 - D) * beta  # x_ML - f in U's coordinates
            k = n if Vk is None else Vk.shape[1]
            # GCV of the estimation error: its residual over the residual's degrees of freedom in that space
            row[f"egcv_{tau:g}"] = k * float(resid @ (MP @ resid)) / (k - float((D * gp).sum())) ** 2
        rows.append(row)
    gcv_min = min(rows, key=lambda r: r["gcv"])
    sig["res"] = (gcv_min["rss"] / (m - gcv_min["trH"])) ** 0.5
    M = proj[0.0][0]  # U^T U: ||f - f_r||^2 and tr Cov(f, f_r) / s^2 = sum D D_r diag(M)
    lam_auto = float(p.weight_choice.lam)
    D_a = 1 / (1 + lam_auto**2 * nu)
    c_a = D_a * beta
    rss_a = (bb - 2 * float(c_a @ beta) + float(c_a @ c_a)) / hd  # U^T G U = I, U^T A^T b = beta
    sig["res_auto"] = (rss_a / (m - float(D_a.sum()))) ** 0.5  # the fit's residual at auto's weight
    sig["min_auto"] = min(sig["est"], sig["res_auto"])  # the smaller of the filter's and the fit's (srnoise's form)
    for ref in (*REFS, "auto"):
        lam_r = lam_auto if ref == "auto" else gcv_min["lam"] * ref
        D_r = 1 / (1 + lam_r**2 * nu)
        tag = ref if ref == "auto" else f"{ref:g}"
        for row in rows:
            row[f"ref_{tag}"], row[f"refcov_{tag}"] = reference_terms(1 / (1 + row["lam"] ** 2 * nu), D_r, beta, M)
            for key in (*NOISES, "res_auto", "min_auto") if ref == "auto" else NOISES:
                row[f"rgsure_{key}_{tag}"] = row[f"ref_{tag}"] + 2 * hd * sig[key] ** 2 * row[f"refcov_{tag}"]
    if spectra is not None:  # everything a rule at this motion reads, for rules tried offline
        spectra.mkdir(parents=True, exist_ok=True)
        np.savez(spectra / f"{stem}.npz", nu=nu.numpy(), beta=beta.numpy(), M=M.numpy(), Utx=(U.T @ x).numpy(),
                 xx=float(x @ x), bb=bb, hd=hd, m=m, n=n, peak=float(truth.max() - truth.min()),
                 **{f"sigma_{k}": v for k, v in sig.items()})
    for row in rows:
        for tau in TAUS:
            for key in NOISES:
                row[f"gsure_{key}_{tau:g}"] = row[f"fit_{tau:g}"] + 2 * hd * sig[key] ** 2 * row[f"tr_{tau:g}"]
    out = {"set": {k: str(v) for k, v in spec.items()}, "lam_auto": float(p.weight_choice.lam),
           "psnr_auto": float(metrics["psnr"]), "frame_px": list(map(int, model.coarse.m)), "frames": int(model.q + 1),
           "m": m, "n": n, "sigma": sig, "model_error": model_error, "cpu_run": cpu_run,
           "cpu_curves": time.process_time() - t0, "rows": rows}
    for path in paths.values():
        path.unlink()
    return out


def pick_keys(rec) -> list[str]:
    return ["gcv", "risk"] + [k for k in rec["rows"][0] if k.startswith(("gsure_", "egcv_", "rgsure_"))]


def derived(rec) -> None:
    """Two GCV variants read from the stored curve, for comparison: gamma 1.5 (srsmallw's lever) and the largest
    weight whose GCV is within 1% of its minimum on the grid (its flat stretch)."""
    rows, m = rec["rows"], rec["m"]
    low = min(r["gcv"] for r in rows)
    top = max(r["lam"] for r in rows if r["gcv"] <= 1.01 * low and r["lam"] >= min(rows, key=lambda q: q["gcv"])["lam"])
    for r in rows:
        r["gcv_g1.5"] = m * r["rss"] / (m - 1.5 * r["trH"]) ** 2
        r["gcv_flat1%"] = 0.0 if r["lam"] == top else 1.0


def report(paths: list[Path], keys: list[str] | None) -> None:
    recs = [r for path in paths for r in json.loads(path.read_text())]
    for rec in recs:
        derived(rec)
    names = ["auto", *(keys or pick_keys(recs[0]))]
    print("| set | frame px / K | model error | σ true / ls / est / res | peak λ (PSNR) | " + " | ".join(names) + " |")
    print("|---" * (5 + len(names)) + "|")
    sums = {k: [] for k in names}
    for rec in recs:
        rows = rec["rows"]
        pk = max(rows, key=lambda r: r["psnr"])
        cells = []
        for k in names:
            if k == "auto":
                lam, gap = rec["lam_auto"], rec["psnr_auto"] - pk["psnr"]
            else:
                lam = min(rows, key=lambda r: r[k])["lam"]
                gap = interp_psnr(rows, lam) - pk["psnr"]
            sums[k].append((gap, math.log2(lam / pk["lam"])))
            cells.append(f"{lam:.3g} ({gap:+.2f})")
        s, sg = rec["set"], rec["sigma"]
        print(f"| {s['kind']} {s['size']}²/{s['frames']} {float(s['noise']):g} s{s['seed']} | {rec['frame_px'][0]} / "
              f"{rec['frames']} | {rec['model_error']:.2f} | {sg['true']:.3g} / {sg['ls']:.3g} / {sg['est']:.3g} / "
              f"{sg['res']:.3g} | {pk['lam']:.3g} ({pk['psnr']:.2f}) | " + " | ".join(cells) + " |")
    print(f"\n{len(recs)} sets; Δ: the pick's PSNR (log-interpolated on the grid) less the grid's peak at the final "
          "motion; against `auto`: the pick's Δ less auto's (its own answer)\n\n| pick | summed Δ dB | sets > 0.5 dB under "
          "the peak | median log2(pick/peak) | against auto: summed, better / worse by > 0.1 dB, worst |\n|---|---|---|---|---|")
    base = np.array(sums["auto"])[:, 0]
    for k in names:
        a = np.array(sums[k])
        v = a[:, 0] - base
        print(f"| {k} | {a[:, 0].sum():+.2f} | {int((a[:, 0] < -0.5).sum())} | {np.median(a[:, 1]):+.2f} | "
              f"{v.sum():+.2f}, {int((v > 0.1).sum())} / {int((v < -0.1).sum())}, {v.min():+.2f} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set)
    ap.add_argument("--grid", type=float, nargs=3, default=[0.0125, 1.6, 29], metavar=("LO", "HI", "POINTS"),
                    help="log grid of weights at the final motion")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--report", type=Path, nargs="+")
    ap.add_argument("--keys", nargs="+", help="--report: these picks only")
    ap.add_argument("--spectra", type=Path, help="write each set's spectral form here (.npz) for rules tried offline")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.report:
        report(args.report, args.keys)
        return
    if not args.sets or args.out is None:
        raise SystemExit("diag_sr_gsure_small: --set and --out, or --report")
    torch.set_num_threads(args.threads)
    grid = np.geomspace(args.grid[0], args.grid[1], int(args.grid[2]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in args.sets:
        rec = run_set(spec, args.out, grid, args.spectra)
        out.append(rec)
        args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))
        print(f"{spec['kind']} s{spec['seed']}: auto {rec['lam_auto']:.3g} ({rec['psnr_auto']:.2f}); "
              f"CPU run {rec['cpu_run']:.1f} s, curves {rec['cpu_curves']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
