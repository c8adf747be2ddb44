#!/usr/bin/env python
"""Which pre-registration to keep with the frames' level taken off (srprereg): for kept frame sets
(bench_lambda_sr.py --keep), the pre-registration ladder (SuperResModel.preregister, outside=drop) on the model's
frames less the level and on the frames as given, each scored by its motion error against the true motion (RMS fine
px, superres_start.start_distance: the truth only scores) and by the fit to the frames less the level
(superres_fused.fit_objective) at several weights: does the lower fit pick the start nearer the truth?

    python scripts/diag_sr_prereg_level.py OUT/frames/*.npz [--lams 3.2 0.8 0.2 0.05]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.problems.superres import SuperRes
from regrun.registration.superres_fused import fit_objective
from regrun.registration.superres_start import start_distance


def ladders(p: SuperRes) -> dict[str, torch.Tensor]:
    """The ladder's end on the model's frames (less the level) and on the frames as given (the level put back on
    model.frames for the ladder only; the ladder reads nothing else of the frames)."""
    model = p.model
    kw = dict(drop_outside=True, transform=None if p.motion.is_affine else p.motion.transform, gain=False)
    out = {"less level": model.preregister(**kw)}
    kept = model.frames
    model.frames = kept + p.level
    try:
        out["as given"] = model.preregister(**kw)
    finally:
        model.frames = kept
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("frames", nargs="+", type=Path)
    ap.add_argument("--lams", nargs="+", type=float, default=[3.2, 0.8, 0.2, 0.05])
    args = ap.parse_args()
    ctx = RunContext("cpu", torch.float64, 0, Path("."))
    print("| set | level | start | motion px | " + " | ".join(f"fit at {lam:g}" for lam in args.lams) + " |")
    print("|---|---|---|---|" + "---|" * len(args.lams))
    for path in args.frames:
        cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                             true_motion=str(path), frames_level=True)
        p = SuperRes(cfg, ctx)
        for name, w in ladders(p).items():
            fits = [fit_objective(p.model, w, lam) for lam in args.lams]
            print(f"| {path.stem} | {p.level:.4g} | {name} | {start_distance(p, w, p.w_true):.2f} | "
                  + " | ".join(f"{f:.5g}" for f in fits) + " |")


if __name__ == "__main__":
    main()
