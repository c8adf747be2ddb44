"""Is FISTA-TV converged at its grid-optimal weight, and would adaptive restart lift its own optimum (issue 16's
peer misses; docs/ct.md "(ctpeer3)")? And where in the image SART+TV's answer is better.

Per case file (scripts/heldout_ct_sinograms.py) and restart scheme (--restarts: regrun.optim.fista.RESTARTS,
`gradient` = O'Donoghue-Candes adaptive restart), FISTA-TV as a file run builds it (solver.tv_grid's file default,
140-iteration default settings otherwise) runs once per weight on a log grid lam0 * 2^j, j = -half_width ..
half_width, to the largest of --iters, and at each count in --iters records the truth's PSNR, the objective, the
relative fixed-point residual |T(x) - x| / |x| and the restarts so far. The best PSNR over the grid at each count
is then "the grid optimum at N iterations" (no golden steps: every count sees the same weights).

--bregman K: at each weight, K Bregman iterations after the first solve (each min(--iters) FISTA iterations): does
giving back TV's lost contrast lift FISTA-TV's own optimum?

--regions (a SART+TV image at --passes, the peer's oracle TV stage): the squared error of FISTA-TV's image at
the 140-iteration plain optimum and of SART+TV's, summed over three regions of the truth: `edge` (within 1 px of
a jump above 5 % of the truth's range), `flat` (the rest where the 3x3 neighbourhood's spread is below 1 % of the
range) and `texture` (the rest inside the mask).

    python scripts/diag_ct_convergence.py OUT/seen_9202/metal_128_15_1e+04.npz --lam0 0.241 --regions \
        --passes 200 500 1000 --out OUT/conv_metal.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))


def fista_for(p, restart: str, settings: dict | None = None):
    """The file run's FISTA-TV on p with `restart` (and solver `settings`): (Fista, the unknown's grid)."""
    from bench_lambda_ct import tv_grid_for

    from regrun.config import config_section
    from regrun.tomography.fista_tv import lipschitz, make_fista, unknown_grid

    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=tv_grid_for(argparse.Namespace(tv_grid=None)),
                         **(settings or {}))
    ug = unknown_grid(p, cfg)
    return make_fista(ug, cfg, lipschitz(ug, cfg), restart=restart), ug


def trace(p, f, ug, lam: float, checkpoints) -> dict:
    """One FISTA run at lam to max(checkpoints): at each checkpoint PSNR, objective, fixed-point residual, restarts
    so far, and the output image at the first checkpoint."""
    lam_t = torch.tensor(float(lam), dtype=p.sinogram.dtype, device=p.sinogram.device)
    out, restarts, state = {}, 0, f.start(lam_t)
    with torch.no_grad():
        for k in range(1, max(checkpoints) + 1):
            state = f.step(state, lam_t)
            restarts += int(k > 1 and float(state[2]) == 1.0)  # t is reset to 1 only by a restart
            if k in checkpoints:
                x = state[0]
                res = float((f.prox_gradient(x, lam_t) - x).norm() / x.norm().clamp_min(1e-300))
                image = ug.output(x)
                out[str(k)] = {"psnr": p.quality(image * p.mask)["psnr"], "objective": f.objective(x, lam),
                               "residual": res, "restarts": restarts}
                if k == min(checkpoints):
                    out["image"] = image
    return out


def bregman(p, f, ug, lam: float, steps: int, iters: int) -> list[float]:
    """The truth's PSNR after each of `steps` + 1 Bregman iterations (Osher et al. 2005: the next solve's data is
    the sinogram plus every earlier solve's residual, which gives back the contrast TV took from small structures),
    each `iters` FISTA iterations at lam."""
    lam_t = torch.tensor(float(lam), dtype=p.sinogram.dtype, device=p.sinogram.device)
    b, extra, out = f.data, torch.zeros_like(f.data), []
    try:
        with torch.no_grad():
            for _ in range(steps + 1):
                f.data = b + extra
                x = f.solve(lam_t, iters)
                out.append(p.quality(ug.output(x) * p.mask)["psnr"])
                extra = extra + (b - f.project(x))
    finally:
        f.data = b
    return out


def regions(truth: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """edge / flat / texture masks of the truth (inside `mask`), see the module's docstring."""
    t = truth * mask
    span = float(t.max() - t.min()) or 1.0
    jump = torch.zeros_like(t, dtype=torch.bool)
    jump[:-1, :] |= (t[1:, :] - t[:-1, :]).abs() > 0.05 * span
    jump[:, :-1] |= (t[:, 1:] - t[:, :-1]).abs() > 0.05 * span
    jump[1:, :] |= jump[:-1, :].clone()
    jump[:, 1:] |= jump[:, :-1].clone()
    edge = F.max_pool2d(jump[None, None].to(t.dtype), 3, 1, 1)[0, 0] > 0
    mean = F.avg_pool2d(t[None, None], 3, 1, 1, count_include_pad=False)[0, 0]
    var = F.avg_pool2d((t * t)[None, None], 3, 1, 1, count_include_pad=False)[0, 0] - mean * mean
    smooth = var.clamp_min(0).sqrt() < 0.01 * span
    inside = mask.to(torch.bool)
    edge &= inside
    flat = inside & ~edge & smooth
    return {"edge": edge, "flat": flat, "texture": inside & ~edge & ~flat}


def region_errors(p, images: dict[str, torch.Tensor]) -> dict:
    """Per region: its pixels, each image's summed squared error there and its mean signed error (`_bias`: below
    0 where the image is too dark there, as TV's loss of contrast on thin walls makes it)."""
    masks = regions(p.truth, p.mask)
    out = {}
    for name, m in masks.items():
        row = {"pixels": int(m.sum())}
        for k, im in images.items():
            e = ((im - p.truth) * p.mask)[m]
            row[k] = float((e * e).sum())
            row[f"{k}_bias"] = float(e.mean()) if e.numel() else 0.0
        out[name] = row
    return out


def bands(truth: torch.Tensor, mask: torch.Tensor, images: dict[str, torch.Tensor]) -> dict:
    """Each image's squared error in bands of the truth's gradient (Sobel, quantiles 50/80/95 % inside the mask:
    a split that a photo's everywhere-steep texture does not fill as `regions`' 5 % jump does), on the bright and
    the dark side of the steepest 20 % (the truth above / at most its 3x3 mean: where a blurred wall loses and
    where it spills), and in radial bands of spatial frequency (cycles per pixel)."""
    m = mask.to(torch.bool)
    t = truth[None, None]
    kx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], dtype=t.dtype, device=t.device) / 8
    pad = F.pad(t, (1, 1, 1, 1), mode="replicate")
    grad = torch.hypot(F.conv2d(pad, kx[None, None]), F.conv2d(pad, kx.T[None, None]))[0, 0]
    q = torch.quantile(grad[m], torch.tensor([0.5, 0.8, 0.95], dtype=t.dtype, device=t.device)).tolist()
    local = F.avg_pool2d(pad, 3, 1)[0, 0]
    steep = m & (grad > q[1])
    parts = {"grad<p50": m & (grad <= q[0]), "p50-80": m & (grad > q[0]) & (grad <= q[1]),
             "p80-95": m & (grad > q[1]) & (grad <= q[2]), ">p95": m & (grad > q[2]),
             "bright side": steep & (truth > local), "dark side": steep & (truth <= local)}
    n = truth.shape[-1]
    f = torch.fft.fftfreq(n, dtype=t.dtype, device=t.device)
    radius = torch.hypot(f[:, None], f[None, :])
    freq = {f"freq [{lo:g},{hi:g})": (radius >= lo) & (radius < hi)
            for lo, hi in ((0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, 1))}
    out = {}
    for name, part in parts.items():
        out[name] = {"pixels": int(part.sum()), **{k: float((((im - truth) * mask)[part] ** 2).sum())
                                                   for k, im in images.items()}}
        for k, im in images.items():
            out[name][f"{k}_bias"] = float(((im - truth) * mask)[part].mean()) if bool(part.any()) else 0.0
    spectra = {k: torch.fft.fft2((im - truth) * mask).abs() ** 2 / truth.numel() for k, im in images.items()}
    for name, band in freq.items():  # Parseval: the bands' sums add up to the squared error inside the mask
        out[name] = {k: float(spec[band].sum()) for k, spec in spectra.items()}
    return out


def diagnose(path: Path, lam0: float, iters, restarts, half_width: int, do_regions: bool, passes,
             bregman_steps: int = 0) -> dict:
    from bench_lambda_ct import case_from_file, skimage_sart_takes

    p, (name, size, views, photons) = case_from_file(path)
    row = {"case": path.name, "object": name, "size": size, "views": views, "photons": photons, "lam0": lam0,
           "iters": list(iters), "runs": {}}
    lams = [lam0 * 2.0 ** j for j in range(-half_width, half_width + 1)]
    plain_image = None
    for restart in restarts:
        c0 = time.process_time()
        f, ug = fista_for(p, restart)
        row["tv_grid"] = ug.factor
        runs = []
        for lam in lams:
            runs.append((lam, trace(p, f, ug, lam, set(iters))))
            print(f"  {path.name} {restart} lam {lam:.4g}: " + "  ".join(
                f"{n}: {runs[-1][1][str(n)]['psnr']:.2f}" for n in iters), file=sys.stderr, flush=True)
        best = {}
        for n in iters:
            lam, r = max(runs, key=lambda lr: lr[1][str(n)]["psnr"])
            best[str(n)] = {"lam": lam, **r[str(n)]}
        if restart == "none":
            lam_best = best[str(min(iters))]["lam"]
            plain_image = dict(runs)[lam_best]["image"]
        row["runs"][restart] = {"best": best, "grid": [{"lam": lam, **{k: v for k, v in r.items() if k != "image"}}
                                                      for lam, r in runs],
                                "cpu_s": time.process_time() - c0}
    if bregman_steps:
        c0 = time.process_time()
        f, ug = fista_for(p, "none")
        row["bregman"] = {"iters": min(iters), "grid": [{"lam": lam, "psnr": bregman(p, f, ug, lam, bregman_steps,
                                                                                     min(iters))} for lam in lams],
                          "cpu_s": 0.0}
        row["bregman"]["cpu_s"] = time.process_time() - c0
    if do_regions and plain_image is not None and skimage_sart_takes(p):
        from diag_ct_sart_gap import sart_best

        c0 = time.process_time()
        sart = sart_best(p, passes)
        image = sart.pop("image")
        row["sart"] = sart
        row["regions"] = region_errors(p, {"fista": plain_image * p.mask, "sart_tv": image})
        row["bands"] = bands(p.truth, p.mask, {"fista": plain_image * p.mask, "sart_tv": image})
        row["_images"] = {"fista": plain_image * p.mask, "sart_tv": image, "truth": p.truth}
        row["sart_cpu_s"] = time.process_time() - c0
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", type=Path, nargs="*")
    ap.add_argument("--images", type=Path, nargs="+", default=[], help="saved images (this script's NPZ files): "
                    "their `bands` again, no solve (the mask: the truth's disk, 0.95 of the half-width)")
    ap.add_argument("--lam0", type=float, nargs="*", default=[], help="one per case: the grid's centre")
    ap.add_argument("--iters", type=int, nargs="+", default=[140, 280, 560, 1120])
    ap.add_argument("--restarts", nargs="+", default=["none", "gradient"])
    ap.add_argument("--half-width", type=int, default=3)
    ap.add_argument("--regions", action="store_true")
    ap.add_argument("--bregman", type=int, default=0, help="Bregman steps after the first solve at each weight")
    ap.add_argument("--passes", type=int, nargs="+", default=[20, 50, 100, 200, 500, 1000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    from regrun.optim.fista import RESTARTS

    if args.images:
        from regrun.optim.fista import disk_mask

        rows = []
        for path in args.images:
            d = {k: torch.as_tensor(v) for k, v in np.load(path).items()}
            b = bands(d["truth"], disk_mask(tuple(d["truth"].shape)), {"fista": d["fista"], "sart_tv": d["sart_tv"]})
            rows.append({"images": path.name, "bands": b})
            for name, v in b.items():
                print(f"{path.stem} {name}: " + "  ".join(f"{k} {x:.4g}" for k, x in v.items()), flush=True)
        args.out.write_text(json.dumps({"argv": sys.argv[1:] if argv is None else argv, "results": rows}, indent=1))
        return
    if len(args.lam0) != len(args.cases):
        ap.error(f"--lam0 gives {len(args.lam0)} weights for {len(args.cases)} cases: one per case")
    bad = [r for r in args.restarts if r not in RESTARTS]
    if bad:
        ap.error(f"--restarts {bad[0]!r}: allowed {', '.join(RESTARTS)}")
    torch.set_num_threads(args.threads)
    rows = []
    for path, lam0 in zip(args.cases, args.lam0):
        rows.append(diagnose(path, lam0, sorted(args.iters), args.restarts, args.half_width, args.regions,
                             args.passes, args.bregman))
        r = rows[-1]
        images = r.pop("_images", None)
        if images is not None:  # beside the JSON: the two images and the truth, for maps of their errors
            args.out.parent.mkdir(parents=True, exist_ok=True)
            np.savez(args.out.parent / f"{args.out.stem}_{path.stem}.npz",
                     **{k: v.cpu().numpy() for k, v in images.items()})
        for restart, run in r["runs"].items():
            cells = "  ".join(f"{n}: {b['psnr']:.2f} ({b['lam']:.3g})" for n, b in run["best"].items())
            print(f"{r['case']} {restart}: {cells}  [{run['cpu_s']:.0f} CPU s]", flush=True)
        for g in r.get("bregman", {}).get("grid", []):
            print(f"{r['case']} Bregman at lam {g['lam']:.3g}: " + " -> ".join(f"{q:.2f}" for q in g["psnr"]),
                  flush=True)
        if "regions" in r:
            print(f"{r['case']} SART+TV {r['sart']['sart_tv']:.2f}; regions "
                  + "  ".join(f"{k} {v['pixels']} px: fista {v['fista']:.1f} ({v['fista_bias']:+.3f}) "
                              f"sart {v['sart_tv']:.1f} ({v['sart_tv_bias']:+.3f})"
                              for k, v in r["regions"].items()), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"argv": sys.argv[1:] if argv is None else argv, "results": rows}, indent=1))


if __name__ == "__main__":
    main()
