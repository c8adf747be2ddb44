"""FISTA-TV's lambda chosen from the sinogram alone (solver.lam=auto) against the grid-optimal lambda (chosen with
the truth) and oracle-tuned peers (SIRT on regrun's projector, and ASTRA's SIRT and CGLS when astra-toolbox
imports, each followed by scikit-image's TV denoising at its best weight), on objects designed here (random
ellipses, the metal part, a natural image in a disk, a porous foam, Shepp-Logan, scikit-image's coins), Poisson noise, simulated on a
grid twice finer than the reconstruction.

Per case: a log grid of lambda with the truth's PSNR (and, with --grid-rules, each data-space rule's criterion
at every point: the same reconstruction, rss, Hutchinson divergence with one probe and the difference-estimated
noise, so each rule's pick on the grid shows beside the PSNR curve); the grid optimum refined by golden-section
steps on the PSNR; then the real `auto` search (regrun.tomography.fista_tv_weight with the solver's settings)
for each rule in --auto-rules. Prints a table and writes JSON and markdown.

    python scripts/bench_lambda_ct.py --size 64 --views 60 30 15 --out outputs/bench/lambda_ct_64

ASTRA's wheel needs the CUDA runtime and cuFFT libraries on the library path even for its CPU algorithms
(pip install astra-toolbox pulls nvidia-cuda-runtime-cu12 and nvidia-cufft-cu12; add their lib folders to
LD_LIBRARY_PATH).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

OBJECTS = ("ellipses", "metal_part", "natural", "foam", "shepp_logan", "coins")
PEERS = ("peer_psnr", "skimage_sart_tv", "astra_sirt_tv", "astra_cgls_tv")  # the oracle peers' keys in a result


def designed_object(name: str, fine: int, seed: int) -> torch.Tensor:
    """The object on the fine grid (values in [0, 1])."""
    from regrun.tomography.phantoms import phantom_function, render

    if name in ("metal_part", "shepp_logan"):
        return render(phantom_function(name, seed), (fine, fine), sub=2)
    c = (torch.arange(fine, dtype=torch.float64) + 0.5) / fine * 2 - 1
    x1, x2 = torch.meshgrid(c, c, indexing="ij")
    disk = (x1**2 + x2**2 < 0.9**2).to(torch.float64)
    if name == "foam":  # a porous part: a disk with 60 round pores of radius 0.5-4 % of the width, some touching
        rng = np.random.default_rng(seed + 100)
        img = 0.8 * (x1**2 + x2**2 < 0.8**2).to(torch.float64)
        for _ in range(60):
            cx, cy = rng.uniform(-0.7, 0.7, 2)
            r = rng.uniform(0.01, 0.08)
            img[(x1 - cx) ** 2 + (x2 - cy) ** 2 < r**2] = rng.choice([0.0, 0.3])
        return img * disk
    if name == "ellipses":
        rng = np.random.default_rng(seed)
        img = torch.zeros(fine, fine, dtype=torch.float64)
        for _ in range(10):
            cx, cy = rng.uniform(-0.5, 0.5, 2)
            a, b = rng.uniform(0.05, 0.35, 2)
            t = rng.uniform(0, np.pi)
            u = (x1 - cx) * math.cos(t) + (x2 - cy) * math.sin(t)
            v = -(x1 - cx) * math.sin(t) + (x2 - cy) * math.cos(t)
            img += rng.uniform(-0.3, 0.6) * ((u / a) ** 2 + (v / b) ** 2 < 1).to(torch.float64)
        return img.clamp_min(0) * disk
    import skimage.data
    import skimage.transform

    cam = skimage.transform.resize(skimage.data.camera()[40:440, 60:460].astype(float) / 255, (fine, fine),
                                   anti_aliasing=True)
    return torch.as_tensor(cam) * disk


def make_case(obj: str, size: int, views: int, photons: float, seed: int, oversample: int = 2):
    """A ct_fewview problem whose sinogram and truth are the designed object's (Poisson noise, on a grid
    `oversample` times finer)."""
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    ctx = RunContext(torch.device("cpu"), torch.float64, seed, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", size=size, views=views, noise="poisson", photons=photons,
                                 data_seed=seed, oversample=oversample), ctx)
    fine = designed_object(obj, oversample * size, seed)
    truth = fine.unflatten(0, (size, oversample)).mean(1).unflatten(1, (size, oversample)).mean(2)
    p.sinogram = p._add_noise(p._project_fine(p.geometry, fine))
    p.truth = truth * p.mask
    return p


COUNTS_AIR = False  # --counts-air-correction: problem.counts_air_correction for the counts cases (docs/ct.md "(ctdrift)")


def case_from_file(path: Path, support: str | None = None):
    """A ct_fewview problem holding a held-out case made outside regrun (scripts/heldout_ct_sinograms.py): its
    sinogram and truth; (object name, size, views, photons). `support`: a user's file's problem.support (None: the
    default); the truth as made is kept whole (`truth_full`) to score both regions (regions_psnr)."""
    from regrun.config import config_section
    from regrun.context import RunContext
    from regrun.problems.ct_fewview import CTFewView

    d = np.load(path)
    size, views = int(d["size"]), int(d["views"])
    if "sinogram_file" in d:  # scripts/ct_radon_files.py: a user's .npy beside the case, read as the README's
        # command reads it with the settings the README gives such a file and the user's truth typed
        # (problem.truth_file: the grid is the truth's); the grid the file alone implies is recorded beside it
        ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
        extra = json.loads(str(d["problem"]))
        if support is not None:
            extra["support"] = support
        sino = str((Path(path).parent / str(d["sinogram_file"])).resolve())
        read = {}
        for typed in (None, size):
            p = CTFewView(config_section("problem", "ct_fewview", data="file", views=None, sinogram=sino,
                                         size=typed, **extra), ctx)
            read[typed] = (p.shape[0], str(p.grid_from))
        p.truth_full = torch.as_tensor(d["truth"], dtype=torch.float64)
        p.truth = p.truth_full * p.mask
        p.file_grid_read = read[None]
        # scikit-image's SART peer on the file as its user holds it (radon's layout, angles and axis)
        p.skimage_user = np.load(sino).T
        level = float(d["noise_level"])
        return p, (str(d["object"]), size, views, float(d["photons"]) if not level else -level)
    if "counts_file" in d:  # scripts/ct_counts_files.py: a detector's counts, flats and darks, read as regrun reads them
        ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
        row = int(d["slice"])
        # flats and darks in files of their own and where they were taken (ct_counts_files.py LAYOUT files,
        # docs/ct.md "(ctflats)"), their paths beside the case
        extra = json.loads(str(d["problem"])) if "problem" in d else {}
        here = Path(path).parent
        for key in ("flat", "dark"):
            if key in extra:
                extra[key] = ([str((here / p).resolve()) for p in extra[key]] if isinstance(extra[key], list)
                              else str((here / extra[key]).resolve()))
        p = CTFewView(config_section("problem", "ct_fewview", data="file", views=None, size=size,
                                     sinogram=str((here / str(d["counts_file"])).resolve()),
                                     slice=None if row < 0 else row, counts_air_correction=COUNTS_AIR, **extra), ctx)
        p.truth = torch.as_tensor(d["truth"], dtype=torch.float64) * p.mask
        # the peers read the axis the file's estimate took (rotation_centre=auto is no convention they know)
        p.cfg.rotation_centre = str((p.axis or {}).get("convention", "auto"))
        return p, (f"{d['object']} (counts)", size, views, float(d["photons"]))
    if "angles" in d:  # seed 4621 on: a user's file (its angles in degrees): read as `problem.data=file` reads it
        ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
        # seed 4721 on: a fan beam's file too (the user gives problem.geometry=fan)
        geometry = str(d["geometry"]) if "geometry" in d else "parallel"
        p = CTFewView(config_section("problem", "ct_fewview", data="file", sinogram=str(Path(path).resolve()),
                                     size=size, views=None, geometry=geometry), ctx)
        p.truth = torch.as_tensor(d["truth"], dtype=torch.float64) * p.mask
        tag = str(Path(path).stem).split(f"_{views}_", 1)[-1].split("_", 1)
        return p, (f"{d['object']} (user file{', ' + tag[1] if len(tag) > 1 else ''})", size, views,
                   float(d["photons"]))
    geometry = str(d["geometry"]) if "geometry" in d else "parallel"  # files before seed 3101: parallel
    # seed 3501 on: a parallel beam's angular range may be limited (the generator's fan beams are 360 degrees)
    span = float(d["angle_range"]) if "angle_range" in d and geometry == "parallel" else None
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    p = CTFewView(config_section("problem", "ct_fewview", size=size, views=views, noise="none", oversample=1,
                                 geometry=geometry, angle_range=span), ctx)
    if tuple(p.sinogram.shape) != d["sinogram"].shape:
        raise ValueError(f"{path}: sinogram {d['sinogram'].shape}, the problem's {tuple(p.sinogram.shape)}")
    p.sinogram = torch.as_tensor(d["sinogram"], dtype=torch.float64)
    p.truth = torch.as_tensor(d["truth"], dtype=torch.float64) * p.mask
    lim = "" if span is None or span == (180.0 if geometry == "parallel" else 360.0) else f", {span:g} deg"
    gauss = f", gaussian {float(d['noise_level']):g}" if float(d["noise_level"] if "noise_level" in d else 0) else ""
    name = f"{d['object']} (file{', fan' if geometry == 'fan' else ''}{lim}{gauss})"
    return p, (name, size, views, float(d["photons"]))


def regions_psnr(problem, x: torch.Tensor, masked: bool = True) -> dict[str, float] | None:
    """PSNR of `x` as the solver returns it (times the support; `masked` False: as given) against the whole truth, inside the disk of
    problem.mask_radius and over the square: a disk run and a square run compared on the same region (docs/ct.md
    "(ctsquare)"). None without the whole truth (case files other than a user's radon file)."""
    from regrun.metrics import psnr

    if not hasattr(problem, "truth_full"):
        return None
    est, tru = (x * problem.mask if masked else x).numpy(), problem.truth_full.numpy()
    disk = problem._disk_mask(torch.device("cpu")).numpy()
    return {"disk": psnr(est[disk], tru[disk]), "square": psnr(est.ravel(), tru.ravel())}


def sirt_tv_peer(problem, iters: int, weights) -> tuple[float, float]:
    """SIRT then TV denoising at the weight with the best PSNR against the truth (an oracle): (PSNR, weight)."""
    psnr, w, _ = sirt_tv_best(problem, iters, weights)
    return psnr, w


def sirt_tv_best(problem, iters: int, weights) -> tuple[float, float, torch.Tensor]:
    """sirt_tv_peer's oracle with its image: (PSNR, weight, image)."""
    A, b = problem.A, problem.sinogram
    row = A.project(torch.ones(problem.shape, dtype=torch.float64)).clamp_min(1e-12)
    col = A.backproject(torch.ones_like(b)).clamp_min(1e-12)
    x = torch.zeros(problem.shape, dtype=torch.float64)
    for _ in range(iters):
        x = (x + A.backproject((b - A.project(x)) / row) / col).clamp_min(0)
    return tv_denoise_best(problem, x, weights, "peer_psnr")


def tv_denoise_best(problem, x: torch.Tensor, weights, peer: str | None = None) -> tuple[float, float, torch.Tensor]:
    """scikit-image's Chambolle TV denoising of `x` at the weight (times x's maximum) with the best PSNR against
    the truth (the peers' oracle second stage): (PSNR, weight, image). `peer`: its name in note_regions."""
    from skimage.restoration import denoise_tv_chambolle

    s = x.numpy()
    best = (-math.inf, None, None)
    for w in weights:
        whole = torch.as_tensor(denoise_tv_chambolle(s, weight=w * float(s.max())))
        note_regions(problem, peer, whole)
        im = whole * problem.mask
        q = problem.quality(im)
        best = max(best, (q["psnr"], w, im), key=lambda t: t[0])
    return best


def note_regions(problem, peer: str | None, im: torch.Tensor) -> None:
    """The peer's oracle over each region (regions_psnr of its whole image), kept as the best so far in
    problem.peer_regions[peer]: the peers scored on the disk and on the square alike (docs/ct.md "(ctsquare)")."""
    found = None if peer is None else regions_psnr(problem, im, masked=False)
    if found is None:
        return
    best = problem.__dict__.setdefault("peer_regions", {}).setdefault(peer, {})
    for region, q in found.items():
        best[region] = max(best.get(region, -math.inf), q)


def astra_tv_peers(problem, weights) -> dict[str, tuple[float, str]]:
    """ASTRA's CPU SIRT (300 iterations, nonnegative) and CGLS (best of 5-40 iterations: it diverges with noise)
    on the same geometry and sinogram, then TV denoising at the weight with the best PSNR (an oracle)."""
    import astra  # noqa: F401  (ImportError: no ASTRA peer)
    from skimage.restoration import denoise_tv_chambolle

    from regrun.tomography.astra import AstraTransform

    op = AstraTransform(problem.geometry)
    b = np.ascontiguousarray(problem.sinogram.numpy(), dtype=np.float32)
    runs = {"astra_sirt_tv": [("SIRT", 300, {"MinConstraint": 0.0})],
            "astra_cgls_tv": [("CGLS", k, {}) for k in (5, 10, 20, 40)]}
    out = {}
    for name, settings in runs.items():
        best = (-math.inf, "")
        for method, iters, options in settings:
            x = op._from_astra(op._op.reconstruct(method, b, iters, options), problem.sinogram).numpy()
            for w in weights:
                im = torch.as_tensor(denoise_tv_chambolle(x, weight=w * float(x.max())))
                note_regions(problem, name, im)
                q = problem.quality(im * problem.mask)["psnr"]
                best = max(best, (q, f"{method} {iters} it, TV {w}"), key=lambda t: t[0])
        out[name] = best
    return out


# scikit-image SART's passes tried (cumulative): on batch 6701 the best was at 200 passes on some scans, so to 1000
SART_PASSES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def skimage_sart_tv_peer(problem, weights, passes=SART_PASSES) -> tuple[float, str] | None:
    """scikit-image's SART (`iradon_sart`, nonnegative) then TV denoising, at the best of `passes` passes and the
    weights by the truth (an oracle; session 26's batch, issue 16's named peer). None where it cannot take the
    scan: a fan beam or a range other than 180 degrees."""
    if not skimage_sart_takes(problem):
        return None
    best = (-math.inf, "")
    for k, x in skimage_sart_passes(problem, passes):
        q, w, _ = tv_denoise_best(problem, x, weights, "skimage_sart_tv")
        best = max(best, (q, f"SART {k} passes, TV {w}"), key=lambda t: t[0])
    return best


def skimage_sart_takes(problem) -> bool:
    """scikit-image's SART takes a parallel beam over 180 degrees only, its axis at one of the conventions."""
    from regrun.tomography.geometry import CENTRES

    cfg = problem.cfg
    return (str(cfg.geometry) == "parallel" and cfg.angle_range in (None, 180, 180.0)
            and (hasattr(problem, "skimage_user") or str(cfg.rotation_centre) in CENTRES))


def skimage_sart_passes(problem, passes=SART_PASSES, sinogram=None):
    """(k, image on regrun's grid) after each k in `passes` of scikit-image's SART (cumulative, nonnegative) on
    the problem's sinogram (or `sinogram`, in regrun's layout), handed over in scikit-image's conventions by
    regrun-report's SkimageFrame (regrun/peers.py)."""
    from skimage.transform import iradon_sart

    from regrun.peers import SkimageFrame

    cfg = problem.cfg
    if sinogram is None and hasattr(problem, "skimage_user"):  # a radon user's file (ct_radon_files.py): SART on it
        # as its user would run it (theta as radon's, the image as the truth is stored: regrun's at angle_start=90),
        # the N x N centre of a circle=False file's padded square (radon pads by pad // 2 before, as here)
        sk = problem.skimage_user
        n, n_det = problem.shape[0], sk.shape[0]
        lo = (n_det // 2) - (n // 2)  # radon's centres: pixel n // 2 of the image at bin n_det // 2
        est = None
        for k in range(1, max(passes) + 1):
            est = iradon_sart(sk, theta=np.arange(sk.shape[1]) * 180.0 / sk.shape[1], image=est,
                              clip=(0.0, np.inf))
            if k in passes:
                yield k, torch.as_tensor(np.ascontiguousarray(est[lo:lo + n, lo:lo + n]))
        return
    b = problem.sinogram if sinogram is None else sinogram
    n, (views, n_det) = problem.shape[0], tuple(b.shape)
    frame = SkimageFrame(n, n_det, views, str(cfg.rotation_centre))
    sk = np.ascontiguousarray(b.numpy().T) / float(cfg.voxel)
    est = None
    for k in range(1, max(passes) + 1):
        est = iradon_sart(sk, theta=frame.theta, image=est, projection_shifts=frame.shifts, clip=(0.0, np.inf))
        if k in passes:
            yield k, torch.as_tensor(np.ascontiguousarray(frame.crop(est)))


def reused(path, obj, size, views, photons):
    """The case's entry in a previous run's JSON (--reuse), or None."""
    if path is None:
        return None
    for r in json.loads(Path(path).read_text())["results"]:
        if (r["object"], r["size"], r["views"], r["photons"]) == (obj, size, views, photons):
            return r
    return None


def plain_answer(details: dict, lam: float) -> float | None:
    """The answer `solver.lam_cv_weight=none` gives on the same search, from a `dose` choice's details and answer
    `lam`: the search runs on the plain misfit under both, so only the pick differs; the plain pick times the same
    scale, then the same fit cap (the cap's weight does not depend on the pick). None where there was no re-pick
    (another weight) or a coverage factor acted (its factor is not kept in the details). docs/ct.md, "(ctrepick)"."""
    if "lam_cv_pick_plain" not in details or "lam_cv_coverage" in details:
        return None
    plain, pick = float(details["lam_cv_pick_plain"]), float(details["lam_cv_pick"])
    answer = plain * float(details.get("lam_cv_uncapped", lam)) / pick  # the scale: the uncapped answer / the pick
    if "lam_cv_uncapped" in details:  # the cap bound: it is the answer itself (the details round it to 4 digits)
        answer = min(answer, lam)
    elif "lam_cv_fit_cap" in details:
        answer = min(answer, float(details["lam_cv_fit_cap"].split()[0]))
    return answer


def tv_grid_for(args):
    """--tv-grid, or what `regrun problem=ct_fewview problem.data=file solver=fista_tv` uses (the benchmark's cases
    stand for a user's sinograms): solver.tv_grid's default for problem.data=file (auto: by the output's size)."""
    if args.tv_grid is not None:
        return args.tv_grid
    from regrun.config import compose

    return compose(["problem=ct_fewview", "solver=fista_tv", "problem.data=file"]).solver.tv_grid


def run_case(obj, size, views, args, photons, problem=None):
    from regrun.config import config_section
    from regrun.optim.parameter_choice import (
        ChoiceSettings,
        Fit,
        criterion,
        noise_std_sinogram,
        rademacher,
    )
    from regrun.optim.scalar_search import golden_refine, log_grid
    from regrun.tomography.fista_tv import UnknownGrid, lipschitz, make_fista, unknown_grid
    from regrun.tomography.fista_tv_weight import (
        CT_RULES,
        choose_fista_weight,
        fista_runs,
        pixel_grid_check,
    )

    p = make_case(obj, size, views, photons, args.seed, args.oversample) if problem is None else problem
    cfg = config_section("solver", "fista_tv", lam=1.0, tv_grid=tv_grid_for(args),
                         **({"tv_grid_data": args.tv_grid_data} if args.tv_grid_data else {}),
                         **({"iters": args.iters} if args.iters else {}), **dict(args.solver_set))
    ug = unknown_grid(p, cfg)  # FISTA-TV's unknown on solver.tv_grid's grid (p itself at 1); x the output's
    L = lipschitz(ug, cfg)
    fista = make_fista(ug, cfg, L)
    iters = int(cfg.iters)
    b = p.sinogram
    sigma = noise_std_sinogram(b)
    z = rademacher(1, b.shape, torch.Generator().manual_seed(0), b.dtype, b.device)[0]
    eps = 1e-3 * sigma

    def run(data, lam):
        fista.data = data
        with torch.no_grad():
            x = fista.solve(torch.tensor(lam, dtype=torch.float64), iters)
        fista.data = b
        return ug.output(x)

    psnr_of = lambda x: p.quality(x * p.mask)["psnr"]
    prev = reused(args.reuse, obj, size, views, photons)
    if prev is not None and not args.regrid:  # the grid optimum and the peers from an earlier run on the same sinogram
        out = {k: v for k, v in prev.items() if not k.startswith("auto_") and k not in ("wall_s", "cpu_s")}
    elif args.no_grid or args.peers_no_grid:  # only the auto rules: the grid optimum and the peers come from another run, merged later
        out = {"object": obj, "size": size, "views": views, "photons": photons, "tv_grid": ug.factor,
               "tv_grid_data": ug.data, "fbp_psnr": p.quality(p.fbp() * p.mask)["psnr"]}
    else:
        t0 = time.perf_counter()
        grid = log_grid(args.lam_lo, args.lam_hi, args.grid)
        rows = []
        for lam in grid:
            x = run(b, float(lam))
            row = {"lam": float(lam), "psnr": psnr_of(x)}
            if args.grid_rules:
                pred = p.A.project(x)
                trace = float((z * (p.A.project(run(b + eps * z, float(lam))) - pred)).sum()) / eps
                fit = Fit(rss=float((pred - b).pow(2).sum()), m=b.numel(), trace=trace)
                row.update(rss=fit.rss, trace=trace, **{r: criterion(r, fit, sigma) for r in ("discrepancy", "gcv", "sure")})
            rows.append(row)
        t_grid = time.perf_counter() - t0
        psnrs = np.array([r["psnr"] for r in rows])
        cache = {}

        def neg_psnr(lam):
            cache[lam] = psnr_of(run(b, lam))
            return -cache[lam]

        best_lam, best_neg = golden_refine(neg_psnr, grid, -psnrs, args.refine)
        out = {"object": obj, "size": size, "views": views, "photons": photons, "sigma_est": sigma, "grid": rows,
               "tv_grid": ug.factor, "tv_grid_data": ug.data,
               "grid_best_lam": best_lam, "grid_best_psnr": -best_neg, "grid_s": t_grid,
               "fbp_psnr": p.quality(p.fbp() * p.mask)["psnr"]}
        out["grid_best_regions"] = regions_psnr(p, run(b, best_lam))
        if args.grid_rules:
            for rule in ("discrepancy", "gcv", "sure"):
                i = int(np.argmin([r[rule] for r in rows]))
                out[f"{rule}_grid_lam"], out[f"{rule}_grid_psnr"] = rows[i]["lam"], rows[i]["psnr"]
        if prev is not None:  # --regrid: this run's grid optimum beside the earlier run's FBP and peers
            out.update({k: v for k, v in prev.items() if k == "fbp_psnr" or k.startswith(PEERS) or
                        k in ("peer_weight",)})
    out["support"] = p.support_region()
    if hasattr(p, "file_grid_read"):  # a user's file (ct_radon_files.py): the grid it implies with no size typed
        out["file_grid_read"] = list(p.file_grid_read)
    for spec in args.auto_rules:
        # a rule, or cv/REFERENCE/SCALE/WEIGHT/FOLD/OFFSETS/GRID/GUARD (cross-validation against `raw` or
        # `resolved` data, times SCALE, the misfit weighted by WEIGHT along the detector, every FOLD-th view held
        # out, pooled over OFFSETS offsets of the fold, GRID weights on the first log grid, GUARD 1/0: the guard
        # for a grid whose best is the range's low end); fields left off take the solver's defaults; a tail
        # @blocksN: the held-out views in N runs of neighbouring angles (solver.lam_cv_layout=blocks), @interleaved,
        # @wK: the interleaved views' rays weighted by their nearness to the unmeasured lines (lam_cv_weighting=K)
        defaults = [args.cv_reference, args.cv_scale, args.cv_weight, cfg.lam_cv_fold, cfg.lam_cv_offsets,
                    cfg.lam_cv_grid, int(cfg.lam_cv_guard)]
        fields, _, layout = spec.partition("@")
        layout = layout or "interleaved"
        weighting = float(layout[1:]) if layout.startswith("w") else cfg.lam_cv_weighting
        layout = "interleaved" if layout.startswith("w") else layout
        blocks = int(layout[len("blocks"):] or 1) if layout.startswith("blocks") else 1
        rule, reference, scale, weight, fold, offsets, grid, guard = (fields.split("/")
                                                                      + defaults[len(fields.split("/")) - 1:])[:8]
        settings = ChoiceSettings.from_config(config_section("solver", "fista_tv", lam_rule=rule), "solver",
                                              CT_RULES)
        t0, c0 = time.perf_counter(), time.process_time()
        search = lambda ugrid, ufista, reference, pick="min": choose_fista_weight(  # noqa: E731
                                     ugrid, ufista, iters, settings, "fd", torch.Generator().manual_seed(0),
                                     cv_fold=int(fold), cv_scale=float(scale),
                                     power_iters=int(cfg.power_iters), cv_reference=reference,
                                     cv_weight=weight, cv_offsets=int(offsets),
                                     cv_grid=None if grid in (None, "None", "null") else int(grid),
                                     cv_guard=bool(int(guard)), cv_dose=bool(cfg.lam_cv_dose),
                                     cv_fit_cap=cfg.lam_cv_fit_cap if args.cv_fit_cap is None else (
                                         None if args.cv_fit_cap <= 0 else args.cv_fit_cap),
                                     cv_fit_cap_share=cfg.lam_cv_fit_cap_share if args.cv_fit_cap_share is None
                                     else (None if args.cv_fit_cap_share <= 0 else args.cv_fit_cap_share),
                                     cv_coverage_power=cfg.lam_cv_coverage_power if args.cv_coverage_power is None
                                     else (None if args.cv_coverage_power < 0 else args.cv_coverage_power),
                                     cv_layout=layout.rstrip("0123456789"), cv_blocks=blocks,
                                     cv_weighting=weighting,
                                     cv_repick_guarded=bool(cfg.lam_cv_repick_guarded),
                                     cv_few_views=cfg.lam_cv_few_views,
                                     cv_few_offsets=int(cfg.lam_cv_few_offsets), cv_pick=pick,
                                     cv_view_outlier=cfg.get("lam_cv_view_outlier"))
        fine = choice = search(ug, fista, reference)
        answer_grid, fine_psnr = ug, None
        if args.cv_pixel_grid and rule == "cv" and ug.factor > 1:  # solver.lam_cv_pixel_grid, as the solver runs it
            pg = UnknownGrid(p, 1)
            f1 = make_fista(pg, cfg, lipschitz(pg, cfg))
            choice, on_pixel = pixel_grid_check(fine, lambda: search(pg, f1, "raw", str(cfg.lam_cv_pixel_grid_pick)),
                                                str(cfg.lam_cv_pixel_grid_misfit), str(cfg.lam_cv_pixel_grid_edge),
                                                cfg.lam_cv_pixel_grid_margin)
            if on_pixel:  # judging only: the finer grid's answer, which the check replaced
                answer_grid, fine_psnr = pg, psnr_of(ug.output(fine.state))
        out[f"auto_{spec}"] = {"lam": choice.lam, "psnr": psnr_of(answer_grid.output(choice.state)),
                               "solves": choice.solves,
                               "fista_runs": fista_runs(choice, settings), "sigma": choice.sigma,
                               "noise_source": choice.noise_source, "at_edge": choice.at_edge,
                               "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                               "curve": {k: v.tolist() for k, v in choice.table().items()}, "stats": choice.details}
        out[f"auto_{spec}"]["regions"] = regions_psnr(p, answer_grid.output(choice.state))
        if fine_psnr is not None:
            out[f"auto_{spec}"]["fine_grid"] = {"lam": fine.lam, "psnr": fine_psnr}
        if "lam_cv_uncapped" in choice.details:  # judging only: the answer without the cap (one more run)
            out[f"auto_{spec}"]["psnr_uncapped"] = psnr_of(run(b, float(choice.details["lam_cv_uncapped"])))
        plain = plain_answer(choice.details, choice.lam)
        if plain is not None:  # judging only: lam_cv_weight=none's answer on the same search (one more run if moved)
            out[f"auto_{spec}"]["plain"] = {"lam": plain, "psnr": out[f"auto_{spec}"]["psnr"] if plain == choice.lam
                                            else psnr_of(run(b, plain))}
        if rule == "cv" and args.cv_also_scales:  # the same search answered at other scales: one more run each
            pick = float(choice.details["lam_cv_pick"])  # the held-out views' best weight, before any scale
            out[f"auto_{spec}"]["psnr_at_scale"] = {f"{sc:g}": psnr_of(run(b, pick * sc)) for sc in args.cv_also_scales}
    if args.peer and prev is None and not args.no_grid:
        try:
            out["peer_psnr"], out["peer_weight"] = sirt_tv_peer(p, args.sirt_iters, args.tv_weights)
        except ImportError:
            out["peer_psnr"] = None
        try:
            sart = skimage_sart_tv_peer(p, args.tv_weights)
            if sart is not None:
                out["skimage_sart_tv"], out["skimage_sart_tv_how"] = sart
        except ImportError:
            pass
        try:
            for name, (q, how) in astra_tv_peers(p, args.tv_weights).items():
                out[name], out[f"{name}_how"] = q, how
        except ImportError:
            pass
        if getattr(p, "peer_regions", None):
            out["peer_regions"] = p.peer_regions
    return out


def markdown(results, rules) -> str:
    peers = [k for k in PEERS if any(r.get(k) is not None for r in results)]
    names = {"peer_psnr": "SIRT+TV", "skimage_sart_tv": "scikit-image SART+TV", "astra_sirt_tv": "ASTRA SIRT+TV",
             "astra_cgls_tv": "ASTRA CGLS+TV"}
    head = ("| object | size | views | photons | FBP | grid-optimal lam (PSNR) | "
            + " | ".join(f"auto {r}: lam (PSNR, gap)" for r in rules)
            + " | " + " | ".join(f"{names[k]} oracle" for k in peers) + f" | auto {rules[0]} - best peer |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        autos = " | ".join(f"{r[f'auto_{x}']['lam']:.3g} ({r[f'auto_{x}']['psnr']:.2f}, "
                           f"{r[f'auto_{x}']['psnr'] - r['grid_best_psnr']:+.2f})" for x in rules)
        vals = [r.get(k) for k in peers]
        peer = " | ".join("-" if v is None else f"{v:.2f}" for v in vals)
        best = max((v for v in vals if v is not None), default=None)
        gap = "-" if best is None else f"{r[f'auto_{rules[0]}']['psnr'] - best:+.2f}"
        lines.append(f"| {r['object']} | {r['size']}² | {r['views']} | {r['photons']:.0e} | {r['fbp_psnr']:.2f} | "
                     f"{r['grid_best_lam']:.3g} ({r['grid_best_psnr']:.2f}) | {autos} | {peer} | {gap} |")
    return "\n".join(lines)


def solver_setting(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE read as YAML (true, 20, 0.5, cv)."""
    import yaml

    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    return key, yaml.safe_load(value)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", nargs="+", default=["ellipses", "metal_part", "natural"], choices=OBJECTS)
    ap.add_argument("--cases", type=Path, nargs="+", default=None,
                    help="held-out .npz cases (scripts/heldout_ct_sinograms.py) instead of --objects/--size/...")
    ap.add_argument("--size", type=int, nargs="+", default=[64])
    ap.add_argument("--views", type=int, nargs="+", default=[60, 30, 15])
    ap.add_argument("--photons", type=float, nargs="+", default=[1e4])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--oversample", type=int, default=2, help="the data is simulated on a grid this many times finer")
    ap.add_argument("--grid", type=int, default=9)
    ap.add_argument("--lam-lo", type=float, default=0.03)
    ap.add_argument("--lam-hi", type=float, default=30.0)
    ap.add_argument("--refine", type=int, default=4, help="golden-section steps on the truth's PSNR")
    ap.add_argument("--auto-rules", nargs="*", default=["cv", "sure"],
                    help="the first one is compared with the peers; none: only the grid and the peers (add the rules "
                         "later with --reuse)")
    ap.add_argument("--cv-scale", type=float, default=None, help="cv's factor; default solver.lam_cv_scale")
    ap.add_argument("--cv-reference", default=None, help="cv's reference; default solver.lam_cv_reference as problem.data=file "
                    "composes it for a parallel beam")
    ap.add_argument("--cv-weight", default=None, help="cv's misfit weight; default solver.lam_cv_weight")
    ap.add_argument("--cv-fit-cap", type=float, default=None,
                    help="cv's solver.lam_cv_fit_cap (0: off); default the solver's")
    ap.add_argument("--cv-fit-cap-share", type=float, default=None,
                    help="cv's solver.lam_cv_fit_cap_share (0: off); default the solver's")
    ap.add_argument("--cv-pixel-grid", action=argparse.BooleanOptionalAction, default=None,
                    help="cv's solver.lam_cv_pixel_grid (the pixel grid's raw search kept where it predicts the "
                         "held-out views better); default as problem.data=file composes it")
    ap.add_argument("--cv-coverage-power", type=float, default=None,
                    help="cv's solver.lam_cv_coverage_power (negative: off); default the solver's")
    ap.add_argument("--cv-also-scales", type=float, nargs="*", default=[],
                    help="cv: also the PSNR of the same search's pick times these scales instead of SCALE")
    ap.add_argument("--reuse", type=Path, default=None,
                    help="a previous run's JSON: its grid optimum, FBP and peers for the same cases (only the auto "
                         "rules run)")
    ap.add_argument("--no-grid", action="store_true",
                    help="only the auto rules, no grid optimum and no peers (a later change judged against an earlier "
                         "run's grid optimum and peers on the same sinograms when the CPU is short)")
    ap.add_argument("--peers-no-grid", action="store_true",
                    help="the auto rules and the peers, no grid optimum (docs/ct.md \"(ctsquare)\")")
    ap.add_argument("--grid-rules", action=argparse.BooleanOptionalAction, default=False,
                    help="each data-space rule's criterion on the grid too (one more FISTA run per point)")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--sirt-iters", type=int, default=300)
    ap.add_argument("--tv-weights", type=float, nargs="+",
                    default=[0.002, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.12, 0.16, 0.24, 0.32])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tv-grid", default=None,
                    help="solver.tv_grid for the grid optimum and auto alike; default: a problem.data=file run's")
    ap.add_argument("--tv-grid-data", default=None, help="solver.tv_grid_data; default the solver's")
    ap.add_argument("--iters", type=int, default=None,
                    help="solver.iters (FISTA iterations of every run, the grid's and auto's); default the solver's. "
                         "With --reuse: auto's search at another count beside the earlier run's grid "
                         "(docs/ct.md, \"(ct28)\")")
    ap.add_argument("--set", dest="solver_set", type=solver_setting, nargs="*", default=[], metavar="KEY=VALUE",
                    help="more solver.KEY=VALUE settings (YAML values) for every FISTA run, e.g. inner_iters=20 "
                         "prox_warm_start=true (docs/ct.md, \"(ctprox)\")")
    ap.add_argument("--regrid", action="store_true",
                    help="with --reuse: the grid optimum again (at --set / --iters), the earlier run's FBP and peers")
    ap.add_argument("--counts-air-correction", action="store_true", help="counts cases (scripts/ct_counts_files.py): "
                    "problem.counts_air_correction=true, each view scaled by its air columns (docs/ct.md \"(ctdrift)\")")
    ap.add_argument("--support", choices=("auto", "disk", "square"), default=None,
                    help="a user's file's problem.support (docs/ct.md \"(ctsquare)\"); default the problem's")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/lambda_ct"))
    args = ap.parse_args(argv)
    global COUNTS_AIR
    COUNTS_AIR = args.counts_air_correction
    if args.regrid and args.reuse is None:
        ap.error("--regrid needs --reuse (the run whose peers it keeps)")
    # cv's settings as `regrun problem=ct_fewview problem.data=file solver=fista_tv` composes them for a parallel
    # beam (the cases stand for a user's sinograms; lam_cv_reference's default differs from generated data's)
    if None in (args.cv_scale, args.cv_reference, args.cv_weight, args.cv_pixel_grid):
        from regrun.config import compose

        user = compose(["problem=ct_fewview", "solver=fista_tv", "problem.data=file"]).solver
        args.cv_scale = float(user.lam_cv_scale) if args.cv_scale is None else args.cv_scale
        args.cv_reference = str(user.lam_cv_reference) if args.cv_reference is None else args.cv_reference
        args.cv_weight = str(user.lam_cv_weight) if args.cv_weight is None else args.cv_weight
        args.cv_pixel_grid = bool(user.lam_cv_pixel_grid) if args.cv_pixel_grid is None else args.cv_pixel_grid
    torch.set_num_threads(args.threads)
    results = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cases = [(size, obj, views, photons) for size in args.size for obj in args.objects for views in args.views
             for photons in args.photons]
    if args.cases:
        cases = [(path, None, None, None) for path in args.cases]
    for size, obj, views, photons in cases:
        t0, c0 = time.perf_counter(), time.process_time()
        problem = None
        if args.cases:
            problem, (obj, size, views, photons) = case_from_file(size, args.support)
        r = run_case(obj, size, views, args, photons, problem)
        r["wall_s"], r["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
        results.append(r)
        autos = ", ".join(f"{x} {r[f'auto_{x}']['lam']:.3g} -> {r[f'auto_{x}']['psnr']:.2f}" for x in args.auto_rules)
        peers = ", ".join(f"{k} {r[k]:.2f}" for k in PEERS if r.get(k) is not None)
        grid = ("no grid" if "grid_best_lam" not in r else
                f"grid best lam {r['grid_best_lam']:.3g} -> {r['grid_best_psnr']:.2f} dB")
        print(f"{obj} {size}^2 {views} views {photons:.0e}: {grid}; auto: {autos}; peers: {peers}; "
              f"FBP {r.get('fbp_psnr', float('nan')):.2f}; {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU", flush=True)
        args.out.with_suffix(".json").write_text(json.dumps(
            {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1))
    if args.auto_rules and not (args.no_grid or args.peers_no_grid):
        md = markdown(results, args.auto_rules)
        args.out.with_suffix(".md").write_text(md + "\n")
        print(md)


if __name__ == "__main__":
    main()
