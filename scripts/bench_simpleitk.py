#!/usr/bin/env python
"""Accuracy and wall time of regrun's affine registration against SimpleITK's, on the same pairs in the same
process, one thread each.

Two suites:
- `--suite files` (default; issue 9): users' images as a user would register them. A source image (the windowed
  camera of scikit-image at 128^2 and 256^2, FAIR's MRI head and hands at 128^2, and beyond the issue the camera's
  full frame, whose content leaves and enters the domain as it rotates) is a continuous function (its
  spline); template and reference are cell averages over a 4x finer grid, the template warped by a known affine
  (20/45/70/90 degrees about the centre; the MRI head also scaled 1.07/0.94 and sheared 0.03), rounded to 8-bit
  PNGs. regrun runs exactly `regrun problem.data=files problem.template=T.png problem.reference=R.png` (the
  user-data defaults: solver=multilevel, moment starts, smoothing when the images carry Nyquist detail, ...).
- `--suite synthetic`: regrun's synthetic phantom at 64^2, four affines up to 30 degrees, multiscale LM.
Error: RMS over the grid of |y(x) - y_true(x)| in pixels. SimpleITK: MeanSquares, cubic B-spline interpolation,
3-level pyramid (shrink 4-2-1, smoothing 2-1-0 px), regular-step gradient descent with physical-shift scales,
initial transform at the identity about the centre, fed the very arrays regrun read from the PNGs. regrun's time
is building the problem (reading, smoothing, pyramid, spline coefficients) plus the solve; SimpleITK's is
Execute(). One untimed regrun run first keeps one-off process start-up (imports) out of the timings.

    pip install -e .[bench]     # SimpleITK, scikit-image
    python scripts/bench_simpleitk.py --out bench_simpleitk.json
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from regrun.config import compose
from regrun.context import RunContext
from regrun.imaging.grid import Grid
from regrun.imaging.io import read_image
from regrun.imaging.synthetic import image_function, radial_window, warped_pair
from regrun.imaging.transforms import affine_about
from regrun.monitor import Monitor
from regrun.registration.sitk_peer import ITERATIONS, SHRINK, SIGMAS, register_affine, to_sitk
from regrun.registry import PROBLEMS, SOLVERS
from elastix_stackreg_peers import elastix_affine, stackreg_affine  # scripts/elastix_stackreg_peers.py

PAIRS = [  # angle (deg), scale, shift (fraction of the domain), seed
    (5.0, (1.02, 0.98), (0.02, -0.01), 0),
    (12.0, (1.08, 0.94), (0.04, -0.03), 1),
    (20.0, (0.95, 1.05), (-0.03, 0.02), 2),
    (30.0, (1.05, 1.05), (0.02, 0.04), 3),
]


FILE_PAIRS = [  # source, size, angle, scale, shear
    *[("camera", n, a, (1.0, 1.0), 0.0) for n in (128, 256) for a in (20.0, 45.0, 70.0, 90.0)],
    *[("MRIhead", 128, a, (1.07, 0.94), 0.03) for a in (20.0, 45.0, 70.0, 90.0)],
    *[("hands", 128, a, (1.0, 1.0), 0.0) for a in (20.0, 45.0, 70.0, 90.0)],
    # not in issue 9: the camera's full frame, so that rotated content leaves and enters the domain
    *[("fullcamera", 128, a, (1.0, 1.0), 0.0) for a in (20.0, 45.0)],
]


def source_function(source, n, fair_dir):
    """The continuous image a pair is cut from, on [0, n]^2 (pixel units)."""
    omega = (0.0, float(n), 0.0, float(n))
    if source in ("camera", "fullcamera"):
        import skimage.data

        img = np.ascontiguousarray(np.flipud(skimage.data.camera().astype(np.float64)).T)  # read_image's layout
        f = image_function(torch.tensor(img), omega)
        return f if source == "fullcamera" else radial_window(f, (n / 2, n / 2), n / 2)
    return image_function(torch.tensor(read_image(Path(fair_dir) / f"{source}-R.jpg")), omega)


def affine_with_shear(angle, scale, shear, centre):
    """x -> R(angle) diag(scale) S(shear) (x - c) + c, the known transform of a file pair."""
    w = affine_about(angle, scale, centre=centre)
    a = w[:4].reshape(2, 2) @ torch.tensor([[1.0, shear], [0.0, 1.0]], dtype=torch.float64)
    c = torch.tensor(centre, dtype=torch.float64)
    return torch.cat((a.reshape(4), c - a @ c))


def write_png(path, arr):
    """An array in regrun's layout ([i, j] = (x1_i, x2_j)) as the 8-bit PNG that read_image reads back."""
    from PIL import Image

    Image.fromarray(np.flipud(arr.T).clip(0, 255).round().astype(np.uint8)).save(path)


def file_pair(source, n, angle, scale, shear, folder, fair_dir):
    grid = Grid((0.0, float(n), 0.0, float(n)), (n, n))
    w_true = affine_with_shear(angle, scale, shear, grid.centre)
    template, reference = warped_pair(source_function(source, n, fair_dir), grid, w_true)
    tag = f"{source}{n}_{angle:g}"
    paths = folder / f"{tag}_T.png", folder / f"{tag}_R.png"
    write_png(paths[0], template.numpy())
    write_png(paths[1], reference.numpy())
    return paths, w_true


def run_regrun_files(paths, extra=()):
    """`regrun problem.data=files ...` with the solver the CLI picks for user files; returns the problem too."""
    from regrun.cli import _implied_solver

    over = ["problem.data=files", f"problem.template={paths[0]}", f"problem.reference={paths[1]}", *extra]
    solver_name = _implied_solver(over)
    if solver_name:
        over.append(f"solver={solver_name}")
    cfg = compose(over)  # Hydra's composition (about 1 s) is the command line's cost, not registration's
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, ".")
    t0 = time.perf_counter()
    problem = PROBLEMS.get("multiscale_affine")(cfg.problem, ctx)
    res = SOLVERS.get(cfg.solver.name)(cfg.solver, ctx).solve(problem, Monitor())
    wall = time.perf_counter() - t0
    return problem, res, wall


def displacement_rmse(grid, w, w_true):
    from regrun.imaging.transforms import affine

    x = grid.centres()
    return float(((affine(w.to(x), x) - affine(w_true, x)) ** 2).sum(-1).mean().sqrt())


def files_suite(args, sitk):
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="bench_simpleitk_"))
    pairs = [p for p in FILE_PAIRS if not args.only or any(p[0].startswith(o) for o in args.only)]
    for k, (source, n, angle, scale, shear) in enumerate(pairs):
        paths, w_true = file_pair(source, n, angle, scale, shear, folder, args.fair_dir)
        if k == 0:
            run_regrun_files(paths, args.regrun)  # process start-up (imports, first calls) stays untimed
        ours = [run_regrun_files(paths, args.regrun) for _ in range(args.repeats)]
        problem = ours[0][0]
        as_read = (read_image(paths[0]), read_image(paths[1]))  # the PNGs' values, unsmoothed
        theirs = [run_simpleitk(problem, images=as_read) for _ in range(args.repeats)]
        grid = problem.grid
        row = {"pair": f"{source} {n}x{n}", "angle": angle, "scale": list(scale), "shear": shear,
               "initial_err_px": displacement_rmse(grid, problem.to_affine(problem.identity), w_true),
               "regrun_err_px": displacement_rmse(grid, problem.to_affine(ours[0][1].solution["w"]), w_true),
               "regrun_time_s": float(np.median([t for _, _, t in ours])),
               "regrun_fit_quality": problem.fit_metrics(ours[0][1].solution["w"])["fit_quality"],
               "regrun_solver": ours[0][1].message[:80],
               "sitk_err_px": displacement_rmse(grid, theirs[0][0], w_true),
               "sitk_time_s": float(np.median([t for _, t, _ in theirs])), "sitk_stop": theirs[0][2]}
        if args.sitk_moments:
            w_m, t_m, _ = run_simpleitk(problem, images=as_read, moments=True)
            row["sitk_moments_err_px"] = displacement_rmse(grid, w_m, w_true)
            row["sitk_moments_time_s"] = t_m
        row["err_ratio_regrun_over_sitk"] = row["regrun_err_px"] / row["sitk_err_px"]
        row["time_ratio_regrun_over_sitk"] = row["regrun_time_s"] / row["sitk_time_s"]
        rows.append(row)
        print(f"{row['pair']:>15} {angle:4.0f}  initial {row['initial_err_px']:7.2f} px | regrun "
              f"{row['regrun_err_px']:.4f} px {row['regrun_time_s']:6.2f} s fit {row['regrun_fit_quality']:.2f} | "
              f"SimpleITK {row['sitk_err_px']:.4f} px {row['sitk_time_s']:6.2f} s | error ratio "
              f"{row['err_ratio_regrun_over_sitk']:.2f}, time ratio {row['time_ratio_regrun_over_sitk']:.2f}",
              flush=True)
    return rows


def print_markdown(rows):
    moments = "sitk_moments_err_px" in rows[0]
    ok = lambda e: "" if e <= 0.01 else " **fail**" if e > 1 else " (>0.01)"  # noqa: E731
    print("\n| pair | angle | SimpleITK error / time |" + (" SimpleITK, moments start |" if moments else "")
          + " regrun error / time | error ratio | time ratio |")
    print("|---|---|---|" + ("---|" if moments else "") + "---|---|---|")
    for r in rows:
        extra = (f" {r['sitk_moments_err_px']:.4f} px{ok(r['sitk_moments_err_px'])} / "
                 f"{r['sitk_moments_time_s']:.2f} s |") if moments else ""
        print(f"| {r['pair']} | {r['angle']:g} | {r['sitk_err_px']:.4f} px{ok(r['sitk_err_px'])} / "
              f"{r['sitk_time_s']:.2f} s |{extra} {r['regrun_err_px']:.4f} px{ok(r['regrun_err_px'])} / "
              f"{r['regrun_time_s']:.2f} s | {r['err_ratio_regrun_over_sitk']:.2g} | "
              f"{r['time_ratio_regrun_over_sitk']:.2f} |")


def regrun_problem(size, angle, scale, shift, seed, texture):
    cfg = compose([f"problem.synthetic.size={size}", f"problem.synthetic.angle={angle}",
                   f"problem.synthetic.scale=[{scale[0]},{scale[1]}]", f"problem.synthetic.shift=[{shift[0]},{shift[1]}]",
                   f"problem.synthetic.seed={seed}", f"problem.synthetic.texture={texture}"])
    ctx = RunContext(torch.device("cpu"), torch.float64, seed, ".")
    return PROBLEMS.get("multiscale_affine")(cfg.problem, ctx), ctx


def run_regrun(problem, ctx, thetas, gtol, margin, optimizer):
    cfg = compose(["solver=multiscale", f"solver.thetas={list(thetas)}", f"solver.gtol={gtol}",
                   f"solver.margin={margin}", f"solver.optimizer={optimizer}"]).solver
    solver = SOLVERS.get("multiscale")(cfg, ctx)
    t0 = time.perf_counter()
    res = solver.solve(problem, Monitor())
    return res.solution["w"], time.perf_counter() - t0


def run_simpleitk(problem, iterations=ITERATIONS, images=None, moments=False):
    """images: (template, reference) arrays to register instead of the problem's own (which may be smoothed).
    moments: start from SimpleITK's CenteredTransformInitializer(MOMENTS) instead of the identity."""
    import SimpleITK as sitk

    template, reference = images or (problem.template.numpy(), problem.reference.numpy())
    fixed = to_sitk(reference, problem.grid)   # T(y(x)) ~ R(x): y maps fixed points to moving
    moving = to_sitk(template, problem.grid)
    init = None
    if moments:
        init = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(2),
                                                 sitk.CenteredTransformInitializerFilter.MOMENTS)
    w, wall, stop = register_affine(fixed, moving, problem.grid.centre, iterations, list(SHRINK), list(SIGMAS),
                                    init, threads=1)
    return torch.tensor(w, dtype=torch.float64), wall, stop


def synthetic_suite(args, sitk):
    rows = []
    for angle, scale, shift, seed in PAIRS:
        problem, ctx = regrun_problem(args.size, angle, scale, shift, seed, args.texture)
        if not rows:  # the first torch.func call of a process traces and scripts: keep it out of the timings
            run_regrun(problem, ctx, args.thetas, args.gtol, args.margin, args.optimizer)
        ours = [run_regrun(problem, ctx, args.thetas, args.gtol, args.margin, args.optimizer) for _ in range(args.repeats)]
        theirs = [run_simpleitk(problem) for _ in range(args.repeats)]
        row = {"angle": angle, "scale": list(scale), "shift": list(shift), "seed": seed, "size": args.size,
               "regrun_err_px": problem.displacement_rmse(ours[0][0]),
               "regrun_time_s": min(t for _, t in ours),
               "sitk_err_px": problem.displacement_rmse(theirs[0][0]),
               "sitk_time_s": min(t for _, t, _ in theirs),
               "sitk_stop": theirs[0][2], "initial_err_px": problem.displacement_rmse(problem.identity)}
        row["time_ratio_regrun_over_sitk"] = row["regrun_time_s"] / row["sitk_time_s"]
        rows.append(row)
        print(f"angle {angle:5.1f}  initial {row['initial_err_px']:7.3f} px | regrun {row['regrun_err_px']:.4f} px "
              f"{row['regrun_time_s']:.3f} s | SimpleITK {row['sitk_err_px']:.4f} px {row['sitk_time_s']:.3f} s "
              f"| time ratio {row['time_ratio_regrun_over_sitk']:.2f}", flush=True)
    return rows


def _cpu_of(cmd: list[str]) -> float:
    """User + system CPU seconds of one child process."""
    import resource
    import subprocess

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _quarter_turned(w_true: torch.Tensor, angle: float, centre) -> torch.Tensor:
    """The truth followed by a rotation of `angle` degrees about the centre: a wrong start."""
    from regrun.imaging.transforms import affine_about

    r = affine_about(angle, centre=centre)
    a, b = r[:4].reshape(2, 2), r[4:]
    return torch.cat(((a @ w_true[:4].reshape(2, 2)).reshape(4), a @ w_true[4:] + b))


# other peers of the wide suite (scripts/elastix_stackreg_peers.py): name -> (template, reference, grid) -> (w, CPU s)
PEERS = {"elastix": elastix_affine, "pystackreg": stackreg_affine}
PEER_PACKAGES = {"elastix": ("itk", "itk-elastix"), "pystackreg": ("pystackreg", "pystackreg")}


def available_peers(names) -> list[str]:
    """The requested peers that import; each one that does not is said so once (it is a `bench` extra)."""
    import importlib.util

    out = []
    for name in names:
        module, package = PEER_PACKAGES[name]
        if importlib.util.find_spec(module) is None:
            print(f"{name} is not installed (pip install {package}, in the bench extra): its columns are left out")
        else:
            out.append(name)
    return out


WRONG_STARTS = (25.0, 180.0)  # degrees added to the truth: failures for the verdict's labelled set


def wide_suite(args, sitk):
    """The generated set of scripts/bench_pairs.py: regrun as a user runs it, SimpleITK from the identity and
    from the quarter turns, and the verdict on regrun's results plus on minima reached from wrong starts."""
    from bench_pairs import (HELD_OUT, HELD_OUT_2, HELD_OUT_3, HELD_OUT_4, SIZES_2, SIZES_3, SIZES_4, draw_pairs,
                             label, make_pair)
    from regrun.config import compose as compose_cfg
    from regrun.registration.local_steps import minimise_at_scale
    from regrun.registration.sitk_peer import register_affine_quarter_turns

    peers = [] if args.verdict_only else available_peers(args.peers)
    folder = Path(tempfile.mkdtemp(prefix="bench_wide_"))
    specs = draw_pairs(args.n_pairs, args.seed, *{"tuned": (), "heldout": (HELD_OUT,),
                                                  "heldout2": (HELD_OUT_2, SIZES_2),
                                                  "heldout3": (HELD_OUT_3, SIZES_3),
                                                  "heldout4": (HELD_OUT_4, SIZES_4)}[args.images])
    if args.only:  # a subset of the draw (the same pairs, by image name), e.g. to rerun the pairs a change touches
        specs = [s for s in specs if s["image"] in args.only]
    solver_cfg = compose_cfg(["problem.data=files", "solver=multilevel"]).solver
    rows, verdicts = [], []
    for k, spec in enumerate(specs):
        if args.max_angle < 180:  # the circle onto +-max_angle: pairs every peer can start from the identity
            spec["angle"] = ((spec["angle"] + 180) % 360 - 180) * args.max_angle / 180
        if args.quarter_band is not None:  # the circle onto 90 +- band and 270 +- band: non-square domains keep the
            # least of themselves there (the multilevel solver's overlap rule)
            u = spec["angle"] % 360
            spec["angle"] = (90.0 if u < 180 else 270.0) + (2 * (u % 60) / 60 - 1) * args.quarter_band
        template, reference, w_true, grid = make_pair(spec, args.fair_dir)
        paths = folder / f"p{k}_T.png", folder / f"p{k}_R.png"
        write_png(paths[0], template.numpy())
        write_png(paths[1], reference.numpy())
        if k == 0:
            run_regrun_files(paths, args.regrun)  # one-off first calls stay out of the solve timings
        cpu = time.process_time()
        problem, res, wall = run_regrun_files(paths, args.regrun)
        cpu = time.process_time() - cpu
        w = problem.to_affine(res.solution["w"])
        fixed, moving = to_sitk(read_image(paths[1]), grid), to_sitk(read_image(paths[0]), grid)
        if args.verdict_only:  # regrun and its verdict only: no SimpleITK runs (their columns are NaN)
            w4 = w1 = np.full(6, np.nan)
            cpu4 = cpu1 = math.nan
        else:
            w4, w1, cpu4, cpu1 = register_affine_quarter_turns(fixed, moving, grid.centre, ITERATIONS, list(SHRINK),
                                                               list(SIGMAS), threads=1)
        as_read = (read_image(paths[0]), read_image(paths[1]))  # the PNGs' values, as SimpleITK gets them
        peer_rows = {}
        for name in peers:
            w_p, cpu_p = PEERS[name](*as_read, grid)
            peer_rows.update({f"{name}_err_px": displacement_rmse(grid, torch.tensor(w_p), w_true),
                              f"{name}_cpu_s": cpu_p})
        row = {"pair": label(spec), "image": spec["image"], "m": list(spec["m"]),
               "initial_err_px": displacement_rmse(grid, problem.to_affine(problem.identity), w_true),
               "regrun_err_px": displacement_rmse(grid, w, w_true), "regrun_cpu_s": cpu, "regrun_wall_s": wall,
               "sitk_err_px": displacement_rmse(grid, torch.tensor(w1), w_true), "sitk_cpu_s": cpu1,
               "sitk4_err_px": displacement_rmse(grid, torch.tensor(w4), w_true), "sitk4_cpu_s": cpu4,
               **peer_rows}
        metrics = problem.fit_metrics(res.solution["w"])
        row.update({f"regrun_{key}": metrics.get(key, math.nan)
                    for key in ("fit_quality", "misfit_px", "correlation", "gain_step_px", "redescent_px")})
        row["regrun_warned"] = bool(problem.warnings(metrics))
        rows.append(row)
        verdicts.append({"pair": row["pair"], "start": "regrun", "err_px": row["regrun_err_px"], **metrics,
                         "warned": row["regrun_warned"]})
        for delta in WRONG_STARTS:
            w0 = problem.from_affine(_quarter_turned(w_true, delta, grid.centre).to(problem.identity))
            out = minimise_at_scale(problem.at_scale(0.0), w0, solver_cfg, None)
            m_wrong = problem.fit_metrics(out.w)
            verdicts.append({"pair": row["pair"], "start": f"truth+{delta:g}deg",
                             "err_px": displacement_rmse(grid, problem.to_affine(out.w), w_true), **m_wrong,
                             "warned": bool(problem.warnings(m_wrong))})
        print(f"{row['pair']:>48} | regrun {row['regrun_err_px']:.4f} px {cpu:5.2f} s fit "
              f"{row['regrun_fit_quality']:.2f} misfit {row['regrun_misfit_px']:.3f}{' WARN' if row['regrun_warned'] else ''}"
              f" | SimpleITK {row['sitk_err_px']:.4f} px {cpu1:5.2f} s, 4 starts {row['sitk4_err_px']:.4f} px "
              f"{cpu4:5.2f} s" + "".join(f" | {n} {row[n + '_err_px']:.4f} px {row[n + '_cpu_s']:5.2f} s"
                                          for n in peers), flush=True)
        with open(args.out, "w") as f:  # so far, in case the run is cut short
            json.dump({"pairs": rows, "verdicts": verdicts}, f, indent=1, default=str)
    if args.verdict_only:
        return rows, verdicts, {"regrun_startup_cpu_s": math.nan, "sitk_import_cpu_s": math.nan}
    # whole-process CPU: one `regrun` command line (as a user runs it, figures included) and SimpleITK's import
    cli = [sys.executable, "-m", "regrun.cli", "problem.data=files", f"problem.template={folder / 'p0_T.png'}",
           f"problem.reference={folder / 'p0_R.png'}", f"hydra.run.dir={folder / 'cli_run'}", *args.regrun]
    startup = {"regrun_cli_cpu_s": _cpu_of(cli), "sitk_import_cpu_s": _cpu_of([sys.executable, "-c",
                                                                              "import SimpleITK"])}
    startup["regrun_startup_cpu_s"] = startup["regrun_cli_cpu_s"] - rows[0]["regrun_cpu_s"]
    return rows, verdicts, startup


# How other modalities relate to the template's intensities u = I / 255 (issue 20): inverted (e.g. T1 against
# T2 in fluid), inverted and nonlinear, and non-monotone (two tissues of different T1 meet at one T2 value)
INTENSITY_MAPS = {"inverted": lambda u: 255 * (1 - u), "inverted squared": lambda u: 255 * (1 - u) ** 2,
                  "non-monotone": lambda u: 255 * np.sin(0.75 * np.pi * u)}


def _compose(w_outer, w_inner):
    """y = y_outer(y_inner(x)) as (A, b)."""
    a1, b1 = w_outer[:4].reshape(2, 2), w_outer[4:]
    a2, b2 = w_inner[:4].reshape(2, 2), w_inner[4:]
    return torch.cat(((a1 @ a2).reshape(4), a1 @ b2 + b1))


def mi_suite(args, sitk):
    """problem.distance=mi against SimpleITK's Mattes MI (32 bins, every pixel) on multimodal pairs with known
    truth: wide-suite pairs whose template intensities go through INTENSITY_MAPS; and FAIR's PET-CT (template
    PET warped by a known affine, reference CT), where the truth is the known affine after each method's own
    PET -> CT result on the unwarped pair (a consistency error: the pair's own alignment is unknown)."""
    from bench_pairs import HELD_OUT, draw_pairs, label, make_pair, source_function, source_image
    from regrun.imaging.synthetic import warped_pair
    from regrun.registration.sitk_peer import register_affine_quarter_turns

    folder = Path(tempfile.mkdtemp(prefix="bench_mi_"))
    extra = ["problem.distance=mi", *args.regrun]
    rows = []

    def run_pair(name, template, reference, grid, truth):
        """truth(method, w) -> error in px, for the method's result w (A, b)."""
        k = len(rows)
        paths = folder / f"p{k}_T.png", folder / f"p{k}_R.png"
        write_png(paths[0], template.numpy())
        write_png(paths[1], reference.numpy())
        if k == 0:
            run_regrun_files(paths, extra)  # one-off first calls stay out of the timings
        cpu = time.process_time()
        problem, res, _ = run_regrun_files(paths, extra)
        cpu = time.process_time() - cpu
        fixed, moving = to_sitk(read_image(paths[1]), grid), to_sitk(read_image(paths[0]), grid)
        w4, w1, cpu4, cpu1 = register_affine_quarter_turns(fixed, moving, grid.centre, ITERATIONS, list(SHRINK),
                                                           list(SIGMAS), threads=1, metric="mattes")
        metrics = problem.fit_metrics(res.solution["w"])
        row = {"pair": name, "regrun_err_px": truth("regrun", problem.to_affine(res.solution["w"])),
               "regrun_cpu_s": cpu, "sitk_err_px": truth("sitk", torch.tensor(w1)), "sitk_cpu_s": cpu1,
               "sitk4_err_px": truth("sitk4", torch.tensor(w4)), "sitk4_cpu_s": cpu4,
               "regrun_warned": bool(problem.warnings(metrics)),
               **{f"regrun_{key}": metrics[key] for key in ("fit_quality", "misfit_px", "correlation")}}
        rows.append(row)
        print(f"{name:>60} | regrun MI {row['regrun_err_px']:.4f} px {cpu:5.2f} s misfit "
              f"{row['regrun_misfit_px']:.3f}{' WARN' if row['regrun_warned'] else ''} | SimpleITK Mattes "
              f"{row['sitk_err_px']:.4f} px {cpu1:5.2f} s, 4 starts {row['sitk4_err_px']:.4f} px {cpu4:5.2f} s",
              flush=True)
        with open(args.out, "w") as f:
            json.dump({"pairs": rows}, f, indent=1, default=str)
        return problem, res, w4, w1

    for k, spec in enumerate(draw_pairs(args.n_pairs, args.seed, *(() if args.images == "tuned" else (HELD_OUT,)))):
        spec["intensity"] = (1.0, 0.0)
        spec["angle"] = ((spec["angle"] + 180) % 360 - 180) * args.max_angle / 180  # the circle onto +-max_angle
        map_name = list(INTENSITY_MAPS)[k % len(INTENSITY_MAPS)]
        template, reference, w_true, grid = make_pair(spec, args.fair_dir)
        template = torch.as_tensor(INTENSITY_MAPS[map_name](template.numpy() / 255)).clamp(0, 255).round()
        run_pair(f"{label(spec)} T {map_name}", template, reference, grid,
                 lambda method, w: displacement_rmse(grid, w, w_true))
    if args.images == "heldout":  # FAIR's PET-CT is among the held-out images already
        return rows
    # PET-CT: each method's result on the unwarped pair first, then the warped ones against it
    m = (128, 128)
    grid = Grid((0.0, 128.0, 0.0, 128.0), m)
    pet = source_function(source_image("PET-CT-PET", args.fair_dir), m, 1.0)
    ct = source_function(source_image("PET-CT-CT", args.fair_dir), m, 1.0)
    identity = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    base = {}
    for angle, shift in ((0.0, (0.0, 0.0)), (17.0, (4.0, -3.0)), (-33.0, (-6.0, 2.0)), (71.0, (3.0, 5.0))):
        w_true = affine_with_shear(angle, (1.06, 0.95), 0.02, grid.centre) if angle else identity
        w_true = w_true + torch.tensor([0, 0, 0, 0, *shift], dtype=torch.float64)
        template = warped_pair(pet, grid, w_true)[0].clamp(0, 255).round()
        reference = warped_pair(ct, grid, identity)[1].clamp(0, 255).round()
        if not angle:
            def truth(method, w):
                base[method] = w
                return displacement_rmse(grid, w, base.get("regrun", w))  # vs regrun's: the methods' agreement
        else:
            def truth(method, w, w_true=w_true):
                return displacement_rmse(grid, w, _compose(w_true, base[method]))
        run_pair(f"PET-CT 128x128 {angle:g}deg" + (" (error: distance to regrun's)" if not angle else ""),
                 template, reference, grid, truth)
    return rows


def summarise_mi(rows):
    n = len(rows)
    counts = {m: [sum(r[f"{m}_err_px"] <= t for r in rows) for t in (0.01, 0.1, 1.0)]
              for m in ("regrun", "sitk", "sitk4")}
    best = [min(r["sitk_err_px"], r["sitk4_err_px"]) for r in rows]
    both = sorted(r["regrun_err_px"] / max(b, 1e-6) for r, b in zip(rows, best)
                  if r["regrun_err_px"] <= 0.1 and b <= 0.1)
    print(f"\n| of {n} pairs, successes at 0.01 / 0.1 / 1 px | regrun MI | SimpleITK Mattes | SimpleITK Mattes, 4 starts |")
    print("|---|---|---|---|")
    print("| successes | " + " | ".join(" / ".join(str(c) for c in counts[m]) for m in ("regrun", "sitk", "sitk4")) + " |")
    print(f"error ratio regrun / SimpleITK's best where both <= 0.1 px ({len(both)} pairs): median "
          f"{np.median(both) if both else None}, max {max(both) if both else None}")
    for name, test in (("<= 0.1 px", lambda e: e <= 0.1), ("0.1-1 px", lambda e: 0.1 < e <= 1), ("> 1 px", lambda e: e > 1)):
        items = [r for r in rows if test(r["regrun_err_px"])]
        print(f"verdict {name}: {sum(r['regrun_warned'] for r in items)} warned of {len(items)}")
    return {"n_pairs": n, "successes_0.01_0.1_1": counts,
            "error_ratio_median": float(np.median(both)) if both else None, "error_ratio_max": max(both) if both else None}


def summarise_wide(rows, verdicts, startup):
    """Success counts, error and CPU ratios, the verdict's confusion table (printed as markdown, returned)."""
    n = len(rows)
    methods = ("regrun", "sitk", "sitk4", *(p for p in PEERS if f"{p}_err_px" in rows[0]))
    counts = {m: [sum(r[f"{m}_err_px"] <= t for r in rows) for t in (0.01, 0.1, 1.0)] for m in methods}
    best = [min(r["sitk_err_px"], r["sitk4_err_px"]) for r in rows]
    both = [(r["regrun_err_px"], b) for r, b in zip(rows, best) if r["regrun_err_px"] <= 0.1 and b <= 0.1]
    ratios = sorted(a / max(b, 1e-6) for a, b in both)
    fine = [(r["regrun_err_px"], b) for r, b in zip(rows, best) if b <= 0.01]
    works = [r for r in rows if r["sitk4_err_px"] <= 1.0 and r["regrun_err_px"] <= 1.0]
    solve = sorted(r["regrun_cpu_s"] / r["sitk4_cpu_s"] for r in works)
    whole = sorted((r["regrun_cpu_s"] + startup["regrun_startup_cpu_s"])
                   / (r["sitk4_cpu_s"] + startup["sitk_import_cpu_s"]) for r in works)
    summary = {
        "n_pairs": n, "successes_0.01_0.1_1": counts,
        "error_ratio_median": float(np.median(ratios)) if ratios else None,
        "error_ratio_max": max(ratios) if ratios else None, "n_both_within_0.1": len(both),
        "regrun_within_0.01_where_sitk_is": sum(a <= 0.01 for a, _ in fine), "n_sitk_within_0.01": len(fine),
        "cpu_ratio_solve_median_vs_sitk4": float(np.median(solve)) if solve else None,
        "cpu_ratio_whole_median_vs_sitk4": float(np.median(whole)) if whole else None, **startup}
    classes = (("<= 0.1 px", lambda e: e <= 0.1), ("0.1-1 px", lambda e: 0.1 < e <= 1.0), ("> 1 px", lambda e: e > 1.0))
    confusion = {}
    for name, test in classes:
        items = [v for v in verdicts if test(v["err_px"])]
        confusion[name] = {"warned": sum(v["warned"] for v in items), "silent": sum(not v["warned"] for v in items)}
    summary["verdict_confusion"] = confusion
    for peer in methods[3:]:  # each other peer's error where both it and regrun are within 0.1 px, its CPU
        pairs = [(r["regrun_err_px"], r[f"{peer}_err_px"]) for r in rows
                 if r["regrun_err_px"] <= 0.1 and r[f"{peer}_err_px"] <= 0.1]
        ratios_peer = [a / max(b, 1e-6) for a, b in pairs]
        summary[f"error_ratio_median_vs_{peer}"] = float(np.median(ratios_peer)) if pairs else None
        summary[f"n_both_within_0.1_{peer}"] = len(pairs)
        summary[f"{peer}_cpu_s_median"] = float(np.median([r[f"{peer}_cpu_s"] for r in rows]))
        print(f"{peer}: regrun / {peer} error where both <= 0.1 px ({len(pairs)} pairs): median "
              f"{summary[f'error_ratio_median_vs_{peer}']}; {peer} CPU median {summary[f'{peer}_cpu_s_median']:.2f} s")
    names = {"regrun": "regrun", "sitk": "SimpleITK", "sitk4": "SimpleITK, 4 quarter-turn starts",
             "elastix": "elastix", "pystackreg": "pystackreg"}
    print(f"\n| of {n} pairs, successes at 0.01 / 0.1 / 1 px | " + " | ".join(names[m] for m in methods) + " |")
    print("|---|" + "---|" * len(methods))
    print("| successes | " + " | ".join(" / ".join(str(c) for c in counts[m]) for m in methods) + " |")
    print(f"\nerror ratio regrun / SimpleITK's best where both <= 0.1 px ({len(both)} pairs): median "
          f"{summary['error_ratio_median']}, max {summary['error_ratio_max']}; regrun <= 0.01 px on "
          f"{summary['regrun_within_0.01_where_sitk_is']} of the {len(fine)} pairs where SimpleITK is")
    print(f"CPU regrun / SimpleITK 4 starts (median over {len(works)} pairs both within 1 px): solve "
          f"{summary['cpu_ratio_solve_median_vs_sitk4']}, whole process {summary['cpu_ratio_whole_median_vs_sitk4']} "
          f"(start-up CPU: regrun {startup['regrun_startup_cpu_s']:.2f} s, SimpleITK import "
          f"{startup['sitk_import_cpu_s']:.2f} s)")
    print("\n| error | warned | not warned |\n|---|---|---|")
    for name, c in confusion.items():
        print(f"| {name} | {c['warned']} | {c['silent']} |")
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", choices=("files", "synthetic", "wide", "mi"), default="files")
    ap.add_argument("--n-pairs", type=int, default=24, help="wide and mi suites: pairs drawn (scripts/bench_pairs.py)")
    ap.add_argument("--seed", type=int, default=20, help="wide suite: the draw's seed")
    ap.add_argument("--max-angle", type=float, default=180.0,
                    help="mi and wide suites: rotations drawn in +-this many degrees (180: the whole circle)")
    ap.add_argument("--quarter-band", type=float, default=None,
                    help="wide suite: rotations drawn in 90 +- this and 270 +- this many degrees instead")
    ap.add_argument("--images", choices=("tuned", "heldout", "heldout2", "heldout3", "heldout4"), default="tuned",
                    help="wide and mi suites: the images the settings were chosen on, or bench_pairs.HELD_OUT (issue 20)")
    ap.add_argument("--peers", nargs="*", choices=tuple(PEERS), default=list(PEERS),
                    help="wide suite: peers besides SimpleITK (those not installed are said so and left out)")
    ap.add_argument("--verdict-only", action="store_true", help="wide suite: regrun and its verdict, no SimpleITK")
    ap.add_argument("--only", nargs="*", help="files suite: sources to run (camera, MRIhead, hands); wide suite: "
                    "images of the draw to run (the others skipped)")
    ap.add_argument("--regrun", nargs="*", default=[], help="files suite: extra regrun overrides (key=value)")
    ap.add_argument("--sitk-moments", action="store_true",
                    help="files suite: also run SimpleITK from CenteredTransformInitializer(MOMENTS)")
    ap.add_argument("--fair-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "fair_data"))
    ap.add_argument("--size", type=int, default=64, help="synthetic suite: pixels per side")
    ap.add_argument("--texture", type=float, default=0.1, help="synthetic suite")
    ap.add_argument("--thetas", type=float, nargs="+", default=[10.0, 0.0], help="synthetic suite")
    ap.add_argument("--margin", type=int, default=8, help="synthetic suite: border cells of R left out of J")
    ap.add_argument("--optimizer", default="lm", help="synthetic suite: trust_exact | trust_ncg | lm")
    ap.add_argument("--gtol", type=float, default=1e-6, help="synthetic suite")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per method and pair (median kept)")
    ap.add_argument("--out", default="bench_simpleitk.json", help="JSON results; a CSV is written beside it")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import SimpleITK as sitk
    except ImportError:
        sys.exit("SimpleITK is not installed: pip install -e .[bench]  (or pip install SimpleITK)")
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if args.suite == "mi":
        rows = mi_suite(args, sitk)
        summary = summarise_mi(rows)
        summary.update({"simpleitk_version": sitk.Version_VersionString(), "settings": vars(args)})
        with open(args.out, "w") as f:
            json.dump({"pairs": rows, "summary": summary}, f, indent=1, default=str)
        return
    if args.suite == "wide":
        rows, verdicts, startup = wide_suite(args, sitk)
        summary = summarise_wide(rows, verdicts, startup)
        summary.update({"simpleitk_version": sitk.Version_VersionString(), "settings": vars(args)})
        with open(args.out, "w") as f:
            json.dump({"pairs": rows, "verdicts": verdicts, "summary": summary}, f, indent=1, default=str)
        return
    rows = files_suite(args, sitk) if args.suite == "files" else synthetic_suite(args, sitk)
    ok = lambda e: e <= 0.01  # noqa: E731
    summary = {
        "regrun_max_err_px": max(r["regrun_err_px"] for r in rows),
        "sitk_max_err_px": max(r["sitk_err_px"] for r in rows),
        "regrun_successes": sum(ok(r["regrun_err_px"]) for r in rows),
        "sitk_successes": sum(ok(r["sitk_err_px"]) for r in rows),
        "regrun_total_time_s": sum(r["regrun_time_s"] for r in rows),
        "sitk_total_time_s": sum(r["sitk_time_s"] for r in rows),
        "simpleitk_version": sitk.Version_VersionString(), "torch_threads": torch.get_num_threads(),
        "settings": vars(args), "n_pairs": len(rows),
    }
    summary["time_ratio_regrun_over_sitk"] = summary["regrun_total_time_s"] / summary["sitk_total_time_s"]
    if args.suite == "files":
        print_markdown(rows)
    print(json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=1))
    with open(args.out, "w") as f:
        json.dump({"pairs": rows, "summary": summary}, f, indent=1, default=lambda v: None if
                  isinstance(v, float) and not math.isfinite(v) else str(v))
    with open(str(args.out).rsplit(".", 1)[0] + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k not in ("scale", "shift")], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
