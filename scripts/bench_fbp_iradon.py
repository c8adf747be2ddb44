#!/usr/bin/env python
"""regrun's FBP beside scikit-image's iradon with the same filter on the same data (issue 21).

Data: exact line integrals (regrun's projector on a grid `--supersample` times finer) of scikit-image's
Shepp-Logan phantom, parallel beam over 180 degrees, an odd detector covering the disk, optional Gaussian noise
relative to the largest line integral; truth = the phantom's cell average. Both reconstructions get the same
sinogram (iradon's layout: detector x views, angles negated and its image transposed, which is regrun's
orientation) and are scored by PSNR inside a disk (90% of the width). The two programs put the rotation centre
at different places: regrun at the grid's geometric centre ((n - 1) / 2 in pixels, cell-centred), iradon at pixel
n // 2; both agree for odd image sizes, and differ by half a pixel for even ones.

    pip install -e .[bench]     # scikit-image
    python scripts/bench_fbp_iradon.py --out outputs/bench/fbp_iradon.json
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from regrun.metrics import psnr
from regrun.tomography.fbp import fbp
from regrun.tomography.geometry import parallel_beam
from regrun.tomography.xray import XRayTransform


def case(n: int, views: int, noise: float, filt: str, supersample: int) -> dict:
    from skimage.data import shepp_logan_phantom
    from skimage.transform import iradon, resize

    fine = resize(shepp_logan_phantom(), (n * supersample, n * supersample), anti_aliasing=True)
    truth = fine.reshape(n, supersample, n, supersample).mean((1, 3))
    n_det = int(math.ceil(math.sqrt(2) * n)) + 2
    n_det += n_det % 2 == 0  # odd: both programs put the detector centre on its middle bin
    theta = np.arange(views) * 180.0 / views
    angles = torch.tensor(np.radians(theta), dtype=torch.float64)
    fine_geo = parallel_beam(fine.shape, angles, n_det, 1.0, 1.0 / supersample)
    sino = XRayTransform(fine_geo, cache_mb=0).project(torch.tensor(fine))
    gen = torch.Generator().manual_seed(0)
    sino = sino + noise * float(sino.max()) * torch.randn(sino.shape, generator=gen, dtype=torch.float64)
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 < (0.9 * n / 2) ** 2
    c0 = time.process_time()
    ours = fbp(parallel_beam((n, n), angles, n_det, 1.0, 1.0), sino, filt).numpy()
    c1 = time.process_time()
    peer = iradon(np.ascontiguousarray(sino.numpy().T), theta=-theta, filter_name=filt, circle=False,
                  output_size=n).T
    c2 = time.process_time()
    return {"size": n, "views": views, "noise": noise, "filter": filt, "detector": n_det,
            "psnr_regrun": psnr(ours * mask, truth * mask), "psnr_iradon": psnr(peer * mask, truth * mask),
            "rel_diff": float(np.linalg.norm((ours - peer) * mask) / np.linalg.norm(peer * mask)),
            "cpu_regrun_s": c1 - c0, "cpu_iradon_s": c2 - c1}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[127, 128, 255, 256])
    ap.add_argument("--views", type=int, nargs="+", default=[60, 180])
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01])
    ap.add_argument("--filters", nargs="+", default=["ramp", "shepp-logan", "hann"])
    ap.add_argument("--supersample", type=int, default=4)
    ap.add_argument("--out", default="fbp_iradon.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for n in args.sizes:
        for v in args.views:
            for noise in args.noise:
                for filt in args.filters:
                    row = case(n, v, noise, filt, args.supersample)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "settings": vars(args)}, indent=1))


if __name__ == "__main__":
    main()
