#!/usr/bin/env python
"""Accuracy and wall time of regrun's multiscale affine registration against SimpleITK's, on the same pairs in the
same process, one thread each.

Pairs: regrun's synthetic phantom warped by known affines, sampled by cell averages of a 4x finer grid (so neither
method's interpolation model reproduces the data exactly). Error: RMS over the grid of |y(x) - y_true(x)| in pixels.
SimpleITK: MeanSquares, cubic B-spline interpolation, 3-level pyramid (shrink 4-2-1, smoothing 2-1-0 px),
regular-step gradient descent with physical-shift scales, initial transform at the identity about the centre.

    pip install -e .[bench]     # SimpleITK
    python scripts/bench_simpleitk.py --out bench_simpleitk.json
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import time

import numpy as np
import torch

from regrun.config import compose
from regrun.context import RunContext
from regrun.monitor import Monitor
from regrun.registry import PROBLEMS, SOLVERS

PAIRS = [  # angle (deg), scale, shift (fraction of the domain), seed
    (5.0, (1.02, 0.98), (0.02, -0.01), 0),
    (12.0, (1.08, 0.94), (0.04, -0.03), 1),
    (20.0, (0.95, 1.05), (-0.03, 0.02), 2),
    (30.0, (1.05, 1.05), (0.02, 0.04), 3),
]


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


def to_sitk(arr, grid):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(arr.T))  # numpy [row=x2, col=x1] -> index (x1, x2)
    img.SetSpacing(grid.h)
    img.SetOrigin((grid.omega[0] + grid.h[0] / 2, grid.omega[2] + grid.h[1] / 2))
    return img


def run_simpleitk(problem, iterations=300):
    import SimpleITK as sitk

    fixed = to_sitk(problem.reference.numpy(), problem.grid)   # T(y(x)) ~ R(x): y maps fixed points to moving
    moving = to_sitk(problem.template.numpy(), problem.grid)
    init = sitk.AffineTransform(2)
    init.SetCenter(problem.grid.centre)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMeanSquares()
    reg.SetInterpolator(sitk.sitkBSpline)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-6, numberOfIterations=iterations,
                                                 relaxationFactor=0.5, gradientMagnitudeTolerance=1e-10)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(init, inPlace=False)
    reg.SetNumberOfThreads(1) if hasattr(reg, "SetNumberOfThreads") else None
    t0 = time.perf_counter()
    out = reg.Execute(fixed, moving)
    wall = time.perf_counter() - t0
    tr = out if isinstance(out, sitk.AffineTransform) else None
    if tr is None:
        tr = sitk.AffineTransform(sitk.CompositeTransform(out).GetBackTransform()) if out.GetName() == \
            "CompositeTransform" else sitk.AffineTransform(out)
    A = np.array(tr.GetMatrix()).reshape(2, 2)
    c, t = np.array(tr.GetCenter()), np.array(tr.GetTranslation())
    b = c + t - A @ c
    w = torch.tensor([A[0, 0], A[0, 1], A[1, 0], A[1, 1], b[0], b[1]], dtype=torch.float64)
    return w, wall, reg.GetOptimizerStopConditionDescription()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--texture", type=float, default=0.1)
    ap.add_argument("--thetas", type=float, nargs="+", default=[10.0, 0.0])
    ap.add_argument("--margin", type=int, default=8, help="border cells of R left out of J (0: the paper's J)")
    ap.add_argument("--optimizer", default="lm", help="trust_exact | trust_ncg | lm")
    ap.add_argument("--gtol", type=float, default=1e-6)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method and pair (best wall time kept)")
    ap.add_argument("--out", default="bench_simpleitk.json", help="JSON results; a CSV is written beside it")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        import SimpleITK as sitk
    except ImportError:
        sys.exit("SimpleITK is not installed: pip install -e .[bench]  (or pip install SimpleITK)")
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
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
    summary = {
        "regrun_max_err_px": max(r["regrun_err_px"] for r in rows),
        "sitk_max_err_px": max(r["sitk_err_px"] for r in rows),
        "regrun_total_time_s": sum(r["regrun_time_s"] for r in rows),
        "sitk_total_time_s": sum(r["sitk_time_s"] for r in rows),
        "simpleitk_version": sitk.Version_VersionString(), "torch_threads": torch.get_num_threads(),
        "settings": vars(args),
    }
    summary["time_ratio_regrun_over_sitk"] = summary["regrun_total_time_s"] / summary["sitk_total_time_s"]
    print(json.dumps({k: v for k, v in summary.items() if k != "settings"}, indent=1))
    with open(args.out, "w") as f:
        json.dump({"pairs": rows, "summary": summary}, f, indent=1)
    with open(str(args.out).rsplit(".", 1)[0] + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[k for k in rows[0] if k not in ("scale", "shift")], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
