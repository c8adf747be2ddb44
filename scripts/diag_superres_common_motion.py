#!/usr/bin/env python
"""The frames' common motion in super-resolution (docs/superres.md, "Nineteenth round (srmotion2)"): from regrun's
answer (a `bench_superres_scaling.py --keep` folder), re-anchor frame 0 again and again: register frame 0 to the
image at the current motion (image fixed, Gauss-Newton on frame 0's rows), move every frame's motion by the
inverse of that affine (T_j <- V^-1 T_j: the image follows frames 1.., frame 0 stays at the identity), project the
image again; the motion error after each round, and its common part (diag_superres_motion_bias.split_error).
Also the projected objective J at each round (lower: a step toward the joint minimum along the common motion).

    python scripts/diag_superres_common_motion.py --keep OUT/seen_main_0 --rounds 4
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import torch

from regrun.config import config_section
from regrun.context import RunContext
from regrun.imaging.interpolation import SeparableStencil
from regrun.imaging.transforms import affine, affine_identity, affine_inverse
from regrun.linalg.differences import pool
from regrun.problems.superres import SuperRes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diag_superres_motion_bias import split_error  # noqa: E402


def frame0_affine(model, f, iters: int = 10) -> torch.Tensor:
    """argmin_v ||pool(S(v) f) - d_0||^2, v affine (6,), f fixed: Gauss-Newton from the identity."""
    n1, n2 = model.fine.m
    coef = model.coef.apply(f.reshape(n1, n2))
    x1, x2 = model.x[:, 0], model.x[:, 1]
    v = affine_identity(model.dtype, model.device)
    for _ in range(iters):
        st = SeparableStencil.at(model.fine, affine(v[None, None, :], model.x), with_gradient=True)
        val = st.gather(coef).reshape(n1, n2)
        g = st.gather_gradient(coef)[0]
        g1, g2 = g[..., 0], g[..., 1]
        jac = pool(torch.stack((g1 * x1, g1 * x2, g2 * x1, g2 * x2, g1, g2)).unflatten(-1, (n1, n2)),
                   model.factor).flatten(-2)  # (6, coarse)
        r = (pool(val, model.factor) - model.frames[0]).flatten()
        step = -torch.linalg.solve(jac @ jac.T, jac @ r)
        v = v + step
        if float(step.abs().max()) < 1e-13:
            break
    return v


def compose_inverse(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """T_j <- V^-1 T_j for every frame's affine in w (q, 6)."""
    vi = affine_inverse(v)
    a = vi[:4].reshape(2, 2)
    out = []
    for t in w.reshape(-1, 6):
        m = a @ t[:4].reshape(2, 2)
        b = a @ t[4:] + vi[4:]
        out.append(torch.cat((m.reshape(-1), b)))
    return torch.stack(out).reshape(-1)


def project(model, w):
    """The image at motion w, PCG to 1e-10, and J = ||A(w) f - b||^2."""
    f = model.solve(w, 2000, 1e-10, x0=model.initial_image())
    f = f.x if hasattr(f, "x") else f
    r = model.residual(w, f)
    return f, float(r.pow(2).sum())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", type=Path, nargs="+", required=True)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--lambda-f", type=float, default=0.1)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, Path("."))
    for folder in args.keep:
        for path in sorted(folder.glob("set_*.npz")):
            size, frames, seed = (int(v) for v in path.stem.split("_")[1:4])
            cfg = config_section("problem", "superres", data="frames", frames=str(path), truth=str(path),
                                 true_motion=str(path), lambda_f=args.lambda_f)
            p = SuperRes(cfg, ctx)
            with h5py.File(folder / f"run_{size}_{frames}" / "results.h5", "r") as h:
                w = torch.as_tensor(h["result/w"][()], dtype=torch.float64).reshape(-1)
            p.model.settle_outside(w)
            rows = []
            for k in range(args.rounds + 1):
                f, J = project(p.model, w)
                s = split_error(p, w)
                rows.append({"round": k, "err": round(s["err"], 5), "common": round(s["common_rms"], 5),
                             "rest": round(s["rest_rms"], 5), "J": round(J, 4), "psnr_rel": round(p.rel_error(f), 6)})
                if k < args.rounds:
                    v = frame0_affine(p.model, f)
                    w = compose_inverse(v, w)
            print(json.dumps({"size": size, "frames": frames, "seed": seed, "rounds": rows}), flush=True)


if __name__ == "__main__":
    main()
