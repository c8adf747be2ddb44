#!/usr/bin/env python
"""How piecewise-flat the frames look, without the truth (srgraphic; issue 16): candidate gates for the climb.

Per frame set (bench_lambda_sr's sets): from the frames alone (every frame, every channel), the noise sigma by
Immerkaer's estimate (parameter_choice.noise_std_images, as `auto`), then
  flat: the share of pixels whose forward differences (both axes) are under 3 sigma (paper, flat colour),
  top5: the share of the squared-gradient energy in the 5% steepest pixels (1 for isolated edges, ~0.05 white),
  kurt: the kurtosis of the differences (3 for a Gaussian field; large for sparse edges).
No solves: seconds a set.

    python scripts/diag_lambda_sr_flat.py --set barcode,128,8,0.01,1204,rigid sk:brick,64,16,0.03,1107,translation
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from bench_lambda_sr import describe, frame_set, parse_set  # scripts/bench_lambda_sr.py

from regrun.optim.parameter_choice import noise_std_images


def features(stack: torch.Tensor) -> dict:
    """stack: (frames, rows, cols) or (frames, channels, rows, cols)."""
    fr = stack.reshape(-1, *stack.shape[-2:])
    sigma = float(noise_std_images(fr))
    dx, dy = fr[:, 1:, :-1] - fr[:, :-1, :-1], fr[:, :-1, 1:] - fr[:, :-1, :-1]
    g2 = (dx**2 + dy**2).reshape(-1)
    flat = float(((dx.abs() < 3 * sigma) & (dy.abs() < 3 * sigma)).double().mean())
    k = max(1, int(0.05 * g2.numel()))
    top5 = float(g2.topk(k).values.sum() / g2.sum())
    d = torch.cat((dx.reshape(-1), dy.reshape(-1)))
    d = d - d.mean()
    kurt = float((d**4).mean() / (d**2).mean() ** 2)
    return {"sigma": sigma, "flat": flat, "top5": top5, "kurt": kurt}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="sets", nargs="+", type=parse_set, required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for spec in args.sets:
        _, stack, _, _ = frame_set(spec["kind"], spec["size"], spec["frames"], spec["noise"], spec["seed"],
                                   supersample=4, motion=spec["motion"], gain=spec["gain"])
        f = features(torch.as_tensor(stack))
        rows.append({"set": describe({"image": spec["kind"], **spec, "channels": 3 if stack.ndim == 4 else 1}),
                     "spec": spec, **f})
        print(f"| {rows[-1]['set']} | {f['sigma']:.3g} | {f['flat']:.3f} | {f['top5']:.3f} | {f['kurt']:.1f} |",
              flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
