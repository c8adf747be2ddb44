"""Why cv's pick on the pixel grid can lie far under the pixel grid's PSNR optimum: cv's held-out misfit (raw
reference, plain, solver.lam_cv_fold's interior offset, as solver.lam_cv_pixel_grid's search scores it) split
with the file's noise-free sinogram and truth (scripts/heldout_ct_sinograms.py's .npz) into its parts, per weight:

    |A x - b|^2 = |A x - c|^2 + |c - b|^2 + 2 <A x - c, c - b>          (b the data, c noise-free, held-out views)
    |A x - c|^2 = |A (x - t)|^2 + |A t - c|^2 + 2 <A (x - t), A t - c>  (t the truth on the pixel grid)

|c - b|^2 is the noise (the same at every weight), |A t - c|^2 the pixel model's error (the sub-pixel detail the
4x-finer simulation holds and the pixel grid cannot), and of the weight-dependent parts |A (x - t)|^2 is the image
error the held-out views see and 2 <A (x - t), A t - c> what the model error adds to it. Also per weight: the same
cv run on the noise-free training views (cv_clean: x trained on c, scored against c: the model error's own
preference), on data without model error (cv_consistent: A t plus the same noise, trained and scored on it, and
consistent_psnr its all-view run's PSNR), the ramp-weighted misfits (cv_ramp, image_ramp, cv_clean_ramp), the model's best fit to the noise-free held-out views (least squares on all views, CG; what of
|A t - c|^2 a pixel image can reach) and the PSNR of the all-view run. docs/ct.md "(cttruss)".

    python scripts/ct_cv_pixel_parts.py FILE.npz [FILE.npz ...] --out OUT/parts.json --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def parts(path: str, lo: float, hi: float, points: int, cg_iters: int, offset: int | None = None) -> dict:
    from bench_lambda_ct import case_from_file
    from regrun.config import config_section
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import held_out_misfit, training_fista, view_split

    d = np.load(path)
    p, (obj, size, views, photons) = case_from_file(Path(path))
    clean = torch.as_tensor(d["clean"], dtype=torch.float64)
    t = p.truth  # the truth on the pixel grid, in the support
    b = p.sinogram
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=1)
    iters = int(cfg.iters)
    ug = UnknownGrid(p, 1)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    fold = min(int(cfg.lam_cv_fold), b.shape[0])
    train, held = view_split(b.shape[0], fold, offset)
    sub = training_fista(p, fista, train, int(cfg.power_iters))
    share = b.shape[0] / len(train)  # an all-view weight lam is lam / share on the training views
    A = p.A.project
    consistent = A(t) + (b - clean)
    n_held = held.numel() * b.shape[1]

    def mean_sq(r):
        return float(r.pow(2).sum()) / n_held

    # the pixel model's best fit to the noise-free sinogram, all views (CG on the normal equations from t): the part
    # of the model error on the held-out views that no pixel image removes
    mask = p.mask
    x = t.clone()
    r = (p.A.backproject(clean - A(x))) * mask
    q = r.clone()
    rr = float((r * r).sum())
    for _ in range(cg_iters):
        Aq = A(q)
        alpha = rr / float((Aq * Aq).sum())
        x = x + alpha * q
        r = r - alpha * p.A.backproject(Aq) * mask
        rr, rr_old = float((r * r).sum()), rr
        q = r + (rr / rr_old) * q
    best_fit = x
    out = {"file": Path(path).name, "object": obj, "size": size, "views": views, "photons": photons,
           "fold": fold, "held_views": held.tolist(), "iters": iters,
           "noise": mean_sq(clean[held] - b[held]),
           "model_error": mean_sq(A(t)[held] - clean[held]),
           "model_error_all_views": float((A(t) - clean).pow(2).mean()),
           "best_fit_held": mean_sq(A(best_fit)[held] - clean[held]),
           "best_fit_all_views": float((A(best_fit) - clean).pow(2).mean()), "cg_iters": cg_iters, "rows": []}
    for lam in log_grid(lo, hi, points):
        lam = float(lam)
        with torch.no_grad():
            w = torch.tensor(lam / share, dtype=torch.float64)
            xn = sub.solve(w, iters)
            sub.data = clean[train]
            xc = sub.solve(w, iters)
            # the counterfactual without model error: data the pixel model holds exactly (A t) plus the same noise
            sub.data = consistent[train]
            xk = sub.solve(w, iters)
            sub.data = b[train]
            xa = fista.solve(torch.tensor(lam, dtype=torch.float64), iters)
            fista.data = consistent
            xka = fista.solve(torch.tensor(lam, dtype=torch.float64), iters)
            fista.data = b
        pn, pt = A(xn)[held], A(t)[held]
        row = {"lam": lam, "psnr": p.quality(ug.output(xa) * mask)["psnr"],
               "cv": mean_sq(pn - b[held]),
               "signal": mean_sq(pn - clean[held]),
               "noise_cross": 2 * float(((pn - clean[held]) * (clean[held] - b[held])).sum()) / n_held,
               "image": mean_sq(pn - pt),
               "model_cross": 2 * float(((pn - pt) * (pt - clean[held])).sum()) / n_held,
               "cv_clean": mean_sq(A(xc)[held] - clean[held]),
               "train_psnr": p.quality(xn * mask)["psnr"],
               # the ramp-weighted misfit (solver.lam_cv_weight=ramp's): the held-out views' image error by
               # the projection-slice theorem, where the plain one weights each frequency by 1 / |f| more
               "cv_ramp": held_out_misfit(pn - b[held], "ramp"), "image_ramp": held_out_misfit(pn - pt, "ramp"),
               "cv_clean_ramp": held_out_misfit(A(xc)[held] - clean[held], "ramp"),
               "cv_consistent": mean_sq(A(xk)[held] - consistent[held]),
               "consistent_psnr": p.quality(ug.output(xka) * mask)["psnr"]}
        out["rows"].append(row)
        print(f"{obj} lam {lam:.4g}: psnr {row['psnr']:.2f} cv {row['cv']:.5g} signal {row['signal']:.5g} "
              f"image {row['image']:.5g} model_cross {row['model_cross']:+.5g} noise_cross "
              f"{row['noise_cross']:+.4g} cv_clean {row['cv_clean']:.5g} train_psnr {row['train_psnr']:.2f} cv_ramp "
              f"{row['cv_ramp']:.5g} image_ramp {row['image_ramp']:.5g} cv_consistent {row['cv_consistent']:.5g} "
              f"consistent_psnr {row['consistent_psnr']:.2f}", flush=True)
    rows = out["rows"]
    for key in ("psnr", "train_psnr", "cv", "signal", "image", "cv_clean", "cv_ramp", "image_ramp",
                "cv_clean_ramp", "cv_consistent", "consistent_psnr"):
        vals = [r[key] for r in rows]
        i = int(np.argmax(vals) if key.endswith("psnr") else np.argmin(vals))
        out[f"best_{key}"] = {"lam": rows[i]["lam"], "value": vals[i], "psnr": rows[i]["psnr"]}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--lam-lo", type=float, default=0.01)
    ap.add_argument("--lam-hi", type=float, default=3.0)
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--cg-iters", type=int, default=200)
    ap.add_argument("--offset", type=int, default=None,
                    help="the fold's offset (default the interior one, fold // 2, cv's primary)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    res = []
    for f in args.files:
        t0, c0 = time.perf_counter(), time.process_time()
        r = parts(f, args.lam_lo, args.lam_hi, args.points, args.cg_iters, args.offset)
        r["wall_s"], r["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        res.append(r)
        Path(args.out).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
