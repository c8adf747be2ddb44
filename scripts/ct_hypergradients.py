"""Hypergradients of the bilevel CT loss in every mode beside central finite differences, on ct_fewview.

For lam at `--lams` (multiples of --lam-star) and each FISTA iteration count in --iters, prints and stores:
the loss, d loss / d log lam by central differences (step --h in log lam), the fixed-point residual
||T(x_N) - x_N|| / ||x_N|| of the last iterate, and each mode's hypergradient, its relative error against the
finite difference, its wall time and the bytes it saves for backward. Modes: paper, unrolled, checkpointed,
implicit (adjoint by GMRES to --adjoint-rtol) and implicit_neumann (the old adjoint: --neumann-terms terms of
the Neumann series); for the implicit ones also the adjoint's products and true relative residual. --restart
gradient runs the lower level with solver.restart=gradient (bilevel's default). Every mode here runs exactly N
FISTA iterations (implicit as with solver.fixed_point_tol=0); implicit as the solver runs it, FISTA to a
fixed-point tolerance, is measured by `scripts/ct_lower_level.py --parts tolerance`.

    python scripts/ct_hypergradients.py --size 64 --views 30 --iters 100 400 --lam-star 1 --lams 0.5 1.5 5
"""
from __future__ import annotations

import math
import time

from ct_setup import ct_parser, ct_problem, write_json  # scripts/ct_setup.py

MODES = ("paper", "unrolled", "checkpointed", "implicit", "implicit_neumann")


def main(argv=None):
    ap = ct_parser(__doc__, size=64, views=30, iters=[100, 400], out="outputs/bench/ct_hypergradients.json")
    ap.add_argument("--inner-iters", type=int, default=5)
    ap.add_argument("--lam-star", type=float, default=1.0, help="lambda around which to probe")
    ap.add_argument("--lams", type=float, nargs="+", default=[0.5, 1.5, 5.0], help="multiples of --lam-star")
    ap.add_argument("--h", type=float, default=1e-4, help="finite-difference step in log lambda")
    ap.add_argument("--modes", nargs="+", default=["unrolled", "implicit", "implicit_neumann"], choices=MODES)
    ap.add_argument("--adjoint-iters", type=int, default=2000, help="implicit: most GMRES products")
    ap.add_argument("--adjoint-rtol", type=float, default=1e-10, help="implicit: GMRES relative residual")
    ap.add_argument("--adjoint-restart", type=int, default=50)
    ap.add_argument("--restart", default="none", choices=["none", "gradient"],
                    help="the lower-level FISTA's adaptive restart (solver.restart)")
    ap.add_argument("--neumann-terms", type=int, default=100, help="implicit_neumann: terms of the series")
    args = ap.parse_args(argv)

    import torch

    from regrun.config import config_section
    from regrun.linalg.iterate import AdjointSolve
    from regrun.memory import SavedBytes
    from regrun.optim.bilevel import BilevelLoss
    from regrun.tomography.fista_tv import lipschitz, make_fista

    problem = ct_problem(args)
    cfg = config_section("solver", "bilevel", inner_iters=args.inner_iters)
    L = lipschitz(problem, cfg)
    exact, paper = make_fista(problem, cfg, L, restart=args.restart), make_fista(problem, cfg, L, paper=True)
    adjoints = {"implicit": AdjointSolve("gmres", args.adjoint_iters, args.adjoint_rtol, args.adjoint_restart),
                "implicit_neumann": AdjointSolve("neumann", args.neumann_terms)}
    rows = []
    print(f"{'N':>4} {'lam':>7} {'loss':>10} {'fp resid':>9} {'FD':>11} " + " ".join(f"{m:>16}" for m in args.modes))
    for iters in args.iters:
        for mult in args.lams:
            lam = mult * args.lam_star
            theta = math.log(lam)
            ref = BilevelLoss(exact, problem.truth, iters, "unrolled", "log", exact.mask, paper)
            fd = (ref.value(theta + args.h) - ref.value(theta - args.h)) / (2 * args.h)
            with torch.no_grad():
                lam_t = torch.tensor(lam, dtype=torch.float64)
                x = exact.solve(lam_t, iters)
                fp = float((exact.prox_gradient(x, lam_t) - x).norm() / x.norm())
            row = {"iters": iters, "lam": lam, "loss": ref.value(theta), "fd": fd, "fixed_point_residual": fp}
            for mode in args.modes:
                kind = "implicit" if mode.startswith("implicit") else mode
                loss = BilevelLoss(exact, problem.truth, iters, kind, "log", exact.mask, paper,
                                   adjoint=adjoints.get(mode))
                t0, c0 = time.perf_counter(), time.process_time()
                ev = loss.value_and_grad(theta)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
                with SavedBytes() as counter:
                    out = loss.loss_of((paper if mode == "paper" else exact).solve(loss.lam(t), iters, loss.diff))
                del out
                row[mode] = {"grad": ev.grad, "rel_error_vs_fd": abs(ev.grad - fd) / abs(fd), "seconds": seconds,
                             "cpu_seconds": cpu,
                             "saved_MiB": counter.total / 2**20, "adjoint_iters": ev.adjoint_iters,
                             "adjoint_residual": ev.adjoint_residual}
            rows.append(row)
            print(f"{iters:4d} {lam:7.4g} {row['loss']:10.5g} {fp:9.2e} {fd:11.4e} " +
                  " ".join(f"{row[m]['grad']:11.4e} ({row[m]['rel_error_vs_fd']:.0e})" for m in args.modes),
                  flush=True)
    print("\nper mode: relative error vs FD / wall seconds (CPU) / saved MiB [/ adjoint products, residual]")
    for row in rows:
        print(f"N={row['iters']} lam={row['lam']:.4g}: " + "; ".join(
            f"{m} {row[m]['rel_error_vs_fd']:.1e} / {row[m]['seconds']:.1f} s ({row[m]['cpu_seconds']:.1f} s) / "
            f"{row[m]['saved_MiB']:.1f} MiB" +
            (f" / {row[m]['adjoint_iters']}, {row[m]['adjoint_residual']:.1e}" if row[m]["adjoint_iters"] else "")
            for m in args.modes))
    write_json(args, rows)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
