"""Where regrun loses a photo pair of scripts/regpair_pairs.py (docs/registration.md, "A turned colour photo against a
grey crop"): the truth and regrun's phases measured on one seen pair, in process, one thread.

    python scripts/diag_regpair.py --work DIR [--ux6 73129 | --seed 18121] [overrides ...]

Prints, in the grid's cells of each level (problem.resize=128 squashes each image to 128 x 128): the truth's J,
overlap, admitted flag and correlation on the finest and coarsest levels; every coarsest-level start, its end after
coarse_max_iter LM iterations, J, admission and distance to the truth (RMS over the level's grid, in its cells);
the truth itself minimised on the coarsest level (does its basin hold there?); the run's end.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regpair_pairs import draw, make, rms_error  # noqa: E402
from ux6_heldout import make_pair  # noqa: E402

from regrun.config import compose  # noqa: E402
from regrun.context import RunContext  # noqa: E402
from regrun.monitor import Monitor  # noqa: E402
from regrun.registry import PROBLEMS, SOLVERS  # noqa: E402


def truth_in_grid(problem, truth) -> torch.Tensor:
    """The truth (template px) as w of the squashed grid: A = S_T^-1 A' S_R, b = S_T^-1 b' (in_user_pixels' inverse)."""
    st, sr = np.array(problem.user_pixels["template"]), np.array(problem.user_pixels["reference"])
    a = truth["A"] * sr[None, :] / st[:, None]
    b = truth["b"] / st
    return problem.from_affine(torch.tensor([*a.ravel(), *b], dtype=torch.float64))


def err_cells(level, w, w_true) -> float:
    h = level.x.new_tensor(level.grid.h)
    d = (level.transformation.points(w, level.x) - level.transformation.points(w_true, level.x)) / h
    return float(d.pow(2).sum(-1).mean().sqrt())


def angle_scale(problem, w) -> str:
    a = problem.to_affine(w)[:4].reshape(2, 2)
    return f"{math.degrees(math.atan2(float(a[1, 0] - a[0, 1]), float(a[0, 0] + a[1, 1]))):+6.1f}deg " \
           f"det {float(torch.linalg.det(a)):.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--ux6", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("overrides", nargs="*")
    a = ap.parse_args()
    folder = a.work / (f"ux6_{a.ux6}" if a.ux6 else f"draw_{a.seed}")
    folder.mkdir(parents=True, exist_ok=True)
    if a.ux6:
        truth = make_pair(folder, np.random.default_rng(a.ux6))
        t_png, r_png = folder / "T_colour.png", folder / "R_grey.png"
    else:
        truth = make(draw(a.seed), folder)
        t_png, r_png = folder / "T.png", folder / "R.png"
    cfg = compose(["problem.data=files", f"problem.template={t_png}", f"problem.reference={r_png}",
                   "problem.resize=128", "solver=multilevel", *a.overrides])
    ctx = RunContext(torch.device("cpu"), torch.float64, 0, ".")
    problem = PROBLEMS.get("multiscale_affine")(cfg.problem, ctx)
    solver = SOLVERS.get("multilevel")(cfg.solver, ctx)
    wt = truth_in_grid(problem, truth)
    print(f"truth {angle_scale(problem, wt)}; smooth {problem.smooth}; distance {problem.distance}")
    levels = problem.pyramid(solver.min_size)
    for lev in (levels[-1], levels[0]):
        with torch.no_grad():
            J = float(lev.at_scale(0.0).objective(wt))
        print(f"level {lev.grid.m}: truth J {J:.5f} overlap {lev.overlap(wt):.3f} permitted "
              f"{lev.overlap_permitted(wt):.3f} admitted {lev.overlap_admitted(wt)} corr "
              f"{lev.overlap_correlation(wt):.4f}")
    for p in [problem] + ([problem.with_distance(problem.second_distance)] if problem.second_distance else []):
        coarse = p.pyramid(solver.min_size)[0]
        cands = p.start_candidates(coarse)
        print(f"-- {p.distance}: {len(cands)} starts on {coarse.grid.m}")
        carry, solver.carry = solver.carry, len(cands)  # every end listed; the run below takes the config's carry
        ends = solver._best_starts(coarse, 0.0, cands)
        solver.carry = carry
        scale = coarse.at_scale(0.0)
        rows = []
        for w in ends:
            with torch.no_grad():
                J = float(scale.objective(w))
            rows.append((J, w))
        for J, w in sorted(rows, key=lambda r: r[0]):
            print(f"  end {angle_scale(p, w)} J {J:.5f} admitted {coarse.overlap_admitted(w)} "
                  f"ov {coarse.overlap(w):.2f} corr {coarse.overlap_correlation(w):+.3f} "
                  f"err {err_cells(coarse, w, wt):6.2f} cells")
        starts_err = sorted(err_cells(coarse, w0, wt) for w0 in cands)
        print(f"  starts' distance to the truth (cells): {[round(e, 1) for e in starts_err[:4]]}")
        from regrun.registration.local_steps import minimise_at_scale
        res = minimise_at_scale(scale, wt.clone(), solver.cfg, None, max_iter=solver.coarse_max_iter)
        print(f"  truth minimised on the coarsest: J {res.J:.5f} err {err_cells(coarse, res.w, wt):.3f} cells "
              f"admitted {coarse.overlap_admitted(res.w)}")
    res = solver.solve(problem, Monitor())
    w = res.solution["w"]
    _, w_aff = problem.in_user_pixels(w)
    print(f"run: {res.message}")
    print(f"run end {angle_scale(problem, w)} error {rms_error(w_aff.numpy(), truth):.3f} template px; "
          f"end J {res.stats['J']:.5f}")


if __name__ == "__main__":
    main()
