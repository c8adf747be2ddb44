#!/usr/bin/env python
"""newuser16's super-resolution table: for each sweep `regrun -m problem=superres problem.data=frames
problem.frames=SET/frames problem.truth=SET/truth.png problem.lambda_f=auto,0.03,0.1,0.3,1,3` (folder
multirun/grid_SET), the PSNR of `auto`, of regrun's best typed weight, and of bicubic upsampling of frame 0 (PyTorch's
bicubic, pixel centres aligned, as scripts/bench_lambda_sr.py's bicubic_psnr; PSNR by regrun.metrics.psnr, the
run's own measure), from the results files alone.

    python scripts/newuser16_sr_table.py multirun/grid_sr_retina multirun/grid_sr_rocket multirun/grid_sr_ihc
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

import regrun.record as rr
from regrun.metrics import psnr


def bicubic(frames_dir: str, truth_path: str) -> float:
    """Frame 0 (the first file in the numbers' order, as regrun reads a folder) upsampled onto the truth's grid."""
    truth = np.asarray(Image.open(truth_path), dtype=np.float64)
    files = sorted(Path(frames_dir).iterdir(), key=lambda f: [int(t) if t.isdigit() else t
                                                              for t in __import__("re").split(r"(\d+)", f.name)])
    f0 = torch.as_tensor(np.asarray(Image.open(files[0]), dtype=np.float64))
    f0 = f0[None, None] if f0.ndim == 2 else f0.permute(2, 0, 1)[None]
    up = torch.nn.functional.interpolate(f0, size=truth.shape[:2], mode="bicubic", align_corners=False)[0]
    up = up[0] if truth.ndim == 2 else up.permute(1, 2, 0)
    return psnr(up.numpy(), truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path)
    a = ap.parse_args()
    print("| set | auto: lambda_f, PSNR | best typed: lambda_f, PSNR | auto - best | bicubic | auto - bicubic |")
    print("|---|---|---|---|---|---|")
    for sweep in a.sweeps:
        auto, typed = None, []
        for path in sorted(sweep.glob("*/results.h5")):
            run = rr.load(path)
            resolved = yaml.safe_load(run["config"]["resolved"])
            if "lam_chosen" in run["metrics"]:
                auto = (run["metrics"]["lam_chosen"], run["metrics"]["psnr"], resolved)
            else:
                typed.append((float(resolved["problem"]["lambda_f"]), run["metrics"]["psnr"]))
        best = max(typed, key=lambda r: r[1])
        bic = bicubic(auto[2]["problem"]["frames"], auto[2]["problem"]["truth"])
        print(f"| {sweep.name} | {auto[0]:.3g}, {auto[1]:.2f} | {best[0]:.3g}, {best[1]:.2f} | "
              f"{auto[1] - best[1]:+.2f} | {bic:.2f} | {auto[1] - bic:+.2f} |")
        print("  typed: " + ", ".join(f"{lam:g}: {p:.2f}" for lam, p in sorted(typed)))


if __name__ == "__main__":
    main()
