"""cv's held-out misfit view by view (docs/ct.md, "cv's low weight on rock-core slices (ctcore)"): for each offset of
fold 8, the training run at each of a log grid of all-view weights and every held-out view's mean squared misfit
against the raw views (the pixel grid, as the pixel-grid check keeps it on the `core` slices), beside the all-view
run's PSNR at each weight; then the pick of the views' mean (what cv minimises), of their median, of their
geometric mean, and of the mean without the worst view, each with the all-view PSNR there (interpolated in log
lam), and each view's ratio to the median at the mean's best weight.

Usage: python scripts/ctcore_views.py CASE.npz --offsets 0,1,2,3,4,5,6,7 --out X.json [--notch NAME_notch.npz]
  CASE: a bench case (scripts/bench_lambda_ct.py --cases: a counts case of ct_counts_files.py, a user's file).
  --notch: scripts/ctcore_files.py's per-view depth of the crack seen edge-on, printed beside the worst view.
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


def views_table(case: Path, offsets: list[int], points: int = 9, lo: float = 0.01, hi: float = 1.0,
                iters: int | None = None) -> dict:
    from bench_lambda_ct import case_from_file

    from regrun.config import config_section
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista
    from regrun.tomography.fista_tv_weight import noise_variance, training_fista, view_split

    p, meta = case_from_file(case)
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=1, **({"iters": iters} if iters else {}))
    grid = UnknownGrid(p, 1)
    fista = make_fista(grid, cfg, lipschitz(grid, cfg))
    n_it = int(cfg.iters)
    b = p.sinogram
    lams = log_grid(lo, hi, points)
    psnr = lambda x: p.quality(grid.output(x) * p.mask)["psnr"]  # noqa: E731
    with torch.no_grad():
        full = [psnr(fista.solve(torch.tensor(float(a), dtype=b.dtype), n_it)) for a in lams]
        out = {"case": str(case), "meta": list(meta), "lams": lams.tolist(), "full_psnr": full,
               "noise_var": noise_variance(b, p.geometry)[0], "offsets": {}}
        for k in offsets:
            train, held = view_split(b.shape[0], 8, k)
            sub = training_fista(grid, fista, train, int(cfg.power_iters))
            per = []
            for a in lams:
                x = sub.solve(torch.tensor(float(a) * len(train) / b.shape[0], dtype=b.dtype), n_it)
                per.append((grid.A.project(x)[held] - b[held]).pow(2).mean(1).tolist())
            out["offsets"][str(k)] = {"held": held.tolist(), "per_view": per}
    return out


def picks(table: dict, offset: str) -> dict:
    """The pick of each pooling of the offset's held-out views (the parabola through the best three, as cv's)."""
    from regrun.optim.scalar_search import parabola_min

    lams = table["lams"]
    per = np.array(table["offsets"][offset]["per_view"])
    mean = per.mean(1)
    best = int(np.argmin(mean))
    ratio = per[best] / np.median(per[best])
    worst = int(np.argmax(ratio))
    pools = {"mean": mean, "median": np.median(per, 1), "geometric": np.exp(np.log(per).mean(1)),
             "without_worst": np.delete(per, worst, axis=1).mean(1)}
    return {"picks": {k: parabola_min(lams, list(v)) for k, v in pools.items()}, "ratios": ratio.tolist(),
            "worst": table["offsets"][offset]["held"][worst],
            "view_picks": [parabola_min(lams, list(per[:, j])) for j in range(per.shape[1])],
            "noise_share": table["noise_var"] / float(mean[best])}


def psnr_at(table: dict, lam: float) -> float:
    """The all-view PSNR at lam: the parabola through the three grid weights nearest it, in log lam."""
    lams, full = np.array(table["lams"]), np.array(table["full_psnr"])
    i = int(np.clip(np.searchsorted(lams, lam), 1, len(lams) - 2))
    return float(np.polyval(np.polyfit(np.log(lams[i - 1:i + 2]), full[i - 1:i + 2], 2), math.log(lam)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", type=Path)
    ap.add_argument("--offsets", default="4")
    ap.add_argument("--points", type=int, default=9)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--notch", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    c0, t0 = time.process_time(), time.perf_counter()
    table = views_table(args.case, [int(k) for k in args.offsets.split(",")], args.points)
    table["cpu_s"], table["wall_s"] = time.process_time() - c0, time.perf_counter() - t0
    args.out.write_text(json.dumps(table))
    notch = np.load(args.notch)["notch"] if args.notch else None
    best = int(np.argmax(table["full_psnr"]))
    print(f"{table['meta']}: all-view PSNR best of the grid {table['lams'][best]:.3g} ({table['full_psnr'][best]:.2f})")
    for k in table["offsets"]:
        r = picks(table, k)
        line = " ".join(f"{n} {v:.3g} ({psnr_at(table, v):.2f})" for n, v in r["picks"].items())
        crack = f", its crack notch {notch[r['worst']]:.3g} (median {np.median(notch):.3g})" if notch is not None else ""
        print(f"offset {k}: {line}; noise share {r['noise_share']:.2f}; worst view {r['worst']} "
              f"x{max(r['ratios']):.2f}{crack}")
    print(f"{table['cpu_s']:.1f} CPU-s, {table['wall_s']:.1f} s wall")


if __name__ == "__main__":
    main()
