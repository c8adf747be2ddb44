"""Why the pixel grid's held-out curve lies low and flat on 4x-simulated files at 1e4 photons (docs/ct.md "The
pixel grid's weight on flat held-out curves (ctpixgrid)"). On cv's primary fold (every 8th view held out, offset 4)
the pixel grid's training reconstruction at a half-decade grid of all-view weights, and per weight: the held-out
views' misfit against the raw views, against the same views noise-free (the case's `clean`, where it has one),
the same against the raw views with the training run at `--iters-factor` times the solver's FISTA iterations, and
the training reconstruction's own PSNR against the truth (what the held-out views are meant to rank). Each curve's
standard error over the held-out views beside it. If the noise put the minimum low, the noise-free curve's minimum
moves up; if the iterations at small weights did (an unconverged run is smoother than its weight says), the longer
runs' curve rises at small weights; if the held-out views rank the training reconstructions right, their misfit's
minimum sits at the training reconstruction's best PSNR.

    PYTHONPATH=. python scripts/ct_pixgrid_why.py CASE.npz [CASE.npz ...] --out OUT.json --threads 1
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
from bench_lambda_ct import case_from_file  # noqa: E402


def main(argv=None) -> int:
    from regrun.config import config_section
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import training_fista, view_split

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iters-factor", type=int, default=4)
    ap.add_argument("--grid", type=int, default=1, help="the unknown's grid factor (1: the pixel grid)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = config_section("solver", "fista_tv", lam=1.0)
    iters = int(cfg.iters)
    results = []
    for path in args.cases:
        c0 = time.process_time()
        p, meta = case_from_file(Path(path))
        d = np.load(path)
        clean = torch.as_tensor(d["clean"], dtype=torch.float64) if "clean" in d.files else None
        g = UnknownGrid(p, args.grid)
        fista = make_fista(g, cfg, lipschitz(g, cfg))
        b = p.sinogram
        train, held = view_split(b.shape[0], int(cfg.lam_cv_fold), None)
        sub = training_fista(g, fista, train, int(cfg.power_iters))
        share = b.shape[0] / len(train)
        rows = []
        for lam in np.logspace(-2, 1.5, 8):
            row = {"lam": float(lam)}
            for name, n in (("raw", iters), ("long", args.iters_factor * iters)):
                with torch.no_grad():
                    x = sub.solve(torch.tensor(lam / share, dtype=torch.float64), n)
                proj = g.A.project(x)
                per = (proj[held] - b[held]).pow(2).flatten(1).mean(1).numpy()
                row[name] = float(per.mean())
                row[f"{name}_se"] = float(per.std(ddof=1) / np.sqrt(len(per)))
                row[f"{name}_train_psnr"] = float(p.quality(g.output(x) * p.mask)["psnr"])
                if name == "raw" and clean is not None:
                    perc = (proj[held] - clean[held]).pow(2).flatten(1).mean(1).numpy()
                    row["clean"] = float(perc.mean())
                    row["clean_se"] = float(perc.std(ddof=1) / np.sqrt(len(perc)))
            rows.append(row)
            print(Path(path).name, {k: round(v, 5) for k, v in row.items()}, flush=True)
        out = {"case": Path(path).name, "grid": args.grid, "held_views": [int(v) for v in held], "rows": rows,
               "noise_var": float(((b - clean) ** 2).mean()) if clean is not None else None,
               "cpu_s": time.process_time() - c0}
        for key in ("raw", "clean", "long", "raw_train_psnr", "long_train_psnr"):
            if key in rows[0]:
                vals = [r[key] for r in rows]
                k = int(np.argmax(vals) if "psnr" in key else np.argmin(vals))
                out[f"best_{key}"] = rows[k]["lam"]
        print(out["case"], {k: v for k, v in out.items() if k.startswith("best_")}, f"{out['cpu_s']:.0f} CPU-s",
              flush=True)
        results.append(out)
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
