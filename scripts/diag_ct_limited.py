"""Why `solver.lam=auto` (cv) picks λ low on limited-range scans (docs/ct.md, "Limited-range scans (ctlimited)"):
on users' files (scripts/heldout_ct_sinograms.py --user), over a log grid of λ (all-view units):

- the all-view reconstruction's PSNR (the truth's optimum), and its misfit on dense views (evenly over the full
  half turn, or full turn for a fan) against the truth's projections there, split into the views inside the
  measured range and those outside it (the missing wedge): which directions' error decides the optimum;
- for each hold-out layout, the training reconstruction's held-out misfit against `resolved` (the search's
  reference) and its own PSNR (its optimum, rescaled to all views: is the rescaling right on a limited range?):
  `fold8` (the solver's: every 8th view from 4), `fold4`, `fold16`, and `ends` (the first and last views/16 each
  held out: the training range narrower, so the held-out views lie outside it, in its missing wedge);
- the same training predictions' held-out misfit against the data as measured (`held_raw`), the noise-free data
  (`held_clean`) and the noise-free data at the model's resolution (`held_clean_ref`): which part sets the pick;
- the noise variance the dose rule and the cap read (the views' sums or the fan's pairs) against the file's
  true noise (sinogram - clean);
- the solver's own search (its pick before the scale, the scale the dose rule used, the cap, the answer).

Each curve's pick is the solver's rule (the parabola through the best three points in log λ); ratios are the
truth's optimum / the pick (> 1: too little TV).

    python scripts/diag_ct_limited.py outputs/heldout_ct_4621/ellipses_256_60_1e+05_lim120.npz --out OUT/diag
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
from bench_ct_cvcurve import pick  # noqa: E402
from bench_lambda_ct import case_from_file  # noqa: E402

from regrun.config import config_section  # noqa: E402
from regrun.optim.parameter_choice import ChoiceSettings  # noqa: E402
from regrun.optim.scalar_search import log_grid  # noqa: E402
from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid  # noqa: E402
from regrun.tomography.model_resolution import apply_kernels, resolution_kernels  # noqa: E402
from regrun.tomography.fista_tv_weight import (  # noqa: E402
    CT_RULES,
    choose_fista_weight,
    held_out_misfit,
    noise_variance,
    reference_and_gain,
    training_fista,
    view_split,
)
from regrun.tomography.xray import XRayTransform  # noqa: E402


def layouts(views: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(training, held-out) views per hold-out layout; the views in the file's order (sorted by angle here)."""
    out = {f"fold{f}": view_split(views, f) for f in (8, 4, 16) if f <= views}
    k = max(1, round(views / 16))  # views/8 held out in all, half at each end of the range
    held = torch.cat((torch.arange(k), torch.arange(views - k, views)))
    keep = torch.tensor([v for v in range(views) if v not in set(held.tolist())])
    out["ends"] = (keep, held)
    return out


def dense_geometry(p, n: int):
    """The file's scan geometry (its axis as regrun placed it) at n views evenly over the full range."""
    full = math.pi if p.kind == "parallel" else 2 * math.pi
    saved = p.file_angles
    p.file_angles = torch.arange(n, dtype=torch.float64) * full / n
    conv = p.axis.get("convention", "geometric")
    try:
        g = p._geometry(n, list(p.geometry.detector), "geometric" if conv == "estimated" else conv,
                        p.axis["offset_bins"] if conv == "estimated" else None)
    finally:
        p.file_angles = saved
    return g, torch.arange(n, dtype=torch.float64) * full / n


def run(path: Path, args) -> dict:
    p, (name, size, views, photons) = case_from_file(path)
    d = np.load(path)
    clean = torch.as_tensor(d["clean"], dtype=torch.float64)
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid="auto")  # a file's run: problem.data=file's grid
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    iters, b = int(cfg.iters), p.sinogram
    order = torch.argsort(p.file_angles)
    if not torch.equal(order, torch.arange(views)):
        raise SystemExit(f"{path}: angles not sorted; the layouts assume the file's order is the angles'")
    ref = reference_and_gain(ug, "resolved")[0]
    clean_d = clean.reshape(b.shape).to(b)
    clean_ref = apply_kernels(clean_d, resolution_kernels(ug.A.project, ug.geometry, b.dtype, b.device))
    lams = log_grid(args.lam_lo, args.lam_hi, args.points)
    full = math.pi if p.kind == "parallel" else 2 * math.pi
    g, dense_ang = dense_geometry(p, args.dense_views)
    dense = XRayTransform(g, cache_mb=0)
    dense_truth = dense.project(p.truth)
    # a dense view is inside the measured range where a measured view lies within the scan's median spacing of it
    # (circular over the full range: a +-60 tilt series wraps across 0, a wedge leaves a gap inside)
    a = p.file_angles.numpy()
    lo, hi = float(a.min()), float(a.max())
    gap = np.abs((dense_ang.numpy()[:, None] - a[None, :] + full / 2) % full - full / 2).min(1)
    inside = torch.as_tensor(gap <= float(np.median(np.diff(np.sort(a)))) + 1e-9)
    noise_est = noise_variance(b, getattr(p, "geometry", None))[0]
    gain = reference_and_gain(ug, "resolved")[2]  # the reference's gain on white noise, per view (the dose rule's)
    out = {"case": path.name, "object": name, "size": size, "views": views, "photons": photons,
           "tv_grid": ug.factor, "range_deg": math.degrees(hi - lo), "lams": [float(v) for v in lams],
           "dense_inside": int(inside.sum()), "dense_outside": int((~inside).sum()),
           "noise_est": noise_est, "noise_true": float((b - clean).pow(2).mean()),
           "psnr": [], "dense_in": [], "dense_out": [], "dense_in_ramp": [], "dense_out_ramp": [], "layouts": {}}
    c0 = time.process_time()
    with torch.no_grad():
        for lam in (lams if args.all_view else []):
            x = ug.output(fista.solve(torch.tensor(float(lam)), iters)) * p.mask
            out["psnr"].append(p.quality(x)["psnr"])
            r = dense.project(x) - dense_truth
            out["dense_in"].append(held_out_misfit(r[inside], "none"))
            out["dense_out"].append(held_out_misfit(r[~inside], "none"))
            out["dense_in_ramp"].append(held_out_misfit(r[inside], "ramp"))
            out["dense_out_ramp"].append(held_out_misfit(r[~inside], "ramp"))
        for lay, (train, held) in layouts(views).items():
            if args.layouts and lay not in args.layouts:
                continue
            sub = training_fista(ug, fista, train, int(cfg.power_iters))
            cur = {"held": [], "train_psnr": [], "train_dense_out": [], "held_raw": [], "held_clean": [],
                   "held_clean_ref": []}
            for lam in lams:
                xs = sub.solve(torch.tensor(float(lam) * len(train) / views), iters)
                proj = ug.A.project(xs)[held]
                cur["held"].append(held_out_misfit(proj - ref[held], "none"))
                # the same prediction against the data as measured, the noise-free data, and the noise-free data
                # at the model's resolution: which part of the held-out misfit sets the pick
                cur["held_raw"].append(held_out_misfit(proj - b[held], "none"))
                cur["held_clean"].append(held_out_misfit(proj - clean_d[held], "none"))
                cur["held_clean_ref"].append(held_out_misfit(proj - clean_ref[held], "none"))
                xo = ug.output(xs) * p.mask
                cur["train_psnr"].append(p.quality(xo)["psnr"])
                cur["train_dense_out"].append(held_out_misfit((dense.project(xo) - dense_truth)[~inside], "none"))
            cur["gain"] = float(gain[held.to(gain.device)].mean())
            out["layouts"][lay] = cur
    out["grid_cpu_s"] = time.process_time() - c0
    out["optimum"] = pick(lams, [-v for v in out["psnr"]]) if args.all_view else math.nan
    out["picks"] = {k: pick(lams, out[k]) for k in ("dense_in", "dense_out", "dense_in_ramp", "dense_out_ramp")
                    if args.all_view}
    out["picks"].update({f"{lay}_{k}": pick(lams, [-v for v in c[k]] if k == "train_psnr" else c[k])
                         for lay, c in out["layouts"].items() for k in c if k != "gain"})
    if args.search:
        settings = ChoiceSettings.from_config(config_section("solver", "fista_tv", lam_rule="cv"), "solver", CT_RULES)
        c0 = time.process_time()
        ch = choose_fista_weight(ug, fista, iters, settings, "fd", torch.Generator().manual_seed(0),
                                 cv_fold=int(cfg.lam_cv_fold), cv_scale=float(cfg.lam_cv_scale),
                                 power_iters=int(cfg.power_iters), cv_reference=str(cfg.lam_cv_reference),
                                 cv_weight=str(cfg.lam_cv_weight), cv_offsets=int(cfg.lam_cv_offsets),
                                 cv_grid=int(cfg.lam_cv_grid), cv_guard=bool(cfg.lam_cv_guard),
                                 cv_dose=bool(cfg.lam_cv_dose), cv_fit_cap=cfg.lam_cv_fit_cap,
                                 cv_fit_cap_share=cfg.lam_cv_fit_cap_share)
        out["search"] = {"lam": ch.lam, "psnr": p.quality(ug.output(ch.state) * p.mask)["psnr"],
                         "cpu_s": time.process_time() - c0, "stats": ch.details}
    return out


def powers(path: Path, lam_main: float, exps) -> dict:
    """The PSNR of one FISTA-TV run on all views at lam_main x coverage ** -p for each p (solver.lam_cv_coverage_power
    applied after the cap to main's answer, as the solver applies it): the seen cases' check of a power."""
    from regrun.tomography.fista_tv_weight import angular_coverage

    p, (name, size, views, photons) = case_from_file(path)
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid="auto")  # a file's run: problem.data=file's grid
    ug = unknown_grid(p, cfg)
    fista = make_fista(ug, cfg, lipschitz(ug, cfg))
    c = angular_coverage(p.geometry)
    out = {"case": path.name, "coverage": c, "lam_main": lam_main, "psnr": {}}
    c0 = time.process_time()
    with torch.no_grad():
        for e in exps:
            lam = lam_main * c ** -e
            x = ug.output(fista.solve(torch.tensor(lam), int(cfg.iters))) * p.mask
            out["psnr"][f"{e:g}"] = (lam, p.quality(x)["psnr"])
    out["cpu_s"] = time.process_time() - c0
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--lam-lo", type=float, default=0.15)
    ap.add_argument("--lam-hi", type=float, default=100.0)
    ap.add_argument("--points", type=int, default=9)
    ap.add_argument("--dense-views", type=int, default=180)
    ap.add_argument("--layouts", nargs="*", default=None, help="only these hold-out layouts (fold8 fold4 fold16 ends)")
    ap.add_argument("--search", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--all-view", action=argparse.BooleanOptionalAction, default=True,
                    help="the all-view reconstructions' PSNR and dense-view misfits (--no-all-view: the layouts only)")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/ctlimited_diag"))
    ap.add_argument("--lam-main", type=float, nargs="*", default=None,
                    help="one per case: main's answer; then only the PSNR at lam_main x coverage ** -p per --powers")
    ap.add_argument("--powers", type=float, nargs="*", default=[0.0, 0.5, 1.0, 1.5])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.lam_main:
        for path, lam in zip(args.cases, args.lam_main):
            r = powers(path, lam, args.powers)
            (args.out / (path.stem + "_powers.json")).write_text(json.dumps(r))
            print(f"{r['case']}: coverage {r['coverage'] * 180:.1f} deg; " + "; ".join(
                f"p {e}: lam {v[0]:.4g} {v[1]:.2f} dB" for e, v in r["psnr"].items()) + f"; {r['cpu_s']:.0f} CPU s",
                flush=True)
        return
    for path in args.cases:
        r = run(path, args)
        (args.out / (path.stem + ".json")).write_text(json.dumps(r, default=str))
        s = r.get("search", {})
        picks = " ".join(f"{k} {v:.3g}" for k, v in r["picks"].items())
        print(f"{r['case']}: optimum {r['optimum']:.3g} ({max(r['psnr'], default=math.nan):.2f} dB); picks {picks}; "
              f"search {s.get('lam', math.nan):.3g} ({s.get('psnr', math.nan):.2f}); noise est {r['noise_est']} true "
              f"{r['noise_true']:.4g}; {r['grid_cpu_s']:.0f} CPU s", flush=True)


if __name__ == "__main__":
    main()
