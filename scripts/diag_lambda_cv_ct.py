"""Why cross-validation over views picks the wrong lambda (docs/ct.md, "Why cv missed at low noise"): on a 13-point
log grid of lambda (all-view units), the all-view reconstruction's PSNR and, for each of the 4 folds, the training
reconstruction's PSNR and its held-out misfit against the data (noisy), the noise-free data (clean), the cell-
averaged truth's projections (model: no model error), the data at the pixel model's resolution (hb) and the
data's residual under spectral weights along the detector (hann, ramp, ...). Prints each fold's pick, the pick
of the four folds' average and the ratio image-optimal / pick; writes the curves as JSON to --out.

    OVS=4 python scripts/diag_lambda_cv_ct.py natural 64 30 1e5 [seed]    # OVS: simulation grid factor (2)
    FOLD=8 FOLDS=1,3,5,7 NLAM=10 LAM_LO=0.1 LAM_HI=30 python scripts/diag_lambda_cv_ct.py ...  # other folds, grid
    python scripts/diag_lambda_cv_ct.py outputs/heldout_ct/astronaut_128_15_1e+06.npz   # a held-out case's file

`*_ramp`: the same residual weighted by |frequency| along the detector (solver.lam_cv_weight=ramp).
"""
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_lambda_ct import designed_object

from regrun.config import config_section
from regrun.context import RunContext
from regrun.problems.ct_fewview import CTFewView
from regrun.tomography.fista_tv import lipschitz, make_fista
from regrun.tomography.fista_tv_weight import held_out_misfit, training_fista
from regrun.tomography.model_resolution import apply_kernels, resolution_kernels

torch.set_num_threads(1)

def case(obj, size, views, photons, seed):
    ctx = RunContext(torch.device("cpu"), torch.float64, seed, Path("."))
    F = int(os.environ.get("OVS", "2"))
    p = CTFewView(config_section("problem", "ct_fewview", size=size, views=views, noise="poisson", photons=photons,
                                 data_seed=seed, oversample=F), ctx)
    fine = designed_object(obj, F * size, seed)
    truth = fine.unflatten(0, (size, F)).mean(1).unflatten(1, (size, F)).mean(2)
    clean = p._project_fine(p.geometry, fine)
    p.sinogram = p._add_noise(clean)
    p.truth = truth * p.mask
    return p, clean


if sys.argv[1].endswith(".npz"):  # a case made by scripts/heldout_ct_sinograms.py
    from bench_lambda_ct import case_from_file

    p, (obj, size, views, photons) = case_from_file(Path(sys.argv[1]))
    obj, seed = obj.split()[0], "file"
    clean = torch.as_tensor(np.load(sys.argv[1])["clean"])
else:
    obj, size, views, photons = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    p, clean = case(obj, size, views, photons, seed)
cfg = config_section("solver", "fista_tv", lam=1.0)
fista = make_fista(p, cfg, lipschitz(p, cfg))
b = p.sinogram
model = p.A.project(p.truth)
Hb = apply_kernels(b, resolution_kernels(p.A.project, p.geometry, b.dtype, b.device))
lams = np.exp(np.linspace(math.log(float(os.environ.get("LAM_LO", "0.05"))), math.log(float(os.environ.get("LAM_HI", "40"))),
                          int(os.environ.get("NLAM", "13"))))
out = {"case": sys.argv[1:], "lams": lams.tolist(), "psnr": [], "folds": []}
t0 = time.process_time()
for lam in lams:
    x = fista.solve(torch.tensor(lam), 140)
    out["psnr"].append(p.quality(x * p.mask)["psnr"])
fold = int(os.environ.get("FOLD", "4"))  # every fold-th view held out; FOLDS: which of the folds to run
for f in [int(v) for v in os.environ.get("FOLDS", ",".join(map(str, range(fold)))).split(",")]:
    held = torch.arange(views) % fold == f
    train = torch.nonzero(~held).flatten(); hidx = torch.nonzero(held).flatten()
    sub = training_fista(p, fista, train, 20)
    r = {"psnr": [], "noisy": [], "clean": [], "model": [], "hb": [], "train_rss": [], "noisy_ramp": [],
         "hb_ramp": [], "model_ramp": []}
    for lam in lams:
        x = sub.solve(torch.tensor(lam * len(train) / views), 140)
        r["psnr"].append(p.quality(x * p.mask)["psnr"])
        px = p.A.project(x)
        for k, ref in (("noisy", b), ("clean", clean), ("model", model), ("hb", Hb)):
            r[k].append(float((px[hidx] - ref[hidx]).pow(2).mean()))
            if k in ("noisy", "hb", "model"):
                r[f"{k}_ramp"].append(held_out_misfit(px[hidx] - ref[hidx], "ramp"))
        R = torch.fft.rfft(px[hidx] - b[hidx], dim=-1)
        fq = torch.linspace(0, 1, R.shape[-1], dtype=torch.float64)
        hann = 0.5 * (1 + torch.cos(math.pi * fq))
        for k, w in (("hann", hann), ("ramp", fq), ("ramphann", fq * hann), ("hann2", hann**2), ("ramphann2", fq*hann**2)):
            r.setdefault(k, []).append(float((R.abs() * w).pow(2).sum()))
        r["train_rss"].append(float((px[train] - b[train]).pow(2).mean()))
    out["folds"].append(r)
out["noise_var"] = float((b - clean).pow(2).mean()); out["model_var"] = float((clean - model).pow(2).mean())
out["cpu"] = time.process_time() - t0
Path(os.environ.get("OUT", "outputs/bench")).mkdir(parents=True, exist_ok=True)
Path(os.environ.get("OUT", "outputs/bench"), f"diag{os.environ.get('OVS', '')}_fold{fold}_{obj}_{size}_{views}_{photons:.0e}_{seed}.json").write_text(json.dumps(out))
L = np.log(lams)
def argmin_interp(v):
    i = int(np.argmin(v)); i = min(max(i, 1), len(v) - 2)
    y0, y1, y2 = v[i-1], v[i], v[i+1]; d = y0 - 2*y1 + y2
    s = 0.5 * (y0 - y2) / d if d > 0 else 0.0
    return float(np.exp(L[i] + np.clip(s, -1, 1) * (L[1] - L[0])))
opt = argmin_interp(-np.array(out["psnr"]))
print(f"{obj} {size} {views} {photons:.0e}: opt lam {opt:.3g} psnr {max(out['psnr']):.2f}; noise var {out['noise_var']:.3g} model var {out['model_var']:.3g}; cpu {out['cpu']:.0f}s")
for k in ("psnr", "noisy", "clean", "model", "hb", "noisy_ramp", "model_ramp", "hb_ramp", "hann", "ramp"):
    picks = [argmin_interp((-1 if k == 'psnr' else 1) * np.array(r[k])) for r in out["folds"]]
    avg = argmin_interp(np.mean([(-1 if k == 'psnr' else 1) * np.array(r[k]) for r in out["folds"]], 0))
    print(f"  {k:6s} folds " + " ".join(f"{v:.3g}" for v in picks) + f" | avg {avg:.3g} | ratio opt/avg {opt/avg:.2f}")
