"""Held-out misfit of cross-validation over views against four references (docs/ct.md, "Fifth round": the
10^3-photon misses): on a log grid of lambda (all-view units), the all-view PSNR and, for offsets 4 and 0 of fold
8, the training reconstruction's PSNR and its held-out misfit against the resolved reference (h * b, the
solver's), the raw views, the noise-free views (the case file's `clean`) and the raw views weighted by the
inverse Poisson variance (counts / photons, from the data). If even the noise-free reference's minimum is away
from the image optimum, the criterion, not the noise, misleads. Case files from scripts/heldout_ct_sinograms.py.

    python scripts/diag_lambda_cv_lowdose.py outputs/heldout_ct_3102/cells_128_30_1e+03.npz --out outputs/bench/lowdose.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))


def main(argv=None):
    from bench_lambda_ct import case_from_file
    from diag_lambda_cv_offsets import default_fista
    from heldout_ct_sinograms import FLOOR
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv_weight import training_fista, view_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--lam", type=float, nargs=3, default=[0.03, 30.0, 11], help="lo hi points (all-view units)")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/lowdose_diag.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lams = log_grid(args.lam[0], args.lam[1], int(args.lam[2]))
    l = np.asarray(lams)
    out = {}
    for f in args.cases:
        d = np.load(f)
        p, (obj, size, views_, photons) = case_from_file(f)
        name = f"{obj} {size}^2, {views_} views, {photons:.0e}"
        fista, cfg, hb = default_fista(p)
        iters = int(cfg.iters)
        b = p.sinogram
        views = b.shape[0]
        clean = torch.as_tensor(d["clean"])
        kappa = -math.log(FLOOR) / float(d["clean"].max())  # the generator's units
        w = torch.exp(-kappa * b).clamp_min(1.0 / float(d["photons"]))  # ~ 1 / variance of the log data
        rec = {"lams": l.tolist(), "psnr": [], "offsets": {}}
        with torch.no_grad():
            for lam in lams:
                rec["psnr"].append(p.quality(fista.solve(torch.tensor(float(lam)), iters) * p.mask)["psnr"])
            for k in (4, 0):
                train, held = view_split(views, 8, k)
                sub = training_fista(p, fista, train, int(cfg.power_iters))
                r = {key: [] for key in ("train_psnr", "resolved", "raw", "clean", "weighted")}
                for lam in lams:
                    x = sub.solve(torch.tensor(float(lam) * len(train) / views), iters)
                    r["train_psnr"].append(p.quality(x * p.mask)["psnr"])
                    px = p.A.project(x)[held]
                    r["resolved"].append(float((px - hb[held]).pow(2).mean()))
                    r["raw"].append(float((px - b[held]).pow(2).mean()))
                    r["clean"].append(float((px - clean[held]).pow(2).mean()))
                    r["weighted"].append(float(((px - b[held]).pow(2) * w[held]).mean()))
                rec["offsets"][k] = r
        print(name, "all-view peak", round(float(l[int(np.argmax(rec["psnr"]))]), 3), flush=True)
        for k, r in rec["offsets"].items():
            best = {key: round(float(l[int(np.argmax(v) if key == "train_psnr" else np.argmin(v))]), 3)
                    for key, v in r.items()}
            print("  offset", k, best, flush=True)
        out[str(f)] = rec
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out))


if __name__ == "__main__":
    main()
