"""Why FISTA-TV's own best PSNR lies below scikit-image's SART+TV on some 15-view scans (issue 16; docs/ct.md
"(ct15)"). Each measurement is one candidate cause, on one case file (scripts/heldout_ct_sinograms.py), all
against the truth (oracles, as the peer's passes and TV weight are):

- `fista`: the solver as a file run has it (solver.tv_grid's default for problem.data=file, its data model,
  140 FISTA iterations, 5 prox iterations): its best PSNR over lambda (diag_lambda_cv_peer.best_psnr, from
  --lam0), the objective there;
- `long_search`: the best over lambda of the solver run to 10x the iterations (1400; its own optimum, not an
  early-stopped one);
- `curve` (only when asked): the PSNR at lambda 1e-4 to 10 at 140 and at 1400 iterations (is the best an
  early-stopped least-squares image rather than TV's?);
- `iterations` (only when asked): the PSNR at one lambda after 140, 280, 560 and 1400 iterations;
- `sirt_long` (only when asked): SIRT on regrun's projector for 1000 and 3000 updates, alone and + TV (does
  SIRT+TV reach SART+TV when run as long, i.e. is the peer's edge its convergence or its projector?);
- `converged`: at `fista`'s lambda, 10x the FISTA iterations and/or 20 prox iterations: PSNR and objective (not
  converged at 140 if the objective falls by more than a hair and the PSNR moves);
- `box`: the prox's primal step clipped to [0, the truth's maximum] too (an oracle upper bound), its best;
- `post_tv`: the solver's image at its best lambda, then scikit-image's Chambolle TV denoising at the best
  weight (does a second, image-domain TV stage remove error the variational one leaves?);
- `ls_tv`: the two-stage estimator on regrun's projector: FISTA at lambda 1e-4 for 1400 iterations (about
  nonnegative least squares), alone and then TV-denoised; `sirt`, `sirt_tv`: SIRT 300 updates alone / + TV;
- `sart`, `sart_tv`: scikit-image's SART at the best of --passes, alone / + TV (the peer);
- `model`: the same noise on regrun's own projection of the truth's cell average (A t + b - clean): the data
  model's mismatch taken away; `fista` and `sart_tv` again on it; `model_error`: |A t - clean| / |clean| for
  the solver's data model; `split`: |error|^2 of the solver's image, SART+TV's and the zero image in the
  scan's range and the rest (diag_lambda_cv_peer.split).

    python scripts/diag_ct_sart_gap.py OUT/heldout_6701/bone_256_15_1e+05.npz --lam0 0.0316 --out OUT/gap.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

PARTS = ("long_search", "converged", "box", "two_stage", "sart", "model", "curve", "iterations", "sirt_long")
CURVE = (1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
LONG = 1400  # 10x the solver's 140 FISTA iterations: the "long" runs' count (a test lowers it)
WEIGHTS = [0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32]


class BoxProx:
    """A TV prox whose primal step is also clipped to at most `upper` (the solver's clips at 0 only)."""

    def __init__(self, prox, upper: float):
        self.prox, self.upper = prox, upper
        plain = prox._cv_primal
        prox._cv_primal = lambda u, v, b, mu: plain(u, v, b, mu).clamp_max(upper)

    def __getattr__(self, name):
        return getattr(self.prox, name)

    def __call__(self, *args, **kwargs):
        return self.prox(*args, **kwargs)


def solver(p, data=None, iters: int = 140, inner: int = 5, upper: float | None = None):
    """The file run's FISTA-TV on p (its sinogram or `data`): (solve(lam) on the output grid, the Fista)."""
    from bench_lambda_ct import tv_grid_for

    from regrun.config import config_section
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid

    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=tv_grid_for(argparse.Namespace(tv_grid=None)),
                         inner_iters=inner)
    ug = unknown_grid(p, cfg)
    f = make_fista(ug, cfg, lipschitz(ug, cfg))
    if data is not None:
        f.data = data
    if upper is not None:
        f.prox = BoxProx(f.prox, upper)

    def solve(lam, keep=None):
        with torch.no_grad():
            x = f.solve(torch.tensor(float(lam), dtype=torch.float64), iters)
        if keep is not None:
            keep.append(x)
        return ug.output(x)
    solve.ug = ug
    return solve, f


def sart_best(p, passes, sinogram=None) -> dict:
    """SART's best pass alone and with TV denoising (each its own best)."""
    from bench_lambda_ct import skimage_sart_passes, tv_denoise_best

    alone, tv, image = (-1e9, 0), (-1e9, 0, 0), None
    for k, x in skimage_sart_passes(p, passes, sinogram):
        alone = max(alone, (p.quality(x * p.mask)["psnr"], k))
        q, w, im = tv_denoise_best(p, x, WEIGHTS)
        if q > tv[0]:
            tv, image = (q, k, w), im
    return {"sart": alone[0], "sart_passes": alone[1], "sart_tv": tv[0], "sart_tv_passes": tv[1],
            "sart_tv_weight": tv[2], "image": image}


def diagnose(path: Path, lam0: float, passes, parts=PARTS, at: float | None = None) -> dict:
    from bench_lambda_ct import case_from_file, sirt_tv_best, skimage_sart_takes, tv_denoise_best
    from diag_lambda_cv_peer import best_psnr, split

    import numpy as np

    p, (name, size, views, photons) = case_from_file(path)
    d = np.load(path)
    psnr = lambda x: p.quality(x * p.mask)["psnr"]
    row = {"case": path.name, "object": name, "size": size, "views": views, "photons": photons}
    c0 = time.process_time()
    solve, f = solver(p)
    row["tv_grid"] = solve.ug.factor
    lam, best, _ = best_psnr(p, solve, lam0)
    keep = []
    x = solve(lam, keep)
    row["fista"] = {"lam": lam, "psnr": best, "objective": f.objective(keep[0], lam)}
    if "curve" in parts:  # PSNR against lambda far below the searches' ranges, at 140 and 1400 iterations
        row["curve"] = {str(iters): {f"{lam:g}": psnr(solver(p, iters=iters)[0](lam)) for lam in CURVE}
                        for iters in (140, LONG)}
    if "iterations" in parts:  # how the PSNR at one lambda (--at, else the search's) moves with the iterations
        at = lam if at is None else at
        row["iterations"] = {"lam": at, **{str(n): psnr(solver(p, iters=n)[0](at)) for n in (140, 280, 560, LONG)}}
    if "long_search" in parts:  # the converged solver's own best over lambda (10x the iterations)
        ll, lb, _ = best_psnr(p, solver(p, iters=LONG)[0], lam)
        row["long_search"] = {"lam": ll, "psnr": lb}
    row["converged"] = {}
    for iters, inner in ((LONG, 20), (LONG, 5), (140, 20)) if "converged" in parts else ():  # which loop is short
        keep = []
        x_long = solver(p, iters=iters, inner=inner)[0](lam, keep)
        row["converged"][f"{iters},{inner}"] = {"psnr": psnr(x_long), "objective": f.objective(keep[0], lam)}
    if "box" in parts:
        bl, bb, _ = best_psnr(p, solver(p, upper=float(p.truth.max()))[0], lam)
        row["box"] = {"lam": bl, "psnr": bb}
    if "two_stage" in parts:
        q, w, _ = tv_denoise_best(p, x * p.mask, WEIGHTS)
        row["post_tv"] = {"psnr": q, "weight": w}
        ls = solver(p, iters=LONG)[0](1e-4)
        q, w, _ = tv_denoise_best(p, ls * p.mask, WEIGHTS)
        row["ls_tv"] = {"ls": psnr(ls), "psnr": q, "weight": w}
        row["sirt"] = sirt_tv_best(p, 300, [1e-9])[0]  # a weight of 1e-9: no denoising (0 divides by zero)
        row["sirt_tv"] = sirt_tv_best(p, 300, WEIGHTS)[0]
    if "sirt_long" in parts:  # SIRT run on towards SART's passes: its convergence or its projector?
        row["sirt_long"] = {str(n): {"sirt": sirt_tv_best(p, n, [1e-9])[0], "sirt_tv": sirt_tv_best(p, n, WEIGHTS)[0]}
                            for n in (1000, 3000)}
    row["fista_cpu_s"] = time.process_time() - c0
    c0 = time.process_time()
    # where each image's error lies: the scan's range and the rest (diag_lambda_cv_peer.split, ctpeer's)
    row["split"] = {"fista": split(p, x * p.mask), "zero": split(p, torch.zeros_like(x))}
    if skimage_sart_takes(p) and "sart" in parts:
        sart = sart_best(p, passes)
        row["split"]["sart_tv"] = split(p, sart.pop("image"))
        row.update(sart)
    row["sart_cpu_s"] = time.process_time() - c0
    if "clean" in d.files and "model" in parts:  # the data model's mismatch: the same noise on regrun's own projection of the truth
        clean = torch.as_tensor(d["clean"], dtype=torch.float64)
        noise = p.sinogram - clean
        # the truth on the unknown's grid (piecewise constant: its cell average is the output's truth)
        fine = p.truth if solve.ug.factor == 1 else t_fine(p.truth, solve.ug.factor)
        model = solve.ug.A.project(fine)
        row["model_error"] = float((model - clean).norm() / clean.norm())
        row["noise_level"] = float(noise.norm() / clean.norm())
        ms, _ = solver(p, data=model + noise)
        ml, mb, _ = best_psnr(p, ms, lam)
        row["model"] = {"lam": ml, "psnr": mb}
        if skimage_sart_takes(p) and "sart" in parts:
            pm = p.A.project(p.truth) + noise
            row["model"].update({k: v for k, v in sart_best(p, passes, pm).items()
                                 if k.startswith("sart_tv") and k != "image"})
    row["cpu_s"] = time.process_time() - c0 + row["fista_cpu_s"]
    return row


def t_fine(x: torch.Tensor, k: int) -> torch.Tensor:
    """x repeated k times along each axis (piecewise constant on the finer grid: its cell average is x)."""
    return x.repeat_interleave(k, 0).repeat_interleave(k, 1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="+")
    ap.add_argument("--lam0", type=float, nargs="*", default=None, help="one per case: the search's centre")
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50, 100, 200])
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS[:-3]),
                    help="the measurements beside `fista` (curve, iterations, sirt_long: only when asked)")
    ap.add_argument("--at", type=float, default=None, help="iterations: the lambda (default: the search's best)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for k, path in enumerate(args.cases):
        rows.append(diagnose(path, args.lam0[k] if args.lam0 else 1.0, tuple(args.passes), set(args.parts), args.at))
        print(json.dumps(rows[-1]), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
