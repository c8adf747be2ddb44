#!/usr/bin/env python
"""Cost of one Gauss-Newton (LM) iteration of the user-data registration objective (outside=mask, normalised,
centred affine, smoothed camera), by image size, one thread, as lm_batched runs it after an accepted step: residual
and Jacobian at the last trial point (the spline's values and stencil derivatives, dy/dw, the mask), the 6x6
damped solve, and the residual at the next trial point. Issue 9's target: <= 5 ms at 128^2 (SimpleITK spends
about 4 ms per iteration there).

Each iteration is timed by the wall clock and by the thread's CPU time (time.thread_time): on a shared machine the
wall time counts the slices other processes take, the CPU time does not. Compare two versions by running this
script on both back to back (PYTHONPATH=<tree>) and taking ratios.

    python scripts/bench_lm_iteration.py --out bench_lm_iteration.json
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from regrun.config import compose
from regrun.context import RunContext
from regrun.optim.levenberg_marquardt import DenseLinearization
from regrun.registry import PROBLEMS


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--out", default="bench_lm_iteration.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import skimage.data
    import skimage.transform
    from PIL import Image

    folder = Path(tempfile.mkdtemp(prefix="bench_lm_iteration_"))
    rows = []
    for n in args.sizes:
        img = skimage.transform.resize(skimage.data.camera(), (n, n), anti_aliasing=True)
        for name, arr in (("R", img), ("T", skimage.transform.rotate(img, 20.0))):
            Image.fromarray((255 * arr).astype(np.uint8)).save(folder / f"{name}{n}.png")
        cfg = compose(["problem.data=files", f"problem.template={folder / f'T{n}.png'}",
                       f"problem.reference={folder / f'R{n}.png'}"])
        problem = PROBLEMS.get("multiscale_affine")(cfg.problem, RunContext(torch.device("cpu"), torch.float64, 0, "."))
        kernel = problem.at_scale(0.0).kernel
        # LM's trial residual (regrun's kernel keeps the trial point's gradients for the linearization there;
        # older versions have only `residual`, so this script times both)
        trial_residual = getattr(kernel, "trial_residual", kernel.residual)
        w = (problem.identity + 0.01)[None]
        trial_residual(w)

        def iteration():
            # as in lm_batched after an accepted step: linearize at the trial point, solve, try the next point
            nonlocal w
            lin = DenseLinearization(*kernel.residual_and_jacobian(w))
            w = w + lin.step(lin.initial_damping(1e-6))
            return trial_residual(w)

        iteration()
        wall, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.thread_time()
            iteration()
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - t0)
        row = {"size": n, "median_ms": 1e3 * float(np.median(wall)), "min_ms": 1e3 * float(np.min(wall)),
               "cpu_median_ms": 1e3 * float(np.median(cpu)), "cpu_min_ms": 1e3 * float(np.min(cpu))}
        rows.append(row)
        print(f"{n:4d}^2: one LM iteration {row['median_ms']:.2f} ms wall (median; fastest {row['min_ms']:.2f} ms), "
              f"{row['cpu_median_ms']:.2f} ms CPU (median; fastest {row['cpu_min_ms']:.2f} ms)", flush=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                   "load_average": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
