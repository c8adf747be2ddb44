"""Does the held-out views' misfit say which grid of the unknown (the output's pixel grid or one 2x finer) gives
the better image? (docs/ct.md "Sixteenth round (ctgridcv)".) Per case (a .npz of scripts/heldout_ct_sinograms.py):

1. the solver's own `lam=auto` search on the pixel grid (its defaults: cv, fold 8 at offset 4, `resolved`, the
   dose rule, the fit cap): its pick p before the scale, its answer and that answer's PSNR;
2. on the same fold (the same training and held-out views), FISTA-TV's training reconstruction on grid 1 and on
   the 2x grid (its own projector, `fine`) at the all-view weights p x FACTORS (extended by one step while a
   grid's lowest plain held-out misfit is at an end, up to --max-extend steps); each one's held-out misfit
   against the raw data, against grid 1's `resolved` reference (one target for both grids) and against its own
   grid's `resolved` (what its own search reads), and its training views' misfit (raw); the lowest of each over
   the weights tried;
3. one run on all views on the 2x grid at the weight where its held-out misfit against its own reference is
   lowest, times the scale the pixel grid's search used (its answer / p): the PSNR a rule "search on grid 1, then
   compare grid 2 at a few weights" would give where it chose grid 2.

The truth is read only to score PSNR. One JSON line per case is appended to --out.

    python scripts/diag_ct_gridcv.py --cases outputs/heldout_ct_3701/gear_192_30_1e+04.npz --out OUT/gridcv.jsonl
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lambda_ct import case_from_file  # noqa: E402

FACTORS = (0.5, 1.0, 2.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-extend", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for path in args.cases:
        rec = run_case(path, args.max_extend)
        with args.out.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps({k: v for k, v in rec.items() if k != "curves"}), flush=True)


def run_case(path: Path, max_extend: int) -> dict:
    from regrun.config import config_section
    from regrun.optim.parameter_choice import ChoiceSettings
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import (
        CT_RULES,
        choose_fista_weight,
        reference_and_gain,
        training_fista,
        view_split,
    )

    p, (name, size, views, photons) = case_from_file(path)
    cfg = config_section("solver", "fista_tv", lam=1.0)
    iters = int(cfg.iters)
    b = p.sinogram
    psnr = lambda ug, x: p.quality(ug.output(x) * p.mask)["psnr"]
    rec = {"case": path.name, "object": name, "size": size, "views": views, "photons": photons}

    grids = {1: UnknownGrid(p, 1), 2: UnknownGrid(p, 2, "fine")}
    fistas, Ls = {}, {}
    c0 = time.process_time()
    for k, ug in grids.items():
        Ls[k] = lipschitz(ug, cfg)
        fistas[k] = make_fista(ug, cfg, Ls[k])
    rec["cpu_setup"] = time.process_time() - c0

    # 1. the solver's search on the pixel grid
    c0 = time.process_time()
    settings = ChoiceSettings.from_config(cfg, "solver", CT_RULES)
    ch = choose_fista_weight(grids[1], fistas[1], iters, settings, "fd", torch.Generator().manual_seed(0),
                             cv_fold=int(cfg.lam_cv_fold), cv_scale=float(cfg.lam_cv_scale),
                             power_iters=int(cfg.power_iters), cv_reference=str(cfg.lam_cv_reference),
                             cv_weight=str(cfg.lam_cv_weight), cv_offsets=int(cfg.lam_cv_offsets),
                             cv_grid=cfg.lam_cv_grid, cv_guard=bool(cfg.lam_cv_guard), cv_dose=bool(cfg.lam_cv_dose),
                             cv_fit_cap=cfg.lam_cv_fit_cap)
    pick = float(ch.details["lam_cv_pick"])
    rec.update(auto1_lam=ch.lam, auto1_psnr=psnr(grids[1], ch.state), auto1_pick=pick,
               auto1_cpu=time.process_time() - c0, auto1_runs=ch.solves)
    scale_used = ch.lam / pick

    # 2. the same fold on both grids
    fold = min(int(cfg.lam_cv_fold), b.shape[0])
    train, held = view_split(b.shape[0], fold)
    ratio = b.shape[0] / len(train)
    targets = {k: reference_and_gain(ug, str(cfg.lam_cv_reference))[0] for k, ug in grids.items()}
    curves = {}
    for k, ug in grids.items():
        c0 = time.process_time()
        sub = training_fista(ug, fistas[k], train, int(cfg.power_iters))
        rows = {}

        def at(lam_all):
            with torch.no_grad():
                x = sub.solve(torch.tensor(lam_all / ratio, dtype=b.dtype), iters)
                proj = ug.A.project(x)
            r = proj[held]
            rows[lam_all] = {"raw": float((r - b[held]).pow(2).mean()),
                             "res1": float((r - targets[1][held]).pow(2).mean()),
                             "own": float((r - targets[k][held]).pow(2).mean()),
                             "train": float((proj[train] - b[train]).pow(2).mean())}

        lams = [pick * f for f in FACTORS]
        for lam in lams:
            at(lam)
        for _ in range(max_extend):  # extend while the plain held-out misfit is lowest at an end
            order = sorted(rows)
            best = min(order, key=lambda a: rows[a]["own"])
            if best == order[0]:
                at(order[0] / 2)
            elif best == order[-1]:
                at(order[-1] * 2)
            else:
                break
        curves[k] = {f"{a:.6g}": v for a, v in sorted(rows.items())}
        order = sorted(rows)
        for key in ("raw", "res1", "own", "train"):
            vals = [rows[a][key] for a in order]
            i = int(np.argmin(vals))
            rec[f"g{k}_min_{key}"] = vals[i]
            rec[f"g{k}_argmin_{key}"] = order[i]
        rec[f"g{k}_train_at_pick"] = rows[pick]["train"]
        rec[f"g{k}_cpu_fold"] = time.process_time() - c0
    # 3. the 2x grid on all views at its own held-out minimum, times the pixel grid's scale
    c0 = time.process_time()
    lam2 = rec["g2_argmin_own"] * scale_used
    with torch.no_grad():
        x2 = fistas[2].solve(torch.tensor(lam2, dtype=b.dtype), iters)
    rec.update(g2_lam=lam2, g2_psnr=psnr(grids[2], x2), g2_cpu_final=time.process_time() - c0)
    rec["curves"] = curves
    for key in ("raw", "res1", "own"):
        rec[f"d_{key}"] = math.log(rec[f"g2_min_{key}"] / rec[f"g1_min_{key}"])  # < 0: grid 2 predicts better
    rec["d_psnr"] = rec["g2_psnr"] - rec["auto1_psnr"]
    return rec


if __name__ == "__main__":
    main()
