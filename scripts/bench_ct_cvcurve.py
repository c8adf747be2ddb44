"""The held-out views' misfit curve beside the truth's PSNR curve, on a dense grid of lambda, for held-out .npz
cases (scripts/heldout_ct_sinograms.py): where `solver.lam=auto`'s search (cv) puts its minimum against where the
truth's optimum lies, and which part of the held-out misfit moves it (docs/ct.md, "Fourteenth round").

At each lambda of a log grid (all-view units), with the solver's defaults (the unknown's grid, iterations, fold
and its interior offset): the all-view FISTA-TV reconstruction's PSNR, and the training reconstruction's held-out
misfit against four references: `raw` (the data b), `resolved` (h * b, the default reference), `clean` (the
file's noise-free data: no noise) and `model` (A x-bar, the truth's cell average projected by the solver's own
projector: no noise and no model error). `--offsets` adds other offsets of the fold (the fold's variance). Each
curve's pick is the vertex of the parabola through its best three points in log lambda, the solver's rule; the
ratio is the truth's optimum / the pick (1: right; > 1: too little TV). Also the solver's own search
(choose_fista_weight as `lam=auto` runs it): its weights and misfits, its pick before the scale, the scale used.

`--dense-views N`: each reconstruction also projected on N views (parallel: N evenly over 180 degrees) against the
truth's projections there: the all-view image on all N, each training image on those it was not trained on.
`--split F`: the training image's error also split at F times the truth's maximum (the walls and the rest), each
part's squared norm and its held-out projection, and the walls' mean against the truth's (their contrast).

    python scripts/bench_ct_cvcurve.py outputs/heldout_ct_3701/gear_192_30_1e+04.npz --out outputs/bench/cvcurve
    python scripts/bench_ct_cvcurve.py CASE.npz --split 0.5 --no-search --offsets 0   # the split, two offsets

`--tv-grid auto` puts the unknown on the grid a file run uses (2x up to 128^2; the default is the pixel grid);
`--powers P ...` adds each reference's held-out misfit weighted by |frequency| ** P along the detector, the
`dose` weight's re-pick at power P (docs/ct.md, "ctfinal": which reference's weighted curve moves the pick):

    python scripts/bench_ct_cvcurve.py SCAN.npz --tv-grid auto \
        --powers 0.698 1 --no-search --out outputs/cvcurve_s1045
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

from regrun.config import config_section  # noqa: E402
from regrun.optim.parameter_choice import ChoiceSettings  # noqa: E402
from regrun.optim.scalar_search import log_grid, parabola_min  # noqa: E402
from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid  # noqa: E402
from regrun.tomography.fista_tv_weight import (  # noqa: E402
    CT_RULES,
    choose_fista_weight,
    held_out_misfit,
    noise_variance,
    residual_spectrum,
    reference_and_gain,
    training_fista,
    view_split,
    weighted_misfit,
)


def pick(lams, values) -> float:
    """The solver's rule on a curve: the parabola's vertex through the best three points, in log lambda."""
    return float(parabola_min(list(lams), list(values)))


def run(path: Path, args) -> dict:
    p, (name, size, views, photons) = case_from_file(path)
    clean = torch.as_tensor(np.load(path)["clean"], dtype=torch.float64)
    cfg = config_section("solver", "fista_tv", lam=1.0, **({"tv_grid": args.tv_grid} if args.tv_grid else {}))
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    iters, b = int(cfg.iters), p.sinogram
    refs = {"raw": b, "resolved": reference_and_gain(ug, "resolved")[0], "clean": clean,
            "model": p.A.project(p.truth)}
    lams = log_grid(args.lam_lo, args.lam_hi, args.points)
    c0 = time.process_time()
    out = {"case": path.name, "object": name, "size": size, "views": views, "photons": photons,
           "tv_grid": ug.factor, "lams": [float(v) for v in lams], "psnr": [], "fit": [], "folds": {}}
    # the noise variance per bin as the dose rule reads it (None for a fan beam), beside the all-view fit below
    out["noise_var"] = noise_variance(b, getattr(p, "geometry", None))[0]
    dense = None
    if args.dense_views:  # the same scan's geometry at many views: how well the all-view image predicts any view
        from regrun.context import RunContext
        from regrun.problems.ct_fewview import CTFewView

        dense = CTFewView(config_section("problem", "ct_fewview", size=size, views=args.dense_views, noise="none",
                                         oversample=1, geometry=p.cfg.geometry), RunContext(
            torch.device("cpu"), torch.float64, 0, Path(".")))
        dense_truth = dense.A.project(p.truth)
        out["dense_misfit"] = []
    with torch.no_grad():
        for lam in lams:
            xf = fista.solve(torch.tensor(float(lam)), iters)
            x = ug.output(xf)
            out["psnr"].append(p.quality(x * p.mask)["psnr"])
            # the all-view data misfit per bin (the measured views: what a discrepancy rule reads)
            out["fit"].append(float((ug.A.project(xf) - b).pow(2).mean()))
            if dense is not None:
                out["dense_misfit"].append(float((dense.A.project(x * p.mask) - dense_truth).pow(2).mean()))
        fold = min(int(cfg.lam_cv_fold), views)
        for offset in [fold // 2] + [o for o in args.offsets if o != fold // 2]:
            train, held = view_split(views, fold, offset)
            sub = training_fista(ug, fista, train, int(cfg.power_iters))
            curves = {k: [] for k in (*refs, "raw_ramp", "train_psnr",
                                      *(f"{r}_p{q:g}" for q in args.powers for r in refs))}
            if dense is not None:  # the training image on the dense views it was not trained on (parallel beam:
                # dense view d sits at d * 180 / dense_views degrees, scan view v at v * 180 / views)
                ratio = args.dense_views / views
                trained = {round(int(v) * ratio) for v in train if float(int(v) * ratio).is_integer()}
                unseen = torch.tensor([d for d in range(args.dense_views) if d not in trained])
                curves["dense_unseen"] = []
            if args.split is not None:  # the image error on the object's bright part and off it (walls / rest)
                m = p.mask.to(b.dtype)
                wall = (p.truth > args.split * float(p.truth.max())).to(b.dtype) * m
                rest = m - wall
                for k in ("err_wall", "err_rest", "held_wall", "held_rest", "contrast_wall"):
                    curves[k] = []
            for lam in lams:
                x = sub.solve(torch.tensor(float(lam) * len(train) / views), iters)
                pred = ug.A.project(x)[held]
                for k, ref in refs.items():
                    curves[k].append(held_out_misfit(pred - ref[held], "none"))
                curves["raw_ramp"].append(held_out_misfit(pred - b[held], "ramp"))
                for k, ref in refs.items():  # the dose rule's weighting at each power (its ramp re-pick)
                    spectrum = residual_spectrum(pred - ref[held])
                    for q in args.powers:
                        curves[f"{k}_p{q:g}"].append(weighted_misfit(spectrum, q, pred.numel()))
                curves["train_psnr"].append(p.quality(ug.output(x) * p.mask)["psnr"])
                if dense is not None:
                    curves["dense_unseen"].append(float(
                        (dense.A.project(ug.output(x) * p.mask) - dense_truth)[unseen].pow(2).mean()))
                if args.split is not None:  # which part of the image error the held-out views see
                    e = ug.output(x) * p.mask - p.truth
                    curves["err_wall"].append(float((e * wall).pow(2).sum()))
                    curves["err_rest"].append(float((e * rest).pow(2).sum()))
                    curves["held_wall"].append(float(p.A.project(e * wall)[held].pow(2).mean()))
                    curves["held_rest"].append(float(p.A.project(e * rest)[held].pow(2).mean()))
                    curves["contrast_wall"].append(float((ug.output(x) * wall).sum() / (p.truth * wall).sum()))
            out["folds"][str(offset)] = curves
    out["grid_cpu_s"] = time.process_time() - c0
    opt = pick(lams, [-v for v in out["psnr"]])
    out["optimum"] = opt
    if dense is not None:
        out["dense_pick"] = pick(lams, out["dense_misfit"])
    out["picks"] = {off: {k: pick(lams, [-v for v in c] if k in ("train_psnr", "contrast_wall") else c)
                          for k, c in curves.items()} for off, curves in out["folds"].items()}
    if args.search:  # the solver's own search, as lam=auto runs it
        settings = ChoiceSettings.from_config(config_section("solver", "fista_tv", lam_rule="cv"), "solver", CT_RULES)
        c0 = time.process_time()
        ch = choose_fista_weight(ug, fista, iters, settings, "fd", torch.Generator().manual_seed(0),
                                 cv_fold=int(cfg.lam_cv_fold), cv_scale=float(cfg.lam_cv_scale),
                                 power_iters=int(cfg.power_iters), cv_reference=str(cfg.lam_cv_reference),
                                 cv_weight=str(cfg.lam_cv_weight), cv_offsets=int(cfg.lam_cv_offsets),
                                 cv_grid=int(cfg.lam_cv_grid), cv_guard=bool(cfg.lam_cv_guard),
                                 cv_dose=bool(cfg.lam_cv_dose))
        out["search"] = {"lam": ch.lam, "psnr": p.quality(ug.output(ch.state) * p.mask)["psnr"],
                         "cpu_s": time.process_time() - c0,
                         "curve": {k: v.tolist() for k, v in ch.table().items()}, "stats": ch.details}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--lam-lo", type=float, default=0.03)
    ap.add_argument("--lam-hi", type=float, default=30.0)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--offsets", type=int, nargs="*", default=[], help="more offsets of the fold")
    ap.add_argument("--split", type=float, default=None,
                    help="also split the training image's error at this fraction of the truth's maximum: the error "
                         "on the bright part (walls) and off it, in the image and in the held-out views")
    ap.add_argument("--dense-views", type=int, default=0,
                    help="also the all-view image's misfit on this many views against the truth's projections there")
    ap.add_argument("--search", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--tv-grid", default=None,
                    help="solver.tv_grid (default the solver's for synthetic data, 1; a file run's: auto)")
    ap.add_argument("--powers", type=float, nargs="*", default=[],
                    help="also each reference's held-out misfit weighted by |frequency| ** P along the detector "
                         "(solver.lam_cv_weight=dose's re-pick at power P; 1: the ramp), as curves REF_pP")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/cvcurve"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.cases:
        r = run(path, args)
        (args.out / (path.stem + ".json")).write_text(json.dumps(r, default=str))
        line = " ".join(f"{k} {v:.3g}" for k, v in r["picks"][next(iter(r["picks"]))].items())
        s = r.get("search", {})
        print(f"{r['case']}: optimum {r['optimum']:.3g} ({max(r['psnr']):.2f} dB); picks {line}; search "
              f"{s.get('lam', math.nan):.3g} ({s.get('psnr', math.nan):.2f} dB, pick {s.get('stats', {}).get('lam_cv_pick')})"
              f"; dense views' pick {r.get('dense_pick', math.nan):.3g}; {r['grid_cpu_s']:.0f} CPU s", flush=True)


if __name__ == "__main__":
    main()
