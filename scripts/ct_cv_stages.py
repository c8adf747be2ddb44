"""Where the CT weight's cross-validation (`solver.lam=auto`, rule cv) chooses its weight, stage by stage, on a
held-out-style case file (scripts/heldout_ct_sinograms.py: its sinogram, clean sinogram and truth). One log grid of
all-view weights; for every offset of the fold (each its own held-out views) the training reconstruction at each
weight and its held-out misfit against the reference the search uses (`resolved`: h * b), against the raw views,
and against the noise-free views (the file's `clean`, resolved by the same kernels): so the held-out views' own
noise can be told from what the views themselves prefer; beside it the training reconstruction's PSNR against the
truth (what the held-out views stand for) and the all-view reconstruction's PSNR (the grid optimum's curve).

    python scripts/ct_cv_stages.py CASE.npz [...] --out OUT.json [--offsets 4 0] [--iters 420]

Each weight's pick per offset is the parabola through the best three grid points in log lam (as the search's
vertex), before the rule's scale, re-pick and cap. docs/ct.md "(ctcat15)".
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch


def stages(path: Path, lams: np.ndarray, offsets: list[int] | None, iters: int | None) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_lambda_ct import case_from_file, tv_grid_for

    from regrun.config import config_section
    from regrun.optim.scalar_search import parabola_min
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid
    from regrun.tomography.fista_tv_weight import (
        held_residual,
        noise_variance,
        reference_and_gain,
        training_fista,
        view_split,
    )
    from regrun.tomography.model_resolution import apply_kernels, resolution_kernels

    p, (obj, size, views, photons) = case_from_file(path)
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=tv_grid_for(argparse.Namespace(tv_grid=None)),
                         **({"iters": iters} if iters else {}))
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    n_it = int(cfg.iters)
    b = p.sinogram
    clean = torch.as_tensor(np.load(path)["clean"], dtype=b.dtype)
    target, _, gain = reference_and_gain(ug, "resolved")
    kernels = resolution_kernels(ug.A.project, ug.geometry, b.dtype, b.device)
    clean_res = apply_kernels(clean, kernels)
    noise, _ = noise_variance(b, ug.geometry)
    fold = min(int(cfg.lam_cv_fold), b.shape[0])
    offsets = list(range(fold)) if offsets is None else offsets
    psnr = lambda x: p.quality(ug.output(x) * p.mask)["psnr"]
    out = {"case": path.name, "object": obj, "size": size, "views": views, "photons": photons, "iters": n_it,
           "noise_variance": noise, "gain": float(gain.mean()), "lams": lams.tolist(), "all_view_psnr": [],
           "offsets": {}}
    with torch.no_grad():
        for lam in lams:
            out["all_view_psnr"].append(psnr(fista.solve(torch.tensor(float(lam), dtype=b.dtype), n_it)))
        for k in offsets:
            train, held = view_split(b.shape[0], fold, k)
            sub = training_fista(ug, fista, train, int(cfg.power_iters))
            share = b.shape[0] / len(train)
            rows = {"held": [int(h) for h in held], "resolved": [], "raw": [], "clean": [], "clean_raw": [],
                    "train_psnr": []}
            for lam in lams:
                x = sub.solve(torch.tensor(float(lam) / share, dtype=b.dtype), n_it)
                proj = ug.A.project(x)
                for key, ref in (("resolved", target), ("raw", b), ("clean", clean_res), ("clean_raw", clean)):
                    rows[key].append(float(held_residual(proj, ref, held)[0].pow(2).mean()))
                rows["train_psnr"].append(psnr(x))
            for key in ("resolved", "raw", "clean", "clean_raw", "train_psnr"):
                v = np.array(rows[key]) * (-1 if key == "train_psnr" else 1)
                rows[f"pick_{key}"] = parabola_min(list(lams), list(v))
            out["offsets"][str(k)] = rows
    i = int(np.argmax(out["all_view_psnr"]))
    out["all_view_best"] = parabola_min(list(lams), [-v for v in out["all_view_psnr"]]) if 0 < i < len(lams) - 1 \
        else float(lams[i])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--lam-lo", type=float, default=0.01)
    ap.add_argument("--lam-hi", type=float, default=100.0)
    ap.add_argument("--grid", type=int, default=9)
    ap.add_argument("--offsets", type=int, nargs="*", default=None, help="the fold's offsets (default: all)")
    ap.add_argument("--iters", type=int, default=None, help="FISTA iterations (default: the solver's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    lams = np.exp(np.linspace(math.log(args.lam_lo), math.log(args.lam_hi), args.grid))
    results = []
    for path in args.cases:
        t0, c0 = time.perf_counter(), time.process_time()
        r = stages(path, lams, args.offsets, args.iters)
        r["wall_s"], r["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        results.append(r)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"{r['case']}: all-view best {r['all_view_best']:.3g}; per offset (held views): pick resolved / raw / "
              f"noise-free / training PSNR's best; {r['cpu_s']:.0f} CPU-s", flush=True)
        for k, o in r["offsets"].items():
            print(f"  offset {k} {o['held']}: {o['pick_resolved']:.3g} / {o['pick_raw']:.3g} / {o['pick_clean']:.3g}"
                  f" / {o['pick_train_psnr']:.3g}", flush=True)


if __name__ == "__main__":
    main()
