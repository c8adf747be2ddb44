#!/usr/bin/env python
"""Cost of one Gauss-Newton (LM) iteration of the user-data registration objective (outside=mask, normalised,
centred affine, smoothed camera), by image size, one thread: residual and Jacobian at the current point (the
spline's values and stencil derivatives, dy/dw, the mask), one trial residual, and the 6x6 damped solve. Issue 9's
target: <= 5 ms at 128^2 (SimpleITK spends about 4 ms per iteration there).

    python scripts/bench_lm_iteration.py --out bench_lm_iteration.json
"""
from __future__ import annotations

import argparse
import json
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
        w = (problem.identity + 0.01)[None]

        def iteration():
            lin = DenseLinearization(*kernel.residual_and_jacobian(w))
            step = lin.step(lin.initial_damping(1e-6))
            return kernel.residual(w + step)

        iteration()
        samples = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            iteration()
            samples.append(time.perf_counter() - t0)
        row = {"size": n, "median_ms": 1e3 * float(np.median(samples)), "min_ms": 1e3 * float(np.min(samples))}
        rows.append(row)
        print(f"{n:4d}^2: one LM iteration {row['median_ms']:.2f} ms (median; fastest {row['min_ms']:.2f} ms)",
              flush=True)
    with open(args.out, "w") as f:
        json.dump({"rows": rows, "torch_threads": torch.get_num_threads(), "torch": torch.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
