"""Hypergradients of the bilevel CT loss in every mode beside central finite differences, on ct_fewview.

For lam at `--lams` (multiples of --lam-star), prints and stores: the loss, d loss / d log lam by central
differences (step --h in log lam) and by the paper / unrolled / checkpointed / implicit modes, each mode's
relative error against the finite difference, its wall time and the bytes it saves for backward.

    python scripts/ct_hypergradients.py --size 64 --views 30 --iters 140 --lam-star 1.0 --out outputs/bench/ct_hypergradients.json
"""
from __future__ import annotations

import math
import time

from ct_setup import ct_parser, ct_problem, write_json  # scripts/ct_setup.py


def main(argv=None):
    ap = ct_parser(__doc__, size=64, views=30, iters=140, out="outputs/bench/ct_hypergradients.json")
    ap.add_argument("--inner-iters", type=int, default=5)
    ap.add_argument("--lam-star", type=float, default=1.0, help="lambda around which to probe")
    ap.add_argument("--lams", type=float, nargs="+", default=[0.3, 1.0, 3.0], help="multiples of --lam-star")
    ap.add_argument("--h", type=float, default=1e-3, help="finite-difference step in log lambda")
    ap.add_argument("--modes", nargs="+", default=["paper", "unrolled", "checkpointed", "implicit"])
    ap.add_argument("--adjoint-iters", type=int, default=100)
    args = ap.parse_args(argv)

    import torch

    from regrun.config import config_section
    from regrun.linalg.iterate import AdjointSolve
    from regrun.memory import SavedBytes
    from regrun.optim.bilevel import BilevelLoss
    from regrun.tomography.fista_tv import lipschitz, make_fista

    problem = ct_problem(args)
    cfg = config_section("solver", "bilevel", iters=args.iters, inner_iters=args.inner_iters)
    L = lipschitz(problem, cfg)
    exact, paper = make_fista(problem, cfg, L), make_fista(problem, cfg, L, paper=True)
    rows = []
    print(f"{'lam':>9} {'loss':>10} {'FD':>11} " + " ".join(f"{m:>13}" for m in args.modes))
    for mult in args.lams:
        lam = mult * args.lam_star
        theta = math.log(lam)
        ref = BilevelLoss(exact, problem.truth, args.iters, "unrolled", "log", exact.mask, paper)
        fd = (ref.value(theta + args.h) - ref.value(theta - args.h)) / (2 * args.h)
        row = {"lam": lam, "loss": ref.value(theta), "fd": fd}
        for mode in args.modes:
            loss = BilevelLoss(exact, problem.truth, args.iters, mode, "log", exact.mask, paper,
                               adjoint=AdjointSolve("neumann", args.adjoint_iters))
            t0 = time.perf_counter()
            g = loss.value_and_grad(theta).grad
            seconds = time.perf_counter() - t0
            t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
            with SavedBytes() as counter:
                out = loss.loss_of((paper if mode == "paper" else exact).solve(loss.lam(t), args.iters, loss.diff))
            del out
            row[mode] = {"grad": g, "rel_error_vs_fd": abs(g - fd) / abs(fd), "seconds": seconds,
                         "saved_MiB": counter.total / 2**20}
        rows.append(row)
        print(f"{lam:9.4g} {row['loss']:10.5g} {fd:11.4e} " +
              " ".join(f"{row[m]['grad']:13.4e}" for m in args.modes))
    print("\nrelative error vs FD / seconds / saved MiB per mode")
    for row in rows:
        print(f"lam={row['lam']:.4g}: " + "; ".join(
            f"{m} {row[m]['rel_error_vs_fd']:.1e} / {row[m]['seconds']:.1f} s / {row[m]['saved_MiB']:.1f} MiB"
            for m in args.modes))
    write_json(args, rows)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
