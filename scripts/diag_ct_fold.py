"""Which views the `cv` rule should hold out on limited-range scans (docs/ct.md, "Held-out blocks of views for
limited-range fans? (ctfanblock)"), in two parts.

`rays` (geometry only, seconds): does a held-out fan view's set of lines lie closer to the training views' lines
than a parallel view's does? Every ray through the object is a line (direction theta in [0, pi), signed offset s);
two lines within the object's disc (radius r) lie at most |ds| + r |dtheta| apart. Per scan and hold-out layout
(the solver's every 8th view, or the same number of views in 1 or 3 runs of neighbouring angles,
fista_tv_weight.block_split) it prints the held-out lines' median and 90th-percentile distance to the nearest
training line, in pixels, beside the same for the file's angles as a parallel beam (same detector), and the lines
no view measured (a dense (theta, s) grid over the half turn, distance to the nearest measured line): the hypothesis
that a fan's held-out lines are nearly measured by its neighbours predicts a fan's held-out distance well below the
parallel beam's.

`band` (FISTA-TV runs: 2 x --points training runs and --points all-view runs a scan): a hold-out by direction
rather than by view: every ray whose line direction lies in the band the 1-block layout's views' central rays
span is held out, from every view (for a parallel beam the 1-block layout itself; for a fan a wedge of directions
that no training ray measures, which a block of fan views narrower than the fan angle does not leave). Over a log
grid of lambda (all-view units; a training weight scaled by its share of the rays) it prints the plain held-out
misfit's pick against `resolved` (the parabola through the best three points, before the dose rule and the scale)
for the every-8th-view fold and the band, and the truth's optimum on the same grid (all views).

`near` (FISTA-TV runs: --points training runs and --points all-view runs a scan): whether the interleaved fold's
held-out rays nearest the lines no view measures (fista_tv_weight.coverage_weights, solver.lam_cv_weighting)
pick another weight than the rest: the plain held-out misfit's pick over the same grid for all held-out rays,
weighted by lam_cv_weighting=1, the nearest 25% and 10% of them and the farthest half, against the truth's optimum.

`tally` (no runs): reads bench_lambda_ct.py JSONs whose --auto-rules include layouts (cv, cv@blocks1, ...) and
prints each scan's pick per layout against the grid optimum (lambda, PSNR, gap), the count within 0.5 dB, the sum
of the PSNR changes against the first layout and the worst one; `larger:A,B` is whichever of two layouts' answers
is larger (no run: lam_cv_layout=auto on a limited-range fan); `uncapped:A` layout A's answer with
solver.lam_cv_fit_cap off (the bench's judging run where the cap bound, A's own where it did not). A scan's rows
from several JSONs (layouts run later with --reuse) are merged; `cv@wK` is the interleaved fold with its rays
weighted by solver.lam_cv_weighting=K (docs/ct.md, "Held-out rays weighted by how near the unmeasured lines lie
(ctcover)").

    python scripts/diag_ct_fold.py rays OUT/dev_5147/*.npz
    python scripts/diag_ct_fold.py tally OUT/dev_*.json --layouts cv cv@blocks1 cv@blocks3
    python scripts/diag_ct_fold.py near OUT/dev/tablet_112_60_1e+05_fan_lim160.npz
    python scripts/diag_ct_fold.py tally OUT/devfans.json OUT/devA.json --layouts cv cv@w1 uncapped:cv@w1
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_lambda_ct import case_from_file  # noqa: E402

from regrun.tomography.fista_tv_weight import band_split, block_split, view_split  # noqa: E402
from regrun.tomography.geometry import parallel_beam  # noqa: E402


def lines(geometry, views) -> np.ndarray:
    """(theta, s) of every ray of `views` (n, 2): theta in [0, pi), s the signed distance from the centre."""
    rows = []
    for v in views:
        origin, d, _ = geometry.rays(slice(int(v), int(v) + 1), torch.float64, "cpu")
        o, d = origin.numpy(), d.numpy()
        flip = (d[:, 1] < 0) | ((d[:, 1] == 0) & (d[:, 0] < 0))
        d = np.where(flip[:, None], -d, d)
        theta = np.mod(np.arctan2(d[:, 1], d[:, 0]), math.pi)
        rows.append(np.stack((theta, o[:, 0] * d[:, 1] - o[:, 1] * d[:, 0]), 1))
    return np.concatenate(rows)


def nearest(a: np.ndarray, b: np.ndarray, r: float, chunk: int = 512) -> np.ndarray:
    """Each line of a's distance to the nearest line of b within a disc of radius r: |ds| + r |dtheta|, theta
    wrapped at pi (the same line, s negated)."""
    out = np.empty(len(a))
    for i in range(0, len(a), chunk):
        t = a[i:i + chunk, None, 0] - b[None, :, 0]
        s1, s2 = a[i:i + chunk, None, 1], b[None, :, 1]
        direct = np.abs(s1 - s2) + r * np.abs(t)
        wrapped = np.abs(s1 + s2) + r * (math.pi - np.abs(t))
        out[i:i + chunk] = np.minimum(direct, wrapped).min(1)
    return out


def rays(paths, fold: int) -> None:
    print("| scan | beam | layout | held-out lines: median / p90 distance to a training line (px) | unmeasured "
          "lines: median / p90 distance to a measured line (px) |")
    print("|---|---|---|---|---|")
    for path in paths:
        p, (name, size, views, _) = case_from_file(path)
        g = p.geometry
        r = size / 2 * g.volume.voxel
        angles = np.asarray(g.angles)
        beams = {g.kind: g}
        if g.kind == "fan":
            beams["parallel"] = parallel_beam(g.volume.shape, torch.as_tensor(angles), g.detector[0],
                                              g.volume.voxel * math.sqrt(2) * size / g.detector[0], g.volume.voxel)
        theta = np.linspace(0, math.pi, 360, endpoint=False)
        s = np.linspace(-r, r, 2 * size + 1)
        dense = np.stack(np.meshgrid(theta, s, indexing="ij"), -1).reshape(-1, 2)
        for beam, geom in beams.items():
            allv = lines(geom, range(views))
            allv = allv[np.abs(allv[:, 1]) < r]
            far = nearest(dense, allv, r)
            gap = float(np.median(np.diff(np.sort(np.mod(angles, 2 * math.pi))))) * r
            unmeasured = far[far > gap]  # beyond one view spacing: lines inside the measured range are not counted
            un = (f"{np.median(unmeasured):.2f} / {np.percentile(unmeasured, 90):.2f} ({len(unmeasured) / len(far):.0%}"
                  " of lines)" if len(unmeasured) else "none")
            for lay, (train, held) in {"every 8th": view_split(views, fold),
                                       "1 block": block_split(angles, fold, None, 1),
                                       "3 blocks": block_split(angles, fold, None, 3)}.items():
                h = lines(geom, held.tolist())
                h = h[np.abs(h[:, 1]) < r]
                d = nearest(h, lines(geom, train.tolist()), r)
                print(f"| {path.stem} | {beam} | {lay} | {np.median(d):.2f} / {np.percentile(d, 90):.2f} | {un} |",
                      flush=True)


def scan_curve(path, args):
    """A scan's FISTA-TV set-up as a file's run has it, the log grid of lambda (all-view units), the truth's PSNR
    on it, the `resolved` reference and a function giving a training fold's projections over the grid."""
    from regrun.config import config_section
    from regrun.optim.scalar_search import log_grid
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid
    from regrun.tomography.fista_tv_weight import reference_and_gain, training_fista

    p, (name, size, views, _) = case_from_file(path)
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid="auto")  # a file's run: problem.data=file's
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    iters, b = int(cfg.iters), p.sinogram
    lams = log_grid(args.lam_lo, args.lam_hi, args.points)
    with torch.no_grad():
        psnr = [p.quality(ug.output(fista.solve(torch.tensor(float(lam)), iters)) * p.mask)["psnr"] for lam in lams]

    def projections(train):  # a training weight is the all-view one times its share of the data
        sub = training_fista(ug, fista, train, int(cfg.power_iters))
        share = b[train].numel() / b.numel()
        with torch.no_grad():
            return [ug.A.project(sub.solve(torch.tensor(float(lam) * share), iters)) for lam in lams]

    return p, lams, psnr, reference_and_gain(ug, "resolved")[0], projections


def band(paths, args) -> None:
    from bench_ct_cvcurve import pick

    from regrun.tomography.fista_tv_weight import held_out_misfit

    print("| scan | truth's optimum on the grid | every 8th view: pick (ratio) | direction band: pick (ratio) | "
          "band: held-out rays | CPU s |")
    print("|---|---|---|---|---|---|")
    for path in paths:
        c0 = time.process_time()
        p, lams, psnr, ref, projections = scan_curve(path, args)
        train_rays, in_band = band_split(p.geometry, args.fold)  # the solver's lam_cv_layout=band
        layouts = {"fold8": view_split(p.geometry.views, args.fold), "band": (train_rays, in_band)}
        curves = {k: [held_out_misfit(proj[held] - ref[held], "none") for proj in projections(train)]
                  for k, (train, held) in layouts.items()}
        opt = pick(lams, [-v for v in psnr])
        cells = " | ".join(f"{pick(lams, curves[k]):.3g} ({pick(lams, curves[k]) / opt:.2f})" for k in layouts)
        print(f"| {path.stem} | {opt:.3g} ({max(psnr):.2f}) | {cells} | {float(in_band.double().mean()):.1%} | "
              f"{time.process_time() - c0:.0f} |", flush=True)


def near(paths, args) -> None:
    from bench_ct_cvcurve import pick

    from regrun.tomography.fista_tv_weight import coverage_weights

    groups = ("all", "weighted, k = 1", "nearest 25%", "nearest 10%", "farthest 50%")
    print("| scan | truth's optimum on the grid | " + " | ".join(f"{g}: pick (ratio)" for g in groups) + " | CPU s |")
    print("|---|---|" + "---|" * (len(groups) + 1))
    for path in paths:
        c0 = time.process_time()
        p, lams, psnr, ref, projections = scan_curve(path, args)
        train, held = view_split(p.geometry.views, args.fold)  # the solver's interleaved fold
        w = coverage_weights(p.geometry, held, 1.0)[0].to(ref.dtype)  # larger = nearer the unmeasured lines
        cut = {q: torch.quantile(w.flatten(), q) for q in (0.5, 0.75, 0.9)}
        masks = {"all": torch.ones_like(w), "weighted, k = 1": w, "nearest 25%": (w >= cut[0.75]).to(w),
                 "nearest 10%": (w >= cut[0.9]).to(w), "farthest 50%": (w < cut[0.5]).to(w)}
        curves = {g: [] for g in groups}
        for proj in projections(train):
            r2 = (proj[held] - ref[held]).pow(2)
            for g in groups:
                curves[g].append(float((r2 * masks[g]).sum() / masks[g].sum()))
        opt = pick(lams, [-v for v in psnr])
        cells = " | ".join(f"{pick(lams, curves[g]):.3g} ({pick(lams, curves[g]) / opt:.2f})" for g in groups)
        print(f"| {path.stem} | {opt:.3g} ({max(psnr):.2f}) | {cells} | {time.process_time() - c0:.0f} |",
              flush=True)


def tally(paths, layouts, within: float) -> None:
    merged = {}  # one row a scan: layouts run in different benches (--reuse) merged by the scan's key
    for path in paths:
        for r in json.loads(Path(path).read_text())["results"]:
            merged.setdefault((r["object"], r["size"], r["views"], r["photons"]), {}).update(r)
    rows = list(merged.values())
    for r in rows:  # larger:A,B: whichever of two layouts' answers is larger (lam_cv_layout=auto on a limited fan)
        for k in layouts:
            if k.startswith("larger:") and all(f"auto_{x}" in r for x in k[7:].split(",")):
                r[f"auto_{k}"] = max((r[f"auto_{x}"] for x in k[7:].split(",")), key=lambda a: a["lam"])
            if k.startswith("uncapped:") and f"auto_{k[9:]}" in r:  # the answer with lam_cv_fit_cap off
                a = r[f"auto_{k[9:]}"]
                r[f"auto_{k}"] = ({"lam": float(a["stats"]["lam_cv_uncapped"]), "psnr": a["psnr_uncapped"]}
                                  if "lam_cv_uncapped" in a["stats"] else a)
    base = layouts[0]
    head = " | ".join(f"{k}: λ (PSNR, gap)" for k in layouts)
    print(f"| scan | grid-optimal λ (PSNR) | {head} |")
    print("|---|---|" + "---|" * len(layouts))
    count = {k: 0 for k in layouts}
    change = {k: [] for k in layouts}
    for r in rows:
        if any(f"auto_{k}" not in r for k in layouts):
            continue
        opt, best = r["grid_best_lam"], r["grid_best_psnr"]
        cells = []
        for k in layouts:
            a = r[f"auto_{k}"]
            gap = a["psnr"] - best
            count[k] += gap >= -within
            change[k].append(a["psnr"] - r[f"auto_{base}"]["psnr"])
            cells.append(f"{a['lam']:.3g} ({a['psnr']:.2f}, {gap:+.2f})")
        print(f"| {r['object']} {r['size']}² {r['views']} {r['photons']:.0e} | {opt:.3g} ({best:.2f}) | "
              + " | ".join(cells) + " |")
    n = len(change[base])
    for k in layouts:
        c = np.array(change[k])
        print(f"{k}: within {within} dB {count[k]} of {n}; change against {base}: sum {c.sum():+.2f} dB, "
              f"worst {c.min() if n else math.nan:+.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("rays")
    a.add_argument("cases", type=Path, nargs="+")
    a.add_argument("--fold", type=int, default=8)
    for name in ("band", "near"):  # both: FISTA-TV runs over a log grid of lambda
        d = sub.add_parser(name)
        d.add_argument("cases", type=Path, nargs="+")
        d.add_argument("--fold", type=int, default=8)
        d.add_argument("--lam-lo", type=float, default=0.05)
        d.add_argument("--lam-hi", type=float, default=5.0)
        d.add_argument("--points", type=int, default=7)
    t = sub.add_parser("tally")
    t.add_argument("benches", type=Path, nargs="+")
    t.add_argument("--layouts", nargs="+", default=["cv", "cv@blocks1", "cv@blocks3"])
    t.add_argument("--within", type=float, default=0.5)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "rays":
        rays(args.cases, args.fold)
    elif args.what == "band":
        band(args.cases, args)
    elif args.what == "near":
        near(args.cases, args)
    else:
        tally(args.benches, args.layouts, args.within)


if __name__ == "__main__":
    main()
