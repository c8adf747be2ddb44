#!/usr/bin/env python
"""Cost of the registration derivatives the solvers use, against plain torch.func, as the image grows.

For synthetic pairs of N x N pixels (affine model, theta = 1e-3), times in one process with torch pinned to
--threads: the objective J, J with grad J (pointwise against torch.func's grad_and_value), the exact Hessian of J (ScaleObjective.hessian, assembled from the spatial
derivatives of T by the pointwise chain rule, against torch.func's jacrev(jacrev) and hessian), and the residual
Jacobian (ScaleObjective.jacobian against jacfwd). Prints milliseconds (median) and factors over J, and writes
JSON and CSV.

    python scripts/bench_scale_derivatives.py --sizes 32 64 128 --out outputs/bench/scale_derivatives.json
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import torch
from torch.func import grad_and_value, hessian, jacfwd, jacrev

from regrun.config import compose
from regrun.context import RunContext
from regrun.registry import PROBLEMS
from regrun.solvers.ad_cost import time_calls


def functions(size: int, theta: float):
    cfg = compose([f"problem.synthetic.size={size}"])
    problem = PROBLEMS.get("multiscale_affine")(cfg.problem, RunContext(torch.device("cpu"), torch.float64, 0, "."))
    scale = problem.at_scale(theta)
    gen = torch.Generator().manual_seed(size)

    def sample():
        return problem.identity + 0.05 * torch.randn(6, generator=gen, dtype=torch.float64)

    return sample, {
        "objective": scale.objective,
        "gradient pointwise": scale.value_and_grad,
        "gradient grad_and_value": grad_and_value(scale.objective),
        "hessian pointwise": scale.hessian,
        "hessian jacrev(jacrev)": jacrev(jacrev(scale.objective)),
        "hessian torch.func.hessian": hessian(scale.objective),
        "jacobian pointwise": scale.jacobian,
        "jacobian jacfwd": jacfwd(scale.residual),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--theta", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("outputs/bench/scale_derivatives.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes:
        sample, fns = functions(size, args.theta)
        times = {name: float(np.median(time_calls(fn, sample, args.repeats, max_seconds=20.0)))
                 for name, fn in fns.items()}
        for name, ms in times.items():
            rows.append({"size": size, "function": name, "median_ms": ms, "factor_over_J": ms / times["objective"]})
        print(f"\n{size}x{size}: " + ", ".join(f"{n} {t:.2f} ms ({t / times['objective']:.1f}x)" for n, t in times.items()))
        print(f"  gradient: grad_and_value / pointwise = {times['gradient grad_and_value'] / times['gradient pointwise']:.1f}, "
              f"Hessian: jacrev(jacrev) / pointwise = {times['hessian jacrev(jacrev)'] / times['hessian pointwise']:.1f}, "
              f"Jacobian: jacfwd / pointwise = {times['jacobian jacfwd'] / times['jacobian pointwise']:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "theta": args.theta, "torch": torch.__version__,
                                    "rows": rows}, indent=1))
    with open(args.out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nwrote {args.out} and {args.out.with_suffix('.csv')}")


if __name__ == "__main__":
    main()
