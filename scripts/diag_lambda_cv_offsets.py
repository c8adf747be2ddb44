"""Cross-validation over views with every offset of a fold (docs/ct.md, "Third round"): on a log grid of lambda
(all-view units), the all-view reconstruction's PSNR and, for each offset k of `--fold` (views = k mod fold held
out), the training reconstruction's PSNR and its held-out misfit against the solver's reference (h * b,
`resolved`) and the raw data. Writes the curves as JSON; `scripts/cv_offset_rules.py` then scores rules (one
offset, averages of offsets, guards) on them without more runs.

    python scripts/diag_lambda_cv_offsets.py outputs/heldout_ct/s2027/rings_128_15_1e+05.npz --out outputs/cvoff
    python scripts/diag_lambda_cv_offsets.py metal_part:128:15:1e4:11:4 --out outputs/cvoff   # bench_lambda_ct case
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))


def load(spec: str):
    from bench_lambda_ct import case_from_file, make_case

    if spec.endswith(".npz"):
        p, (obj, size, views, photons) = case_from_file(Path(spec))
        return p, f"{obj.split()[0]}_{size}_{views}_{photons:.0e}_{int(np.load(spec)['seed'])}"
    obj, size, views, photons, seed, ovs = spec.split(":")
    p = make_case(obj, int(size), int(views), float(photons), int(seed), int(ovs))
    return p, f"{obj}_{size}_{views}_{float(photons):.0e}_{seed}x{ovs}"


def psnr(p, x) -> float:
    return p.quality(x * p.mask)["psnr"]


def default_fista(p):
    """fista_tv as the solver's defaults build it for problem p: (FISTA, the solver's settings, the held-out
    views' `resolved` reference h * b)."""
    from regrun.config import config_section
    from regrun.tomography.fista_tv import lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import cv_reference

    cfg = config_section("solver", "fista_tv", lam=1.0)
    hb, _ = cv_reference(p, "resolved")
    return make_fista(p, cfg, lipschitz(p, cfg)), cfg, hb


def main(argv=None):
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv_weight import (
        held_out_misfit,
        training_fista,
        view_split,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--fold", type=int, default=8)
    ap.add_argument("--offsets", type=int, nargs="+", default=None, help="default: every offset")
    ap.add_argument("--lam", type=float, nargs=3, default=[0.01, 30.0, 11], help="lo hi points (all-view units)")
    ap.add_argument("--out", type=Path, default=Path("outputs/cvoff"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    lams = log_grid(args.lam[0], args.lam[1], int(args.lam[2]))
    for spec in args.cases:
        c0 = time.process_time()
        p, name = load(spec)
        fista, cfg, hb = default_fista(p)
        iters = int(cfg.iters)
        b = p.sinogram
        views = b.shape[0]
        out = {"case": spec, "name": name, "views": views, "fold": args.fold, "lams": lams.tolist(), "psnr": []}
        with torch.no_grad():
            for lam in lams:
                out["psnr"].append(psnr(p, fista.solve(torch.tensor(float(lam), dtype=b.dtype), iters)))
            fold = min(args.fold, views)
            out["offsets"] = {}
            for k in args.offsets if args.offsets is not None else range(fold):
                train, held = view_split(views, fold, k)
                sub = training_fista(p, fista, train, int(cfg.power_iters))
                r = {"train": len(train), "held": held.tolist(), "psnr": [], "resolved": [], "raw": [], "ramp": []}
                for lam in lams:
                    x = sub.solve(torch.tensor(float(lam) * len(train) / views, dtype=b.dtype), iters)
                    r["psnr"].append(psnr(p, x))
                    px = p.A.project(x)[held]
                    r["resolved"].append(float((px - hb[held]).pow(2).mean()))
                    r["raw"].append(float((px - b[held]).pow(2).mean()))
                    r["ramp"].append(held_out_misfit(px - hb[held], "ramp"))  # resolved, |frequency|-weighted
                out["offsets"][str(k)] = r
        out["cpu_s"] = time.process_time() - c0
        (args.out / f"{name}_f{args.fold}.json").write_text(json.dumps(out))
        i = int(np.argmax(out["psnr"]))
        print(f"{name}: grid best {lams[i]:.3g} ({out['psnr'][i]:.2f} dB); picks per offset "
              + " ".join(f"{k}:{lams[int(np.argmin(r['resolved']))]:.3g}" for k, r in out["offsets"].items())
              + f"; {out['cpu_s']:.0f} CPU-s", flush=True)


if __name__ == "__main__":
    main()
