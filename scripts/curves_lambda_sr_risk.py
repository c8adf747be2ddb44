#!/usr/bin/env python
"""The image's error against the frames' error over lambda_f (issues 16 and 21, srunder): exact curves on small sets.

Per frame set (bench_lambda_sr's sets, --set): varpro_cg with lambda_f=auto as the user runs it, then at its final
motion w, exactly (dense, n fine pixels up to --max-pixels), over lambda = auto's x 2^(j/2), j in --steps:

- PSNR of f(lambda) = (G + lambda^2 R)^-1 A^T b (G = A_d^T A_d, R = h_f L^T L, b the frames in model units);
- GCV (gamma 1.2, the rule `auto` uses) m ||r||^2 / (m - gamma tr H)^2, tr H exact;
- the oracle error ||f - x||^2 (x the truth: what PSNR measures) and ||P (f - x)||^2;
- generalized SURE of the image's error (Eldar 2009), without the truth: with x_ML = G^+ A^T b,
  GSURE_P(lambda) = ||P f||^2 - 2 f^T P x_ML + 2 s^2 tr(P (G + lambda^2 R)^-1) (+ ||P x||^2, a constant), s^2 = h_d
  sigma^2 the model-unit noise; P the projection on G's eigenvectors with eigenvalue > tau x the largest (--tau;
  tau = 0: P = I). Unbiased for E ||P (f - x)||^2 when E b = A x (no model error).

Exact by one generalized eigendecomposition: G = C C^T, C^-1 R C^-T = W N W^T, U = C^-T W, so
(G + lambda^2 R)^-1 = U diag(1 / (1 + lambda^2 nu)) U^T and every lambda costs O(n^2). The model error
||A x - b||^2 / (m s^2) (1 if the frames were the model's prediction of the truth plus noise) is printed too.

    python scripts/curves_lambda_sr_risk.py --supersample 4 --set phantom,64,16,0.01,12001 --out OUT/risk
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from bench_lambda_sr import parse_set  # scripts/bench_lambda_sr.py
from curves_lambda_sr_cv import auto_at_fixed_start, write  # the same frame sets and start as the CV curves

from regrun.context import RunContext
from regrun.metrics import psnr
from regrun.registration.superres_weight import frame_data


def spectral(G: torch.Tensor, R: torch.Tensor):
    """U, nu with (G + lam^2 R)^-1 = U diag(1/(1 + lam^2 nu)) U^T (G made definite by 1e-12 x its mean diagonal:
    fine pixels no frame sees)."""
    eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
    C = torch.linalg.cholesky(G + 1e-12 * float(G.diagonal().mean()) * eye)
    Ci = torch.linalg.solve_triangular(C, eye, upper=False)
    nu, W = torch.linalg.eigh(Ci @ R @ Ci.T)
    return Ci.T @ W, nu.clamp_min(0)


def gsure_terms(D: torch.Tensor, beta: torch.Tensor, MP: torch.Tensor) -> tuple[float, float]:
    """(||P f||^2 - 2 f^T P x_ML, tr P (G + lam^2 R)^-1) at one weight, in spectral() coordinates: f = U (D beta),
    x_ML = U beta, D = 1/(1 + lam^2 nu), MP = (P U)^T (P U). GSURE = first + 2 s^2 second (+ ||P x||^2)."""
    c = D * beta
    return float(c @ (MP @ c)) - 2 * float(c @ (MP @ beta)), float((D * MP.diagonal()).sum())


def curve(ctx, path: Path, spec, steps, taus, consistent: bool) -> dict:
    p, res, cpu_auto = auto_at_fixed_start(ctx, path, gain=False)
    lam_auto = float(res.metrics["lam_chosen"])
    sigma = float(res.metrics["noise_sigma"])
    w = res.solution["w"].detach()
    m_ = p.model
    t1 = time.process_time()
    m_.set_weight(0.0)
    G, R = m_.normal_matrix(w), m_.regulariser_gram()
    op = m_.operator(w, fixed=True)
    d, m = frame_data(m_)
    zeros = torch.zeros(m_.n_reg, dtype=d.dtype)
    b = m_.sqrt_hd * d
    Atb = op.rmatvec(torch.cat((b, zeros)))
    # the noise as the bench made it (noise x the frames' spread) beside the rule's estimate (Immerkaer)
    sigma_true = spec["noise"] * float(p.model.frames.std())
    s2 = m_.sqrt_hd**2 * sigma_true**2
    s2_est = m_.sqrt_hd**2 * sigma**2
    x = p.truth.reshape(-1)
    model_error = float(((op.matvec(x)[: m_.n_data] - b) ** 2).sum()) / (m * s2)
    if consistent:  # the control: frames that are the model's prediction of the truth plus white noise, no model error
        gen = torch.Generator().manual_seed(spec["seed"])
        mask = m_.data_mask().reshape(-1)
        b = (op.matvec(x)[: m_.n_data] + m_.sqrt_hd * sigma_true * torch.randn(m_.n_data, generator=gen,
                                                                                  dtype=b.dtype)) * mask
        Atb = op.rmatvec(torch.cat((b, zeros)))
    U, nu = spectral(G, R)
    beta = U.T @ Atb  # x_ML = U beta (G^-1 A^T b)
    ev, V = torch.linalg.eigh(G) if any(t > 0 for t in taus) else (None, None)  # P = I needs no eigenvectors
    proj = {}
    for tau in taus:
        Vk = V[:, ev > tau * float(ev.max())] if tau > 0 else None
        Q = U if Vk is None else Vk.T @ U  # coefficients of P U in an orthonormal basis
        MP = Q.T @ Q
        Px = x if Vk is None else Vk @ (Vk.T @ x)
        proj[tau] = (MP, Px, 0 if Vk is None else Vk.shape[1], Vk)
    cpu_spectral = time.process_time() - t1
    bb = float(b @ b)
    rows = []
    for j in steps:
        lam = lam_auto * 2 ** (j / 2)
        D = 1 / (1 + lam**2 * nu)
        c = D * beta
        f = U @ c
        trH = float(D.sum())
        rss = (bb - 2 * float(f @ Atb) + float(f @ (G @ f))) / m_.sqrt_hd**2  # frame units
        row = {"lam": lam, "psnr": psnr(f.reshape(p.truth.shape).numpy(), p.truth.numpy()),
               "gcv": m * rss / (m - 1.2 * trH) ** 2, "trH": trH, "rss": rss, "err": float(((f - x) ** 2).sum()),
               # the oracle's prediction error ||A (f - x)||^2 (frame units): the frames' error, were they A x + noise
               "perr": float((f - x) @ (G @ (f - x))) / m_.sqrt_hd**2}
        for tau, (MP, Px, k, Vk) in proj.items():
            Pf = f if Vk is None else Vk @ (Vk.T @ f)
            fit, tr = gsure_terms(D, beta, MP)
            fit += float(Px @ Px)  # the constant added back: comparable with the oracle
            row[f"gsure_{tau:g}"] = fit + 2 * s2 * tr  # true sigma: comparable with the oracle err_tau
            row[f"gsureest_{tau:g}"] = fit + 2 * s2_est * tr  # the frames' estimate of sigma
            row[f"err_{tau:g}"] = float(((Pf - Px) ** 2).sum())
        rows.append(row)
    out = {"consistent": consistent, "set": f"{spec['kind']} {spec['size']}^2/{spec['frames']} {spec['noise']:g} s{spec['seed']}",
           "spec": spec, "lam_auto": lam_auto, "sigma": sigma, "sigma_true": sigma_true, "model_error": model_error, "cpu_auto": cpu_auto,
           "cpu_spectral": cpu_spectral, "rank": {f"{t:g}": v[2] for t, v in proj.items()}, "rows": rows}
    for key in ["psnr", "gcv", "err", "perr"] + [f"{k}_{t:g}" for t in taus for k in ("gsure", "gsureest", "err")]:
        pick = (max if key == "psnr" else min)(rows, key=lambda r: r[key])
        out[f"lam_{key}"] = pick["lam"]
        out[f"psnr_at_{key}"] = pick["psnr"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--steps", type=int, nargs="+", default=list(range(-4, 7)), help="weights auto's x 2^(j/2)")
    ap.add_argument("--tau", type=float, nargs="+", default=[0.0, 1e-4, 1e-3, 1e-2])
    ap.add_argument("--consistent", action="store_true", help="the control: the frames replaced by A x + noise at "
                    "auto's motion (x the truth, sigma the bench's): no model error, GSURE unbiased")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sets:
            r = curve(ctx, write(Path(tmp), spec, args.supersample), spec, args.steps, args.tau, args.consistent)
            out.append(r)
            mins = ", ".join(f"{k[4:]} {r[k]:.3g} ({r['psnr_at_' + k[4:]]:.2f})" for k in r if k.startswith("lam_")
                             and k != "lam_auto")
            print(f"{r['set']}: auto {r['lam_auto']:.3g}, sigma {r['sigma']:.3g} (true {r['sigma_true']:.3g}), model error x{r['model_error']:.2f}"
                  f", rank {r['rank']}; CPU auto {r['cpu_auto']:.1f} s, spectral {r['cpu_spectral']:.1f} s\n  "
                  f"minima: {mins}", flush=True)
            args.out.with_suffix(".json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
